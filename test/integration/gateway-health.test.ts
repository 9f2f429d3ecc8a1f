/**
 * /health and /metrics on the gateway port show the node's supervisor view:
 * inline (`starweather start`, embedded bus: the gateway calls the
 * supervisor directly) and forked (`starweather node` on NATS: the gateway
 * host asks its supervisor over IPC). The supervisor itself binds nothing
 * on a gateway node. In both, /metrics is one prefix with no family or
 * series twice, and the HTTP request series count the requests made.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { freePort } from '../helpers/nats-server.js';
import { isAlive, waitFor, type Spawned } from '../helpers/processes.js';
import { cliHarness } from '../helpers/cli-harness.js';
import { NATS_URL, deleteNamespace, freshNames } from './nats-fixtures.js';
import { parseExposition, repeated, sumOf, type PromScrape } from '../helpers/prom-text.js';

const harness = cliHarness('sw-gwh-', { STARWEATHER_HANG_TIMEOUT_MS: '3000', STARWEATHER_CATALOG_ENABLED: 'false' });
const pids = harness.pids;
const env = harness.env;

/** Whether anything accepts connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function scrape(base: string): Promise<PromScrape> {
  const r = await fetch(`${base}/metrics`);
  assert.equal(r.status, 200);
  return parseExposition(await r.text());
}

/**
 * The node's whole /metrics (supervisor, every host, process defaults,
 * aggregated): one prefix, each family declared once, no series twice, base
 * units; and the gateway's HTTP request series grow by exactly the requests
 * made between two scrapes (the first scrape itself counted once, under its
 * route pattern).
 */
async function checkNodeMetrics(base: string): Promise<PromScrape> {
  const before = await scrape(base);
  const made: Array<[path: string, route: string, status: string]> = [
    ['/satellites?limit=1', '/satellites', '200'],
    ['/satellites?limit=2&q=zz', '/satellites', '200'],
    ['/satellites/77777', '/satellites/:id', '404'],
    ['/satellites/77778', '/satellites/:id', '404'],
    ['/no/such/path', 'unmatched', '404'],
  ];
  for (const [path, , status] of made) {
    const r = await fetch(`${base}${path}`);
    await r.arrayBuffer();
    assert.equal(String(r.status), status, path);
  }
  const s = await scrape(base);
  const grew = (labels: Record<string, string>): number => sumOf(s, 'sw_http_requests_total', labels) - sumOf(before, 'sw_http_requests_total', labels);
  for (const [route, status] of [['/satellites', '200'], ['/satellites/:id', '404'], ['unmatched', '404']]) {
    const n = made.filter((m) => m[1] === route && m[2] === status).length;
    assert.equal(grew({ method: 'GET', route: route!, status_code: status! }), n, `${route} ${status}`);
    const hist = (x: PromScrape): number => sumOf(x, 'sw_http_request_duration_seconds_count', { method: 'GET', route: route!, status_class: `${status![0]}xx` });
    assert.equal(hist(s) - hist(before), n, `histogram ${route} ${status}`);
  }
  assert.equal(grew({ route: '/metrics', status_code: '200' }), 1, 'the first scrape, counted once answered');
  const names = s.families.map((f) => f.name);
  assert.deepEqual(names.filter((n) => !n.startsWith('sw_')), [], 'every family is sw_*');
  assert.deepEqual(repeated(s.typeLines), [], 'a family declared twice');
  assert.deepEqual(repeated(s.seriesKeys), [], 'a series exported twice');
  // Prometheus base units (seconds, bytes, metres), and counters, only counters, end in _total.
  assert.deepEqual(names.filter((n) => /_(ms|milliseconds|km|minutes|hours)(_|$)/.test(n)), []);
  for (const f of s.families) assert.equal(f.type === 'counter', f.name.endsWith('_total'), `${f.name} is a ${f.type}`);
  // One event-loop delay family (not also prom-client's nodejs_eventloop_lag_* quantiles of the same loops).
  assert.deepEqual(names.filter((n) => /eventloop_lag|event_loop/.test(n)), ['sw_event_loop_delay_p99_seconds']);
  return s;
}

async function waitHealthy(s: Spawned, base: string, hosts: number): Promise<any> {
  let last: unknown = null;
  const ok = await waitFor(async () => {
    if (s.proc.exitCode !== null) return true;
    try {
      const r = await fetch(`${base}/health`);
      last = await r.json();
      return r.status === 200 && (last as { hosts: unknown[] }).hosts.length === hosts;
    } catch {
      return false;
    }
  }, 60_000, 200);
  assert.ok(ok && s.proc.exitCode === null, `not healthy: ${s.stderr()}\n${JSON.stringify(last)}`);
  return last;
}

