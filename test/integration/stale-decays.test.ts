/**
 * The shipped snapshot started on today's date (issue 16, part 2): the
 * objects its months-old elements predict decayed are passivated and marked
 * decayed, and raise ONE grouped alert for the catalog load, not one alert
 * each; an object decaying from fresh elements still gets its own alert; the
 * grouped alert is idempotent (the same objects found again, as a
 * redelivery or a takeover host would, change neither the alert nor the
 * decay counter). A tracker host (startHost, role tracker) on the embedded
 * bus with PostgreSQL in a fresh schema; real snapshot records, a subset.
 *
 * Oracle: which records decay is decided here with satellite.js itself
 * (SGP4 error 6, or its checkForDecay), two days before now, so the tick's
 * own instant cannot disagree; their element age from the TLE epoch.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkForDecay, propagate, twoline2satrec } from 'satellite.js';
import { loadConfig } from '../../config/load.js';
import { AlertRaisedMessage, type AlertRaised } from '../../protocol/messages/satellite-state.js';
import { EmbeddedTransport } from '../../actors/runtime/transport/embedded.js';
import { startHost, type RunningHost } from '../../actors/host/host.js';
import { openStorage, alerts, catalog, ingestRuns, type Storage } from '../../actors/storage/index.js';
import { trackerService } from '../../actors/tracker/service.js';
import type { TleRecord } from '../../actors/tracker/tle.js';
import { freshNamespace, quietLogger, sleep, until } from '../helpers/cluster-fixtures.js';
import { PG_URL, dropSchema, randomSchema } from '../helpers/storage-backends.js';
import { seedOmm, seedTles, snapshotRecords } from '../helpers/tracker-seed.js';

const DAY = 86_400_000;
const STALE_N = 30;
const CONTROL_N = 20;
const FRESH_DECAY_ID = 900_000_012; // mean motion 17.4: below one Earth radius, SGP4 error 6, from elements a minute old

/** Decayed by satellite.js's own verdict at `t`. */
function decayedAt(r: TleRecord, t: Date): boolean {
  const s = twoline2satrec(r.line1, r.line2);
  const p = propagate(s, t);
  if (s.error === 6) return true;
  return s.error === 0 && p !== null && typeof p.position === 'object' && checkForDecay(s);
}

