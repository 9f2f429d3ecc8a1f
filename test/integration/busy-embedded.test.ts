/**
 * Busy is not dead, in the embedded default: every role runs inline on ONE
 * event loop (the in-process bus and PGlite cannot span threads or
 * processes), so a handler that blocks that loop stalls every role for as
 * long as it runs; nothing can publish meanwhile. What must hold is that the
 * stall costs nothing afterwards: a task handler blocks the loop for 3× the
 * heartbeat timeout (and 2× the hang timeout); no inline host is killed, no
 * shard moves (leases are reclaimed by compare-and-set, nothing released or
 * acquired), and the tracker publishes every object again within 2 s of the
 * stall's end. That built-in roles never block the loop this long is the
 * other half ("bounded by construction"): see the README's liveness section
 * and `npm run bench:load`.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
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

const dir = mkdtempSync(join(tmpdir(), 'sw-busy-emb-'));
let node: RunningNode | null = null;
after(async () => {
  await node?.stop();
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

test('embedded: a handler blocking the shared loop for 3x the heartbeat timeout kills nothing, moves no shard, and the tracker resumes at once', { timeout: 120_000 }, async () => {
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
      'supervisor.hangTimeoutMs': 1500,
      'supervisor.startupTimeoutMs': 30_000,
    },
  });
  const storage = await openStorage(cfg);
  const now = Date.now();
  const records = await snapshotRecords(OBJECTS);
  for (const r of records) await seedOmm(storage.db, shiftedOmmOf(r, now - 3_600_000 - r.epochMs, 0), 'test:busy');
  await storage.close();
  const expected = new Set(records.map((r) => r.noradId));

  node = await startNode({ config: cfg, mode: 'inline', handleSignals: false });
  const hung: unknown[] = [];
  node.supervisor.on('child-hung', (e) => hung.push(e));
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

  const before = node.supervisor.status().map((c) => [c.id, c.hostId, c.restarts]);
  const m0 = (await node.health.metrics()).body;
  const stallMs = 3 * HEARTBEAT_TIMEOUT_MS;
  let stallEnd = 0;
  await enqueueTask(node.transport, { queue: 'satellite', id: 'emb-busy-1', kind: 'test.block', payload: { ms: stallMs } });
  await until('the stall ran', 20_000, () => {
    // This test runs on the same loop: the first check after a long gap is the stall's end.
    const st = node!.supervisor.pausedMs;
    if (st >= stallMs - 1000 && stallEnd === 0) stallEnd = Date.now();
    return stallEnd > 0;
  }, 50);
  await until('a complete tick after the stall', 10_000, () => complete().some((c) => c.seenAt > stallEnd), 50);
  const resumedMs = complete().find((c) => c.seenAt > stallEnd)!.seenAt - stallEnd;
  // Several lease and membership rounds after the stall.
  await sleep(3 * cfg.cluster.leaseMs);
  const m1 = (await node.health.metrics()).body;
  const after1 = node.supervisor.status().map((c) => [c.id, c.hostId, c.restarts]);
  const releases = counter(m1, 'sw_shard_releases_total') - counter(m0, 'sw_shard_releases_total');
  const acquisitions = counter(m1, 'sw_shard_acquisitions_total') - counter(m0, 'sw_shard_acquisitions_total');
  const reclaims = counter(m1, 'sw_lease_reclaims_total') - counter(m0, 'sw_lease_reclaims_total');
  console.log(`embedded stall: supervisor paused ${Math.round(node.supervisor.pausedMs)} ms; every object again ${resumedMs} ms after; releases ${releases}, acquisitions ${acquisitions}, reclaims ${reclaims}, hung ${hung.length}`);
  assert.deepEqual(hung, [], 'no inline host killed');
  assert.deepEqual(after1, before, 'same hosts, no restart');
  assert.equal(releases, 0, 'no shard released');
  assert.equal(acquisitions, 0, 'no shard acquired');
  assert.ok(reclaims > 0, 'leases past their deadline were reclaimed');
  assert.ok(resumedMs <= 2000, `every object published again ${resumedMs} ms after the stall`);
  const last = complete().slice(-2);
  assert.equal(last.length, 2);
  assert.equal(last[1]!.tick - last[0]!.tick, 1000, 'ticks are back to every second');
});
