/**
 * Busy is not dead, for the catalog ingest (issue 10): a catalog load whose
 * parse takes several lease lengths still commits (the lease is checked
 * against the store at commit, not by the local clock halfway); a load whose
 * lease is taken over mid-load writes nothing and is retried within the
 * configured retry time; a load that fails on a database error is retried by
 * the same leader from the body it kept, without asking CelesTrak again; and
 * a full load of the shipped snapshot hands the event loop back many times.
 *
 * The slow parse is a per-slice async delay (SlicePacing.afterSlice), not a
 * sleep on the loop: the loop stays live, as it must in production.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { BUSES, quietLogger, sleep, until, type ClusterBus } from '../helpers/cluster-fixtures.js';
import { openTestPglite, type TestBackend } from '../helpers/storage-backends.js';
import { migrate } from '../../actors/storage/migrate.js';
import { LeaseManager } from '../../actors/runtime/lease.js';
import { LeaseMessage } from '../../protocol/messages/cluster.js';
import { CatalogIngest, CATALOG_LEASE_KEY } from '../../actors/ingest/catalog-actor.js';
import { ABORTED_PREFIX, ingestCatalogText, type IngestReport } from '../../actors/ingest/catalog-ingest.js';
import { catalogMetrics } from '../../actors/ingest/catalog-metrics.js';
import { parseCatalogSliced } from '../../actors/ingest/catalog-parse.js';
import { TimeSlicer } from '../../actors/ingest/catalog-slice.js';
import { listIngestRuns } from '../../actors/storage/ingest-runs.js';
import { SNAPSHOT_OBJECT_COUNT, SNAPSHOT_PATH } from '../../actors/tracker/snapshot.js';
import { catalogConfig, ommRecord, silentLogger, startGpServer } from './catalog-fixtures.js';

const SNAPSHOT_TEXT = readFileSync(SNAPSHOT_PATH, 'utf8');
/** The first 3,000 objects of the snapshot (3LE: three lines each). */
const PART_COUNT = 3000;
const PART_TEXT = SNAPSHOT_TEXT.split(/\r?\n/).slice(0, PART_COUNT * 3).join('\n') + '\n';

async function count(db: TestBackend, table: 'catalog_objects' | 'element_sets'): Promise<number> {
  const r = await db.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
  return Number(r.rows[0]!.n);
}

function runs(ingest: CatalogIngest): Array<{ group: string; outcome: string; accepted: number; message: string }> {
  return (ingest.health().lastRuns as Array<{ group: string; outcome: string; accepted: number; message: string }>) ?? [];
}

