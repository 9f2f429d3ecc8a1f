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

/** Default slice: well under the 20 ms the control loop tolerates, well above a loop turn's cost. */
export const DEFAULT_SLICE_MS = 5;

/** One turn of the event loop. */
export function yieldToLoop(): Promise<void> {
  return new Promise<void>((r) => setImmediate(r));
}

export class TimeSlicer {
  private readonly budgetMs: number;
  private since: number;
  /** Turns given to the loop so far (tests assert that long work yields). */
  yields = 0;

  constructor(budgetMs = DEFAULT_SLICE_MS) {
    this.budgetMs = budgetMs;
    this.since = performance.now();
  }

  /** Has the current slice used its budget? */
  due(): boolean {
    return performance.now() - this.since >= this.budgetMs;
  }

  /** Give the loop one turn and start a new slice. */
  async pause(): Promise<void> {
    await yieldToLoop();
    this.yields++;
    this.since = performance.now();
  }

  /** pause() if the slice is used up; the common call between steps. */
  async maybeYield(): Promise<void> {
    if (this.due()) await this.pause();
  }
}
