/**
 * bench:kernels — the L1 and L3 kernels on one synthetic full-disk band-13
 * scene (5424 × 5424 by default; helper A's scene model with a tropical
 * cyclone), native addon against the TS references in the same run. Each
 * stage runs on the whole raster in one call (the native side splits it
 * into row bands on the libuv pool); then the same stages run tile by tile
 * (512² + halo) for both, the way the tile pipeline calls them. The truth cloud mask stands in for the UNet's.
 *
 *   npm run bench:kernels                  # full disk
 *   BENCH_SIZE=2048 npm run bench:kernels  # a smaller disk
 *   BENCH_REPS (default 3): repetitions, best time per stage is reported
 *   UV_THREADPOOL_SIZE=1: native on one thread (per-core comparison)
 */
import { availableParallelism, loadavg } from 'node:os';
import { kernelsNative, kernelsTs, type Kernels } from '../actors/tile/kernels/index.js';
import { bandRows } from '../actors/tile/kernels/native.js';
import { generateScene } from '../actors/tile/synthetic/scene.js';
import { ABI_BAND13, ABI_FILL, abiSceneCounts } from '../actors/tile/synthetic/write-abi.js';
import type { Calibration } from '../actors/tile/types.js';

const SIZE = Number(process.env.BENCH_SIZE ?? 5424);
const CYCLONE_REDUCE = 4;
const REPS = Number(process.env.BENCH_REPS ?? 3);

interface Inputs {
  counts: Uint16Array;
  dqf: Uint8Array;
  cloud: Uint8Array;
  lat: Float32Array;
  lon: Float32Array;
}

type Times = Record<string, number>;

function ms(t0: number): number {
  return performance.now() - t0;
}

/** Block-mean BT (finite pixels) and the block centre's coordinates, for the cyclone pass on a reduced raster. */
function reduce(bt: Float32Array, lat: Float32Array, lon: Float32Array, w: number, h: number, f: number) {
  const rw = Math.floor(w / f), rh = Math.floor(h / f);
  const rbt = new Float32Array(rw * rh), rlat = new Float32Array(rw * rh), rlon = new Float32Array(rw * rh);
  for (let r = 0; r < rh; r++) {
    for (let c = 0; c < rw; c++) {
      let s = 0, n = 0;
      for (let y = r * f; y < (r + 1) * f; y++) for (let x = c * f; x < (c + 1) * f; x++) {
        const v = bt[y * w + x] as number;
        if (!Number.isNaN(v)) {
          s += v;
          n++;
        }
      }
      const ci = (r * f + (f >> 1)) * w + c * f + (f >> 1);
      rbt[r * rw + c] = n > 0 ? s / n : NaN;
      rlat[r * rw + c] = lat[ci] as number;
      rlon[r * rw + c] = lon[ci] as number;
    }
  }
  return { rbt, rlat, rlon, rw, rh };
}

async function runWhole(k: Kernels, inp: Inputs, cal: Calibration): Promise<{ times: Times; cpu: Times; summary: string }> {
  const times: Times = {};
  const cpu: Times = {};
  // Wall time and process CPU time (all threads) per stage: on a shared machine CPU time is the steadier figure.
  const stage = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const out = await fn();
    times[name] = ms(t0);
    const c = process.cpuUsage(c0);
    cpu[name] = (c.user + c.system) / 1000;
    return out;
  };
  const { values, qa } = await stage('calibrate', () => k.calibrate(inp.counts, inp.dqf, cal));
  const qc = await stage('qa', () => k.qaCheck(values, qa, SIZE, SIZE, 'ir', { lat: inp.lat }));
  const top = await stage('cloudTop', () => k.cloudTop(values, inp.cloud));
  const conv = await stage('convection', () => k.convection(values, inp.cloud, SIZE, SIZE));
  const red = reduce(values, inp.lat, inp.lon, SIZE, SIZE, CYCLONE_REDUCE);
  const fixes = await stage(`cyclones(${red.rw}²)`, () => k.cyclones(red.rbt, red.rlat, red.rlon, red.rw, red.rh));
  let cthSum = 0, cthN = 0;
  for (const z of top.cthM) if (!Number.isNaN(z)) {
    cthSum += z;
    cthN++;
  }
  const summary =
    `valid ${qc.valid} fill ${qc.fill} dqf ${qc.dqf} range ${qc.range} isolated ${qc.isolated} space ${qc.space}; ` +
    `mean CTH ${(cthSum / Math.max(1, cthN) / 1000).toFixed(3)} km over ${cthN} px; deep ${conv.counts.deepConvection} OT px ${conv.counts.overshoot} tops ${conv.counts.overshootTops}; ` +
    `cyclones ${fixes.map((f) => `${f.scene} ${f.lat.toFixed(2)},${f.lon.toFixed(2)} CI ${f.ci} ${f.vmaxKt.toFixed(0)} kt ${f.mslpHpa.toFixed(0)} hPa`).join('; ') || 'none'}`;
  return { times, cpu, summary };
}

