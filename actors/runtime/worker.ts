/**
 * TaskWorker: takes tasks from the three work queues, decides with the
 * PriorityScheduler which buffered task runs next under one concurrency
 * limit, and settles each exactly once:
 *
 * - a message that is not a valid WorkTask, or whose payload fails its
 *   handler's schema, is a validation error: dead-lettered at once with its
 *   ProtocolError code and the field, counted, and never retried;
 * - a kind this host has no handler for is nak'ed with a delay (another host
 *   may know it) and dead-lettered as SW_ERR_UNKNOWN_MESSAGE on the last
 *   delivery;
 * - a handler that returns is acked (double ack on NATS);
 * - a handler that throws is classified (transient.ts classifyError):
 *   - `transient` (a dependency is down: PostgreSQL, NATS, the network, a
 *     timeout): the delivery is NOT given back. NATS counts every delivery
 *     toward MaxDeliver, so a nak would spend the task's budget on an outage
 *     (a 36 s PostgreSQL restart used to dead-letter 28 tasks). Instead the
 *     worker keeps ("parks") the message, extends its ack deadline with
 *     working() like any held task, and frees its concurrency slot. The
 *     queue's circuit breaker opens: no task of that queue starts while it
 *     is open, so nothing else is spent on a dependency known to be down.
 *     After a backoff (retryDelayMs, at least 100 ms, doubling per
 *     consecutive opening, capped at transientMaxDelayMs, jittered) it lets one task through as a probe
 *     (half-open). A success anywhere in the queue closes the breaker and
 *     every parked task runs again, on the same delivery; a transient
 *     failure reopens it with a longer delay. Parked tasks keep their
 *     consume slots, so a host whose breaker is open stops pulling once
 *     they are full. A task that has been parked for transientGiveUpMs is
 *     treated as an ordinary failure again (a "transient" error that never
 *     clears is a bug, and must end in the dead-letter stream eventually);
 *   - anything else (`failure`, and `invalid` too: a file that does not
 *     decode may be re-fetched whole next time): nak'ed with exponential
 *     backoff and jitter, and dead-lettered with its error code and message
 *     on the last delivery.
 *   Nothing is lost or doubled by parking: the message stays unacked until
 *   it is settled, and if this host dies the server redelivers it after
 *   AckWait (handlers are idempotent, as for any redelivery).
 *
 * AckWait is the visibility timeout (RELIABILITY.md): every task this worker
 * holds, buffered or running, gets `working()` every AckWait/3 so a long
 * task is not handed to a second worker while the first still runs it.
 *
 * Degrade, don't collapse: while this process's event loop is late (p99
 * delay of the last half second above `shedLagMs`), `weather` tasks are held
 * to one running at a time; above 4× it, `satellite` tasks too. `high` is
 * never held back. Held tasks stay buffered with their working() heartbeats
 * and start as soon as the delay falls: delayed, never dropped.
 */
import { LoopDelayWindow } from './loop-delay.js';
import type { Static, TSchema } from '@sinclair/typebox';
import type { Logger } from 'pino';
import { ProtocolError, StarWeatherError, errorCode, errorMessage } from '../../protocol/errors.js';
import type { MessageType } from '../../protocol/message.js';
import { WorkTaskMessage, type WorkTask } from '../../protocol/messages/work-task.js';
import { QUEUES, type QueueName } from '../../protocol/names.js';
import type { EnqueueResult, Transport, WorkConsumer, WorkMessage } from '../../protocol/transport.js';
import type { Metrics, TaskOutcome } from './metrics.js';
import { PriorityScheduler, type QueueWeights } from './priority.js';
import { classifyError, type Dependency, type ErrorClass } from './transient.js';

export interface TaskContext {
  /** The decoded envelope. */
  readonly task: WorkTask;
  /** 1 on first delivery. */
  readonly deliveryCount: number;
  readonly maxDeliver: number;
  /** Aborted when a drain runs out of time: the task has been handed back. */
  readonly signal: AbortSignal;
  readonly log: Logger;
  /** Extend the ack deadline now (the worker also does it every AckWait/3). */
  heartbeat(): void;
  /**
   * Whether throwing `err` now ends the task (dead letter) rather than having
   * it retried: true for an ordinary failure on the last delivery; false for
   * a transient failure (a dependency that is down), which is retried
   * without using up the delivery budget. A handler that records "failed"
   * on its task record asks this first.
   */
  isFinal(err: unknown): boolean;
}

