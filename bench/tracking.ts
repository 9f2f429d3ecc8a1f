/**
 * Tracker tick cost on one tracker host (`npm run bench:tracking`).
 *
 * For the shipped 15,347-object snapshot and a 100,000-object synthetic
 * catalog (the snapshot repeated with mean-anomaly and RAAN offsets, ids
 * 200,000,000 + …), a real TrackerRuntime (the tracker role's service) runs
 * its own 1 Hz loop on a real host context: ShardManager owning every shard,
 * bus, storage. Printed per case:
 *   - tick CPU: process.cpuUsage around the synchronous tick (propagate,
 *     geodetic, QA, encode, publish, the shard frames' cache write issued), per tick and per
 *     object-tick;
 *   - process CPU per second over the measured ticks (everything: the tick,
 *     the bus and cache work it left behind, GC, heartbeats);
 *   - RSS;
 *   - the event loop's longest gap over the measured ticks and the main
 *     thread's CPU time in it (bench/loop-stalls.ts): the longest synchronous
 *     stretch the tick leaves (target ≤ ~10 ms per slice);
 *   - the baseline: satellite.js propagate + eciToGeodetic per object, same
 *     objects, same process.
 * Modes: embedded (in-process bus, memory cache) always; cluster (NATS +
 * Redis) when NATS_URL / REDIS_URL answer (defaults 127.0.0.1).
 * Epochs are moved to one hour before the run so no object decays or goes
 * stale while measuring (the shipped snapshot is months old; see the report).
 * With the gateway's /ws in the loop (embedded mode), a websocket client
 * subscribed to a viewport measures receive time − frame tick time.
 *
 *   node dist/bench/tracking.js [ticks=10] [cases=15347,100000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { eciToGeodetic, gstime, propagate, type SatRec } from 'satellite.js';
import { loadConfig, type Config } from '../config/load.js';
import { names as protocolNames, type Names } from '../protocol/names.js';
import type { Transport } from '../protocol/transport.js';
import { EmbeddedTransport } from '../actors/runtime/transport/embedded.js';
import { connectNats } from '../actors/runtime/transport/nats.js';
import { createLogger } from '../actors/runtime/log.js';
import { createMetrics } from '../actors/runtime/metrics.js';
import { Membership } from '../actors/runtime/membership.js';
import { LeaseManager } from '../actors/runtime/lease.js';
import { ShardManager } from '../actors/runtime/sharding.js';
import { openStorage, MemoryCache, RedisCache, type HotCache, type Storage } from '../actors/storage/index.js';
import type { HostContext } from '../actors/host/services.js';
import { startHost, type RunningHost } from '../actors/host/host.js';
import { loadSnapshot } from '../actors/tracker/snapshot.js';
import type { TleRecord } from '../actors/tracker/tle.js';
import { loadElementSet, type LoadedElementSet } from '../actors/tracker/tracker-actor.js';
import { TrackerRuntime } from '../actors/tracker/service.js';
import { decodeTrackerFrameHeader } from '../protocol/frames/tracker-state.js';
import { StallProbe } from './loop-stalls.js';

const TICKS = Number(process.argv[2] ?? 10);
const CASES = (process.argv[3] ?? '15347,100000').split(',').map(Number);
const NATS_URL = process.env.NATS_URL || 'nats://127.0.0.1:4222';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const log = createLogger({ nodeId: 'bench', level: 'warn', destination: 2 });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function omm(r: TleRecord, id: number, epochMs: number, dMa: number, dRaan: number): Record<string, unknown> {
  return {
    OBJECT_NAME: r.name || `NORAD ${id}`,
    OBJECT_ID: r.intlDesignator || '2026-001A',
    EPOCH: new Date(epochMs).toISOString().replace('Z', ''),
    MEAN_MOTION: r.meanMotionRevPerDay,
    ECCENTRICITY: r.eccentricity,
    INCLINATION: r.inclinationDeg,
    RA_OF_ASC_NODE: (r.raanDeg + dRaan) % 360,
    ARG_OF_PERICENTER: r.argpDeg,
    MEAN_ANOMALY: (r.meanAnomalyDeg + dMa) % 360,
    EPHEMERIS_TYPE: 0,
    CLASSIFICATION_TYPE: 'U',
    NORAD_CAT_ID: id,
    ELEMENT_SET_NO: 999,
    REV_AT_EPOCH: r.revNumber,
    BSTAR: r.bstar,
    MEAN_MOTION_DOT: r.ndotRevPerDay2,
    MEAN_MOTION_DDOT: r.nddotRevPerDay3,
  };
}

/** n element sets: the snapshot first (its own ids), then copies with offsets and 9-digit ids. */
function catalogOf(records: TleRecord[], n: number, epochMs: number): Array<Extract<LoadedElementSet, { ok: true }>> {
  const out: Array<Extract<LoadedElementSet, { ok: true }>> = [];
  for (let i = 0; i < n; i++) {
    const copy = Math.floor(i / records.length);
    const r = records[i % records.length]!;
    const id = copy === 0 ? r.noradId : 200_000_000 + copy * 100_000 + (i % records.length);
    const loaded = loadElementSet({ id: i + 1, noradId: id, epoch: new Date(epochMs), source: 'bench', format: 'omm', omm: omm(r, id, epochMs, copy * 37.1, copy * 11.3), tleLine1: null, tleLine2: null });
    if (!loaded.ok) throw new Error(`bench element set ${id}: ${loaded.reason}`);
    out.push(loaded);
  }
  return out;
}

