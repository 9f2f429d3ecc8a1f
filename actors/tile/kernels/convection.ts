/**
 * L3 deep convection and overshooting tops, TS reference, after the
 * IR-window texture method of Bedka et al. (2010), "Objective satellite-based
 * detection of overshooting tops using infrared window channel brightness
 * temperature gradients", J. Appl. Meteor. Climatol. 49, 181–202:
 *
 * - deep convection: a cloudy pixel with BT ≤ deepConvectionK (215 K, the
 *   method's OT candidate ceiling, also the usual cold-core threshold);
 * - overshooting top: a cloudy pixel with BT ≤ otMaxK (215 K) that is at
 *   least otMinDiffK (6.5 K) colder than the mean of the surrounding anvil,
 *   sampled in 16 directions at anvilRadiusPx (4 px = 8 km at the 2 km IR
 *   resolution; the sampling geometry as we read the paper, the 215/225 K
 *   and 6.5 K thresholds as it publishes them); a sample counts as anvil when its BT
 *   ≤ anvilMaxK (225 K) and it is not itself colder than otMaxK, and we
 *   require at least minAnvilFraction (half) of the 16 samples to be anvil
 *   (our choice, so a top is judged against a real anvil, not a cold field).
 *   `overshootTops` counts the OT pixels that are also 3×3 BT minima: one
 *   per top rather than per pixel.
 */
import { CLOUD } from '../types.js';
import { checkArray, checkDims, checkNumber } from './validate.js';

export interface ConvectionOptions {
  deepConvectionK?: number;
  otMaxK?: number;
  anvilMaxK?: number;
  otMinDiffK?: number;
  anvilRadiusPx?: number;
  minAnvilFraction?: number;
}

export interface ConvectionCounts {
  deepConvection: number;
  overshoot: number;
  overshootTops: number;
}

export interface ConvectionResult {
  deepConvection: Uint8Array;
  overshoot: Uint8Array;
  counts: ConvectionCounts;
}

export interface ConvectionParams {
  deepConvectionK: number;
  otMaxK: number;
  anvilMaxK: number;
  otMinDiffK: number;
  minAnvil: number;
  /** 16 (drow, dcol) sample offsets, interleaved. */
  offsets: Int32Array;
}

export function convectionParams(opts: ConvectionOptions = {}): ConvectionParams {
  const k = 'convection';
  const radius = checkNumber(k, 'anvilRadiusPx', opts.anvilRadiusPx ?? 4, 1, 64);
  const offsets = new Int32Array(32);
  for (let d = 0; d < 16; d++) {
    const a = (d * Math.PI) / 8;
    offsets[2 * d] = Math.round(-radius * Math.sin(a));
    offsets[2 * d + 1] = Math.round(radius * Math.cos(a));
  }
  return {
    deepConvectionK: checkNumber(k, 'deepConvectionK', opts.deepConvectionK ?? 215, 100, 400),
    otMaxK: checkNumber(k, 'otMaxK', opts.otMaxK ?? 215, 100, 400),
    anvilMaxK: checkNumber(k, 'anvilMaxK', opts.anvilMaxK ?? 225, 100, 400),
    otMinDiffK: checkNumber(k, 'otMinDiffK', opts.otMinDiffK ?? 6.5, 0, 100),
    minAnvil: Math.ceil(16 * checkNumber(k, 'minAnvilFraction', opts.minAnvilFraction ?? 0.5, 0, 1)),
    offsets,
  };
}

export function checkConvectionArgs(bt: unknown, cloudMask: unknown, width: unknown, height: unknown, opts: ConvectionOptions): ConvectionParams {
  const n = checkDims('convection', width, height);
  checkArray('convection', 'bt', bt, Float32Array, n);
  if (cloudMask !== null) checkArray('convection', 'cloudMask', cloudMask, Uint8Array, n);
  return convectionParams(opts);
}

/** `cloudMask` null: every finite pixel counts as cloudy (a BT this cold is cloud in practice). */
export function convection(bt: Float32Array, cloudMask: Uint8Array | null, width: number, height: number, opts: ConvectionOptions = {}): ConvectionResult {
  const p = checkConvectionArgs(bt, cloudMask, width, height, opts);
  const n = width * height;
  const deepConvection = new Uint8Array(n);
  const overshoot = new Uint8Array(n);
  const counts: ConvectionCounts = { deepConvection: 0, overshoot: 0, overshootTops: 0 };
  for (let r = 0; r < height; r++) {
    for (let c = 0; c < width; c++) {
      const i = r * width + c;
      const t = bt[i] as number;
      if (Number.isNaN(t) || (cloudMask !== null && cloudMask[i] !== CLOUD.CLOUD)) continue;
      if (t <= p.deepConvectionK) {
        deepConvection[i] = 1;
        counts.deepConvection++;
      }
      if (!(t <= p.otMaxK)) continue;
      let sum = 0;
      let nAnvil = 0;
      for (let d = 0; d < 16; d++) {
        const rr = r + (p.offsets[2 * d] as number);
        const cc = c + (p.offsets[2 * d + 1] as number);
        if (rr < 0 || rr >= height || cc < 0 || cc >= width) continue;
        const u = bt[rr * width + cc] as number;
        if (u <= p.anvilMaxK && u > p.otMaxK) {
          sum += u;
          nAnvil++;
        }
      }
      if (nAnvil < p.minAnvil || nAnvil === 0 || sum / nAnvil - t < p.otMinDiffK) continue;
      overshoot[i] = 1;
      counts.overshoot++;
      let isMin = true;
      for (let dr = -1; dr <= 1 && isMin; dr++) {
        const rr = r + dr;
        if (rr < 0 || rr >= height) continue;
        for (let dc = -1; dc <= 1; dc++) {
          const cc = c + dc;
          if ((dr === 0 && dc === 0) || cc < 0 || cc >= width) continue;
          const u = bt[rr * width + cc] as number;
          // Ties go to the first pixel in raster order, so a flat-bottomed top counts once.
          if (u < t || (u === t && (dr < 0 || (dr === 0 && dc < 0)))) {
            isMin = false;
            break;
          }
        }
      }
      if (isMin) counts.overshootTops++;
    }
  }
  return { deepConvection, overshoot, counts };
}
