/**
 * Storage benchmark against real PostgreSQL (DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/test), in a fresh schema dropped at the end.
 *
 *   npm run bench:storage
 *
 * 1. weather_metrics ingest, rows/s, in the same run:
 *    - COPY straight into the partitioned table (the raw bulk path);
 *    - idempotent ingest (ingestMetrics: COPY into a temp stage, then
 *      INSERT … SELECT … ON CONFLICT DO NOTHING), the path the actors use;
 *    - INSERT, one row per statement, awaited one by one (a naive writer).
 * 2. A one-month range query over 10 million rows in 10 monthly partitions
 *    (rows generated server-side with generate_series), with the partitions
 *    EXPLAIN ANALYZE shows scanned.
 *
 * Figures only, no assertions. Targets from the issue: COPY ≥ 100,000 rows/s
 * and COPY ≥ 20× INSERT.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ident, type CopyValue, type Database } from '../actors/storage/db.js';
import { migrate } from '../actors/storage/migrate.js';
import { ensurePartitions, listPartitions } from '../actors/storage/partitions.js';
import { openPg } from '../actors/storage/pg.js';
import { ingestMetrics, METRIC_COLUMNS, type WeatherMetric } from '../actors/storage/weather-metrics.js';

const URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const COPY_ROWS = Number(process.env.BENCH_COPY_ROWS ?? 1_000_000);
const STAGED_ROWS = Number(process.env.BENCH_STAGED_ROWS ?? 500_000);
const INSERT_ROWS = Number(process.env.BENCH_INSERT_ROWS ?? 20_000);
const RANGE_ROWS = Number(process.env.BENCH_RANGE_ROWS ?? 10_000_000);

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** Rows for one ingest run; `offset` keeps each run's keys apart. Lazy, so 1M rows never sit in memory. */
function* rows(n: number, offset: number): Generator<CopyValue[]> {
  const base = Date.parse('2026-01-01T00:00:00Z');
  for (let i = 0; i < n; i++) {
    const k = i + offset;
    yield [new Date(base + Math.floor(k / 1000) * 1000), 'goes-18', 'ctp', k % 1000, (k % 997) * 0.25, 0, null];
  }
}

function metric(row: CopyValue[]): WeatherMetric {
  return { observedAt: row[0] as Date, satellite: row[1] as string, product: row[2] as string, cellId: row[3] as number, value: row[4] as number, quality: 0, taskId: null };
}

async function timed<T>(fn: () => Promise<T>): Promise<{ out: T; s: number }> {
  const t0 = performance.now();
  const out = await fn();
  return { out, s: (performance.now() - t0) / 1000 };
}

async function ingestBench(db: Database): Promise<void> {
  await ensurePartitions(db, new Date('2026-01-01T00:00:00Z'), new Date('2026-03-01T00:00:00Z'));
  console.log('\n== weather_metrics ingest (PostgreSQL, partitioned table with its PK and BRIN) ==');

  const copy = await timed(() => db.copyRows('weather_metrics', METRIC_COLUMNS, rows(COPY_ROWS, 0)));
  const copyRate = copy.out / copy.s;
  console.log(`COPY (raw)              ${fmt(copy.out).padStart(10)} rows in ${copy.s.toFixed(2)} s = ${fmt(copyRate)} rows/s`);

  const batch = 50_000;
  let staged = 0;
  const st = await timed(async () => {
    for (let off = 0; off < STAGED_ROWS; off += batch) {
      const b = [...rows(Math.min(batch, STAGED_ROWS - off), COPY_ROWS + off)].map(metric);
      staged += (await ingestMetrics(db, b)).inserted;
    }
  });
  const stagedRate = staged / st.s;
  console.log(`COPY idempotent (stage) ${fmt(staged).padStart(10)} rows in ${st.s.toFixed(2)} s = ${fmt(stagedRate)} rows/s   (batches of ${fmt(batch)})`);

  const replay = await timed(() => ingestMetrics(db, [...rows(batch, COPY_ROWS)].map(metric)));
  console.log(`  replay of one batch:  inserted ${replay.out.inserted}, duplicates ${fmt(replay.out.duplicates)} in ${replay.s.toFixed(2)} s`);

  const sql = `INSERT INTO weather_metrics (${METRIC_COLUMNS.join(', ')}) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT ON CONSTRAINT weather_metrics_natural_key DO NOTHING`;
  const ins = await timed(async () => {
    let n = 0;
    for (const r of rows(INSERT_ROWS, COPY_ROWS + STAGED_ROWS)) n += (await db.query(sql, r)).rowCount;
    return n;
  });
  const insRate = ins.out / ins.s;
  console.log(`INSERT (1 row/stmt)     ${fmt(ins.out).padStart(10)} rows in ${ins.s.toFixed(2)} s = ${fmt(insRate)} rows/s`);
  console.log(`COPY / INSERT = ${(copyRate / insRate).toFixed(1)}×   idempotent COPY / INSERT = ${(stagedRate / insRate).toFixed(1)}×   (targets: COPY ≥ 100,000 rows/s, ≥ 20× INSERT)`);
  // Start the range part from an empty table with only its own partitions.
  for (const p of await listPartitions(db)) await db.query(`DROP TABLE ${ident(p.name)}`);
}

