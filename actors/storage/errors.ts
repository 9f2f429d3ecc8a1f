import { StarWeatherError } from '../../protocol/errors.js';

/** A database, cache or file-store operation failed; `cause` holds the driver error. */
export class StorageError extends StarWeatherError {
  /** SQLSTATE of the underlying PostgreSQL error, when there is one. */
  readonly sqlState: string | undefined;
  constructor(message: string, options?: { cause?: unknown }) {
    super('SW_ERR_STORAGE', message, options);
    const c = options?.cause as { code?: unknown } | undefined;
    this.sqlState = typeof c?.code === 'string' && /^[0-9A-Z]{5}$/.test(c.code) ? c.code : undefined;
  }
}

/** A file-store key that is malformed or would leave the store root. */
export class PathTraversalError extends StarWeatherError {
  constructor(reason: string) {
    super('SW_ERR_PATH_TRAVERSAL', `rejected file-store key: ${reason}`);
  }
}

/** A caller passed a value the storage layer refuses (range, shape). */
export class StorageArgumentError extends StarWeatherError {
  constructor(message: string) {
    super('SW_ERR_INVALID_ARGUMENT', message);
  }
}