interface Ctx {
  ctx: HostContext;
  close(): Promise<void>;
}

async function hostContext(cfg: Config, names: Names, transport: Transport, storage: Storage, hostId: string): Promise<Ctx> {
  const metrics = createMetrics({ defaultLabels: { node: 'bench', role: 'tracker', host: hostId } });
  const membership = new Membership({ bucket: await transport.kv('members'), role: 'tracker', hostId, nodeId: 'bench', heartbeatMs: cfg.cluster.heartbeatMs, memberTtlMs: cfg.cluster.memberTtlMs, logger: log });
  await membership.join();
  const leaseBucket = await transport.kv('leases');
  const leases = new LeaseManager({ bucket: leaseBucket, holder: hostId, leaseMs: cfg.cluster.leaseMs, logger: log });
  const managers: ShardManager[] = [];
  const ctx: HostContext = {
    config: cfg,
    role: 'tracker',
    hostId,
    logger: log,
    transport,
    names,
    metrics,
    membership,
    leases,
    storage: async () => storage,
    shardManager: async (kind, callbacks) => {
      const m = new ShardManager({ kind, shardCount: cfg.cluster.shardCount, membership, leases, leaseBucket, logger: log, ...callbacks });
      managers.push(m);
      return m;
    },
    registerTask: () => {
      throw new Error('no tasks in the bench');
    },
    note: () => {},
    // The tracker never asks; only the gateway's /health and /metrics do.
    nodeView: {
      health: async () => ({ status: 'ok' as const }),
      metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
    },
  };
  return {
    ctx,
    async close() {
      for (const m of managers) await m.stop();
      await membership.leave();
      metrics.close();
    },
  };
}

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function baseline(satrecs: SatRec[], ticks: number): number {
  let sink = 0;
  const t0 = Date.now();
  const run = (tMs: number): void => {
    const date = new Date(tMs);
    const gmst = gstime(date);
    for (const s of satrecs) {
      const pv = propagate(s, date);
      if (pv && typeof pv.position !== 'boolean') sink += eciToGeodetic(pv.position, gmst).height;
    }
  };
  for (let w = 0; w < 2; w++) run(t0 + w * 1000);
  const c0 = cpuUs();
  for (let k = 0; k < ticks; k++) run(t0 + (k + 2) * 1000);
  if (sink === 42) console.log('');
  return (cpuUs() - c0) / ticks;
}

