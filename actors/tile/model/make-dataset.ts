/**
 * Dumps labelled training patches for the cloud UNet from the synthetic
 * generator: for each seed one scene (sceneOptionsForSeed), then random
 * patches of its band-13 BT and true cloud mask.
 *
 *   node dist/actors/tile/model/make-dataset.js --out DIR --seeds 1-200 \
 *        [--size 512] [--patch 128] [--per-scene 16]
 *
 * Writes DIR/bt.f32 (float32 LE, K, NaN = no data), DIR/cloud.u8 (CLOUD.*)
 * and DIR/meta.json, the layout train.py reads. Patches lying wholly off the
 * disk are skipped (nothing to learn there).
 */
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../synthetic/noise.js';
import { generateScene } from '../synthetic/scene.js';
import { CLOUD } from '../types.js';
import { parseArgs, parseSeeds, sceneOptionsForSeed } from './scenes.js';

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const out = args.get('out');
  const seedSpec = args.get('seeds');
  if (!out || !seedSpec) throw new Error('usage: make-dataset --out DIR --seeds 1-200 [--size 512] [--patch 128] [--per-scene 16]');
  const size = Number(args.get('size') ?? 512);
  const patch = Number(args.get('patch') ?? 128);
  const perScene = Number(args.get('per-scene') ?? 16);
  if (!(patch >= 8 && patch <= size && patch % 4 === 0)) throw new Error(`--patch ${patch} must be a multiple of 4 in 8..size`);
  const seeds = parseSeeds(seedSpec);
  mkdirSync(out, { recursive: true });
  const btOut = openSync(join(out, 'bt.f32'), 'w');
  const cloudOut = openSync(join(out, 'cloud.u8'), 'w');
  const bt = new Float32Array(patch * patch);
  const cloud = new Uint8Array(patch * patch);
  let count = 0;
  let cloudPx = 0;
  let validPx = 0;
  const t0 = performance.now();
  for (const seed of seeds) {
    const scene = generateScene(sceneOptionsForSeed(seed, size));
    const rng = new Rng(seed + 0x51ed);
    for (let k = 0, tries = 0; k < perScene && tries < perScene * 4; tries++) {
      const c0 = Math.floor(rng.next() * (size - patch + 1));
      const r0 = Math.floor(rng.next() * (size - patch + 1));
      let valid = 0;
      for (let y = 0; y < patch; y++) {
        const s = (r0 + y) * size + c0;
        bt.set(scene.btK.subarray(s, s + patch), y * patch);
        cloud.set(scene.truthCloud.subarray(s, s + patch), y * patch);
      }
      for (let i = 0; i < cloud.length; i++) {
        if (cloud[i] !== CLOUD.NODATA) {
          valid++;
          if (cloud[i] === CLOUD.CLOUD) cloudPx++;
        }
      }
      if (valid === 0) continue;
      validPx += valid;
      // Float32Array bytes are little-endian on every platform Node ships for here (x64, arm64).
      writeSync(btOut, new Uint8Array(bt.buffer));
      writeSync(cloudOut, cloud);
      count++;
      k++;
    }
  }
  closeSync(btOut);
  closeSync(cloudOut);
  const meta = { patch, count, size, perScene, seeds, generator: 'actors/tile/synthetic/scene.ts generateScene via actors/tile/model/scenes.ts sceneOptionsForSeed', cloudFraction: cloudPx / Math.max(1, validPx) };
  writeFileSync(join(out, 'meta.json'), JSON.stringify(meta) + '\n');
  console.log(`${count} patches of ${patch}² from ${seeds.length} scenes → ${out} (cloud fraction ${meta.cloudFraction.toFixed(3)}, ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

try {
  main();
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
}
