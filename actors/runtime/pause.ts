/**
 * When did this thread's event loop not run? A lease whose local deadline
 * passed while we were running (awake, but renewals failed) must be
 * released at once, before anyone else may take it. A deadline that passed
 * while we were NOT running (our loop stalled, or the process was stopped)
 * says nothing about the bus: then the lease is reclaimed by compare-and-set
 * on the revision we hold, which succeeds only if nobody took it meanwhile
 * (and so proves that nobody acted for it), instead of being dropped and
 * re-acquired: busy is not dead, and a pause alone moves no shard.
 *
 * The tracker notices a gap between its own timer ticks; `wasPausedAt` also
 * catches a pause that has just ended, before that timer had a chance to run.
 */
import { performance } from 'node:perf_hooks';

export interface PauseWindow {
  /** performance.now() range in which the loop did not run. */
  from: number;
  to: number;
}

export class PauseTracker {
  readonly tickMs: number;
  readonly slackMs: number;
  /** Recent windows, oldest first, kept for `keepMs`. */
  private windows: PauseWindow[] = [];
  private last = performance.now();
  private readonly keepMs: number;
  private timer: NodeJS.Timeout | null = null;
  private users = 0;

  constructor(options: { tickMs?: number; slackMs?: number; keepMs?: number } = {}) {
    this.tickMs = options.tickMs ?? 100;
    this.slackMs = options.slackMs ?? 400;
    this.keepMs = options.keepMs ?? 120_000;
  }

  /** Start watching (reference counted; the timer never keeps a process alive). */
  retain(): void {
    this.users++;
    if (this.timer) return;
    this.last = performance.now();
    this.timer = setInterval(() => this.observe(), this.tickMs);
    this.timer.unref();
  }

  release(): void {
    this.users = Math.max(0, this.users - 1);
    if (this.users === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** Record a gap since the last observation, if it was longer than a tick plus the slack. */
  observe(now: number = performance.now()): void {
    if (this.timer && now - this.last > this.tickMs + this.slackMs) {
      this.windows.push({ from: this.last + this.tickMs, to: now });
    }
    this.last = now;
    while (this.windows.length > 0 && this.windows[0]!.to < now - this.keepMs) this.windows.shift();
  }

  /** Was the loop not running at monotonic time `t` (performance.now() scale)? */
  wasPausedAt(t: number): boolean {
    this.observe();
    // A deadline a tick before the stall began may have been missed by it too.
    return this.windows.some((w) => t >= w.from - this.tickMs - this.slackMs && t <= w.to);
  }

  /**
   * Did monotonic time `t` fall in a pause that ended less than `graceMs`
   * ago? A record that "expired" during our own pause may only look expired
   * because we could not read its refreshes yet: they wait in our socket
   * buffers until the loop turns again.
   */
  coveredBy(t: number, graceMs: number): boolean {
    this.observe();
    const now = performance.now();
    return this.windows.some((w) => t >= w.from - this.tickMs - this.slackMs && t <= w.to && now <= w.to + graceMs);
  }

  /** Total paused time in the recent windows (ms), for logs and tests. */
  recentPausedMs(): number {
    return this.windows.reduce((n, w) => n + (w.to - w.from), 0);
  }
}

/** One per thread: every lease holder of a host shares the same loop. */
export const loopPauses = new PauseTracker();
