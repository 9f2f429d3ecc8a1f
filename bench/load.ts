/**
 * bench:load — "busy is not dead" (issue 10): the product as users run it,
 * on this 2-core machine, next to N busy-loop processes at the same priority.
 *
 *   npm run bench:load                                   # both modes, 5 min each, 8 busy loops, 1,000 clients
 *   npm run bench:load -- --mode embedded --duration-s 45 --busy 0 --clients 100
 *
 * Modes:
 *   embedded  `starweather start` (every role inline, embedded bus, PGlite) in a fresh data dir
 *   cluster   two `starweather node --roles …` processes (A: gateway,ingest,tracker,worker;
 *             B: tracker,tile,worker) on NATS (--nats-url), PostgreSQL (a fresh database made
 *             for the run on --database-url's server, dropped afterwards) and Redis (--redis-url,
 *             the run's namespace as key prefix; '' for the in-memory cache), in a fresh namespace
 *
 * Per mode, in order:
 *   1. N busy loops (`node -e "for(;;){}"`) start, then the node(s); the catalog URL points at
 *      a closed loopback port, so the ingest falls back to the shipped snapshot
 *      (STARWEATHER_CATALOG_SNAPSHOT_FALLBACK=true in cluster mode, where auto means off);
 *   2. once the gateway answers, all load starts at once:
 *      - a full-disk synthetic ABI scene (generated once, cached under .tmp/bench-load/scenes)
 *        is hard-linked into STARWEATHER_IMAGERY_DIR, registered by the imagery ingest and
 *        processed by the tile pipeline; its task is followed to done;
 *      - --clients websocket clients (bench/fanout-load.ts): --all-clients subscribed to every
 *        object, the rest to 40°×20° viewports;
 *      - STAC item POSTs at --post-rate per second (bench/load-driver.ts, its own process):
 *        --post-new-per-s of them new items whose data asset is a 128 px synthetic scene (each
 *        task runs the whole pipeline, cheaply), the rest identical re-POSTs of accepted items
 *        (every POST registers a scene, and 100 new scenes a second is more than a 2-core node
 *        can process: with --post-new-per-s 100 the backlog, not liveness, decides "tasks done");
 *      - --large-items items near the 1 MiB single-item cap, and --search-lanes lanes POSTing
 *        /search for all of them back to back;
 *      - probes: /health of every node every 250 ms (a request failing or taking over 5 s is a
 *        failure), /metrics of every node every 5 s, and one all-objects websocket client that
 *        decodes every tracker frame (protocol/frames) and keeps each object's last-seen time;
 *   3. when the catalog is loaded (GET /ingest/status), --warmup-s more, then the measured window
 *      of --duration-s starts: counters are read at its start and end, frame gaps count only
 *      inside it;
 *   4. then the load stops and the node gets up to --drain-s to finish the accepted tasks; every
 *      accepted POST's task is looked up (PostgreSQL in cluster mode, GET /tasks/{id} in the
 *      embedded one): done, failed, not finished, or lost;
 *   5. everything started is stopped (nodes by process group: SIGTERM, then SIGKILL), and the
 *      namespace, database, Redis keys and data dirs are removed; node logs stay in
 *      .tmp/bench-load/run-<id>/.
 * Busy loops, nodes and load processes are killed on every exit path (errors, SIGINT, SIGTERM).
 *
 * Figures only, no assertions; the targets are printed beside them.
 */
