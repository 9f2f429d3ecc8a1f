/**
 * Classifies errors from the NATS client so callers know whether to retry.
 * A retried JetStream publish is safe only because it reuses its message id;
 * everything here answers "could the same request succeed in a moment?".
 */
import { ClosedConnectionError, DrainingConnectionError, RequestError, TimeoutError, ConnectionError } from '@nats-io/transport-node';
import { JetStreamApiError, JetStreamError } from '@nats-io/jetstream';

/** JetStream API error codes we match on (server/errors.json in nats-server). */
export const JsCode = {
  ClusterNotAvailable: 10008,
  NoMessageFound: 10037,
  JetStreamNotEnabled: 10076,
  StreamNotFound: 10059,
  StreamNameInUse: 10058,
  ConsumerNotFound: 10014,
  ConsumerNameExists: 10013,
  ConsumerAlreadyExists: 10105,
  StreamWrongLastSequence: 10071,
  StreamWrongLastSequenceUnknown: 10164,
  InsufficientResources: 10023,
  ClusterNoPeers: 10005,
  StreamOffline: 10118,
  ConsumerOffline: 10119,
} as const;

export function apiCode(err: unknown): number | null {
  return err instanceof JetStreamApiError ? err.code : null;
}

export function isNotFound(err: unknown): boolean {
  const code = apiCode(err);
  if (code === JsCode.StreamNotFound || code === JsCode.ConsumerNotFound || code === JsCode.NoMessageFound) return true;
  const msg = err instanceof Error ? err.message : '';
  return msg === 'stream not found' || msg === 'consumer not found' || msg === 'no message found';
}

export function isWrongLastSequence(err: unknown): boolean {
  const code = apiCode(err);
  return code === JsCode.StreamWrongLastSequence || code === JsCode.StreamWrongLastSequenceUnknown;
}

/** The connection is gone for good (we closed it): retrying cannot help. */
export function isClosed(err: unknown): boolean {
  return err instanceof ClosedConnectionError || err instanceof DrainingConnectionError;
}

/**
 * True for failures a reconnect or a JetStream leader election can cure:
 * request timeouts, no responders (no stream leader yet), cluster not
 * available, 503s. Bad requests and limits are not transient.
 */
export function isTransient(err: unknown): boolean {
  if (isClosed(err)) return false;
  if (err instanceof TimeoutError || err instanceof ConnectionError) return true;
  if (err instanceof RequestError) return true;
  if (err instanceof JetStreamApiError) {
    const code = err.code;
    return (
      err.status === 503 ||
      err.status === 408 ||
      code === JsCode.ClusterNotAvailable ||
      code === JsCode.ClusterNoPeers ||
      code === JsCode.InsufficientResources ||
      code === JsCode.StreamOffline ||
      code === JsCode.ConsumerOffline
    );
  }
  // The v3 client reports "no responders" on a JetStream subject as
  // JetStreamNotEnabled; in a cluster that is what a leaderless stream
  // looks like for a moment, so it is worth a retry (bounded by the caller).
  if (err instanceof JetStreamError || (err instanceof Error && err.name === 'JetStreamNotEnabled')) return true;
  const msg = err instanceof Error ? err.message : '';
  return /timeout|no responders|disconnect|temporarily unavailable|not current|leader/i.test(msg);
}

export function describe(err: unknown): string {
  if (err instanceof JetStreamApiError) return `${err.message} (err_code ${err.code}, status ${err.status})`;
  if (err instanceof Error) return err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message;
  return String(err);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Exponential backoff with full jitter, capped. */
export function backoffMs(attempt: number, baseMs = 100, capMs = 2000): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}
