/**
 * The server end of the thread bridge: the thread that owns a Transport (in
 * the embedded default, the node's main thread with its one in-process bus)
 * answers, over one MessagePort, everything a ThreadTransport
 * (thread-client.ts) on another thread asks of it.
 *
 * Why it exists: in the embedded default every role host ran inline on one
 * event loop with the bus, so one host holding that loop (a long synchronous
 * stretch) delayed every other host's heartbeats, lease renewals and acks
 * (issue 10). Each role host now runs on its own worker thread and reaches
 * the bus through this bridge; the bus itself stays one in-process bus, so
 * pub/sub, work queues and KV behave exactly as they did.
 *
 * What the client holds is the client's: when its port closes (the client
 * thread ended or was terminated, or close() here), its subscriptions and KV
 * watches are dropped, its consumers and dead-letter feeds stopped, and every
 * work message delivered to it and not yet settled is nak'd at once, so a
 * task a dead thread held is redelivered now, not after AckWait. The
 * transport itself is never closed here: it is its owner's.
 *
 * A frame that fails its schema is answered with an error when it has an id
 * and reported through onError when it has none; no frame can throw out of
 * the port's message handler.
 */
import type { MessagePort } from 'node:worker_threads';
import { ClosedError, ProtocolError, StarWeatherError, errorMessage } from '../../../protocol/errors.js';
import type { DeadLetter } from '../../../protocol/messages/dead-letter.js';
import { checkBridgeRequest, type BridgeEvent, type BridgeRequest } from '../../../protocol/messages/thread-bridge.js';
import type { QueueName } from '../../../protocol/names.js';
import type { BucketName, KvBucket, Subscription, Transport, TransportStatus, WorkConsumer, WorkMessage } from '../../../protocol/transport.js';
import { Outbox, fromBridgeError, toBridgeError } from './thread-wire.js';

export interface TransportBridgeStats {
  /** Pub/sub subscriptions the client holds. */
  subscriptions: number;
  /** KV watches the client holds. */
  watches: number;
  /** Work consumers and dead-letter feeds the client runs. */
  consumers: number;
  /** Work messages delivered to the client and not yet settled. */
  inFlight: number;
}

export interface TransportBridgeServer {
  /** Release everything the client holds (as when its thread ends) and close the port. */
  close(): Promise<void>;
  readonly stats: TransportBridgeStats;
}

export interface ServeTransportOptions {
  /** Malformed frames without an id, and failures of one-way frames; default: a process warning. */
  onError?: (err: unknown, context: string) => void;
}

/** One work message handed to the client. */
interface Delivery {
  readonly msg: WorkMessage;
  /** ack / nak / dead-letter seen from the client, or handed back to the transport. */
  settled: boolean;
  /** The client's handler has not returned yet. */
  running: boolean;
  /** Ends the transport's handler call (the consumer's prefetch slot). */
  finish: (err?: Error) => void;
}

/** A consumer or feed: the transport's, once its consume call resolved. */
interface Held {
  readonly ready: Promise<WorkConsumer | null>;
  current: WorkConsumer | null;
}

function invalid(message: string): StarWeatherError {
  return new StarWeatherError('SW_ERR_INVALID_ARGUMENT', message);
}

function statusFrame(lid: number, s: TransportStatus): BridgeEvent {
  // Only the fields the schema knows: a status is the transport's object.
  return { t: 'status', lid, status: s.type === 'error' ? { type: 'error', error: String(s.error) } : { type: s.type } };
}

class BridgeServer implements TransportBridgeServer {
  private readonly out: Outbox<BridgeEvent>;
  private readonly subs = new Map<number, Subscription>();
  private readonly watches = new Map<number, Promise<Subscription | null>>();
  private readonly consumers = new Map<number, Held>();
  private readonly feeds = new Map<number, Held>();
  private readonly statusSubs = new Map<number, Subscription>();
  private readonly deliveries = new Map<number, Delivery>();
  private readonly deadLetterCalls = new Map<number, { resolve(): void; reject(err: Error): void }>();
  private readonly buckets = new Map<string, Promise<KvBucket>>();
  private nextDid = 1;
  private released: Promise<void> | null = null;
  private readonly onError: (err: unknown, context: string) => void;

