/**
 * The client end of the thread bridge: a Transport for a thread that does
 * not own the bus. Every call goes over one MessagePort to serveTransport()
 * (thread-bridge.ts) in the thread that does, which makes the same call on
 * the real transport; results, errors (as their own classes, with code and
 * message), deliveries, KV changes and status changes come back.
 *
 * Why it exists: in the embedded default every role host ran inline on one
 * event loop with the bus, so one host holding that loop delayed every
 * other host's heartbeats, lease renewals and acks (issue 10). Each role
 * host now runs on its own worker thread with one of these; the bus stays
 * the one in-process bus its node's main thread owns, so `kind` is
 * 'embedded' and the behaviour is the embedded bus's.
 *
 * Frames pushed during one turn leave in one postMessage (thread-wire.ts),
 * in order: a publish is only queued (its bytes copied, so the caller may
 * reuse its buffer), and flush() resolves once everything published before
 * it has reached the bus.
 *
 * close() stops this client's consumers (letting running handlers finish,
 * for at most `closeTimeoutMs`), drops its subscriptions and watches, has
 * the server nak whatever it still holds unsettled, and closes the port; it
 * never closes the server's transport. If the port closes first (the bus
 * thread went away), pending calls fail with SW_ERR_CLOSED and status
 * listeners hear 'disconnected'.
 */
import type { MessagePort } from 'node:worker_threads';
import { ClosedError, ProtocolError, StarWeatherError, errorMessage } from '../../../protocol/errors.js';
import type { DeadLetter } from '../../../protocol/messages/dead-letter.js';
import {
  checkBridgeEvent,
  checkBridgeReplyValue,
  type BridgeCall,
  type BridgeCallType,
  type BridgeEvent,
  type BridgeEventOf,
  type BridgeReplyValue,
  type BridgeRequest,
} from '../../../protocol/messages/thread-bridge.js';
import type { QueueName } from '../../../protocol/names.js';
import { DEFAULT_TOPOLOGY } from '../../../protocol/topology.js';
import type {
  BucketName,
  BusMessage,
  ConsumeOptions,
  EnqueueResult,
  KvBucket,
  KvChange,
  KvEntry,
  QueueStats,
  Subscription,
  Transport,
  TransportStatus,
  WorkConsumer,
  WorkHandler,
  WorkMessage,
  PresenceAnswer,
} from '../../../protocol/transport.js';
import { MAX_PAYLOAD_BYTES, assertPublishSubject, assertSubscribeSubject } from './embedded-pubsub.js';
import { assertPrefetch } from './embedded-queue.js';
import { Outbox, fromBridgeError, toBridgeError } from './thread-wire.js';

export interface ThreadTransportOptions {
  /** How long close() lets running handlers finish before the server naks their messages; default the default AckWait. */
  closeTimeoutMs?: number;
}

const MAX_REMEMBERED_SUBJECTS = 4096;

function invalid(message: string): StarWeatherError {
  return new StarWeatherError('SW_ERR_INVALID_ARGUMENT', message);
}

// Arguments are type-checked here, before they are queued: a value the port
// cannot clone would fail the whole batch it is in. Their values (subject
// syntax, queue names, key syntax …) are the transport's to judge.
function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw invalid(`${what} must be a string`);
  return v;
}

function optStr(v: unknown, what: string): string | undefined {
  return v === undefined ? undefined : str(v, what);
}

function num(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(`${what} must be a finite number (got ${String(v)})`);
  return v;
}

function fn<F>(v: F, what: string): F {
  if (typeof v !== 'function') throw invalid(`${what} must be a function`);
  return v;
}

/** Bytes are copied when the frame is queued (thread-wire.ts), so the caller may reuse its buffer at once. */
function bytes(v: unknown, what: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw invalid(`${what} must be a Uint8Array`);
  return v;
}

type CallBody<T extends BridgeCallType> = Omit<Extract<BridgeCall, { t: T }>, 't' | 'id'>;

interface Pending {
  t: BridgeCallType;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

class BridgedWorkMessage implements WorkMessage {
  readonly queue: QueueName;
  readonly msgId: string;
  readonly data: Uint8Array;
  readonly deliveryCount: number;
  readonly maxDeliver: number;

  constructor(
    private readonly client: ThreadTransport,
    private readonly did: number,
    f: BridgeEventOf<'work'>,
  ) {
    this.queue = f.queue;
    this.msgId = f.msgId;
    this.data = f.data;
    this.deliveryCount = f.deliveryCount;
    this.maxDeliver = f.maxDeliver;
  }

  working(): void {
    this.client.post({ t: 'working', did: this.did });
  }