import { spawn, fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, linkSync, copyFileSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import WebSocket from 'ws';
import { decodeTrackerFrame } from '../protocol/frames/tracker-state.js';
import { ChaosKiller, type ChaosNode } from './chaos-killer.js';
import { imagerySceneTaskId } from '../protocol/messages/imagery.js';
import { names } from '../protocol/names.js';
import { QA_PHYSICAL_FAILURE } from '../actors/tracker/qa.js';
import { synthesize } from '../actors/tile/synthetic/cli.js';
import { freePort } from '../test/helpers/nats-server.js';
import { deleteNamespace } from '../test/integration/nats-fixtures.js';
import { CounterTracker, GaugeTracker, parsePrometheus } from './load-metrics.js';
import { largeItem } from './load-items.js';
import type { DriverStats, StartMessage } from './load-driver.js';

// ---- the metrics this bench reads: adjust names and label filters here -----------------------------------------

type Labels = Record<string, string>;
interface CounterSpec {
  metric: string;
  where?: (l: Labels) => boolean;
  /** Label the breakdown is printed by. */
  by?: string;
}
const METRICS = {
  hungKills: { metric: 'sw_supervisor_hung_kills_total', by: 'cause' },
  escalations: { metric: 'sw_supervisor_escalations_total' },
  restarts: { metric: 'sw_supervisor_restarts_total', by: 'child' },
  leaseLosses: { metric: 'sw_shard_releases_total', where: (l: Labels) => l.reason === 'lost' || l.reason === 'expired', by: 'reason' },
  rebalances: { metric: 'sw_shard_releases_total', where: (l: Labels) => l.reason === 'rebalance', by: 'kind' },
  /** Acquisitions after the window began: every one is an ownership change (a reclaim after a pause is not). */
  ownershipChanges: { metric: 'sw_shard_acquisitions_total', by: 'kind' },
  reclaims: { metric: 'sw_lease_reclaims_total', by: 'kind' },
  /** A gauge (label host, else role): p99 over the host's own window, read every scrape. */
  eventLoopP99: { metric: 'sw_event_loop_delay_p99_seconds' },
} satisfies Record<string, CounterSpec>;

/** Log lines counted as a cross-check of the counters (pino `msg`, substring). */
const LOG_SIGNS: Array<[string, string]> = [
  ['hung kills', 'child hung'],
  ['escalations', 'restart intensity exceeded'],
  ['local lease expiries', 'lease expired locally'],
];

const TARGETS = { frameGapS: 3, healthP99Ms: 500 };
const ROLES_A = 'gateway,ingest,tracker,worker';
const ROLES_B = 'tracker,tile,worker';

// ---- options -----------------------------------------------------------------------------------------------------

const USAGE = `Usage: npm run bench:load -- [options]
  --mode embedded|cluster|both   (default both)
  --duration-s N                 measured window per mode (default 300)
  --busy N                       busy-loop processes (default 8)
  --clients N                    websocket clients (default 1000)
  --all-clients N                of them subscribed to every object (default 10)
  --post-rate N                  STAC item POSTs per second (default 100)
  --post-new-per-s N             of them new items (default 1; the rest re-POST accepted ones;
                                 = --post-rate: every POST a new item and a new pipeline task)
  --large-items N                items near the 1 MiB cap (default 4)
  --large-item-kib N             their size (default 1000)
  --search-lanes N               concurrent /search loops over them (default 4)
  --warmup-s N                   after the catalog is loaded, before the window (default 20)
  --catalog-timeout-s N          give up waiting for the catalog, start the window anyway (default 300)
  --drain-s N                    time given to finish accepted tasks after the window (default 120)
  --nats-url URL                 (default $NATS_URL or nats://127.0.0.1:4222)
  --database-url URL             server for the run's fresh database (default $DATABASE_URL or postgres://postgres@127.0.0.1:5432/test)
  --redis-url URL                (default redis://127.0.0.1:6379; '' = in-memory cache)
  --chaos-every-s N              cluster mode: SIGKILL a host or a whole node every N s of the window
                                 (bench/chaos-killer.ts; R9, \`npm run chaos\`); 0 = off (default)
`;

const { values: argv } = parseArgs({
  options: {
    mode: { type: 'string', default: 'both' },
    'duration-s': { type: 'string', default: '300' },
    busy: { type: 'string', default: '8' },
    clients: { type: 'string', default: '1000' },
    'all-clients': { type: 'string', default: '10' },
    'post-rate': { type: 'string', default: '100' },
    'post-new-per-s': { type: 'string', default: '1' },
    'large-items': { type: 'string', default: '4' },
    'large-item-kib': { type: 'string', default: '1000' },
    'search-lanes': { type: 'string', default: '4' },
    'warmup-s': { type: 'string', default: '20' },
    'catalog-timeout-s': { type: 'string', default: '300' },
    'drain-s': { type: 'string', default: '120' },
    'nats-url': { type: 'string', default: process.env.NATS_URL || 'nats://127.0.0.1:4222' },
    'database-url': { type: 'string', default: process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test' },
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' },
    'chaos-every-s': { type: 'string', default: '0' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});
if (argv.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
function num(name: keyof typeof argv, min: number): number {
  const v = Number(argv[name]);
  if (!Number.isFinite(v) || v < min) {
    process.stderr.write(`bench:load: --${name} must be a number ≥ ${min}, got ${JSON.stringify(argv[name])}\n\n${USAGE}`);
    process.exit(2);
  }
  return v;
}
const OPT = {
  modes: argv.mode === 'both' ? (['embedded', 'cluster'] as const) : argv.mode === 'embedded' || argv.mode === 'cluster' ? ([argv.mode] as const) : null,
  durationS: num('duration-s', 1),
  busy: Math.floor(num('busy', 0)),
  clients: Math.floor(num('clients', 0)),
  allClients: Math.floor(num('all-clients', 0)),
  postRate: num('post-rate', 0),
  postNewPerS: num('post-new-per-s', 0),
  largeItems: Math.floor(num('large-items', 0)),
  largeItemBytes: Math.floor(num('large-item-kib', 1) * 1024),
  searchLanes: Math.floor(num('search-lanes', 0)),
  warmupS: num('warmup-s', 0),
  catalogTimeoutS: num('catalog-timeout-s', 1),
  drainS: num('drain-s', 0),
  natsUrl: argv['nats-url']!,
  databaseUrl: argv['database-url']!,
  redisUrl: argv['redis-url']!,
  chaosEveryS: num('chaos-every-s', 0),
};
// R9 (issue 11): under a kill a minute, no stall over 5 s.
if (OPT.chaosEveryS > 0) TARGETS.frameGapS = 5;
if (!OPT.modes) {
  process.stderr.write(`bench:load: --mode must be embedded, cluster or both\n\n${USAGE}`);
  process.exit(2);
}

// ---- processes: everything started is tracked and killed on every exit path -------------------------------------

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CLI = here('../supervisor/cli.js');
const WORK = join(REPO, '.tmp', 'bench-load');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

interface Tracked {
  proc: ChildProcess;
  name: string;
  /** Started detached: its pid is its process group, which holds its forked hosts too. */
  group: boolean;
}
const tracked = new Set<Tracked>();

function alive(t: Tracked): boolean {
  if (t.group) {
    try {
      process.kill(-t.proc.pid!, 0);
      return true;
    } catch {
      return false;
    }
  }
  return t.proc.exitCode === null && t.proc.signalCode === null;
}

function killHard(t: Tracked): void {
  try {
    if (t.group) process.kill(-t.proc.pid!, 'SIGKILL');
    else t.proc.kill('SIGKILL');
  } catch {
    // Already gone.
  }
  tracked.delete(t);
}

function track(proc: ChildProcess, name: string, group = false): Tracked {
  const t = { proc, name, group };
  tracked.add(t);
  return t;
}

process.on('exit', () => {
  for (const t of [...tracked]) killHard(t);
});
const cleanups: Array<() => Promise<void>> = [];
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write(`\nbench:load: ${sig}: stopping everything it started\n`);
    for (const t of [...tracked]) killHard(t);
    void Promise.race([Promise.allSettled(cleanups.map((c) => c())), sleep(15_000)]).finally(() => process.exit(130));
  });
}

function startBusy(n: number): Tracked[] {
  return Array.from({ length: n }, (_, i) => track(spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }), `busy-${i}`));
}

function hardNofile(): number {
  try {
    const h = readFileSync('/proc/self/limits', 'utf8').match(/Max open files\s+\d+\s+(\d+|unlimited)/)?.[1];
    return h === 'unlimited' ? 1_048_576 : Number(h ?? 0);
  } catch {
    return 0;
  }
}
const NOFILE = hardNofile();

