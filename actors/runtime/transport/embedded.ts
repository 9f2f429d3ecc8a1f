/**
 * The in-process bus for `npm start` on a bare machine: everything the NATS
 * transport offers, in memory, in one process. Pub/sub runs on mqemitter
 * (embedded-pubsub.ts), work queues are embedded-queue.ts, KV buckets
 * embedded-kv.ts. It passes the same contract suite as the NATS transport
 * (test/contract/transport.contract.ts); nothing survives a restart.
 */
import { ClosedError, StarWeatherError, errorMessage } from '../../../protocol/errors.js';
import { DeadLetterMessage, type DeadLetter } from '../../../protocol/messages/dead-letter.js';
import { QUEUES, names as makeNames, type Names, type QueueName } from '../../../protocol/names.js';
import { DEFAULT_TOPOLOGY, type TopologySettings } from '../../../protocol/topology.js';
import type {
  BucketName,
  BusMessage,
  ConsumeOptions,
  EnqueueResult,
  KvBucket,
  QueueStats,
  Subscription,
  Transport,
  TransportStatus,
  WorkConsumer,
  WorkHandler,
  PresenceAnswer,
} from '../../../protocol/transport.js';
import { EmbeddedKvBucket } from './embedded-kv.js';
import { EmbeddedPubSub, MAX_PAYLOAD_BYTES } from './embedded-pubsub.js';
import { WorkQueue, assertPrefetch, type QueueHost } from './embedded-queue.js';
import { Ring } from './embedded-ring.js';

export interface EmbeddedTransportOptions {
  /** Subjects and bucket names; default names('sw'). */
  names?: Names;
  /** AckWait, MaxDeliver, de-dup window, dead-letter age; missing fields take DEFAULT_TOPOLOGY. */
  topology?: Partial<TopologySettings>;
  /**
   * Dead letters kept in memory at most (oldest dropped first), besides
   * `deadLetterMaxAgeMs`: an in-process list must not grow without bound.
   */
  maxDeadLetters?: number;
}

const BUCKETS: readonly BucketName[] = ['members', 'leases', 'shards'];

function invalid(message: string): StarWeatherError {
  return new StarWeatherError('SW_ERR_INVALID_ARGUMENT', message);
}