/** Nearest-rank percentile of an ascending array (with few samples p99 is the maximum). */
function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface CaseResult {
  mode: string;
  n: number;
  tracked: number;
  tickCpuMs: number;
  perObjectUs: number;
  processCpuMsPerS: number;
  processPerObjectUs: number;
  tickWallMs: number;
  rssMiB: number;
  baselinePerObjectUs: number;
  wsP50Ms?: number;
  wsP99Ms?: number;
  wsSamples?: number;
  loopGapMs: number;
  loopCpuMs: number | null;
  elDelayMaxMs: number;
}

async function wsLatency(port: number, seconds: number): Promise<number[]> {
  const { default: WebSocket } = await import('ws');
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  const lat: number[] = [];
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  // A viewport over Europe.
  ws.send(JSON.stringify({ type: 'subscribe', id: 'bench', bbox: [-10, 35, 30, 60] }));
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) return;
    const now = Date.now();
    try {
      const h = decodeTrackerFrameHeader(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      lat.push(now - h.tickMs);
    } catch {
      /* not a frame */
    }
  });
  await sleep(seconds * 1000);
  ws.close();
  return lat;
}

async function runCase(mode: 'embedded' | 'cluster', n: number, sets: Array<Extract<LoadedElementSet, { ok: true }>>, pg: Storage, withGateway = false): Promise<CaseResult> {
  const ns = `bench${Date.now().toString(36)}${n}`;
  const names = protocolNames(ns);
  const port = 18080 + Math.floor(Math.random() * 1000);
  const cfg = loadConfig({ env: {}, overrides: { namespace: ns, 'cluster.shardCount': 256, logLevel: 'warn', 'http.port': port, 'http.host': '127.0.0.1' } });
  let transport: Transport;
  let cache: HotCache;
  if (mode === 'embedded') {
    const bus = new EmbeddedTransport({ names });
    await bus.provision();
    transport = bus;
    cache = new MemoryCache({ maxEntries: 2 * n } as never);
  } else {
    transport = await connectNats({ servers: NATS_URL, names });
    await transport.provision();
    const redis = new RedisCache({ url: REDIS_URL, prefix: ns });
    await redis.waitReady(3000);
    cache = redis;
  }
  const storage: Storage = { ...pg, cache, close: async () => {} };
  const { ctx, close } = await hostContext(cfg, names, transport, storage, `bench-tracker-${mode}`);
  const rt = new TrackerRuntime(ctx, { reconcileMs: 3_600_000 });
  await rt.start();
  while (rt.shardManager.ownedShards().length < cfg.cluster.shardCount) await sleep(50);
  for (const s of sets.slice(0, n)) rt.activateLoaded(s);
  // Gateway in the loop (embedded mode: same bus, shared storage).
  let gateway: RunningHost | null = null;
  if (withGateway) {
    try {
      gateway = await startHost({ config: cfg, role: 'gateway', hostId: 'bench-gateway', logger: log, send: () => {}, transport, storage: async () => storage, nodeView: ctx.nodeView });
    } catch (err) {
      console.log(`gateway not started: ${(err as Error).message}`);
    }
  }
  // Warm up 3 ticks.
  const t0 = rt.ticks;
  while (rt.ticks < t0 + 3) await sleep(20);
  const wsP = gateway ? wsLatency(port, TICKS + 1) : Promise.resolve([]);
  const cpus: number[] = [];
  const walls: number[] = [];
  let seen = rt.ticks;
  const probe = new StallProbe();
  probe.start();
  const c0 = cpuUs();
  const w0 = performance.now();
  while (cpus.length < TICKS) {
    await sleep(20);
    if (rt.ticks !== seen) {
      seen = rt.ticks;
      cpus.push(rt.lastTickCpuUs);
      walls.push(rt.lastTickWallMs);
    }
  }
  const processCpu = (cpuUs() - c0) / ((performance.now() - w0) / 1000);
  probe.lap('ticks');
  const stalls = probe.stop();
  const rss = process.memoryUsage().rss / 2 ** 20;
  const lat = (await wsP).sort((a, b) => a - b);
  const tracked = rt.table.size;
  await gateway?.drain().catch(() => undefined);
  await rt.stop();
  await close();
  await cache.clear().catch(() => undefined);
  if (mode === 'cluster') await cache.close();
  await transport.close();
  const tickCpu = cpus.reduce((a, b) => a + b, 0) / cpus.length;
  const satrecs = sets.slice(0, n).map((s) => s.satrec);
  const base = baseline(satrecs, TICKS);
  const res: CaseResult = {
    mode,
    n,
    tracked,
    tickCpuMs: tickCpu / 1000,
    perObjectUs: tickCpu / tracked,
    processCpuMsPerS: processCpu / 1000,
    processPerObjectUs: processCpu / tracked,
    tickWallMs: walls.reduce((a, b) => a + b, 0) / walls.length,
    rssMiB: rss,
    baselinePerObjectUs: base / n,
    loopGapMs: stalls.maxMs,
    loopCpuMs: stalls.maxCpuMs,
    elDelayMaxMs: stalls.elDelayMaxMs,
  };
  if (gateway) {
    const sorted = [...lat].sort((a, b) => a - b);
    res.wsSamples = sorted.length;
    res.wsP50Ms = pct(sorted, 50);
    res.wsP99Ms = pct(sorted, 99);
  }
  return res;
}

