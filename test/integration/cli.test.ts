/**
 * The real `starweather` CLI (dist/supervisor/cli.js) as an operator runs it:
 * `start` on the embedded bus with /health and /metrics, bad config values,
 * `node` without NATS, and `status --json` against a node on NATS.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/nats-server.js';
import { isAlive, waitFor } from '../helpers/processes.js';
import { cliHarness } from '../helpers/cli-harness.js';
import { NATS_URL, deleteNamespace, freshNames } from './nats-fixtures.js';

const harness = cliHarness('sw-cli-', {
  STARWEATHER_HANG_TIMEOUT_MS: '1500',
  STARWEATHER_BACKOFF_BASE_MS: '100',
  STARWEATHER_BACKOFF_MAX_MS: '1000',
});
const pids = harness.pids;
/** Env for a CLI run: no services unless given, small timings, quiet logs. */
const cliEnv = harness.env;
const runCli = harness.run;

async function getJson(url: string): Promise<{ status: number; type: string | null; body: unknown }> {
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get('content-type'), body: await res.json() };
}

test('start with no services boots on the embedded bus, serves /health and /metrics, exits 0 on SIGTERM', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const startEnv = cliEnv({ STARWEATHER_PORT: String(port), STARWEATHER_TRACKER_HOSTS: '2' });
  const s = runCli(['start'], startEnv);
  const base = `http://127.0.0.1:${port}`;
  let health: { status: number; body: any } | null = null;
  const up = await waitFor(async () => {
    if (s.proc.exitCode !== null) return true;
    try {
      health = await getJson(`${base}/health`);
      return health.status === 200;
    } catch {
      return false;
    }
  }, 30_000, 100);
  assert.ok(up && s.proc.exitCode === null, `not healthy: ${s.stderr()}\n${JSON.stringify(health)}`);
  const body = health!.body;
  assert.equal(body.status, 'ok');
  assert.deepEqual(body.transport, { kind: 'embedded', connected: true });
  assert.deepEqual(body.roles, ['tracker', 'worker', 'tile', 'ingest', 'gateway']);
  // STARWEATHER_TRACKER_HOSTS=2: two tracker hosts share the shards.
  const trackers = 2;
  assert.deepEqual(body.hosts.map((h: { id: string }) => h.id).sort(), ['gateway', 'ingest', 'tile', 'tracker', 'tracker-2', 'worker']);
  for (const h of body.hosts) {
    assert.equal(h.state, 'running');
    // The embedded default runs each role host on a worker thread of its own (issue 10).
    assert.equal(h.mode, 'thread');
  }
  assert.equal(new Set(body.hosts.map((h: { threadId: number }) => h.threadId)).size, 4 + trackers, 'a thread per host');
  // The tracker hosts split the 256 shards between them, each shard held once.
  let owned: number[] = [];
  const split = await waitFor(async () => {
    const h = (await getJson(`${base}/health`)).body as { hosts: Array<{ role: string; shards: Record<string, number> | null }> };
    owned = h.hosts.filter((x) => x.role === 'tracker').map((x) => x.shards?.tracker ?? 0);
    return owned.length === trackers && owned.every((n) => n > 0) && owned.reduce((a, b) => a + b, 0) === 256;
  }, 30_000, 200);
  assert.ok(split, `tracker shards per host: ${owned.join(', ')}`);
  // Honest about what is not there yet: the worker has no handlers and says so.
  const worker = body.hosts.find((h: { role: string }) => h.role === 'worker');
  assert.deepEqual(worker.handlers, []);
  assert.match(worker.notes.join('\n'), /no task handlers registered/);
  // The tile role runs the imagery pipeline: its four task kinds are registered inline too.
  const tile = body.hosts.find((h: { role: string }) => h.role === 'tile');
  assert.deepEqual(tile.handlers, ['imagery.finalize', 'imagery.scene', 'imagery.tile', 'storm.warning']);

  const metrics = await fetch(`${base}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await metrics.text();
  assert.match(text, /sw_supervisor_child_up\{child="worker",role="worker"[^}]*\} 1/);
  assert.match(text, /sw_supervisor_restarts_total/);
  assert.match(text, /sw_event_loop_delay_p99_seconds\{[^}]*role="tracker"/);

  const missing = await getJson(`${base}/nope`);
  assert.equal(missing.status, 404);
  assert.match(missing.type ?? '', /^application\/problem\+json/);
  assert.equal((missing.body as { code: string }).code, 'SW_ERR_NOT_FOUND');

  // `status` without NATS_URL asks the running embedded node (its /health) and prints its hosts.
  const st = runCli(['status'], startEnv);
  assert.equal((await st.exited).code, 0, st.stderr());
  assert.match(st.stdout(), new RegExp(`^node \\S+ at http://127\\.0\\.0\\.1:${port}: ok`));
  for (const id of ['gateway', 'ingest', 'tile', 'tracker', 'tracker-2', 'worker']) assert.match(st.stdout(), new RegExp(`^${id} +\\w+ +thread `, 'm'));
  const sj = runCli(['status', '--json'], startEnv);
  assert.equal((await sj.exited).code, 0, sj.stderr());
  assert.equal((JSON.parse(sj.stdout()) as { hosts: unknown[] }).hosts.length, 6);

  s.proc.kill('SIGTERM');
  const { code, signal } = await s.exited;
  assert.equal(signal, null);
  assert.equal(code, 0, s.stderr());
  // And with no node running: exit 1, saying so.
  const none = runCli(['status'], startEnv);
  assert.equal((await none.exited).code, 1);
  assert.match(none.stderr(), new RegExp(`no node answers at http://127\\.0\\.0\\.1:${port}/health`));
});

