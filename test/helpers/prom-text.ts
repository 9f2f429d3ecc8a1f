/**
 * A strict reader of the Prometheus text exposition format 0.0.4, written
 * from the format's description (prometheus.io/docs/instrumenting/
 * exposition_formats), independent of prom-client: tests hold /metrics to
 * it. A line it cannot read is an error, not skipped, so a malformed
 * exposition fails the test that scrapes it.
 */

export interface PromSample {
  /** Sample name as written (`x_bucket`, `x_sum`, `x_count` for histograms). */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromFamily {
  name: string;
  type: string;
  help: string | null;
  samples: PromSample[];
}

export interface PromScrape {
  families: PromFamily[];
  /** Every `# TYPE` name in order, repeats included (a repeat is a duplicated family). */
  typeLines: string[];
  /** Sample name + sorted label set, one entry per sample line, repeats included. */
  seriesKeys: string[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseLabels(body: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < body.length) {
    const eq = body.indexOf('=', i);
    if (eq < 0) throw new Error(`label without '=': ${line}`);
    const key = body.slice(i, eq).trim();
    if (!LABEL_NAME.test(key)) throw new Error(`bad label name ${JSON.stringify(key)}: ${line}`);
    if (body[eq + 1] !== '"') throw new Error(`label value not quoted: ${line}`);
    let j = eq + 2;
    let value = '';
    for (; j < body.length && body[j] !== '"'; j++) {
      if (body[j] === '\\') {
        const c = body[++j];
        value += c === 'n' ? '\n' : c === '\\' ? '\\' : c === '"' ? '"' : (() => { throw new Error(`bad escape \\${c}: ${line}`); })();
      } else value += body[j];
    }
    if (body[j] !== '"') throw new Error(`unterminated label value: ${line}`);
    if (key in labels) throw new Error(`label ${key} twice: ${line}`);
    labels[key] = value;
    j++;
    if (body[j] === ',') j++;
    else if (j < body.length) throw new Error(`expected ',' after a label: ${line}`);
    i = j;
  }
  return labels;
}

function parseValue(s: string, line: string): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  const v = Number(s);
  if (s === '' || Number.isNaN(v)) throw new Error(`bad sample value ${JSON.stringify(s)}: ${line}`);
  return v;
}

/** The family a sample name belongs to (histogram/summary suffixes stripped when the family is declared so). */
function familyOf(sample: string, types: Map<string, string>): string | undefined {
  if (types.has(sample)) return sample;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (sample.endsWith(suffix)) {
      const base = sample.slice(0, -suffix.length);
      const t = types.get(base);
      if (t === 'histogram' || (t === 'summary' && suffix !== '_bucket')) return base;
    }
  }
  return undefined;
}

export function parseExposition(text: string): PromScrape {
  const families: PromFamily[] = [];
  const byName = new Map<string, PromFamily>();
  const types = new Map<string, string>();
  const typeLines: string[] = [];
  const seriesKeys: string[] = [];
  const helps = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) {
      const rest = line.slice(7);
      const sp = rest.indexOf(' ');
      helps.set(sp < 0 ? rest : rest.slice(0, sp), sp < 0 ? '' : rest.slice(sp + 1));
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [name, type, extra] = line.slice(7).split(' ');
      if (!name || !NAME.test(name) || !type || extra !== undefined) throw new Error(`bad TYPE line: ${line}`);
      if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type)) throw new Error(`unknown type ${type}: ${line}`);
      typeLines.push(name);
      types.set(name, type);
      if (!byName.has(name)) {
        const f: PromFamily = { name, type, help: helps.get(name) ?? null, samples: [] };
        byName.set(name, f);
        families.push(f);
      }
      continue;
    }
    if (line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    let name: string;
    let labels: Record<string, string> = {};
    let rest: string;
    if (brace >= 0) {
      const close = line.lastIndexOf('}');
      if (close < brace) throw new Error(`unclosed label set: ${line}`);
      name = line.slice(0, brace);
      labels = parseLabels(line.slice(brace + 1, close), line);
      rest = line.slice(close + 1);
    } else {
      const sp = line.indexOf(' ');
      if (sp < 0) throw new Error(`sample without a value: ${line}`);
      name = line.slice(0, sp);
      rest = line.slice(sp);
    }
    if (!NAME.test(name)) throw new Error(`bad metric name ${JSON.stringify(name)}: ${line}`);
    const parts = rest.trim().split(/\s+/);
    if (parts.length < 1 || parts.length > 2) throw new Error(`bad value/timestamp: ${line}`);
    const value = parseValue(parts[0]!, line);
    const fam = familyOf(name, types);
    if (fam === undefined) throw new Error(`sample of an undeclared family: ${line}`);
    byName.get(fam)!.samples.push({ name, labels, value });
    seriesKeys.push(`${name}{${Object.keys(labels).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',')}}`);
  }
  for (const f of families) f.help = helps.get(f.name) ?? null;
  return { families, typeLines, seriesKeys };
}

/** Entries of `xs` that occur more than once. */
export function repeated(xs: readonly string[]): string[] {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const x of xs) (seen.has(x) ? twice : seen).add(x);
  return [...twice];
}

/** Sum of the samples named `name` whose labels include `match`. */
export function sumOf(scrape: PromScrape, name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const f of scrape.families) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
    }
  }
  return total;
}