async function reachable(kind: 'nats' | 'redis'): Promise<boolean> {
  try {
    if (kind === 'nats') {
      const t = await connectNats({ servers: NATS_URL, names: protocolNames('benchprobe') });
      await t.close();
      return true;
    }
    const r = new RedisCache({ url: REDIS_URL, prefix: 'benchprobe' });
    const ok = await r.waitReady(2000);
    await r.close();
    return ok;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const { records } = await loadSnapshot();
  const epochMs = Date.now() - 3_600_000;
  const maxN = Math.max(...CASES);
  const sets = catalogOf(records, maxN, epochMs);
  const dir = mkdtempSync(join(tmpdir(), 'sw-bench-tracking-'));
  const pg = await openStorage(loadConfig({ env: {}, overrides: { dataDir: dir, logLevel: 'warn' } }));
  const modes: Array<'embedded' | 'cluster'> = ['embedded'];
  if ((await reachable('nats')) && (await reachable('redis'))) modes.push('cluster');
  else console.log('cluster mode skipped: NATS or Redis not reachable');
  console.log(`node ${process.version}, ${TICKS} measured ticks per case (after 3 warm-up ticks), 256 shards`);
  const results: CaseResult[] = [];
  try {
    for (const mode of modes) {
      const runs: Array<[number, boolean]> = CASES.map((n): [number, boolean] => [n, false]);
      // Latency with the gateway's /ws in the loop: separate runs, so the CPU figures above are the tracker's alone.
      if (mode === 'embedded') for (const n of CASES) runs.push([n, true]);
      for (const [n, gw] of runs) {
        const r = await runCase(mode, n, sets, pg, gw);
        results.push(r);
        const ws = r.wsSamples !== undefined ? `  ws tick→client p50 ${r.wsP50Ms} ms p99 ${r.wsP99Ms} ms (${r.wsSamples} frames)` : '';
        console.log(
          `${mode.padEnd(8)}${gw ? ' +gateway' : ''} n=${String(n).padStart(6)} tracked=${r.tracked}  tick cpu ${r.tickCpuMs.toFixed(1)} ms = ${r.perObjectUs.toFixed(3)} µs/object-tick` +
            `  (wall ${r.tickWallMs.toFixed(1)} ms)  process cpu ${r.processCpuMsPerS.toFixed(1)} ms/s = ${r.processPerObjectUs.toFixed(3)} µs/object-tick` +
            `  rss ${r.rssMiB.toFixed(0)} MiB  loop: longest gap ${r.loopGapMs.toFixed(1)} ms${r.loopCpuMs === null ? '' : `, ${r.loopCpuMs.toFixed(1)} ms of it on CPU`} (event-loop delay max ${r.elDelayMaxMs.toFixed(1)} ms)  | baseline satellite.js propagate+eciToGeodetic ${r.baselinePerObjectUs.toFixed(3)} µs/object${ws}`,
        );
      }
    }
  } finally {
    await pg.close();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(JSON.stringify({ results }, null, 1));
}

await main();
process.exit(0);
