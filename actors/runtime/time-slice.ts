/**
 * Cooperative time slicing for work that must stay on the event loop (it
 * touches state the loop owns, or it is too small to be worth a thread hop):
 * the caller does its work in small steps and asks `due()` between them;
 * once `budgetMs` of wall time has gone since the last yield, `pause()`
 * gives the loop one turn (setImmediate: timers, I/O callbacks — lease
 * renewals, heartbeats, acks, HTTP — run before the work goes on).
 *
 * The budget is wall time measured with performance.now(), not a step
 * count: the same loop is 3× slower on a loaded 2-core box, and what must
 * stay bounded is the time the loop is held (issue 10: no synchronous stretch
 * above ~20 ms on a control loop).
 */
import { performance } from 'node:perf_hooks';
import { StarWeatherError } from '../../protocol/errors.js';

/** Default slice: well under the 20 ms the control loop tolerates, well above a loop turn's cost. */
export const DEFAULT_SLICE_MS = 5;

/** One turn of the event loop. */
export function yieldToLoop(): Promise<void> {
  return new Promise<void>((r) => setImmediate(r));
}

export interface SliceHooks {
  /** Awaited after every yield (tests: an async delay per slice that stretches work over many lease lengths without blocking the loop). */
  afterSlice?: () => Promise<void>;
  /** Checked at every slice boundary: long work stops there once it is aborted. */
  signal?: AbortSignal;
  /** The error thrown at a slice boundary after `signal` aborted (default SW_ERR_CLOSED). */
  abortError?: () => Error;
}

export interface SliceStats {
  /** Turns given to the loop. */
  slices: number;
  /** The longest stretch between two yields, ms (the work's synchronous part plus any awaited I/O in between). */
  longestMs: number;
}

export class TimeSlicer {
  private readonly budgetMs: number;
  private readonly hooks: SliceHooks;
  private since: number;
  /** Turns given to the loop so far (tests assert that long work yields). */
  yields = 0;
  readonly stats: SliceStats = { slices: 0, longestMs: 0 };

  constructor(budgetMs = DEFAULT_SLICE_MS, hooks: SliceHooks = {}) {
    this.budgetMs = budgetMs;
    this.hooks = hooks;
    this.since = performance.now();
  }

  /** Has the current slice used its budget? */
  due(): boolean {
    return performance.now() - this.since >= this.budgetMs;
  }

  /** Give the loop one turn and start a new slice; throws at the boundary once the signal is aborted. */
  async pause(): Promise<void> {
    const used = performance.now() - this.since;
    if (used > this.stats.longestMs) this.stats.longestMs = used;
    this.stats.slices++;
    await yieldToLoop();
    this.yields++;
    if (this.hooks.afterSlice) await this.hooks.afterSlice();
    if (this.hooks.signal?.aborted) throw this.hooks.abortError?.() ?? new StarWeatherError('SW_ERR_CLOSED', 'work stopped at a slice boundary: aborted');
    this.since = performance.now();
  }

  /** Same as pause(). */
  yield(): Promise<void> {
    return this.pause();
  }

  /** pause() if the slice is used up; the common call between steps. */
  async maybeYield(): Promise<void> {
    if (this.due()) await this.pause();
  }
}