  ack(): Promise<void> {
    this.client.settled(this);
    return this.client.call('ack', { did: this.did });
  }

  nak(delayMs = 0): void {
    this.client.settled(this);
    this.client.post({ t: 'nak', did: this.did, delayMs: typeof delayMs === 'number' && Number.isFinite(delayMs) ? delayMs : 0 });
  }

  deadLetter(code: string, reason: string): Promise<void> {
    this.client.settled(this);
    return this.client.call('dead-letter', { did: this.did, code: String(code), reason: String(reason) });
  }
}

/** A consumer or dead-letter feed of this client. */
class BridgedConsumer<H> implements WorkConsumer {
  stopping: Promise<void> | null = null;

  constructor(
    private readonly client: ThreadTransport,
    readonly kind: 'consume-stop' | 'dl-stop',
    readonly ref: number,
    readonly handler: H,
  ) {}

  /** Resolves once the server's stop did, which is after every handler call it started has returned here. */
  stop(): Promise<void> {
    this.stopping ??= this.client.stopConsumer(this);
    return this.stopping;
  }
}

class BridgedKvBucket implements KvBucket {
  constructor(
    private readonly client: ThreadTransport,
    private readonly bucket: BucketName,
    readonly name: string,
  ) {}

  get(key: string): Promise<KvEntry | null> {
    return this.run(() => this.client.call('kv-get', { bucket: this.bucket, key: str(key, 'KV key') }));
  }

  put(key: string, value: Uint8Array): Promise<number> {
    return this.run(() => this.client.call('kv-put', { bucket: this.bucket, key: str(key, 'KV key'), value: bytes(value, 'KV value') }));
  }

  create(key: string, value: Uint8Array): Promise<number> {
    return this.run(() => this.client.call('kv-create', { bucket: this.bucket, key: str(key, 'KV key'), value: bytes(value, 'KV value') }));
  }

  update(key: string, value: Uint8Array, revision: number): Promise<number> {
    return this.run(() =>
      this.client.call('kv-update', { bucket: this.bucket, key: str(key, 'KV key'), value: bytes(value, 'KV value'), revision: num(revision, 'KV revision') }),
    );
  }

  delete(key: string, revision?: number): Promise<void> {
    return this.run(() =>
      this.client.call('kv-delete', revision === undefined ? { bucket: this.bucket, key: str(key, 'KV key') } : { bucket: this.bucket, key: str(key, 'KV key'), revision: num(revision, 'KV revision') }),
    );
  }

  keys(prefix?: string): Promise<string[]> {
    return this.run(() => this.client.call('kv-keys', this.prefixed(prefix)));
  }

  entries(prefix?: string): Promise<KvEntry[]> {
    return this.run(() => this.client.call('kv-entries', this.prefixed(prefix)));
  }

  watch(onChange: (change: KvChange) => void, prefix?: string): Promise<Subscription> {
    return this.run(() => this.client.watch(this.bucket, fn(onChange, 'onChange'), optStr(prefix, 'KV key prefix')));
  }

  private prefixed(prefix: string | undefined): { bucket: string; prefix?: string } {
    const p = optStr(prefix, 'KV key prefix');
    return p === undefined ? { bucket: this.bucket } : { bucket: this.bucket, prefix: p };
  }

  private async run<T>(op: () => Promise<T>): Promise<T> {
    if (this.client.isClosing) throw new ClosedError(`KV bucket ${this.name}`);
    return op();
  }
}

export class ThreadTransport implements Transport {
  readonly kind = 'embedded' as const;
  /** Subscriber and watcher exceptions, and frames that failed their schema. */
  errorCount = 0;

  private readonly out: Outbox<BridgeRequest>;
  private readonly closeTimeoutMs: number;
  private nextId = 1;
  private nextRef = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly subs = new Map<number, (msg: BusMessage) => void>();
  private readonly watches = new Map<number, (change: KvChange) => void>();
  private readonly consumers = new Map<number, BridgedConsumer<WorkHandler>>();
  private readonly feeds = new Map<number, BridgedConsumer<(dl: DeadLetter) => Promise<void>>>();
  private readonly statusListeners = new Map<number, (status: TransportStatus) => void>();
  private readonly buckets = new Map<BucketName, BridgedKvBucket>();
  /** Publish subjects that passed their check. */
  private readonly publishSubjects = new Set<string>();
  /**
   * A work message dropped unsettled (its handler returned without settling
   * and nothing holds it any more) can never be settled from here: the
   * server is told to forget it, and AckWait brings it back, as on any bus.
   */
  private readonly unsettled = new FinalizationRegistry<number>((did) => this.post({ t: 'forget', did }));
  /** close() called: new work is refused; settling calls still go. */
  private closing = false;
  /** The port is closed: everything is refused. */
  private closed = false;
  private closePromise: Promise<void> | null = null;

