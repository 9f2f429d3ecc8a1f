/**
 * Monthly partitions of weather_metrics: created ahead of time by a
 * maintenance routine (and on demand by ingest for any month it meets), and
 * dropped whole once older than the retention. Months are UTC calendar months.
 */
import type { Database, Queryable } from './db.js';
import { ident } from './db.js';
import { StorageArgumentError } from './errors.js';

export const METRICS_TABLE = 'weather_metrics';

export interface MonthPartition {
  name: string;
  /** Inclusive lower bound (first instant of the month, UTC). */
  from: Date;
  /** Exclusive upper bound (first instant of the next month). */
  to: Date;
}

export function monthStart(d: Date): Date {
  if (Number.isNaN(d.getTime())) throw new StorageArgumentError('invalid date');
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
}

export function addMonths(d: Date, n: number): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + n, 1));
}

export function partitionFor(d: Date): MonthPartition {
  const from = monthStart(d);
  const y = from.getUTCFullYear();
  if (y < 1970 || y > 9999) throw new StorageArgumentError(`observation year ${y} is outside 1970..9999`);
  const m = String(from.getUTCMonth() + 1).padStart(2, '0');
  return { name: `${METRICS_TABLE}_p${y}${m}`, from, to: addMonths(from, 1) };
}

const NAME = new RegExp(`^${METRICS_TABLE}_p(\\d{4})(\\d{2})$`);

/** Partitions that exist now, oldest first. */
export async function listPartitions(q: Queryable): Promise<MonthPartition[]> {
  const r = await q.query<{ name: string }>(
    `SELECT c.relname AS name
       FROM pg_inherits i
       JOIN pg_class c ON c.oid = i.inhrelid
       JOIN pg_class p ON p.oid = i.inhparent
       JOIN pg_namespace n ON n.oid = p.relnamespace
      WHERE p.relname = $1 AND n.nspname = current_schema()
      ORDER BY c.relname`,
    [METRICS_TABLE],
  );
  const out: MonthPartition[] = [];
  for (const { name } of r.rows) {
    const m = NAME.exec(name);
    if (!m) continue; // not ours (an operator's DEFAULT partition, say): leave it alone
    out.push(partitionFor(new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1))));
  }
  return out;
}

/**
 * Make sure a partition exists for every month from `from` through `through`.
 * Serialized across nodes by an advisory lock: CREATE TABLE IF NOT EXISTS alone
 * can still race on the catalog when two nodes create the same month.
 */
export async function ensurePartitions(db: Database, from: Date, through: Date): Promise<string[]> {
  const wanted: MonthPartition[] = [];
  for (let m = monthStart(from); m <= through; m = addMonths(m, 1)) {
    wanted.push(partitionFor(m));
    if (wanted.length > 1200) throw new StorageArgumentError('refusing to create more than 1200 partitions at once');
  }
  if (wanted.length === 0) return [];
  return db.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('starweather.partitions.' || current_schema()))`);
    const have = new Set((await listPartitions(tx)).map((p) => p.name));
    const created: string[] = [];
    for (const p of wanted) {
      if (have.has(p.name)) continue;
      await tx.query(
        `CREATE TABLE IF NOT EXISTS ${ident(p.name)} PARTITION OF ${ident(METRICS_TABLE)}
           FOR VALUES FROM ('${p.from.toISOString()}') TO ('${p.to.toISOString()}')`,
      );
      created.push(p.name);
    }
    return created;
  });
}

/** The current month and the next `aheadMonths`. */
export function ensureUpcomingPartitions(db: Database, now: Date, aheadMonths: number): Promise<string[]> {
  return ensurePartitions(db, now, addMonths(monthStart(now), aheadMonths));
}

/** Oldest instant still kept: the start of the month `retentionMonths` before the current one. */
export function retentionCutoff(now: Date, retentionMonths: number): Date {
  if (!Number.isInteger(retentionMonths) || retentionMonths < 1) throw new StorageArgumentError('retentionMonths must be an integer ≥ 1');
  return addMonths(monthStart(now), -retentionMonths);
}

/** Drop every partition whose whole month lies before the retention cutoff. */
export async function dropExpiredPartitions(db: Database, now: Date, retentionMonths: number): Promise<string[]> {
  const cutoff = retentionCutoff(now, retentionMonths);
  return db.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext('starweather.partitions.' || current_schema()))`);
    const dropped: string[] = [];
    for (const p of await listPartitions(tx)) {
      if (p.to.getTime() > cutoff.getTime()) continue;
      await tx.query(`DROP TABLE IF EXISTS ${ident(p.name)}`);
      dropped.push(p.name);
    }
    return dropped;
  });
}

export interface MaintenanceOptions {
  aheadMonths: number;
  retentionMonths: number;
  /** How often to run; default hourly. */
  intervalMs?: number;
  now?: () => Date;
  onRun?: (r: { created: string[]; dropped: string[] }) => void;
  onError?: (err: unknown) => void;
}

export interface PartitionMaintenance {
  runOnce(): Promise<{ created: string[]; dropped: string[] }>;
  stop(): void;
}

/** Create coming months and drop expired ones every interval; call runOnce() at start to do it now. */
export function startPartitionMaintenance(db: Database, options: MaintenanceOptions): PartitionMaintenance {
  const now = options.now ?? (() => new Date());
  let running: Promise<{ created: string[]; dropped: string[] }> | undefined;
  const runOnce = () => {
    running ??= (async () => {
      try {
        const t = now();
        const created = await ensureUpcomingPartitions(db, t, options.aheadMonths);
        const dropped = await dropExpiredPartitions(db, t, options.retentionMonths);
        options.onRun?.({ created, dropped });
        return { created, dropped };
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  const timer = setInterval(() => {
    runOnce().catch((err) => options.onError?.(err));
  }, options.intervalMs ?? 3_600_000);
  timer.unref();
  return { runOnce, stop: () => clearInterval(timer) };
}