  constructor(
    private readonly transport: Transport,
    private readonly port: MessagePort,
    options: ServeTransportOptions,
  ) {
    this.onError =
      options.onError ??
      ((err, context) => process.emitWarning(`${context}: ${errorMessage(err)}`, { code: 'SW_THREAD_BRIDGE' }));
    this.out = new Outbox<BridgeEvent>(port, (frame, err) => {
      this.report(err, `thread bridge: cannot post ${frame.t}`);
      if (frame.t === 'reply') this.replyError(frame.id, new StarWeatherError('SW_ERR_TRANSPORT', `reply ${frame.id} could not be posted: ${errorMessage(err)}`));
    });
    port.on('message', this.onMessage);
    port.on('close', this.onClose);
  }

  get stats(): TransportBridgeStats {
    let inFlight = 0;
    for (const d of this.deliveries.values()) if (!d.settled) inFlight++;
    return { subscriptions: this.subs.size, watches: this.watches.size, consumers: this.consumers.size + this.feeds.size, inFlight };
  }

  close(): Promise<void> {
    const done = this.release();
    this.out.close();
    this.port.close();
    return done;
  }

  private readonly onClose = (): void => {
    this.out.close();
    void this.release();
  };

  private readonly onMessage = (batch: unknown): void => {
    const frames: unknown[] = Array.isArray(batch) ? batch : [batch];
    for (const f of frames) {
      try {
        this.handle(f);
      } catch (err) {
        // handle() answers its own errors; this is the last line, never a crash.
        this.report(err, 'thread bridge: handling a frame');
      }
    }
  };

  private report(err: unknown, context: string): void {
    try {
      this.onError(err, context);
    } catch {
      // An onError that throws must not break the bridge.
    }
  }

  private reply(id: number, value: unknown): void {
    this.out.push(value === undefined ? { t: 'reply', id, ok: true } : { t: 'reply', id, ok: true, value });
  }

  private replyError(id: number, err: unknown): void {
    this.out.push({ t: 'reply', id, ok: false, error: toBridgeError(err) });
  }

  /** Answer request `id` with what `run` returns or throws, sync or async. */
  private answer(id: number, run: () => unknown): void {
    let p: Promise<unknown>;
    try {
      p = Promise.resolve(run());
    } catch (err) {
      this.replyError(id, err);
      return;
    }
    p.then(
      (value) => this.reply(id, value),
      (err: unknown) => this.replyError(id, err),
    );
  }

  /** A one-way frame's failure has no one to answer: report it. */
  private oneWay(context: string, run: () => void): void {
    try {
      run();
    } catch (err) {
      this.report(err, `thread bridge: ${context}`);
    }
  }

  private handle(raw: unknown): void {
    const c = checkBridgeRequest(raw);
    if (!c.ok) {
      const err = new ProtocolError(c.code, c.error);
      if (c.id !== null) this.replyError(c.id, err);
      else this.report(err, 'thread bridge: malformed frame');
      return;
    }
    const f = c.frame;
    if (this.released) {
      // The client is gone or going: it holds nothing any more.
      if ('id' in f) this.replyError(f.id, new ClosedError('thread bridge'));
      else if (f.t === 'done') this.deliveries.get(f.did)?.finish();
      return;
    }
    this.dispatch(f);
  }