/** A `starweather` CLI process in its own process group, under the raised open-file limit, logging to `log`. */
function startCli(args: string[], env: Record<string, string | undefined>, log: string, name: string): { t: Tracked; exited: Promise<{ code: number | null; signal: string | null }> } {
  const fd = openSync(log, 'a');
  const cleanEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) cleanEnv[k] = v;
  const proc = spawn('/bin/bash', ['-c', `ulimit -n ${NOFILE} 2>/dev/null; exec "${process.execPath}" ${process.env.SW_BENCH_NODE_FLAGS ?? ""} "$0" "$@"`, CLI, ...args], { env: cleanEnv, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  return { t: track(proc, name, true), exited };
}

/** SIGTERM (drain), then SIGKILL of the whole group after `graceMs`. Returns the exit code. */
async function stopCli(c: { t: Tracked; exited: Promise<{ code: number | null; signal: string | null }> }, graceMs: number): Promise<string> {
  if (c.t.proc.exitCode !== null || c.t.proc.signalCode !== null) {
    killHard(c.t);
    const e = await c.exited;
    return `had exited (${e.code ?? e.signal})`;
  }
  c.t.proc.kill('SIGTERM');
  const e = await Promise.race([c.exited, sleep(graceMs).then(() => null)]);
  killHard(c.t);
  for (let i = 0; i < 50 && alive(c.t); i++) await sleep(100);
  return e ? `exit ${e.code ?? e.signal}` : `killed after ${graceMs / 1000} s`;
}

function forkChild(script: string, name: string): Tracked {
  return track(
    fork(script, [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execPath: '/bin/bash',
      execArgv: ['-c', `ulimit -n ${NOFILE} 2>/dev/null; exec "${process.execPath}" "$0" "$@"`],
    }),
    name,
  );
}

function next<T>(child: ChildProcess, type: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${type} from pid ${child.pid} within ${timeoutMs} ms`)), timeoutMs);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`pid ${child.pid} exited (${code}) before ${type}`));
    };
    const on = (m: { type: string }) => {
      if (m.type !== type) return;
      clearTimeout(timer);
      child.off('message', on);
      child.off('exit', onExit);
      resolve(m as T);
    };
    child.on('message', on);
    child.once('exit', onExit);
  });
}

// ---- probes ------------------------------------------------------------------------------------------------------

interface HealthSample {
  at: number;
  ms: number;
  /** null: no answer (error, or the 5 s limit). */
  status: number | null;
}

/** GET /health every 250 ms, each with its own 5 s limit (a slow answer does not delay the next probe). */
class HealthProbe {
  readonly samples: HealthSample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly pending = new Set<Promise<void>>();
  constructor(readonly name: string, private readonly url: string) {}
  start(): void {
    this.timer = setInterval(() => {
      const t0 = performance.now();
      const at = Date.now();
      const p = fetch(this.url, { signal: AbortSignal.timeout(5000) })
        .then(async (res) => {
          await res.arrayBuffer();
          const ms = performance.now() - t0;
          this.samples.push({ at, ms, status: ms > 5000 ? null : res.status });
        })
        .catch(() => {
          this.samples.push({ at, ms: performance.now() - t0, status: null });
        });
      this.pending.add(p);
      void p.finally(() => this.pending.delete(p));
    }, 250);
  }
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.all([...this.pending]);
  }
  /** p99 (failures count as infinitely slow), max, failures and non-200 answers, from `from` on. */
  stats(from = 0, to = Infinity): { n: number; p99: number; p50: number; max: number; failed: number; non200: number } {
    const s = this.samples.filter((x) => x.at >= from && x.at <= to);
    const ms = Float64Array.from(s.map((x) => (x.status === null ? Infinity : x.ms))).sort();
    const at = (p: number) => (ms.length ? ms[Math.min(ms.length - 1, Math.floor(p * ms.length))]! : NaN);
    return { n: s.length, p50: at(0.5), p99: at(0.99), max: ms.length ? ms[ms.length - 1]! : NaN, failed: s.filter((x) => x.status === null).length, non200: s.filter((x) => x.status !== null && x.status !== 200).length };
  }
}

/** One all-objects websocket client: last-seen time per object id, largest gap inside the window. */
class FrameGapMonitor {
  private ws: WebSocket | null = null;
  private running = false;
  private readonly lastSeen = new Map<number, number>();
  private readonly lastFlags = new Map<number, number>();
  private readonly seenInWindow = new Set<number>();
  private since = Infinity;
  private until = Infinity;
  frames = 0;
  decodeErrors = 0;
  reconnects = 0;
  maxGap = { ms: 0, id: 0, endedAt: 0 };
  constructor(private readonly url: string) {}

  start(): void {
    this.running = true;
    this.connect();
  }

  private connect(): void {
    const ws = new WebSocket(this.url, { perMessageDeflate: false });
    this.ws = ws;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        let m: { type?: string };
        try {
          m = JSON.parse(data.toString('utf8')) as { type?: string };
        } catch {
          return;
        }
        if (m.type === 'welcome') ws.send(JSON.stringify({ type: 'subscribe', all: true }));
        return;
      }
      const now = Date.now();
      let f;
      try {
        f = decodeTrackerFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      } catch {
        this.decodeErrors++;
        return;
      }
      this.frames++;
      const measuring = now >= this.since && now <= this.until;
      const { ids, flags } = f.columns;
      for (let k = 0; k < f.count; k++) {
        const id = ids[k]!;
        const prev = this.lastSeen.get(id);
        if (measuring) {
          this.seenInWindow.add(id);
          // A gap that began in the warm-up counts from the window's start.
          if (prev !== undefined) {
            const gap = now - Math.max(prev, this.since);
            if (gap > this.maxGap.ms) this.maxGap = { ms: gap, id, endedAt: now };
          }
        }
        this.lastSeen.set(id, now);
        this.lastFlags.set(id, flags[k]!);
      }
    });
    ws.on('error', () => undefined);
    ws.on('close', () => {
      if (!this.running) return;
      this.reconnects++;
      setTimeout(() => this.running && this.connect(), 500);
    });
  }

  window(since: number, until: number): void {
    this.since = since;
    this.until = until;
  }

  /**
   * At the window's end: objects seen in the window whose last state was not a physical
   * failure (decayed objects are passivated and stop on purpose) and that have been silent
   * since: the largest such silence, and how many are silent longer than the target.
   */
  openGaps(at: number): { maxMs: number; id: number; over: number; objects: number } {
    let maxMs = 0;
    let id = 0;
    let over = 0;
    for (const oid of this.seenInWindow) {
      if ((this.lastFlags.get(oid)! & QA_PHYSICAL_FAILURE) !== 0) continue;
      const silent = at - this.lastSeen.get(oid)!;
      if (silent > maxMs) {
        maxMs = silent;
        id = oid;
      }
      if (silent > TARGETS.frameGapS * 1000) over++;
    }
    return { maxMs, id, over, objects: this.seenInWindow.size };
  }

  stop(): void {
    this.running = false;
    this.ws?.terminate();
  }
}

interface NodeRef {
  name: string;
  /** Where /health and /metrics are served (the gateway port, or STARWEATHER_NODE_PORT). */
  base: string;
}

/** /metrics of every node every 5 s: counters (from the baseline on) and the event-loop gauge (in the window). */
class MetricsScraper {
  readonly counters = new CounterTracker();
  // A series without a host label is the supervisor's own loop (supervisor/process-metrics.ts).
  readonly loop = new GaugeTracker(METRICS.eventLoopP99.metric, (source, l) => l.host ?? `${source}/${l.role ?? 'supervisor'}`);
  failed = 0;
  scrapes = 0;
  private inWindow = false;
  private timer: NodeJS.Timeout | null = null;
  private busy: Promise<void> = Promise.resolve();
  constructor(private readonly nodes: NodeRef[]) {}
  start(): void {
    this.timer = setInterval(() => void this.scrapeNow(), 5000);
  }
  scrapeNow(): Promise<void> {
    this.busy = this.busy.then(() =>
      Promise.all(
        this.nodes.map(async (n) => {
          try {
            const res = await fetch(`${n.base}/metrics`, { signal: AbortSignal.timeout(10_000) });
            if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
            const scrape = parsePrometheus(await res.text());
            this.scrapes++;
            this.counters.observe(n.name, scrape);
            if (this.inWindow) this.loop.observe(n.name, scrape);
          } catch {
            this.failed++;
          }
        }),
      ).then(() => undefined),
    );
    return this.busy;
  }
  async baseline(): Promise<void> {
    await this.scrapeNow();
    this.counters.baseline();
    this.inWindow = true;
  }
  async end(): Promise<void> {
    await this.scrapeNow();
    this.inWindow = false;
    if (this.timer) clearInterval(this.timer);
  }
}

// ---- helpers -----------------------------------------------------------------------------------------------------

async function getJson<T>(url: string, timeoutMs = 5000): Promise<T | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (res.status !== 200) return null;
    return (await res.json()) as T;
  } catch {
    return null;
  }
}

/** A file name of the synthetic ABI file in `dir`, generating it (once) when absent. */
async function cachedScene(kind: 'fulldisk' | 'tiny'): Promise<string> {
  const dir = join(WORK, 'scenes', kind);
  const find = () => (existsSync(dir) ? readdirSync(dir).find((f) => f.endsWith('.nc') && !f.startsWith('.')) : undefined);
  let f = find();
  if (!f) {
    const t0 = Date.now();
    process.stdout.write(`generating the ${kind === 'fulldisk' ? 'full-disk (5424²)' : '128 px'} synthetic ABI scene into ${dir} … `);
    await synthesize({ out: dir, instruments: ['abi'], size: kind === 'tiny' ? 128 : null, fullDisk: kind === 'fulldisk', seed: kind === 'tiny' ? 7 : 2026, time: new Date('2026-08-15T18:00:00Z'), count: 1, cyclone: kind === 'fulldisk' ? { lat: 18, lon: -60, eyeRadiusKm: 18, eyeTempK: 285, cloudTopTempK: 192, radiusKm: 450 } : null, compress: true, visible: false });
    process.stdout.write(`${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    f = find();
  }
  if (!f) throw new Error(`no scene file in ${dir}`);
  return join(dir, f);
}

/** Deterministic 40°×20° viewports for the websocket clients, plus the all-object ones. */
function subscriptions(clients: number, all: number): unknown[] {
  let seed = 4242;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const out: unknown[] = [];
  for (let i = 0; i < clients; i++) {
    if (i < all) {
      out.push({ type: 'subscribe', all: true });
      continue;
    }
    const w = Math.round(-180 + rnd() * 320);
    const s = Math.round(-70 + rnd() * 120);
    out.push({ type: 'subscribe', bbox: [w, s, w + 40, s + 20] });
  }
  return out;
}

type TaskState = string | null;

/** Terminal or not: done and failed end a task. */
const terminal = (s: TaskState) => s === 'done' || s === 'failed';

function countStates(states: Map<string, TaskState>): Record<string, number> {
  const c: Record<string, number> = {};
  for (const s of states.values()) c[s ?? 'missing'] = (c[s ?? 'missing'] ?? 0) + 1;
  return c;
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (i < items.length) {
        const k = i++;
        out[k] = await fn(items[k]!);
      }
    }),
  );
  return out;
}