test('a bad config value exits 2 naming the key', { timeout: 20_000 }, async () => {
  const s = runCli(['start'], cliEnv({ STARWEATHER_PORT: 'abc' }));
  const { code } = await s.exited;
  assert.equal(code, 2);
  assert.match(s.stderr(), /STARWEATHER_PORT/);
  assert.match(s.stderr(), /must be a number/);

  const r = runCli(['node', '--roles', 'worker,pilot'], cliEnv({ NATS_URL }));
  assert.equal((await r.exited).code, 2);
  assert.match(r.stderr(), /roles/);
});

test('`node` without NATS_URL and unknown commands are usage errors (exit 2)', { timeout: 20_000 }, async () => {
  const n = runCli(['node', '--roles', 'worker'], cliEnv({}));
  assert.equal((await n.exited).code, 2);
  assert.match(n.stderr(), /NATS_URL/);
  const u = runCli(['fly'], cliEnv({}));
  assert.equal((await u.exited).code, 2);
  assert.match(u.stderr(), /unknown command/);
  const h = runCli(['--help'], cliEnv({}));
  assert.equal((await h.exited).code, 0);
  assert.match(h.stdout(), /starweather node --roles|node --roles <list>/);
});

test('status --json shows a running node on NATS; SIGTERM stops it and its children', { timeout: 90_000 }, async () => {
  const n = freshNames();
  const nodePort = await freePort();
  const env = cliEnv({ NATS_URL, STARWEATHER_NAMESPACE: n.namespace, STARWEATHER_NODE_ID: `cli-${n.namespace}`, STARWEATHER_NODE_PORT: String(nodePort), STARWEATHER_SHARD_COUNT: '8' });
  try {
    const node = runCli(['node', '--roles', 'worker,tracker'], env);
    const healthy = await waitFor(async () => {
      if (node.proc.exitCode !== null) return true;
      try {
        return (await fetch(`http://127.0.0.1:${nodePort}/health`)).status === 200;
      } catch {
        return false;
      }
    }, 45_000, 200);
    assert.ok(healthy && node.proc.exitCode === null, node.stderr());

    const st = runCli(['status', '--json', '--wait', '1500'], env);
    const { code } = await st.exited;
    assert.equal(code, 0, st.stderr());
    const report = JSON.parse(st.stdout()) as { namespace: string; nodes: Array<{ nodeId: string; roles: string[]; hosts: Array<{ hostId: string; role: string; state: string; pid: number }> }>; members: Array<{ hostId: string; role: string; nodeId: string; pid: number }> };
    assert.equal(report.namespace, n.namespace);
    const mine = report.nodes.find((x) => x.nodeId === `cli-${n.namespace}`);
    assert.ok(mine, JSON.stringify(report));
    assert.deepEqual(mine.roles, ['tracker', 'worker']);
    assert.deepEqual(mine.hosts.map((h) => [h.role, h.state]), [
      ['tracker', 'running'],
      ['worker', 'running'],
    ]);
    // Forked hosts: separate processes, also visible as live members.
    const hostPids = mine.hosts.map((h) => h.pid);
    for (const pid of hostPids) {
      pids.add(pid);
      assert.notEqual(pid, node.proc.pid);
      assert.ok(isAlive(pid));
    }
    // Members of the hosts running now. A host restarted by the supervisor (a
    // slow CI machine can miss a heartbeat) leaves its earlier incarnation's
    // record until that record expires, so match on the live host ids.
    const liveHostIds = new Set(mine.hosts.map((h) => h.hostId));
    const live = report.members.filter((m) => m.nodeId === `cli-${n.namespace}` && liveHostIds.has(m.hostId));
    assert.deepEqual(live.map((m) => m.role).sort(), ['tracker', 'worker'], JSON.stringify(report));

    // /metrics merges the forked hosts' registries (asked over IPC) with the supervisor's.
    const metrics = await (await fetch(`http://127.0.0.1:${nodePort}/metrics`)).text();
    assert.match(metrics, /sw_event_loop_delay_p99_seconds\{[^}]*role="worker"/);
    assert.match(metrics, /sw_event_loop_delay_p99_seconds\{[^}]*role="tracker"/);
    assert.match(metrics, /sw_supervisor_child_up\{child="tracker"[^}]*\} 1/);

    node.proc.kill('SIGTERM');
    const exit = await node.exited;
    assert.equal(exit.code, 0, node.stderr());
    assert.ok(await waitFor(() => hostPids.every((p) => !isAlive(p)), 5000), 'host processes outlived the node');
  } finally {
    await deleteNamespace(NATS_URL, n);
  }
});

