/**
 * weather_metrics: bulk, idempotent ingest and time-range reads.
 * Ingest COPYs a batch into a temporary staging table, then moves it with
 * INSERT … SELECT … ON CONFLICT DO NOTHING: COPY's speed, with the natural key
 * making a replayed batch a no-op (COPY alone cannot skip duplicates).
 */
import type { CopyValue, Database, Queryable } from './db.js';
import { StorageArgumentError } from './errors.js';
import { ensurePartitions, partitionFor, retentionCutoff } from './partitions.js';

export interface WeatherMetric {
  observedAt: Date;
  /** Source satellite/instrument, e.g. `goes-18`. */
  satellite: string;
  /** Product name, e.g. `cloud_top_height_m`. */
  product: string;
  /** Grid cell id (a tile/cell index; must be a safe integer). */
  cellId: number;
  value: number;
  quality?: number;
  taskId?: string | null;
}

export interface IngestResult {
  inserted: number;
  /** Rows already present (a replay) or repeated within the batch. */
  duplicates: number;
  /** Rows refused, with the first few reasons. */
  rejected: number;
  reasons: string[];
}

export const METRIC_COLUMNS = ['observed_at', 'satellite', 'product', 'cell_id', 'value', 'quality', 'task_id'] as const;

export function metricProblem(m: WeatherMetric, cutoff?: Date): string | null {
  if (!(m.observedAt instanceof Date) || Number.isNaN(m.observedAt.getTime())) return 'observedAt is not a valid date';
  const y = m.observedAt.getUTCFullYear();
  if (y < 1970 || y > 9999) return `observedAt year ${y} is outside 1970..9999`;
  if (cutoff && m.observedAt < cutoff) return `observedAt ${m.observedAt.toISOString()} is older than the retention cutoff ${cutoff.toISOString()}`;
  if (typeof m.satellite !== 'string' || !/^[A-Za-z0-9._:-]{1,100}$/.test(m.satellite)) return 'satellite must be 1..100 of [A-Za-z0-9._:-]';
  if (typeof m.product !== 'string' || !/^[A-Za-z0-9._:-]{1,100}$/.test(m.product)) return 'product must be 1..100 of [A-Za-z0-9._:-]';
  if (!Number.isSafeInteger(m.cellId) || m.cellId < 0) return 'cellId must be a non-negative safe integer';
  if (typeof m.value !== 'number' || !Number.isFinite(m.value)) return 'value must be a finite number';
  if (m.quality !== undefined && (!Number.isInteger(m.quality) || m.quality < -32768 || m.quality > 32767)) return 'quality must be a 16-bit integer';
  if (m.taskId !== undefined && m.taskId !== null && (typeof m.taskId !== 'string' || m.taskId.length > 200)) return 'taskId must be a string of at most 200 characters';
  return null;
}

export function metricRow(m: WeatherMetric): CopyValue[] {
  return [m.observedAt, m.satellite, m.product, m.cellId, m.value, m.quality ?? 0, m.taskId ?? null];
}

/** Months already known to have a partition, per database, so a hot ingest path skips the catalog check. */
const knownMonths = new WeakMap<Database, Set<string>>();

async function ensureMonths(db: Database, rows: readonly WeatherMetric[]): Promise<void> {
  let known = knownMonths.get(db);
  if (!known) knownMonths.set(db, (known = new Set()));
  const missing = new Map<string, Date>();
  for (const r of rows) {
    const p = partitionFor(r.observedAt);
    if (!known.has(p.name)) missing.set(p.name, p.from);
  }
  for (const [name, from] of missing) {
    await ensurePartitions(db, from, from);
    known.add(name);
  }
}

/** Forget cached partition knowledge (after partitions were dropped). */
export function forgetPartitionCache(db: Database): void {
  knownMonths.delete(db);
}

export interface IngestOptions {
  /** Refuse rows older than this many months (the retention), so ingest never recreates a dropped month. */
  retentionMonths?: number;
  now?: Date;
}

