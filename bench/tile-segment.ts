/**
 * bench:segment — the cloud UNet over a full-disk band-13 scene (5424² at
 * 2 km, from the synthetic generator) through CloudSegmenter, for several
 * tile sizes and batch sizes, printing seconds and Mpx/s for each.
 *
 *   npm run bench:segment
 *   BENCH_SIZE (default 5424), BENCH_TILES (default 256,512,1024),
 *   BENCH_BATCHES (default 1,2), BENCH_THREADS (default os.availableParallelism())
 */
import { availableParallelism } from 'node:os';
import { CloudSegmenter } from '../actors/tile/segment/unet.js';
import { generateScene } from '../actors/tile/synthetic/scene.js';
import { CLOUD } from '../actors/tile/types.js';

const SIZE = Number(process.env.BENCH_SIZE ?? 5424);
const TILES = (process.env.BENCH_TILES ?? '256,512,1024').split(',').map(Number);
const BATCHES = (process.env.BENCH_BATCHES ?? '1,2').split(',').map(Number);
const THREADS = Number(process.env.BENCH_THREADS ?? availableParallelism());

const t0 = performance.now();
// The whole disk over SIZE pixels: at 5424 that is the native 2 km ABI grid.
const scene = generateScene({ seed: 4242, width: SIZE, height: SIZE });
console.log(`scene ${SIZE}² generated in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${THREADS} threads`);
const mpx = (SIZE * SIZE) / 1e6;
console.log('| tile | batch | seconds | Mpx/s | cloud fraction on disk |');
console.log('|---|---|---|---|---|');
for (const tileSize of TILES) {
  for (const batchSize of BATCHES) {
    const seg = await CloudSegmenter.load({ tileSize, batchSize, threads: THREADS });
    const t = performance.now();
    const mask = await seg.segment(scene.btK, SIZE, SIZE);
    const s = (performance.now() - t) / 1000;
    await seg.close();
    let cloud = 0;
    let disk = 0;
    for (const v of mask) {
      if (v !== CLOUD.NODATA) disk++;
      if (v === CLOUD.CLOUD) cloud++;
    }
    console.log(`| ${tileSize} | ${batchSize} | ${s.toFixed(2)} | ${(mpx / s).toFixed(2)} | ${(cloud / disk).toFixed(3)} |`);
  }
}
