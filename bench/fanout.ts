/**
 * Websocket fanout on one gateway process (`npm run bench:fanout`).
 *
 * Processes, all on this machine, talking over loopback:
 *   - NATS (NATS_URL, default nats://127.0.0.1:4222);
 *   - a feeder (bench/fanout-feeder.ts): real 1 Hz tracker frames for the
 *     shipped 15,347-object snapshot, one per shard, published at the tick;
 *   - the gateway (bench/fanout-gateway.ts): the gateway role's host, fresh
 *     for each case;
 *   - a separate load process (bench/fanout-load.ts, worker threads) with N
 *     websocket clients, each subscribed to a viewport bbox holding ~200
 *     objects, plus 100 clients subscribed to every object.
 * Viewports: BENCH_VIEWPORTS distinct boxes (default 100), each grown around
 * a random object until it holds 200 objects at the start, and dealt to the
 * clients round-robin (dashboards looking at the same region share a
 * subscription class, hence one encoded frame per tick).
 *
 * Per case it prints delivery delay tick→client (p50/p99/max over every
 * frame received in BENCH_TICKS ticks after BENCH_WARMUP ticks), the
 * frames expected vs received, when the gateway's flush starts after the
 * tick and how long it takes to hand every client its frame (the gateway's
 * share of the delay), gateway CPU (% of one core) over the window,
 * RSS per client ((RSS with clients − RSS before), both after a full GC),
 * the load process's event-loop delay, and how busy the machine was (CPU
 * time of everything else on it during the window).
 *
 *   node dist/bench/fanout.js [cases=1000,5000,10000]
 * File descriptors: each process needs one per socket; the gateway and the
 * load process are started under `ulimit -n` raised to the hard limit.
 * BENCH_PROF=<dir> writes a CPU profile of each gateway process there.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { createServer } from 'node:net';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { decodeTrackerFrame, STATE_STRIDE } from '../protocol/frames/tracker-state.js';
import { S_LAT_DEG, S_LON_DEG } from '../actors/tracker/propagate.js';
import { inBbox } from '../actors/gateway/subscription.js';

const CASES = (process.argv[2] ?? '1000,5000,10000').split(',').map(Number);
const ALL_CLIENTS = Number(process.env.BENCH_ALL_CLIENTS ?? 100);
const VIEWPORTS = Number(process.env.BENCH_VIEWPORTS ?? 100);
const VIEWPORT_OBJECTS = 200;
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
const TICKS = Number(process.env.BENCH_TICKS ?? 10);
const LOAD_WORKERS = Number(process.env.BENCH_LOAD_WORKERS ?? 2);
const NATS_URL = process.env.NATS_URL || 'nats://127.0.0.1:4222';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));

function hardNofile(): number {
  try {
    const h = execSync('ulimit -Hn', { shell: '/bin/bash' }).toString().trim();
    return h === 'unlimited' ? 1_048_576 : Number(h);
  } catch {
    return 0;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** fork() under a raised open-file limit: node cannot raise its own, so a shell does it and execs node. */