test('an unreachable NATS fails fast with a clear message (exit 1)', { timeout: 30_000 }, async () => {
  const port = await freePort(); // nothing listens there
  const s = runCli(['node', '--roles', 'worker'], cliEnv({ NATS_URL: `nats://127.0.0.1:${port}`, STARWEATHER_NODE_PORT: String(await freePort()) }));
  const { code } = await s.exited;
  assert.equal(code, 1);
  assert.match(s.stderr(), /cannot connect to NATS/);
});

test('a host that cannot start is restarted 5 times, then the node gives up and exits non-zero', { timeout: 90_000 }, async () => {
  const n = freshNames();
  const nodePort = await freePort();
  const env = cliEnv({
    NATS_URL,
    STARWEATHER_NAMESPACE: n.namespace,
    STARWEATHER_NODE_PORT: String(nodePort),
    // The worker host fails at start: its plugin does not exist.
    STARWEATHER_EXTRA_HANDLERS: join(tmpdir(), `no-such-plugin-${n.namespace}.js`),
    STARWEATHER_MAX_RESTARTS: '5',
    STARWEATHER_RESTART_WINDOW_MS: '30000',
    STARWEATHER_LOG_LEVEL: 'info',
  });
  try {
    const s = runCli(['node', '--roles', 'worker'], env);
    const { code } = await s.exited;
    assert.notEqual(code, 0);
    const lines = s.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; child?: string; pid?: number });
    const starts = lines.filter((l) => l.msg === 'child started' && l.child === 'worker');
    assert.equal(lines.filter((l) => l.msg === 'restart scheduled').length, 5);
    assert.equal(starts.length, 6);
    assert.ok(lines.some((l) => l.msg === 'restart intensity exceeded, escalating'));
    assert.match(s.stdout(), /handler plugin .* could not be loaded/);
    for (const l of starts) assert.equal(isAlive(l.pid!), false);
  } finally {
    await deleteNamespace(NATS_URL, n);
  }
});

test('a cluster node forking two storage roles without DATABASE_URL exits 2 naming DATABASE_URL', async () => {
  const r = runCli(['node', '--roles', 'tracker,gateway'], cliEnv({ NATS_URL: 'nats://127.0.0.1:4222' }));
  assert.equal((await r.exited).code, 2);
  assert.match(r.stderr(), /DATABASE_URL/);
});

test('a port already in use ends start at once with one line and exit 2, before any key is generated', { timeout: 30_000 }, async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen({ host: '127.0.0.1', port: 0 }, () => r()));
  const port = (blocker.address() as AddressInfo).port;
  try {
    const env = cliEnv({ STARWEATHER_PORT: String(port) });
    const startedAt = Date.now();
    const s = runCli(['start'], env);
    const { code } = await s.exited;
    const tookMs = Date.now() - startedAt;
    assert.equal(code, 2, s.stderr());
    assert.match(s.stderr(), new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use \\(STARWEATHER_PORT\\)`));
    assert.equal(s.stderr().trim().split('\n').length, 1, `one line: ${s.stderr()}`);
    assert.equal(s.stdout(), '', 'nothing started, nothing logged');
    assert.equal(existsSync(join(env.STARWEATHER_DATA_DIR!, 'api-key')), false, 'no key generated');
    assert.ok(tookMs < 10_000, `took ${tookMs} ms`);
  } finally {
    blocker.close();
  }
});

test('--version and version print the package version', { timeout: 20_000 }, async () => {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  for (const args of [['--version'], ['version'], ['-v']]) {
    const s = runCli(args, cliEnv({}));
    assert.equal((await s.exited).code, 0, s.stderr());
    assert.equal(s.stdout().trim(), `starweather ${pkg.version} (Node ${process.versions.node})`);
  }
});
