/**
 * Busy is not dead, in the embedded default with a worker thread per role
 * host (supervisor.embeddedHosts `thread`, issue 10): the bus, PGlite and
 * the memory cache stay in the main thread and are bridged to each host.
 *
 * - A task handler blocks the worker host's loop for 3× the heartbeat
 *   timeout: no host is killed, no shard moves, and the tracker, on a loop
 *   of its own, keeps publishing every object every second DURING the
 *   stall (with every host inline on one loop it could only resume
 *   afterwards).
 * - A real hang is still caught: a handler that never returns stops the
 *   worker thread's progress counter; the supervisor terminates the thread
 *   within the hang timeout (cause no_progress), restarts it, and the task,
 *   redelivered at once because the dead thread's bridge gave it back,
 *   finishes on the new incarnation.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../config/load.js';
import { decodeTrackerFrame } from '../../protocol/frames/tracker-state.js';
import { enqueueTask } from '../../actors/runtime/worker.js';
import { openStorage } from '../../actors/storage/index.js';
import { startNode, type RunningNode } from '../../supervisor/node.js';
import { freshNamespace, sleep, until } from '../helpers/cluster-fixtures.js';
import { seedOmm, shiftedOmmOf, snapshotRecords } from '../helpers/tracker-seed.js';

const BLOCKING = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'blocking-handler.js');
const OBJECTS = 200;
const HEARTBEAT_TIMEOUT_MS = 1000;
const HANG_TIMEOUT_MS = 5000;

const dir = mkdtempSync(join(tmpdir(), 'sw-threads-'));
const taskLog = join(dir, 'tasks.log');
let node: RunningNode | null = null;
const previousLog = process.env.FIXTURE_TASK_LOG;
after(async () => {
  await node?.stop();
  if (previousLog === undefined) delete process.env.FIXTURE_TASK_LOG;
  else process.env.FIXTURE_TASK_LOG = previousLog;
  rmSync(dir, { recursive: true, force: true });
});

function counter(text: string, name: string): number {
  let n = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (m && m[1] === name) n += Number(m[3]);
  }
  return n;
}

/** `start|done <task id> <pid> <at>` lines of the blocking fixture. */
function taskEvents(): Array<{ what: string; id: string; at: number }> {
  if (!existsSync(taskLog)) return [];
  return readFileSync(taskLog, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [what, id, , at] = l.split(' ');
      return { what: what!, id: id!, at: Number(at) };
    });
}

