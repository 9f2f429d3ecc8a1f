/**
 * One place that answers "is this failure the task's fault, or is something
 * it depends on down?" for the TaskWorker (and anyone else who must choose
 * between retrying and giving up, e.g. an HTTP 503 vs 500).
 *
 * Three verdicts:
 * - `transient`: a dependency is down or slow (PostgreSQL restarting or
 *   refusing connections, NATS disconnected or electing a leader, a network
 *   error, a timeout). The same task will succeed once it is back, so the
 *   failure must not use up the task's delivery budget.
 * - `invalid`: the request is wrong as written (a ProtocolError,
 *   SW_ERR_INVALID_ARGUMENT, a path traversal): an HTTP caller answers 4xx.
 *   The worker dead-letters a task at once only when its envelope or payload
 *   fails validation before the handler runs; an `invalid` error thrown by a
 *   handler (a file that does not decode, say) is retried like a `failure`,
 *   since a re-fetch can cure it.
 * - `failure`: anything else (a bug, bad data, a 404 that may still appear).
 *   Retried with backoff within the delivery budget (MaxDeliver), then
 *   dead-lettered.
 *
 * The error is examined along its `cause` chain (and an AggregateError's
 * `errors`, which Node's happy-eyeballs connect raises): a StorageError
 * (SW_ERR_STORAGE) wrapping a pg error is classified by the pg error, and the
 * wrappers tell which dependency it was (database, bus, cache, network).
 */
import { JetStreamApiError, JetStreamError } from '@nats-io/jetstream';
import { errors as natsErrors } from '@nats-io/transport-node';
import { StarWeatherError } from '../../protocol/errors.js';
import { isClosed as isNatsClosed, isTransient as isNatsTransient } from './transport/nats-errors.js';

export type ErrorKind = 'transient' | 'invalid' | 'failure';

/** What was down: a label for logs and metrics (bounded set). */
export type Dependency = 'database' | 'bus' | 'cache' | 'network' | 'local' | 'unknown';

export interface ErrorClass {
  kind: ErrorKind;
  /** Set for transient errors (and where known for the others). */
  dependency: Dependency | null;
  /** Short, stable reason: an SQLSTATE, an errno code, an SW_ERR_ code, a class name. */
  reason: string;
}

/**
 * SQLSTATEs a retry can cure (PostgreSQL appendix A): the server going down
 * or coming up, connection trouble, resource exhaustion, and the
 * concurrency failures PostgreSQL itself says to retry.
 */
const PG_TRANSIENT: Record<string, string> = {
  '57P01': 'admin_shutdown',
  '57P02': 'crash_shutdown',
  '57P03': 'cannot_connect_now',
  '57P05': 'idle_session_timeout',
  '57014': 'query_canceled',
  '53000': 'insufficient_resources',
  '53100': 'disk_full',
  '53200': 'out_of_memory',
  '53300': 'too_many_connections',
  '40001': 'serialization_failure',
  '40P01': 'deadlock_detected',
  '55P03': 'lock_not_available',
  '58000': 'system_error',
  '58030': 'io_error',
  // A primary that became a read-only standby during a failover.
  '25006': 'read_only_sql_transaction',
};

/** Socket-level errno codes (and undici's) that mean "the other end is not there right now". */
const NET_TRANSIENT = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENETRESET',
  'EADDRNOTAVAIL',
  'EAI_AGAIN',
  // A name that does not resolve: in a compose network a stopped service loses its name.
  'ENOTFOUND',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

/** node-postgres and PGlite failures that carry no code: matched on their fixed messages. */
const PG_MESSAGES: Array<[RegExp, string]> = [
  [/^Connection terminated/i, 'connection_terminated'],
  [/timeout exceeded when trying to connect/i, 'connect_timeout'],
  [/Client has encountered a connection error and is not queryable/i, 'connection_error'],
  [/Cannot use a pool after calling end on the pool/i, 'pool_ended'],
  [/^Query read timeout/i, 'query_timeout'],
  [/^PGlite is closed/i, 'pglite_closed'],
];

const INVALID_CODES = new Set(['SW_ERR_DECODE', 'SW_ERR_SCHEMA', 'SW_ERR_UNKNOWN_MESSAGE', 'SW_ERR_INVALID_ARGUMENT', 'SW_ERR_PATH_TRAVERSAL']);
const TRANSIENT_CODES = new Set(['SW_ERR_TIMEOUT', 'SW_ERR_TRANSPORT', 'SW_ERR_UNAVAILABLE', 'SW_ERR_CLOSED']);

const NATS_CLASSES: Array<abstract new (...args: never[]) => Error> = [...Object.values(natsErrors), JetStreamApiError, JetStreamError];

const MAX_DEPTH = 8;

