/**
 * Catalog ingest write path on both database backends (PGlite and
 * PostgreSQL 15 in a fresh schema): the 15,347-object snapshot loads with
 * zero rejects from a local gp.php (FORMAT=tle) and through the offline
 * snapshot fallback; a replay changes nothing; bad records are rejected
 * with their reason and counted while the rest of the batch is written;
 * OMM with 6- and 9-digit catalog numbers keeps its ids; catalog.changed
 * carries the changed ids in chunks of at most 5,000.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { BACKENDS, type TestBackend } from '../helpers/storage-backends.js';
import { EmbeddedTransport } from '../../actors/runtime/transport/embedded.js';
import { names } from '../../protocol/names.js';
import { CatalogChangedMessage, type CatalogChanged } from '../../protocol/messages/catalog.js';
import { SNAPSHOT_OBJECT_COUNT, SNAPSHOT_PATH } from '../../actors/tracker/snapshot.js';
import { validateOmm } from '../../actors/tracker/omm.js';
import { getObject, setObjectStatus } from '../../actors/storage/catalog.js';
import { latestElementSet } from '../../actors/storage/element-sets.js';
import { listIngestRuns } from '../../actors/storage/ingest-runs.js';
import { runCatalogCycle } from '../../actors/ingest/catalog-actor.js';
import { ingestCatalogText, type IngestDeps } from '../../actors/ingest/catalog-ingest.js';
import { catalogMetrics } from '../../actors/ingest/catalog-metrics.js';
import { catalogConfig, ommRecord, silentLogger, startGpServer, type GpServer } from './catalog-fixtures.js';

const SNAPSHOT_TEXT = readFileSync(SNAPSHOT_PATH, 'utf8');

async function counts(b: TestBackend): Promise<{ objects: number; sets: number }> {
  const o = await b.db.query<{ n: string }>('SELECT count(*) AS n FROM catalog_objects');
  const s = await b.db.query<{ n: string }>('SELECT count(*) AS n FROM element_sets');
  return { objects: Number(o.rows[0]!.n), sets: Number(s.rows[0]!.n) };
}

for (const backend of BACKENDS) {
  describe(`catalog ingest on ${backend.name}`, { timeout: 300_000 }, () => {
    let gp: GpServer;
    const opened: TestBackend[] = [];
    const n = names(`t${Math.random().toString(36).slice(2, 10)}`);
    const bus = new EmbeddedTransport({ names: n });
    const changed: CatalogChanged[] = [];
    bus.subscribe(n.subjects.catalogChanged, (m) => changed.push(CatalogChangedMessage.decode(m.data)));

    before(async () => {
      gp = await startGpServer(() => ({ status: 200, body: SNAPSHOT_TEXT }));
    });
    after(async () => {
      await gp.close();
      await bus.close();
      for (const b of opened) await b.dispose();
    });

    async function fresh(): Promise<TestBackend> {
      const b = await backend.open();
      opened.push(b);
      const { migrate } = await import('../../actors/storage/migrate.js');
      await migrate(b.db);
      return b;
    }

    function deps(b: TestBackend, registry = new Registry()): IngestDeps {
      return { db: b.db, transport: bus, names: n, metrics: catalogMetrics(registry), logger: silentLogger(), hostId: 'test' };
    }

    test('the snapshot from a local gp.php as TLE: all 15,347 objects, zero rejects; a replay changes nothing', async () => {
      const b = await fresh();
      gp.requests.length = 0;
      gp.answer = () => ({ status: 200, body: SNAPSHOT_TEXT });
      changed.length = 0;
      const cfg = catalogConfig({ 'catalog.url': gp.url, 'catalog.format': 'tle', 'catalog.groups': 'active' });
      const t0 = performance.now();
      const [first, ...more] = await runCatalogCycle({ config: cfg, deps: () => deps(b), groups: ['active'], stillLeader: () => true, snapshotPath: SNAPSHOT_PATH });
      const ms = performance.now() - t0;
      console.log(`# ${backend.name}: ${SNAPSHOT_OBJECT_COUNT} objects ingested in ${ms.toFixed(0)} ms`);
      assert.equal(more.length, 0);
      assert.deepEqual(gp.requests.map((r) => [r.group, r.format]), [['active', 'tle']]);
      assert.match(gp.requests[0]!.userAgent ?? '', /StarWeather/);
      assert.equal(first!.outcome, 'ok', first!.message);
      assert.equal(first!.httpStatus, 200);
      assert.equal(first!.rejected, 0, JSON.stringify(first!.rejectSamples));
      assert.equal(first!.accepted, SNAPSHOT_OBJECT_COUNT);
      assert.equal(first!.objectsNew, SNAPSHOT_OBJECT_COUNT);
      assert.deepEqual(await counts(b), { objects: SNAPSHOT_OBJECT_COUNT, sets: SNAPSHOT_OBJECT_COUNT });
      // catalog.changed: every id once, chunks of ≤ 5,000, full group load.
      const ids = changed.flatMap((c) => c.ids);
      assert.equal(ids.length, SNAPSHOT_OBJECT_COUNT);
      assert.equal(new Set(ids).size, SNAPSHOT_OBJECT_COUNT);
      assert.ok(changed.every((c) => c.ids.length <= 5000 && c.full && c.group === 'active'));
      assert.equal(changed.length, Math.ceil(SNAPSHOT_OBJECT_COUNT / 5000));
      const iss = await getObject(b.db, 25544);
      assert.equal(iss?.name.startsWith('ISS'), true);
      assert.deepEqual(iss?.groups, ['active']);
      assert.equal(iss?.intlDesignator, '1998-067A');

      changed.length = 0;
      const [replay] = await runCatalogCycle({ config: cfg, deps: () => deps(b), groups: ['active'], stillLeader: () => true, snapshotPath: SNAPSHOT_PATH });
      assert.equal(replay!.outcome, 'ok');
      assert.equal(replay!.accepted, SNAPSHOT_OBJECT_COUNT);
      assert.equal(replay!.objectsNew, 0);
      assert.equal(replay!.objectsChanged, 0);
      assert.equal(replay!.elementSetsNew, 0);
      assert.deepEqual(await counts(b), { objects: SNAPSHOT_OBJECT_COUNT, sets: SNAPSHOT_OBJECT_COUNT });
      assert.equal(changed.length, 0, 'a replay publishes nothing');
      const runs = await listIngestRuns(b.db, { kind: 'catalog', group: 'active' });
      assert.equal(runs.length, 2);
      assert.equal(runs[1]!.accepted, SNAPSHOT_OBJECT_COUNT);
    });

    test('offline embedded start: the first fetch fails, the empty database gets the shipped snapshot, recorded with its date', async () => {
      const b = await fresh();
      gp.requests.length = 0;
      gp.answer = () => ({ status: 500, body: 'boom' });
      const cfg = catalogConfig({ 'catalog.url': gp.url, 'catalog.groups': 'active,stations' });
      assert.equal(cfg.nats.url, '');
      const reports = await runCatalogCycle({ config: cfg, deps: () => deps(b), groups: cfg.catalog.groups, stillLeader: () => true, snapshotPath: SNAPSHOT_PATH });
      assert.equal(gp.requests.length, 1, '500 stops the cycle: no request for the second group, no retry');
      assert.deepEqual(reports.map((r) => [r.outcome, r.httpStatus]), [['http_error', 500], ['ok', null]]);
      assert.equal(reports[1]!.rejected, 0);
      assert.equal(reports[1]!.accepted, SNAPSHOT_OBJECT_COUNT);
      assert.equal(reports[1]!.snapshotDate, '2026-05-07');
      assert.deepEqual(await counts(b), { objects: SNAPSHOT_OBJECT_COUNT, sets: SNAPSHOT_OBJECT_COUNT });
      const runs = await listIngestRuns(b.db, { kind: 'catalog' });
      const snap = runs.find((r) => r.source.startsWith('snapshot:'));
      assert.equal(snap?.snapshotDate, '2026-05-07');
      assert.equal(snap?.source, 'snapshot:celestrak-active-2026-05-07.tle');

      // With a catalog in the database, a later failure does not load the snapshot again.
      gp.requests.length = 0;
      const again = await runCatalogCycle({ config: cfg, deps: () => deps(b), groups: cfg.catalog.groups, stillLeader: () => true, snapshotPath: SNAPSHOT_PATH });
      assert.deepEqual(again.map((r) => r.outcome), ['http_error']);
      assert.equal(gp.requests.length, 1);
    });

    test('crafted bad records are each rejected with their reason and counted; the rest is written', async () => {
      const b = await fresh();
      const registry = new Registry();
      const good = SNAPSHOT_TEXT.split(/\r?\n/).slice(0, 30).join('\n'); // 10 good 3LE records
      const iss1 = '1 25544U 98067A   26127.50000000  .00016717  00000-0  10270-3 0  9005';
      const iss2 = '2 25544  51.6400 208.9163 0006317  69.9862  25.2906 15.49560532  1000';
      const fixCk = (l: string): string => {
        let s = 0;
        for (const c of l.slice(0, 68)) s += c === '-' ? 1 : /\d/.test(c) ? Number(c) : 0;
        return l.slice(0, 68) + String(s % 10);
      };
      const l1 = fixCk(iss1);
      const l2 = fixCk(iss2);
      const bad = [
        // wrong checksum
        'BAD CHECKSUM', l1.slice(0, 68) + String((Number(l1[68]) + 1) % 10), l2,
        // line too short
        'SHORT LINE', l1.slice(0, 60), l2,
        // catalog numbers of line 1 and 2 differ
        'MISMATCH', l1, fixCk(l2.slice(0, 2) + '25545' + l2.slice(7)),
        // eccentricity digits that are not digits
        'BAD FORMAT', l1, fixCk(l2.slice(0, 26) + 'X06317' + l2.slice(32)),
        // a line 1 on its own
        l1,
      ].join('\n');
      const report = await ingestCatalogText(deps(b, registry), { text: good + '\n' + bad + '\n', format: '3le', source: 'test:crafted', group: 'crafted', full: false });
      assert.equal(report.outcome, 'ok', report.message);
      assert.equal(report.accepted, 10);
      assert.equal(report.rejected, 5, JSON.stringify(report.rejectSamples, null, 1));
      assert.deepEqual(report.rejectedByCode, { TLE_CHECKSUM: 1, TLE_LINE_LENGTH: 1, TLE_CATNUM_MISMATCH: 1, TLE_FORMAT: 1, TLE_ORPHAN_LINE: 1 });
      for (const s of report.rejectSamples) assert.ok(s.reason.length > 0);
      assert.equal((await counts(b)).objects, 10);
      const metric = await registry.getSingleMetric('sw_catalog_records_rejected_total')!.get();
      const byCode = Object.fromEntries(metric.values.map((v) => [v.labels.code, v.value]));
      assert.deepEqual(byCode, { TLE_CHECKSUM: 1, TLE_LINE_LENGTH: 1, TLE_CATNUM_MISMATCH: 1, TLE_FORMAT: 1, TLE_ORPHAN_LINE: 1 });

      const omm = [
        ommRecord(100001),
        ommRecord(100002, { ECCENTRICITY: 1.2 }),
        ommRecord(100003, { NORAD_CAT_ID: 1_000_000_000 }),
        (() => {
          const r = ommRecord(100004);
          delete r.MEAN_MOTION;
          return r;
        })(),
        ommRecord(100005, { EPOCH: '2026-02-30T00:00:00' }),
        ommRecord(100006, { INCLINATION: 'steep' }),
        ommRecord(100007, { REF_FRAME: 'ITRF' }),
        'not an object',
        ommRecord(100009),
      ];
      const r2 = await ingestCatalogText(deps(b, registry), { text: JSON.stringify(omm), format: 'json', source: 'test:omm', group: 'crafted', full: false });
      assert.equal(r2.accepted, 2);
      assert.deepEqual(r2.rejectedByCode, { OMM_RANGE: 1, OMM_CATNUM: 1, OMM_MISSING_FIELD: 1, OMM_EPOCH: 1, OMM_TYPE: 1, OMM_UNSUPPORTED: 1, OMM_NOT_OBJECT: 1 });
      const garbage = await ingestCatalogText(deps(b, registry), { text: '{"oops', format: 'json', source: 'test:garbage', group: 'crafted', full: false });
      assert.equal(garbage.outcome, 'failed');
      assert.deepEqual(garbage.rejectedByCode, { OMM_PARSE: 1 });
      assert.equal((await counts(b)).objects, 12, 'a garbage document writes nothing');
      const runs = await listIngestRuns(b.db, { kind: 'catalog', group: 'crafted' });
      assert.equal(runs.length, 3);
      assert.deepEqual(runs.find((r) => r.source === 'test:crafted')?.rejectedByCode, report.rejectedByCode);
    });

    test('OMM JSON with 6- and 9-digit catalog numbers keeps the ids; groups merge; the stored OMM validates again', async () => {
      const b = await fresh();
      changed.length = 0;
      const ids = [25544, 123456, 987654321, 999_999_999];
      const doc = JSON.stringify(ids.map((id) => ommRecord(id)));
      gp.requests.length = 0;
      gp.answer = (r) => ({ status: 200, body: r.format === 'json' ? doc : 'wrong format asked', contentType: 'application/json' });
      const cfg = catalogConfig({ 'catalog.url': gp.url });
      const [rep] = await runCatalogCycle({ config: cfg, deps: () => deps(b), groups: ['last-30-days'], stillLeader: () => true, snapshotPath: SNAPSHOT_PATH });
      assert.equal(rep!.outcome, 'ok', rep!.message);
      assert.equal(rep!.accepted, 4);
      assert.deepEqual(changed.flatMap((c) => c.ids), ids);
      for (const id of ids) {
        const o = await getObject(b.db, id);
        assert.equal(o?.noradId, id);
        assert.deepEqual(o?.groups, ['last-30-days']);
        const es = await latestElementSet(b.db, id);
        assert.equal(es?.format, 'omm');
        assert.equal(es?.epoch.toISOString(), '2026-05-07T12:00:00.123Z');
        const back = validateOmm(es!.omm, 1);
        assert.ok(back.ok && back.value.noradId === id);
      }
      // The same objects from a second group: groups merge, element sets do not repeat.
      changed.length = 0;
      const [rep2] = await runCatalogCycle({ config: cfg, deps: () => deps(b), groups: ['stations'], stillLeader: () => true, snapshotPath: SNAPSHOT_PATH });
      assert.equal(rep2!.elementSetsNew, 0);
      assert.equal(rep2!.objectsChanged, 4);
      assert.deepEqual((await getObject(b.db, 987654321))?.groups, ['last-30-days', 'stations']);
      assert.deepEqual(await counts(b), { objects: 4, sets: 4 });
    });

    test('a decayed object comes back to active with a newer element set, and only then', async () => {
      const b = await fresh();
      const load = (epoch: string) =>
        ingestCatalogText(deps(b), { text: JSON.stringify([ommRecord(44444, { EPOCH: epoch })]), format: 'json', source: 'test:decay', group: 'active', full: false });
      assert.equal((await load('2026-05-07T12:00:00.000000')).outcome, 'ok');
      assert.ok(await setObjectStatus(b.db, 44444, 'decayed'));
      // A replay of the same element set (nothing newer): the verdict stands.
      await load('2026-05-07T12:00:00.000000');
      assert.equal((await getObject(b.db, 44444))?.status, 'decayed');
      // A fresh element set supersedes the one the decay was computed from.
      await load('2026-11-20T00:00:00.000000');
      assert.equal((await getObject(b.db, 44444))?.status, 'active');
    });
  });
}
