/**
 * /health and /metrics on the gateway port show the node's supervisor view:
 * inline (`starweather start`, embedded bus: the gateway calls the
 * supervisor directly) and forked (`starweather node` on NATS: the gateway
 * host asks its supervisor over IPC). The supervisor itself binds nothing
 * on a gateway node.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { freePort } from '../helpers/nats-server.js';
import { isAlive, waitFor, type Spawned } from '../helpers/processes.js';
import { cliHarness } from '../helpers/cli-harness.js';
import { NATS_URL, deleteNamespace, freshNames } from './nats-fixtures.js';

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

  const m = await fetch(`${base}/metrics`);
  assert.equal(m.status, 200);
  const text = await m.text();
  assert.match(text, /starweather_supervisor_child_up\{child="gateway",role="gateway"[^}]*\} 1/);
  assert.match(text, /sw_gateway_ws_clients\{[^}]*role="gateway"/);
  assert.match(text, /sw_event_loop_delay_p99_seconds\{[^}]*role="tracker"/);

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

    const text = await (await fetch(`${base}/metrics`)).text();
    // The supervisor's series and both forked hosts' registries, aggregated by the supervisor.
    assert.match(text, /starweather_supervisor_child_up\{child="worker"[^}]*\} 1/);
    assert.match(text, /sw_event_loop_delay_p99_seconds\{[^}]*role="worker"/);
    assert.match(text, /sw_gateway_ws_clients\{[^}]*role="gateway"/);

    s.proc.kill('SIGTERM');
    const exit = await s.exited;
    assert.equal(exit.code, 0, s.stderr());
    assert.ok(await waitFor(() => [...pids].every((p) => !isAlive(p)), 5000), 'host processes outlived the node');
  } finally {
    await deleteNamespace(NATS_URL, n);
  }
});
