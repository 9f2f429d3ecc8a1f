/**
 * /health, /ingest/status and the start banner report the age of the
 * catalog's ELEMENTS, not of its load (issue 16, part 2): the gateway's
 * health and ingest-status plugins on a Fastify app, wired as the gateway
 * service wires them (one CatalogAge with the node's configured limits),
 * over PostgreSQL in a fresh schema seeded with real snapshot records, whose
 * catalog was "loaded" a second ago from the 2026-05-07 snapshot. The
 * oracle is computed here from the seeded TLE text (epoch from line 1
 * columns 19–32, regime from line 2's mean motion and eccentricity, the
 * NORAD two-line format), with a configured MEO limit to show the limits
 * are the node's own.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { loadConfig } from '../../config/load.js';
import { openStorage, ingestRuns, type Storage } from '../../actors/storage/index.js';
import { qaLimitsFromConfig } from '../../actors/tracker/qa-config.js';
import { startBanner } from '../../actors/gateway/banner.js';
import { writesDisabled } from '../../actors/gateway/auth.js';
import { CatalogAge, type CatalogAgeView } from '../../actors/gateway/catalog-age.js';
import { healthPlugin } from '../../actors/gateway/health.js';
import { ingestStatusPlugin } from '../../actors/gateway/ingest-status.js';
import { PG_URL, dropSchema, randomSchema } from '../helpers/storage-backends.js';
import { seedOmm, seedTles, snapshotRecords } from '../helpers/tracker-seed.js';

const DAY = 86_400_000;
const COUNT = 100;
const LIMITS = { leo: 30, meo: 365, geo: 90, heo: 30 } as const;

function tleEpochMs(line1: string): number {
  const yy = Number(line1.slice(18, 20));
  const year = yy < 57 ? 2000 + yy : 1900 + yy;
  return Date.UTC(year, 0, 1) + (Number(line1.slice(20, 32)) - 1) * DAY;
}

function regimeOf(n: number, e: number): keyof typeof LIMITS {
  if (e > 0.25) return 'heo';
  if (n > 11.25) return 'leo';
  if (n >= 0.9 && n <= 1.1) return 'geo';
  return 'meo';
}

const schema = randomSchema();
let storage: Storage;
let app: FastifyInstance;
let base = '';
/** Epoch and orbit of every active object, from the TLE text (plus one crafted OMM, and one decayed object that must not count). */
let seeded: Array<{ epochMs: number; n: number; e: number }>;

before(async () => {
  const cfg = loadConfig({ env: { STARWEATHER_MAX_ELEMENT_AGE_DAYS_MEO: String(LIMITS.meo) }, overrides: { 'database.url': PG_URL, logLevel: 'silent' } });
  storage = await openStorage(cfg, { schema });
  const records = await snapshotRecords(COUNT + 1);
  await seedTles(storage.db, records, 'snapshot:celestrak-active-2026-05-07.tle');
  // An object no longer active: its elements are not the catalog's.
  await storage.db.query(`UPDATE catalog_objects SET status = 'decayed' WHERE norad_id = $1`, [records[COUNT]!.noradId]);
  // An OMM-only object with fresh elements, in GEO.
  const now = Date.now();
  const ommEpoch = Math.floor(now / 1000) * 1000 - 3 * DAY;
  await seedOmm(storage.db, { noradId: 900_000_101, epochMs: ommEpoch, meanMotion: 1.0027, eccentricity: 0.0002 });
  const orbit = (l2: string) => ({ n: Number(l2.slice(52, 63)), e: Number(`0.${l2.slice(26, 33).trim()}`) });
  seeded = records.slice(0, COUNT).map((r) => ({ epochMs: tleEpochMs(r.line1), ...orbit(r.line2) }));
  seeded.push({ epochMs: ommEpoch, n: 1.0027, e: 0.0002 });
  const catalogAge = new CatalogAge(async () => storage, qaLimitsFromConfig(cfg));
  app = Fastify();
  await app.register(healthPlugin, { nodeView: { health: async () => ({ status: 'ok', hosts: [] }), metrics: async () => ({ contentType: 'text/plain', body: '' }) }, gateway: () => ({}), catalog: () => catalogAge.view() });
  await app.register(ingestStatusPlugin, { storage: async () => storage, catalogAge });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  await ingestRuns.recordIngestRun(storage.db, {
    kind: 'catalog', group: 'active', source: 'snapshot:celestrak-active-2026-05-07.tle', format: 'tle', outcome: 'ok',
    records: COUNT, accepted: COUNT, snapshotDate: '2026-05-07', startedAt: new Date(now - 2000), finishedAt: new Date(now - 1000),
  });
});

