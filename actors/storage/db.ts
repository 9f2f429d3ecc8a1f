/**
 * The one database interface. Two backends implement it over the same SQL:
 * node-postgres (cluster mode) and PGlite (embedded default). Repositories
 * take a `Queryable`, so the same function runs on the pool or inside a
 * transaction.
 */
export interface QueryResult<R> {
  rows: R[];
  /** Rows affected (INSERT/UPDATE/DELETE/COPY) or returned (SELECT). */
  rowCount: number;
}

/** A value COPY can carry: written in PostgreSQL text format, null as \N. */
export type CopyValue = string | number | bigint | boolean | Date | null | undefined;

export interface Queryable {
  /** One SQL statement with $1.. parameters. Objects must be JSON.stringify'd by the caller (pg turns arrays into PG arrays). */
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
  /** COPY rows into `table` (columns in order). Returns rows copied. */
  copyRows(table: string, columns: readonly string[], rows: Iterable<readonly CopyValue[]>): Promise<number>;
}

export interface Database extends Queryable {
  readonly backend: 'pg' | 'pglite';
  /** The schema every statement runs in (search_path). */
  readonly schema: string;
  /** Runs `fn` in BEGIN/COMMIT on one connection; ROLLBACK and rethrow on error. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

/** Quote a SQL identifier we build ourselves (table, schema, partition); refuses anything unusual. */
export function ident(name: string): string {
  if (!IDENT.test(name)) throw new TypeError(`not a safe SQL identifier: ${JSON.stringify(name)}`);
  return `"${name}"`;
}

/** A table name, optionally schema-qualified, quoted. */
export function tableIdent(name: string): string {
  return name.split('.').map(ident).join('.');
}

function copyField(v: CopyValue): string {
  if (v === null || v === undefined) return '\\N';
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'boolean') return v ? 't' : 'f';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
    return String(v);
  }
  const s = String(v);
  // PostgreSQL COPY text format: backslash, tab, newline and CR must be escaped.
  return /[\\\t\n\r]/.test(s) ? s.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r') : s;
}

/** One COPY text-format line per row. */
export function copyLine(row: readonly CopyValue[]): string {
  let out = '';
  for (let i = 0; i < row.length; i++) out += (i ? '\t' : '') + copyField(row[i]);
  return out + '\n';
}

export function copySql(table: string, columns: readonly string[], source: 'STDIN' | "'/dev/blob'"): string {
  if (columns.length === 0) throw new TypeError('copyRows needs at least one column');
  return `COPY ${tableIdent(table)} (${columns.map(ident).join(', ')}) FROM ${source}`;
}
