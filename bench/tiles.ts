/**
 * Tile pipeline benchmark: a full-disk band-13 scene (5424 × 5424, GOES-East
 * geometry, written by the synthetic generator as a real ABI L1b netCDF4
 * file) end to end on this machine, in one process:
 *
 *   read (netCDF4/HDF5 decode, on a worker thread) → per tile (512 + 64 halo): cut, L1
 *   calibration, QA, L2 UNet, L3 cloud top + convection, reduce → merge →
 *   cyclone detection on the merged scene → render (PNG + WebP).
 *
 * Tiles run one after another (the native kernels and the UNet use every
 * core themselves; the TS reference uses one), so each stage's sum is its
 * wall time. Then the same tiles run twice more, kernels alone (the UNet
 * masks of the first run reused, the model being the same either way):
 * native, then the TypeScript reference, giving native vs TS for L1 + QA +
 * L3 in the same run.
 * The bus, the database and the tile tasks' round trips are not part of it:
 * this is the compute a node does per scene.
 *
 *   npm run bench:tiles            BENCH_SIZE=2048 npm run bench:tiles (smaller)
 *   BENCH_SKIP_TS=1                no TypeScript-reference run
 *   BENCH_ONE_STRETCH=1            the loop's stalls as they were before issue 10: the decode and the
 *                                  UNet in-thread, the JS stages without turns (same results)
 *   STARWEATHER_TILE_MODEL=path    another cloud model than the shipped one
 *
 * Printed last: the event loop's longest synchronous stretch per stage
 * (bench/loop-stalls.ts), with the UNet running and again without it.
 *
 * The generated file is kept in the temp directory and reused by later
 * runs (generation is not timed). Figures only, no assertions. Targets
 * (issue 6): whole scene L1–L3 incl. UNet ≤ 60 s on one 2-core node;
 * native L1 + L3 ≥ 10× the TS reference.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pixelLonLat } from '../actors/tile/formats/geo.js';
import { readScene } from '../actors/tile/formats/index.js';
import { readSceneOffLoop } from '../actors/tile/formats/read-thread.js';
import { TimeSlicer } from '../actors/runtime/time-slice.js';
import { CloudSegmenter } from '../actors/tile/segment/unet.js';
import { kernelsNative, kernelsTs, type Kernels } from '../actors/tile/kernels/index.js';
import { reduceFactor, tileGrid } from '../actors/tile/pipeline/grid.js';
import { btKelvin, reducedGeo } from '../actors/tile/pipeline/merge.js';
import { mergeScene } from '../actors/tile/pipeline/finalize-scene.js';
import { processTile, type TileOutput } from '../actors/tile/pipeline/process-tile.js';
import { renderProducts } from '../actors/tile/pipeline/render.js';
import { ThreadedCloudSegmenter } from '../actors/tile/segment/unet-thread.js';
import { generateScene } from '../actors/tile/synthetic/scene.js';
import { formatStalls, StallProbe } from './loop-stalls.js';
import { abiSceneSpec, writeAbiFile } from '../actors/tile/synthetic/write-abi.js';

const SIZE = Number(process.env.BENCH_SIZE ?? 5424);
const TILE = Number(process.env.BENCH_TILE ?? 512);
const HALO = Number(process.env.BENCH_HALO ?? 64);
const SKIP_TS = process.env.BENCH_SKIP_TS === '1';
const ONE_STRETCH = process.env.BENCH_ONE_STRETCH === '1';
/** The JS stages' pacing: default slices, or (BENCH_ONE_STRETCH) none. */
const slicer = (): TimeSlicer | undefined => (ONE_STRETCH ? new TimeSlicer(Infinity) : undefined);

type Stage = 'cut' | 'geo' | 'l1' | 'qa' | 'l2' | 'l3' | 'reduce';
const STAGES: Stage[] = ['cut', 'geo', 'l1', 'qa', 'l2', 'l3', 'reduce'];

const s = (ms: number): string => (ms / 1000).toFixed(2).padStart(7) + ' s';
const mpxs = (px: number, ms: number): string => (ms > 0 ? (px / 1e6 / (ms / 1000)).toFixed(1) : '∞').padStart(7) + ' Mpx/s';

