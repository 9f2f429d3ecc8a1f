/**
 * The Transport for cluster mode: core NATS for fire-and-forget state,
 * JetStream work-queue streams for tasks, a limits stream for dead letters,
 * and JetStream KV for membership, leases and shard maps.
 *
 * Guarantees (RELIABILITY.md): enqueue is at-least-once and de-duplicated by
 * Nats-Msg-Id, retried with the same id across reconnects and leader
 * elections; ack is a double ack; a task that exhausts MaxDeliver is moved
 * to the dead-letter stream even when no handler ever settled it (the
 * MAX_DELIVERIES advisory path, with the advisories also stored in a stream
 * for the sweep), always with a delivery count that was observed, never a
 * configured one; the topology is read back after provisioning.
 */
import type { NatsAuthOptions } from './nats-auth.js';
import { ClosedConnectionError, NoRespondersError, connect, headers as natsHeaders, type NatsConnection, type Msg as NatsMsg, type Status, type Subscription as NatsSubscription } from '@nats-io/transport-node';
import { JetStreamApiError, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type JsMsg, type ConsumerInfo } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { ClosedError, StarWeatherError } from '../../../protocol/errors.js';
import { QUEUES, type Names, type QueueName } from '../../../protocol/names.js';
import { DEFAULT_TOPOLOGY, topology, type Topology, type TopologySettings } from '../../../protocol/topology.js';
import { DeadLetterMessage, type DeadLetter } from '../../../protocol/messages/dead-letter.js';
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
  WorkMessage,
  PresenceAnswer,
} from '../../../protocol/transport.js';
import { PullLoop } from './nats-consume.js';
import { DeadLetterFeed, deadLetterMsgId, encodeDeadLetter, parseExhaustedAdvisory, requeueMsgId, sweepVerdict, type ExhaustedAdvisory } from './nats-dead-letter.js';
import { backoffMs, describe, isClosed, isNotFound, isTransient, sleep } from './nats-errors.js';
import { NatsKvBucket } from './nats-kv.js';
import { provisionTopology } from './nats-provision.js';
import { ReplyMux } from './nats-reply.js';

export interface NatsTransportOptions {
  /** One URL or several (a cluster); the client fails over between them. */
  servers: string | string[];
  names: Names;
  topology?: TopologySettings;
  /** Connection name shown by the server (`nats server report connections`). */
  name?: string;
  /** How long enqueue() keeps retrying a publish before SW_ERR_TRANSPORT (default 30 s). */
  enqueueTimeoutMs?: number;
  /** How long provision() retries transient failures, e.g. no meta leader yet (default 30 s). */
  provisionTimeoutMs?: number;
  /** One JetStream API request or publish ack (default 5 s). */
  requestTimeoutMs?: number;
  /**
   * Sweep for tasks that exhausted MaxDeliver but whose advisory was missed
   * (default true). Off only to test the advisory path on its own.
   */
  exhaustedSweep?: boolean;
  /** Errors from background work (consume loops, the advisory handler). */
  onError?: (err: unknown, context: string) => void;
  /** Credentials and TLS (nats-auth.ts natsAuthOptions); absent: none. */
  auth?: NatsAuthOptions;
}

const MSG_ID_RE = /^[\x21-\x7e]{1,512}$/;
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
const ACK = new TextEncoder().encode('+ACK');
const EMPTY = new Uint8Array(0);
/** How long the first publish attempt waits for its ack (publishDurable). */
const PUBLISH_FIRST_ATTEMPT_MS = 1000;
const utf8 = new TextDecoder();
const BUCKETS: readonly BucketName[] = ['members', 'leases', 'shards'];
const SWEEP_INTERVAL_MS = 15_000;
const SWEEP_MAX_SCAN = 1000;
const SWEEP_CONFIRM_MS = 2000;
const SWEEP_MIN_GAP_MS = 5000;
/** Stored advisories read back per sweep at most (newest first). */
const ADVISORY_SCAN = 5000;
/** An unobserved stuck message is requeued this many times at most, then left and reported. */
const MAX_REQUEUES = 3;
const REQUEUES_HEADER = 'Sw-Requeues';

export async function connectNats(opts: NatsTransportOptions): Promise<NatsTransport> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: opts.servers,
      name: opts.name ?? `starweather-${process.pid}`,
      // Never give up: a worker that stops reconnecting is a silent outage.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      reconnectJitter: 500,
      // A partitioned (not crashed) server is noticed within ~15 s.
      pingInterval: 5000,
      maxPingOut: 3,
      timeout: opts.requestTimeoutMs ?? 5000,
      // Otherwise every request, publish ack and double ack captures a stack
      // trace up front in case it times out: about a quarter of the CPU time
      // at thousands of tasks/s. Our errors name the operation themselves.
      noAsyncTraces: true,
      ...opts.auth,
    });
  } catch (err) {
    throw new StarWeatherError('SW_ERR_TRANSPORT', `cannot connect to NATS at ${String(opts.servers)}: ${describe(err)}`, { cause: err });
  }
  try {
    const requestTimeout = opts.requestTimeoutMs ?? 5000;
    const jsm = await jetstreamManager(nc, { timeout: requestTimeout });
    const js = jetstream(nc, { timeout: requestTimeout });
    return new NatsTransport(nc, js, jsm, opts);
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw new StarWeatherError('SW_ERR_TRANSPORT', `JetStream unavailable at ${String(opts.servers)}: ${describe(err)}`, { cause: err });
  }
}