async function rangeBench(db: Database): Promise<void> {
  const months = 10;
  console.log(`\n== one-month range query over ${fmt(RANGE_ROWS)} rows in ${months} monthly partitions ==`);
  await ensurePartitions(db, new Date('2025-01-01T00:00:00Z'), new Date('2025-10-01T00:00:00Z'));
  // 1000 cells per timestamp, timestamps spread evenly over Jan–Oct 2025.
  const span = (Date.parse('2025-11-01T00:00:00Z') - Date.parse('2025-01-01T00:00:00Z')) / 1000;
  const step = span / (RANGE_ROWS / 1000);
  const chunk = Math.ceil(RANGE_ROWS / 10);
  const gen = await timed(async () => {
    for (let lo = 0; lo < RANGE_ROWS; lo += chunk) {
      const hi = Math.min(RANGE_ROWS, lo + chunk) - 1;
      await db.query(
        `INSERT INTO weather_metrics (observed_at, satellite, product, cell_id, value, quality)
         SELECT timestamptz '2025-01-01T00:00:00Z' + (g / 1000) * make_interval(secs => $3), 'goes-18', 'ctp', g % 1000, (g % 997) * 0.25, 0
           FROM generate_series($1::bigint, $2::bigint) AS g`,
        [lo, hi, step],
      );
      if (process.stdout.isTTY) process.stdout.write(`  generated ${fmt(hi + 1)} rows\r`);
    }
    await db.query('ANALYZE weather_metrics');
  });
  console.log(`generated ${fmt(RANGE_ROWS)} rows server-side in ${gen.s.toFixed(1)} s (${fmt(RANGE_ROWS / gen.s)} rows/s, generate_series INSERT)`);

  const q = `SELECT count(*) AS n, avg(value) AS avg FROM weather_metrics WHERE observed_at >= $1 AND observed_at < $2`;
  const params = [new Date('2025-06-01T00:00:00Z'), new Date('2025-07-01T00:00:00Z')];
  const plan = (await db.query<Record<string, string>>(`EXPLAIN (ANALYZE, COSTS OFF) ${q}`, params)).rows.map((r) => Object.values(r)[0]).join('\n');
  const scanned = [...new Set(plan.match(/weather_metrics_p\d{6}/g) ?? [])];
  const times: number[] = [];
  let n = 0;
  for (let i = 0; i < 5; i++) {
    const t = await timed(() => db.query<{ n: string }>(q, params));
    times.push(t.s * 1000);
    n = Number(t.out.rows[0]?.n);
  }
  times.sort((a, b) => a - b);
  console.log(`June 2025: ${fmt(n)} rows, median ${times[2]!.toFixed(1)} ms (min ${times[0]!.toFixed(1)}, max ${times[4]!.toFixed(1)}) over 5 runs`);
  console.log(`partitions scanned: ${scanned.join(', ') || '(none found in plan)'} of ${months}`);

  // Contrast: the same month through an expression the planner cannot prune on.
  const noPrune = `SELECT count(*) AS n FROM weather_metrics WHERE date_trunc('month', observed_at AT TIME ZONE 'UTC') = timestamp '2025-06-01'`;
  const t = await timed(() => db.query(noPrune));
  const planAll = (await db.query<Record<string, string>>(`EXPLAIN (COSTS OFF) ${noPrune}`)).rows.map((r) => Object.values(r)[0]).join('\n');
  const all = new Set(planAll.match(/weather_metrics_p\d{6}/g) ?? []).size;
  console.log(`same month without pruning (date_trunc on the column): ${(t.s * 1000).toFixed(1)} ms, ${all} of ${months} partitions scanned`);
}

async function main(): Promise<void> {
  const schema = `bench_${randomBytes(5).toString('hex')}`;
  const db = await openPg({ url: URL, schema, max: 4, applicationName: 'starweather-bench' });
  const cleanup = async () => {
    await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch((e: unknown) => console.error('cleanup failed:', e));
    await db.close();
  };
  process.once('SIGINT', () => {
    cleanup().finally(() => process.exit(130));
  });
  try {
    const v = await db.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
    console.log(`PostgreSQL ${v.rows[0]?.v} at ${URL.replace(/:[^:@/]*@/, ':***@')}, schema ${schema}`);
    await migrate(db);
    await ingestBench(db);
    await rangeBench(db);
  } finally {
    await cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