/**
 * Tile by tile, as the pipeline calls the kernels: 512² cores with a 16 px
 * halo, one tile after another, per-stage wall and CPU time summed over the
 * tiles (the halo copies are not counted). Tile-sized outputs come from the
 * allocator's reused heap rather than fresh pages, so this is also the fair
 * per-pixel comparison: whole-disk rasters (≥ 100 MB each) are fresh mmaps
 * whose page faults cost both implementations alike.
 */
async function runTiled(k: Kernels, inp: Inputs, cal: Calibration): Promise<{ times: Times; cpu: Times }> {
  const T = 512, H = 16;
  const times: Times = { calibrate: 0, qa: 0, cloudTop: 0, convection: 0 };
  const cpu: Times = { calibrate: 0, qa: 0, cloudTop: 0, convection: 0 };
  const stage = async <R>(name: string, fn: () => Promise<R>): Promise<R> => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const out = await fn();
    times[name] = (times[name] as number) + ms(t0);
    const c = process.cpuUsage(c0);
    cpu[name] = (cpu[name] as number) + (c.user + c.system) / 1000;
    return out;
  };
  for (let r = 0; r < SIZE; r += T) {
    for (let c = 0; c < SIZE; c += T) {
      const r0 = Math.max(0, r - H), c0 = Math.max(0, c - H);
      const r1 = Math.min(SIZE, r + T + H), c1 = Math.min(SIZE, c + T + H);
      const w = c1 - c0, h = r1 - r0;
      const counts = new Uint16Array(w * h), dqf = new Uint8Array(w * h), cloud = new Uint8Array(w * h), lat = new Float32Array(w * h);
      for (let y = 0; y < h; y++) {
        const from = (r0 + y) * SIZE + c0;
        counts.set(inp.counts.subarray(from, from + w), y * w);
        dqf.set(inp.dqf.subarray(from, from + w), y * w);
        cloud.set(inp.cloud.subarray(from, from + w), y * w);
        lat.set(inp.lat.subarray(from, from + w), y * w);
      }
      const { values, qa } = await stage('calibrate', () => k.calibrate(counts, dqf, cal));
      await stage('qa', () => k.qaCheck(values, qa, w, h, 'ir', { lat }));
      await stage('cloudTop', () => k.cloudTop(values, cloud));
      await stage('convection', () => k.convection(values, cloud, w, h));
    }
  }
  return { times, cpu };
}