export class NatsTransport implements Transport {
  readonly kind = 'nats' as const;
  readonly names: Names;
  readonly settings: TopologySettings;
  readonly topology: Topology;
  private readonly nc: NatsConnection;
  private readonly js: JetStreamClient;
  private readonly jsm: JetStreamManager;
  private readonly kvm: Kvm;
  /** Publish acks and double acks (see nats-reply.ts). */
  private readonly replies: ReplyMux;
  private readonly enqueueTimeoutMs: number;
  private readonly provisionTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly onError: (err: unknown, context: string) => void;
  private readonly loops = new Set<PullLoop>();
  private readonly feeds = new Set<DeadLetterFeed>();
  private readonly advisories = new Map<QueueName, NatsSubscription>();
  private readonly sweepTimers = new Map<QueueName, NodeJS.Timeout>();
  private readonly lastSweep = new Map<QueueName, number>();
  private readonly exhaustedSweep: boolean;
  private readonly statusListeners = new Set<(s: TransportStatus) => void>();
  private readonly buckets = new Map<BucketName, Promise<KvBucket>>();
  private closing: Promise<void> | null = null;
  /** False between a disconnect and the next reconnect. */
  private connected = true;
  /** Grows at every disconnect: a request that spans one was not answered by a connected bus. */
  private linkEpoch = 0;
  private readonly reconnectWaiters = new Set<() => void>();

