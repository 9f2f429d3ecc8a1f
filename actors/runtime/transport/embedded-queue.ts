/**
 * One work queue of the embedded bus, with the JetStream work-queue semantics
 * the runtime relies on: de-duplication by message id within a window, FIFO
 * delivery shared by every consume() registration (like workers sharing one
 * durable pull consumer), explicit ack, redelivery after AckWait (working()
 * pushes the deadline out), nak with a delay, and MaxDeliver.
 *
 * The hot path allocates a task and a delivery per message and nothing else:
 * ring buffers instead of Array#shift, one periodic sweep for ack deadlines
 * and the de-dup window instead of a timer per message, one timer for the
 * earliest nak delay.
 */
import { ClosedError, StarWeatherError } from '../../../protocol/errors.js';
import type { QueueName } from '../../../protocol/names.js';
import type { QueueStats, WorkConsumer, WorkHandler, WorkMessage } from '../../../protocol/transport.js';
import { MinHeap } from './embedded-heap.js';
import { Ring } from './embedded-ring.js';

const READY = 0;
const IN_FLIGHT = 1;
const DELAYED = 2;
const DONE = 3;

class Task {
  state = READY;
  deliveryCount = 0;
  /** Bumped on every delivery, so a stale delivery's working()/nak() is ignored. */
  gen = 0;
  deadline = 0;
  dueAt = 0;
  constructor(
    readonly seq: number,
    readonly msgId: string,
    readonly data: Uint8Array,
  ) {}
}

/** What a queue needs from the transport that owns it. */
export interface QueueHost {
  /** True once close() has finished: settling calls are refused. */
  readonly closed: boolean;
  /**
   * Store and publish a dead letter; idempotent per (queue, msgId). Throws on
   * an invalid code. `from` says how `deliveries` is known: the delivery a
   * handler held, or the queue's own count (what the server's advisory is on NATS).
   */
  recordDeadLetter(queue: QueueName, msgId: string, data: Uint8Array, deliveries: number, code: string, reason: string, from: 'delivery' | 'advisory'): void;
  reportError(err: unknown): void;
}

export interface QueueSettings {
  ackWaitMs: number;
  maxDeliver: number;
  dedupeWindowMs: number;
}

class Delivery implements WorkMessage {
  readonly queue: QueueName;
  readonly msgId: string;
  readonly data: Uint8Array;
  readonly deliveryCount: number;
  readonly maxDeliver: number;
  /** Set by ack / nak / deadLetter, so a handler that throws unsettled can be nak'd. */
  settled = false;

  constructor(
    private readonly q: WorkQueue,
    private readonly task: Task,
    private readonly gen: number,
  ) {
    this.queue = q.name;
    this.msgId = task.msgId;
    this.data = task.data;
    this.deliveryCount = task.deliveryCount;
    this.maxDeliver = q.settings.maxDeliver;
  }

  working(): void {
    this.q.working(this.task, this.gen);
  }

  ack(): Promise<void> {
    this.settled = true;
    return this.q.ack(this.task);
  }

  nak(delayMs = 0): void {
    this.settled = true;
    this.q.nak(this.task, this.gen, delayMs);
  }

  deadLetter(code: string, reason: string): Promise<void> {
    this.settled = true;
    return this.q.deadLetter(this.task, code, reason);
  }
}

class Consumer implements WorkConsumer {
  active = 0;
  stopped = false;
  private idle: (() => void)[] = [];

  constructor(
    private readonly q: WorkQueue,
    readonly prefetch: number,
    readonly handler: WorkHandler,
  ) {}

  stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.q.removeConsumer(this);
    }
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  released(): void {
    this.active--;
    if (this.active === 0 && this.idle.length > 0) {
      const waiters = this.idle;
      this.idle = [];
      for (const w of waiters) w();
    }
  }
}

export class WorkQueue {
  private seq = 0;
  /** Tasks not yet acked or dead-lettered (the queue depth). */
  private live = 0;
  private readonly ready = new Ring<Task>();
  /** Redeliveries go ahead of new tasks, as JetStream serves its redelivery queue first. */
  private readonly redeliver = new Ring<Task>(16);
  private readonly inFlight = new Set<Task>();
  private readonly delayed = new MinHeap<Task>((t) => t.dueAt);
  private delayTimer: NodeJS.Timeout | null = null;
  private delayTimerAt = 0;
  // De-dup window as two generations of id → seq, the older dropped whole
  // once a window has passed: an id is remembered for at least one window
  // (what JetStream promises) and at most two, and expiry costs nothing per
  // message.
  private seen = new Map<string, number>();
  private seenOld = new Map<string, number>();
  private generationStart = 0;
  private consumers: Consumer[] = [];
  private rr = 0;
  private pumpScheduled = false;
  private stopped = false;