after(async () => {
  await app?.close();
  await storage?.close();
  await dropSchema(schema);
});

function expected(atMs: number) {
  const epochs = seeded.map((s) => s.epochMs).sort((a, b) => a - b);
  const n = epochs.length;
  const median = n % 2 ? epochs[(n - 1) / 2]! : (epochs[n / 2 - 1]! + epochs[n / 2]!) / 2;
  const byRegime = { leo: 0, meo: 0, geo: 0, heo: 0 };
  for (const s of seeded) {
    const reg = regimeOf(s.n, s.e);
    if ((atMs - s.epochMs) / DAY > LIMITS[reg]) byRegime[reg]++;
  }
  return { n, median, oldest: epochs[0]!, newest: epochs[n - 1]!, byRegime };
}

function near(actualIso: string | null, wantMs: number, what: string): void {
  assert.ok(actualIso !== null, `${what} present`);
  // TLE epochs carry 1e-8 day (~1 ms); PostgreSQL keeps microseconds.
  assert.ok(Math.abs(Date.parse(actualIso) - wantMs) <= 2, `${what}: ${actualIso} vs ${new Date(wantMs).toISOString()}`);
}

test('GET /ingest/status: the elements are months old although the load is a second old', async () => {
  const r = await fetch(`${base}/ingest/status`);
  assert.equal(r.status, 200);
  const body = (await r.json()) as any;
  assert.ok(body.catalog.ageS <= 60, `the load is recent (ageS ${body.catalog.ageS})`);
  const e = body.catalog.elements;
  assert.ok(e, 'elements reported');
  const at = Date.parse(e.at);
  const want = expected(at);
  assert.equal(e.objects, want.n);
  near(e.medianEpoch, want.median, 'median epoch');
  near(e.oldestEpoch, want.oldest, 'oldest epoch');
  near(e.newestEpoch, want.newest, 'newest epoch');
  assert.ok(Math.abs(e.medianAgeDays - (at - want.median) / DAY) <= 0.006, `median age ${e.medianAgeDays} d`);
  assert.ok(Math.abs(e.maxAgeDays - (at - want.oldest) / DAY) <= 0.006, `max age ${e.maxAgeDays} d`);
  assert.ok(e.medianAgeDays > 30, 'the shipped snapshot is old on today\'s date');
  for (const k of ['leo', 'meo', 'geo', 'heo'] as const) {
    assert.equal(e.byRegime[k].expired, want.byRegime[k], `${k} past its limit`);
    assert.equal(e.byRegime[k].maxAgeDays, LIMITS[k], `${k} limit is the node's`);
  }
  assert.equal(e.expired, want.byRegime.leo + want.byRegime.meo + want.byRegime.geo + want.byRegime.heo);
});

test('GET /health carries the same element age and the load it came from; the start banner says it in one line', async () => {
  const r = await fetch(`${base}/health`);
  assert.equal(r.status, 200, 'old elements do not make the node unhealthy');
  const body = (await r.json()) as { catalog: CatalogAgeView };
  const e = body.catalog.elements!;
  const want = expected(Date.parse(e.at));
  assert.equal(e.objects, want.n);
  near(e.medianEpoch, want.median, 'median epoch');
  assert.equal(body.catalog.lastLoad?.snapshotDate, '2026-05-07');
  assert.equal(body.catalog.lastLoad?.source, 'snapshot:celestrak-active-2026-05-07.tle');
  const banner = startBanner({ host: '127.0.0.1', port: 8080, mode: 'embedded', nodeId: 'n', apiKey: writesDisabled('test'), catalog: body.catalog });
  const line = banner.split('\n').find((l) => l.trim().startsWith('Catalog'));
  assert.ok(line, banner);
  assert.match(line, /snapshot of 2026-05-07/);
  assert.match(line, new RegExp(`median ${Math.round(e.medianAgeDays!)} d old`));
  assert.match(line, new RegExp(`${e.expired} of ${e.objects} past their orbit's age limit`));
  const fresh = startBanner({ host: '127.0.0.1', port: 1, mode: 'embedded', nodeId: 'n', apiKey: writesDisabled('test'), catalog: { elements: null, lastLoad: null } });
  assert.match(fresh, /Catalog\s+not loaded yet/);
});