export async function ingestMetrics(db: Database, batch: readonly WeatherMetric[], options: IngestOptions = {}): Promise<IngestResult> {
  const cutoff = options.retentionMonths ? retentionCutoff(options.now ?? new Date(), options.retentionMonths) : undefined;
  const good: WeatherMetric[] = [];
  const reasons: string[] = [];
  let rejected = 0;
  for (const m of batch) {
    const problem = metricProblem(m, cutoff);
    if (problem) {
      rejected++;
      if (reasons.length < 5) reasons.push(problem);
    } else good.push(m);
  }
  if (good.length === 0) return { inserted: 0, duplicates: 0, rejected, reasons };
  await ensureMonths(db, good);
  const inserted = await db.transaction(async (tx) => {
    await tx.query(`CREATE TEMP TABLE weather_metrics_stage (LIKE weather_metrics) ON COMMIT DROP`);
    await tx.copyRows('weather_metrics_stage', METRIC_COLUMNS, good.map(metricRow));
    const r = await tx.query(
      `INSERT INTO weather_metrics (${METRIC_COLUMNS.join(', ')})
       SELECT ${METRIC_COLUMNS.join(', ')} FROM weather_metrics_stage
       ON CONFLICT ON CONSTRAINT weather_metrics_natural_key DO NOTHING`,
    );
    return r.rowCount;
  });
  return { inserted, duplicates: good.length - inserted, rejected, reasons };
}

/** One metric with a plain INSERT … ON CONFLICT DO NOTHING: for single late values. Returns true when new. */
export async function insertMetric(db: Database, m: WeatherMetric): Promise<boolean> {
  const problem = metricProblem(m);
  if (problem) throw new StorageArgumentError(problem);
  await ensureMonths(db, [m]);
  const r = await db.query(
    `INSERT INTO weather_metrics (${METRIC_COLUMNS.join(', ')}) VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT ON CONSTRAINT weather_metrics_natural_key DO NOTHING`,
    metricRow(m),
  );
  return r.rowCount === 1;
}

export interface MetricRangeQuery {
  from: Date;
  /** Exclusive. */
  to: Date;
  satellite?: string;
  product?: string;
  cellId?: number;
  limit?: number;
}

interface MetricRow {
  observed_at: Date;
  satellite: string;
  product: string;
  cell_id: string | number;
  value: number;
  quality: number;
  task_id: string | null;
}

function rangeWhere(q: MetricRangeQuery): { where: string; params: unknown[] } {
  if (!(q.from instanceof Date) || !(q.to instanceof Date) || Number.isNaN(q.from.getTime()) || Number.isNaN(q.to.getTime()) || q.to <= q.from) {
    throw new StorageArgumentError('a metric range needs valid from < to');
  }
  // Literal bounds on observed_at (not expressions of now()) let the planner prune partitions at plan time.
  const params: unknown[] = [q.from, q.to];
  const parts = ['observed_at >= $1', 'observed_at < $2'];
  if (q.satellite !== undefined) parts.push(`satellite = $${params.push(q.satellite)}`);
  if (q.product !== undefined) parts.push(`product = $${params.push(q.product)}`);
  if (q.cellId !== undefined) parts.push(`cell_id = $${params.push(q.cellId)}`);
  return { where: parts.join(' AND '), params };
}

export async function queryMetrics(q: Queryable, range: MetricRangeQuery): Promise<WeatherMetric[]> {
  const { where, params } = rangeWhere(range);
  const limit = Math.min(Math.max(1, range.limit ?? 10_000), 100_000);
  const r = await q.query<MetricRow>(
    `SELECT observed_at, satellite, product, cell_id, value, quality, task_id FROM weather_metrics
      WHERE ${where} ORDER BY observed_at, satellite, product, cell_id LIMIT ${limit}`,
    params,
  );
  return r.rows.map((row) => ({
    observedAt: row.observed_at,
    satellite: row.satellite,
    product: row.product,
    cellId: Number(row.cell_id),
    value: Number(row.value),
    quality: Number(row.quality),
    taskId: row.task_id,
  }));
}

export interface MetricSummary {
  count: number;
  min: number | null;
  max: number | null;
  avg: number | null;
}

export async function summarizeMetrics(q: Queryable, range: MetricRangeQuery): Promise<MetricSummary> {
  const { where, params } = rangeWhere(range);
  const r = await q.query<{ count: string | number; min: number | null; max: number | null; avg: number | null }>(
    `SELECT count(*) AS count, min(value) AS min, max(value) AS max, avg(value) AS avg FROM weather_metrics WHERE ${where}`,
    params,
  );
  const row = r.rows[0]!;
  return { count: Number(row.count), min: row.min === null ? null : Number(row.min), max: row.max === null ? null : Number(row.max), avg: row.avg === null ? null : Number(row.avg) };
}

/** EXPLAIN of a range query's plan, as text lines (tests check which partitions it scans). */
export async function explainRange(q: Queryable, range: MetricRangeQuery): Promise<string[]> {
  const { where, params } = rangeWhere(range);
  const r = await q.query<Record<string, string>>(`EXPLAIN SELECT count(*) FROM weather_metrics WHERE ${where}`, params);
  return r.rows.map((row) => Object.values(row)[0] ?? '');
}