  private dispatch(f: BridgeRequest): void {
    const t = this.transport;
    switch (f.t) {
      case 'provision':
        return this.answer(f.id, () => t.provision());
      case 'publish':
        return this.oneWay('publish', () => t.publish(f.subject, f.data));
      case 'subscribe':
        return this.answer(f.id, () => this.subscribe(f.sid, f.subject));
      case 'unsubscribe':
        return this.oneWay('unsubscribe', () => {
          const s = this.subs.get(f.sid);
          this.subs.delete(f.sid);
          s?.unsubscribe();
        });
      case 'presence-on':
        // A presence answerer is a subscription like any other: same ref space, same unsubscribe and release.
        return this.answer(f.id, () => {
          if (this.subs.has(f.pid)) throw invalid(`subscription ${f.pid} already exists`);
          this.subs.set(f.pid, t.answerPresence(f.subject));
        });
      case 'presence-probe':
        return this.answer(f.id, () => t.probePresence(f.subject, f.timeoutMs));
      case 'flush':
        return this.answer(f.id, () => t.flush());
      case 'enqueue':
        return this.answer(f.id, () => t.enqueue(f.queue as QueueName, f.msgId, f.data));
      case 'consume':
        return this.consume(f.id, f.cid, f.queue as QueueName, f.prefetch);
      case 'consume-stop':
        return this.answer(f.id, () => this.stopHeld(this.consumers, f.cid));
      case 'working':
        return this.oneWay('working', () => this.deliveries.get(f.did)?.msg.working());
      case 'ack':
        return this.answer(f.id, () => this.settle(f.did)?.msg.ack());
      case 'nak':
        return this.oneWay('nak', () => this.settle(f.did)?.msg.nak(f.delayMs));
      case 'dead-letter':
        return this.answer(f.id, () => this.settle(f.did)?.msg.deadLetter(f.code, f.reason));
      case 'done':
        return this.done(f.did, f.error === undefined ? undefined : fromBridgeError(f.error));
      case 'forget': {
        const d = this.deliveries.get(f.did);
        if (d && !d.running) this.deliveries.delete(f.did);
        return;
      }
      case 'queue-stats':
        return this.answer(f.id, () => t.queueStats(f.queue as QueueName));
      case 'dead-letters':
        return this.answer(f.id, () => t.deadLetters(f.limit));
      case 'dead-letter-count':
        return this.answer(f.id, () => t.deadLetterCount());
      case 'dl-consume':
        return this.consumeDeadLetters(f.id, f.fid);
      case 'dl-stop':
        return this.answer(f.id, () => this.stopHeld(this.feeds, f.fid));
      case 'dl-done': {
        const call = this.deadLetterCalls.get(f.did);
        this.deadLetterCalls.delete(f.did);
        if (f.error === undefined) call?.resolve();
        else call?.reject(fromBridgeError(f.error));
        return;
      }
      case 'kv':
        return this.answer(f.id, async () => ({ name: (await this.bucket(f.bucket)).name }));
      case 'kv-get':
        return this.answer(f.id, async () => (await this.bucket(f.bucket)).get(f.key));
      case 'kv-put':
        return this.answer(f.id, async () => (await this.bucket(f.bucket)).put(f.key, f.value));
      case 'kv-create':
        return this.answer(f.id, async () => (await this.bucket(f.bucket)).create(f.key, f.value));
      case 'kv-update':
        return this.answer(f.id, async () => (await this.bucket(f.bucket)).update(f.key, f.value, f.revision));
      case 'kv-delete':
        return this.answer(f.id, async () => (await this.bucket(f.bucket)).delete(f.key, f.revision));
      case 'kv-keys':
        return this.answer(f.id, async () => (await this.bucket(f.bucket)).keys(f.prefix));
      case 'kv-entries':
        return this.answer(f.id, async () => (await this.bucket(f.bucket)).entries(f.prefix));
      case 'kv-watch':
        return this.watch(f.id, f.wid, f.bucket, f.prefix);
      case 'kv-unwatch': {
        const w = this.watches.get(f.wid);
        this.watches.delete(f.wid);
        void w?.then((s) => s && this.oneWay('kv-unwatch', () => s.unsubscribe()));
        return;
      }
      case 'status-on':
        return this.answer(f.id, () => {
          if (this.statusSubs.has(f.lid)) throw invalid(`status listener ${f.lid} is already registered`);
          const lid = f.lid;
          this.statusSubs.set(lid, t.onStatus((s) => this.out.push(statusFrame(lid, s))));
        });
      case 'status-off':
        return this.oneWay('status-off', () => {
          const s = this.statusSubs.get(f.lid);
          this.statusSubs.delete(f.lid);
          s?.unsubscribe();
        });
      case 'close':
        return this.answer(f.id, () => this.release());
    }
  }