  constructor(nc: NatsConnection, js: JetStreamClient, jsm: JetStreamManager, opts: NatsTransportOptions) {
    this.nc = nc;
    this.js = js;
    this.jsm = jsm;
    this.kvm = new Kvm(js);
    this.replies = new ReplyMux(nc);
    this.names = opts.names;
    this.settings = opts.topology ?? DEFAULT_TOPOLOGY;
    this.topology = topology(this.names, this.settings);
    this.enqueueTimeoutMs = opts.enqueueTimeoutMs ?? 30_000;
    this.provisionTimeoutMs = opts.provisionTimeoutMs ?? 30_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 5000;
    this.onError = opts.onError ?? (() => undefined);
    this.exhaustedSweep = opts.exhaustedSweep ?? true;
    void this.watchStatus();
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect') {
        this.connected = false;
        this.linkEpoch++;
      }
      if (s.type === 'reconnect') {
        this.connected = true;
        for (const w of this.reconnectWaiters) w();
      }
      const mapped = mapStatus(s);
      if (!mapped) continue;
      for (const l of this.statusListeners) {
        try {
          l(mapped);
        } catch (err) {
          this.onError(err, 'status listener');
        }
      }
    }
  }

  /** server_name of the server this client is connected to now (for status pages and fault tests). */
  get connectedServer(): string | null {
    return this.nc.isClosed() ? null : (this.nc.info?.server_name ?? null);
  }

  private assertOpen(what: string): void {
    if (this.closing || this.nc.isClosed()) throw new ClosedError(`NATS transport (${what})`);
  }

  /**
   * Resolves once connected (at once if we are), or at `deadline`. A request
   * written while disconnected is not answered after the reconnect (the
   * client times it out), so requests wait for the connection instead.
   */
  private untilConnected(deadline: number): Promise<void> {
    if (this.connected || this.closing) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.reconnectWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
      this.reconnectWaiters.add(done);
    });
  }

  /**
   * Runs a JetStream API call, retrying transient failures (disconnected,
   * leader election) within `budgetMs`, and maps failures to StarWeather errors.
   */
  private async api<T>(what: string, fn: () => Promise<T>, budgetMs = this.requestTimeoutMs * 2): Promise<T> {
    this.assertOpen(what);
    const deadline = Date.now() + budgetMs;
    for (let attempt = 0; ; attempt++) {
      await this.untilConnected(deadline);
      try {
        return await fn();
      } catch (err) {
        if (err instanceof StarWeatherError) throw err;
        if (isClosed(err) || this.closing) throw new ClosedError(`NATS transport (${what})`);
        if (isTransient(err) && Date.now() < deadline) {
          await sleep(Math.min(backoffMs(attempt, 100, 1000), Math.max(0, deadline - Date.now())));
          continue;
        }
        throw new StarWeatherError(isNotFound(err) ? 'SW_ERR_NOT_FOUND' : 'SW_ERR_TRANSPORT', `${what}: ${describe(err)}`, { cause: err });
      }
    }
  }

  private assertQueue(queue: QueueName): void {
    if (!(QUEUES as readonly string[]).includes(queue)) {
      throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `unknown queue ${JSON.stringify(queue)} (one of ${QUEUES.join(', ')})`);
    }
  }

  async provision(): Promise<void> {
    this.assertOpen('provision');
    await provisionTopology(this.jsm, this.kvm, this.topology, this.provisionTimeoutMs);
  }

  publish(subject: string, data: Uint8Array): void {
    this.assertOpen('publish');
    try {
      this.nc.publish(subject, data);
    } catch (err) {
      if (isClosed(err)) throw new ClosedError(`NATS transport (publish)`);
      throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `publish to ${JSON.stringify(subject)}: ${describe(err)}`, { cause: err });
    }
  }

  subscribe(subject: string, handler: (msg: BusMessage) => void): Subscription {
    this.assertOpen('subscribe');
    return this.coreSubscribe(subject, 'subscriber of', (msg) => handler({ subject: msg.subject, data: msg.data }));
  }

  /** A core NATS subscription whose callback errors and throws go to onError, never up the client's stack. */
  private coreSubscribe(subject: string, what: string, onMsg: (msg: NatsMsg) => void): Subscription {
    let sub: NatsSubscription;
    try {
      sub = this.nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) {
            this.onError(err, `${what} ${subject}`);
            return;
          }
          try {
            onMsg(msg);
          } catch (e) {
            this.onError(e, `${what} ${subject}`);
          }
        },
      });
    } catch (err) {
      throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `subscribe to ${JSON.stringify(subject)}: ${describe(err)}`, { cause: err });
    }
    return { unsubscribe: () => sub.unsubscribe() };
  }

  async flush(): Promise<void> {
    this.assertOpen('flush');
    await this.nc.flush();
  }

  answerPresence(subject: string): Subscription {
    this.assertOpen('answerPresence');
    // An empty answer is all a prober needs: someone holds the subscription.
    return this.coreSubscribe(subject, 'presence answerer of', (msg) => {
      if (msg.reply) msg.respond();
    });
  }

  async probePresence(subject: string, timeoutMs: number): Promise<PresenceAnswer> {
    // Absent is only believed from a bus we stayed connected to for the whole
    // probe: a reply lost in a reconnect proves nothing about the host.
    if (this.closing || !this.connected) return 'unknown';
    const epoch = this.linkEpoch;
    try {
      await this.replies.request(subject, EMPTY, Math.max(50, timeoutMs));
      return 'present';
    } catch (err) {
      const noResponders = err instanceof Error && (err.cause instanceof NoRespondersError || /no responders/i.test(err.message));
      return noResponders && this.connected && this.linkEpoch === epoch ? 'absent' : 'unknown';
    }
  }

  /**
   * A JetStream publish retried until confirmed or `enqueueTimeoutMs` passes.
   * Every retry carries the same Nats-Msg-Id, so a publish that was stored
   * but whose ack was lost comes back as a duplicate, not a second copy.
   */
  private async publishDurable(subject: string, stream: string, msgId: string, data: Uint8Array, extra?: Record<string, string>): Promise<EnqueueResult> {
    // Headers (msg id, expected stream) need a little room next to the data.
    const limit = this.maxPayload() - 512;
    if (data.length > limit) {
      throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `message ${msgId} is ${data.length} bytes; the server accepts at most ${limit}`);
    }
    const deadline = Date.now() + this.enqueueTimeoutMs;
    let lastErr: unknown = null;
    let streamCheck: Promise<void> | null = null;
    let streamMissing: boolean | null = null;
    let timeouts = 0;
    for (let attempt = 0; ; attempt++) {
      if (this.nc.isClosed()) throw new ClosedError('NATS transport (enqueue)');
      await this.untilConnected(deadline);
      const left = deadline - Date.now();
      if (left <= 0) break;
      try {
        const h = natsHeaders();
        h.set('Nats-Msg-Id', msgId);
        h.set('Nats-Expected-Stream', stream);
        for (const [k, v] of Object.entries(extra ?? {})) h.set(k, v);
        // A publish in flight when the stream leader dies is never answered;
        // waiting the whole request timeout for it (5 s) would outlast the
        // election (R3: 5 s of the stall). The first attempt waits 1 s and
        // each timeout doubles the next, so a slow but live leader is still
        // given the full timeout; a retry carries the same Nats-Msg-Id.
        const attemptMs = Math.min(this.requestTimeoutMs, PUBLISH_FIRST_ATTEMPT_MS * 2 ** timeouts, left);
        const reply = await this.replies.request(subject, data, Math.max(250, attemptMs), h);
        return parsePubAck(reply.data, stream);
      } catch (err) {
        lastErr = err;
        if (isClosed(err)) throw new ClosedError('NATS transport (enqueue)');
        if (/timeout/i.test(describe(err))) timeouts++;
        if (!isTransient(err)) {
          throw new StarWeatherError('SW_ERR_TRANSPORT', `publish ${msgId} to ${subject} rejected: ${describe(err)}`, { cause: err });
        }
        // No responders is what a leaderless stream looks like, and also what
        // a missing one looks like. The meta layer can tell them apart: a
        // stream that does not exist will not appear by waiting. The check
        // runs beside the retries, not before them: a stream's info is
        // answered by its leader, so during an election the check itself
        // waits a request timeout (R3: 5 s of the stall when it was awaited).
        if (!streamCheck && /no responders|not enabled/i.test(describe(err))) {
          streamCheck = this.jsm.streams.info(stream).then(
            () => {
              streamMissing = false;
            },
            (e: unknown) => {
              streamMissing = isNotFound(e);
            },
          );
        }
        const pause = sleep(Math.min(backoffMs(attempt, 100, 1000), Math.max(0, deadline - Date.now())));
        if (streamCheck && streamMissing === null) await Promise.race([pause, streamCheck]);
        if (streamMissing) {
          throw new StarWeatherError('SW_ERR_TRANSPORT', `publish ${msgId}: stream ${stream} does not exist (call provision() first)`, { cause: err });
        }
        await pause;
      }
    }
    throw new StarWeatherError(
      'SW_ERR_TRANSPORT',
      `publish ${msgId} to ${subject} not confirmed within ${this.enqueueTimeoutMs} ms: ${describe(lastErr)}`,
      { cause: lastErr },
    );
  }

  async enqueue(queue: QueueName, msgId: string, data: Uint8Array): Promise<EnqueueResult> {
    this.assertOpen('enqueue');
    this.assertQueue(queue);
    if (typeof msgId !== 'string' || !MSG_ID_RE.test(msgId)) {
      throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `msgId must be 1-512 printable ASCII characters without spaces (got ${JSON.stringify(msgId)})`);
    }
    if (!(data instanceof Uint8Array)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'enqueue data must be a Uint8Array');
    return this.publishDurable(this.names.subjects.work(queue), this.names.streams.work(queue), msgId, data);
  }

  async consume(queue: QueueName, options: ConsumeOptions, handler: WorkHandler): Promise<WorkConsumer> {
    this.assertOpen('consume');
    this.assertQueue(queue);
    const prefetch = options?.prefetch;
    if (!Number.isInteger(prefetch) || prefetch < 1) {
      throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `prefetch must be a positive integer (got ${String(prefetch)})`);
    }
    const stream = this.names.streams.work(queue);
    const durable = this.names.consumers.work(queue);
    let maxDeliver: number;
    let info: ConsumerInfo;
    try {
      info = await this.api(`consumer ${stream}/${durable}`, () => this.jsm.consumers.info(stream, durable), this.provisionTimeoutMs);
      const md = info.config.max_deliver ?? -1;
      maxDeliver = md > 0 ? md : Number.POSITIVE_INFINITY;
    } catch (err) {
      if (!(err instanceof StarWeatherError) || err.code !== 'SW_ERR_NOT_FOUND') throw err;
      throw new StarWeatherError('SW_ERR_TRANSPORT', `${err.message} (call provision() first)`, { cause: err });
    }
    this.watchMaxDeliveries(queue);
    const loop = new PullLoop({
      js: this.js,
      stream,
      consumer: durable,
      info,
      prefetch,
      handler,
      toWorkMessage: (m) => this.workMessage(queue, m, maxDeliver),
      release: (m) => m.nak(),
      onError: (err) => this.onError(err, `consume ${queue}`),
      // An idle queue is when the sweep can tell exhausted tasks from in-flight ones.
      onIdle: () => this.sweepSoon(queue),
    });
    this.loops.add(loop);
    loop.start();
    return {
      stop: async () => {
        await loop.stop();
        this.loops.delete(loop);
      },
    };
  }

  private workMessage(queue: QueueName, m: JsMsg, maxDeliver: number): WorkMessage {
    const stream = this.names.streams.work(queue);
    const msgId = m.headers?.get('Nats-Msg-Id') || `${stream}:${m.seq}`;
    let settled = false;
    return {
      queue,
      msgId,
      data: m.data,
      deliveryCount: m.info.deliveryCount,
      maxDeliver,
      working: () => {
        if (!settled) m.working();
      },
      ack: async () => {
        if (settled) return;
        settled = true;
        try {
          // An ack written while disconnected would never be confirmed.
          await this.untilConnected(Date.now() + this.requestTimeoutMs);
          // The double ack: the server answers once it has applied the ack.
          // Sent by hand, so mark the message acked as JsMsg.ackAck() does:
          // a later nak/working/term on it is then a no-op. Should the
          // client's message shape ever change, fall back to its ackAck().
          const impl = m as JsMsg & { reply?: string; didAck?: boolean };
          if (impl.reply && impl.didAck === false) {
            impl.didAck = true;
            await this.replies.request(impl.reply, ACK, this.requestTimeoutMs);
          } else {
            await m.ackAck({ timeout: this.requestTimeoutMs });
          }
        } catch (err) {
          // Unknown outcome: the server may or may not have the ack. If not,
          // the task is redelivered after AckWait (handlers are idempotent).
          throw new StarWeatherError('SW_ERR_TRANSPORT', `ack of ${msgId} not confirmed: ${describe(err)}`, { cause: err });
        }
      },
      nak: (delayMs?: number) => {
        if (settled) return;
        settled = true;
        m.nak(delayMs && delayMs > 0 ? Math.round(delayMs) : undefined);
      },
      deadLetter: async (code: string, reason: string) => {
        if (settled) return;
        const bytes = encodeDeadLetter({
          queue,
          data: m.data,
          code,
          reason,
          deliveries: m.info.deliveryCount,
          deliveriesFrom: 'delivery',
          msgId,
          maxBytes: this.maxPayload(),
        });
        await this.publishDurable(this.names.subjects.deadLetter(queue), this.names.streams.deadLetter, deadLetterMsgId(queue, msgId), bytes);
        settled = true;
        // On a work-queue stream TERM removes the message; the delete makes
        // sure of it even if the TERM was lost on the wire.
        m.term();
        await this.removeWorkMessage(stream, m.seq);
      },
    };
  }

  private maxPayload(): number {
    return this.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
  }

  private async removeWorkMessage(stream: string, seq: number): Promise<void> {
    const deadline = Date.now() + this.enqueueTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.jsm.streams.deleteMessage(stream, seq, false);
        return;
      } catch (err) {
        if (isNotFound(err)) return;
        if (!isTransient(err) || Date.now() > deadline) {
          throw new StarWeatherError('SW_ERR_TRANSPORT', `cannot remove ${stream} #${seq}: ${describe(err)}`, { cause: err });
        }
        await sleep(backoffMs(attempt, 100, 1000));
      }
    }
  }

  /**
   * MaxDeliver exhausted with no handler settling the task (the worker died
   * every time, or never acked in time): the server keeps the message on the
   * work-queue stream and only says so on an advisory. Every process hosting
   * a consumer of the queue hears it; the get/publish/delete below is
   * idempotent (the DLQ publish is de-duplicated by id; a second delete
   * finds nothing), so any number of them may act on it.
   */
  private watchMaxDeliveries(queue: QueueName): void {
    if (this.advisories.has(queue)) return;
    // Advisories are core NATS (at most once): one lost in a reconnect would
    // leave its task stuck on the stream forever. The sweep is the backstop.
    const timer = setInterval(() => this.sweepSoon(queue), SWEEP_INTERVAL_MS);
    timer.unref();
    this.sweepTimers.set(queue, timer);
    this.sweepSoon(queue);
    const stream = this.names.streams.work(queue);
    const durable = this.names.consumers.work(queue);
    const sub = this.nc.subscribe(this.names.subjects.maxDeliveriesAdvisory(stream, durable), {
      callback: (err, msg) => {
        if (err) return;
        this.onMaxDeliveries(queue, msg.data).catch((e) => this.onError(e, `max-deliveries advisory ${queue}`));
      },
    });
    this.advisories.set(queue, sub);
  }

  private async onMaxDeliveries(queue: QueueName, payload: Uint8Array): Promise<void> {
    const advisory = parseExhaustedAdvisory(payload);
    // Without the server's own count nothing moves (the sweep reads the stored copy later).
    if (!advisory) throw new StarWeatherError('SW_ERR_DECODE', `max-deliveries advisory without a valid stream_seq and deliveries`);
    await this.moveExhausted(queue, advisory.streamSeq, advisory.deliveries);
  }

  /**
   * Dead-letter stream message `seq` of `queue` (code SW_ERR_TIMEOUT) and
   * delete it. `deliveries` is the server's count from its advisory. Idempotent.
   */
  private async moveExhausted(queue: QueueName, seq: number, deliveries: number): Promise<boolean> {
    const stream = this.names.streams.work(queue);
    let stored;
    for (let attempt = 0; ; attempt++) {
      try {
        stored = await this.jsm.streams.getMessage(stream, { seq });
        break;
      } catch (err) {
        if (isNotFound(err)) return false; // another process already moved it
        if (!isTransient(err) || attempt >= 10) throw err;
        await sleep(backoffMs(attempt, 200, 2000));
      }
    }
    if (!stored) return false;
    const msgId = stored.header?.get('Nats-Msg-Id') || `${stream}:${seq}`;
    const bytes = encodeDeadLetter({
      queue,
      data: stored.data,
      code: 'SW_ERR_TIMEOUT',
      reason: 'max deliveries reached without ack',
      deliveries,
      deliveriesFrom: 'advisory',
      msgId,
      maxBytes: this.maxPayload(),
    });
    await this.publishDurable(this.names.subjects.deadLetter(queue), this.names.streams.deadLetter, deadLetterMsgId(queue, msgId), bytes);
    await this.removeWorkMessage(stream, seq);
    return true;
  }

  /** Starts a sweep unless one ran for this queue within SWEEP_MIN_GAP_MS (or is running). */
  private sweepSoon(queue: QueueName): void {
    const now = Date.now();
    if (!this.exhaustedSweep || this.closing || now - (this.lastSweep.get(queue) ?? 0) < SWEEP_MIN_GAP_MS) return;
    this.lastSweep.set(queue, now);
    this.sweepExhausted(queue)
      .catch((e) => this.onError(e, `exhausted-task sweep ${queue}`))
      .finally(() => this.lastSweep.set(queue, Date.now()));
  }

  /**
   * Finds tasks that exhausted MaxDeliver but are still on the work stream
   * (their advisory was missed). Only looked for while nothing is in flight:
   * on a work-queue stream, a message at or below the consumer's delivered
   * sequence is then either acked (and gone), or exhausted, or (NATS 2.9
   * after a kill -9) acked but still stored. The last two look the same, so
   * the sweep trusts only the server's word: a message moves to the DLQ when
   * the stored MAX_DELIVERIES advisory for it says it was delivered at least
   * MaxDeliver times (sweepVerdict). One without that record is requeued
   * (republished, then deleted): an acked one then runs once more (handlers
   * are idempotent) and is acked again; an exhausted one gets a new round and
   * an advisory this time. Returns the number dead-lettered.
   */
  async sweepExhausted(queue: QueueName): Promise<number> {
    if (this.closing || this.nc.isClosed()) return 0;
    const stream = this.names.streams.work(queue);
    const ci = await this.jsm.consumers.info(stream, this.names.consumers.work(queue));
    if (ci.num_ack_pending !== 0) return 0;
    const si = await this.jsm.streams.info(stream);
    if (si.state.messages <= ci.num_pending) return 0;
    const upTo = Math.min(ci.delivered.stream_seq, si.state.first_seq + SWEEP_MAX_SCAN - 1);
    const maxDeliver = ci.config.max_deliver ?? this.settings.maxDeliver;
    const candidates = new Map<number, number>();
    for (let seq = si.state.first_seq; seq <= upTo; seq++) {
      if (this.closing) return 0;
      try {
        const sm = await this.jsm.streams.getMessage(stream, { seq });
        if (sm !== null) candidates.set(seq, sm.time.getTime());
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    if (candidates.size === 0) return 0;
    // In a cluster the consumer can count an ack before the stream has
    // applied the removal; a message acked that way is gone a moment later.
    // Only what is still there after the pause is looked at.
    await sleep(SWEEP_CONFIRM_MS);
    const advisories = await this.storedAdvisories(queue, candidates);
    let moved = 0;
    for (const seq of candidates.keys()) {
      if (this.closing) break;
      const advisory = advisories.get(seq);
      if (sweepVerdict(advisory, maxDeliver) === 'dead-letter') {
        if (await this.moveExhausted(queue, seq, advisory!.deliveries)) moved++;
      } else {
        await this.requeueUnobserved(queue, seq);
      }
    }
    return moved;
  }

  /**
   * The stored MAX_DELIVERIES advisories of `queue`'s consumer for the given
   * stream sequences (seq → the time the message was stored): newest first,
   * at most ADVISORY_SCAN read. An advisory older than the message it names
   * is about an earlier stream of the same name and is ignored.
   */
  private async storedAdvisories(queue: QueueName, wanted: Map<number, number>): Promise<Map<number, ExhaustedAdvisory>> {
    const out = new Map<number, ExhaustedAdvisory>();
    const stream = this.names.streams.advisories;
    const subject = this.names.subjects.maxDeliveriesAdvisory(this.names.streams.work(queue), this.names.consumers.work(queue));
    let info;
    try {
      info = await this.jsm.streams.info(stream);
    } catch (err) {
      if (isNotFound(err)) return out;
      throw err;
    }
    if (info.state.messages === 0) return out;
    const low = Math.max(info.state.first_seq, info.state.last_seq - ADVISORY_SCAN + 1);
    for (let top = info.state.last_seq; top >= low && out.size < wanted.size && !this.closing; top -= 16) {
      const batch: number[] = [];
      for (let s = top; s > top - 16 && s >= low; s--) batch.push(s);
      const got = await Promise.all(
        batch.map((s) =>
          this.jsm.streams.getMessage(stream, { seq: s }).catch((err: unknown) => {
            if (isNotFound(err)) return null;
            throw err;
          }),
        ),
      );
      for (const m of got) {
        if (!m || m.subject !== subject) continue;
        const a = parseExhaustedAdvisory(m.data);
        if (!a || out.has(a.streamSeq)) continue;
        const storedAt = wanted.get(a.streamSeq);
        if (storedAt !== undefined && m.time.getTime() >= storedAt) out.set(a.streamSeq, a);
      }
    }
    return out;
  }

  /**
   * A stuck message without a stored advisory: publish it again (a new
   * Nats-Msg-Id, so the de-dup window keeps it; a header counts the
   * requeues), then delete the old copy. After MAX_REQUEUES it is left where
   * it is and reported: something keeps the advisories from being stored.
   */
  private async requeueUnobserved(queue: QueueName, seq: number): Promise<boolean> {
    const stream = this.names.streams.work(queue);
    let stored;
    try {
      stored = await this.jsm.streams.getMessage(stream, { seq });
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
    if (!stored) return false;
    const msgId = stored.header?.get('Nats-Msg-Id') || `${stream}:${seq}`;
    const requeues = Number(stored.header?.get(REQUEUES_HEADER) || 0);
    if (Number.isInteger(requeues) && requeues >= MAX_REQUEUES) {
      this.onError(
        new StarWeatherError('SW_ERR_TRANSPORT', `${stream} #${seq} (${msgId}) is stuck after ${requeues} requeues and no stored MAX_DELIVERIES advisory: left on the stream`),
        `exhausted-task sweep ${queue}`,
      );
      return false;
    }
    await this.publishDurable(this.names.subjects.work(queue), stream, requeueMsgId(msgId, seq), stored.data, { [REQUEUES_HEADER]: String(requeues + 1) });
    await this.removeWorkMessage(stream, seq);
    this.onError(
      new StarWeatherError('SW_ERR_TRANSPORT', `${stream} #${seq} (${msgId}) was stuck without an observed MaxDeliver (acked before a server crash, or its advisory was lost): requeued, not dead-lettered`),
      `exhausted-task sweep ${queue}`,
    );
    return true;
  }

  async consumeDeadLetters(handler: (dl: DeadLetter) => Promise<void>): Promise<WorkConsumer> {
    this.assertOpen('consumeDeadLetters');
    const stream = this.names.streams.deadLetter;
    const durable = this.names.consumers.deadLetterRelay;
    try {
      await this.api(`consumer ${stream}/${durable}`, () => this.jsm.consumers.info(stream, durable), this.provisionTimeoutMs);
    } catch (err) {
      if (!(err instanceof StarWeatherError) || err.code !== 'SW_ERR_NOT_FOUND') throw err;
      throw new StarWeatherError('SW_ERR_TRANSPORT', `${err.message} (call provision() first)`, { cause: err });
    }
    const feed = new DeadLetterFeed({ js: this.js, stream, durable, handler, onError: (err) => this.onError(err, 'dead-letter feed') });
    this.feeds.add(feed);
    feed.start();
    return {
      stop: async () => {
        this.feeds.delete(feed);
        await feed.stop();
      },
    };
  }

  async queueStats(queue: QueueName): Promise<QueueStats> {
    this.assertQueue(queue);
    const info = await this.api(`queueStats ${queue}`, () => this.jsm.consumers.info(this.names.streams.work(queue), this.names.consumers.work(queue)));
    return { depth: info.num_pending + info.num_ack_pending, inFlight: info.num_ack_pending };
  }

  async deadLetters(limit = 100): Promise<DeadLetter[]> {
    if (!Number.isInteger(limit) || limit < 0) {
      throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `limit must be a non-negative integer (got ${limit})`);
    }
    const stream = this.names.streams.deadLetter;
    const info = await this.api('deadLetters', () => this.jsm.streams.info(stream));
    const out: DeadLetter[] = [];
    let seq = info.state.first_seq;
    const last = info.state.last_seq;
    // Oldest first by stream sequence. Gaps (messages aged out or deleted)
    // come back as "not found" and are skipped.
    while (out.length < limit && seq <= last && info.state.messages > 0) {
      const batch: number[] = [];
      for (let s = seq; s <= last && batch.length < 16; s++) batch.push(s);
      seq += batch.length;
      const got = await this.api('deadLetters', () =>
        Promise.all(
          batch.map(async (s) => {
            try {
              return await this.jsm.streams.getMessage(stream, { seq: s });
            } catch (err) {
              if (isNotFound(err)) return null;
              throw err;
            }
          }),
        ),
      );
      for (const sm of got) {
        if (!sm || out.length >= limit) continue;
        try {
          out.push(DeadLetterMessage.decode(sm.data));
        } catch (err) {
          // Something not ours on the DLQ subjects: report it, keep listing.
          this.onError(err, `dead-letter ${stream} #${sm.seq}`);
        }
      }
    }
    return out;
  }

  async deadLetterCount(): Promise<number> {
    const info = await this.api('deadLetterCount', () => this.jsm.streams.info(this.names.streams.deadLetter));
    return info.state.messages;
  }

  async kv(bucket: BucketName): Promise<KvBucket> {
    this.assertOpen('kv');
    if (!BUCKETS.includes(bucket)) {
      throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `unknown bucket ${JSON.stringify(bucket)} (one of ${BUCKETS.join(', ')})`);
    }
    let p = this.buckets.get(bucket);
    if (!p) {
      const name = this.names.buckets[bucket];
      p = (async () => {
        try {
          await this.api(`KV bucket ${name}`, () => this.jsm.streams.info(`KV_${name}`));
        } catch (err) {
          if (err instanceof StarWeatherError && err.code === 'SW_ERR_NOT_FOUND') {
            throw new StarWeatherError('SW_ERR_NOT_FOUND', `${err.message} (call provision() first)`, { cause: err });
          }
          throw err;
        }
        // Bound without direct get: reads go to the stream leader, so a
        // lease holder reads its own writes (direct gets may hit a lagging replica).
        const kv = await this.kvm.open(name);
        return new NatsKvBucket(name, kv, async (what) => {
          this.assertOpen(what);
          await this.untilConnected(Date.now() + this.requestTimeoutMs);
          this.assertOpen(what);
        }, { nc: this.nc, js: this.js, jsm: this.jsm }, (err, what) => this.onError(err, what), () => (this.connected && !this.closing ? this.linkEpoch : -1));
      })();
      this.buckets.set(bucket, p);
      p.catch(() => this.buckets.delete(bucket));
    }
    return p;
  }

  onStatus(listener: (status: TransportStatus) => void): Subscription {
    this.statusListeners.add(listener);
    return { unsubscribe: () => this.statusListeners.delete(listener) };
  }

  close(): Promise<void> {
    if (!this.closing) this.closing = this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    for (const w of this.reconnectWaiters) w();
    await Promise.all([...this.loops].map((l) => l.stop().catch((err) => this.onError(err, 'stop consumer'))));
    this.loops.clear();
    await Promise.all([...this.feeds].map((f) => f.stop().catch((err) => this.onError(err, 'stop dead-letter feed'))));
    this.feeds.clear();
    for (const sub of this.advisories.values()) sub.unsubscribe();
    this.advisories.clear();
    for (const timer of this.sweepTimers.values()) clearInterval(timer);
    this.sweepTimers.clear();
    if (this.nc.isClosed()) return;
    // Drain delivers what is buffered, but waits for a server that may be
    // gone for good (a test killed it): bound it, then close regardless.
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      this.nc.drain().then(
        () => true,
        () => false,
      ),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 5000))),
    ]);
    clearTimeout(timer);
    if (!drained && !this.nc.isClosed()) await this.nc.close().catch(() => undefined);
    // Replies still missing will not come now.
    this.replies.close(new ClosedConnectionError());
    this.statusListeners.clear();
  }
}