// The embedded bus only (the default where the lease loss was seen): the
// catalog lease on NATS is held by catalog-singleton.test.ts, and the KV
// semantics by the transport contract suite on both buses.
for (const { kind, make } of BUSES.filter((b) => b.kind === 'embedded')) {
  describe(`catalog ingest under a busy loop, ${kind} bus`, { timeout: 180_000 }, () => {
    const cleanups: Array<() => Promise<unknown>> = [];
    after(async () => {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
    });

    async function setup(over: Record<string, unknown>, pacing: { sliceMs?: number; afterSlice?: () => Promise<void> }, leaseMs = 1000) {
      const bus: ClusterBus = await make();
      cleanups.push(() => bus.cleanup());
      const db = await openTestPglite();
      cleanups.push(() => db.dispose());
      await migrate(db.db);
      const gp = await startGpServer(() => ({ status: 200, body: PART_TEXT }));
      cleanups.push(() => gp.close());
      const cfg = catalogConfig({
        'catalog.url': gp.url,
        'catalog.format': 'tle',
        'catalog.intervalMs': 86_400_000,
        'catalog.snapshotFallback': 'false',
        namespace: bus.names.namespace,
        ...over,
      });
      const hostId = `host-${randomBytes(3).toString('hex')}`;
      const transport = await bus.connect();
      const bucket = await transport.kv('leases');
      const leases = new LeaseManager({ bucket, holder: hostId, leaseMs, logger: quietLogger(hostId) });
      const registry = new Registry();
      const metrics = catalogMetrics(registry);
      const ingest = new CatalogIngest({ config: cfg, db: db.db, transport, names: bus.names, leases, logger: quietLogger(hostId), hostId, metrics, pacing });
      cleanups.push(() => ingest.stop());
      return { bus, db, gp, cfg, leases, bucket, ingest, registry, hostId };
    }

    test('a load whose parse spans many lease lengths commits every valid record', async () => {
      const leaseMs = 1000;
      let slices = 0;
      // 1 ms of work per slice, then 15 ms of (async) delay: the parse of 3,000 records takes several lease lengths.
      const t = await setup({}, { sliceMs: 1, afterSlice: async () => { slices++; await sleep(15); } }, leaseMs);
      t.ingest.start();
      await until('the first cycle finished', 120_000, () => runs(t.ingest).length > 0, 50);
      const [run] = runs(t.ingest);
      assert.equal(run!.outcome, 'ok', run!.message);
      assert.equal(run!.accepted, PART_COUNT);
      assert.equal(await count(t.db, 'catalog_objects'), PART_COUNT);
      assert.equal(await count(t.db, 'element_sets'), PART_COUNT);
      const [stored] = await listIngestRuns(t.db.db, { kind: 'catalog' });
      const tookMs = stored!.finishedAt.getTime() - stored!.startedAt.getTime();
      assert.ok(tookMs > 3 * leaseMs, `the load took ${tookMs} ms: more than three lease lengths (${leaseMs} ms)`);
      assert.ok(slices > 30, `${slices} slices`);
      assert.equal(t.leases.stats.lost, 0, 'the lease was never lost: renewals ran while the load worked');
      assert.ok(t.leases.stats.renewed >= 3, `${t.leases.stats.renewed} renewals during the load`);
      assert.equal(t.ingest.stats.retries, 0);
      assert.equal(t.gp.requests.length, 1);
      assert.equal((await t.leases.inspect(CATALOG_LEASE_KEY))?.holder, t.hostId);
    });

    test('a load whose lease is taken over mid-load writes nothing and is retried within the retry time, then succeeds', async () => {
      const retryMs = 1000;
      let slices = 0;
      const seen: { takeover: { at: number; expiresAt: number } | null } = { takeover: null };
      let bucketRef: Awaited<ReturnType<typeof setup>>['bucket'] | null = null;
      const t = await setup(
        { 'catalog.retryMs': retryMs, 'catalog.retryMaxMs': 4000 },
        {
          sliceMs: 2,
          afterSlice: async () => {
            slices++;
            // Mid-parse of the first load: another holder writes the lease record (a takeover, by CAS as a real one would).
            if (seen.takeover === null && slices === 20 && bucketRef) {
              for (let attempt = 0; seen.takeover === null; attempt++) {
                const cur = await bucketRef.get(CATALOG_LEASE_KEY);
                const now = Date.now();
                try {
                  await bucketRef.update(CATALOG_LEASE_KEY, LeaseMessage.encode({ v: 1, holder: 'intruder', acquiredAt: now, expiresAt: now + 1500 }), cur!.revision);
                  seen.takeover = { at: now, expiresAt: now + 1500 };
                } catch (err) {
                  // Lost a race with our own renewal: read again.
                  if (attempt >= 10) throw err;
                }
              }
            }
            await sleep(5);
          },
        },
      );
      bucketRef = t.bucket;
      // A catalog is already there: the retry must come from the retry rule, not from "no catalog yet".
      const seed = await ingestCatalogText({ db: t.db.db }, { text: JSON.stringify([ommRecord(900001)]), format: 'json', source: 'test:seed', group: 'seed', full: false });
      assert.equal(seed.outcome, 'ok');
      t.ingest.start();
      await until('leader', 10_000, () => t.ingest.isLeader);
      // The seed run makes the next regular cycle a day away: start one now, as `catalog refresh` would.
      const first = await t.ingest.runCycle();
      const takeover = seen.takeover;
      assert.ok(takeover, 'the takeover happened during the load');
      const aborted = first.find((r: IngestReport) => r.group === 'active')!;
      assert.equal(aborted.outcome, 'failed');
      assert.ok(aborted.message.startsWith(ABORTED_PREFIX), aborted.message);
      // On a slow machine the intruder's lease may already have run out and we may lead again by the
      // commit: a later tenure of ours must not commit the earlier tenure's load either.
      assert.match(aborted.message, /lease is (held by intruder|a later tenure of ours)/);
      assert.equal(aborted.retryable, true);
      assert.equal(aborted.accepted, 0);
      assert.equal(await count(t.db, 'catalog_objects'), 1, 'nothing of the aborted load was written');
      assert.equal(await count(t.db, 'element_sets'), 1);
      const fenced = (await t.registry.getSingleMetric('sw_catalog_loads_aborted_total')!.get()).values.find((v) => v.labels.cause === 'fenced');
      assert.equal(fenced?.value, 1, 'the abort is counted with its cause');

      // After the intruder's lease runs out we lead again, and the retry follows within the retry time.
      await until('the retried load committed', 30_000, async () => (await count(t.db, 'catalog_objects')) === PART_COUNT + 1, 50);
      const all = await listIngestRuns(t.db.db, { kind: 'catalog', group: 'active' });
      const ok = all.find((r) => r.outcome === 'ok');
      const failed = all.find((r) => r.outcome === 'failed');
      assert.ok(ok && failed);
      assert.equal(ok.accepted, PART_COUNT);
      // Leadership comes back at the intruder's expiry plus one lease tick (leaseMs/3) at most, and the
      // abort is known when the failed run is stored; the retry follows within retryMs of the later of the two.
      const due = Math.max(takeover.expiresAt + Math.ceil(t.leases.leaseMs / 3), failed.finishedAt.getTime()) + retryMs;
      // Slack for a loaded CI machine; the point is seconds, not the 24 h interval.
      assert.ok(ok.startedAt.getTime() <= due + 3000, `retried at ${ok.startedAt.toISOString()}, due by ${new Date(due).toISOString()} (+3 s of scheduling slack)`);
      assert.ok(t.ingest.stats.retries >= 1);
    });

    test('a node with no catalog retries a failed cycle within the retry time, and still never asks CelesTrak twice within the refetch time', async () => {
      const minRefetchMs = 1500;
      const t = await setup({ 'catalog.retryMs': 200, 'catalog.retryMaxMs': 400, 'catalog.minRefetchMs': minRefetchMs }, {});
      const asked: number[] = [];
      t.gp.answer = () => {
        asked.push(Date.now());
        return asked.length === 1 ? { status: 500, body: 'down' } : { status: 200, body: PART_TEXT };
      };
      t.ingest.start();
      await until('the catalog loaded after the failed first cycle', 30_000, async () => (await count(t.db, 'catalog_objects')) === PART_COUNT, 50);
      assert.equal(asked.length, 2);
      assert.ok(asked[1]! - asked[0]! >= minRefetchMs, `second request ${asked[1]! - asked[0]!} ms after the first (refetch time ${minRefetchMs} ms)`);
      // Retried from the refetch time on, not a day later (slack for a loaded CI machine).
      assert.ok(asked[1]! - asked[0]! <= minRefetchMs + 400 + Math.ceil(t.leases.leaseMs / 3) + 3000, `second request ${asked[1]! - asked[0]!} ms after the first`);
      const all = (await listIngestRuns(t.db.db, { kind: 'catalog', group: 'active' })).reverse().map((r) => r.outcome);
      assert.equal(all[0], 'http_error');
      assert.equal(all[all.length - 1], 'ok');
      // The retries in between waited for the refetch time instead of polling it.
      assert.ok(all.filter((o) => o === 'skipped').length <= 2, all.join(','));
    });

    test('a load that fails on a database error is retried by the same leader from the kept body, no second request', async () => {
      const retryMs = 500;
      const t = await setup({ 'catalog.retryMs': retryMs, 'catalog.retryMaxMs': 2000, 'catalog.minRefetchMs': 7_200_000 }, {});
      // A real database error on the first write statement only (a sequence survives the rollback).
      await t.db.db.query(`CREATE SEQUENCE test_fail_once`);
      await t.db.db.query(
        `CREATE FUNCTION test_fail_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF nextval('test_fail_once') = 1 THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NULL; END $$`,
      );
      await t.db.db.query(`CREATE TRIGGER test_fail_once BEFORE INSERT ON element_sets FOR EACH STATEMENT EXECUTE FUNCTION test_fail_once()`);
      t.ingest.start();
      await until('the retried load committed', 30_000, async () => (await count(t.db, 'catalog_objects')) === PART_COUNT, 50);
      const all = (await listIngestRuns(t.db.db, { kind: 'catalog', group: 'active' })).reverse();
      assert.deepEqual(all.map((r) => r.outcome), ['failed', 'ok']);
      assert.ok(all[0]!.message.startsWith(ABORTED_PREFIX) && /injected failure/.test(all[0]!.message), all[0]!.message);
      assert.equal(all[0]!.httpStatus, 200, 'the download is recorded as one');
      assert.equal(all[1]!.httpStatus, null, 'the retry loaded the kept body: no request');
      assert.equal(t.gp.requests.length, 1, 'CelesTrak asked once (2 h refetch rule kept)');
      const gap = all[1]!.startedAt.getTime() - all[0]!.finishedAt.getTime();
      assert.ok(gap <= retryMs + Math.ceil(t.leases.leaseMs / 3) + 3000, `retried ${gap} ms after the failure (retry time ${retryMs} ms)`);
      assert.equal(t.leases.stats.lost, 0);
      const storage = (await t.registry.getSingleMetric('sw_catalog_loads_aborted_total')!.get()).values.find((v) => v.labels.cause === 'storage');
      assert.equal(storage?.value, 1);
    });
  });
}

