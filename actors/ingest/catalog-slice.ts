/**
 * Time slices for long work on a shared event loop. Node's loop is not
 * preemptive: a catalog load that parses, validates and writes 15k records
 * in one go stalls every timer on the loop (lease renewals, heartbeats,
 * HTTP answers) for seconds on a loaded machine. Work done in a loop calls
 * `maybeYield()` between steps; once a slice of `sliceMs` is used up it
 * yields a macrotask turn (setImmediate, so timers and I/O run) before the
 * next step.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { StarWeatherError } from '../../protocol/errors.js';

/** Work between two yields, ms: well under the ~20 ms a control loop tolerates, large enough to keep the yield overhead small. */
export const CATALOG_SLICE_MS = 5;

export interface SlicePacing {
  /** Work per slice, ms (default CATALOG_SLICE_MS). */
  sliceMs?: number;
  /**
   * Awaited after every yield (tests: an async delay per slice that makes a
   * load span many lease lengths without blocking the loop).
   */
  afterSlice?: () => Promise<void>;
}

export interface SliceStats {
  /** Yields taken. */
  slices: number;
  /** The longest stretch between two yields, ms (synchronous work plus any awaited I/O in between). */
  longestMs: number;
}

/** Thrown at a slice boundary when the work's signal is aborted (the actor stopping). */
export class SliceAbortedError extends StarWeatherError {
  constructor(why: string) {
    super('SW_ERR_CLOSED', why);
  }
}

export class TimeSlicer {
  readonly stats: SliceStats = { slices: 0, longestMs: 0 };
  private readonly sliceMs: number;
  private readonly afterSlice: (() => Promise<void>) | undefined;
  private readonly signal: AbortSignal | undefined;
  private sliceStart = performance.now();

  constructor(pacing: SlicePacing = {}, signal?: AbortSignal) {
    this.sliceMs = pacing.sliceMs ?? CATALOG_SLICE_MS;
    this.afterSlice = pacing.afterSlice;
    this.signal = signal;
  }

  /** Yield if this slice is used up. Cheap when it is not (one clock read). */
  async maybeYield(): Promise<void> {
    if (performance.now() - this.sliceStart >= this.sliceMs) await this.yield();
  }

  /** Yield now, then start a new slice. Throws SliceAbortedError when the signal was aborted. */
  async yield(): Promise<void> {
    const used = performance.now() - this.sliceStart;
    if (used > this.stats.longestMs) this.stats.longestMs = used;
    this.stats.slices++;
    await nextTurn();
    if (this.afterSlice) await this.afterSlice();
    if (this.signal?.aborted) throw new SliceAbortedError('stopped: the catalog load was cut short at a slice boundary');
    this.sliceStart = performance.now();
  }
}
