/**
 * What both ends of the thread bridge (thread-bridge.ts, thread-client.ts)
 * need besides the frame schemas in protocol/messages/thread-bridge.ts: an
 * outbox that posts frames in batches, and errors as they cross the port.
 *
 * Batching: a postMessage costs far more than a frame in it (a copy into the
 * port's queue and a wake-up of the other thread, then one 'message' event
 * there), and the tracker publishes a frame per shard per tick while the
 * gateway receives every one. Frames pushed during one turn leave together
 * at the end of it (a microtask), so 256 publishes cost one postMessage, not
 * 256. A batch is cut early at MAX_BATCH_FRAMES or MAX_BATCH_BYTES so its
 * structured clone, and the other side's pass over it, stay short.
 */
import type { MessagePort } from 'node:worker_threads';
import {
  CasConflictError,
  ClosedError,
  ConfigError,
  FencedError,
  MailboxFullError,
  ProtocolError,
  ProvisionError,
  StarWeatherError,
  type ErrorCode,
} from '../../../protocol/errors.js';
import type { BridgeError } from '../../../protocol/messages/thread-bridge.js';

export const MAX_BATCH_FRAMES = 1024;
export const MAX_BATCH_BYTES = 1024 * 1024;

export class Outbox<F extends object> {
  private frames: F[] = [];
  private bytes = 0;
  private scheduled = false;
  private closed = false;

  /** `onUnsendable`: a frame the port refused (it could not be cloned); the others still go. */
  constructor(
    private readonly port: MessagePort,
    private readonly onUnsendable: (frame: F, err: unknown) => void,
  ) {}

  /** Queue a frame; `bytes` is the size of the payload it carries, for the batch cut. */
  push(frame: F, bytes = 0): void {
    if (this.closed) return;
    this.frames.push(frame);
    this.bytes += bytes;
    if (this.frames.length >= MAX_BATCH_FRAMES || this.bytes >= MAX_BATCH_BYTES) {
      this.flush();
      return;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flushScheduled);
    }
  }

  /** Post what is queued now. */
  flush(): void {
    const batch = this.frames;
    if (batch.length === 0) return;
    this.frames = [];
    this.bytes = 0;
    try {
      this.port.postMessage(batch);
    } catch {
      // One frame that cannot be cloned must not take the rest with it.
      for (const f of batch) {
        try {
          this.port.postMessage([f]);
        } catch (err) {
          this.onUnsendable(f, err);
        }
      }
    }
  }

  /** Post what is queued, then drop whatever comes later. */
  close(): void {
    this.flush();
    this.closed = true;
  }

  private readonly flushScheduled = (): void => {
    this.scheduled = false;
    this.flush();
  };
}

export function toBridgeError(err: unknown): BridgeError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const out: BridgeError = { name: String(err.name), code: typeof code === 'string' ? code : null, message: String(err.message) };
    if (err instanceof ProtocolError && typeof err.path === 'string') out.path = err.path;
    if (err instanceof ConfigError && typeof err.key === 'string') out.key = err.key;
    return out;
  }
  return { name: 'Error', code: null, message: String(err) };
}

/** Replaces a constructed error's message (and the first line of its stack) with the one that crossed. */
function withMessage<E extends Error>(err: E, message: string): E {
  err.message = message;
  const stack = err.stack;
  if (typeof stack === 'string') {
    const nl = stack.indexOf('\n');
    err.stack = `${err.name}: ${message}${nl === -1 ? '' : stack.slice(nl)}`;
  }
  return err;
}

// The classes of protocol/errors.ts, rebuilt with the message that crossed
// (several build their message from an argument: the key, the address …).
const REBUILD: Record<string, (e: BridgeError) => StarWeatherError> = {
  StarWeatherError: (e) => new StarWeatherError(e.code as ErrorCode, e.message),
  ProtocolError: (e) => new ProtocolError(e.code as 'SW_ERR_DECODE' | 'SW_ERR_SCHEMA' | 'SW_ERR_UNKNOWN_MESSAGE', e.message, e.path),
  ConfigError: (e) => withMessage(new ConfigError(e.key ?? '', ''), e.message),
  ProvisionError: (e) => new ProvisionError(e.message),
  CasConflictError: (e) => withMessage(new CasConflictError(''), e.message),
  FencedError: (e) => new FencedError(e.message),
  MailboxFullError: (e) => withMessage(new MailboxFullError(''), e.message),
  ClosedError: (e) => withMessage(new ClosedError(''), e.message),
};

const CODE_RE = /^SW_ERR_[A-Z_]+$/;

/**
 * A crossed error as the class its name says, with its code and message.
 * A StarWeather code under another name (a subclass defined elsewhere)
 * becomes a StarWeatherError that keeps the name; anything else an Error
 * with the message (and the name and code it had, for logs).
 */
export function fromBridgeError(e: BridgeError): Error {
  const make = Object.hasOwn(REBUILD, e.name) ? REBUILD[e.name] : undefined;
  if (make && e.code !== null && CODE_RE.test(e.code)) {
    const err = make(e);
    if (err.code === e.code) return err;
  }
  if (e.code !== null && CODE_RE.test(e.code)) {
    const err = new StarWeatherError(e.code as ErrorCode, e.message);
    err.name = e.name;
    return withMessage(err, e.message);
  }
  const err = new Error(e.message);
  if (e.name !== 'Error') err.name = e.name;
  if (e.code !== null) (err as Error & { code?: string }).code = e.code;
  return withMessage(err, e.message);
}
