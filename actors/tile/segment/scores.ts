/**
 * Scoring a cloud mask against the generator's truth, and the trivial
 * baseline the UNet is compared with (one BT threshold: colder = cloud).
 * Used by the model evaluation (actors/tile/model/evaluate.ts) and the tests.
 */
import { CLOUD } from '../types.js';

export interface Confusion {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

/** Pixel counts over pixels where both masks have data (NODATA on either side is skipped). */
export function confusion(pred: Uint8Array, truth: Uint8Array, into: Confusion = { tp: 0, fp: 0, fn: 0, tn: 0 }): Confusion {
  if (pred.length !== truth.length) throw new RangeError(`mask sizes differ: ${pred.length} vs ${truth.length}`);
  for (let i = 0; i < pred.length; i++) {
    const p = pred[i]!;
    const t = truth[i]!;
    if (p === CLOUD.NODATA || t === CLOUD.NODATA) continue;
    if (p === CLOUD.CLOUD) {
      if (t === CLOUD.CLOUD) into.tp++;
      else into.fp++;
    } else if (t === CLOUD.CLOUD) into.fn++;
    else into.tn++;
  }
  return into;
}

/** Intersection over union of the cloud class: tp / (tp + fp + fn); 1 when neither mask has cloud. */
export function cloudIoU(c: Confusion): number {
  const d = c.tp + c.fp + c.fn;
  return d === 0 ? 1 : c.tp / d;
}

export function accuracy(c: Confusion): number {
  const n = c.tp + c.fp + c.fn + c.tn;
  return n === 0 ? 1 : (c.tp + c.tn) / n;
}

/** The baseline: cloud where BT < thresholdK, NODATA where BT is NaN. */
export function thresholdCloudMask(btK: Float32Array, thresholdK: number): Uint8Array {
  const mask = new Uint8Array(btK.length);
  for (let i = 0; i < btK.length; i++) {
    const b = btK[i]!;
    mask[i] = b !== b ? CLOUD.NODATA : b < thresholdK ? CLOUD.CLOUD : CLOUD.CLEAR;
  }
  return mask;
}