// The inline option (STARWEATHER_EMBEDDED_HOSTS=inline): the node-layout units pick it, liveness.test.ts holds inline hosts to a stall of their shared loop.
test('embedded (starweather start, hosts on worker threads): the gateway port serves the supervisor view; the supervisor binds no port', { timeout: 90_000 }, async () => {
  const port = await freePort();
  const nodePort = await freePort();
  const s = harness.run(['start'], env({ STARWEATHER_PORT: String(port), STARWEATHER_NODE_PORT: String(nodePort) }));
  const base = `http://127.0.0.1:${port}`;
  const health = await waitHealthy(s, base, 5);
  assert.equal(health.status, 'ok');
  assert.deepEqual(health.transport, { kind: 'embedded', connected: true });
  assert.deepEqual(health.roles, ['tracker', 'worker', 'tile', 'ingest', 'gateway']);
  for (const h of health.hosts) assert.equal(h.mode, 'thread');
  const gw = health.hosts.find((h: { role: string }) => h.role === 'gateway');
  assert.equal(gw.state, 'running');
  assert.equal(typeof health.gateway.clients, 'number');
  assert.equal(await listening(nodePort), false, 'the supervisor bound its own port on a gateway node');

  const m = await checkNodeMetrics(base);
  assert.equal(sumOf(m, 'sw_supervisor_child_up', { child: 'gateway', role: 'gateway' }), 1);
  assert.ok(m.families.some((f) => f.name === 'sw_gateway_ws_clients' && f.samples.some((x) => x.labels.role === 'gateway')));
  for (const role of ['tracker', 'gateway']) assert.ok(m.families.some((f) => f.name === 'sw_event_loop_delay_p99_seconds' && f.samples.some((x) => x.labels.role === role)), `${role}'s loop`);
  assert.ok(m.families.some((f) => f.name === 'sw_process_resident_memory_bytes'), 'process defaults, prefixed');

  s.proc.kill('SIGTERM');
  const exit = await s.exited;
  assert.equal(exit.code, 0, s.stderr());
  assert.equal(await listening(port), false);
});

test('forked (NATS): the gateway host asks its supervisor over IPC for /health and /metrics', { timeout: 90_000 }, async () => {
  const n = freshNames();
  const port = await freePort();
  const nodePort = await freePort();
  const s = harness.run(
    ['node', '--roles', 'gateway,worker'],
    env({ NATS_URL, STARWEATHER_NAMESPACE: n.namespace, STARWEATHER_NODE_ID: `gwh-${n.namespace}`, STARWEATHER_PORT: String(port), STARWEATHER_NODE_PORT: String(nodePort), STARWEATHER_SHARD_COUNT: '8' }),
  );
  try {
    const base = `http://127.0.0.1:${port}`;
    const health = await waitHealthy(s, base, 2);
    assert.equal(health.status, 'ok');
    assert.equal(health.nodeId, `gwh-${n.namespace}`);
    assert.deepEqual(health.transport, { kind: 'nats', connected: true });
    assert.deepEqual(health.hosts.map((h: { role: string }) => h.role), ['worker', 'gateway']);
    for (const h of health.hosts) {
      assert.equal(h.mode, 'process');
      assert.notEqual(h.pid, s.proc.pid);
      pids.add(h.pid);
    }
    assert.equal(await listening(nodePort), false, 'the supervisor bound its own port on a gateway node');

    // The supervisor's series and both forked hosts' registries, aggregated by the supervisor.
    const m = await checkNodeMetrics(base);
    assert.equal(sumOf(m, 'sw_supervisor_child_up', { child: 'worker' }), 1);
    assert.ok(m.families.some((f) => f.name === 'sw_event_loop_delay_p99_seconds' && f.samples.some((x) => x.labels.role === 'worker')));
    assert.ok(m.families.some((f) => f.name === 'sw_gateway_ws_clients' && f.samples.some((x) => x.labels.role === 'gateway')));

    s.proc.kill('SIGTERM');
    const exit = await s.exited;
    assert.equal(exit.code, 0, s.stderr());
    assert.ok(await waitFor(() => [...pids].every((p) => !isAlive(p)), 5000), 'host processes outlived the node');
  } finally {
    await deleteNamespace(NATS_URL, n);
  }
});
