/**
 * Versioned migrations, applied at start. Each pending migration runs in its
 * own transaction that first takes a transaction-scoped advisory lock keyed
 * on the schema, then re-reads schema_migrations: when several nodes start at
 * once, one applies a version and the others find it done. The same path runs
 * on PGlite, where the lock is uncontended (one process).
 */
import { createHash } from 'node:crypto';
import type { Database, Queryable } from './db.js';
import { StorageError } from './errors.js';
import { MIGRATIONS } from './migrations/index.js';

export interface Migration {
  version: number;
  name: string;
  /** One SQL statement each (PGlite's extended protocol takes one at a time). */
  statements: readonly string[];
}

export interface MigrateResult {
  /** Versions this call applied (empty when another node or an earlier start did). */
  applied: number[];
  /** Highest version now present. */
  current: number;
}

export function checksum(m: Migration): string {
  return createHash('sha256').update(m.statements.join('\n;\n')).digest('hex');
}

async function lock(tx: Queryable): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock(hashtext('starweather.migrate.' || current_schema()))`);
}

async function appliedVersions(tx: Queryable): Promise<Map<number, string>> {
  const r = await tx.query<{ version: number; checksum: string }>('SELECT version, checksum FROM schema_migrations');
  return new Map(r.rows.map((row) => [Number(row.version), row.checksum]));
}

function validate(migrations: readonly Migration[]): void {
  let last = 0;
  for (const m of migrations) {
    if (!Number.isInteger(m.version) || m.version <= last) throw new StorageError(`migrations must have increasing integer versions (at ${m.version})`);
    last = m.version;
  }
}

export async function migrate(db: Database, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrateResult> {
  validate(migrations);
  const known = await db.transaction(async (tx) => {
    await lock(tx);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    return appliedVersions(tx);
  });
  for (const m of migrations) {
    const sum = known.get(m.version);
    if (sum !== undefined && sum !== checksum(m)) {
      throw new StorageError(`migration ${m.version} (${m.name}) was changed after it was applied; add a new migration instead`);
    }
  }

  const applied: number[] = [];
  for (const m of migrations) {
    if (known.has(m.version)) continue;
    const did = await db.transaction(async (tx) => {
      await lock(tx);
      // Another node may have applied it while we waited for the lock.
      const now = await appliedVersions(tx);
      if (now.has(m.version)) return false;
      for (const sql of m.statements) await tx.query(sql);
      await tx.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [m.version, m.name, checksum(m)]);
      return true;
    });
    if (did) applied.push(m.version);
  }
  const r = await db.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
  return { applied, current: Number(r.rows[0]?.v ?? 0) };
}
