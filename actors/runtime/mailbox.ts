/**
 * A bounded FIFO mailbox that runs one message at a time. A full mailbox
 * pushes back on its senders instead of growing without limit: `send` waits
 * for room (optionally up to a timeout), `trySend` refuses at once. Either
 * refusal is reported through `onRejected` so it can be counted.
 *
 * `capacity` bounds the messages waiting; the one being processed is not
 * counted.
 */
import { ClosedError, MailboxFullError } from '../../protocol/errors.js';

export interface MailboxOptions<T> {
  /** Address used in error messages (`kind/id`). */
  address: string;
  capacity: number;
  /** Handles one message; the next starts only after this settles. */
  process: (msg: T) => Promise<void> | void;
  /** `process` threw or rejected; the mailbox carries on with the next message. */
  onError?: (err: unknown, msg: T) => void;
  /** A message was refused (full on trySend, or a send timed out). */
  onRejected?: (msg: T, reason: 'full' | 'timeout') => void;
}

export interface SendOptions {
  /** Reject with MailboxFullError if there is still no room after this long. */
  timeoutMs?: number;
}

interface Waiter<T> {
  msg: T;
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

export class Mailbox<T> {
  readonly address: string;
  readonly capacity: number;
  private readonly queue: T[] = [];
  private readonly waiters: Waiter<T>[] = [];
  private readonly opts: MailboxOptions<T>;
  private running = false;
  private closed = false;
  private idleResolvers: Array<() => void> = [];

  constructor(opts: MailboxOptions<T>) {
    if (!Number.isInteger(opts.capacity) || opts.capacity < 1) {
      throw new RangeError(`mailbox capacity must be an integer >= 1 (got ${opts.capacity})`);
    }
    this.opts = opts;
    this.address = opts.address;
    this.capacity = opts.capacity;
  }

  /** Messages waiting (not counting the one being processed). */
  get size(): number {
    return this.queue.length;
  }

  /** Senders blocked waiting for room. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** True while a message is being processed. */
  get busy(): boolean {
    return this.running;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Enqueue, waiting while the mailbox is full. */
  send(msg: T, options: SendOptions = {}): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError(`mailbox of ${this.address}`));
    if (this.queue.length < this.capacity && this.waiters.length === 0) {
      this.enqueue(msg);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter<T> = { msg, resolve, reject, timer: undefined };
      if (options.timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          this.opts.onRejected?.(msg, 'timeout');
          reject(new MailboxFullError(this.address));
        }, options.timeoutMs);
      }
      this.waiters.push(waiter);
    });
  }

  /** Enqueue if there is room now; false (and counted) when full or closed. */
  trySend(msg: T): boolean {
    if (this.closed) return false;
    if (this.queue.length >= this.capacity || this.waiters.length > 0) {
      this.opts.onRejected?.(msg, 'full');
      return false;
    }
    this.enqueue(msg);
    return true;
  }

  /**
   * Refuse further messages. Blocked senders are rejected with ClosedError;
   * messages not yet started are returned so the owner can report them.
   * The message being processed (if any) finishes: await `idle()`.
   */
  close(): T[] {
    this.closed = true;
    for (const w of this.waiters.splice(0)) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(new ClosedError(`mailbox of ${this.address}`));
    }
    const dropped = this.queue.splice(0);
    if (!this.running) this.notifyIdle();
    return dropped;
  }

  /** Resolves when nothing is being processed and nothing is waiting. */
  idle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleResolvers.push(resolve));
  }

  private enqueue(msg: T): void {
    this.queue.push(msg);
    if (!this.running) {
      this.running = true;
      // Start on a microtask, never inside the sender's call: a handler that
      // sends to its own mailbox must not re-enter itself.
      queueMicrotask(() => void this.drain());
    }
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const msg = this.queue.shift() as T;
      this.admitWaiter();
      try {
        await this.opts.process(msg);
      } catch (err) {
        try {
          this.opts.onError?.(err, msg);
        } catch {
          // A failing error reporter must not stop the mailbox.
        }
      }
    }
    this.running = false;
    this.notifyIdle();
  }

  private admitWaiter(): void {
    const w = this.waiters.shift();
    if (!w) return;
    if (w.timer) clearTimeout(w.timer);
    this.queue.push(w.msg);
    w.resolve();
  }

  private notifyIdle(): void {
    for (const r of this.idleResolvers.splice(0)) r();
  }
}