function isNatsError(e: unknown): boolean {
  if (NATS_CLASSES.some((C) => e instanceof C)) return true;
  // The v3 client reports "no responders" on a JetStream subject as this class, not exported.
  return e instanceof Error && e.name === 'JetStreamNotEnabled';
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** A pg/PGlite DatabaseError: a 5-character SQLSTATE next to a severity. */
function sqlState(e: Record<string, unknown>): string | undefined {
  const code = str(e.code);
  return code && /^[0-9A-Z]{5}$/.test(code) && typeof e.severity === 'string' ? code : undefined;
}

/** The dependency a wrapper names, when it names one. */
function hintOf(e: unknown, current: Dependency | null): Dependency | null {
  if (e instanceof StarWeatherError) {
    if (e.code === 'SW_ERR_STORAGE') return 'database';
    if (e.code === 'SW_ERR_CLOSED') return /\bNATS\b/.test(e.message) ? 'bus' : current ?? 'local';
  }
  if (isNatsError(e)) return 'bus';
  if (e instanceof Error && (e.name === 'MaxRetriesPerRequestError' || e.name === 'ReplyError')) return 'cache';
  return current;
}

/** The verdict of one link of the chain, or null: look further down. */
function verdictOf(e: unknown, hint: Dependency | null): ErrorClass | null {
  if (e === null || typeof e !== 'object') return null;
  const rec = e as Record<string, unknown>;
  const state = sqlState(rec);
  if (state) {
    if (state.startsWith('08')) return { kind: 'transient', dependency: 'database', reason: `pg ${state} connection_exception` };
    const name = PG_TRANSIENT[state];
    if (name) return { kind: 'transient', dependency: 'database', reason: `pg ${state} ${name}` };
    return { kind: 'failure', dependency: 'database', reason: `pg ${state}` };
  }
  const code = str(rec.code);
  if (code && NET_TRANSIENT.has(code)) return { kind: 'transient', dependency: hint ?? 'network', reason: code };
  if (e instanceof Error) {
    for (const [re, reason] of PG_MESSAGES) if (re.test(e.message)) return { kind: 'transient', dependency: 'database', reason };
    if (isNatsError(e)) {
      if (isNatsClosed(e) || isNatsTransient(e)) return { kind: 'transient', dependency: 'bus', reason: natsReason(e) };
      return { kind: 'failure', dependency: 'bus', reason: natsReason(e) };
    }
    // ioredis: no server, or one that went away.
    if (e.name === 'MaxRetriesPerRequestError') return { kind: 'transient', dependency: 'cache', reason: 'max_retries_per_request' };
    if (/^Connection is closed\.?$/.test(e.message)) return { kind: 'transient', dependency: hint ?? 'cache', reason: 'connection_closed' };
    // AbortSignal.timeout() and NATS request timeouts.
    if (e.name === 'TimeoutError') return { kind: 'transient', dependency: hint ?? 'unknown', reason: 'timeout' };
  }
  return null;
}

function natsReason(e: Error): string {
  return e instanceof JetStreamApiError ? `nats ${e.code}` : e.name;
}

function causesOf(e: unknown): unknown[] {
  if (e === null || typeof e !== 'object') return [];
  const out: unknown[] = [];
  const c = (e as { cause?: unknown }).cause;
  if (c !== undefined && c !== e) out.push(c);
  if (e instanceof AggregateError) out.push(...e.errors);
  return out;
}

function walk(e: unknown, hint: Dependency | null, depth: number): ErrorClass | null {
  if (depth > MAX_DEPTH) return null;
  const h = hintOf(e, hint);
  const own = verdictOf(e, h);
  if (own) return own;
  // Deeper links know more about what failed than the wrappers around them.
  let deeper: ErrorClass | null = null;
  for (const c of causesOf(e)) {
    const v = walk(c, h, depth + 1);
    if (v && (deeper === null || (v.kind === 'transient' && deeper.kind !== 'transient'))) deeper = v;
  }
  if (e instanceof StarWeatherError) {
    if (TRANSIENT_CODES.has(e.code)) {
      // A transport wrapper says "could not reach it"; its cause may say the
      // request was refused for good (a missing stream, a limit).
      if (deeper) return deeper;
      const dependency: Dependency = e.code === 'SW_ERR_CLOSED' ? (h ?? 'local') : e.code === 'SW_ERR_TRANSPORT' ? (h ?? 'network') : (h ?? 'unknown');
      return { kind: 'transient', dependency, reason: e.code };
    }
    if (INVALID_CODES.has(e.code)) return { kind: 'invalid', dependency: null, reason: e.code };
  }
  return deeper;
}

/** Classify a failure (see the module comment). Never throws. */
export function classifyError(err: unknown): ErrorClass {
  try {
    const v = walk(err, null, 0);
    if (v) return v;
  } catch {
    // A hostile getter on an error object: fall through to the default.
  }
  return { kind: 'failure', dependency: null, reason: err instanceof StarWeatherError ? err.code : err instanceof Error ? err.name : typeof err };
}

/** Shorthand: does this failure mean a dependency is down (or slow)? */
export function isTransientError(err: unknown): boolean {
  return classifyError(err).kind === 'transient';
}