const fmtS = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : '∞');
const fmtMs = (ms: number) => (Number.isFinite(ms) ? `${ms.toFixed(0)} ms` : '> 5 s (failed)');
const na = (v: number | null, f: (x: number) => string = String) => (v === null ? 'n/a' : f(v));

// ---- one mode --------------------------------------------------------------------------------------------------

interface ModeResult {
  mode: string;
  rows: Array<[string, string, string, '✓' | '✗' | '']>;
  notes: string[];
}

async function runMode(mode: 'embedded' | 'cluster', runId: string, runDir: string): Promise<ModeResult> {
  const notes: string[] = [];
  const rows: ModeResult['rows'] = [];
  const localCleanups: Array<() => Promise<void>> = [];
  const addCleanup = (f: () => Promise<void>) => {
    localCleanups.push(f);
    cleanups.push(f);
  };
  const dir = join(runDir, mode);
  mkdirSync(dir, { recursive: true });
  const namespace = `bl${runId}${mode === 'embedded' ? 'e' : 'c'}`;
  const apiKey = randomBytes(18).toString('hex');
  const closedPort = await freePort();
  const port = await freePort();
  const imageryDir = join(dir, 'imagery');
  mkdirSync(imageryDir, { recursive: true });
  // Data dirs go on every exit path (SIGINT included); the logs stay.
  addCleanup(async () => {
    for (const d of ['data', 'data-a', 'data-b', 'imagery']) rmSync(join(dir, d), { recursive: true, force: true });
  });
  const fullDisk = await cachedScene('fulldisk');
  const tiny = await cachedScene('tiny');
  const common: Record<string, string | undefined> = {
    STARWEATHER_CONFIG: undefined,
    STARWEATHER_ROLES: undefined,
    STARWEATHER_HOST: '127.0.0.1',
    STARWEATHER_LOG_LEVEL: 'warn',
    STARWEATHER_NAMESPACE: namespace,
    STARWEATHER_API_KEY: apiKey,
    // Nothing listens there: the first fetch fails at once and the shipped snapshot is loaded.
    STARWEATHER_CELESTRAK_URL: `http://127.0.0.1:${closedPort}/NORAD/elements/gp.php`,
    STARWEATHER_CATALOG_SNAPSHOT_FALLBACK: 'true',
    STARWEATHER_IMAGERY_SOURCES: 'none',
    STARWEATHER_ASSET_FILE_ROOT: WORK,
    STARWEATHER_RATE_LIMIT_MAX: '10000000',
    STARWEATHER_WS_MAX_CLIENTS: String(OPT.clients + 200),
    // Every client comes from 127.0.0.1: the per-address cap would refuse all but 50.
    STARWEATHER_WS_MAX_PER_IP: String(OPT.clients + 200),
  };
  const nodes: Array<{ ref: NodeRef; cli: ReturnType<typeof startCli>; log: string; restart?: () => ReturnType<typeof startCli>; expectExit?: boolean }> = [];
  const busy = startBusy(OPT.busy);
  let db: pg.Client | null = null;
  let dbName = '';
  const t0 = Date.now();
  const rel = (t: number | null) => (t === null ? 'never' : `+${((t - t0) / 1000).toFixed(1)} s`);
  const probes: HealthProbe[] = [];
  let monitor: FrameGapMonitor | null = null;
  let scraper: MetricsScraper | null = null;
  let driver: Tracked | null = null;
  let wsLoad: Tracked | null = null;

  try {
    if (mode === 'embedded') {
      const dataDir = join(dir, 'data');
      const log = join(dir, 'node.log');
      const cli = startCli(['start'], { ...common, NATS_URL: undefined, DATABASE_URL: undefined, REDIS_URL: undefined, STARWEATHER_NODE_ID: `bench-${namespace}`, STARWEATHER_DATA_DIR: dataDir, STARWEATHER_PORT: String(port), STARWEATHER_NODE_PORT: String(await freePort()), STARWEATHER_IMAGERY_DIR: imageryDir, STARWEATHER_IMAGERY_INTERVAL_MS: '2000' }, log, 'embedded node');
      nodes.push({ ref: { name: 'embedded', base: `http://127.0.0.1:${port}` }, cli, log });
    } else {
      // A database of its own: the CLI always uses search_path public, so a fresh schema cannot isolate it.
      dbName = `sw_bench_${namespace}`;
      const admin = new pg.Client({ connectionString: OPT.databaseUrl });
      await admin.connect();
      await admin.query(`CREATE DATABASE "${dbName}"`);
      await admin.end();
      addCleanup(async () => {
        const a = new pg.Client({ connectionString: OPT.databaseUrl });
        await a.connect();
        await a.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`).catch(() => undefined);
        await a.end();
      });
      const u = new URL(OPT.databaseUrl);
      u.pathname = `/${dbName}`;
      const databaseUrl = u.toString();
      addCleanup(() => deleteNamespace(OPT.natsUrl, names(namespace)));
      if (OPT.redisUrl) {
        addCleanup(async () => {
          const { Redis } = await import('ioredis');
          const r = new Redis(OPT.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
          try {
            await r.connect();
            let cursor = '0';
            do {
              const [c, keys] = await r.scan(cursor, 'MATCH', `${namespace}:*`, 'COUNT', 1000);
              cursor = c;
              if (keys.length) await r.del(...keys);
            } while (cursor !== '0');
          } finally {
            r.disconnect();
          }
        });
      }
      const cluster = { ...common, NATS_URL: OPT.natsUrl, DATABASE_URL: databaseUrl, REDIS_URL: OPT.redisUrl };
      const nodePortB = await freePort();
      const logA = join(dir, 'node-a.log');
      const logB = join(dir, 'node-b.log');
      const a = startCli(['node', '--roles', ROLES_A], { ...cluster, STARWEATHER_NODE_ID: `bench-${namespace}-a`, STARWEATHER_DATA_DIR: join(dir, 'data-a'), STARWEATHER_PORT: String(port), STARWEATHER_NODE_PORT: String(await freePort()), STARWEATHER_IMAGERY_DIR: imageryDir, STARWEATHER_IMAGERY_INTERVAL_MS: '2000' }, logA, 'node A');
      const envB = { ...cluster, STARWEATHER_NODE_ID: `bench-${namespace}-b`, STARWEATHER_DATA_DIR: join(dir, 'data-b'), STARWEATHER_PORT: String(await freePort()), STARWEATHER_NODE_PORT: String(nodePortB) };
      const startB = () => startCli(['node', '--roles', ROLES_B], envB, logB, 'node B');
      const b = startB();
      nodes.push({ ref: { name: `A (${ROLES_A})`, base: `http://127.0.0.1:${port}` }, cli: a, log: logA });
      nodes.push({ ref: { name: `B (${ROLES_B})`, base: `http://127.0.0.1:${nodePortB}` }, cli: b, log: logB, restart: startB });
      db = new pg.Client({ connectionString: databaseUrl });
      // Dropping the database (cleanup, also on SIGINT) ends this connection: not a crash.
      db.on('error', () => undefined);
      await db.connect();
    }
    const gw = `http://127.0.0.1:${port}`;
    const exits: string[] = [];
    let stopping = false;
    const watchExit = (n: (typeof nodes)[number]) =>
      void n.cli.exited.then((e) => !stopping && !n.expectExit && exits.push(`${n.ref.name} exited during the run (${e.code ?? e.signal}) at ${rel(Date.now())}`));
    for (const n of nodes) watchExit(n);

    // 1. Up: every node answers /health (any status: a degraded node still answers).
    const upBy = Date.now() + 180_000;
    for (const n of nodes) {
      for (;;) {
        const ok = await fetch(`${n.ref.base}/health`, { signal: AbortSignal.timeout(5000) }).then(() => true, () => false);
        if (ok) break;
        if (exits.length) throw new Error(exits.join('; ') + ` (log: ${n.log})`);
        if (Date.now() > upBy) throw new Error(`${n.ref.name} did not answer /health within 180 s (log: ${n.log})`);
        await sleep(250);
      }
    }
    const upAt = Date.now();
    console.log(`[${mode}] nodes up at ${rel(upAt)}; starting the load`);
    for (const n of nodes) {
      const p = new HealthProbe(n.ref.name, `${n.ref.base}/health`);
      p.start();
      probes.push(p);
    }
    scraper = new MetricsScraper(nodes.map((n) => n.ref));
    scraper.start();
    monitor = new FrameGapMonitor(`ws://127.0.0.1:${port}/ws`);
    monitor.start();

    // 2. The load, all at once.
    const dropAt = Date.now();
    const dropped = join(imageryDir, fullDisk.slice(fullDisk.lastIndexOf('/') + 1));
    try {
      linkSync(fullDisk, dropped);
    } catch {
      copyFileSync(fullDisk, dropped);
    }

    const largeIds: string[] = [];
    const acceptedLarge: string[] = [];
    const tinyHref = `file://${tiny}`;
    const largeStatuses: Record<string, number> = {};
    for (let i = 0; i < OPT.largeItems; i++) {
      const id = `large-${runId}-${i}`;
      largeIds.push(id);
      const body = JSON.stringify(largeItem(id, 1_000_000 + i, 'imagery', tinyHref, OPT.largeItemBytes));
      const status = await fetch(`${gw}/collections/imagery/items`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` }, body, signal: AbortSignal.timeout(60_000) })
        .then(async (r) => (await r.arrayBuffer(), r.status))
        .catch(() => 0);
      largeStatuses[String(status)] = (largeStatuses[String(status)] ?? 0) + 1;
      if (status === 202) acceptedLarge.push(id);
    }
    if (OPT.largeItems > 0) notes.push(`large items (${(OPT.largeItemBytes / 1024).toFixed(0)} KiB each) POSTed: ${JSON.stringify(largeStatuses)} (0 = no answer)`);

    driver = forkChild(here('./load-driver.js'), 'load driver');
    await next(driver.proc, 'ready', 60_000);
    const start: StartMessage = {
      baseUrl: gw,
      apiKey,
      collection: 'imagery',
      rate: OPT.postRate,
      newPerSecond: Math.min(OPT.postNewPerS, OPT.postRate),
      runId,
      assetHref: tinyHref,
      maxInFlight: 512,
      postTimeoutMs: 30_000,
      searchIds: acceptedLarge,
      searchLanes: OPT.searchLanes,
      searchTimeoutMs: 30_000,
    };
    driver.proc.send({ type: 'start', ...start });
    await next(driver.proc, 'started', 30_000);

    let wsConnected: { ok: number; failed: number } | null = null;
    let wsConnectedAt: number | null = null;
    if (OPT.clients > 0) {
      wsLoad = forkChild(here('./fanout-load.js'), 'websocket clients');
      await next(wsLoad.proc, 'ready', 60_000);
      const connecting = next<{ ok: number; failed: number }>(wsLoad.proc, 'connected', 900_000).then((c) => {
        wsConnected = c;
        wsConnectedAt = Date.now();
      });
      connecting.catch(() => undefined);
      wsLoad.proc.send({ type: 'start', port, subscribes: subscriptions(OPT.clients, Math.min(OPT.allClients, OPT.clients)), workers: 2 });
    }

    // 3. Catalog loaded, full-disk scene registered: both watched while the load runs.
    let catalogAt: number | null = null;
    let catalogServerMs: number | null = null;
    let catalogLast = '';
    let sceneItem: string | null = null;
    let sceneRegisteredAt: number | null = null;
    let sceneState: string | null = null;
    let sceneDoneAt: number | null = null;
    let sceneTimestamps: Record<string, string | null> = {};
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const st = await getJson<{ catalog: { objects: number; lastRun: { outcome: string; message: string } | null; lastLoaded: { outcome: string; finishedAt: string; startedAt: string } | null }; imagery: Array<{ lastScene: { itemId: string; outcome: string; reason: string } }> }>(`${gw}/ingest/status`);
        if (st) {
          if (catalogAt === null && st.catalog.lastLoaded?.outcome === 'ok' && st.catalog.objects > 0) {
            catalogAt = Date.now();
            catalogServerMs = Date.parse(st.catalog.lastLoaded.finishedAt);
          }
          if (st.catalog.lastRun) catalogLast = `${st.catalog.lastRun.outcome}: ${st.catalog.lastRun.message}`;
          const scene = st.imagery.find((s) => s.lastScene.outcome === 'registered');
          if (!sceneItem && scene) {
            sceneItem = scene.lastScene.itemId;
            sceneRegisteredAt = Date.now();
          }
          const rejected = st.imagery.find((s) => s.lastScene.outcome === 'rejected');
          if (!sceneItem && rejected) sceneState = `rejected by the ingest: ${rejected.lastScene.reason}`;
        }
        if (sceneItem && !terminal(sceneState)) {
          const t = await getJson<{ state: string; timestamps: Record<string, string | null> }>(`${gw}/tasks/${encodeURIComponent(imagerySceneTaskId('imagery', sceneItem))}`);
          if (t) {
            sceneState = t.state;
            sceneTimestamps = t.timestamps;
            if (terminal(t.state)) sceneDoneAt = Date.now();
          }
        }
        await sleep(1000);
      }
    })();

    const catalogBy = Date.now() + OPT.catalogTimeoutS * 1000;
    while (catalogAt === null && Date.now() < catalogBy && exits.length === 0) await sleep(500);
    if (catalogAt === null) notes.push(`catalog not loaded within ${OPT.catalogTimeoutS} s (last run: ${catalogLast || 'none'}); the window starts anyway`);
    console.log(`[${mode}] catalog ${catalogAt ? `loaded at ${rel(catalogAt)}` : 'NOT loaded'}; warm-up ${OPT.warmupS} s, then a ${OPT.durationS} s window`);
    await sleep(OPT.warmupS * 1000);

    // 4. The measured window.
    const loopMain = monitorEventLoopDelay({ resolution: 10 });
    loopMain.enable();
    await scraper.baseline();
    const winFrom = Date.now();
    const winTo = winFrom + OPT.durationS * 1000;
    monitor.window(winFrom, winTo);
    if (wsLoad) wsLoad.proc.send({ type: 'measure', from: winFrom, to: winTo });
    let chaos: ChaosKiller | null = null;
    if (OPT.chaosEveryS > 0 && mode === 'cluster') {
      const chaosNodes: ChaosNode[] = nodes.map((n) => ({
        name: n.ref.name.slice(0, 1),
        base: n.ref.base,
        crashAndRestart: async () => {
          if (!n.restart) throw new Error(`${n.ref.name} cannot be restarted by the bench`);
          n.expectExit = true;
          // A crash takes the hosts too: they run in process groups of their own
          // (left alone, they would notice the closed IPC channel and drain).
          const h = await getJson<{ hosts: Array<{ pid: number | null }> }>(`${n.ref.base}/health`, 5000);
          killHard(n.cli.t);
          for (const host of h?.hosts ?? []) {
            try {
              if (host.pid && host.pid !== n.cli.t.proc.pid) process.kill(host.pid, 'SIGKILL');
            } catch {
              // Already gone.
            }
          }
          await n.cli.exited;
          n.cli = n.restart();
          n.expectExit = false;
          watchExit(n);
          const by = Date.now() + 120_000;
          while (!(await fetch(`${n.ref.base}/health`, { signal: AbortSignal.timeout(5000) }).then(() => true, () => false))) {
            if (Date.now() > by) throw new Error(`${n.ref.name} did not answer /health within 120 s of its restart`);
            await sleep(250);
          }
        },
      }));
      // Node A holds the gateway: its hosts are killed one by one, never the gateway, never the whole node.
      chaos = new ChaosKiller(
        chaosNodes,
        [
          { node: 1, role: 'tracker' },
          { node: 0, role: 'worker' },
          { node: 1, whole: true },
          { node: 1, role: 'tile' },
          { node: 0, role: 'tracker' },
          { node: 0, role: 'ingest' },
          { node: 1, role: 'worker' },
        ],
        OPT.chaosEveryS * 1000,
      );
      chaos.start();
    }
    for (let t = winFrom; Date.now() < winTo; ) {
      await sleep(Math.min(30_000, winTo - Date.now()));
      if (Date.now() - t >= 30_000 || Date.now() >= winTo) {
        t = Date.now();
        const h = probes[0]!.stats(winFrom);
        console.log(`[${mode}]   ${((Date.now() - winFrom) / 1000).toFixed(0)} s: frames ${monitor.frames}, largest gap so far ${fmtS(monitor.maxGap.ms)}, /health p99 ${fmtMs(h.p99)} (${h.failed} failed), load average ${loadavg()[0]!.toFixed(1)}`);
      }
    }
    await chaos?.stop();
    await scraper.end();
    const winEnd = Date.now();
    if (chaos) notes.push(`chaos: ${chaos.events.length} kills, one every ${OPT.chaosEveryS} s: ${chaos.events.map((e) => `${rel(e.at)} ${e.what}${e.ok ? '' : ' FAILED'} (${e.detail})`).join('; ')}`);
    const open = monitor.openGaps(winEnd);
    monitor.stop();
    loopMain.disable();
    for (const p of probes) await p.stop();

    // 5. Stop the load; collect what the load processes saw.
    const statsP = next<{ stats: DriverStats }>(driver.proc, 'stats', 120_000);
    driver.proc.send({ type: 'stop' });
    const ds = (await statsP).stats;
    tracked.delete(driver);
    driver = null;
    type WsReport = { frames: number; p50: number; p99: number; max: number; closed: number; closeCodes: Record<string, number>; loopP99Ms: number };
    let wsReport = null as WsReport | null;
    if (wsLoad) {
      if (wsConnected) {
        const rp = next<WsReport>(wsLoad.proc, 'report', 60_000);
        wsLoad.proc.send({ type: 'report' });
        wsReport = await rp.catch(() => null);
      }
      wsLoad.proc.send({ type: 'close' });
      await Promise.race([new Promise((r) => wsLoad!.proc.once('exit', r)), sleep(5000)]);
      killHard(wsLoad);
      wsLoad = null;
    }

    // 6. Tasks: every accepted POST (and the large items) looked up, then the drain.
    const accepted = [...ds.posts.acceptedIds, ...acceptedLarge].map((id) => imagerySceneTaskId('imagery', id));
    const states = async (ids: string[]): Promise<Map<string, TaskState>> => {
      const out = new Map<string, TaskState>();
      if (db) {
        for (let i = 0; i < ids.length; i += 5000) {
          const r = await db.query<{ id: string; state: string }>('SELECT id, state FROM tasks WHERE id = ANY($1)', [ids.slice(i, i + 5000)]);
          const got = new Map(r.rows.map((x) => [x.id, x.state]));
          for (const id of ids.slice(i, i + 5000)) out.set(id, got.get(id) ?? null);
        }
      } else {
        const got = await mapLimit(ids, 16, async (id) => {
          for (let attempt = 0; attempt < 3; attempt++) {
            try {
              const res = await fetch(`${gw}/tasks/${encodeURIComponent(id)}`, { signal: AbortSignal.timeout(15_000) });
              if (res.status === 404) return null;
              if (res.status === 200) return ((await res.json()) as { state: string }).state;
            } catch {
              // Asked again below.
            }
            await sleep(1000);
          }
          return 'unreadable';
        });
        ids.forEach((id, k) => out.set(id, got[k]!));
      }
      return out;
    };
    const atEnd = await states(accepted);
    const endCounts = countStates(atEnd);
    const drainFrom = Date.now();
    const final = new Map(atEnd);
    let lastReport = Date.now();
    while (Date.now() - drainFrom < OPT.drainS * 1000 && [...final.values()].some((s) => !terminal(s))) {
      await sleep(5000);
      const open2 = [...final].filter(([, s]) => !terminal(s)).map(([id]) => id);
      for (const [id, s] of await states(open2)) final.set(id, s);
      if (Date.now() - lastReport > 15_000) {
        lastReport = Date.now();
        console.log(`[${mode}]   drain ${((Date.now() - drainFrom) / 1000).toFixed(0)} s: ${JSON.stringify(countStates(final))}`);
      }
    }
    const drainS = (Date.now() - drainFrom) / 1000;
    const finalCounts = countStates(final);
    // What is still queued or running: lost when no queue holds anything and nothing is in flight.
    let depth = 0;
    let inFlight = 0;
    let healthRead = 0;
    const perQueue = new Map<string, number>();
    for (const n of nodes) {
      const h = await getJson<{ hosts: Array<{ inFlight?: number; queueDepths?: Record<string, number> }> }>(`${n.ref.base}/health`, 10_000);
      if (!h) continue;
      healthRead++;
      for (const host of h.hosts) {
        inFlight += host.inFlight ?? 0;
        for (const [q, d] of Object.entries(host.queueDepths ?? {})) perQueue.set(q, Math.max(perQueue.get(q) ?? 0, d));
      }
    }
    for (const d of perQueue.values()) depth += d;
    const unknownStates = ds.posts.unknownIds.length ? countStates(await states(ds.posts.unknownIds.map((id) => imagerySceneTaskId('imagery', id)))) : {};
    watching = false;
    await watch;

    // 7. Stop the nodes, then read their logs.
    const stopped: string[] = [];
    stopping = true;
    for (const n of [...nodes].reverse()) stopped.push(`${n.ref.name}: ${await stopCli(n.cli, 45_000)}`);
    for (const b of busy) killHard(b);
    const logCounts = LOG_SIGNS.map(([label, sign]) => {
      let c = 0;
      for (const n of nodes) {
        try {
          for (const line of readFileSync(n.log, 'utf8').split('\n')) if (line.includes(sign)) c++;
        } catch {
          // No log: nothing counted.
        }
      }
      return `${label} ${c}`;
    });

    // ---- the table --------------------------------------------------------------------------------------------
    const c = scraper.counters;
    const sum = (s: CounterSpec) => c.sum(s.metric, s.where);
    const by = (s: CounterSpec) => {
      if (!s.by) return '';
      const m = c.byLabel(s.metric, s.by, s.where);
      return m.size ? ` (${[...m].map(([k, v]) => `${k} ${v}`).join(', ')})` : '';
    };
    const zero = (v: number | null): '✓' | '✗' | '' => (v === null ? '' : v === 0 ? '✓' : '✗');
    const hung = sum(METRICS.hungKills);
    const esc = sum(METRICS.escalations);
    const restarts = sum(METRICS.restarts);
    const losses = sum(METRICS.leaseLosses);
    const rebal = sum(METRICS.rebalances);
    const owner = sum(METRICS.ownershipChanges);
    rows.push(['hung kills', `${na(hung)}${by(METRICS.hungKills)}`, '0', zero(hung)]);
    rows.push(['escalations', `${na(esc)}${exits.length ? ` + node exit: ${exits.join('; ')}` : ''}`, '0', exits.length ? '✗' : zero(esc)]);
    rows.push(['host restarts', `${na(restarts)}${by(METRICS.restarts)}`, '(0)', zero(restarts)]);
    rows.push(['lease losses (releases lost|expired)', `${na(losses)}${by(METRICS.leaseLosses)}`, '0', zero(losses)]);
    rows.push(['rebalances (releases rebalance)', `${na(rebal)}${by(METRICS.rebalances)}`, '0', zero(rebal)]);
    rows.push(['ownership changes (shard acquisitions)', `${na(owner)}${by(METRICS.ownershipChanges)}`, '0', zero(owner)]);
    const reclaimed = sum(METRICS.reclaims);
    rows.push(['leases reclaimed after a pause (no change)', `${na(reclaimed)}${by(METRICS.reclaims)}`, '(reported)', '']);
    const gapMs = Math.max(monitor.maxGap.ms, open.maxMs);
    const gapWhat = monitor.frames === 0 ? 'n/a (no frame received)' : `${fmtS(gapMs)} (object ${gapMs === open.maxMs && open.maxMs > monitor.maxGap.ms ? `${open.id}, still silent at the end` : `${monitor.maxGap.id}, ended ${rel(monitor.maxGap.endedAt)}`}); ${open.over} of ${open.objects} objects silent > ${TARGETS.frameGapS} s at the end`;
    rows.push(['largest gap between frames (any object)', gapWhat, `≤ ${TARGETS.frameGapS} s`, monitor.frames === 0 ? '✗' : gapMs <= TARGETS.frameGapS * 1000 && open.over === 0 ? '✓' : '✗']);
    if (scraper.loop.present) {
      // Host ids start with the node id (bench-<namespace>[-a|-b]-<role>-<n>): the rest names the host.
      for (const [host, s] of scraper.loop.summary()) rows.push([`event-loop lag p99: ${host.replace(`bench-${namespace}-`, '').replace(`bench-${namespace}`, 'node')}`, `max ${(s.max * 1000).toFixed(0)} ms, median ${(s.median * 1000).toFixed(0)} ms (${s.n} readings)`, '(reported)', '']);
    } else rows.push(['event-loop lag p99 per host', 'n/a', '(reported)', '']);
    for (const p of probes) {
      const all = p.stats(upAt);
      const win = p.stats(winFrom, winEnd);
      rows.push([`/health p99: ${p.name}`, `${fmtMs(all.p99)} from start (max ${fmtMs(all.max)}, ${all.failed} failed or > 5 s, ${all.non200} non-200, of ${all.n}); window ${fmtMs(win.p99)}`, `≤ ${TARGETS.healthP99Ms} ms`, all.p99 <= TARGETS.healthP99Ms ? '✓' : '✗']);
    }
    const done = finalCounts.done ?? 0;
    const failed = finalCounts.failed ?? 0;
    const missing = finalCounts.missing ?? 0;
    const unfinished = accepted.length - done - failed - missing;
    const stuck = healthRead === nodes.length && depth === 0 && inFlight === 0 ? unfinished : 0;
    const lost = missing + stuck;
    rows.push(['tasks (accepted POSTs + large items)', `${accepted.length} accepted: ${done} done, ${failed} failed, ${unfinished} not finished, ${lost} lost`, 'all done, 0 lost', done === accepted.length && lost === 0 ? '✓' : '✗']);
    rows.push(['catalog loaded', catalogAt ? `${rel(catalogAt)} (server finished ${catalogServerMs ? rel(catalogServerMs) : '?'}; nodes up ${rel(upAt)})` : `not loaded (last run ${catalogLast || 'none'})`, 'loaded', catalogAt ? '✓' : '✗']);
    const sceneTime = sceneDoneAt && sceneRegisteredAt ? `, ${((sceneDoneAt - sceneRegisteredAt) / 1000).toFixed(0)} s after registration` : '';
    rows.push(['full-disk scene', sceneItem ? `${sceneState ?? '?'}${sceneTime} (dropped ${rel(dropAt)}, registered ${rel(sceneRegisteredAt)}${sceneDoneAt ? `, ${sceneState} ${rel(sceneDoneAt)}` : ''})` : `not registered${sceneState ? ` (${sceneState})` : ''}`, 'done', sceneState === 'done' ? '✓' : '✗']);

    const p = ds.posts;
    notes.push(`STAC POSTs: ${p.sent} sent at ${OPT.postRate}/s: ${p.newSent} new items, answered ${JSON.stringify(p.byStatus)}; ${p.sent - p.newSent} identical re-POSTs of accepted items, answered ${JSON.stringify(p.repostByStatus)} (409: the item was processed meanwhile, its stored copy has product assets), of which created a second task: ${p.repostsCreated}; ${p.retryAfter} with Retry-After, ${p.skippedInFlightCap} skipped at the client's in-flight cap, ${p.skippedNothingToRepost} re-POST slots skipped before the first 202; latency p50 ${fmtMs(p.latencyMs.p50)}, p99 ${fmtMs(p.latencyMs.p99)}, max ${fmtMs(p.latencyMs.max)}; no answer: ${p.unknownIds.length}${p.unknownIds.length ? ` (their task rows: ${JSON.stringify(unknownStates)})` : ''}`);
    notes.push(`tasks at the window's end: ${JSON.stringify(endCounts)}; after ${drainS.toFixed(0)} s of drain: ${JSON.stringify(finalCounts)}; queue depth then ${healthRead === nodes.length ? `${depth} ${JSON.stringify(Object.fromEntries(perQueue))}, in flight ${inFlight}` : 'unreadable'}${stuck ? ` — ${stuck} unfinished with nothing queued or in flight count as lost` : ''}`);
    if (scraper.failed) notes.push(`/metrics scrapes failed: ${scraper.failed} of ${scraper.scrapes + scraper.failed}`);
    notes.push(`from the node logs (cross-check): ${logCounts.join(', ')}`);
    const s = ds.searches;
    notes.push(`large-item searches (${acceptedLarge.length} items, ${OPT.searchLanes} lanes): ${s.done} done, answers ${JSON.stringify(s.byStatus)}, ${(s.bytes / 1e6).toFixed(0)} MB read; latency p50 ${fmtMs(s.latencyMs.p50)}, p99 ${fmtMs(s.latencyMs.p99)}, max ${fmtMs(s.latencyMs.max)}`);
    if (OPT.clients > 0) {
      const wc = wsConnected as { ok: number; failed: number } | null;
      notes.push(
        wc
          ? `websocket clients: ${wc.ok} connected (${wc.failed} failed) by ${rel(wsConnectedAt)}${wsReport ? `; in the window ${wsReport.frames} frames, delay tick→client p50 ${fmtMs(wsReport.p50)}, p99 ${fmtMs(wsReport.p99)}, max ${fmtMs(wsReport.max)}; closed by the server ${wsReport.closed} ${JSON.stringify(wsReport.closeCodes)}; load process loop p99 ${wsReport.loopP99Ms.toFixed(0)} ms` : ''}`
          : `websocket clients: still connecting at the window's end`,
      );
    }
    notes.push(`gap monitor: ${monitor.frames} frames, ${monitor.decodeErrors} undecodable, ${monitor.reconnects} reconnects; this process's loop p99 ${(loopMain.percentile(99) / 1e6).toFixed(0)} ms, the driver's ${ds.loopP99Ms.toFixed(0)} ms (a starved client inflates what it measures)`);
    notes.push(`stopped: ${stopped.join('; ')}; busy loops ${OPT.busy}; load average at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    return { mode, rows, notes };
  } finally {
    monitor?.stop();
    for (const p of probes) await p.stop();
    if (driver) killHard(driver);
    if (wsLoad) killHard(wsLoad);
    for (const n of nodes) if (tracked.has(n.cli.t)) await stopCli(n.cli, 20_000);
    for (const b of busy) killHard(b);
    await db?.end().catch(() => undefined);
    for (const f of localCleanups) {
      await f().catch((err: unknown) => console.error(`[${mode}] cleanup: ${(err as Error).message}`));
      cleanups.splice(cleanups.indexOf(f), 1);
    }
  }
}

function printTable(r: ModeResult): void {
  console.log(`\n### ${r.mode}\n`);
  console.log('| measure | measured | target | |');
  console.log('| --- | --- | --- | --- |');
  for (const [a, b, t, ok] of r.rows) console.log(`| ${a} | ${b} | ${t} | ${ok} |`);
  console.log('');
  for (const n of r.notes) console.log(`- ${n}`);
}

async function main(): Promise<void> {
  const runId = randomBytes(3).toString('hex');
  const runDir = join(WORK, `run-${runId}`);
  mkdirSync(runDir, { recursive: true });
  console.log(
    `bench:load ${runId}: modes ${OPT.modes!.join(', ')}; window ${OPT.durationS} s after catalog + ${OPT.warmupS} s warm-up; ${OPT.busy} busy loops; ` +
      `${OPT.clients} websocket clients (${Math.min(OPT.allClients, OPT.clients)} all-object); ${OPT.postRate} POST/s; ${OPT.largeItems} large items, ${OPT.searchLanes} search lanes; logs in ${runDir}`,
  );
  const results: ModeResult[] = [];
  for (const mode of OPT.modes!) {
    try {
      const r = await runMode(mode, runId, runDir);
      results.push(r);
      printTable(r);
    } catch (err) {
      if (interrupted) return;
      const r: ModeResult = { mode, rows: [], notes: [`not completed: ${(err as Error).stack ?? err}`] };
      results.push(r);
      printTable(r);
    }
  }
  if (results.length > 1) {
    console.log('\n### summary\n');
    console.log(`| measure | ${results.map((r) => r.mode).join(' | ')} | target |`);
    console.log(`| --- | ${results.map(() => '---').join(' | ')} | --- |`);
    const labels = [...new Set(results.flatMap((r) => r.rows.map((x) => x[0])))];
    for (const l of labels) {
      const cells = results.map((r) => {
        const row = r.rows.find((x) => x[0] === l);
        // The figure without its details: up to the first " (" or ";".
        return row ? `${row[1].split(/ \(|;/)[0]} ${row[3]}`.trim() : '-';
      });
      const target = results.flatMap((r) => r.rows).find((x) => x[0] === l)![2];
      console.log(`| ${l} | ${cells.join(' | ')} | ${target} |`);
    }
  }
  const left = [...tracked].filter(alive);
  if (left.length) console.log(`\nstill running at the end (killed now): ${left.map((t) => `${t.name} ${t.proc.pid}`).join(', ')}`);
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const t of [...tracked]) killHard(t);
  });