  private subscribe(sid: number, subject: string): void {
    if (this.subs.has(sid)) throw invalid(`subscription ${sid} already exists`);
    const sub = this.transport.subscribe(subject, (m) => this.out.push({ t: 'deliver', sid, subject: m.subject, data: m.data }));
    this.subs.set(sid, sub);
  }

  private consume(id: number, cid: number, queue: QueueName, prefetch: number): void {
    if (this.consumers.has(cid)) return this.replyError(id, invalid(`consumer ${cid} already exists`));
    let p: Promise<WorkConsumer>;
    try {
      p = this.transport.consume(queue, { prefetch }, (m) => this.forwardWork(cid, m));
    } catch (err) {
      return this.replyError(id, err);
    }
    this.hold(this.consumers, cid, p, id);
  }

  private consumeDeadLetters(id: number, fid: number): void {
    if (this.feeds.has(fid)) return this.replyError(id, invalid(`dead-letter feed ${fid} already exists`));
    let p: Promise<WorkConsumer>;
    try {
      p = this.transport.consumeDeadLetters((dl) => this.forwardDeadLetter(fid, dl));
    } catch (err) {
      return this.replyError(id, err);
    }
    this.hold(this.feeds, fid, p, id);
  }

  /**
   * Keep a consumer under the client's id and answer `id` once the transport
   * has it. Whoever takes the entry out of the map (a stop, the release)
   * stops it, also when that happens before it resolved.
   */
  private hold(map: Map<number, Held>, ref: number, p: Promise<WorkConsumer>, id: number): void {
    const held: Held = {
      ready: p.then(
        (c) => {
          held.current = c;
          return c;
        },
        () => null,
      ),
      current: null,
    };
    map.set(ref, held);
    p.then(
      () => this.reply(id, undefined),
      (err: unknown) => {
        if (map.get(ref) === held) map.delete(ref);
        this.replyError(id, err);
      },
    );
  }

  private async stopHeld(map: Map<number, Held>, ref: number): Promise<void> {
    const held = map.get(ref);
    map.delete(ref);
    const c = await held?.ready;
    await c?.stop();
  }

  /**
   * The transport's handler for a client consumer: hand the message over and
   * return when the client's handler has, as an in-thread handler would (the
   * consumer's prefetch slot is held that long). A client handler that
   * rejected makes this one reject with its error, so the transport treats
   * it as its own handler's rejection (reported, and nak'd at once unless
   * settled).
   */
  private forwardWork(cid: number, msg: WorkMessage): Promise<void> {
    if (this.released) {
      // A consumer being stopped for a client that is gone.
      msg.nak(0);
      return Promise.resolve();
    }
    const did = this.nextDid++;
    return new Promise<void>((resolve, reject) => {
      this.deliveries.set(did, {
        msg,
        settled: false,
        running: true,
        finish: (err) => (err ? reject(err) : resolve()),
      });
      this.out.push(
        { t: 'work', cid, did, queue: msg.queue, msgId: msg.msgId, data: msg.data, deliveryCount: msg.deliveryCount, maxDeliver: msg.maxDeliver },
      );
    });
  }

  /**
   * The client settles delivery `did`. Once settled and returned it is
   * forgotten; a second settle of the same delivery (a double ack) then
   * finds nothing and is answered as done, as the transport answers a
   * second ack.
   */
  private settle(did: number): Delivery | undefined {
    const d = this.deliveries.get(did);
    if (!d) return undefined;
    d.settled = true;
    if (!d.running) this.deliveries.delete(did);
    return d;
  }

  private done(did: number, err: Error | undefined): void {
    const d = this.deliveries.get(did);
    if (!d) return;
    d.running = false;
    // A rejected handler's message is the transport's again (it naks an
    // unsettled one); an unsettled one that returned stays the client's.
    if (err || d.settled) this.deliveries.delete(did);
    d.finish(err);
  }

