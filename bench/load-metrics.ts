/**
 * bench:load's reading of Prometheus text (GET /metrics of each node).
 *
 * Counters are summed the way Prometheus' increase() does: per series (its
 * full label set on one node), every observation that is lower than the
 * previous one is a reset (a restarted host starts its counters at 0) and
 * counts from 0. A series first seen after the baseline counts from 0 too:
 * it is a host that started (or restarted) during the window. A metric whose
 * `# TYPE` line never appeared on any node is missing, which is not the same
 * as 0: it prints "n/a".
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  /** Names declared with `# TYPE` (a labelled counter never incremented has no sample, but is declared). */
  declared: Set<string>;
  samples: Sample[];
}

const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parse the text exposition format (0.0.4); unknown or malformed lines are skipped. */
export function parsePrometheus(text: string): Scrape {
  const declared = new Set<string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const name = line.slice(7).split(' ')[0];
      if (name) declared.add(name);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = brace >= 0 ? line.indexOf(' ', line.lastIndexOf('}')) : line.indexOf(' ');
    if (space < 0) continue;
    const name = brace >= 0 && brace < space ? line.slice(0, brace) : line.slice(0, space);
    const labels: Record<string, string> = {};
    if (brace >= 0 && brace < space) {
      const body = line.slice(brace + 1, line.lastIndexOf('}'));
      for (const m of body.matchAll(LABEL)) labels[m[1]!] = m[2]!.replace(/\\"/g, '"').replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
    }
    const value = Number(line.slice(space + 1).trim().split(' ')[0]);
    if (Number.isNaN(value)) continue;
    samples.push({ name, labels, value });
  }
  return { declared, samples };
}

export function seriesKey(source: string, s: Sample): string {
  return `${source}|${s.name}|${Object.keys(s.labels)
    .sort()
    .map((k) => `${k}=${s.labels[k]}`)
    .join(',')}`;
}

/** Increase of every counter series from the baseline on, resets and late series included. */
export class CounterTracker {
  private readonly last = new Map<string, number>();
  private readonly increase = new Map<string, { sample: Sample; inc: number }>();
  private readonly declared = new Set<string>();
  private baselined = false;

  /** Feed one scrape of node `source`. Before `baseline()`, it only records the latest values. */
  observe(source: string, scrape: Scrape): void {
    for (const n of scrape.declared) this.declared.add(n);
    for (const s of scrape.samples) {
      const key = seriesKey(source, s);
      const prev = this.last.get(key);
      this.last.set(key, s.value);
      if (!this.baselined) continue;
      const delta = prev === undefined ? s.value : s.value >= prev ? s.value - prev : s.value;
      const e = this.increase.get(key);
      if (e) e.inc += delta;
      else this.increase.set(key, { sample: s, inc: delta });
    }
  }

  /** From now on, observations count. */
  baseline(): void {
    this.baselined = true;
  }

  /** Whether `name` was ever declared by a node. */
  has(name: string): boolean {
    return this.declared.has(name);
  }

  /** Sum of the increase of `name`'s series matching `where`; null when the metric is missing. */
  sum(name: string, where: (labels: Record<string, string>) => boolean = () => true): number | null {
    if (!this.declared.has(name)) return null;
    let total = 0;
    for (const { sample, inc } of this.increase.values()) if (sample.name === name && where(sample.labels)) total += inc;
    return total;
  }

  /** The increase of `name` per value of `label` (series without it under "-"). */
  byLabel(name: string, label: string, where: (labels: Record<string, string>) => boolean = () => true): Map<string, number> {
    const out = new Map<string, number>();
    for (const { sample, inc } of this.increase.values()) {
      if (sample.name !== name || !where(sample.labels) || inc === 0) continue;
      const v = sample.labels[label] ?? '-';
      out.set(v, (out.get(v) ?? 0) + inc);
    }
    return out;
  }
}

/** Readings of one gauge per host over the window (e.g. the event-loop delay p99, a 10 s window each). */
export class GaugeTracker {
  private readonly readings = new Map<string, number[]>();
  private readonly declared = new Set<string>();
  constructor(
    private readonly name: string,
    private readonly hostOf: (source: string, labels: Record<string, string>) => string,
  ) {}

  observe(source: string, scrape: Scrape): void {
    if (scrape.declared.has(this.name)) this.declared.add(this.name);
    for (const s of scrape.samples) {
      if (s.name !== this.name) continue;
      const host = this.hostOf(source, s.labels);
      const list = this.readings.get(host) ?? [];
      list.push(s.value);
      this.readings.set(host, list);
    }
  }

  get present(): boolean {
    return this.declared.has(this.name);
  }

  /** host → {max, median, n} of the readings. */
  summary(): Map<string, { max: number; median: number; n: number }> {
    const out = new Map<string, { max: number; median: number; n: number }>();
    for (const [host, list] of [...this.readings].sort((a, b) => a[0].localeCompare(b[0]))) {
      const sorted = [...list].sort((a, b) => a - b);
      out.set(host, { max: sorted[sorted.length - 1]!, median: sorted[Math.floor(sorted.length / 2)]!, n: sorted.length });
    }
    return out;
  }
}