  constructor(
    private readonly port: MessagePort,
    options: ThreadTransportOptions = {},
  ) {
    this.closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_TOPOLOGY.ackWaitMs;
    this.out = new Outbox<BridgeRequest>(port, (frame, err) => {
      this.reportError(err);
      if ('id' in frame) this.failPending(frame.id, new StarWeatherError('SW_ERR_TRANSPORT', `${frame.t} could not be posted: ${errorMessage(err)}`));
    });
    port.on('message', this.onMessage);
    port.on('close', this.onPortClose);
  }

  /** True once close() was called or the port closed. */
  get isClosing(): boolean {
    return this.closing;
  }

  async provision(): Promise<void> {
    this.check();
    await this.call('provision', {});
  }

  publish(subject: string, data: Uint8Array): void {
    this.check();
    // Checked here too (a bad subject throws in the caller, as in-thread);
    // the tracker publishes on the same 256 subjects every tick, so the
    // ones already seen skip the tokenizing.
    if (!this.publishSubjects.has(subject)) {
      assertPublishSubject(subject);
      if (this.publishSubjects.size >= MAX_REMEMBERED_SUBJECTS) this.publishSubjects.clear();
      this.publishSubjects.add(subject);
    }
    if (!(data instanceof Uint8Array)) throw invalid('data must be a Uint8Array');
    if (data.byteLength > MAX_PAYLOAD_BYTES) throw invalid(`payload of ${data.byteLength} bytes exceeds ${MAX_PAYLOAD_BYTES}`);
    this.out.push({ t: 'publish', subject, data });
  }

  subscribe(subject: string, handler: (msg: BusMessage) => void): Subscription {
    this.check();
    assertSubscribeSubject(subject);
    fn(handler, 'handler');
    const sid = this.nextRef++;
    this.subs.set(sid, handler);
    this.call('subscribe', { sid, subject }).catch((err: unknown) => {
      // The server refused it (its bus is closing): nothing will arrive.
      if (this.subs.delete(sid) && !this.closing) this.reportError(err);
    });
    return {
      unsubscribe: () => {
        if (this.subs.delete(sid)) this.post({ t: 'unsubscribe', sid });
      },
    };
  }

  answerPresence(subject: string): Subscription {
    this.check();
    str(subject, 'subject');
    const pid = this.nextRef++;
    let live = true;
    this.call('presence-on', { pid, subject }).catch((err: unknown) => {
      if (live && !this.closing) this.reportError(err);
    });
    return {
      unsubscribe: () => {
        if (!live) return;
        live = false;
        if (!this.closing) this.post({ t: 'unsubscribe', sid: pid });
      },
    };
  }

  async probePresence(subject: string, timeoutMs: number): Promise<PresenceAnswer> {
    if (this.closing) return 'unknown';
    try {
      return await this.call('presence-probe', { subject: str(subject, 'subject'), timeoutMs: num(timeoutMs, 'timeoutMs') });
    } catch {
      // The contract never rejects: a probe that could not be asked learned nothing.
      return 'unknown';
    }
  }

  flush(): Promise<void> {
    if (this.closing) return Promise.reject(new ClosedError('thread transport'));
    return this.call('flush', {});
  }

  async enqueue(queue: QueueName, msgId: string, data: Uint8Array): Promise<EnqueueResult> {
    this.check();
    return this.call('enqueue', { queue: str(queue, 'queue'), msgId: str(msgId, 'msgId'), data: bytes(data, 'data') });
  }

  async consume(queue: QueueName, options: ConsumeOptions, handler: WorkHandler): Promise<WorkConsumer> {
    this.check();
    str(queue, 'queue');
    assertPrefetch(options?.prefetch);
    fn(handler, 'handler');
    const cid = this.nextRef++;
    const c = new BridgedConsumer(this, 'consume-stop', cid, handler);
    // Registered before the call: deliveries may come before its answer.
    this.consumers.set(cid, c);
    try {
      await this.call('consume', { cid, queue, prefetch: options.prefetch });
    } catch (err) {
      this.consumers.delete(cid);
      throw err;
    }
    return c;
  }

  async queueStats(queue: QueueName): Promise<QueueStats> {
    this.check();
    return this.call('queue-stats', { queue: str(queue, 'queue') });
  }

