/**
 * Time slices for long work on a shared event loop. Node's loop is not
 * preemptive: a catalog load that parses, validates and writes 15k records
 * in one go stalls every timer on the loop (lease renewals, heartbeats,
 * HTTP answers) for seconds on a loaded machine. Work done in a loop calls
 * `maybeYield()` between steps; once a slice of `sliceMs` is used up it
 * yields a macrotask turn (setImmediate, so timers and I/O run) before the
 * next step.
 */
import { StarWeatherError } from '../../protocol/errors.js';
import { TimeSlicer } from '../runtime/time-slice.js';

export { TimeSlicer, type SliceStats } from '../runtime/time-slice.js';

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

/** Thrown at a slice boundary when the work's signal is aborted (the actor stopping). */
export class SliceAbortedError extends StarWeatherError {
  constructor(why: string) {
    super('SW_ERR_CLOSED', why);
  }
}

/** The runtime's TimeSlicer, paced and stopped as a catalog load needs. */
export function catalogSlicer(pacing: SlicePacing = {}, signal?: AbortSignal): TimeSlicer {
  return new TimeSlicer(pacing.sliceMs ?? CATALOG_SLICE_MS, {
    ...(pacing.afterSlice ? { afterSlice: pacing.afterSlice } : {}),
    ...(signal ? { signal } : {}),
    abortError: () => new SliceAbortedError('stopped: the catalog load was cut short at a slice boundary'),
  });
}