async function sceneFile(): Promise<string> {
  const path = join(tmpdir(), `starweather-bench-tiles-${SIZE}.nc`);
  if (existsSync(path)) return path;
  const t0 = performance.now();
  // The whole disk at `SIZE` pixels (2 km at 5424), with a cyclone in the Atlantic; the generator's seeded cloud field elsewhere.
  const scene = generateScene({ seed: 2026, width: SIZE, height: SIZE, instrument: 'abi', time: new Date('2026-08-15T18:00:00Z'), cyclone: { lat: 18, lon: -60, eyeRadiusKm: 18, eyeTempK: 285, cloudTopTempK: 192, radiusKm: 450 } });
  await writeAbiFile(path, abiSceneSpec(scene));
  console.log(`(generated ${path} in ${s(performance.now() - t0).trim()}; reused by later runs)`);
  return path;
}

async function runTiles(band: Awaited<ReturnType<typeof readScene>>, kernels: Kernels, segment: (bt: Float32Array, w: number, h: number, index: number) => Promise<Uint8Array>, reduce: number, probe?: StallProbe) {
  const tiles = tileGrid(band.width, band.height, TILE, HALO);
  const sum: Record<Stage, number> = { cut: 0, geo: 0, l1: 0, qa: 0, l2: 0, l3: 0, reduce: 0 };
  const outs: TileOutput[] = [];
  const t0 = performance.now();
  for (const tile of tiles) {
    const out = await processTile(band, tile, reduce, { kernels, segment: (bt, w, h) => segment(bt, w, h, tile.index), beat: (stage) => probe?.lap(`tile ${stage}`), slicer: slicer() });
    probe?.lap('tile (between stages)');
    for (const k of STAGES) sum[k] += out.stats.ms[k];
    outs.push(out);
  }
  return { outs, sum, wall: performance.now() - t0, tiles: tiles.length };
}