async function main(): Promise<void> {
  console.log(`bench:kernels — ${SIZE}×${SIZE} band 13 (${((SIZE * SIZE) / 1e6).toFixed(1)} Mpx), ${availableParallelism()} cores, native bands ${bandRows(SIZE).length}, best of ${REPS}, node ${process.version}, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  let t = performance.now();
  const scene = generateScene({
    seed: 11,
    width: SIZE,
    height: SIZE,
    latLon: true,
    cyclone: { lat: 18, lon: -60, eyeRadiusKm: 18, eyeTempK: 285, cloudTopTempK: 195, radiusKm: 450 },
  });
  const { counts, dqf } = abiSceneCounts(scene);
  console.log(`scene generated in ${(ms(t) / 1000).toFixed(1)} s`);
  const inp: Inputs = { counts, dqf, cloud: scene.truthCloud, lat: scene.lat as Float32Array, lon: scene.lon as Float32Array };
  const cal: Calibration = { instrument: 'abi', kind: 'ir', ...ABI_BAND13, fill: ABI_FILL };
  const mpx = (SIZE * SIZE) / 1e6;

  const native = kernelsNative();
  // Interleaved repetitions, best time per stage: on a shared machine the minimum is the least disturbed run.
  const best = (acc: Times | null, t: Times): Times => {
    if (acc === null) return { ...t };
    for (const [k, v] of Object.entries(t)) acc[k] = Math.min(acc[k] as number, v);
    return acc;
  };
  let nt: Times | null = null, st: Times | null = null, nc: Times | null = null, sc: Times | null = null;
  let n = await runWhole(native, inp, cal); // warm-up (page faults, lazy loading)
  let s = await runWhole(kernelsTs, inp, cal);
  for (let rep = 0; rep < REPS; rep++) {
    n = await runWhole(native, inp, cal);
    nt = best(nt, n.times);
    nc = best(nc, n.cpu);
    s = await runWhole(kernelsTs, inp, cal);
    st = best(st, s.times);
    sc = best(sc, s.cpu);
  }
  const row = (a: string, ...cols: string[]): string => a.padEnd(18) + cols.map((c) => c.padStart(11)).join('');
  console.log('\n' + row('stage', 'native ms', 'TS ms', 'wall ×', 'native cpu', 'TS cpu', 'cpu ×', 'nat Mpx/s'));
  const tot = { nw: 0, sw: 0, nc: 0, sc: 0 };
  for (const name of Object.keys(nt as Times)) {
    const a = (nt as Times)[name] as number, b = (st as Times)[name] as number;
    const ca = (nc as Times)[name] as number, cb = (sc as Times)[name] as number;
    if (!name.startsWith('cyclones')) {
      tot.nw += a;
      tot.sw += b;
      tot.nc += ca;
      tot.sc += cb;
    }
    const px = name.startsWith('cyclones') ? mpx / (CYCLONE_REDUCE * CYCLONE_REDUCE) : mpx;
    console.log(row(name, a.toFixed(0), b.toFixed(0), (b / a).toFixed(1) + '×', ca.toFixed(0), cb.toFixed(0), (cb / ca).toFixed(1) + '×', (px / (a / 1000)).toFixed(0)));
  }
  console.log(
    row('L1+QA+L3 (pixel)', tot.nw.toFixed(0), tot.sw.toFixed(0), (tot.sw / tot.nw).toFixed(1) + '×', tot.nc.toFixed(0), tot.sc.toFixed(0), (tot.sc / tot.nc).toFixed(1) + '×', (mpx / (tot.nw / 1000)).toFixed(0)),
  );
  console.log(`\nnative: ${n.summary}\nTS:     ${s.summary}`);
  // Tile by tile: best of REPS per stage for each implementation.
  let tn: { times: Times; cpu: Times } | null = null, ts: { times: Times; cpu: Times } | null = null;
  for (let rep = 0; rep < REPS + 1; rep++) {
    const a = await runTiled(native, inp, cal);
    const b = await runTiled(kernelsTs, inp, cal);
    if (rep === 0) continue; // warm-up
    tn = tn === null ? a : { times: best(tn.times, a.times), cpu: best(tn.cpu, a.cpu) };
    ts = ts === null ? b : { times: best(ts.times, b.times), cpu: best(ts.cpu, b.cpu) };
  }
  console.log('\ntile by tile (512² + 16 px halo, as the pipeline calls them):');
  console.log(row('stage', 'native ms', 'TS ms', 'wall ×', 'native cpu', 'TS cpu', 'cpu ×', 'nat Mpx/s'));
  const tt = { nw: 0, sw: 0, nc: 0, sc: 0 };
  for (const name of Object.keys(tn!.times)) {
    const a = tn!.times[name] as number, b = ts!.times[name] as number, ca = tn!.cpu[name] as number, cb = ts!.cpu[name] as number;
    tt.nw += a;
    tt.sw += b;
    tt.nc += ca;
    tt.sc += cb;
    console.log(row(name, a.toFixed(0), b.toFixed(0), (b / a).toFixed(1) + '×', ca.toFixed(0), cb.toFixed(0), (cb / ca).toFixed(1) + '×', (mpx / (a / 1000)).toFixed(0)));
  }
  console.log(row('L1+QA+L3 (pixel)', tt.nw.toFixed(0), tt.sw.toFixed(0), (tt.sw / tt.nw).toFixed(1) + '×', tt.nc.toFixed(0), tt.sc.toFixed(0), (tt.sc / tt.nc).toFixed(1) + '×', (mpx / (tt.nw / 1000)).toFixed(0)));
  console.log(`\nnative L1+QA+L3 tile by tile: ${(tt.nw / 1000).toFixed(2)} s wall = ${((tt.nw / 60_000) * 100).toFixed(1)}% of the 60 s scene budget (TS: ${(tt.sw / 1000).toFixed(2)} s); load average now ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}

await main();