export interface TaskHandler<S extends TSchema = TSchema> {
  payload: MessageType<S>;
  handle(payload: Static<S>, ctx: TaskContext): Promise<void> | void;
}

export interface TaskWorkerOptions {
  transport: Transport;
  logger: Logger;
  metrics: Metrics;
  /** Tasks running at once across all queues. */
  concurrency: number;
  /** Tasks held per queue (delivered, waiting for a slot). */
  prefetch: number;
  /** Base nak delay after a failure; doubles per delivery. */
  retryDelayMs: number;
  /** The queues' AckWait, for the working() heartbeat period. */
  ackWaitMs: number;
  /** Longest nak delay. Default 60 000 ms. */
  maxRetryDelayMs?: number;
  /**
   * Longest circuit-breaker delay after transient failures (a dependency
   * down), before the next probe task: the longest it takes to notice that
   * the dependency is back. A probe is one task failing fast, so this can
   * be short. Default 15 000 ms.
   */
  transientMaxDelayMs?: number;
  /**
   * A task parked this long by transient failures counts its next failure
   * against its delivery budget again. Default 1 800 000 ms (30 min).
   */
  transientGiveUpMs?: number;
  /** Queues to consume; default all three. */
  queues?: QueueName[];
  weights?: Partial<QueueWeights>;
  /**
   * Event-loop delay (ms, p99 of the last window) above which weather tasks
   * are held to one at a time; above 4× it, satellite tasks too. 0: never.
   */
  shedLagMs?: number;
  /** The delay source (default: this process's event loop); tests inject one. */
  loopDelayMs?: () => number;
}

/** 0: normal; 1: weather held; 2: weather and satellite held. */
export type OverloadLevel = 0 | 1 | 2;

export interface WorkerStats {
  /** Handlers running now. */
  inFlight: number;
  /** Delivered and waiting for a concurrency slot. */
  buffered: number;
  /** Acked after success. */
  processed: number;
  /** Handler failures (each retry or dead letter after a throw). */
  failed: number;
  /** Dead-lettered for any reason (invalid, unknown kind, last failure). */
  deadLettered: number;
  /** Rejected as malformed (decode or schema). */
  rejected: number;
  /** Current overload level (see OverloadLevel). */
  overload: OverloadLevel;
  /** Transient failures (a dependency down): parked, not charged a delivery. */
  transient: number;
  /** Tasks parked now, waiting for their queue's breaker to close. */
  parked: number;
  /** Circuit breakers that are not closed, by queue. */
  breakers: Partial<Record<QueueName, BreakerView>>;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerView {
  state: BreakerState;
  /** The dependency whose failure opened it. */
  dependency: Dependency | null;
  /** The current open delay (ms). */
  delayMs: number;
  /** Consecutive openings without a success in between. */
  level: number;
  /** Since when (epoch ms) the queue has not had a success. */
  since: number;
}

interface Breaker {
  state: BreakerState;
  dependency: Dependency | null;
  level: number;
  delayMs: number;
  since: number;
  closedAt: number;
  timer: NodeJS.Timeout | null;
  /** A probe task is running (half-open). */
  probing: boolean;
  /** Tasks that failed transiently, held unsettled until the breaker closes. */
  parked: Job[];
}

const BREAKER_STATE_VALUE: Record<BreakerState, number> = { closed: 0, open: 1, 'half-open': 2 };

interface Job {
  readonly msg: WorkMessage;
  readonly queue: QueueName;
  readonly task: WorkTask;
  readonly handler: TaskHandler;
  readonly payload: unknown;
  settled: boolean;
  controller: AbortController | null;
  /** When this task first failed transiently on this host (epoch ms). */
  transientSince: number | null;
  /** Started as its queue's half-open probe. */
  probe: boolean;
  /** Resolves the promise the transport's consume loop is waiting on. */
  finish(): void;
}

// Task kinds come from the wire: a metric label per unknown kind would let
// any producer grow the registry without bound.
const UNKNOWN_KIND_LABEL = '_unknown';
const INVALID_KIND_LABEL = '_invalid';
const KIND_RE = /^[a-z][a-z0-9._\-]*$/;

/**
 * Nak delay for a failed delivery: base × 2^(deliveryCount−1), capped, with
 * "equal jitter" (half fixed, half random) so a burst of failures does not
 * come back as a burst, yet no retry comes back immediately.
 */
export function retryDelay(baseMs: number, deliveryCount: number, capMs: number, random: () => number = Math.random): number {
  const exp = baseMs * 2 ** Math.min(30, Math.max(0, deliveryCount - 1));
  const capped = Math.min(capMs, exp);
  return Math.round(capped / 2 + (random() * capped) / 2);
}

export class TaskWorker {
  private readonly opts: Required<Omit<TaskWorkerOptions, 'weights' | 'shedLagMs' | 'loopDelayMs'>> & { weights: Partial<QueueWeights> | undefined };
  private readonly breakers = new Map<QueueName, Breaker>();
  private readonly shedLagMs: number;
  private loopDelayMs: (() => number) | null;
  private loopMonitor: LoopDelayWindow | null = null;
  private overloadTimer: NodeJS.Timeout | null = null;
  private overload: OverloadLevel = 0;
  private calmWindows = 0;
  private readonly runningByQueue = new Map<QueueName, number>();
  private readonly log: Logger;
  private readonly handlers = new Map<string, TaskHandler>();
  private readonly scheduler: PriorityScheduler<Job>;
  private readonly running = new Set<Job>();
  private consumers: WorkConsumer[] = [];
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private started = false;
  private draining = false;
  private drainPromise: Promise<void> | null = null;
  /** Deliveries received and not yet released back to the transport. */
  private holding = 0;
  private idleWaiters: Array<() => void> = [];
  private readonly counts = { processed: 0, failed: 0, deadLettered: 0, rejected: 0, transient: 0 };

