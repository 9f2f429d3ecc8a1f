/**
 * bench:kernels — the L1 and L3 kernels on one synthetic full-disk band-13
 * scene (5424 × 5424 by default; helper A's scene model with a tropical
 * cyclone), native addon against the TS references in the same run. Each
 * stage runs on the whole raster in one call (the native side splits it
 * into row bands on the libuv pool); a second native pass runs the same
 * stages tile by tile (512², 2 tiles at a time) the way the tile pipeline
 * calls them. The truth cloud mask stands in for the UNet's.
 *
 *   npm run bench:kernels                  # full disk
 *   BENCH_SIZE=2048 npm run bench:kernels  # a smaller disk
 */
import { availableParallelism } from 'node:os';
import { kernelsNative, kernelsTs, type Kernels } from '../actors/tile/kernels/index.js';
import { generateScene } from '../actors/tile/synthetic/scene.js';
import { ABI_BAND13, ABI_FILL, abiSceneCounts } from '../actors/tile/synthetic/write-abi.js';
import type { Calibration } from '../actors/tile/types.js';

const SIZE = Number(process.env.BENCH_SIZE ?? 5424);
const CYCLONE_REDUCE = 4;

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

async function runWhole(k: Kernels, inp: Inputs, cal: Calibration): Promise<{ times: Times; summary: string }> {
  const times: Times = {};
  let t = performance.now();
  const { values, qa } = await k.calibrate(inp.counts, inp.dqf, cal);
  times.calibrate = ms(t);
  t = performance.now();
  const qc = await k.qaCheck(values, qa, SIZE, SIZE, 'ir', { lat: inp.lat });
  times.qa = ms(t);
  t = performance.now();
  const top = await k.cloudTop(values, inp.cloud);
  times.cloudTop = ms(t);
  t = performance.now();
  const conv = await k.convection(values, inp.cloud, SIZE, SIZE);
  times.convection = ms(t);
  const red = reduce(values, inp.lat, inp.lon, SIZE, SIZE, CYCLONE_REDUCE);
  t = performance.now();
  const fixes = await k.cyclones(red.rbt, red.rlat, red.rlon, red.rw, red.rh);
  times[`cyclones(${red.rw}²)`] = ms(t);
  let cthSum = 0, cthN = 0;
  for (const z of top.cthM) if (!Number.isNaN(z)) {
    cthSum += z;
    cthN++;
  }
  const summary =
    `valid ${qc.valid} fill ${qc.fill} dqf ${qc.dqf} range ${qc.range} isolated ${qc.isolated} space ${qc.space}; ` +
    `mean CTH ${(cthSum / Math.max(1, cthN) / 1000).toFixed(3)} km over ${cthN} px; deep ${conv.counts.deepConvection} OT px ${conv.counts.overshoot} tops ${conv.counts.overshootTops}; ` +
    `cyclones ${fixes.map((f) => `${f.scene} ${f.lat.toFixed(2)},${f.lon.toFixed(2)} CI ${f.ci} ${f.vmaxKt.toFixed(0)} kt ${f.mslpHpa.toFixed(0)} hPa`).join('; ') || 'none'}`;
  return { times, summary };
}

/** Native, tile by tile (512² cores with a 16 px halo for the neighbourhood kernels), two tiles in flight. */
async function runTiled(k: Kernels, inp: Inputs, cal: Calibration): Promise<number> {
  const T = 512, H = 16;
  const jobs: Array<[number, number]> = [];
  for (let r = 0; r < SIZE; r += T) for (let c = 0; c < SIZE; c += T) jobs.push([r, c]);
  const t0 = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const [r, c] = jobs[next++] as [number, number];
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
      const { values, qa } = await k.calibrate(counts, dqf, cal);
      await k.qaCheck(values, qa, w, h, 'ir', { lat });
      await k.cloudTop(values, cloud);
      await k.convection(values, cloud, w, h);
    }
  };
  await Promise.all([worker(), worker()]);
  return ms(t0);
}

async function main(): Promise<void> {
  console.log(`bench:kernels — ${SIZE}×${SIZE} band 13 (${((SIZE * SIZE) / 1e6).toFixed(1)} Mpx), ${availableParallelism()} cores, node ${process.version}`);
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
  await runWhole(native, inp, cal); // warm-up (page faults, lazy loading)
  const n = await runWhole(native, inp, cal);
  const s = await runWhole(kernelsTs, inp, cal);
  console.log(`\n${'stage'.padEnd(18)}${'native ms'.padStart(12)}${'TS ms'.padStart(12)}${'speed-up'.padStart(10)}${'native Mpx/s'.padStart(14)}`);
  let nl = 0, sl = 0;
  for (const stage of Object.keys(n.times)) {
    const a = n.times[stage] as number, b = s.times[stage] as number;
    if (!stage.startsWith('cyclones')) {
      nl += a;
      sl += b;
    }
    const px = stage.startsWith('cyclones') ? mpx / (CYCLONE_REDUCE * CYCLONE_REDUCE) : mpx;
    console.log(`${stage.padEnd(18)}${a.toFixed(0).padStart(12)}${b.toFixed(0).padStart(12)}${(b / a).toFixed(1).padStart(9)}×${(px / (a / 1000)).toFixed(0).padStart(14)}`);
  }
  console.log(`${'L1+L3 per-pixel'.padEnd(18)}${nl.toFixed(0).padStart(12)}${sl.toFixed(0).padStart(12)}${(sl / nl).toFixed(1).padStart(9)}×${(mpx / (nl / 1000)).toFixed(0).padStart(14)}`);
  console.log(`\nnative: ${n.summary}\nTS:     ${s.summary}`);
  const tiled = await runTiled(native, inp, cal);
  console.log(`\nnative tile by tile (512² + 16 px halo, 2 in flight, copies included): ${tiled.toFixed(0)} ms for L1+QA+cloudTop+convection (${(mpx / (tiled / 1000)).toFixed(0)} Mpx/s)`);
}

await main();