  private forwardDeadLetter(fid: number, record: DeadLetter): Promise<void> {
    if (this.released) return Promise.reject(new ClosedError('thread bridge'));
    const did = this.nextDid++;
    return new Promise<void>((resolve, reject) => {
      this.deadLetterCalls.set(did, { resolve, reject });
      this.out.push({ t: 'dl', fid, did, record });
    });
  }

  private bucket(name: string): Promise<KvBucket> {
    let p = this.buckets.get(name);
    if (!p) {
      // Promise.resolve().then: a kv() that throws synchronously still rejects.
      p = Promise.resolve().then(() => this.transport.kv(name as BucketName));
      this.buckets.set(name, p);
      p.catch(() => {
        if (this.buckets.get(name) === p) this.buckets.delete(name);
      });
    }
    return p;
  }

  private watch(id: number, wid: number, bucket: string, prefix: string | undefined): void {
    if (this.watches.has(wid)) return this.replyError(id, invalid(`watch ${wid} already exists`));
    const p = this.bucket(bucket).then((b) =>
      b.watch((c) => {
        if (this.watches.has(wid)) this.out.push({ t: 'kv-change', wid, key: c.key, value: c.value, revision: c.revision });
      }, prefix),
    );
    const held = p.then(
      (s) => {
        // Unwatched (or released) before the watch existed: drop it now.
        if (this.watches.get(wid) !== held) {
          this.oneWay('kv-unwatch', () => s.unsubscribe());
          return null;
        }
        return s;
      },
      () => null,
    );
    this.watches.set(wid, held);
    p.then(
      () => this.reply(id, undefined),
      (err: unknown) => {
        if (this.watches.get(wid) === held) this.watches.delete(wid);
        this.replyError(id, err);
      },
    );
  }

  /** Everything the client holds, released; idempotent. */
  private release(): Promise<void> {
    this.released ??= this.releaseAll();
    return this.released;
  }

  private async releaseAll(): Promise<void> {
    for (const s of this.subs.values()) this.oneWay('release: unsubscribe', () => s.unsubscribe());
    this.subs.clear();
    for (const s of this.statusSubs.values()) this.oneWay('release: status listener', () => s.unsubscribe());
    this.statusSubs.clear();
    const pending: Promise<unknown>[] = [];
    for (const w of this.watches.values()) pending.push(w.then((s) => s && this.oneWay('release: unwatch', () => s.unsubscribe())));
    this.watches.clear();
    // Stop the consumers first (the transport's stop takes a consumer out of
    // the rotation at once), so the naks below go to the other consumers.
    const stop = (h: Held): Promise<unknown> => {
      try {
        return h.current ? h.current.stop() : h.ready.then((c) => c?.stop());
      } catch (err) {
        return Promise.reject(err);
      }
    };
    for (const h of this.consumers.values()) pending.push(stop(h));
    this.consumers.clear();
    for (const h of this.feeds.values()) pending.push(stop(h));
    this.feeds.clear();
    // Every work message the client held and had not settled goes back now,
    // not after AckWait; then the handler calls end, so the stops can finish.
    for (const d of this.deliveries.values()) {
      if (!d.settled) this.oneWay('release: nak', () => d.msg.nak(0));
      d.finish();
    }
    this.deliveries.clear();
    for (const call of this.deadLetterCalls.values()) call.reject(new ClosedError('thread bridge'));
    this.deadLetterCalls.clear();
    const results = await Promise.allSettled(pending);
    for (const r of results) if (r.status === 'rejected') this.report(r.reason, 'thread bridge: release');
  }
}

/**
 * Serve `transport` to the ThreadTransport at the other end of `port`, until
 * the port closes. Call it in the thread that owns the transport, once per
 * client thread (each with its own port).
 */
export function serveTransport(transport: Transport, port: MessagePort, options: ServeTransportOptions = {}): TransportBridgeServer {
  return new BridgeServer(transport, port, options);
}
