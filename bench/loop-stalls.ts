/**
 * The longest synchronous stretches of a benchmark, per stage: a 1 ms
 * interval timer notes every gap between its firings longer than
 * `thresholdMs` (the loop was held by one synchronous stretch, or by a run of
 * callbacks with no timer phase between them), and the caller names what ran
 * since its previous `lap()`; each gap goes to the stage it overlaps most.
 * `monitorEventLoopDelay` (the figure the runtime's own metrics use) is
 * sampled beside it, so both figures print.
 *
 * A gap is an upper bound of the stretch: the timer fires up to a
 * millisecond late even on an idle loop, and more on a loaded machine.
 */
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';

export interface StallSummary {
  /** Longest gap seen in any stage, ms. */
  maxMs: number;
  /** Longest gap per stage, ms (stages with no gap above the threshold are 0). */
  byStage: Map<string, number>;
  /** Gaps above the threshold, per stage. */
  countByStage: Map<string, number>;
  /** monitorEventLoopDelay's max over the whole run, ms. */
  elDelayMaxMs: number;
}

export class StallProbe {
  private readonly thresholdMs: number;
  private timer: NodeJS.Timeout | undefined;
  private last = 0;
  private readonly gaps: Array<[number, number]> = [];
  private readonly laps: Array<[number, string]> = [];
  private lapStart = 0;
  private el: IntervalHistogram | null = null;

  constructor(thresholdMs = 3) {
    this.thresholdMs = thresholdMs;
  }

  start(): void {
    this.gaps.length = 0;
    this.laps.length = 0;
    this.el = monitorEventLoopDelay({ resolution: 1 });
    this.el.enable();
    this.last = this.lapStart = performance.now();
    this.timer = setInterval(() => {
      const now = performance.now();
      // The interval's own 1 ms is not a stall.
      if (now - this.last - 1 > this.thresholdMs) this.gaps.push([this.last, now]);
      this.last = now;
    }, 1);
  }

  /** What ran since the previous lap (or start) was `stage`. */
  lap(stage: string): void {
    const now = performance.now();
    this.laps.push([now, stage]);
    this.lapStart = now;
  }

  stop(): StallSummary {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const now = performance.now();
    // A gap still open at stop() (the stop itself follows a stretch) closes here.
    if (now - this.last - 1 > this.thresholdMs) this.gaps.push([this.last, now]);
    this.el?.disable();
    const elDelayMaxMs = this.el ? this.el.max / 1e6 : 0;
    const byStage = new Map<string, number>();
    const countByStage = new Map<string, number>();
    for (const [, s] of this.laps) {
      byStage.set(s, 0);
      countByStage.set(s, 0);
    }
    let maxMs = 0;
    // Laps are in time order: stage k ran from the end of lap k-1 to its own time.
    const starts = this.laps.map((_, k) => (k === 0 ? -Infinity : this.laps[k - 1]![0]));
    for (const [a, b] of this.gaps) {
      let best = '(after the last lap)';
      let bestOverlap = 0;
      for (let k = 0; k < this.laps.length; k++) {
        const [end, stage] = this.laps[k]!;
        const o = Math.min(b, end) - Math.max(a, starts[k]!);
        if (o > bestOverlap) {
          bestOverlap = o;
          best = stage;
        }
      }
      const ms = b - a - 1;
      maxMs = Math.max(maxMs, ms);
      byStage.set(best, Math.max(byStage.get(best) ?? 0, ms));
      countByStage.set(best, (countByStage.get(best) ?? 0) + 1);
    }
    return { maxMs, byStage, countByStage, elDelayMaxMs };
  }
}

export function formatStalls(title: string, s: StallSummary): string {
  const rows = [...s.byStage.entries()].map(([k, v]) => `  ${k.padEnd(22)} ${v.toFixed(1).padStart(8)} ms  (${s.countByStage.get(k) ?? 0} stretch(es) > threshold)`);
  return `${title}: longest synchronous stretch ${s.maxMs.toFixed(1)} ms (event-loop delay max ${s.elDelayMaxMs.toFixed(1)} ms)\n${rows.join('\n')}`;
}
