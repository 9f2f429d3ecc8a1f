/**
 * The embedded backend: PGlite (PostgreSQL compiled to WASM) with its files
 * under a data directory, so `npm start` keeps its data across restarts.
 * PGlite is one connection in one process: its own mutex serializes queries
 * and transactions, and a lock file keeps a second process off the same
 * directory (two writers would corrupt it).
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { copyLine, copySql, ident, type CopyValue, type Database, type Queryable, type QueryResult } from './db.js';
import { recordDbError } from './db-errors.js';
import { StorageError } from './errors.js';

export interface PgliteOptions {
  /** Directory for the database files; created when missing. */
  dataDir: string;
  /** Schema for search_path; created when missing. Default `public`. */
  schema?: string;
}

function fail(sql: string, err: unknown): StorageError {
  recordDbError(err);
  const msg = err instanceof Error ? err.message : String(err);
  return new StorageError(`${msg} [sql: ${sql.replace(/\s+/g, ' ').slice(0, 160)}]`, { cause: err });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Lock files this process holds: a second open in the same process is refused too. */
const held = new Set<string>();

function releaseLock(file: string): void {
  held.delete(file);
  rmSync(file, { force: true });
}

/** Take `<dir>/starweather.lock`, taking over a lock whose process is gone. */
function takeLock(dir: string): string {
  const file = join(dir, 'starweather.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      held.add(file);
      return file;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new StorageError(`cannot lock ${dir}`, { cause: err });
      const pid = Number(readFileSync(file, 'utf8').trim());
      const ours = pid === process.pid && held.has(file);
      if (Number.isInteger(pid) && pid > 0 && (ours || (pid !== process.pid && pidAlive(pid)))) {
        throw new StorageError(`embedded database ${dir} is in use by process ${pid}${ours ? ' (this one)' : ''}; PGlite allows one process per data directory (set DATABASE_URL for several nodes)`);
      }
      rmSync(file, { force: true });
    }
  }
  throw new StorageError(`cannot lock ${dir}`);
}

type Runner = Pick<PGlite, 'query'> | Transaction;

function queryable(run: Runner): Queryable {
  return {
    async query<R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
      try {
        const r = await run.query<R>(sql, params as unknown[]);
        return { rows: r.rows, rowCount: r.fields.length > 0 ? r.rows.length : (r.affectedRows ?? 0) };
      } catch (err) {
        throw fail(sql, err);
      }
    },
    async copyRows(table: string, columns: readonly string[], rows: Iterable<readonly CopyValue[]>): Promise<number> {
      // PGlite reads COPY input from a Blob mounted at /dev/blob (PGlite docs, "/dev/blob").
      const sql = copySql(table, columns, "'/dev/blob'");
      const parts: string[] = [];
      let n = 0;
      for (const row of rows) {
        parts.push(copyLine(row));
        n++;
      }
      if (n === 0) return 0;
      try {
        await run.query(sql, [], { blob: new Blob(parts) });
        return n;
      } catch (err) {
        throw fail(sql, err);
      }
    },
  };
}

export async function openPglite(options: PgliteOptions): Promise<Database> {
  const schema = options.schema ?? 'public';
  ident(schema);
  mkdirSync(options.dataDir, { recursive: true });
  const lock = takeLock(options.dataDir);
  let db: PGlite;
  try {
    db = await PGlite.create(join(options.dataDir, 'pgdata'));
    await db.exec(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}; SET search_path TO ${ident(schema)}`);
  } catch (err) {
    releaseLock(lock);
    throw new StorageError(`cannot open embedded database in ${options.dataDir}: ${(err as Error).message}`, { cause: err });
  }
  const base = queryable(db);
  let closed = false;
  return {
    backend: 'pglite',
    schema,
    query: base.query,
    copyRows: base.copyRows,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      try {
        return await db.transaction((tx) => fn(queryable(tx)));
      } catch (err) {
        throw err instanceof StorageError ? err : fail('transaction', err);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await db.close();
      } finally {
        releaseLock(lock);
      }
    },
  };
}
