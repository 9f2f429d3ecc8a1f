/**
 * One prom-client registry per process with the runtime's standard
 * instruments. Other modules add their own instruments to `registry`
 * (never to prom-client's global one, so tests can run several workers in a
 * process without "metric already registered" clashes).
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface EventLoopDelay {
  /** p99 event-loop delay in seconds over the current window (the previous one if the current is empty). */
  p99Seconds(): number;
  /** Start a fresh window now (a test measuring one period calls this first). */
  reset(): void;
}

export interface Metrics {
  readonly registry: Registry;
  /** Malformed or invalid messages, by where they were caught and the SW_ERR_ code. */
  readonly messagesRejected: Counter<'where' | 'code'>;
  readonly tasks: Counter<'queue' | 'kind' | 'outcome'>;
  readonly taskDuration: Histogram<'queue'>;
  /** Overload level of a worker host (0 normal, 1 weather held, 2 weather and satellite held). */
  readonly overloadLevel?: Gauge;
  /** Task starts held back by overload shedding, by queue. */
  readonly tasksHeld?: Counter<'queue'>;
  readonly deadLetters: Counter<'queue' | 'code'>;
  /** Task failures classified transient (a dependency down), by queue and dependency: held, not charged a delivery. */
  readonly transientFailures?: Counter<'queue' | 'dependency'>;
  /** Circuit breaker of a worker's queue: 0 closed, 1 open, 2 half-open, by queue and the dependency that opened it. */
  readonly breakerState?: Gauge<'queue' | 'dependency'>;
  /** The breaker's current delay before its next probe (0 while closed), by queue. */
  readonly breakerDelay?: Gauge<'queue'>;
  /** Tasks parked by transient failures, by queue. */
  readonly tasksParked?: Gauge<'queue'>;
  readonly mailboxRejected: Counter<'kind'>;
  /** Handler failures inside actors, by what supervision decided. */
  readonly actorFailures: Counter<'kind' | 'directive'>;
  readonly actorsActive: Gauge<'kind'>;
  readonly eventLoopDelayP99: Gauge;
  readonly eventLoop: EventLoopDelay;
  /** Stop the event-loop monitor and its timer. */
  close(): void;
}

export type TaskOutcome = 'ok' | 'retry' | 'dead_letter' | 'transient';

export interface MetricsOptions {
  /** Event-loop delay window; p99 is reported over the last full window. Default 10 s. */
  eventLoopWindowMs?: number;
  /** Sampling resolution of the event-loop monitor. Default 10 ms. */
  eventLoopResolutionMs?: number;
  /** Labels added to every metric (e.g. { node }). */
  defaultLabels?: Record<string, string>;
}

/**
 * A windowed p99 of this thread's event-loop delay. A cumulative p99 would
 * hide a recent stall behind hours of calm, and resetting on every scrape
 * (as prom-client's default nodejs_eventloop_lag_* gauges do) would make two
 * scrapers see different values: so the window is fixed, rotated on a timer.
 */
export function startEventLoopDelay(options: Pick<MetricsOptions, 'eventLoopWindowMs' | 'eventLoopResolutionMs'> = {}): EventLoopDelay & { close(): void } {
  const resolutionMs = options.eventLoopResolutionMs ?? 10;
  const monitor: IntervalHistogram = monitorEventLoopDelay({ resolution: resolutionMs });
  monitor.enable();
  // The histogram records the time between its timer's ticks, which includes
  // the sampling interval itself; the delay is what comes on top of it.
  const delaySeconds = (ns: number): number => Math.max(0, ns / 1e6 - resolutionMs) / 1000;
  let lastWindowP99 = 0;
  const p99Seconds = (): number => (monitor.count > 0 ? delaySeconds(monitor.percentile(99)) : lastWindowP99);
  const rotate = setInterval(() => {
    if (monitor.count > 0) lastWindowP99 = delaySeconds(monitor.percentile(99));
    monitor.reset();
  }, options.eventLoopWindowMs ?? 10_000);
  rotate.unref();
  return {
    p99Seconds,
    reset: () => {
      lastWindowP99 = 0;
      monitor.reset();
    },
    close() {
      clearInterval(rotate);
      monitor.disable();
    },
  };
}

