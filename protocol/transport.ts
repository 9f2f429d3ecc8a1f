/**
 * The bus contract. Two implementations exist: NATS JetStream
 * (actors/runtime/transport/nats.ts) for cluster mode and an in-process one on
 * mqemitter (actors/runtime/transport/embedded.ts) for `npm start` on a bare
 * machine. Both pass test/contract/transport.contract.ts; nothing above this
 * interface may depend on which one it has.
 *
 * Bytes in, bytes out: message schemas and codecs live in protocol/messages,
 * and are applied by the runtime, not by the transport.
 */
import type { QueueName } from './names.js';
import type { DeadLetter } from './messages/dead-letter.js';

export interface BusMessage {
  subject: string;
  data: Uint8Array;
}

export interface Subscription {
  unsubscribe(): void;
}

/**
 * What a presence probe learned: `present`, a live subscriber answered;
 * `absent`, the bus knows of no subscriber at all (NATS: "no responders",
 * the host's connection is gone); `unknown`, no answer in time or we are not
 * connected ourselves (a paused or busy host looks like this, never absent).
 */
export type PresenceAnswer = 'present' | 'absent' | 'unknown';

export interface EnqueueResult {
  /** True when the message id was seen inside the de-duplication window. */
  duplicate: boolean;
  /** Stream sequence (NATS) or a local counter (embedded). */
  seq: number;
}

/** One delivered work item. Exactly one of ack / nak / term / deadLetter must be called. */
export interface WorkMessage {
  readonly queue: QueueName;
  /** The Nats-Msg-Id the task was enqueued with. */
  readonly msgId: string;
  readonly data: Uint8Array;
  /** 1 on first delivery. */
  readonly deliveryCount: number;
  /** The queue's MaxDeliver, so the runtime knows when a failure is final. */
  readonly maxDeliver: number;
  /** Extends the ack deadline by one more AckWait (long tasks). */
  working(): void;
  /** Resolves once the server has confirmed the ack (double ack on NATS). */
  ack(): Promise<void>;
  /** Redeliver after `delayMs` (0: as soon as possible). */
  nak(delayMs?: number): void;
  /**
   * Give up on the task: record it on the dead-letter stream with `reason`,
   * then remove it from the work queue. Idempotent per (queue, msgId).
   */
  deadLetter(code: string, reason: string): Promise<void>;
}

export interface WorkConsumer {
  /** Stop taking new work; resolves when in-flight handlers have returned. */
  stop(): Promise<void>;
}

export interface ConsumeOptions {
  /** At most this many handler calls in flight for this queue at once. */
  prefetch: number;
}

export type WorkHandler = (msg: WorkMessage) => Promise<void>;

export interface KvEntry {
  key: string;
  value: Uint8Array;
  /** Monotonic per bucket; the compare-and-set token. */
  revision: number;
}

export interface KvChange {
  key: string;
  /** null when the key was deleted. */
  value: Uint8Array | null;
  revision: number;
}

export interface KvBucket {
  readonly name: string;
  get(key: string): Promise<KvEntry | null>;
  /** Unconditional write; returns the new revision. */
  put(key: string, value: Uint8Array): Promise<number>;
  /** Write only if the key is absent (or deleted). Throws CasConflictError otherwise. */
  create(key: string, value: Uint8Array): Promise<number>;
  /** Write only if the current revision is `revision`. Throws CasConflictError otherwise. */
  update(key: string, value: Uint8Array, revision: number): Promise<number>;
  /** Delete; with `revision`, only if it is still current (CasConflictError otherwise). */
  delete(key: string, revision?: number): Promise<void>;
  /** Live keys (optionally those starting with `prefix`). */
  keys(prefix?: string): Promise<string[]>;
  /** All live entries (optionally filtered by prefix). */
  entries(prefix?: string): Promise<KvEntry[]>;
  /** Changes after the call, in revision order. */
  watch(onChange: (change: KvChange) => void, prefix?: string): Promise<Subscription>;
}

export type BucketName = 'members' | 'leases' | 'shards';

export interface QueueStats {
  /** Messages not yet acked (pending + in flight). */
  depth: number;
  /** Delivered and not yet acked. */
  inFlight: number;
}

export interface Transport {
  readonly kind: 'nats' | 'embedded';
  /** Create or update streams, consumers and buckets, then verify them. Idempotent. */
  provision(): Promise<void>;

  /** Core pub/sub: fire and forget, no persistence (1 Hz state, status). */
  publish(subject: string, data: Uint8Array): void;
  /** NATS-style subjects: `*` matches one token, `>` the rest. */
  subscribe(subject: string, handler: (msg: BusMessage) => void): Subscription;
  /** Resolves once everything published so far has reached the server. */
  flush(): Promise<void>;

  /** Answer presence probes on `subject` until unsubscribed (one subject per live host). */
  answerPresence(subject: string): Subscription;
  /** Probe `subject`: see PresenceAnswer. Never rejects. */
  probePresence(subject: string, timeoutMs: number): Promise<PresenceAnswer>;

  /** Durable publish to a work queue, de-duplicated by `msgId`. Resolves once stored. */
  enqueue(queue: QueueName, msgId: string, data: Uint8Array): Promise<EnqueueResult>;
  consume(queue: QueueName, options: ConsumeOptions, handler: WorkHandler): Promise<WorkConsumer>;
  queueStats(queue: QueueName): Promise<QueueStats>;

  /** Dead letters, oldest first (for status, the API and tests). */
  deadLetters(limit?: number): Promise<DeadLetter[]>;
  deadLetterCount(): Promise<number>;
  /**
   * Dead letters as a durable feed (the storage relay): each record is handed
   * to one of the registered handlers at least once, oldest first, and again
   * after a rejection, until a handler resolves for it. Several processes may
   * register; they share the feed like workers share a queue.
   */
  consumeDeadLetters(handler: (dl: DeadLetter) => Promise<void>): Promise<WorkConsumer>;

  kv(bucket: BucketName): Promise<KvBucket>;

  /** Observe connection state changes (reconnects, disconnects). */
  onStatus(listener: (status: TransportStatus) => void): Subscription;
  /** Stop consumers, flush, close. Safe to call twice. */
  close(): Promise<void>;
}

export type TransportStatus =
  | { type: 'connected' }
  | { type: 'disconnected' }
  | { type: 'reconnecting' }
  | { type: 'reconnected' }
  | { type: 'error'; error: string };