test('thread hosts: a worker handler blocking its own loop for 3x the heartbeat timeout kills nothing, moves no shard, and the tracker publishes every second through it; a real hang is terminated and restarted', { timeout: 180_000 }, async () => {
  process.env.FIXTURE_TASK_LOG = taskLog;
  const ns = freshNamespace();
  const cfg = loadConfig({
    env: {},
    overrides: {
      namespace: ns.namespace,
      dataDir: join(dir, 'data'),
      roles: ['tracker', 'worker'],
      logLevel: 'warn',
      'plugins.handlers': [BLOCKING],
      'cluster.shardCount': 16,
      'cluster.heartbeatMs': 250,
      'cluster.memberTtlMs': 1500,
      'cluster.leaseMs': 1500,
      'supervisor.heartbeatTimeoutMs': HEARTBEAT_TIMEOUT_MS,
      'supervisor.hangTimeoutMs': HANG_TIMEOUT_MS,
      'supervisor.startupTimeoutMs': 30_000,
      'supervisor.backoffBaseMs': 100,
      // Long, so a task that comes back quickly was given back, not timed out.
      'work.ackWaitMs': 60_000,
    },
  });
  assert.equal(cfg.supervisor.embeddedHosts, 'thread', 'threads are the embedded default');
  const storage = await openStorage(cfg);
  const now = Date.now();
  const records = await snapshotRecords(OBJECTS);
  for (const r of records) await seedOmm(storage.db, shiftedOmmOf(r, now - 3_600_000 - r.epochMs, 0), 'test:threads');
  await storage.close();
  const expected = new Set(records.map((r) => r.noradId));

  node = await startNode({ config: cfg, mode: 'thread', handleSignals: false });
  for (const c of node.supervisor.status()) {
    assert.equal(c.mode, 'thread');
    assert.equal(c.state, 'running', `${c.id} running`);
    assert.ok(c.threadId !== null && c.threadId > 0, `${c.id} runs on a worker thread`);
  }
  const hung: Array<{ id: string; cause: string }> = [];
  node.supervisor.on('child-hung', (e: { id: string; cause: string }) => hung.push(e));
  const ticks = new Map<number, { ids: Set<number>; seenAt: number }>();
  node.transport.subscribe(ns.subjects.trackerStateAll, (msg) => {
    const f = decodeTrackerFrame(msg.data);
    let t = ticks.get(f.tickMs);
    if (!t) ticks.set(f.tickMs, (t = { ids: new Set(), seenAt: Date.now() }));
    for (let k = 0; k < f.count; k++) t.ids.add(f.columns.ids[k]!);
  });
  const complete = (): Array<{ tick: number; seenAt: number }> =>
    [...ticks].filter(([, t]) => t.ids.size >= expected.size).map(([tick, t]) => ({ tick, seenAt: t.seenAt })).sort((a, b) => a.tick - b.tick);
  await until('three complete ticks in a row', 60_000, () => {
    const c = complete().slice(-3);
    return c.length === 3 && c[2]!.tick - c[0]!.tick === 2000;
  }, 100);
  await sleep(2 * cfg.cluster.leaseMs);

  // ---- the stall: busy, not dead
  const before = node.supervisor.status().map((c) => [c.id, c.hostId, c.restarts]);
  const m0 = (await node.health.metrics()).body;
  const stallMs = 3 * HEARTBEAT_TIMEOUT_MS;
  await enqueueTask(node.transport, { queue: 'satellite', id: 'thr-busy-1', kind: 'test.block', payload: { ms: stallMs } });
  await until('the stall ran', 30_000, () => taskEvents().some((e) => e.what === 'done' && e.id === 'thr-busy-1'), 50);
  const started = taskEvents().find((e) => e.what === 'start' && e.id === 'thr-busy-1')!.at;
  const ended = taskEvents().find((e) => e.what === 'done' && e.id === 'thr-busy-1')!.at;
  assert.ok(ended - started >= stallMs, 'the handler blocked its loop for the whole stall');
  const worker = node.supervisor.status().find((c) => c.id === 'worker')!;
  // Complete ticks seen while the worker thread was blocked: the tracker's loop is its own.
  const during = complete().filter((c) => c.seenAt > started && c.seenAt < ended);
  await sleep(3 * cfg.cluster.leaseMs);
  const m1 = (await node.health.metrics()).body;
  const after1 = node.supervisor.status().map((c) => [c.id, c.hostId, c.restarts]);
  const releases = counter(m1, 'sw_shard_releases_total') - counter(m0, 'sw_shard_releases_total');
  const acquisitions = counter(m1, 'sw_shard_acquisitions_total') - counter(m0, 'sw_shard_acquisitions_total');
  console.log(`thread stall: ${ended - started} ms blocked; ${during.length} complete ticks published meanwhile; releases ${releases}, acquisitions ${acquisitions}, hung ${hung.length}; worker stalledMs seen ${worker.stalledMs}`);
  assert.deepEqual(hung.slice(), [], 'no host killed for a busy loop');
  assert.deepEqual(after1, before, 'same hosts, no restart');
  assert.equal(releases, 0, 'no shard released');
  assert.equal(acquisitions, 0, 'no shard acquired');
  assert.ok(during.length >= Math.floor(stallMs / 1000) - 1, `the tracker published every object during the stall (${during.length} complete ticks in ${ended - started} ms)`);
  for (let i = 1; i < during.length; i++) assert.ok(during[i]!.tick - during[i - 1]!.tick === 1000, 'one complete tick a second during the stall');

  // ---- a real hang: caught, terminated, restarted; the task is given back and finishes
  const hangId = 'thr-hang-1';
  await enqueueTask(node.transport, { queue: 'satellite', id: hangId, kind: 'test.block', payload: { ms: 0, forever: true } });
  await until('the hang started', 30_000, () => taskEvents().some((e) => e.what === 'start' && e.id === hangId), 50);
  const hangStart = taskEvents().find((e) => e.what === 'start' && e.id === hangId)!.at;
  await until('the hung worker thread was terminated', 20_000, () => hung.length > 0, 50);
  const caughtMs = Date.now() - hangStart;
  assert.deepEqual(hung.map((h) => [h.id, h.cause]), [['worker', 'no_progress']]);
  assert.ok(caughtMs <= 10_000, `hang caught ${caughtMs} ms after it began`);
  await until('the redelivered task finished on the restarted thread', 30_000, () => taskEvents().some((e) => e.what === 'done' && e.id === hangId), 100);
  const doneAt = taskEvents().find((e) => e.what === 'done' && e.id === hangId)!.at;
  const w = node.supervisor.status().find((c) => c.id === 'worker')!;
  console.log(`thread hang: terminated ${caughtMs} ms after it began; task done ${doneAt - hangStart} ms after; worker restarts ${w.restarts}`);
  assert.equal(w.restarts, 1);
  assert.equal(w.lastExit?.reason, 'hung');
  assert.equal(w.lastExit?.hangCause, 'no_progress');
  // Given back by the dead thread's bridge, not left until AckWait (60 s here).
  assert.ok(doneAt - hangStart < HANG_TIMEOUT_MS + 15_000, `the task came back ${doneAt - hangStart} ms after the hang began, long before its ack wait ran out`);
  const tracker = node.supervisor.status().find((c) => c.id === 'tracker')!;
  assert.equal(tracker.restarts, 0, 'the tracker was never touched');
});
