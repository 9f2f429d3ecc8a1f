/**
 * The pull loop behind NatsTransport.consume(). It asks the shared durable
 * pull consumer for no more messages than it has free handler slots, so a
 * message is never delivered to this process while it still has to wait for
 * a slot (its AckWait would be ticking: the Celery/BullMQ double-run failure
 * mode in RELIABILITY.md). Each request is a bounded fetch; several can be
 * open at once so a slot freed during a long poll is refilled at once.
 *
 * A delivery's slot is free again only once its handler has settled it. The
 * TaskWorker keeps a task that failed because a dependency is down unsettled
 * (parked, with working() heartbeats, its delivery count unchanged) until
 * its queue's circuit breaker closes; so while a dependency is down this
 * loop fills its slots with parked and held tasks and then stops pulling,
 * instead of taking more tasks only to hold them.
 *
 * Reconnects: a fetch that fails (disconnect, missed heartbeats, consumer
 * leader moving) ends with an error, and the loop starts a new one after a
 * jittered backoff. Nothing is lost: unacked messages are redelivered by the
 * server after AckWait.
 */
import type { Consumer, ConsumerInfo, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { WorkConsumer, WorkHandler, WorkMessage } from '../../../protocol/transport.js';
import { backoffMs, sleep } from './nats-errors.js';

export interface PullLoopOptions {
  js: JetStreamClient;
  stream: string;
  consumer: string;
  /**
   * The consumer's info, already read by the caller: the loop pulls with it
   * and asks the server again only when the consumer seems gone. A lookup is
   * answered by the consumer's leader, so during an election it hangs for a
   * whole request timeout (5 s), while a pull is retried every second.
   */
  info?: ConsumerInfo;
  prefetch: number;
  handler: WorkHandler;
  toWorkMessage(m: JsMsg): WorkMessage;
  /** Delivered but not settled when the handler threw: give it back. */
  release(m: JsMsg): void;
  onError(err: unknown): void;
  /** A fetch expired with nothing to deliver: the queue is idle right now. */
  onIdle?(): void;
  /** Long-poll length of one fetch. */
  expiresMs?: number;
}

const MAX_OPEN_FETCHES = 4;

/** The server said the consumer is gone (deleted or never created), not merely leaderless. */
function consumerGone(err: unknown): boolean {
  const msg = err instanceof Error ? err.message : String(err);
  return /consumer (deleted|not found)|not a pull consumer/i.test(msg);
}

export class PullLoop implements WorkConsumer {
  private readonly o: PullLoopOptions;
  private readonly expiresMs: number;
  private readonly refillAt: number;
  private inFlight = 0;
  /** Messages asked for by open fetches and not yet received. */
  private requested = 0;
  /** Messages that arrived beyond what was asked (a fetch re-pulls after a reconnect). */
  private readonly overflow: JsMsg[] = [];
  private readonly open = new Set<{ stop(): void }>();
  private openCount = 0;
  private consumer: Consumer | null = null;
  private failures = 0;
  private retryAt = 0;
  private stopped = false;
  private wakeUp: (() => void) | null = null;
  private readonly idleWaiters: Array<() => void> = [];
  private loopDone: Promise<void> = Promise.resolve();

  constructor(o: PullLoopOptions) {
    this.o = o;
    this.expiresMs = o.expiresMs ?? 4000;
    if (o.info) this.consumer = o.js.consumers.getConsumerFromInfo(o.info);
    this.refillAt = Math.max(1, Math.ceil(o.prefetch / 4));
  }

  start(): void {
    this.loopDone = this.loop();
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      while (this.overflow.length > 0 && this.inFlight < this.o.prefetch) this.dispatch(this.overflow.shift()!);
      const free = this.o.prefetch - this.inFlight - this.requested - this.overflow.length;
      const wait = this.retryAt - Date.now();
      // Pull in batches: a fetch costs a request, a subscription and timers,
      // so while earlier pulls are still open, wait until a quarter of the
      // slots are free instead of asking for each freed slot on its own.
      const enough = this.requested === 0 || free >= this.refillAt;
      if (free > 0 && enough && this.openCount < MAX_OPEN_FETCHES && wait <= 0) {
        this.openCount++;
        this.requested += free;
        void this.fetch(free);
        continue;
      }
      await new Promise<void>((resolve) => {
        this.wakeUp = resolve;
        if (wait > 0) setTimeout(() => this.wake(), wait);
      });
    }
  }

  private async fetch(batch: number): Promise<void> {
    let received = 0;
    const started = Date.now();
    let failed = false;
    let handle: { stop(): void } | null = null;
    try {
      if (!this.consumer) this.consumer = await this.o.js.consumers.get(this.o.stream, this.o.consumer);
      if (this.stopped) return;
      const iter = await this.consumer.fetch({
        max_messages: batch,
        expires: this.expiresMs,
        // Two missed heartbeats end a pull whose consumer leader died: 2 s,
        // inside the 2-5 s it takes NATS 2.9 to elect the next one.
        idle_heartbeat: Math.max(500, Math.min(1000, Math.floor(this.expiresMs / 4))),
      });
      handle = iter;
      this.open.add(iter);
      // stop() may have run while the fetch was being created.
      if (this.stopped) iter.stop();
      for await (const m of iter) {
        received++;
        if (received <= batch) this.requested--;
        if (this.stopped) {
          this.o.release(m);
          continue;
        }
        if (this.inFlight < this.o.prefetch && this.overflow.length === 0) this.dispatch(m);
        else this.overflow.push(m);
      }
      this.failures = 0;
    } catch (err) {
      failed = true;
      if (!this.stopped) {
        this.o.onError(err);
        // A pull names the consumer by stream and name, wherever its leader
        // is (and whether it was recreated), so an election needs no new
        // lookup; the lookup itself waits a whole request timeout while the
        // consumer has no leader (R3: 8-10 s stalls). Only a consumer the
        // server calls gone is looked up again, to report it.
        if (consumerGone(err)) this.consumer = null;
        // Capped at 1 s: after a stream leader election (2-7 s on NATS 2.9) a
        // longer back-off only adds to the stall; a retry a second is cheap.
        this.retryAt = Date.now() + backoffMs(this.failures++, 250, 1000);
      }
    } finally {
      if (handle) this.open.delete(handle);
      this.requested -= batch - Math.min(received, batch);
      this.openCount--;
      // A fetch that ended at once with nothing (and no error) must not spin.
      if (!failed && received === 0 && Date.now() - started < 100) this.retryAt = Date.now() + 250;
      if (!failed && received === 0 && !this.stopped) this.o.onIdle?.();
      this.wake();
    }
  }

  private dispatch(m: JsMsg): void {
    this.inFlight++;
    let wm: WorkMessage;
    try {
      wm = this.o.toWorkMessage(m);
    } catch (err) {
      this.o.onError(err);
      this.o.release(m);
      this.settle();
      return;
    }
    void (async () => {
      try {
        await this.o.handler(wm);
      } catch (err) {
        this.o.onError(err);
        this.o.release(m);
      } finally {
        this.settle();
      }
    })();
  }

  private settle(): void {
    this.inFlight--;
    if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
    this.wake();
  }

  async stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      for (const it of this.open) it.stop();
      for (const m of this.overflow.splice(0)) this.o.release(m);
      this.wake();
    }
    await this.loopDone;
    if (this.inFlight > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
    // Give the server the acks/naks sent by the last handlers before returning.
    await sleep(0);
  }
}
