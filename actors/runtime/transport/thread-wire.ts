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
 * clone, and the other side's pass over it, stay short.
 *
 * Payloads: the bytes of a frame's `data` / `value` are copied, when the
 * frame is pushed, into memory that belongs to the batch (64 KiB chunks,
 * one buffer of its own for a large payload), and that memory is
 * transferred with the batch, not cloned. The copy is what lets a caller
 * reuse its buffer as soon as publish() returns, it is the only copy made
 * on the way, and nothing the caller or the transport still owns is ever
 * transferred. Cloning each payload instead costs several times more for
 * frames of a few KiB (a pooled Buffer drags its whole 8 KiB slab along).
 * The receiver's views into a chunk keep that chunk alive while it holds
 * them, as a pooled Buffer keeps its slab.
 */
import type { MessagePort, TransferListItem } from 'node:worker_threads';
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
const CHUNK_BYTES = 64 * 1024;
/** Payloads above this get a buffer of their own instead of chunk space. */
const OWN_BUFFER_BYTES = 16 * 1024;
/** Payload offsets in a chunk are 8-byte aligned, as Node's Buffer pool aligns them. */
const ALIGN = 8;

/** The frame fields whose Uint8Array travels in the batch's memory. */
const BYTE_FIELDS = ['data', 'value'] as const;

export class Outbox<F extends object> {
  private frames: F[] = [];
  private transfer: TransferListItem[] = [];
  private chunk: Uint8Array | null = null;
  private used = 0;
  private bytes = 0;
  private scheduled = false;
  private closed = false;

  /** `onUnsendable`: a frame the port refused (it could not be cloned); the others still go. */
  constructor(
    private readonly port: MessagePort,
    private readonly onUnsendable: (frame: F, err: unknown) => void,
  ) {}

  /** Queue a frame; its `data` / `value` bytes are copied now (the frame object is updated to the copy). */
  push(frame: F): void {
    if (this.closed) return;
    const fields = frame as Record<string, unknown>;
    for (const k of BYTE_FIELDS) {
      const v = fields[k];
      if (v instanceof Uint8Array) fields[k] = this.copy(v);
    }
    this.frames.push(frame);
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
    const transfer = this.transfer;
    this.frames = [];
    this.transfer = [];
    this.chunk = null;
    this.used = 0;
    this.bytes = 0;
    try {
      this.port.postMessage(batch, transfer);
    } catch {
      // One frame that cannot be cloned must not take the rest with it
      // (cloned one by one: this is the failure path, not the fast one).
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

  private copy(data: Uint8Array): Uint8Array {
    const n = data.byteLength;
    this.bytes += n;
    if (n > OWN_BUFFER_BYTES) {
      const own = new ArrayBuffer(n);
      const view = new Uint8Array(own);
      view.set(data);
      this.transfer.push(own);
      return view;
    }
    if (this.chunk === null || this.used + n > this.chunk.byteLength) {
      const buf = new ArrayBuffer(CHUNK_BYTES);
      this.chunk = new Uint8Array(buf);
      this.used = 0;
      this.transfer.push(buf);
    }
    const view = this.chunk.subarray(this.used, this.used + n);
    view.set(data);
    this.used = Math.min(this.chunk.byteLength, (this.used + n + ALIGN - 1) & ~(ALIGN - 1));
    return view;
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