/** The one event-loop delay series of a thread (a host's, or a supervisor's): the windowed p99 above. */
export function eventLoopDelayGauge(registry: Registry, loop: EventLoopDelay): Gauge {
  return new Gauge({
    name: 'sw_event_loop_delay_p99_seconds',
    help: 'p99 event-loop delay over a fixed 10 s window (perf_hooks.monitorEventLoopDelay), per host thread or process and per supervisor; long tasks on the loop delay acks and working() heartbeats',
    registers: [registry],
    collect() {
      this.set(loop.p99Seconds());
    },
  });
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.defaultLabels) registry.setDefaultLabels(options.defaultLabels);
  const registers = [registry];
  const loop = startEventLoopDelay(options);
  const eventLoopDelayP99 = eventLoopDelayGauge(registry, loop);

  return {
    registry,
    messagesRejected: new Counter({
      name: 'sw_messages_rejected_total',
      help: 'Messages rejected as malformed or invalid, by where they were caught and reason code',
      labelNames: ['where', 'code'] as const,
      registers,
    }),
    tasks: new Counter({
      name: 'sw_tasks_total',
      help: 'Work tasks handled, by queue, kind and outcome (ok; retry: given back for a later delivery; dead_letter; transient: held after a dependency failure, no delivery spent)',
      labelNames: ['queue', 'kind', 'outcome'] as const,
      registers,
    }),
    taskDuration: new Histogram({
      name: 'sw_task_duration_seconds',
      help: 'Handler run time of work tasks',
      labelNames: ['queue'] as const,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers,
    }),
    overloadLevel: new Gauge({
      name: 'sw_worker_overload_level',
      help: 'Overload level of a worker host: 0 normal, 1 weather tasks held to one at a time, 2 satellite too (event-loop delay above STARWEATHER_SHED_LAG_MS, or 4x it); high is never held',
      registers,
    }),
    tasksHeld: new Counter({
      name: 'sw_worker_task_starts_held_total',
      help: 'Times a buffered task could not start because its queue was held back by overload shedding, by queue',
      labelNames: ['queue'] as const,
      registers,
    }),
    deadLetters: new Counter({
      name: 'sw_dead_letters_total',
      help: 'Tasks given up on and written to the dead-letter stream, by queue and reason code',
      labelNames: ['queue', 'code'] as const,
      registers,
    }),
    transientFailures: new Counter({
      name: 'sw_worker_transient_failures_total',
      help: 'Task failures classified transient (a dependency down: database, bus, cache, network; or a timeout), by queue and dependency. Such a task is held and retried without using up its delivery budget',
      labelNames: ['queue', 'dependency'] as const,
      registers,
    }),
    breakerState: new Gauge({
      name: 'sw_worker_breaker_state',
      help: 'Circuit breaker of a worker queue after transient failures: 0 closed, 1 open (no task of the queue starts), 2 half-open (one probe task runs), by queue and the dependency that opened it',
      labelNames: ['queue', 'dependency'] as const,
      registers,
    }),
    breakerDelay: new Gauge({
      name: 'sw_worker_breaker_delay_seconds',
      help: 'Current delay of a worker queue circuit breaker before its next probe (0 while closed), by queue',
      labelNames: ['queue'] as const,
      registers,
    }),
    tasksParked: new Gauge({
      name: 'sw_worker_tasks_parked',
      help: 'Tasks a worker holds after a transient failure, waiting for their queue circuit breaker to close, by queue',
      labelNames: ['queue'] as const,
      registers,
    }),
    mailboxRejected: new Counter({
      name: 'sw_mailbox_rejected_total',
      help: 'Messages refused by a full actor mailbox, by actor kind',
      labelNames: ['kind'] as const,
      registers,
    }),
    actorFailures: new Counter({
      name: 'sw_actor_failures_total',
      help: 'Actor handler failures, by actor kind and supervision directive (resume, restart, stop)',
      labelNames: ['kind', 'directive'] as const,
      registers,
    }),
    actorsActive: new Gauge({
      name: 'sw_actors_active',
      help: 'Actors currently activated, by kind',
      labelNames: ['kind'] as const,
      registers,
    }),
    eventLoopDelayP99,
    eventLoop: { p99Seconds: loop.p99Seconds, reset: loop.reset },
    close() {
      loop.close();
    },
  };
}
