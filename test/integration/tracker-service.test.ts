/**
 * A tracker host (startHost, role tracker) on the embedded bus with real
 * PostgreSQL in a fresh schema: it loads the seeded objects, publishes one
 * frame per owned shard every second that decodes to the right ids with
 * finite states, writes every owned shard's frame to the hot cache (every
 * object readable as `satellite.state`, also beyond 10,000), switches to a
 * newer element set on `catalog.changed` and reports the jump, passivates a
 * decaying object (catalog status, alert row, alert message), and keeps a
 * physically impossible state out of "good" (flag bits set in the frame,
 * good=false in the cache).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { propagate, twoline2satrec } from 'satellite.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../config/load.js';
import { CatalogChangedMessage } from '../../protocol/messages/catalog.js';
import { AlertRaisedMessage, SatelliteStateMessage, type AlertRaised } from '../../protocol/messages/satellite-state.js';
import { decodeTrackerFrame, STATE_STRIDE } from '../../protocol/frames/tracker-state.js';
import { EmbeddedTransport } from '../../actors/runtime/transport/embedded.js';
import { startHost, type RunningHost } from '../../actors/host/host.js';
import { openStorage, alerts, catalog, type Storage } from '../../actors/storage/index.js';
import { trackerService } from '../../actors/tracker/service.js';
import { readSatelliteState, stateCacheStats } from '../../actors/tracker/state-cache.js';
import type { Counter } from 'prom-client';
import { loadElementSet } from '../../actors/tracker/tracker-actor.js';
import { shardOf } from '../../actors/runtime/sharding.js';
import { QA_ALTITUDE_LOW, QA_DECAYED, QA_PHYSICAL_FAILURE, QA_SWITCH_JUMP, DEFAULT_QA_LIMITS } from '../../actors/tracker/qa.js';
import type { TleRecord } from '../../actors/tracker/tle.js';
import { freshNamespace, quietLogger, sleep, until } from '../helpers/cluster-fixtures.js';
import { PG_URL, dropSchema, randomSchema } from '../helpers/storage-backends.js';
import { seedOmm, seedTles, shiftedOmmOf, snapshotRecords } from '../helpers/tracker-seed.js';

const N = 300;
const LOW_ID = 900_000_001; // mean motion 16.95: ~20 km altitude, propagates without SGP4 error
const DECAY_ID = 900_000_002; // mean motion 17.4: below one Earth radius, SGP4 error 6

interface Frame {
  shard: number;
  tickMs: number;
  ids: number[];
  flags: Map<number, number>;
  values: Map<number, number[]>;
}

describe('tracker service on one host', { timeout: 120_000 }, () => {
  const ns = freshNamespace();
  const schema = randomSchema();
  const dataDir = mkdtempSync(join(tmpdir(), 'sw-tracker-'));
  const cfg = loadConfig({
    env: {},
    overrides: { namespace: ns.namespace, 'cluster.shardCount': 8, 'database.url': PG_URL, dataDir, logLevel: 'silent' },
  });
  let bus: EmbeddedTransport;
  let storage: Storage;
  let host: RunningHost | undefined;
  let records: TleRecord[];
  const frames: Frame[] = [];
  const alertsSeen: AlertRaised[] = [];

  before(async () => {
    bus = new EmbeddedTransport({ names: ns });
    await bus.provision();
    storage = await openStorage(cfg, { schema });
    records = await snapshotRecords(N);
    await seedTles(storage.db, records);
    const now = Date.now();
    await seedOmm(storage.db, { noradId: LOW_ID, epochMs: now - 60_000, meanMotion: 16.95 });
    await seedOmm(storage.db, { noradId: DECAY_ID, epochMs: now - 60_000, meanMotion: 17.4 });
    bus.subscribe(ns.subjects.trackerStateAll, (msg) => {
      const f = decodeTrackerFrame(msg.data);
      const ids: number[] = [];
      const flags = new Map<number, number>();
      const values = new Map<number, number[]>();
      for (let k = 0; k < f.count; k++) {
        const id = f.columns.ids[k]!;
        ids.push(id);
        flags.set(id, f.columns.flags[k]!);
        values.set(id, Array.from(f.columns.values.subarray(k * STATE_STRIDE, (k + 1) * STATE_STRIDE)));
      }
      frames.push({ shard: f.shard, tickMs: f.tickMs, ids, flags, values });
    });
    bus.subscribe(ns.subjects.alerts, (msg) => alertsSeen.push(AlertRaisedMessage.decode(msg.data)));
    host = await startHost({ config: cfg, role: 'tracker', hostId: 'tracker-1', logger: quietLogger('tracker-1'), send: () => {}, transport: bus, storage: async () => storage });
  });

  after(async () => {
    await host?.drain().catch(() => undefined);
    await storage?.close();
    await bus?.close();
    await dropSchema(schema);
    rmSync(dataDir, { recursive: true, force: true });
  });

  const runtime = () => {
    const rt = trackerService.lastRuntime;
    assert.ok(rt, 'the tracker service started');
    return rt;
  };

  /** Frames of the tick at `tickMs`, merged over shards. */
  function tick(tickMs: number): Frame[] {
    return frames.filter((f) => f.tickMs === tickMs);
  }

  test('owns every shard and publishes every object once per second with finite states', async () => {
    await until('all shards owned and objects loaded', 20_000, () => runtime().shardManager.ownedShards().length === 8 && runtime().table.size >= N + 1);
    const start = frames.length;
    await sleep(3300);
    const ticks = [...new Set(frames.slice(start).map((f) => f.tickMs))].sort();
    assert.ok(ticks.length >= 3, `at least 3 ticks in 3.3 s (got ${ticks.length})`);
    for (let i = 1; i < ticks.length; i++) assert.equal(ticks[i]! - ticks[i - 1]!, 1000, 'ticks 1 s apart');
    for (const t of ticks) assert.equal(t % 1000, 0, 'ticks on whole seconds');
    const expected = new Set([...records.map((r) => r.noradId), LOW_ID]);
    for (const t of ticks.slice(0, -1)) {
      const fs = tick(t);
      const seen = fs.flatMap((f) => f.ids);
      assert.equal(seen.length, new Set(seen).size, 'no id twice in one tick');
      for (const id of expected) assert.ok(seen.includes(id), `object ${id} in tick ${t}`);
      for (const f of fs) {
        for (const id of f.ids) {
          const fl = f.flags.get(id)!;
          if ((fl & QA_PHYSICAL_FAILURE) !== 0) continue;
          const v = f.values.get(id)!;
          assert.ok(v.every(Number.isFinite), `finite state for good object ${id}`);
          const r = Math.hypot(v[0]!, v[1]!, v[2]!);
          assert.ok(r > 6378 && r < 600_000, `radius of ${id} is plausible (${r})`);
        }
      }
    }
    const health = host!.info().services?.tracker as Record<string, unknown>;
    assert.ok(health, 'tracker health in host info');
    assert.equal(health.shardsOwned, 8);
    assert.ok((health.objects as number) >= N + 1);
  });

  const cached = (id: number) => readSatelliteState(storage.cache, 8, id);

  test('the hot cache holds every owned shard\'s latest frame; each object decodes to a satellite.state view', async () => {
    const id = records[0]!.noradId;
    const s = await cached(id);
    assert.ok(s, 'state cached');
    // The REST view adds the element-set fields the frame does not carry.
    SatelliteStateMessage.assert({ ...s, epoch: new Date(records[0]!.epochMs).toISOString(), elementSetSource: 'test:snapshot' });
    assert.equal(s.noradId, id);
    assert.equal(s.shard, shardOf(String(id), 8));
    assert.ok(Date.now() - Date.parse(s.t) < 3000, 'state from the last ticks');
    assert.ok(s.teme.r.every((x) => typeof x === 'number'), 'position numbers');
    const r = Math.hypot(s.teme.r[0]!, s.teme.r[1]!, s.teme.r[2]!);
    assert.ok(r > 6378 && r < 600_000, `plausible radius ${r}`);
    const stale = Date.now() - records[0]!.epochMs > DEFAULT_QA_LIMITS.staleDays * 86_400_000;
    assert.equal(s.flags.includes('stale_epoch'), stale, 'stale_epoch exactly when the element set is older than the limit');
    // Good unless its elements are past the LEO age limit (30 days by default; the snapshot is months old on today's date).
    assert.ok(records[0]!.meanMotionRevPerDay > 11.25, 'the first snapshot object is in LEO');
    const expired = Date.now() - records[0]!.epochMs > 30 * 86_400_000;
    assert.equal(s.flags.includes('elements_expired'), expired, 'elements_expired exactly when the elements are older than the LEO limit');
    assert.equal(s.good, !expired);
    // The cached frame is the one published for that tick.
    const f = frames.find((x) => x.tickMs === Date.parse(s.t) && x.ids.includes(id));
    assert.ok(f, 'a published frame of the same tick holds the object');
    assert.equal(s.flagBits, f.flags.get(id));
    // The cache holds the tick's float64 states (issue 14, part 5), the bus frame the same rounded to float32.
    assert.equal(s.precision, 'float64');
    assert.equal(Math.fround(s.geodetic.latDeg!), f.values.get(id)![6]);
    const pv = propagate(twoline2satrec(records[0]!.line1, records[0]!.line2), new Date(s.t));
    assert.ok(pv, 'the oracle propagates');
    const want = [pv.position.x, pv.position.y, pv.position.z];
    for (let k = 0; k < 3; k++) assert.ok(Math.abs(s.teme.r[k]! - want[k]!) <= 1e-6, `r[${k}] within 1e-6 km of satellite.js (${s.teme.r[k]} vs ${want[k]})`);
    // Every tracked object is in the cache, from the same tick.
    for (const rec of records) assert.ok(await cached(rec.noradId), `object ${rec.noradId} cached`);
    assert.equal(await cached(999_999_990), null, 'an untracked id is a miss');
  });

  test('a malformed cached frame is a counted miss, never an error', async () => {
    const before = stateCacheStats.malformed;
    const reasons: string[] = [];
    const id = 999_999_991;
    const shard = shardOf(String(id), 8);
    // A shard this test owns would be overwritten at the next tick; read right after writing.
    await storage.cache.setShardFrameBytes([[shard, Uint8Array.from([1, 2, 3, 4, 5])]]);
    assert.equal(await readSatelliteState(storage.cache, 8, id, { onMalformed: (why) => reasons.push(why) }), null);
    assert.equal(stateCacheStats.malformed - before, 1);
    assert.equal(reasons.length, 1);
  });

  test('a physically impossible state is flagged in the frame and not good in the cache', async () => {
    const last = frames.filter((f) => f.ids.includes(LOW_ID)).at(-1);
    assert.ok(last, 'the low object is in the frames');
    const fl = last.flags.get(LOW_ID)!;
    assert.ok(fl & QA_ALTITUDE_LOW, 'altitude_low bit set');
    assert.ok(fl & QA_PHYSICAL_FAILURE, 'a physical-failure bit: not good');
    await until('the cached state of the low object', 5000, async () => (await cached(LOW_ID)) !== null);
    const s = (await cached(LOW_ID))!;
    assert.equal(s.good, false);
    assert.ok(s.flags.includes('altitude_low'));
  });

  test('a decaying object is passivated, marked decayed and alerted', async () => {
    await until('decay recorded', 10_000, async () => (await catalog.getObject(storage.db, DECAY_ID))?.status === 'decayed');
    assert.ok(![...runtime().table.actors].some((a) => a?.noradId === DECAY_ID), 'actor passivated');
    const rows = await alerts.listAlerts(storage.db, {});
    const a = rows.find((x) => x.id === `decay:${DECAY_ID}`);
    assert.ok(a, 'alert row');
    assert.equal(a.kind, 'decay');
    await until('alert message', 5000, () => alertsSeen.some((x) => x.id === `decay:${DECAY_ID}`));
    const decayedFrames = frames.filter((f) => f.ids.includes(DECAY_ID));
    assert.ok(decayedFrames.length <= 1, 'published at most in the tick that found it decayed');
    for (const f of decayedFrames) assert.ok(f.flags.get(DECAY_ID)! & QA_DECAYED);
    const before = frames.length;
    await sleep(1500);
    assert.ok(!frames.slice(before).some((f) => f.ids.includes(DECAY_ID)), 'no longer propagated');
  });

  test('a decay is processed once: the shard reacquired from the cached catalog index does not bring the object back', async () => {
    await until('decay recorded', 10_000, async () => (await catalog.getObject(storage.db, DECAY_ID))?.status === 'decayed');
    // The index the host loaded at start still lists the object as active; a
    // reacquisition of its shard (as after a lease loss) reads that index.
    const rt = runtime() as unknown as { acquire(shard: number): Promise<void>; table: { actors: Array<{ noradId: number } | undefined> } };
    await rt.acquire(shardOf(String(DECAY_ID), 8));
    const before = frames.length;
    await sleep(2500);
    assert.ok(!rt.table.actors.some((a) => a?.noradId === DECAY_ID), 'not activated again');
    assert.ok(!frames.slice(before).some((f) => f.ids.includes(DECAY_ID)), 'not propagated again');
    assert.equal(alertsSeen.filter((x) => x.id === `decay:${DECAY_ID}`).length, 1, 'one decay alert for the object');
    // sw_tracker_decays_total counts objects, not predictions: the same decay found again (a redelivery,
    // a re-prediction after a reload or a takeover) finds its alert already there and adds nothing.
    const decays = async (): Promise<number> => (await (runtime() as unknown as { m: { decays: Counter } }).m.decays.get()).values.reduce((n, v) => n + v.value, 0);
    assert.equal(await decays(), 1, 'one decayed object counted once');
    const again = runtime() as unknown as { decayed(a: unknown, tMs: number, expired: boolean): Promise<void> };
    const actor = { noradId: DECAY_ID, shard: shardOf(String(DECAY_ID), 8), es: { name: 'DECAY TEST' }, epochIso: new Date().toISOString(), source: 'test' };
    await again.decayed(actor, Date.now(), false);
    await again.decayed(actor, Date.now() + 1000, false);
    assert.equal(await decays(), 1, 'predicted again, still one');
  });

  test('a takeover does not bring back an object another host found decayed after this host loaded its catalog index', async () => {
    const rt = runtime() as unknown as {
      acquire(shard: number): void;
      release(shard: number, reason: string): void;
      table: { actors: Array<{ noradId: number } | undefined> };
    };
    // An object this host publishes, in a shard without the test's own decaying object.
    const decayShard = shardOf(String(DECAY_ID), 8);
    const victim = records.map((r) => r.noradId).find((id) => shardOf(String(id), 8) !== decayShard)!;
    const shard = shardOf(String(victim), 8);
    await until('the object is published', 5000, () => frames.some((f) => f.ids.includes(victim)));
    // Another host, which held the shard meanwhile, recorded its decay: only the database says so.
    rt.release(shard, 'test: lost to another host');
    await catalog.setObjectStatus(storage.db, victim, 'decayed');
    rt.acquire(shard);
    // From a tick that began after the reacquisition (one in flight at the release may still carry it).
    const acquiredAt = Date.now();
    await until('the shard is published again', 5000, () => frames.some((f) => f.shard === shard && f.tickMs > acquiredAt && f.ids.length > 0));
    const before = frames.findIndex((f) => f.shard === shard && f.tickMs > acquiredAt);
    await sleep(2500);
    assert.ok(!rt.table.actors.some((a) => a?.noradId === victim), 'not activated again');
    assert.ok(!frames.slice(before).some((f) => f.ids.includes(victim)), 'not published again');
    assert.ok(frames.slice(before).some((f) => f.shard === shard && f.ids.length > 0), 'the rest of its shard is');
  });

  test('a newer element set switches over on catalog.changed and reports the jump', async () => {
    const r = records[5]!;
    const rt = runtime();
    const actor = [...rt.table.actors].find((a) => a?.noradId === r.noradId)!;
    assert.ok(actor);
    const oldStored = actor.storedId;
    await seedOmm(storage.db, shiftedOmmOf(r, 60_000, 2), 'test:switch');
    bus.publish(ns.subjects.catalogChanged, CatalogChangedMessage.encode({ v: 1, at: Date.now(), ids: [r.noradId], full: false }));
    await until('switch-over', 10_000, () => rt.switchLog.some((s) => s.noradId === r.noradId));
    const sw = rt.switchLog.find((s) => s.noradId === r.noradId)!;
    assert.notEqual(actor.storedId, oldStored);
    // 2° of mean anomaly in LEO is ~240 km along track.
    assert.ok(sw.jumpKm > DEFAULT_QA_LIMITS.switchJumpKm && sw.jumpKm < 1000, `jump ${sw.jumpKm} km`);
    assert.equal(sw.flags, QA_SWITCH_JUMP);
    await until('flagged state published', 5000, () => frames.some((f) => (f.flags.get(r.noradId) ?? 0) & QA_SWITCH_JUMP));
    // The cached frames carry the new elements' states too (the jump flag for one tick).
    await until('cache carries the switch-over state', 5000, async () => (((await cached(r.noradId))?.flagBits ?? 0) & QA_SWITCH_JUMP) !== 0, 20);
  });

  test('an object added to the catalog is activated on catalog.changed, one set inactive is stopped', async () => {
    const rt = runtime();
    const extra = (await snapshotRecords(N + 1))[N]!;
    await seedTles(storage.db, [extra], 'test:added');
    const gone = records[7]!.noradId;
    await catalog.setObjectStatus(storage.db, gone, 'inactive');
    bus.publish(ns.subjects.catalogChanged, CatalogChangedMessage.encode({ v: 1, at: Date.now(), ids: [extra.noradId, gone], full: false }));
    await until('new object tracked, inactive one stopped', 10_000, () => {
      const ids = new Set(rt.table.actors.filter((a) => a).map((a) => a!.noradId));
      return ids.has(extra.noradId) && !ids.has(gone);
    });
    await until('new object in frames', 5000, () => frames.some((f) => f.ids.includes(extra.noradId)));
  });

  test('after a tick every object is readable from the cache, beyond 10,000 objects', async () => {
    const rt = runtime();
    const extra = (await snapshotRecords(N + 1 + 12_000)).slice(N + 1);
    assert.equal(extra.length, 12_000, 'the snapshot has enough objects');
    let storedId = 1_000_000;
    for (const r of extra) {
      const loaded = loadElementSet({ id: storedId++, noradId: r.noradId, epoch: new Date(r.epochMs), source: 'test:bulk', format: 'tle', omm: null, tleLine1: r.line1, tleLine2: r.line2 }, r.name);
      assert.ok(loaded.ok, `object ${r.noradId} loads`);
      rt.activateLoaded(loaded);
    }
    assert.ok(rt.table.size > 12_000);
    const t0 = rt.ticks;
    await until('two more ticks', 10_000, () => rt.ticks >= t0 + 2);
    const ids = [...rt.table.actors].filter((a) => a !== undefined).map((a) => a!.noradId);
    const tick = rt.lastTickMs;
    let missing = 0;
    for (const id of ids) {
      const s = await cached(id);
      // A tick may land while reading: the state is of the last tick or a later one.
      if (s === null || Date.parse(s.t) < tick || s.noradId !== id) missing++;
    }
    assert.equal(missing, 0, `all ${ids.length} tracked objects are in the cache from the latest tick`);
  });
});
