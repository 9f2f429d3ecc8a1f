/**
 * Database errors by kind (issue 11): which ones mean "the database is not
 * there right now" (a connection refused or cut, a pool that timed out
 * waiting for a connection, a closed PGlite, a server shutting down) and
 * which are the query's own fault. The first kind is answered 503 with
 * Retry-After by the gateway and never burns a task's delivery budget; the
 * second is a bug or bad input.
 *
 * Every StorageError raised by the pg and PGlite backends is tallied here
 * per process by kind (recordDbError, called where they wrap driver errors),
 * and storage-metrics.ts exports the tally as `sw_db_errors_total{kind}`.
 */

export type DbErrorKind =
  /** Refused, reset, terminated, unreachable, SQLSTATE class 08 or a server shutting down (57P01..57P03). */
  | 'connection'
  /** The pool gave up waiting for a connection (node-postgres connectionTimeoutMillis). */
  | 'pool_timeout'
  /** The database handle is closed (PGlite closed, pool ended). */
  | 'closed'
  /** A statement cancelled by a timeout (57014) or too many connections (53300). */
  | 'timeout'
  /** Anything else: constraint, syntax, data errors (the query's own fault). */
  | 'query';

export const DB_ERROR_KINDS: readonly DbErrorKind[] = ['connection', 'pool_timeout', 'closed', 'timeout', 'query'];

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ENOTCONN']);
const SHUTDOWN_STATES = new Set(['57P01', '57P02', '57P03']);

/** The error and its causes, outermost first (bounded: cause chains can loop). */
function chain(err: unknown): Array<{ code?: unknown; message?: unknown; errors?: unknown }> {
  const out: Array<{ code?: unknown; message?: unknown; errors?: unknown }> = [];
  let e: unknown = err;
  for (let i = 0; i < 8 && e !== null && typeof e === 'object'; i++) {
    const x = e as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
    out.push(x);
    // An AggregateError (a dual-stack connect that failed on every address) carries its reasons in `errors`.
    if (Array.isArray(x.errors)) for (const inner of x.errors.slice(0, 4)) if (inner && typeof inner === 'object') out.push(inner as { code?: unknown });
    e = x.cause;
  }
  return out;
}

export function dbErrorKind(err: unknown): DbErrorKind {
  for (const e of chain(err)) {
    const code = typeof e.code === 'string' ? e.code : '';
    const msg = typeof e.message === 'string' ? e.message : '';
    if (CONNECTION_CODES.has(code) || code.startsWith('08') || SHUTDOWN_STATES.has(code)) return 'connection';
    if (code === '57014' || code === '53300') return 'timeout';
    if (/timeout exceeded when trying to connect|Connection terminated due to connection timeout/i.test(msg)) return 'pool_timeout';
    if (/PGlite is closed|Cannot use a pool after calling end|pool is (ended|closed)/i.test(msg)) return 'closed';
    if (/Connection terminated|connection error and is not queryable|Client was closed|ECONNREFUSED|ECONNRESET|server closed the connection/i.test(msg)) return 'connection';
  }
  return 'query';
}

/** True when the error means the database is unavailable (not the query's fault): answer 503, retry later. */
export function isDbUnavailable(err: unknown): boolean {
  return dbErrorKind(err) !== 'query';
}

const tally = new Map<DbErrorKind, number>(DB_ERROR_KINDS.map((k) => [k, 0]));

/** Count one database error of this process by kind; returns the kind. */
export function recordDbError(err: unknown): DbErrorKind {
  const kind = dbErrorKind(err);
  tally.set(kind, (tally.get(kind) ?? 0) + 1);
  return kind;
}

/** Database errors counted in this process so far, by kind. */
export function dbErrorCounts(): Record<DbErrorKind, number> {
  const out = {} as Record<DbErrorKind, number>;
  for (const k of DB_ERROR_KINDS) out[k] = tally.get(k) ?? 0;
  return out;
}