describe('decays from expired elements: one grouped alert per catalog load', { timeout: 60_000 }, () => {
  const ns = freshNamespace();
  const schema = randomSchema();
  const dataDir = mkdtempSync(join(tmpdir(), 'sw-stale-decay-'));
  const cfg = loadConfig({ env: {}, overrides: { namespace: ns.namespace, 'cluster.shardCount': 4, 'database.url': PG_URL, dataDir, logLevel: 'silent' } });
  let bus: EmbeddedTransport;
  let storage: Storage;
  let host: RunningHost | undefined;
  let stale: TleRecord[] = [];
  let controls: TleRecord[] = [];
  let runId = 0;
  const seen: AlertRaised[] = [];

  before(async () => {
    const now = Date.now();
    const all = await snapshotRecords();
    const early = new Date(now - 2 * DAY);
    const late = new Date(now + 2 * DAY);
    stale = all.filter((r) => decayedAt(r, early)).slice(0, STALE_N);
    controls = all.filter((r) => r.meanMotionRevPerDay > 11.25 && !decayedAt(r, late)).slice(0, CONTROL_N);
    assert.equal(stale.length, STALE_N, 'the snapshot has objects that decay by now');
    for (const r of stale) assert.ok(now - r.epochMs > 30 * DAY, `${r.noradId}: elements older than the LEO limit (the test needs today's date well after the snapshot)`);
    bus = new EmbeddedTransport({ names: ns });
    await bus.provision();
    storage = await openStorage(cfg, { schema });
    await seedTles(storage.db, [...stale, ...controls], 'snapshot:celestrak-active-2026-05-07.tle');
    await seedOmm(storage.db, { noradId: FRESH_DECAY_ID, epochMs: now - 60_000, meanMotion: 17.4 });
    // The load the elements came from, as the catalog ingest records a snapshot fallback.
    runId = await ingestRuns.recordIngestRun(storage.db, {
      kind: 'catalog', group: 'active', source: 'snapshot:celestrak-active-2026-05-07.tle', format: 'tle', outcome: 'ok',
      records: STALE_N + CONTROL_N, accepted: STALE_N + CONTROL_N, snapshotDate: '2026-05-07', startedAt: new Date(now - 1000), finishedAt: new Date(now),
    });
    bus.subscribe(ns.subjects.alerts, (msg) => seen.push(AlertRaisedMessage.decode(msg.data)));
    host = await startHost({ config: cfg, role: 'tracker', hostId: 'tracker-stale', logger: quietLogger('tracker-stale'), send: () => {}, transport: bus, storage: async () => storage });
  });

  after(async () => {
    await host?.drain().catch(() => undefined);
    await storage?.close();
    await bus?.close();
    await dropSchema(schema);
    rmSync(dataDir, { recursive: true, force: true });
  });

  const groupId = () => `stale-decays:run-${runId}`;

  test('every stale decay is recorded, under one alert that counts them; the fresh decay alerts on its own', async () => {
    const staleIds = stale.map((r) => r.noradId).sort((a, b) => a - b);
    await until('every predicted decay recorded', 20_000, async () => {
      for (const id of [...staleIds, FRESH_DECAY_ID]) if ((await catalog.getObject(storage.db, id))?.status !== 'decayed') return false;
      return true;
    }, 100);
    await until('the grouped alert holds every stale decay', 15_000, async () => {
      const a = (await alerts.listAlerts(storage.db, {})).find((x) => x.id === groupId());
      return ((a?.payload.noradIds as number[] | undefined) ?? []).length === STALE_N;
    }, 100);
    const rows = await alerts.listAlerts(storage.db, { limit: 1000 });
    const grouped = rows.filter((x) => x.kind === 'decay-stale-elements');
    assert.equal(grouped.length, 1, 'one grouped alert for the load');
    const g = grouped[0]!;
    assert.equal(g.id, groupId());
    assert.equal(g.noradId, null);
    assert.deepEqual(g.payload.noradIds, staleIds, 'its objects are exactly the stale decays');
    assert.match(g.message, new RegExp(`^${STALE_N} objects predicted decayed from elements older than 30 days \\(snapshot of 2026-05-07\\)`));
    for (const id of staleIds) assert.ok(!rows.some((x) => x.id === `decay:${id}`), `no alert of its own for ${id}`);
    assert.ok(rows.some((x) => x.id === `decay:${FRESH_DECAY_ID}` && x.kind === 'decay'), 'the fresh-element decay alerts per object');
    assert.equal(rows.length, 2, 'nothing else was alerted');
    await until('the grouped alert on the bus', 5000, () => seen.some((x) => x.id === groupId() && x.message.startsWith(`${STALE_N} objects`)));
    assert.ok(seen.filter((x) => x.kind === 'decay-stale-elements').every((x) => x.id === groupId()));
    // What is left tracked is the LEO controls, all from elements past the 30-day limit: none good, and /health's host view says so.
    for (const r of controls) assert.ok(Date.now() - r.epochMs > 30 * DAY, `${r.noradId}: control past the LEO limit`);
    await until('a tick after the decays were passivated', 5000, () => (host!.info().services?.tracker as { objects?: number } | undefined)?.objects === CONTROL_N);
    await sleep(1100);
    const health = host!.info().services?.tracker as Record<string, unknown>;
    assert.equal(health.statesElementsExpired, CONTROL_N);
    assert.equal(health.statesGood, 0);
  });

  test('the same objects found again (redelivery, a takeover host) change neither the alert nor the decay count', async () => {
    const rt = trackerService.lastRuntime as unknown as {
      staleDecays: number[];
      flushStaleDecays(): Promise<void>;
      m: { decays: { get(): Promise<{ values: Array<{ value: number }> }> } };
    };
    const count = async () => (await rt.m.decays.get()).values[0]?.value ?? 0;
    assert.equal(await count(), STALE_N + 1, 'each decayed object counted once');
    const before = (await alerts.listAlerts(storage.db, {})).find((x) => x.id === groupId())!;
    const published = seen.length;
    rt.staleDecays.push(...stale.slice(0, 10).map((r) => r.noradId));
    await rt.flushStaleDecays();
    const after = (await alerts.listAlerts(storage.db, {})).find((x) => x.id === groupId())!;
    assert.deepEqual(after.payload, before.payload);
    assert.equal(after.message, before.message);
    assert.equal(await count(), STALE_N + 1);
    await sleep(100);
    assert.equal(seen.length, published, 'nothing published again');
    // A second raiser of the same group from another host merges as a set.
    const r = await alerts.raiseGroupAlert(storage.db, {
      id: groupId(), kind: 'decay-stale-elements', severity: 'warning', noradIds: [stale[0]!.noradId, stale[1]!.noradId], messageTemplate: '{count} objects', raisedAt: new Date(),
    });
    assert.deepEqual({ total: r.total, added: r.added, isNew: r.isNew }, { total: STALE_N, added: 0, isNew: false });
  });
});
