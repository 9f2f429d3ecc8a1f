/**
 * The event loop's p99 delay over a window that ends at each read: what the
 * overload decisions (worker shedding, gateway shedding) look at. The
 * histogram's samples include its own timer period; the delay is what comes
 * on top of it.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export class LoopDelayWindow {
  private readonly histogram: IntervalHistogram;
  private readonly resolutionMs: number;

  /** Delays shorter than `resolutionMs` are not seen. */
  constructor(resolutionMs: number) {
    this.resolutionMs = resolutionMs;
    this.histogram = monitorEventLoopDelay({ resolution: resolutionMs });
  }

  start(): void {
    this.histogram.enable();
  }

  stop(): void {
    this.histogram.disable();
  }

  /** p99 delay (ms) since the last read, then start a new window. 0 when nothing was sampled. */
  takeP99Ms(): number {
    const v = this.histogram.count > 0 ? Math.max(0, this.histogram.percentile(99) / 1e6 - this.resolutionMs) : 0;
    this.histogram.reset();
    return v;
  }
}
