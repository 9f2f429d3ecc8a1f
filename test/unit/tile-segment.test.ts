/**
 * L2 cloud segmentation with the shipped UNet (actors/tile/model/cloud-unet.onnx):
 * skill on a held-out synthetic scene, no-data handling, overlap-tile
 * stitching against one whole-scene run, and clear errors for bad models
 * and bad input.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { StarWeatherError } from '../../protocol/errors.js';
import { accuracy, cloudIoU, confusion, thresholdCloudMask } from '../../actors/tile/segment/scores.js';
import { CloudModelError, CloudSegmenter, DEFAULT_MODEL_PATH } from '../../actors/tile/segment/unet.js';
import { ABI_STEP_2KM, generateScene } from '../../actors/tile/synthetic/scene.js';
import { CLOUD } from '../../actors/tile/types.js';

/** A seed far from every training (1-…) and validation (10001-…) seed; checked against the model card below. */
const HELD_OUT_SEED = 900_001;
/** Measured 0.954 on this scene with the shipped model; the floor sits a little below so a broken or untrained model fails. */
const IOU_FLOOR = 0.92;
/** The baseline's threshold, fitted on training seeds (README, evaluate.ts). */
const BASELINE_THRESHOLD_K = 284.5;

let segmenter: CloudSegmenter;
let dir: string;

before(async () => {
  segmenter = await CloudSegmenter.load();
  dir = await mkdtemp(join(tmpdir(), 'sw-segment-'));
});

after(async () => {
  await segmenter.close();
  await rm(dir, { recursive: true, force: true });
});

test('held-out synthetic scene: cloud IoU above the floor and level with the BT-threshold baseline', async () => {
  const training = segmenter.card['training'] as { trainSeeds: number[]; valSeeds: number[] };
  assert.ok(!training.trainSeeds.includes(HELD_OUT_SEED) && !training.valSeeds.includes(HELD_OUT_SEED), 'the test scene is not a training or validation scene');
  // 512² at native 2 km, centred a little north-east of the sub-satellite point: tropics with clear sky, decks and convection.
  const scene = generateScene({ seed: HELD_OUT_SEED, width: 512, height: 512, stepRad: ABI_STEP_2KM, centerX: 0.02, centerY: 0.03 });
  const mask = await segmenter.segment(scene.btK, scene.width, scene.height);
  const c = confusion(mask, scene.truthCloud);
  const iou = cloudIoU(c);
  const cloudy = (c.tp + c.fn) / (c.tp + c.fn + c.fp + c.tn);
  assert.ok(cloudy > 0.2 && cloudy < 0.9, `the scene has both classes (truth cloud fraction ${cloudy.toFixed(3)})`);
  const base = cloudIoU(confusion(thresholdCloudMask(scene.btK, BASELINE_THRESHOLD_K), scene.truthCloud));
  assert.ok(iou >= IOU_FLOOR, `UNet IoU ${iou.toFixed(4)} ≥ ${IOU_FLOOR} (accuracy ${accuracy(c).toFixed(4)})`);
  // The shipped UNet is level with the fitted threshold on held-out scenes, not better (README): hold it to that.
  assert.ok(iou >= base - 0.02, `UNet IoU ${iou.toFixed(4)} within 0.02 of the ${BASELINE_THRESHOLD_K} K threshold's ${base.toFixed(4)}`);
});

test('NaN input pixels come out NODATA, and only those', async () => {
  const scene = generateScene({ seed: HELD_OUT_SEED + 1, width: 200, height: 160, stepRad: ABI_STEP_2KM });
  const bt = scene.btK.slice();
  for (let i = 0; i < bt.length; i += 37) bt[i] = NaN; // scattered
  for (let y = 40; y < 80; y++) bt.fill(NaN, y * 200 + 10, y * 200 + 60); // a block
  const mask = await segmenter.segment(bt, 200, 160);
  for (let i = 0; i < bt.length; i++) {
    if (Number.isNaN(bt[i]!)) assert.equal(mask[i], CLOUD.NODATA, `pixel ${i}`);
    else assert.ok(mask[i] === CLOUD.CLEAR || mask[i] === CLOUD.CLOUD, `pixel ${i} is ${mask[i]}`);
  }
  const allNaN = await segmenter.segment(new Float32Array(64 * 48).fill(NaN), 64, 48);
  assert.ok(allNaN.every((v) => v === CLOUD.NODATA));
});

test('a whole disk at reduced resolution: space is NODATA, the disk is segmented', async () => {
  const scene = generateScene({ seed: HELD_OUT_SEED + 2, width: 256, height: 256 });
  const mask = await segmenter.segment(scene.btK, 256, 256);
  for (let i = 0; i < mask.length; i++) assert.equal(mask[i] === CLOUD.NODATA, scene.truthCloud[i] === CLOUD.NODATA, `pixel ${i}`);
  const c = confusion(mask, scene.truthCloud);
  assert.ok(c.tp > 0 && c.tn > 0, 'both classes found on the disk');
});