export function assertTopologySettings(s: TopologySettings): void {
  const int = (key: keyof TopologySettings, min: number): void => {
    const v = s[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw invalid(`topology.${key} must be an integer ≥ ${min} (got ${String(v)})`);
  };
  int('ackWaitMs', 1);
  int('maxDeliver', 1);
  int('dedupeWindowMs', 0);
  int('replicas', 1);
  int('deadLetterMaxAgeMs', 0);
}

const CODE_RE = /^SW_ERR_[A-Z_]+$/;
const MAX_REASON = 4000;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The `id` and `kind` of a WorkTask envelope, when the bytes are one; dead
 * letters carry them for operators. The bytes may be anything: a malformed
 * task is one of the reasons a dead letter exists.
 */
function sniffTask(data: Uint8Array): { id: string | null; kind: string | null } {
  try {
    const v: unknown = JSON.parse(utf8.decode(data));
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return { id: null, kind: null };
    const o = v as Record<string, unknown>;
    return { id: typeof o.id === 'string' ? o.id : null, kind: typeof o.kind === 'string' ? o.kind : null };
  } catch {
    return { id: null, kind: null };
  }
}

export class EmbeddedTransport implements Transport, QueueHost {
  readonly kind = 'embedded' as const;
  readonly names: Names;
  readonly settings: TopologySettings;
  /** Handler and subscriber exceptions, and dead letters that could not be recorded. */
  errorCount = 0;

  private readonly pubsub: EmbeddedPubSub;
  private readonly queues = new Map<QueueName, WorkQueue>();
  private readonly buckets = new Map<BucketName, EmbeddedKvBucket>();
  /** Presence subjects and how many answerers each has. */
  private readonly presence = new Map<string, number>();
  private readonly deadLetterList = new Ring<DeadLetter>(16);
  private readonly deadLetterAt = new Ring<number>(16);
  private readonly deadLetterKeys = new Ring<string>(16);
  private readonly deadLetterSeen = new Set<string>();
  private readonly maxDeadLetters: number;
  /** Dead letters not yet taken by a consumeDeadLetters handler. */
  private feedBacklog: Array<{ dl: DeadLetter; attempt: number; notBefore?: number }> = [];
  private feeds: Array<{ handler: (dl: DeadLetter) => Promise<void>; stopped: boolean }> = [];
  private feedTurn = 0;
  private feedBusy = false;
  private feedRunning: Promise<void> = Promise.resolve();
  private feedTimer: NodeJS.Timeout | null = null;
  private readonly statusListeners = new Set<(status: TransportStatus) => void>();
  private sweepTimer: NodeJS.Timeout | null;
  /** close() called: new work is refused. */
  private closing = false;
  private closePromise: Promise<void> | null = null;
  /** close() finished: settling calls are refused too. */
  closed = false;

  constructor(options: EmbeddedTransportOptions = {}) {
    this.names = options.names ?? makeNames();
    this.settings = { ...DEFAULT_TOPOLOGY, ...options.topology };
    assertTopologySettings(this.settings);
    this.maxDeadLetters = options.maxDeadLetters ?? 100_000;
    if (!Number.isSafeInteger(this.maxDeadLetters) || this.maxDeadLetters < 1) throw invalid('maxDeadLetters must be a positive integer');
    this.pubsub = new EmbeddedPubSub((err) => this.reportError(err));
    for (const q of QUEUES) this.queues.set(q, new WorkQueue(q, this.settings, this));
    for (const b of BUCKETS) {
      this.buckets.set(b, new EmbeddedKvBucket(this.names.buckets[b], () => this.closing, (err) => this.reportError(err)));
    }
    // One coarse sweep for every ack deadline and the de-dup window, instead
    // of a timer per message: deadlines are late by at most one tick.
    const tick = Math.min(250, Math.max(5, Math.floor(this.settings.ackWaitMs / 10)));
    this.sweepTimer = setInterval(this.sweep, tick);
  }

  async provision(): Promise<void> {
    this.check();
    // Nothing to create in memory; the settings were checked in the constructor.
    assertTopologySettings(this.settings);
  }

  publish(subject: string, data: Uint8Array): void {
    this.check();
    this.pubsub.publish(subject, data);
  }

  subscribe(subject: string, handler: (msg: BusMessage) => void): Subscription {
    this.check();
    return this.pubsub.subscribe(subject, handler);
  }

  answerPresence(subject: string): Subscription {
    this.check();
    if (typeof subject !== 'string' || subject.length === 0) throw invalid('presence subject must be a non-empty string');
    this.presence.set(subject, (this.presence.get(subject) ?? 0) + 1);
    let live = true;
    return {
      unsubscribe: () => {
        if (!live) return;
        live = false;
        const left = (this.presence.get(subject) ?? 1) - 1;
        if (left > 0) this.presence.set(subject, left);
        else this.presence.delete(subject);
      },
    };
  }

  async probePresence(subject: string): Promise<PresenceAnswer> {
    // One process: every answerer is in this map, so absence is known exactly.
    if (this.closing) return 'unknown';
    return (this.presence.get(subject) ?? 0) > 0 ? 'present' : 'absent';
  }

  flush(): Promise<void> {
    if (this.closing) return Promise.reject(new ClosedError('embedded transport'));
    return this.pubsub.flush();
  }

  async enqueue(queue: QueueName, msgId: string, data: Uint8Array): Promise<EnqueueResult> {
    this.check();
    const q = this.queue(queue);
    if (typeof msgId !== 'string' || msgId.length === 0 || msgId.length > 1024 || /[\r\n]/.test(msgId)) {
      throw invalid(`msgId must be a non-empty single-line string of at most 1024 characters`);
    }
    if (!(data instanceof Uint8Array)) throw invalid('data must be a Uint8Array');
    if (data.byteLength > MAX_PAYLOAD_BYTES) throw invalid(`payload of ${data.byteLength} bytes exceeds ${MAX_PAYLOAD_BYTES}`);
    // Stored as a copy, as a server would: the caller may reuse its buffer.
    // Buffer.from copies small payloads into Node's shared pool slab; a
    // separate ArrayBuffer per task costs more to allocate and to collect
    // than the rest of the hot path together.
    return q.enqueue(msgId, Buffer.from(data), Date.now());
  }

  async consume(queue: QueueName, options: ConsumeOptions, handler: WorkHandler): Promise<WorkConsumer> {
    this.check();
    const q = this.queue(queue);
    assertPrefetch(options?.prefetch);
    if (typeof handler !== 'function') throw invalid('handler must be a function');
    return q.consume(options.prefetch, handler);
  }

  async queueStats(queue: QueueName): Promise<QueueStats> {
    this.check();
    return this.queue(queue).stats();
  }

  /** The oldest `limit` (default 100, as the NATS transport) dead letters still kept. */
  async deadLetters(limit = 100): Promise<DeadLetter[]> {
    this.check();
    if (!Number.isSafeInteger(limit) || limit < 0) throw invalid('limit must be a non-negative integer');
    const take = Math.min(limit, this.deadLetterList.length);
    const out: DeadLetter[] = [];
    for (let i = 0; i < take; i++) out.push(this.deadLetterList.at(i)!);
    return out;
  }

  async deadLetterCount(): Promise<number> {
    this.check();
    return this.deadLetterList.length;
  }

  async kv(bucket: BucketName): Promise<KvBucket> {
    this.check();
    const b = this.buckets.get(bucket);
    if (!b) throw invalid(`unknown bucket ${JSON.stringify(bucket)} (expected one of ${BUCKETS.join(', ')})`);
    return b;
  }

  onStatus(listener: (status: TransportStatus) => void): Subscription {
    this.check();
    if (typeof listener !== 'function') throw invalid('listener must be a function');
    this.statusListeners.add(listener);
    // In process there is nothing to lose: the one state change a listener
    // will ever see is that it is connected.
    setImmediate(() => {
      if (this.statusListeners.has(listener)) this.notify(listener, { type: 'connected' });
    });
    return { unsubscribe: () => void this.statusListeners.delete(listener) };
  }

  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  // ---- QueueHost ----

  recordDeadLetter(queue: QueueName, msgId: string, data: Uint8Array, deliveries: number, code: string, reason: string, from: 'delivery' | 'advisory'): void {
    const key = `${queue}\u0000${msgId}`;
    if (this.deadLetterSeen.has(key)) return;
    // As in nats-dead-letter.ts: a bad code must not leave the task stuck, so
    // it becomes SW_ERR_HANDLER and the given one is kept in the reason.
    if (!CODE_RE.test(code)) {
      reason = `[${code}] ${reason}`;
      code = 'SW_ERR_HANDLER';
    }
    if (reason.length > MAX_REASON) reason = reason.slice(0, MAX_REASON - 1) + '…';
    const task = sniffTask(data);
    const record: DeadLetter = DeadLetterMessage.assert({
      v: 1,
      queue,
      // The msgId is the task id by convention (WorkTask.id doubles as Nats-Msg-Id).
      taskId: task.id ?? msgId,
      kind: task.kind,
      code,
      reason,
      deliveries,
      failedAt: new Date().toISOString(),
      original: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'),
      msgId,
      deliveriesFrom: from,
    });
    this.deadLetterSeen.add(key);
    this.deadLetterList.push(record);
    this.deadLetterAt.push(Date.now());
    this.deadLetterKeys.push(key);
    while (this.deadLetterList.length > this.maxDeadLetters) this.dropOldestDeadLetter();
    if (!this.closed) this.pubsub.publish(this.names.subjects.deadLetter(queue), DeadLetterMessage.encode(record));
    this.feedBacklog.push({ dl: record, attempt: 0 });
    while (this.feedBacklog.length > this.maxDeadLetters) this.feedBacklog.shift();
    this.pumpFeeds();
  }

  /**
   * The durable feed, in memory: every dead letter recorded since start
   * waits in a backlog until a registered handler resolved for it; a
   * rejection puts it back after a growing delay (1 s doubling to 60 s).
   * One record is handled at a time.
   */
  async consumeDeadLetters(handler: (dl: DeadLetter) => Promise<void>): Promise<WorkConsumer> {
    this.check();
    if (typeof handler !== 'function') throw invalid('handler must be a function');
    const feed = { handler, stopped: false };
    this.feeds.push(feed);
    this.pumpFeeds();
    return {
      stop: async () => {
        feed.stopped = true;
        this.feeds = this.feeds.filter((f) => f !== feed);
        await this.feedRunning;
      },
    };
  }

  private pumpFeeds(): void {
    if (this.feedBusy || this.closing) return;
    const now = Date.now();
    const i = this.feedBacklog.findIndex((e) => (e.notBefore ?? 0) <= now);
    const feed = this.feeds[this.feedTurn++ % Math.max(1, this.feeds.length)];
    if (i < 0 || !feed) {
      const next = this.feedBacklog.reduce((m, e) => Math.min(m, e.notBefore ?? 0), Number.POSITIVE_INFINITY);
      if (feed && Number.isFinite(next) && !this.feedTimer) {
        this.feedTimer = setTimeout(() => {
          this.feedTimer = null;
          this.pumpFeeds();
        }, Math.max(0, next - now));
        this.feedTimer.unref();
      }
      return;
    }
    const [entry] = this.feedBacklog.splice(i, 1);
    this.feedBusy = true;
    this.feedRunning = (async () => {
      try {
        await feed.handler(entry!.dl);
      } catch (err) {
        this.reportError(err);
        entry!.attempt++;
        entry!.notBefore = Date.now() + Math.min(60_000, 1000 * 2 ** Math.min(6, entry!.attempt - 1));
        this.feedBacklog.push(entry!);
      } finally {
        this.feedBusy = false;
      }
      setImmediate(() => this.pumpFeeds());
    })();
  }

  reportError(err: unknown): void {
    this.errorCount++;
    const status: TransportStatus = { type: 'error', error: errorMessage(err) };
    for (const l of this.statusListeners) this.notify(l, status);
  }

  // ---- internals ----

  private readonly sweep = (): void => {
    const now = Date.now();
    for (const q of this.queues.values()) q.sweep(now);
    const maxAge = this.settings.deadLetterMaxAgeMs;
    if (maxAge > 0) {
      while (this.deadLetterAt.length > 0 && this.deadLetterAt.peek()! <= now - maxAge) this.dropOldestDeadLetter();
    }
  };

  private dropOldestDeadLetter(): void {
    this.deadLetterList.shift();
    this.deadLetterAt.shift();
    this.deadLetterSeen.delete(this.deadLetterKeys.shift()!);
  }

  private notify(listener: (status: TransportStatus) => void, status: TransportStatus): void {
    try {
      listener(status);
    } catch {
      // A status listener that throws must not break the bus; nothing else to tell.
    }
  }

  private queue(queue: QueueName): WorkQueue {
    const q = this.queues.get(queue);
    if (!q) throw invalid(`unknown queue ${JSON.stringify(queue)} (expected one of ${QUEUES.join(', ')})`);
    return q;
  }

  private check(): void {
    if (this.closing) throw new ClosedError('embedded transport');
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    // Let running handlers finish and settle their tasks, but not forever: a
    // stuck handler would have its task redelivered after AckWait anyway.
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.settings.ackWaitMs);
    });
    await Promise.race([Promise.all([...this.queues.values()].map((q) => q.stopConsumers())), bound]);
    clearTimeout(timer);
    await this.pubsub.flush();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    if (this.feedTimer) clearTimeout(this.feedTimer);
    this.feedTimer = null;
    this.feeds = [];
    await this.feedRunning;
    for (const q of this.queues.values()) q.shutdown();
    for (const b of this.buckets.values()) b.close();
    this.statusListeners.clear();
    this.closed = true;
    await this.pubsub.close();
  }
}
