/**
 * The cluster backend: a node-postgres pool. Every connection runs with the
 * configured search_path, so one database can host several isolated schemas
 * (tests use a fresh `t_<random>` schema each run).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { copyLine, copySql, ident, type CopyValue, type Database, type Queryable, type QueryResult } from './db.js';
import { recordDbError } from './db-errors.js';
import { StorageError } from './errors.js';

export interface PgOptions {
  url: string;
  /** Schema for search_path; created when missing. Default `public`. */
  schema?: string;
  /** Pool size; default 10. */
  max?: number;
  /** Name shown in pg_stat_activity. */
  applicationName?: string;
  /** Used when the URL has no password (config database.password, e.g. from a Docker secret file). */
  password?: string;
}

function fail(sql: string, err: unknown): StorageError {
  recordDbError(err);
  const msg = err instanceof Error ? err.message : String(err);
  return new StorageError(`${msg} [sql: ${sql.replace(/\s+/g, ' ').slice(0, 160)}]`, { cause: err });
}

/** COPY text lines in ~256 KiB chunks: few enough writes to keep the socket busy, small enough to bound memory. */
function* copyChunks(rows: Iterable<readonly CopyValue[]>, counter: { n: number }): Generator<string> {
  let buf = '';
  for (const row of rows) {
    buf += copyLine(row);
    counter.n++;
    if (buf.length >= 262_144) {
      yield buf;
      buf = '';
    }
  }
  if (buf) yield buf;
}

async function copyWith(client: pg.PoolClient | pg.Client, table: string, columns: readonly string[], rows: Iterable<readonly CopyValue[]>): Promise<number> {
  const sql = copySql(table, columns, 'STDIN');
  const counter = { n: 0 };
  try {
    const stream = client.query(copyFrom(sql));
    await pipeline(Readable.from(copyChunks(rows, counter)), stream);
    return counter.n;
  } catch (err) {
    throw fail(sql, err);
  }
}

function clientQueryable(client: pg.PoolClient): Queryable {
  return {
    async query<R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
      try {
        const r = await client.query(sql, params as unknown[]);
        return { rows: r.rows as R[], rowCount: r.rowCount ?? r.rows.length };
      } catch (err) {
        throw fail(sql, err);
      }
    },
    copyRows: (table, columns, rows) => copyWith(client, table, columns, rows),
  };
}

/**
 * CREATE SCHEMA IF NOT EXISTS is not race-free: two nodes starting together
 * can both pass the existence check and one fails on the catalog's unique
 * index (seen in the concurrent-start test). Losing that race is success.
 */
async function createSchema(pool: pg.Pool, schema: string): Promise<void> {
  const exists = async () => (await pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rowCount === 1;
  if (await exists()) return;
  try {
    await pool.query(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`);
  } catch (err) {
    if (!(await exists())) throw err;
  }
}

export async function openPg(options: PgOptions): Promise<Database> {
  const schema = options.schema ?? 'public';
  ident(schema);
  const pool = new pg.Pool({
    connectionString: options.url,
    ...(options.password && !new URL(options.url).password ? { password: options.password } : {}),
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'starweather',
    options: `-c search_path=${schema}`,
    // A dead server must surface as an error, not a hang.
    connectionTimeoutMillis: 10_000,
  });
  // An idle client losing its server emits 'error' on the pool; without a listener that kills the process.
  pool.on('error', () => {});
  try {
    await createSchema(pool, schema);
  } catch (err) {
    await pool.end().catch(() => {});
    throw fail('CREATE SCHEMA', err);
  }

  let closed = false;
  return {
    backend: 'pg',
    schema,
    async query<R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
      try {
        const r = await pool.query(sql, params as unknown[]);
        return { rows: r.rows as R[], rowCount: r.rowCount ?? r.rows.length };
      } catch (err) {
        throw fail(sql, err);
      }
    },
    async copyRows(table, columns, rows) {
      const client = await pool.connect().catch((err: unknown) => {
        throw fail('connect', err);
      });
      let broken: Error | undefined;
      try {
        return await copyWith(client, table, columns, rows);
      } catch (err) {
        broken = err as Error;
        throw err;
      } finally {
        // A failed COPY can leave the connection mid-protocol: destroy it rather than reuse it.
        client.release(broken);
      }
    },
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const client = await pool.connect().catch((err: unknown) => {
        throw fail('connect', err);
      });
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const out = await fn(clientQueryable(client));
        await client.query('COMMIT');
        return out;
      } catch (err) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackErr) {
          broken = rollbackErr as Error;
        }
        throw err instanceof StorageError ? err : fail('transaction', err);
      } finally {
        client.release(broken);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}