test('overlap-tile stitching equals one whole-scene inference', async () => {
  const width = 300;
  const height = 260;
  const scene = generateScene({ seed: HELD_OUT_SEED + 3, width, height, stepRad: ABI_STEP_2KM, centerX: -0.03, centerY: 0.01 });
  scene.btK.fill(NaN, 0, 7 * width); // a no-data edge crossing tiles too
  const whole = await CloudSegmenter.load({ tileSize: 512 });
  const tiled = await CloudSegmenter.load({ tileSize: 64, batchSize: 3 });
  try {
    const a = await whole.logits(scene.btK, width, height);
    const b = await tiled.logits(scene.btK, width, height);
    let maxDiff = 0;
    let maxAbs = 0;
    for (let i = 0; i < a.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
      maxAbs = Math.max(maxAbs, Math.abs(a[i]!));
    }
    assert.ok(maxAbs > 1, 'logits are not trivially flat');
    assert.ok(maxDiff <= 1e-4, `stitched logits differ from the whole-scene run by up to ${maxDiff}`);
    const ma = await whole.segment(scene.btK, width, height);
    const mb = await tiled.segment(scene.btK, width, height);
    let differ = 0;
    for (let i = 0; i < ma.length; i++) if (ma[i] !== mb[i] && Math.abs(a[i]!) > 1e-4) differ++;
    assert.equal(differ, 0);
  } finally {
    await whole.close();
    await tiled.close();
  }
});

test('the stitching check sees seams: a card that understates the receptive field gives different tiles', async () => {
  // Same network, margin 0: tile edges now see zero padding instead of neighbours.
  const model = join(dir, 'narrow.onnx');
  await copyFile(DEFAULT_MODEL_PATH, model);
  const card = JSON.parse(await readFile(DEFAULT_MODEL_PATH.replace(/\.onnx$/, '.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(dir, 'narrow.json'), JSON.stringify({ ...card, receptiveRadius: 0 }));
  const scene = generateScene({ seed: HELD_OUT_SEED + 3, width: 200, height: 200, stepRad: ABI_STEP_2KM });
  const whole = await CloudSegmenter.load({ modelPath: model, tileSize: 512 });
  const tiled = await CloudSegmenter.load({ modelPath: model, tileSize: 64 });
  try {
    const a = await whole.logits(scene.btK, 200, 200);
    const b = await tiled.logits(scene.btK, 200, 200);
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    assert.ok(maxDiff > 1e-2, `seams expected, max difference ${maxDiff}`);
  } finally {
    await whole.close();
    await tiled.close();
  }
});

async function loadError(opts: Parameters<typeof CloudSegmenter.load>[0]): Promise<StarWeatherError> {
  try {
    const s = await CloudSegmenter.load(opts);
    await s.close();
  } catch (err) {
    assert.ok(err instanceof StarWeatherError, `a StarWeatherError, got ${String(err)}`);
    return err;
  }
  assert.fail('load should have failed');
}

test('missing, corrupt or mismatched model files fail with a clear StarWeatherError', async () => {
  const missing = await loadError({ modelPath: join(dir, 'absent.onnx') });
  assert.equal(missing.code, 'SW_ERR_NOT_FOUND');
  assert.ok(missing instanceof CloudModelError);
  assert.match(missing.message, /absent\.onnx: not found/);

  const card = await readFile(DEFAULT_MODEL_PATH.replace(/\.onnx$/, '.json'));
  const onnx = await readFile(DEFAULT_MODEL_PATH);

  // model present, card missing
  await copyFile(DEFAULT_MODEL_PATH, join(dir, 'nocard.onnx'));
  const noCard = await loadError({ modelPath: join(dir, 'nocard.onnx') });
  assert.equal(noCard.code, 'SW_ERR_NOT_FOUND');
  assert.match(noCard.message, /nocard\.json: not found/);

  // garbage bytes and a truncated model
  await writeFile(join(dir, 'garbage.onnx'), Buffer.from('this is not an onnx protobuf at all'));
  await writeFile(join(dir, 'garbage.json'), card);
  const garbage = await loadError({ modelPath: join(dir, 'garbage.onnx') });
  assert.equal(garbage.code, 'SW_ERR_DECODE');
  assert.match(garbage.message, /not a loadable ONNX model/);

  await writeFile(join(dir, 'truncated.onnx'), onnx.subarray(0, Math.floor(onnx.length / 2)));
  await writeFile(join(dir, 'truncated.json'), card);
  const truncated = await loadError({ modelPath: join(dir, 'truncated.onnx') });
  assert.equal(truncated.code, 'SW_ERR_DECODE');

  // a card that is not JSON, or names tensors the graph does not have
  await copyFile(DEFAULT_MODEL_PATH, join(dir, 'badcard.onnx'));
  await writeFile(join(dir, 'badcard.json'), '{"format": ');
  assert.equal((await loadError({ modelPath: join(dir, 'badcard.onnx') })).code, 'SW_ERR_DECODE');
  await copyFile(DEFAULT_MODEL_PATH, join(dir, 'wrongio.onnx'));
  await writeFile(join(dir, 'wrongio.json'), JSON.stringify({ ...JSON.parse(card.toString('utf8')), input: 'radiance' }));
  const wrongIo = await loadError({ modelPath: join(dir, 'wrongio.onnx') });
  assert.equal(wrongIo.code, 'SW_ERR_DECODE');
  assert.match(wrongIo.message, /card expects radiance/);
});

test('bad input and use after close are refused with stable codes', async () => {
  await assert.rejects(segmenter.segment(new Float32Array(10), 4, 4), { code: 'SW_ERR_INVALID_ARGUMENT' });
  await assert.rejects(segmenter.segment(new Float32Array(0), 0, 0), { code: 'SW_ERR_INVALID_ARGUMENT' });
  await assert.rejects(segmenter.segment(new Float64Array(16) as unknown as Float32Array, 4, 4), { code: 'SW_ERR_INVALID_ARGUMENT' });
  await assert.rejects(CloudSegmenter.load({ threads: 0 }), { code: 'SW_ERR_INVALID_ARGUMENT' });
  const s = await CloudSegmenter.load({ threads: 1 });
  await s.close();
  await assert.rejects(s.segment(new Float32Array(16).fill(280), 4, 4), { code: 'SW_ERR_CLOSED' });
});