function forkWithNofile(script: string, env: Record<string, string>, nofile: number, execArgv: string[] = []): ChildProcess {
  return fork(script, [], {
    env: { ...process.env, ...env },
    execPath: '/bin/bash',
    execArgv: ['-c', `ulimit -n ${nofile} 2>/dev/null; exec "${process.execPath}" ${execArgv.join(' ')} "$0" "$@"`],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

function next<T>(child: ChildProcess, type: string, timeoutMs = 120_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${type} from pid ${child.pid} within ${timeoutMs} ms`)), timeoutMs);
    const on = (m: { type: string }) => {
      if (m.type !== type) return;
      clearTimeout(timer);
      child.off('message', on);
      resolve(m as T);
    };
    child.on('message', on);
    child.once('exit', (code) => reject(new Error(`pid ${child.pid} exited (${code}) before ${type}`)));
  });
}

/** CPU ms of a process from /proc (utime + stime, clock ticks of 10 ms). */
function procCpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) * 10;
}

/** Whole-machine busy CPU ms so far (all cores). */
function machineBusyMs(): number {
  const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const n = v.map(Number);
  const idle = n[3]! + (n[4] ?? 0);
  const total = n.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - idle) * 10;
}

interface GwStats {
  at: number;
  cpu: { user: number; system: number };
  rss: number;
  heapUsed: number;
  gateway: { objects: number; clients: number; subscriptionClasses: number; encodes: number; framesOut: number; skippedFrames: number; slowDisconnects: number; flushes: number; flushMsTotal: number; tickToFlushMsTotal: number };
}

async function gwStats(gw: ChildProcess): Promise<GwStats> {
  const p = next<GwStats>(gw, 'stats', 30_000);
  gw.send({ type: 'stats' });
  return p;
}

/** Viewports holding ~VIEWPORT_OBJECTS objects each, from one snapshot of every object. */
async function viewports(port: number): Promise<Array<[number, number, number, number]>> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  const frame = await new Promise<Buffer>((resolve, reject) => {
    ws.on('message', (d: Buffer, bin: boolean) => {
      if (bin) resolve(d);
      else if ((JSON.parse(d.toString()) as { type: string }).type === 'welcome') ws.send(JSON.stringify({ type: 'subscribe', all: true }));
    });
    ws.on('error', reject);
  });
  ws.terminate();
  const f = decodeTrackerFrame(new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength));
  const pts: Array<[number, number]> = [];
  for (let k = 0; k < f.count; k++) {
    const lat = f.columns.values[k * STATE_STRIDE + S_LAT_DEG]!;
    const lon = f.columns.values[k * STATE_STRIDE + S_LON_DEG]!;
    if (f.columns.flags[k] === 0 && Number.isFinite(lat) && Number.isFinite(lon)) pts.push([lat, lon]);
  }
  // Deterministic: a fixed-seed LCG picks the centres.
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const out: Array<[number, number, number, number]> = [];
  for (let v = 0; v < VIEWPORTS; v++) {
    const [clat, clon] = pts[Math.floor(rnd() * pts.length)]!;
    for (let half = 1; half <= 90; half += 0.5) {
      const s = Math.max(-90, clat - half);
      const n = Math.min(90, clat + half);
      const hw = Math.min(180, half * 2);
      let w = clon - hw;
      let e = clon + hw;
      if (w < -180) w += 360;
      if (e > 180) e -= 360;
      const box: [number, number, number, number] = hw >= 180 ? [-180, s, 180, n] : [w, s, e, n];
      let count = 0;
      for (const [lat, lon] of pts) if (inBbox(box, lat, lon)) count++;
      if (count >= VIEWPORT_OBJECTS) {
        out.push(box.map((x) => Math.round(x * 1000) / 1000) as [number, number, number, number]);
        break;
      }
    }
  }
  return out;
}

async function main(): Promise<void> {
  const nofile = hardNofile();
  const need = Math.max(...CASES) + ALL_CLIENTS + 1000;
  console.log(`bench:fanout — cases ${CASES.join(', ')} viewport clients + ${ALL_CLIENTS} all-object clients; ${VIEWPORTS} distinct viewports of ~${VIEWPORT_OBJECTS} objects; ${WARMUP} warm-up + ${TICKS} measured ticks`);
  console.log(`open-file hard limit ${nofile}${nofile < need ? ` (below the ${need} the largest case needs: raise it, e.g. ulimit -Hn in the container)` : ''}; NATS ${NATS_URL}; load workers ${LOAD_WORKERS}`);
  const namespace = `bfan${randomBytes(4).toString('hex')}`;
  const baseEnv = { NATS_URL, STARWEATHER_NAMESPACE: namespace, STARWEATHER_SHARD_COUNT: '8', STARWEATHER_NODE_ID: `bench-${namespace}` };
  const feeder = fork(here('./fanout-feeder.js'), [], { env: { ...process.env, ...baseEnv }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const children: ChildProcess[] = [feeder];
  const killAll = () => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL'));
  process.on('exit', killAll);
  const fed = await next<{ objects: number; shards: number }>(feeder, 'ready', 120_000);
  let feederProgress: { errors: number; prepareMsMean: number; lateMsMax: number } | null = null;
  feeder.on('message', (m: { type: string; errors: number; prepareMsMean: number; lateMsMax: number }) => {
    if (m.type === 'progress') feederProgress = m;
  });
  console.log(`feeder: ${fed.objects} objects in ${fed.shards} shard frames per tick`);
  const rows: string[] = [];

  for (const N of CASES) {
    const port = await freePort();
    const gw = forkWithNofile(
      here('./fanout-gateway.js'),
      {
        ...baseEnv,
        STARWEATHER_HOST: '127.0.0.1',
        STARWEATHER_PORT: String(port),
        STARWEATHER_WS_MAX_CLIENTS: String(N + ALL_CLIENTS + 100),
        // Every client comes from 127.0.0.1: the per-address cap would refuse all but 50.
        STARWEATHER_WS_MAX_PER_IP: String(N + ALL_CLIENTS + 100),
        STARWEATHER_RATE_LIMIT_MAX: '10000000',
        STARWEATHER_API_KEY: randomBytes(16).toString('hex'),
      },
      nofile,
      ['--expose-gc', ...(process.env.BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] : [])],
    );
    children.push(gw);
    await next(gw, 'ready', 120_000);
    // States of every object known before any client connects.
    for (let i = 0; i < 30; i++) {
      if ((await gwStats(gw)).gateway.objects >= fed.objects * 0.99) break;
      await sleep(500);
    }
    const boxes = await viewports(port);
    const before = await gwStats(gw);

    const load = forkWithNofile(here('./fanout-load.js'), {}, nofile);
    children.push(load);
    await next(load, 'ready');
    const subscribes = [
      ...Array.from({ length: ALL_CLIENTS }, () => ({ type: 'subscribe', all: true })),
      ...Array.from({ length: N }, (_, i) => ({ type: 'subscribe', bbox: boxes[i % boxes.length] })),
    ];
    const t0 = Date.now();
    const connectedP = next<{ ok: number; failed: number }>(load, 'connected', 600_000);
    load.send({ type: 'start', port, subscribes, workers: LOAD_WORKERS });
    const connected = await connectedP;
    const connectS = (Date.now() - t0) / 1000;

    // Warm-up, then measure whole ticks.
    await sleep(WARMUP * 1000);
    const from = Math.ceil(Date.now() / 1000) * 1000 + 1000;
    const to = from + (TICKS - 1) * 1000;
    load.send({ type: 'measure', from, to });
    await sleep(from - Date.now());
    const s1 = await gwStats(gw);
    const cpu1 = { load: procCpuMs(load.pid!), feeder: procCpuMs(feeder.pid!), gw: procCpuMs(gw.pid!), machine: machineBusyMs(), at: Date.now() };
    await sleep(to - Date.now() + 1000);
    const cpu2 = { load: procCpuMs(load.pid!), feeder: procCpuMs(feeder.pid!), gw: procCpuMs(gw.pid!), machine: machineBusyMs(), at: Date.now() };
    const s2 = await gwStats(gw);
    const rp = next<{ frames: number; bytes: number; p50: number; p99: number; max: number; closed: number; closeCodes: Record<string, number>; loopP99Ms: number; loopMaxMs: number }>(load, 'report');
    load.send({ type: 'report' });
    const r = await rp;

    const wallMs = (s2.at - s1.at);
    const gwCpuPct = ((s2.cpu.user + s2.cpu.system - s1.cpu.user - s1.cpu.system) / 1000 / wallMs) * 100;
    const clients = connected.ok;
    const rssPerClientKB = (s2.rss - before.rss) / 1024 / Math.max(1, clients);
    const expected = clients * TICKS;
    const windowMs = cpu2.at - cpu1.at;
    const pct = (a: number, b: number) => ((b - a) / windowMs) * 100;
    const ours = pct(cpu1.load, cpu2.load) + pct(cpu1.feeder, cpu2.feeder) + pct(cpu1.gw, cpu2.gw);
    const machine = pct(cpu1.machine, cpu2.machine);
    console.log(
      `\n${N} viewport + ${ALL_CLIENTS} all clients: connected ${clients} (${connected.failed} failed) in ${connectS.toFixed(1)} s; ` +
        `${s2.gateway.subscriptionClasses} subscription classes, ${s2.gateway.encodes - s1.gateway.encodes} encodes in the window`,
    );
    console.log(`  delay tick→client: p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(1)} ms; frames ${r.frames}/${expected} expected (${(r.bytes / 1e6 / TICKS).toFixed(1)} MB/s to clients); closed during run: ${r.closed} ${JSON.stringify(r.closeCodes)}; gateway skipped ${s2.gateway.skippedFrames}, slow disconnects ${s2.gateway.slowDisconnects}`);
    const userPct = ((s2.cpu.user - s1.cpu.user) / 1000 / wallMs) * 100;
    const flushes = Math.max(1, s2.gateway.flushes - s1.gateway.flushes);
    const flushMs = (s2.gateway.flushMsTotal - s1.gateway.flushMsTotal) / flushes;
    const startMs = (s2.gateway.tickToFlushMsTotal - s1.gateway.tickToFlushMsTotal) / flushes;
    console.log(`  gateway: CPU ${gwCpuPct.toFixed(0)}% of one core (user ${userPct.toFixed(0)}%, system ${(gwCpuPct - userPct).toFixed(0)}%: on loopback the kernel's receive path runs in the sender's time too); RSS ${(before.rss / 2 ** 20).toFixed(0)} MB before clients → ${(s2.rss / 2 ** 20).toFixed(0)} MB = ${rssPerClientKB.toFixed(1)} KB per client (heap ${(s2.heapUsed / 2 ** 20).toFixed(0)} MB)`);
    console.log(`  gateway flush (mean of ${flushes}): starts ${startMs.toFixed(1)} ms after the tick, hands every client its frame within ${flushMs.toFixed(1)} ms`);
    console.log(`  load process: CPU ${pct(cpu1.load, cpu2.load).toFixed(0)}%, worst event-loop delay p99 ${r.loopP99Ms.toFixed(1)} ms (max ${r.loopMaxMs.toFixed(1)}); feeder CPU ${pct(cpu1.feeder, cpu2.feeder).toFixed(0)}%${feederProgress ? `, tick prepared in ${(feederProgress as { prepareMsMean: number }).prepareMsMean.toFixed(0)} ms, published late by ≤ ${(feederProgress as { lateMsMax: number }).lateMsMax} ms` : ''}`);
    console.log(`  machine: ${machine.toFixed(0)}% busy of ${200}% (2 cores), ${Math.max(0, machine - ours).toFixed(0)}% by other processes; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    rows.push(`| ${N} + ${ALL_CLIENTS} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.frames}/${expected} | ${gwCpuPct.toFixed(0)}% | ${rssPerClientKB.toFixed(1)} | ${Math.max(0, machine - ours).toFixed(0)}% |`);

    load.send({ type: 'close' });
    await new Promise((r2) => load.once('exit', r2));
    gw.send({ type: 'stop' });
    await Promise.race([new Promise((r2) => gw.once('exit', r2)), sleep(10_000)]);
    if (gw.exitCode === null) gw.kill('SIGKILL');
  }
  console.log('\n| clients (viewport + all) | p50 ms | p99 ms | frames received/expected | gateway CPU (1 core) | RSS KB/client | other load on the machine |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(r);
  feeder.send({ type: 'stop' });
  await Promise.race([new Promise((r) => feeder.once('exit', r)), sleep(3000)]);
  killAll();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
