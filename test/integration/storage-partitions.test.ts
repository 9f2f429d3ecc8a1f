/**
 * weather_metrics on both backends: monthly partitions appear without manual
 * steps, retention drops old months and keeps the rest, ingest is idempotent,
 * and EXPLAIN shows a one-month query scanning only that month.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { migrate } from '../../actors/storage/migrate.js';
import {
  dropExpiredPartitions,
  ensurePartitions,
  ensureUpcomingPartitions,
  listPartitions,
  retentionCutoff,
  startPartitionMaintenance,
} from '../../actors/storage/partitions.js';
import { explainRange, forgetPartitionCache, ingestMetrics, insertMetric, queryMetrics, summarizeMetrics, type WeatherMetric } from '../../actors/storage/weather-metrics.js';
import { StorageArgumentError } from '../../actors/storage/errors.js';
import { BACKENDS, type TestBackend } from '../helpers/storage-backends.js';

const names = async (b: TestBackend) => (await listPartitions(b.db)).map((p) => p.name.replace('weather_metrics_p', ''));

function metrics(month: string, n: number, product = 'ctp'): WeatherMetric[] {
  const base = Date.parse(`${month}-01T00:00:00Z`);
  return Array.from({ length: n }, (_, i) => ({
    observedAt: new Date(base + i * 60_000),
    satellite: 'goes-18',
    product,
    cellId: i % 7,
    value: i * 0.5,
    quality: i % 3,
    taskId: `task-${month}`,
  }));
}

const summaries = new Map<string, unknown>();

for (const { name, open } of BACKENDS) {
  describe(`weather_metrics partitions on ${name}`, () => {
    let b: TestBackend;
    before(async () => {
      b = await open();
      await migrate(b.db);
    });
    after(async () => b?.dispose());

    test('the current month and the months ahead are created; a rerun creates nothing', async () => {
      const now = new Date('2026-11-15T10:00:00Z');
      assert.deepEqual(await ensureUpcomingPartitions(b.db, now, 3), ['weather_metrics_p202611', 'weather_metrics_p202612', 'weather_metrics_p202701', 'weather_metrics_p202702']);
      assert.deepEqual(await ensureUpcomingPartitions(b.db, now, 3), []);
      assert.deepEqual(await names(b), ['202611', '202612', '202701', '202702']);
    });

    test('a new month appears without manual steps: the maintenance timer creates it as the clock advances', async () => {
      let clock = new Date('2026-11-15T10:00:00Z');
      const m = startPartitionMaintenance(b.db, { aheadMonths: 3, retentionMonths: 120, intervalMs: 50, now: () => clock });
      try {
        clock = new Date('2027-01-03T00:00:00Z');
        const deadline = Date.now() + 10_000;
        while (!(await names(b)).includes('202704') && Date.now() < deadline) await sleep(50);
        assert.ok((await names(b)).includes('202704'), 'April 2027 created by the timer within 10 s');
      } finally {
        m.stop();
      }
    });

    test('ingest for a month with no partition creates it on demand', async () => {
      const r = await ingestMetrics(b.db, metrics('2031-06', 10));
      assert.deepEqual(r, { inserted: 10, duplicates: 0, rejected: 0, reasons: [] });
      assert.ok((await names(b)).includes('203106'));
      assert.equal(await insertMetric(b.db, { observedAt: new Date('2032-02-29T12:00:00Z'), satellite: 'noaa-20', product: 'sst', cellId: 1, value: 290.5 }), true);
      assert.ok((await names(b)).includes('203202'));
    });

    test('ingest is idempotent: a replayed batch inserts nothing, duplicates within a batch count once', async () => {
      const batch = [...metrics('2026-12', 500), ...metrics('2027-01', 500)];
      assert.deepEqual(await ingestMetrics(b.db, batch), { inserted: 1000, duplicates: 0, rejected: 0, reasons: [] });
      assert.deepEqual(await ingestMetrics(b.db, batch), { inserted: 0, duplicates: 1000, rejected: 0, reasons: [] });
      const withDupes = [...metrics('2027-02', 5), ...metrics('2027-02', 5)];
      assert.deepEqual(await ingestMetrics(b.db, withDupes), { inserted: 5, duplicates: 5, rejected: 0, reasons: [] });
      const s = await summarizeMetrics(b.db, { from: new Date('2026-12-01T00:00:00Z'), to: new Date('2027-01-01T00:00:00Z') });
      assert.equal(s.count, 500);
      assert.equal(await insertMetric(b.db, metrics('2026-12', 1)[0]!), false, 'single-row replay is a no-op');
    });

    test('bad rows are rejected with a reason and do not stop the good ones', async () => {
      const good = metrics('2027-03', 3);
      const bad = [
        { ...good[0]!, value: Number.NaN },
        { ...good[0]!, observedAt: new Date('nope') },
        { ...good[0]!, satellite: 'drop table;' },
        { ...good[0]!, cellId: -1 },
        { ...good[0]!, observedAt: new Date('2020-01-01T00:00:00Z') },
      ];
      const r = await ingestMetrics(b.db, [...good, ...bad], { retentionMonths: 12, now: new Date('2027-03-10T00:00:00Z') });
      assert.equal(r.inserted, 3);
      assert.equal(r.rejected, 5);
      assert.equal(r.reasons.length, 5);
      assert.match(r.reasons[4]!, /older than the retention cutoff/);
      assert.ok(!(await names(b)).includes('202001'), 'a row past retention never recreates its month');
      await assert.rejects(insertMetric(b.db, bad[0]!), StorageArgumentError);
    });

    test('range reads: rows, summary, filters', async () => {
      const from = new Date('2026-12-01T00:00:00Z');
      const to = new Date('2026-12-01T00:10:00Z');
      const rows = await queryMetrics(b.db, { from, to, cellId: 3 });
      assert.deepEqual(rows.map((r) => [r.observedAt.toISOString(), r.cellId, r.value, r.quality]), [['2026-12-01T00:03:00.000Z', 3, 1.5, 0]]);
      assert.equal(rows[0]?.taskId, 'task-2026-12');
      const s = await summarizeMetrics(b.db, { from: new Date('2026-11-01T00:00:00Z'), to: new Date('2027-03-01T00:00:00Z'), satellite: 'goes-18', product: 'ctp' });
      summaries.set(name, s);
      assert.equal(s.count, 1005);
      assert.equal(s.min, 0);
      assert.equal(s.max, 249.5);
      await assert.rejects(queryMetrics(b.db, { from: to, to: from }), StorageArgumentError);
    });

    test('EXPLAIN: a one-month range scans only that month', async () => {
      const plan = (await explainRange(b.db, { from: new Date('2026-12-01T00:00:00Z'), to: new Date('2027-01-01T00:00:00Z') })).join('\n');
      const scanned = [...new Set(plan.match(/weather_metrics_p\d{6}/g) ?? [])];
      assert.deepEqual(scanned, ['weather_metrics_p202612'], plan);
      const two = (await explainRange(b.db, { from: new Date('2026-12-15T00:00:00Z'), to: new Date('2027-01-15T00:00:00Z'), product: 'ctp' })).join('\n');
      assert.deepEqual([...new Set(two.match(/weather_metrics_p\d{6}/g) ?? [])].sort(), ['weather_metrics_p202612', 'weather_metrics_p202701'], two);
    });

    test('retention drops whole months older than the cutoff and keeps the rest', async () => {
      await ensurePartitions(b.db, new Date('2026-08-01T00:00:00Z'), new Date('2026-10-01T00:00:00Z'));
      await ingestMetrics(b.db, metrics('2026-09', 20));
      const now = new Date('2027-02-10T00:00:00Z');
      assert.equal(retentionCutoff(now, 3).toISOString(), '2026-11-01T00:00:00.000Z');
      const before = await names(b);
      assert.ok(before.includes('202608') && before.includes('202609') && before.includes('202610'));
      const dropped = await dropExpiredPartitions(b.db, now, 3);
      assert.deepEqual(dropped, ['weather_metrics_p202608', 'weather_metrics_p202609', 'weather_metrics_p202610']);
      forgetPartitionCache(b.db);
      const after = await names(b);
      assert.deepEqual(after, before.filter((n) => !['202608', '202609', '202610'].includes(n)));
      assert.equal((await summarizeMetrics(b.db, { from: new Date('2026-12-01T00:00:00Z'), to: new Date('2027-01-01T00:00:00Z') })).count, 500, 'kept months keep their rows');
      assert.equal((await summarizeMetrics(b.db, { from: new Date('2026-09-01T00:00:00Z'), to: new Date('2026-10-01T00:00:00Z') })).count, 0);
      assert.deepEqual(await dropExpiredPartitions(b.db, now, 3), [], 'a rerun drops nothing');
    });

    test('each index on weather_metrics carries a comment saying why', async () => {
      const r = await b.db.query<{ name: string; comment: string | null }>(
        `SELECT c.relname AS name, obj_description(c.oid, 'pg_class') AS comment
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
           JOIN pg_namespace n ON n.oid = t.relnamespace
          WHERE t.relname = 'weather_metrics' AND n.nspname = current_schema() ORDER BY 1`,
      );
      assert.deepEqual(r.rows.map((x) => x.name), ['weather_metrics_natural_key', 'weather_metrics_observed_brin']);
      for (const row of r.rows) assert.ok(row.comment && row.comment.length > 40, `${row.name} has a comment`);
    });
  });
}

test('both backends summarize the same data the same way', () => {
  assert.ok(summaries.get('pg'));
  assert.deepEqual(summaries.get('pglite'), summaries.get('pg'));
});
