/**
 * Load shedding for the gateway's HTTP routes (issue 10 "Degrade, don't
 * collapse"). A monitor samples this process's event loop every window:
 * the p99 of its delay (perf_hooks.monitorEventLoopDelay) and its
 * utilisation (performance.eventLoopUtilization). While the last two windows
 * were over a threshold (sustained overload: one long stall, such as startup
 * or a single big request, is over by the time anyone could be shed, and
 * shedding then would only refuse work the loop has time for), a request to
 * a sheddable route is answered 503
 * with Retry-After and a problem body before any of its work is done; the
 * routes that report on the node (/health, /metrics: `config.shed: false`)
 * are always served, so an overloaded node still says how it is.
 *
 * The delay is what clients feel. Utilisation is off by default: work that
 * is chunked with yields (the rule on this loop) keeps utilisation near 1
 * while every request is still answered promptly, and shedding then would
 * turn busy into unavailable.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { LoopDelayWindow } from '../runtime/loop-delay.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { problem, sendProblem } from './errors.js';

export interface OverloadLimits {
  /** Shed while the p99 event-loop delay of the last window was above this (ms); 0: never on delay. */
  maxEventLoopDelayMs: number;
  /** Shed while the event-loop utilisation of the last window was above this (0..1); 0: never on utilisation. */
  maxEventLoopUtilization: number;
  /** Sample window (ms): how long a spike keeps shedding on, and how soon shedding stops after. */
  sampleMs: number;
  /** Retry-After (seconds) on a shed answer. */
  retryAfterS: number;
}

export interface LoadSample {
  /** p99 event-loop delay over the last window, ms. */
  delayP99Ms: number;
  /** Event-loop utilisation over the last window, 0..1. */
  utilization: number;
  overloaded: boolean;
  /** Why, when overloaded: 'event_loop_delay' or 'event_loop_utilization'. */
  cause: string | null;
  /** When the sample was taken (ms since the epoch); 0 before the first. */
  at: number;
}

/** Resolution of the delay histogram: delays shorter than this are not seen. */
const HISTOGRAM_RESOLUTION_MS = 10;

export class LoadMonitor {
  private readonly delay: LoopDelayWindow;
  private elu: EventLoopUtilization;
  private timer: NodeJS.Timeout | null = null;
  private last: LoadSample = { delayP99Ms: 0, utilization: 0, overloaded: false, cause: null, at: 0 };
  /** Windows in a row over a threshold. */
  private overWindows = 0;

  constructor(private readonly limits: OverloadLimits) {
    this.delay = new LoopDelayWindow(HISTOGRAM_RESOLUTION_MS);
    this.elu = performance.eventLoopUtilization();
  }

  start(): void {
    if (this.timer) return;
    this.delay.start();
    this.elu = performance.eventLoopUtilization();
    this.timer = setInterval(() => this.sample(), this.limits.sampleMs);
    // A monitor alone must not keep the process alive.
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.delay.stop();
  }

  /** Take a sample now (the timer calls this every window). */
  sample(): LoadSample {
    const delayP99Ms = this.delay.takeP99Ms();
    const now = performance.eventLoopUtilization();
    const utilization = performance.eventLoopUtilization(now, this.elu).utilization;
    this.elu = now;
    const l = this.limits;
    const cause =
      l.maxEventLoopDelayMs > 0 && delayP99Ms > l.maxEventLoopDelayMs
        ? 'event_loop_delay'
        : l.maxEventLoopUtilization > 0 && utilization > l.maxEventLoopUtilization
          ? 'event_loop_utilization'
          : null;
    this.overWindows = cause === null ? 0 : this.overWindows + 1;
    const overloaded = this.overWindows >= 2;
    this.last = { delayP99Ms, utilization, overloaded, cause: overloaded ? cause : null, at: Date.now() };
    return this.last;
  }

  current(): LoadSample {
    return this.last;
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: never shed (reports on the node itself). */
    shed?: boolean;
  }
}

/**
 * Answer sheddable requests 503 while `monitor` says overloaded. Add on the
 * root instance before the routes (an onRequest hook runs before body
 * parsing, rate limiting and authentication). The monitor runs from here
 * until the app closes.
 */
export function shedWhenOverloaded(app: FastifyInstance, monitor: LoadMonitor, retryAfterS: number, onShed?: (route: string, cause: string) => void): void {
  monitor.start();
  app.addHook('onClose', async () => monitor.stop());
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const s = monitor.current();
    if (!s.overloaded || req.routeOptions.config?.shed === false) return;
    onShed?.(req.routeOptions.url ?? 'unrouted', s.cause ?? 'overload');
    reply.header('retry-after', String(retryAfterS));
    const what = s.cause === 'event_loop_utilization' ? `event-loop utilisation ${s.utilization.toFixed(2)}` : `event-loop delay p99 ${Math.round(s.delayP99Ms)} ms`;
    return sendProblem(reply, problem(503, 'SW_ERR_OVERLOADED', `the gateway is overloaded (${what}); retry after ${retryAfterS} s`));
  });
}