async function main(): Promise<void> {
  const px = SIZE * SIZE;
  console.log(`bench:tiles — ${SIZE}×${SIZE} band-13 scene (${(px / 1e6).toFixed(1)} Mpx), tiles ${TILE} + ${HALO} halo, ${availableParallelism()} CPUs, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const path = await sceneFile();

  const probe = new StallProbe();
  probe.start();
  const tRead = performance.now();
  const bytes = await readFile(path);
  // On a worker thread, as SceneSource reads it.
  const band = ONE_STRETCH ? await readScene([{ name: path, bytes }]) : await readSceneOffLoop([{ name: path, bytes }]);
  const readMs = performance.now() - tRead;
  probe.lap('read (decode)');

  const native = kernelsNative();
  // One model window per tile (core + halo), as the tile service loads it.
  const model = await (ONE_STRETCH ? CloudSegmenter : ThreadedCloudSegmenter).load({ tileSize: TILE + 2 * HALO, ...(process.env.STARWEATHER_TILE_MODEL ? { modelPath: process.env.STARWEATHER_TILE_MODEL } : {}) });
  const reduce = reduceFactor(band.width, band.height, TILE, 2048);
  probe.lap('model load');
  const masks = new Map<number, Uint8Array>();
  const run = await runTiles(band, native, async (bt, w, h, index) => {
    const m = await model.segment(bt, w, h);
    masks.set(index, m.slice());
    return m;
  }, reduce, probe);

  const tMerge = performance.now();
  const stored = run.outs.map((o) => ({ index: o.stats.index, stats: o.stats, bt: o.bt, cth: o.cth, cloud: o.cloud }));
  let mergeMs = 0;
  let tCyc = 0;
  // The finalize's compute as the tile service runs it (pipeline/finalize-scene.ts).
  const { merged, stats, cyclones: fixes } = await mergeScene({ width: band.width, height: band.height, reduce, kind: band.kind, geo: band.geo, tiles: stored }, (bt, lat, lon, w, h) => native.cyclones(bt, lat, lon, w, h), {
    slicer: slicer(),
    lap: (step) => {
      probe.lap(`finalize ${step}`);
      if (step === 'merge') {
        mergeMs = performance.now() - tMerge;
        tCyc = performance.now();
      }
    },
  });
  const cycMs = performance.now() - tCyc;
  const tRender = performance.now();
  const products = await renderProducts(merged, slicer());
  const renderMs = performance.now() - tRender;
  probe.lap('finalize render');
  await model.close();
  const stalls = probe.stop();

  const l1l3 = run.sum.l1 + run.sum.qa + run.sum.l3;
  const total = readMs + run.wall + mergeMs + cycMs + renderMs;
  console.log(`\n== end to end, native kernels + UNet (${run.tiles} tiles, one at a time) ==`);
  console.log(`read (HDF5 decode)      ${s(readMs)}  ${mpxs(px, readMs)}`);
  for (const k of STAGES) console.log(`tile ${k.padEnd(18)} ${s(run.sum[k])}  ${mpxs(px, run.sum[k])}`);
  console.log(`tiles, wall             ${s(run.wall)}  ${mpxs(px, run.wall)}`);
  console.log(`merge (reduce ${reduce})        ${s(mergeMs)}`);
  console.log(`geo + cyclones (${merged.width}²) ${s(cycMs)}  → ${fixes.length} fix(es)${fixes[0] ? `, first at ${fixes[0].lat.toFixed(2)}, ${fixes[0].lon.toFixed(2)} CI ${fixes[0].ci.toFixed(1)} ${Math.round(fixes[0].vmaxKt)} kt` : ''}`);
  console.log(`render (4 products)     ${s(renderMs)}  (${products.map((p) => `${p.name} ${(p.data.length / 1024).toFixed(0)} KiB`).join(', ')})`);
  console.log(`TOTAL read → products   ${s(total)}  ${mpxs(px, total)}   (target ≤ 60 s)`);
  console.log(`scene: cloud fraction ${stats.cloudFraction?.toFixed(3)}, CTH mean ${stats.cthMeanM?.toFixed(0)} m, p90 ${stats.cthP90M} m, min BT ${stats.btMinK?.toFixed(1)} K, deep convection ${stats.deepConvection} px, overshooting tops ${stats.overshootingTops} px; QA ${JSON.stringify(stats.qa)}`);
  console.log(`native L1 + QA + L3     ${s(l1l3)}  ${mpxs(px, l1l3)}`);
  console.log(`\n${formatStalls(`event loop${ONE_STRETCH ? ' — BENCH_ONE_STRETCH: as before issue 10' : ''} (target: no stretch above ~20 ms)`, stalls)}`);

  // Kernels alone, both implementations on the same footing: the UNet masks of the first run are reused, so no model
  // run sits between the kernels (its threads and cache traffic would otherwise count against whichever runs beside it).
  const reuse = async (_bt: Float32Array, _w: number, _h: number, index: number) => masks.get(index)!.slice();
  // The loop's stretches again, without the UNet's threads competing for the cores: on a loaded machine the OS
  // preempts the loop while the model runs, and the probe cannot tell that from synchronous JavaScript.
  const probe2 = new StallProbe();
  probe2.start();
  const nat = await runTiles(band, native, reuse, reduce, probe2);
  const stalls2 = probe2.stop();
  console.log(`\n${formatStalls('event loop, kernels alone (native, no UNet)', stalls2)}`);
  if (SKIP_TS) return;
  const ts = await runTiles(band, kernelsTs, reuse, reduce);
  const natL1l3 = nat.sum.l1 + nat.sum.qa + nat.sum.l3;
  const tsL1l3 = ts.sum.l1 + ts.sum.qa + ts.sum.l3;
  console.log(`\n== kernels alone, same tiles (UNet masks reused): native vs TypeScript reference ==`);
  for (const k of ['l1', 'qa', 'l3'] as const) console.log(`tile ${k.padEnd(6)} native ${s(nat.sum[k])} ${mpxs(px, nat.sum[k])}   TS ${s(ts.sum[k])} ${mpxs(px, ts.sum[k])}   native ${(ts.sum[k] / Math.max(1e-9, nat.sum[k])).toFixed(1)}×`);
  console.log(`L1 + QA + L3  native ${s(natL1l3)} ${mpxs(px, natL1l3)}   TS ${s(tsL1l3)} ${mpxs(px, tsL1l3)}   native ${(tsL1l3 / natL1l3).toFixed(1)}×   (target ≥ 10×)`);
  const { lat, lon } = pixelLonLat(reducedGeo(band.geo, reduce), { col0: 0, row0: 0, width: merged.width, height: merged.height });
  const tsCyc = performance.now();
  await kernelsTs.cyclones(btKelvin(merged), lat, lon, merged.width, merged.height);
  const tsCycMs = performance.now() - tsCyc;
  console.log(`cyclones, TS            ${s(tsCycMs)}   native ${(tsCycMs / Math.max(1e-9, cycMs)).toFixed(1)}× faster`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
