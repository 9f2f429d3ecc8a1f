/**
 * Held-out evaluation of the cloud UNet against the trivial baseline.
 *
 *   node dist/actors/tile/model/evaluate.js --seeds 20001-20060 \
 *        [--fit-seeds 1-60] [--size 512] [--model actors/tile/model/cloud-unet.onnx]
 *
 * For every held-out seed (none of them a training seed) it generates the
 * scene, segments it with the shipped model through CloudSegmenter (the
 * same overlap-tile path the pipeline uses) and scores the mask against the
 * generator's truth. The baseline is one BT threshold (colder = cloud),
 * chosen as the best pooled-IoU threshold on --fit-seeds (training seeds),
 * so it gets the same chance to learn from the training distribution.
 * Prints pooled IoU/accuracy for both, split by pixel size.
 */
import { generateScene } from '../synthetic/scene.js';
import { CLOUD } from '../types.js';
import { CloudSegmenter } from '../segment/unet.js';
import { accuracy, cloudIoU, confusion, thresholdCloudMask, type Confusion } from '../segment/scores.js';
import { parseArgs, parseSeeds, sceneOptionsForSeed } from './scenes.js';

const zero = (): Confusion => ({ tp: 0, fp: 0, fn: 0, tn: 0 });

/** The threshold (0.5 K steps, 180–320 K) with the best pooled IoU on these scenes, from per-bin cloud/clear counts. */
function fitThreshold(seeds: number[], size: number): number {
  const LO = 180;
  const STEP = 0.5;
  const bins = (320 - LO) / STEP;
  const cloudy = new Float64Array(bins + 1);
  const clear = new Float64Array(bins + 1);
  for (const seed of seeds) {
    const s = generateScene(sceneOptionsForSeed(seed, size));
    for (let i = 0; i < s.btK.length; i++) {
      const t = s.truthCloud[i]!;
      if (t === CLOUD.NODATA) continue;
      const b = Math.min(bins, Math.max(0, Math.floor((s.btK[i]! - LO) / STEP)));
      if (t === CLOUD.CLOUD) cloudy[b]!++;
      else clear[b]!++;
    }
  }
  const totalCloudy = cloudy.reduce((a, v) => a + v, 0);
  // threshold LO + k·STEP: cloud predicted for bins < k
  let best = 0;
  let bestIoU = -1;
  let tp = 0;
  let fp = 0;
  for (let k = 0; k <= bins; k++) {
    const iou = tp / (totalCloudy + fp);
    if (iou > bestIoU) {
      bestIoU = iou;
      best = k;
    }
    tp += cloudy[k]!;
    fp += clear[k]!;
  }
  return LO + best * STEP;
}

function pixelLabel(stepRad: number | undefined): string {
  if (stepRad === undefined) return 'whole disk, reduced';
  return `${Math.round((stepRad / 56e-6) * 2)} km`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const seedSpec = args.get('seeds');
  if (!seedSpec) throw new Error('usage: evaluate --seeds 20001-20060 [--fit-seeds 1-60] [--size 512] [--model PATH]');
  const seeds = parseSeeds(seedSpec);
  const fitSeeds = parseSeeds(args.get('fit-seeds') ?? '1-60');
  const size = Number(args.get('size') ?? 512);
  const overlap = seeds.filter((s) => fitSeeds.includes(s));
  if (overlap.length > 0) throw new Error(`held-out seeds ${overlap.join(',')} are also fit seeds`);
  const model = args.get('model');
  const segmenter = await CloudSegmenter.load(model ? { modelPath: model } : {});
  const training = segmenter.card['training'] as { trainSeeds?: number[] } | undefined;
  const trained = new Set(training?.trainSeeds ?? []);
  const leaked = seeds.filter((s) => trained.has(s));
  if (leaked.length > 0) throw new Error(`held-out seeds ${leaked.join(',')} were training seeds of this model`);

  const thresholdK = fitThreshold(fitSeeds, size);
  const groups = new Map<string, { unet: Confusion; base: Confusion; scenes: number }>();
  const all = { unet: zero(), base: zero(), scenes: 0 };
  let px = 0;
  let seconds = 0;
  for (const seed of seeds) {
    const opts = sceneOptionsForSeed(seed, size);
    const s = generateScene(opts);
    const t0 = performance.now();
    const mask = await segmenter.segment(s.btK, s.width, s.height);
    seconds += (performance.now() - t0) / 1000;
    px += s.width * s.height;
    const base = thresholdCloudMask(s.btK, thresholdK);
    const label = pixelLabel(opts.stepRad);
    const g = groups.get(label) ?? { unet: zero(), base: zero(), scenes: 0 };
    groups.set(label, g);
    for (const t of [g, all]) {
      confusion(mask, s.truthCloud, t.unet);
      confusion(base, s.truthCloud, t.base);
      t.scenes++;
    }
  }
  await segmenter.close();
  const row = (name: string, g: { unet: Confusion; base: Confusion; scenes: number }): string =>
    `| ${name} | ${g.scenes} | ${cloudIoU(g.unet).toFixed(3)} | ${accuracy(g.unet).toFixed(3)} | ${cloudIoU(g.base).toFixed(3)} | ${accuracy(g.base).toFixed(3)} |`;
  console.log(`held-out seeds ${seedSpec} (${seeds.length} scenes of ${size}²), baseline threshold ${thresholdK} K fitted on seeds ${args.get('fit-seeds') ?? '1-60'}`);
  console.log('| pixels | scenes | UNet IoU | UNet accuracy | threshold IoU | threshold accuracy |');
  console.log('|---|---|---|---|---|---|');
  for (const [name, g] of [...groups.entries()].sort()) console.log(row(name, g));
  console.log(row('**all**', all));
  console.log(`UNet inference: ${(px / seconds / 1e6).toFixed(2)} Mpx/s over ${seeds.length} scenes (${segmenter.threads} threads)`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