  constructor(options: TaskWorkerOptions) {
    const int = (name: string, v: number, min: number): void => {
      if (!Number.isInteger(v) || v < min) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `TaskWorker ${name} must be an integer >= ${min} (got ${v})`);
    };
    int('concurrency', options.concurrency, 1);
    int('prefetch', options.prefetch, 1);
    int('retryDelayMs', options.retryDelayMs, 0);
    int('ackWaitMs', options.ackWaitMs, 3);
    const queues = options.queues ?? [...QUEUES];
    for (const q of queues) if (!QUEUES.includes(q)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `unknown queue ${JSON.stringify(q)}`);
    const { shedLagMs, loopDelayMs, ...rest } = options;
    if (options.transientMaxDelayMs !== undefined) int('transientMaxDelayMs', options.transientMaxDelayMs, 1);
    if (options.transientGiveUpMs !== undefined) int('transientGiveUpMs', options.transientGiveUpMs, 0);
    this.opts = {
      ...rest,
      maxRetryDelayMs: options.maxRetryDelayMs ?? 60_000,
      transientMaxDelayMs: options.transientMaxDelayMs ?? 15_000,
      transientGiveUpMs: options.transientGiveUpMs ?? 1_800_000,
      queues,
      weights: options.weights,
    };
    for (const q of queues) {
      this.breakers.set(q, { state: 'closed', dependency: null, level: 0, delayMs: 0, since: 0, closedAt: 0, timer: null, probing: false, parked: [] });
    }
    this.shedLagMs = shedLagMs ?? 0;
    this.loopDelayMs = loopDelayMs ?? null;
    this.log = options.logger;
    this.scheduler = new PriorityScheduler<Job>({ concurrency: options.concurrency, ...(options.weights ? { weights: options.weights } : {}) });
  }