  constructor(
    readonly name: QueueName,
    readonly settings: QueueSettings,
    private readonly host: QueueHost,
  ) {}

  enqueue(msgId: string, data: Uint8Array, now: number): { duplicate: boolean; seq: number } {
    const window = this.settings.dedupeWindowMs;
    if (window > 0) {
      if (now - this.generationStart >= window) this.rotate(now);
      const prev = this.seen.get(msgId) ?? this.seenOld.get(msgId);
      if (prev !== undefined) return { duplicate: true, seq: prev };
    }
    const seq = ++this.seq;
    const task = new Task(seq, msgId, data);
    this.ready.push(task);
    this.live++;
    if (window > 0) this.seen.set(msgId, seq);
    this.schedulePump();
    return { duplicate: false, seq };
  }

  consume(prefetch: number, handler: WorkHandler): WorkConsumer {
    const c = new Consumer(this, prefetch, handler);
    this.consumers.push(c);
    this.schedulePump();
    return c;
  }

  removeConsumer(c: Consumer): void {
    this.consumers = this.consumers.filter((x) => x !== c);
    if (this.rr >= this.consumers.length) this.rr = 0;
  }

  stats(): QueueStats {
    return { depth: this.live, inFlight: this.inFlight.size };
  }

  /** Stop every consumer; resolves when their handlers have returned. */
  stopConsumers(): Promise<void> {
    return Promise.all(this.consumers.map((c) => c.stop())).then(() => undefined);
  }

  /** Release timers and memory (transport close). */
  shutdown(): void {
    this.stopped = true;
    if (this.delayTimer) clearTimeout(this.delayTimer);
    this.delayTimer = null;
    this.ready.clear();
    this.redeliver.clear();
    this.inFlight.clear();
    this.delayed.clear();
    this.seen = new Map();
    this.seenOld = new Map();
  }

  working(task: Task, gen: number): void {
    if (task.state !== IN_FLIGHT || task.gen !== gen) return;
    task.deadline = Date.now() + this.settings.ackWaitMs;
  }

  ack(task: Task): Promise<void> {
    if (this.host.closed) return Promise.reject(new ClosedError('embedded transport'));
    // Like JetStream, an ack from an earlier delivery still removes the task:
    // the work was done.
    this.remove(task);
    return Promise.resolve();
  }

  nak(task: Task, gen: number, delayMs: number): void {
    if (this.host.closed || task.state !== IN_FLIGHT || task.gen !== gen) return;
    this.inFlight.delete(task);
    if (task.deliveryCount >= this.settings.maxDeliver) {
      // JetStream will not deliver it again and raises the MaxDeliver advisory.
      this.expire(task, 'SW_ERR_HANDLER', `negatively acknowledged on delivery ${task.deliveryCount} of ${this.settings.maxDeliver}`);
      return;
    }
    const delay = Number.isFinite(delayMs) && delayMs > 0 ? delayMs : 0;
    if (delay === 0) {
      task.state = READY;
      this.redeliver.push(task);
      this.schedulePump();
      return;
    }
    task.state = DELAYED;
    task.dueAt = Date.now() + delay;
    this.delayed.push(task);
    this.armDelayTimer();
  }

  deadLetter(task: Task, code: string, reason: string): Promise<void> {
    if (this.host.closed) return Promise.reject(new ClosedError('embedded transport'));
    try {
      this.host.recordDeadLetter(this.name, task.msgId, task.data, task.deliveryCount, code, String(reason), 'delivery');
    } catch (err) {
      return Promise.reject(err);
    }
    this.remove(task);
    return Promise.resolve();
  }

