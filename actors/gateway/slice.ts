/**
 * Cooperative slicing for long loops on the gateway's event loop: call
 * `maybeYield()` between units of work; once `sliceMs` of synchronous work
 * has gone by since the last yield it waits for setImmediate, so timers and
 * I/O (heartbeats, leases, /health) run between slices. Awaiting a resolved
 * promise is not a yield: microtasks run before any I/O.
 */
import { performance } from 'node:perf_hooks';

export const DEFAULT_SLICE_MS = 5;

export class LoopSlicer {
  private last = performance.now();
  /** Times this slicer yielded. */
  yields = 0;

  constructor(private readonly sliceMs = DEFAULT_SLICE_MS) {}

  async maybeYield(): Promise<void> {
    if (performance.now() - this.last < this.sliceMs) return;
    await yieldNow();
    this.yields++;
    this.last = performance.now();
  }
}

export function yieldNow(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
