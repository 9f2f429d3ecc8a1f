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
 * millisecond late even on an idle loop, and on a loaded machine the OS
 * preempts the loop's thread as well (other processes, the UNet's threads).
 * So on Linux each gap also records the main thread's own CPU time in it
 * (/proc/self/task/<pid>/schedstat, nanoseconds on the CPU): that is the
 * synchronous work, the part code can shorten; the rest of the gap was
 * waiting for a core.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';

export interface StallSummary {
  /** Longest gap seen in any stage, ms. */
  maxMs: number;
  /** Longest gap per stage, ms (stages with no gap above the threshold are 0). */
  byStage: Map<string, number>;
  /** Most main-thread CPU in one gap, ms, overall and per stage (null where schedstat is not readable). */
  maxCpuMs: number | null;
  cpuByStage: Map<string, number>;
  /** Gaps above the threshold, per stage. */
  countByStage: Map<string, number>;
  /** monitorEventLoopDelay's max over the whole run, ms. */
  elDelayMaxMs: number;
}

export class StallProbe {
  private readonly thresholdMs: number;
  private timer: NodeJS.Timeout | undefined;
  private last = 0;
  private readonly gaps: Array<[number, number, number]> = [];
  private fd = -1;
  private readonly buf = Buffer.alloc(128);
  private lastCpuNs = 0;
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
    try {
      this.fd = openSync(`/proc/self/task/${process.pid}/schedstat`, 'r');
    } catch {
      this.fd = -1;
    }
    this.lastCpuNs = this.cpuNs();
    this.last = this.lapStart = performance.now();
    this.timer = setInterval(() => this.sample(), 1);
  }

  /** The main thread's time on a CPU, ns (NaN without schedstat). */
  private cpuNs(): number {
    if (this.fd < 0) return NaN;
    const n = readSync(this.fd, this.buf, 0, this.buf.length, 0);
    return Number(this.buf.toString('latin1', 0, n).split(' ')[0]);
  }

  private sample(): void {
    const now = performance.now();
    const cpu = this.cpuNs();
    // The interval's own 1 ms is not a stall.
    if (now - this.last - 1 > this.thresholdMs) this.gaps.push([this.last, now, (cpu - this.lastCpuNs) / 1e6]);
    this.last = now;
    this.lastCpuNs = cpu;
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
    // A gap still open at stop() (the stop itself follows a stretch) closes here.
    this.sample();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    this.el?.disable();
    const elDelayMaxMs = this.el ? this.el.max / 1e6 : 0;
    const byStage = new Map<string, number>();
    const cpuByStage = new Map<string, number>();
    const countByStage = new Map<string, number>();
    for (const [, s] of this.laps) {
      byStage.set(s, 0);
      cpuByStage.set(s, 0);
      countByStage.set(s, 0);
    }
    let maxMs = 0;
    let maxCpuMs = 0;
    // Laps are in time order: stage k ran from the end of lap k-1 to its own time.
    const starts = this.laps.map((_, k) => (k === 0 ? -Infinity : this.laps[k - 1]![0]));
    for (const [a, b, cpuMs] of this.gaps) {
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
      if (cpuMs === cpuMs) {
        maxCpuMs = Math.max(maxCpuMs, cpuMs);
        cpuByStage.set(best, Math.max(cpuByStage.get(best) ?? 0, cpuMs));
      }
      countByStage.set(best, (countByStage.get(best) ?? 0) + 1);
    }
    return { maxMs, byStage, maxCpuMs: this.gaps.length > 0 && Number.isNaN(this.gaps[0]![2]) ? null : maxCpuMs, cpuByStage, countByStage, elDelayMaxMs };
  }
}

export function formatStalls(title: string, s: StallSummary): string {
  const cpu = (v: number | undefined): string => (s.maxCpuMs === null ? '' : `  of which on CPU ${(v ?? 0).toFixed(1).padStart(7)} ms`);
  const rows = [...s.byStage.entries()].map(([k, v]) => `  ${k.padEnd(24)} longest gap ${v.toFixed(1).padStart(7)} ms${cpu(s.cpuByStage.get(k))}  (${s.countByStage.get(k) ?? 0} gap(s) > threshold)`);
  const head = s.maxCpuMs === null ? '' : `, longest synchronous work in one gap ${s.maxCpuMs.toFixed(1)} ms on CPU`;
  return `${title}: longest gap ${s.maxMs.toFixed(1)} ms${head} (event-loop delay max ${s.elDelayMaxMs.toFixed(1)} ms)\n${rows.join('\n')}`;
}