describe('catalog load of the shipped snapshot hands the loop back', { timeout: 180_000 }, () => {
  test('parse alone, and a full load on PGlite: a 1 ms interval ticks throughout', async () => {
    let ticks = 0;
    const iv = setInterval(() => ticks++, 1);
    try {
      const slicer = new TimeSlicer();
      const parsed = await parseCatalogSliced(SNAPSHOT_TEXT, '3le', slicer);
      assert.equal(parsed.records.length, SNAPSHOT_OBJECT_COUNT);
      assert.equal(parsed.rejects.length, 0);
      assert.ok(slicer.stats.slices >= 10, `${slicer.stats.slices} yields during the parse`);
      assert.ok(ticks >= 10, `the interval ticked ${ticks} times during the parse`);

      const db = await openTestPglite();
      try {
        await migrate(db.db);
        ticks = 0;
        const report = await ingestCatalogText({ db: db.db, logger: silentLogger() }, { text: SNAPSHOT_TEXT, format: '3le', source: 'test:snapshot', group: 'active', full: true });
        assert.equal(report.outcome, 'ok', report.message);
        assert.equal(report.accepted, SNAPSHOT_OBJECT_COUNT);
        assert.ok(report.work!.statements >= 2 * Math.ceil(SNAPSHOT_OBJECT_COUNT / 2000), `${report.work!.statements} write statements: the write is split`);
        assert.ok(report.work!.slices >= 20, `${report.work!.slices} yields during the load`);
        assert.ok(ticks >= 20, `the interval ticked ${ticks} times during the load`);
        console.log(`# snapshot load on PGlite: ${JSON.stringify(report.work, (_k, v: unknown) => (typeof v === 'number' ? Math.round(v * 10) / 10 : v))}`);
      } finally {
        await db.dispose();
      }
    } finally {
      clearInterval(iv);
    }
  });
});