  async deadLetters(limit?: number): Promise<DeadLetter[]> {
    this.check();
    return this.call('dead-letters', limit === undefined ? {} : { limit: num(limit, 'limit') });
  }

  async deadLetterCount(): Promise<number> {
    this.check();
    return this.call('dead-letter-count', {});
  }

  async consumeDeadLetters(handler: (dl: DeadLetter) => Promise<void>): Promise<WorkConsumer> {
    this.check();
    fn(handler, 'handler');
    const fid = this.nextRef++;
    const feed = new BridgedConsumer(this, 'dl-stop', fid, handler);
    this.feeds.set(fid, feed);
    try {
      await this.call('dl-consume', { fid });
    } catch (err) {
      this.feeds.delete(fid);
      throw err;
    }
    return feed;
  }

  async kv(bucket: BucketName): Promise<KvBucket> {
    this.check();
    const known = this.buckets.get(bucket);
    if (known) return known;
    const { name } = await this.call('kv', { bucket: str(bucket, 'bucket') });
    const b = this.buckets.get(bucket) ?? new BridgedKvBucket(this, bucket, name);
    this.buckets.set(bucket, b);
    return b;
  }

  onStatus(listener: (status: TransportStatus) => void): Subscription {
    this.check();
    fn(listener, 'listener');
    const lid = this.nextRef++;
    this.statusListeners.set(lid, listener);
    this.call('status-on', { lid }).catch((err: unknown) => {
      if (this.statusListeners.has(lid) && !this.closing) notify(listener, { type: 'error', error: errorMessage(err) });
    });
    return {
      unsubscribe: () => {
        if (this.statusListeners.delete(lid)) this.post({ t: 'status-off', lid });
      },
    };
  }

  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  // ---- for the message, consumer and bucket objects ----

  /** Queue a one-way frame; dropped once the port is closed. */
  post(frame: BridgeRequest): void {
    if (!this.closed) this.out.push(frame);
  }

  /** Send request `t` and resolve with its answer (checked against what `t` answers with). */
  call<T extends BridgeCallType>(t: T, body: CallBody<T>): Promise<BridgeReplyValue<T>> {
    if (this.closed) return Promise.reject(new ClosedError('thread transport'));
    const id = this.nextId++;
    return new Promise<BridgeReplyValue<T>>((resolve, reject) => {
      this.pending.set(id, { t, resolve: resolve as (v: unknown) => void, reject });
      this.out.push({ ...body, t, id } as unknown as BridgeRequest);
    });
  }

  settled(msg: BridgedWorkMessage): void {
    this.unsettled.unregister(msg);
  }

  async watch(bucket: BucketName, onChange: (change: KvChange) => void, prefix: string | undefined): Promise<Subscription> {
    const wid = this.nextRef++;
    this.watches.set(wid, onChange);
    try {
      await this.call('kv-watch', prefix === undefined ? { wid, bucket } : { wid, bucket, prefix });
    } catch (err) {
      this.watches.delete(wid);
      throw err;
    }
    return {
      unsubscribe: () => {
        if (this.watches.delete(wid)) this.post({ t: 'kv-unwatch', wid });
      },
    };
  }

  async stopConsumer(c: BridgedConsumer<unknown>): Promise<void> {
    try {
      await this.call(c.kind, c.kind === 'consume-stop' ? { cid: c.ref } : { fid: c.ref });
    } catch (err) {
      // Stopping after close (or after the bus thread went away) is harmless.
      if ((err as { code?: unknown }).code !== 'SW_ERR_CLOSED') throw err;
    } finally {
      if (c.kind === 'consume-stop') this.consumers.delete(c.ref);
      else this.feeds.delete(c.ref);
    }
  }

  // ---- internals ----

  private check(): void {
    if (this.closing) throw new ClosedError('thread transport');
  }

  private reportError(err: unknown): void {
    this.errorCount++;
    const status: TransportStatus = { type: 'error', error: errorMessage(err) };
    for (const l of this.statusListeners.values()) notify(l, status);
  }

  private failPending(id: number, err: Error): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.reject(err);
  }

  private readonly onMessage = (batch: unknown): void => {
    const frames: unknown[] = Array.isArray(batch) ? batch : [batch];
    for (const raw of frames) {
      try {
        const c = checkBridgeEvent(raw);
        if (!c.ok) {
          const err = new ProtocolError(c.code, c.error);
          this.reportError(err);
          if (c.id !== null) this.failPending(c.id, err);
          continue;
        }
        this.dispatch(c.frame);
      } catch (err) {
        this.reportError(err);
      }
    }
  };