  /** Periodic: expire ack deadlines and the de-dup window. */
  sweep(now: number): void {
    let expired = false;
    for (const task of this.inFlight) {
      if (task.deadline > now) continue;
      this.inFlight.delete(task);
      expired = true;
      if (task.deliveryCount >= this.settings.maxDeliver) {
        this.expire(task, 'SW_ERR_TIMEOUT', `not acknowledged within ${this.settings.ackWaitMs} ms on any of ${task.deliveryCount} deliveries`);
      } else {
        task.state = READY;
        this.redeliver.push(task);
      }
    }
    if (expired) this.schedulePump();
    // Also rotate here, so an idle queue lets go of its ids.
    if (this.settings.dedupeWindowMs > 0 && now - this.generationStart >= this.settings.dedupeWindowMs) this.rotate(now);
  }

  private rotate(now: number): void {
    // Two windows without a rotation: everything is older than one window.
    this.seenOld = now - this.generationStart >= 2 * this.settings.dedupeWindowMs ? new Map() : this.seen;
    this.seen = new Map();
    this.generationStart = now;
  }

  private remove(task: Task): void {
    if (task.state === DONE) return;
    this.inFlight.delete(task);
    // Tasks still in a ring or the delay heap are skipped when they surface.
    task.state = DONE;
    this.live--;
  }

  /** MaxDeliver reached without an ack: dead-letter it, as the NATS transport does from the advisory. */
  private expire(task: Task, code: 'SW_ERR_TIMEOUT' | 'SW_ERR_HANDLER', reason: string): void {
    try {
      this.host.recordDeadLetter(this.name, task.msgId, task.data, task.deliveryCount, code, reason, 'advisory');
    } catch (err) {
      this.host.reportError(err);
    }
    this.remove(task);
  }

  private armDelayTimer(): void {
    const next = this.delayed.peek();
    if (!next || this.stopped) return;
    if (this.delayTimer && this.delayTimerAt <= next.dueAt) return;
    if (this.delayTimer) clearTimeout(this.delayTimer);
    this.delayTimerAt = next.dueAt;
    this.delayTimer = setTimeout(this.releaseDelayed, Math.max(0, next.dueAt - Date.now()));
  }

  private readonly releaseDelayed = (): void => {
    this.delayTimer = null;
    const now = Date.now();
    let released = false;
    while (this.delayed.length > 0 && this.delayed.peek()!.dueAt <= now) {
      const task = this.delayed.pop()!;
      if (task.state !== DELAYED) continue;
      task.state = READY;
      this.redeliver.push(task);
      released = true;
    }
    if (released) this.schedulePump();
    this.armDelayTimer();
  };

  private schedulePump(): void {
    if (this.pumpScheduled || this.stopped) return;
    this.pumpScheduled = true;
    // setImmediate, not a microtask: handlers never run inside enqueue(), and
    // a busy queue still lets timers and I/O in between batches.
    setImmediate(this.pump);
  }

  private next(): Task | undefined {
    for (;;) {
      const task = this.redeliver.length > 0 ? this.redeliver.shift() : this.ready.shift();
      if (task === undefined) return undefined;
      if (task.state === READY) return task;
    }
  }

  private readonly pump = (): void => {
    this.pumpScheduled = false;
    if (this.stopped) return;
    const cs = this.consumers;
    const n = cs.length;
    // `blocked` counts consecutive consumers found full; a whole round of
    // them means no capacity is left.
    let blocked = 0;
    while (blocked < n) {
      if (this.rr >= n) this.rr = 0;
      const c = cs[this.rr++]!;
      if (c.stopped || c.active >= c.prefetch) {
        blocked++;
        continue;
      }
      const task = this.next();
      if (task === undefined) return;
      blocked = 0;
      task.state = IN_FLIGHT;
      task.deliveryCount++;
      task.gen++;
      task.deadline = Date.now() + this.settings.ackWaitMs;
      this.inFlight.add(task);
      c.active++;
      void this.run(c, new Delivery(this, task, task.gen));
    }
  };

  private async run(c: Consumer, d: Delivery): Promise<void> {
    try {
      await c.handler(d);
    } catch (err) {
      this.host.reportError(err);
      // A handler that threw without settling: retry now rather than after
      // a whole AckWait; MaxDeliver still bounds it.
      if (!d.settled) d.nak(0);
    } finally {
      c.released();
      this.schedulePump();
    }
  }
}

export function assertPrefetch(prefetch: unknown): asserts prefetch is number {
  if (typeof prefetch !== 'number' || !Number.isInteger(prefetch) || prefetch < 1 || prefetch > 1_000_000) {
    throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `prefetch must be an integer from 1 to 1000000 (got ${String(prefetch)})`);
  }
}