  register<S extends TSchema>(kind: string, handler: TaskHandler<S>): void {
    if (!KIND_RE.test(kind) || kind.length > 100) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `task kind must match ${KIND_RE} (got ${JSON.stringify(kind)})`);
    if (this.handlers.has(kind)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `task kind ${kind} registered twice`);
    this.handlers.set(kind, handler as unknown as TaskHandler);
  }

  async start(): Promise<void> {
    if (this.started) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'TaskWorker already started');
    this.started = true;
    const period = Math.max(1, Math.floor(this.opts.ackWaitMs / 3));
    this.heartbeatTimer = setInterval(() => this.heartbeatAll(), period);
    this.heartbeatTimer.unref();
    if (this.shedLagMs > 0) this.watchLoad();
    try {
      for (const queue of this.opts.queues) {
        this.consumers.push(await this.opts.transport.consume(queue, { prefetch: this.opts.prefetch }, (msg) => this.receive(queue, msg)));
      }
    } catch (err) {
      await Promise.allSettled(this.consumers.map((c) => c.stop()));
      this.consumers = [];
      if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
      throw err;
    }
    this.log.info({ queues: this.opts.queues, concurrency: this.opts.concurrency, prefetch: this.opts.prefetch, kinds: [...this.handlers.keys()] }, 'task worker started');
  }

  /**
   * Stop taking work. Buffered tasks go back to the queue at once; running
   * ones get `timeoutMs` to finish, after which their signal is aborted and
   * they are nak'ed so another worker picks them up. Resolves when every
   * delivery this worker held has been settled.
   */
  drain(timeoutMs: number): Promise<void> {
    this.drainPromise ??= this.doDrain(timeoutMs);
    return this.drainPromise;
  }

  stats(): WorkerStats {
    let parked = 0;
    const breakers: Partial<Record<QueueName, BreakerView>> = {};
    for (const [q, b] of this.breakers) {
      parked += b.parked.length;
      if (b.state !== 'closed') breakers[q] = { state: b.state, dependency: b.dependency, delayMs: b.delayMs, level: b.level, since: b.since };
    }
    return { inFlight: this.running.size, buffered: this.scheduler.buffered(), ...this.counts, overload: this.overload, parked, breakers };
  }

  /** Re-read the loop delay every half second and set the overload level. */
  private watchLoad(): void {
    if (!this.loopDelayMs) {
      const window = new LoopDelayWindow(20);
      window.start();
      this.loopMonitor = window;
      this.loopDelayMs = () => window.takeP99Ms();
    }
    this.overloadTimer = setInterval(() => this.assessLoad(), 500);
    this.overloadTimer.unref();
  }

  /** Exposed for tests: one assessment of the loop delay. */
  assessLoad(): OverloadLevel {
    const lag = this.loopDelayMs ? this.loopDelayMs() : 0;
    const want: OverloadLevel = lag > 4 * this.shedLagMs ? 2 : lag > this.shedLagMs ? 1 : 0;
    const before = this.overload;
    if (want >= this.overload) {
      this.overload = want;
      this.calmWindows = 0;
    } else if (++this.calmWindows >= 2) {
      // Two calm windows in a row before letting held work go: no flapping.
      this.overload = want;
      this.calmWindows = 0;
    }
    if (this.overload !== before) {
      this.opts.metrics.overloadLevel?.set(this.overload);
      this.log[this.overload > before ? 'warn' : 'info']({ overload: this.overload, lagMs: Math.round(lag) }, this.overload > before ? 'event loop late: holding back lower-priority tasks' : 'event loop recovered: releasing held tasks');
      if (this.overload < before) this.pump();
    }
    return this.overload;
  }

  /** Whether a task of `queue` may start now: its breaker, then the overload level. */
  private eligible = (queue: QueueName): boolean => {
    const b = this.breakers.get(queue);
    if (b && (b.state === 'open' || (b.state === 'half-open' && b.probing))) return false;
    const held = (queue === 'weather' && this.overload >= 1) || (queue === 'satellite' && this.overload >= 2);
    if (!held) return true;
    if ((this.runningByQueue.get(queue) ?? 0) >= 1) {
      this.opts.metrics.tasksHeld?.inc({ queue });
      return false;
    }
    return true;
  };

  private async doDrain(timeoutMs: number): Promise<void> {
    this.draining = true;
    const stopping = this.consumers.map((c) => c.stop());
    for (const { item } of this.scheduler.clear()) this.handBack(item, 'draining: not started');
    for (const b of this.breakers.values()) {
      if (b.timer) clearTimeout(b.timer);
      b.timer = null;
      // Back to the queue after the breaker's delay: the dependency is still
      // down as far as this host knows, and an immediate redelivery would
      // only fail again elsewhere.
      for (const job of b.parked.splice(0)) this.handBack(job, 'draining: parked after a transient failure', b.delayMs);
    }
    this.updateParkedGauges();
    if (this.holding > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.whenIdle(), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
    }
    const late = [...this.running].filter((j) => !j.settled);
    if (late.length > 0) this.log.warn({ tasks: late.map((j) => j.task.id) }, 'drain timed out; handing running tasks back');
    for (const job of late) {
      job.controller?.abort(new StarWeatherError('SW_ERR_TIMEOUT', `drain: task did not finish within ${timeoutMs} ms`));
      this.handBack(job, 'draining: timed out');
    }
    const results = await Promise.allSettled(stopping);
    for (const r of results) if (r.status === 'rejected') this.log.warn({ err: r.reason }, 'consumer stop failed');
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    if (this.overloadTimer) clearInterval(this.overloadTimer);
    this.overloadTimer = null;
    this.loopMonitor?.stop();
    this.log.info(this.stats(), 'task worker drained');
  }

  /** The consume loop's handler. Never rejects: one bad message must not stop the loop. */
  private receive(queue: QueueName, msg: WorkMessage): Promise<void> {
    this.holding++;
    return new Promise<void>((resolve) => {
      let released = false;
      // Idempotent: a task handed back by drain is released then, and again
      // when its handler finally returns.
      const release = (): void => {
        if (released) return;
        released = true;
        this.holding--;
        resolve();
        if (this.holding === 0) for (const w of this.idleWaiters.splice(0)) w();
      };
      this.admit(queue, msg, release).catch((err) => {
        // Only a bug in this file gets here; leave the message to AckWait.
        this.log.error({ err, queue, msgId: msg.msgId }, 'task worker failed to handle a delivery');
        release();
      });
    });
  }

  private async admit(queue: QueueName, msg: WorkMessage, release: () => void): Promise<void> {
    if (this.draining) {
      safeNak(msg, 0, this.log);
      release();
      return;
    }
    let task: WorkTask;
    try {
      task = WorkTaskMessage.decode(msg.data);
    } catch (err) {
      await this.reject(queue, msg, null, err, `message ${msg.msgId} on ${queue}`);
      release();
      return;
    }
    const handler = this.handlers.get(task.kind);
    if (!handler) {
      await this.unknownKind(queue, msg, task);
      release();
      return;
    }
    let payload: unknown;
    try {
      payload = handler.payload.assert(task.payload);
    } catch (err) {
      await this.reject(queue, msg, task, err, `task ${task.id} (${task.kind}): payload`);
      release();
      return;
    }
    const job: Job = { msg, queue, task, handler, payload, settled: false, controller: null, transientSince: null, probe: false, finish: release };
    this.scheduler.push(queue, job);
    this.pump();
  }

  private pump(): void {
    for (let next = this.scheduler.take(this.eligible); next !== null; next = this.scheduler.take(this.eligible)) {
      const b = this.breakers.get(next.queue);
      next.item.probe = b?.state === 'half-open';
      if (b && next.item.probe) b.probing = true;
      void this.run(next.item);
    }
  }

  private async run(job: Job): Promise<void> {
    const { msg, task, queue } = job;
    const controller = new AbortController();
    job.controller = controller;
    this.running.add(job);
    this.runningByQueue.set(queue, (this.runningByQueue.get(queue) ?? 0) + 1);
    const log = this.log.child({ task: task.id, kind: task.kind, queue });
    const ctx: TaskContext = {
      task,
      deliveryCount: msg.deliveryCount,
      maxDeliver: msg.maxDeliver,
      signal: controller.signal,
      log,
      heartbeat: () => {
        if (!job.settled) msg.working();
      },
      isFinal: (err) => this.verdict(job, classifyError(err)) === 'dead_letter',
    };
    const t0 = performance.now();
    let failure: { err: unknown } | null = null;
    try {
      await job.handler.handle(job.payload, ctx);
    } catch (err) {
      failure = { err };
    }
    this.opts.metrics.taskDuration.observe({ queue }, (performance.now() - t0) / 1000);
    this.running.delete(job);
    this.runningByQueue.set(queue, (this.runningByQueue.get(queue) ?? 1) - 1);
    this.scheduler.done();
    const breaker = this.breakers.get(queue)!;
    const wasProbe = job.probe;
    job.probe = false;
    if (wasProbe) breaker.probing = false;
    let parked = false;
    try {
      if (job.settled) {
        // Handed back by a drain that ran out of time; whatever happened is
        // redone by the next delivery, which is why handlers are idempotent.
        log.warn({ failed: failure !== null }, 'task finished after it was handed back');
        return;
      }
      if (failure === null) {
        job.settled = true;
        this.breakerSuccess(queue, breaker);
        try {
          await msg.ack();
          this.counts.processed++;
          this.count(queue, task.kind, 'ok');
        } catch (err) {
          log.warn({ err }, 'ack failed; the task will be redelivered');
          this.count(queue, task.kind, 'retry');
        }
        return;
      }
      const { err } = failure;
      const cls = classifyError(err);
      const verdict = this.verdict(job, cls);
      if (verdict === 'park') {
        this.counts.transient++;
        job.transientSince ??= Date.now();
        this.opts.metrics.transientFailures?.inc({ queue, dependency: cls.dependency ?? 'unknown' });
        this.count(queue, task.kind, 'transient');
        if (this.draining) {
          job.settled = true;
          log.warn({ err, dependency: cls.dependency, reason: cls.reason }, 'task failed transiently while draining; handing it back');
          safeNak(msg, breaker.delayMs, log);
          return;
        }
        parked = true;
        breaker.parked.push(job);
        this.breakerFailure(queue, breaker, cls, wasProbe);
        log.warn({ err: errorMessage(err), dependency: cls.dependency, reason: cls.reason, deliveries: msg.deliveryCount, breaker: breaker.state, retryInMs: breaker.delayMs }, 'task failed: a dependency is down; holding the task (its delivery budget is not spent)');
        this.updateParkedGauges();
        return;
      }
      job.settled = true;
      this.counts.failed++;
      if (wasProbe) this.probeInconclusive(queue, breaker);
      if (verdict === 'dead_letter') {
        const why = cls.kind === 'transient' ? `task failed transiently for ${Date.now() - (job.transientSince ?? Date.now())} ms, past the give-up time, on its last delivery` : 'task failed on its last delivery';
        log.error({ err, deliveries: msg.deliveryCount, class: cls.kind, reason: cls.reason }, `${why}; dead-lettering it`);
        await this.deadLetter(queue, msg, task.kind, errorCode(err), errorMessage(err));
      } else {
        const delay = retryDelay(this.opts.retryDelayMs, msg.deliveryCount, this.opts.maxRetryDelayMs);
        log.warn({ err, deliveries: msg.deliveryCount, retryInMs: delay, class: cls.kind, reason: cls.reason }, 'task failed; will retry');
        safeNak(msg, delay, log);
        this.count(queue, task.kind, 'retry');
      }
    } finally {
      if (!parked) job.finish();
      this.pump();
    }
  }

  /** What a failure of `job` with class `cls` leads to now. */
  private verdict(job: Job, cls: ErrorClass): 'park' | 'retry' | 'dead_letter' {
    if (cls.kind === 'transient' && (job.transientSince === null || Date.now() - job.transientSince < this.opts.transientGiveUpMs)) return 'park';
    return job.msg.deliveryCount >= job.msg.maxDeliver ? 'dead_letter' : 'retry';
  }

  /** A task of `queue` succeeded: whatever it depends on is back; run the parked tasks. */
  private breakerSuccess(queue: QueueName, b: Breaker): void {
    // The level is kept: a breaker that reopens soon after closing backs off further.
    if (b.state === 'closed') return;
    if (b.timer) clearTimeout(b.timer);
    b.timer = null;
    const downMs = Date.now() - b.since;
    this.log.info({ queue, dependency: b.dependency, downMs, parked: b.parked.length }, 'circuit breaker closed: a task succeeded; running the parked tasks');
    this.setBreakerState(queue, b, 'closed');
    b.closedAt = Date.now();
    b.probing = false;
    for (const job of b.parked.splice(0)) this.scheduler.push(queue, job);
    this.updateParkedGauges();
  }

  /** A task of `queue` failed transiently: open its breaker (or reopen it after a failed probe). */
  private breakerFailure(queue: QueueName, b: Breaker, cls: ErrorClass, wasProbe: boolean): void {
    const now = Date.now();
    if (b.state === 'open') return;
    if (b.state === 'half-open' && !wasProbe) {
      // A task that started before the probe: it says the same as the probe will.
      if (b.probing) return;
    }
    if (b.state === 'closed') {
      // Reopened soon after closing: the dependency is flapping, or the
      // success that closed it did not touch it. Back off further.
      const recently = b.closedAt > 0 && now - b.closedAt <= 2 * b.delayMs + this.baseDelay();
      b.level = recently ? b.level + 1 : 0;
      b.since = recently ? b.since : now;
    } else {
      b.level++;
    }
    if (b.dependency && b.dependency !== cls.dependency) this.opts.metrics.breakerState?.set({ queue, dependency: b.dependency }, 0);
    b.dependency = cls.dependency ?? 'unknown';
    b.delayMs = retryDelay(this.baseDelay(), b.level + 1, this.opts.transientMaxDelayMs);
    this.setBreakerState(queue, b, 'open');
    this.opts.metrics.breakerDelay?.set({ queue }, b.delayMs / 1000);
    if (b.timer) clearTimeout(b.timer);
    b.timer = setTimeout(() => this.halfOpen(queue, b), b.delayMs);
    b.timer.unref();
    if (b.level === 0) this.log.warn({ queue, dependency: cls.dependency, reason: cls.reason, retryInMs: b.delayMs }, 'circuit breaker open: a dependency is down; starting no tasks of this queue until a probe succeeds');
  }

  /** The breaker's delay is over: let one task through. */
  private halfOpen(queue: QueueName, b: Breaker): void {
    b.timer = null;
    if (this.draining || b.state !== 'open') return;
    this.setBreakerState(queue, b, 'half-open');
    b.probing = false;
    this.offerProbe(queue, b);
    this.pump();
  }

  /** A probe failed for a reason that says nothing about the dependency: let another task probe. */
  private probeInconclusive(queue: QueueName, b: Breaker): void {
    if (b.state !== 'half-open') return;
    this.offerProbe(queue, b);
  }

  /** Make sure a task is there to probe with: a buffered one, else the oldest parked one. */
  private offerProbe(queue: QueueName, b: Breaker): void {
    if (this.scheduler.buffered(queue) > 0) return;
    const job = b.parked.shift();
    if (job) {
      this.scheduler.push(queue, job);
      this.updateParkedGauges();
      return;
    }
    // Nothing left that failed: nothing to hold back either.
    this.setBreakerState(queue, b, 'closed');
    b.closedAt = Date.now();
  }

  private baseDelay(): number {
    return Math.max(100, this.opts.retryDelayMs);
  }

  private setBreakerState(queue: QueueName, b: Breaker, state: BreakerState): void {
    const g = this.opts.metrics.breakerState;
    if (g && b.dependency) g.set({ queue, dependency: b.dependency }, BREAKER_STATE_VALUE[state]);
    if (state === 'closed') this.opts.metrics.breakerDelay?.set({ queue }, 0);
    b.state = state;
  }

  private updateParkedGauges(): void {
    const g = this.opts.metrics.tasksParked;
    if (!g) return;
    for (const [q, b] of this.breakers) g.set({ queue: q }, b.parked.length);
  }

  /** Malformed envelope or payload: never retried. */
  private async reject(queue: QueueName, msg: WorkMessage, task: WorkTask | null, err: unknown, what: string): Promise<void> {
    const code = err instanceof ProtocolError ? err.code : 'SW_ERR_DECODE';
    const reason = `${what}: ${errorMessage(err)}`;
    this.counts.rejected++;
    this.opts.metrics.messagesRejected.inc({ where: 'worker', code });
    this.log.warn({ queue, msgId: msg.msgId, code, reason }, 'rejected a malformed task');
    const kind = task && this.handlers.has(task.kind) ? task.kind : INVALID_KIND_LABEL;
    await this.deadLetter(queue, msg, kind, code, reason);
  }

  private async unknownKind(queue: QueueName, msg: WorkMessage, task: WorkTask): Promise<void> {
    if (msg.deliveryCount >= msg.maxDeliver) {
      const reason = `task ${task.id}: no handler for kind ${JSON.stringify(task.kind)} after ${msg.deliveryCount} deliveries`;
      this.opts.metrics.messagesRejected.inc({ where: 'worker', code: 'SW_ERR_UNKNOWN_MESSAGE' });
      this.log.warn({ queue, task: task.id, kind: task.kind }, 'no host knows this task kind; dead-lettering it');
      await this.deadLetter(queue, msg, UNKNOWN_KIND_LABEL, 'SW_ERR_UNKNOWN_MESSAGE', reason);
      return;
    }
    // Another host (a newer version, another role) may have the handler.
    const delay = retryDelay(this.opts.retryDelayMs, msg.deliveryCount, this.opts.maxRetryDelayMs);
    this.log.debug({ queue, task: task.id, kind: task.kind, retryInMs: delay }, 'no handler for this kind here; handing it back');
    safeNak(msg, delay, this.log);
    this.count(queue, UNKNOWN_KIND_LABEL, 'retry');
  }

  private async deadLetter(queue: QueueName, msg: WorkMessage, kindLabel: string, code: string, reason: string): Promise<void> {
    try {
      await msg.deadLetter(code, reason);
      this.counts.deadLettered++;
      this.opts.metrics.deadLetters.inc({ queue, code });
      this.count(queue, kindLabel, 'dead_letter');
    } catch (err) {
      // Not acked either: the transport redelivers it or raises MaxDeliver.
      this.log.error({ err, queue, msgId: msg.msgId, code, reason }, 'could not write the dead letter');
    }
  }

  private handBack(job: Job, why: string, delayMs = 0): void {
    if (job.settled) return;
    job.settled = true;
    safeNak(job.msg, delayMs, this.log);
    this.count(job.queue, job.task.kind, 'retry');
    this.log.debug({ task: job.task.id, why }, 'task handed back to the queue');
    job.finish();
  }

  private heartbeatAll(): void {
    for (const job of this.running) if (!job.settled) safeWorking(job.msg, this.log);
    for (const { item } of this.scheduler.items()) safeWorking(item.msg, this.log);
    for (const b of this.breakers.values()) for (const job of b.parked) safeWorking(job.msg, this.log);
  }

  private count(queue: QueueName, kind: string, outcome: TaskOutcome): void {
    this.opts.metrics.tasks.inc({ queue, kind, outcome });
  }

  private whenIdle(): Promise<void> {
    if (this.holding === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

function safeNak(msg: WorkMessage, delayMs: number, log: Logger): void {
  try {
    msg.nak(delayMs);
  } catch (err) {
    log.warn({ err, msgId: msg.msgId }, 'nak failed; AckWait will redeliver the task');
  }
}

function safeWorking(msg: WorkMessage, log: Logger): void {
  try {
    msg.working();
  } catch (err) {
    log.debug({ err, msgId: msg.msgId }, 'working() failed');
  }
}

export interface NewTask<S extends TSchema = TSchema> {
  queue: QueueName;
  /** Stable id: the idempotency key and the Nats-Msg-Id, so a retried publish is dropped. */
  id: string;
  kind: string;
  payload: Static<S>;
  /** Validate the payload before it leaves this process. */
  payloadType?: MessageType<S>;
}

/** Build, validate and enqueue one WorkTask (createdAt = now). Throws ProtocolError on an invalid task. */
export async function enqueueTask<S extends TSchema>(transport: Transport, t: NewTask<S>): Promise<EnqueueResult> {
  if (t.payloadType) t.payloadType.assert(t.payload);
  const envelope: WorkTask = { v: 1, id: t.id, kind: t.kind, queue: t.queue, createdAt: new Date().toISOString(), payload: t.payload };
  // encode() checks the envelope against its schema.
  const bytes = WorkTaskMessage.encode(envelope);
  return transport.enqueue(t.queue, t.id, bytes);
}