/**
 * A JetStream publish ack: {stream, seq, duplicate?} or {error}. The
 * Nats-Expected-Stream header makes the server refuse a publish that another
 * stream would have captured, so a success names our stream.
 */
function parsePubAck(data: Uint8Array, stream: string): EnqueueResult {
  let v: { stream?: unknown; seq?: unknown; duplicate?: unknown; error?: { code: number; err_code?: number; description: string } };
  try {
    v = JSON.parse(utf8.decode(data)) as typeof v;
  } catch (err) {
    throw new StarWeatherError('SW_ERR_TRANSPORT', `publish ack is not JSON: ${describe(err)}`, { cause: err });
  }
  if (v.error) throw new JetStreamApiError({ code: v.error.code, err_code: v.error.err_code ?? 0, description: v.error.description });
  if (v.stream !== stream || typeof v.seq !== 'number') {
    throw new StarWeatherError('SW_ERR_TRANSPORT', `invalid publish ack for stream ${stream}: ${utf8.decode(data).slice(0, 200)}`);
  }
  return { duplicate: v.duplicate === true, seq: v.seq };
}

function mapStatus(s: Status): TransportStatus | null {
  switch (s.type) {
    case 'disconnect':
      return { type: 'disconnected' };
    case 'reconnecting':
      return { type: 'reconnecting' };
    case 'reconnect':
      return { type: 'reconnected' };
    case 'error':
      return { type: 'error', error: describe(s.error) };
    case 'close':
      return { type: 'disconnected' };
    default:
      return null;
  }
}