  private dispatch(f: BridgeEvent): void {
    switch (f.t) {
      case 'reply': {
        const p = this.pending.get(f.id);
        if (!p) return;
        this.pending.delete(f.id);
        if (!f.ok) return p.reject(fromBridgeError(f.error));
        const bad = checkBridgeReplyValue(p.t, f.value);
        if (bad !== null) return p.reject(new ProtocolError('SW_ERR_SCHEMA', bad));
        return p.resolve(f.value);
      }
      case 'deliver': {
        const handler = this.subs.get(f.sid);
        if (!handler) return;
        try {
          handler({ subject: f.subject, data: f.data });
        } catch (err) {
          // A subscriber's bug must not stop delivery to the others.
          this.reportError(err);
        }
        return;
      }
      case 'work':
        return this.runWork(f);
      case 'dl':
        return this.runDeadLetter(f);
      case 'kv-change': {
        const onChange = this.watches.get(f.wid);
        if (!onChange) return;
        try {
          onChange({ key: f.key, value: f.value, revision: f.revision });
        } catch (err) {
          this.reportError(err);
        }
        return;
      }
      case 'status': {
        const l = this.statusListeners.get(f.lid);
        if (l) notify(l, f.status);
        return;
      }
    }
  }

  /**
   * Run a consumer's handler on one delivery, then tell the server it
   * returned, or that it rejected (with its error): the server's handler
   * then rejects the same way, and the real transport does with it what it
   * does with any handler's rejection (embedded-queue.ts: report it, and nak
   * the message at once unless the handler settled it).
   */
  private runWork(f: BridgeEventOf<'work'>): void {
    const c = this.consumers.get(f.cid);
    if (!c) {
      // Not ours any more: back to the queue at once.
      this.post({ t: 'nak', did: f.did, delayMs: 0 });
      this.post({ t: 'done', did: f.did });
      return;
    }
    const msg = new BridgedWorkMessage(this, f.did, f);
    this.unsettled.register(msg, f.did, msg);
    const did = f.did;
    let run: Promise<void>;
    try {
      run = Promise.resolve(c.handler(msg));
    } catch (err) {
      run = Promise.reject(err);
    }
    run.then(
      () => this.post({ t: 'done', did }),
      (err: unknown) => {
        // The transport owns an unsettled message now: nothing to forget.
        this.unsettled.unregister(msg);
        this.post({ t: 'done', did, error: toBridgeError(err) });
      },
    );
  }

  private runDeadLetter(f: BridgeEventOf<'dl'>): void {
    const feed = this.feeds.get(f.fid);
    const did = f.did;
    if (!feed) {
      // Rejected: the feed hands it to a handler again later.
      this.post({ t: 'dl-done', did, error: toBridgeError(new ClosedError('dead-letter feed')) });
      return;
    }
    let run: Promise<void>;
    try {
      run = Promise.resolve(feed.handler(f.record));
    } catch (err) {
      run = Promise.reject(err);
    }
    run.then(
      () => this.post({ t: 'dl-done', did }),
      (err: unknown) => this.post({ t: 'dl-done', did, error: toBridgeError(err) }),
    );
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    if (!this.closed) {
      // Let running handlers finish and settle, but not forever: the server
      // naks what is still unsettled when it releases this client.
      const stops = [...this.consumers.values(), ...this.feeds.values()].map((c) => c.stop().catch(() => undefined));
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.closeTimeoutMs);
        timer.unref();
      });
      await Promise.race([Promise.all(stops), bound]);
      clearTimeout(timer);
      try {
        await this.call('close', {});
      } catch {
        // The bus thread is gone already: it released everything itself.
      }
    }
    this.finish(false);
  }

  private readonly onPortClose = (): void => this.finish(!this.closing);

  /** The port is closed, or closes now: fail what waits, drop what is held. */
  private finish(unexpected: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.closing = true;
    this.out.close();
    this.port.off('message', this.onMessage);
    this.port.close();
    for (const [id, p] of this.pending) {
      const err = new ClosedError('thread transport');
      err.message = `thread transport: the port closed before the answer to ${p.t}`;
      this.pending.delete(id);
      p.reject(err);
    }
    const listeners = [...this.statusListeners.values()];
    this.subs.clear();
    this.watches.clear();
    this.statusListeners.clear();
    this.consumers.clear();
    this.feeds.clear();
    this.buckets.clear();
    if (unexpected) for (const l of listeners) notify(l, { type: 'disconnected' });
  }
}

function notify(listener: (status: TransportStatus) => void, status: TransportStatus): void {
  try {
    listener(status);
  } catch {
    // A status listener that throws must not break the bus; nothing else to tell.
  }
}
