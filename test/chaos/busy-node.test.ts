/**
 * Busy is not dead, on a real node in cluster mode (`starweather node
 * --roles tracker,worker` on NATS and PostgreSQL, hosts forked):
 * - a task handler that blocks its worker host's event loop for 3× the
 *   heartbeat timeout: no host is killed, no shard moves, and the tracker
 *   (its own process and loop) keeps publishing every object every second;
 * - a real hang: the worker host spinning forever is killed for no progress
 *   and back within 10 s;
 * - the tracker host stopped with SIGSTOP past the heartbeat timeout is
 *   killed for no beats and restarted, its shards move to the new host, and
 *   every object is published again within 10 s;
 * - the whole node (supervisor and hosts) stopped with SIGSTOP for 20 s,
 *   then SIGCONT (a VM pause): the supervisor notices its own pause and
 *   kills no healthy host (R8b).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadConfig } from '../../config/load.js';
import { decodeTrackerFrame } from '../../protocol/frames/tracker-state.js';
import type { Transport } from '../../protocol/transport.js';
import { connectNats } from '../../actors/runtime/transport/nats.js';
import { enqueueTask } from '../../actors/runtime/worker.js';
import { openStorage } from '../../actors/storage/index.js';
import { freePort } from '../helpers/nats-server.js';
import { isAlive, spawnNode, waitFor, type Spawned } from '../helpers/processes.js';
import { NATS_URL, deleteNamespace } from '../integration/nats-fixtures.js';
import { freshNamespace, sleep, until } from '../helpers/cluster-fixtures.js';
import { PG_URL } from '../helpers/storage-backends.js';
import { seedOmm, shiftedOmmOf, snapshotRecords } from '../helpers/tracker-seed.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = join(HERE, '..', '..', 'supervisor', 'cli.js');
const BLOCKING = join(HERE, '..', 'fixtures', 'blocking-handler.js');
const OBJECTS = 300;
const HEARTBEAT_TIMEOUT_MS = 1000;
const HANG_TIMEOUT_MS = 4000;

interface Health {
  status: string;
  hosts: Array<{ id: string; role: string; pid: number; hostId: string; state: string; restarts: number; slow?: boolean }>;
}

describe('busy is not dead: a cluster node under a blocking handler, a hang and a SIGSTOP', { timeout: 240_000 }, () => {
  const ns = freshNamespace();
  const dbName = `sw_busy_${Math.random().toString(36).slice(2, 10)}`;
  const dbUrl = PG_URL.replace(/\/[^/]*$/, `/${dbName}`);
  const dir = mkdtempSync(join(tmpdir(), 'sw-busy-'));
  const taskLog = join(dir, 'tasks.log');
  const pids = new Set<number>();
  let node: Spawned;
  let port = 0;
  let bus: Transport;
  let expected: Set<number>;
  /** tick → ids published in it */
  const ticks = new Map<number, Set<number>>();

  async function health(): Promise<Health | null> {
    try {
      return (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as Health;
    } catch {
      return null;
    }
  }

  async function metricsText(): Promise<string> {
    return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  }

  /** Times (ms) of ticks in which every object was published, ascending. */
  function completeTicks(): number[] {
    return [...ticks].filter(([, ids]) => ids.size >= expected.size).map(([t]) => t).sort((a, b) => a - b);
  }

  function counter(text: string, name: string, labels: RegExp = /.*/): number {
    let n = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name)) continue;
      const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
      if (m && m[1] === name && labels.test(m[2] ?? '')) n += Number(m[3]);
    }
    return n;
  }

  before(async () => {
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    await admin.end();
    const cfg = loadConfig({ env: {}, overrides: { namespace: ns.namespace, 'database.url': dbUrl } });
    const storage = await openStorage(cfg);
    const now = Date.now();
    const records = await snapshotRecords(OBJECTS);
    await Promise.all(records.map((r) => seedOmm(storage.db, shiftedOmmOf(r, now - 3_600_000 - r.epochMs, 0), 'test:busy')));
    await storage.close();
    expected = new Set(records.map((r) => r.noradId));
    bus = await connectNats({ servers: NATS_URL, names: ns });
    bus.subscribe(ns.subjects.trackerStateAll, (msg) => {
      const f = decodeTrackerFrame(msg.data);
      let s = ticks.get(f.tickMs);
      if (!s) ticks.set(f.tickMs, (s = new Set()));
      for (let k = 0; k < f.count; k++) s.add(f.columns.ids[k]!);
    });
    port = await freePort();
    node = spawnNode([CLI, 'node', '--roles', 'tracker,worker'], {
      NATS_URL,
      DATABASE_URL: dbUrl,
      REDIS_URL: undefined,
      STARWEATHER_CONFIG: undefined,
      STARWEATHER_HOST: '127.0.0.1',
      STARWEATHER_NAMESPACE: ns.namespace,
      STARWEATHER_NODE_PORT: String(port),
      STARWEATHER_DATA_DIR: dir,
      STARWEATHER_LOG_LEVEL: 'warn',
      STARWEATHER_HEARTBEAT_MS: '250',
      STARWEATHER_MEMBER_TTL_MS: '2000',
      STARWEATHER_LEASE_MS: '3000',
      STARWEATHER_HEARTBEAT_TIMEOUT_MS: String(HEARTBEAT_TIMEOUT_MS),
      STARWEATHER_HANG_TIMEOUT_MS: String(HANG_TIMEOUT_MS),
      STARWEATHER_BACKOFF_BASE_MS: '100',
      STARWEATHER_BACKOFF_MAX_MS: '1000',
      STARWEATHER_SHARD_COUNT: '16',
      STARWEATHER_EXTRA_HANDLERS: BLOCKING,
      FIXTURE_TASK_LOG: taskLog,
    });
    let h: Health | null = null;
    assert.ok(await waitFor(async () => (h = await health())?.status === 'ok' || node.proc.exitCode !== null, 60_000, 200), node.stderr());
    for (const x of h!.hosts) pids.add(x.pid);
    await until('three complete ticks in a row', 60_000, () => {
      const c = completeTicks().slice(-3);
      return c.length === 3 && c[2]! - c[0]! === 2000;
    }, 100);
  });

  after(async () => {
    if (node && node.proc.exitCode === null && node.proc.signalCode === null) {
      node.proc.kill('SIGTERM');
      await Promise.race([node.exited, sleep(15_000)]);
      if (node.proc.exitCode === null) node.proc.kill('SIGKILL');
    }
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    await bus?.close().catch(() => undefined);
    await deleteNamespace(NATS_URL, ns);
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a handler blocking its host for 3× the heartbeat timeout: no kill, no shard moves, the tracker keeps publishing', async () => {
    const m0 = await metricsText();
    const before0 = (await health())!;
    const stallMs = 3 * HEARTBEAT_TIMEOUT_MS;
    await enqueueTask(bus, { queue: 'satellite', id: 'busy-1', kind: 'test.block', payload: { ms: stallMs } });
    await until('the stall ran', 20_000, () => existsSync(taskLog) && /^done busy-1 /m.test(readFileSync(taskLog, 'utf8')), 50);
    const lines = readFileSync(taskLog, 'utf8').split('\n');
    const startAt = Number(lines.find((l) => l.startsWith('start busy-1'))!.split(' ')[3]);
    const doneAt = Number(lines.find((l) => l.startsWith('done busy-1'))!.split(' ')[3]);
    assert.ok(doneAt - startAt >= stallMs - 5, `the handler blocked ${doneAt - startAt} ms`);
    await sleep(2500);
    // Every second across the stall had every object.
    const during = completeTicks().filter((t) => t >= startAt - 1000 && t <= doneAt + 2000);
    let maxGap = 0;
    for (let i = 1; i < during.length; i++) maxGap = Math.max(maxGap, during[i]! - during[i - 1]!);
    const h = (await health())!;
    const m1 = await metricsText();
    const releases = counter(m1, 'sw_shard_releases_total') - counter(m0, 'sw_shard_releases_total');
    const acquisitions = counter(m1, 'sw_shard_acquisitions_total') - counter(m0, 'sw_shard_acquisitions_total');
    const kills = counter(m1, 'sw_supervisor_hung_kills_total');
    console.log(`stall ${doneAt - startAt} ms: ${during.length} complete ticks around it, largest gap ${maxGap} ms; releases ${releases}, acquisitions ${acquisitions}, hung kills ${kills}`);
    assert.equal(kills, 0, 'no hung kill');
    assert.deepEqual(h.hosts.map((x) => [x.role, x.pid, x.restarts]), before0.hosts.map((x) => [x.role, x.pid, x.restarts]), 'same host processes, no restart');
    assert.equal(releases, 0, 'no shard released');
    assert.equal(acquisitions, 0, 'no shard acquired');
    assert.ok(during.length >= Math.floor((doneAt - startAt + 3000) / 1000) - 1, `complete ticks kept coming (${during.length})`);
    assert.ok(maxGap <= 2000, `largest gap between complete ticks ${maxGap} ms`);
  });

  test('a worker host in an infinite loop is killed for no progress and back within 10 s', async () => {
    const before0 = (await health())!.hosts.find((x) => x.role === 'worker')!;
    await enqueueTask(bus, { queue: 'satellite', id: 'spin-1', kind: 'test.block', payload: { ms: 0, forever: true } });
    await until('the spin started', 20_000, () => existsSync(taskLog) && /^start spin-1 /m.test(readFileSync(taskLog, 'utf8')), 50);
    const spunAt = Number(readFileSync(taskLog, 'utf8').split('\n').find((l) => l.startsWith('start spin-1'))!.split(' ')[3]);
    let h: Health | null = null;
    assert.ok(
      await waitFor(async () => {
        h = await health();
        const w = h?.hosts.find((x) => x.role === 'worker');
        return w !== undefined && w.pid !== before0.pid && w.state === 'running';
      }, 20_000, 100),
      JSON.stringify(h),
    );
    const back = Date.now() - spunAt;
    for (const x of h!.hosts) pids.add(x.pid);
    const m = await metricsText();
    console.log(`worker spinning: back ${back} ms after the spin began (hang timeout ${HANG_TIMEOUT_MS} ms)`);
    assert.ok(back <= 10_000, `back after ${back} ms`);
    assert.equal(counter(m, 'sw_supervisor_hung_kills_total', /cause="no_progress"/), 1);
    assert.equal(isAlive(before0.pid), false);
  });

  test('the tracker host stopped with SIGSTOP: killed for no beats, its shards move to the new host, every object back within 10 s', async () => {
    const before0 = (await health())!.hosts.find((x) => x.role === 'tracker')!;
    const stoppedAt = Date.now();
    process.kill(before0.pid, 'SIGSTOP');
    try {
      await until('a complete tick after the stop', 15_000, () => completeTicks().some((t) => t > stoppedAt + 1000), 100);
      const first = completeTicks().find((t) => t > stoppedAt + 1000)!;
      const h = (await health())!;
      const t = h.hosts.find((x) => x.role === 'tracker')!;
      for (const x of h.hosts) pids.add(x.pid);
      const m = await metricsText();
      console.log(`tracker SIGSTOPped: every object published again ${first - stoppedAt} ms later by ${t.hostId}`);
      assert.ok(first - stoppedAt <= 10_000, `${first - stoppedAt} ms`);
      assert.notEqual(t.pid, before0.pid);
      assert.notEqual(t.hostId, before0.hostId, 'a new host (a new lease holder) owns the shards');
      assert.equal(counter(m, 'sw_supervisor_hung_kills_total', /cause="no_beats"/), 1);
    } finally {
      if (isAlive(before0.pid)) process.kill(before0.pid, 'SIGKILL');
    }
  });

  test('R8b: the whole node stopped for 20 s and continued: no healthy host is killed', async () => {
    const h0 = (await health())!;
    const all = [node.proc.pid!, ...h0.hosts.map((x) => x.pid)];
    const m0 = await metricsText();
    for (const pid of all) process.kill(pid, 'SIGSTOP');
    await sleep(20_000);
    for (const pid of all) process.kill(pid, 'SIGCONT');
    const resumedAt = Date.now();
    await until('every object published again after the pause', 20_000, () => completeTicks().some((t) => t > resumedAt), 100);
    await sleep(HEARTBEAT_TIMEOUT_MS * 3);
    const h1 = (await health())!;
    const m1 = await metricsText();
    const kills = counter(m1, 'sw_supervisor_hung_kills_total') - counter(m0, 'sw_supervisor_hung_kills_total');
    const paused = counter(m1, 'sw_supervisor_paused_seconds_total') - counter(m0, 'sw_supervisor_paused_seconds_total');
    console.log(`whole node SIGSTOPped 20 s: supervisor counted ${paused.toFixed(1)} s of its own pause, hung kills ${kills}, first complete tick ${completeTicks().find((t) => t > resumedAt)! - resumedAt} ms after SIGCONT`);
    assert.equal(kills, 0, 'no host killed');
    assert.deepEqual(h1.hosts.map((x) => [x.role, x.pid, x.restarts]), h0.hosts.map((x) => [x.role, x.pid, x.restarts]), 'same host processes');
    assert.ok(paused >= 15, `the supervisor noticed its pause (${paused} s)`);
  });
});
