/**
 * Error classes shared by every StarWeather module. Each carries a stable
 * `code` (SW_ERR_…) so callers, logs and HTTP problem bodies can match on it
 * without parsing messages, and an optional `cause` for the underlying error.
 */
export type ErrorCode =
  | 'SW_ERR_DECODE'
  | 'SW_ERR_SCHEMA'
  | 'SW_ERR_UNKNOWN_MESSAGE'
  | 'SW_ERR_CONFIG'
  | 'SW_ERR_PROVISION'
  | 'SW_ERR_CAS_CONFLICT'
  | 'SW_ERR_LEASE_LOST'
  | 'SW_ERR_FENCED'
  | 'SW_ERR_MAILBOX_FULL'
  | 'SW_ERR_CLOSED'
  | 'SW_ERR_TIMEOUT'
  | 'SW_ERR_TRANSPORT'
  | 'SW_ERR_HANDLER'
  | 'SW_ERR_NOT_FOUND'
  | 'SW_ERR_INVALID_ARGUMENT'
  | 'SW_ERR_STORAGE'
  | 'SW_ERR_PATH_TRAVERSAL'
  | 'SW_ERR_ESCALATED'
  /** A dependency (database, bus, cache) is down for now: retry later (HTTP 503). */
  | 'SW_ERR_UNAVAILABLE';

export class StarWeatherError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A message that could not be decoded or failed its schema. Never retried. */
export class ProtocolError extends StarWeatherError {
  readonly path: string | undefined;
  constructor(code: 'SW_ERR_DECODE' | 'SW_ERR_SCHEMA' | 'SW_ERR_UNKNOWN_MESSAGE', message: string, path?: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.path = path;
  }
}

export class ConfigError extends StarWeatherError {
  readonly key: string;
  constructor(key: string, message: string, options?: { cause?: unknown }) {
    super('SW_ERR_CONFIG', `config ${key}: ${message}`, options);
    this.key = key;
  }
}

/** A stream, consumer or bucket whose config read back differs from what was asked. */
export class ProvisionError extends StarWeatherError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SW_ERR_PROVISION', message, options);
  }
}

/** A KV compare-and-set lost: someone else wrote the key first. */
export class CasConflictError extends StarWeatherError {
  constructor(key: string, options?: { cause?: unknown }) {
    super('SW_ERR_CAS_CONFLICT', `compare-and-set conflict on ${key}`, options);
  }
}

/** A write carried a fencing token older than the current lease holder's. */
export class FencedError extends StarWeatherError {
  constructor(message: string) {
    super('SW_ERR_FENCED', message);
  }
}

export class MailboxFullError extends StarWeatherError {
  constructor(address: string) {
    super('SW_ERR_MAILBOX_FULL', `mailbox of ${address} is full`);
  }
}

/**
 * The bus is connected, but a store on it (a KV bucket's stream) did not
 * answer: on JetStream, no leader yet (an election after a server loss).
 * Nobody can write to that store meanwhile, which the lease holder relies on
 * to keep its shards through the outage (sharding.ts).
 */
export class StoreUnavailableError extends StarWeatherError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SW_ERR_UNAVAILABLE', message, options);
  }
}

export class ClosedError extends StarWeatherError {
  constructor(what: string) {
    super('SW_ERR_CLOSED', `${what} is closed`);
  }
}

export function errorCode(err: unknown): ErrorCode | 'SW_ERR_HANDLER' {
  return err instanceof StarWeatherError ? err.code : 'SW_ERR_HANDLER';
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
