/**
 * Imagery QA/QC, TS reference. Two passes over a calibrated raster, so a
 * pixel's verdict never depends on a neighbour already masked in this call
 * (which lets the native kernel split rows across threads and still match):
 *
 * 1. flags: off-disk (lat NaN, when lat is given) → SPACE; finite but
 *    physically impossible (BT outside [BT_MIN_K, BT_MAX_K], reflectance
 *    outside [0, REFL_MAX]) → RANGE; an isolated spike → ISOLATED: a usable
 *    pixel that is warmer (brighter) than EVERY usable 8-neighbour, or colder
 *    than every one, by more than the threshold, with at least 3 usable
 *    neighbours. (A spike test rather than a median test: a pixel on a sharp
 *    cloud edge agrees with the neighbours on its own side and is kept.)
 * 2. masking and counts: flagged pixels become NaN; QaCounts counts each
 *    reason bit (a pixel with two reasons counts under both) and the pixels
 *    left valid.
 */
import { BT_MAX_K, BT_MIN_K, QA, REFL_MAX, type BandKind, type QaCounts } from '../types.js';
import { checkArray, checkDims, checkNumber, invalid } from './validate.js';

export interface QaOptions {
  /** Latitude per pixel; NaN marks off-disk pixels (SPACE). */
  lat?: Float32Array | null;
  /** Spike threshold: K for IR (default 15), reflectance for VIS (default 0.3). */
  isolatedThreshold?: number;
}

export interface QaParams {
  lo: number;
  hi: number;
  threshold: number;
  lat: Float32Array | null;
}

export function checkQaArgs(values: unknown, qa: unknown, width: unknown, height: unknown, kind: unknown, opts: QaOptions = {}): QaParams {
  const n = checkDims('qaCheck', width, height);
  checkArray('qaCheck', 'values', values, Float32Array, n);
  checkArray('qaCheck', 'qa', qa, Uint8Array, n);
  if (kind !== 'ir' && kind !== 'vis') throw invalid('qaCheck', `kind must be 'ir' or 'vis' (got ${String(kind)})`);
  const lat = opts.lat ?? null;
  if (lat !== null) checkArray('qaCheck', 'lat', lat, Float32Array, n);
  const threshold = checkNumber('qaCheck', 'isolatedThreshold', opts.isolatedThreshold ?? (kind === 'ir' ? 15 : 0.3), 0);
  return kind === 'ir' ? { lo: BT_MIN_K, hi: BT_MAX_K, threshold, lat } : { lo: 0, hi: REFL_MAX, threshold, lat };
}

export function emptyQaCounts(): QaCounts {
  return { total: 0, valid: 0, fill: 0, dqf: 0, range: 0, isolated: 0, space: 0 };
}

export function addQaCounts(a: QaCounts, b: QaCounts): QaCounts {
  return {
    total: a.total + b.total,
    valid: a.valid + b.valid,
    fill: a.fill + b.fill,
    dqf: a.dqf + b.dqf,
    range: a.range + b.range,
    isolated: a.isolated + b.isolated,
    space: a.space + b.space,
  };
}

/** Masks and flags `values`/`qa` in place and returns the counts. */
export function qaCheck(values: Float32Array, qa: Uint8Array, width: number, height: number, kind: BandKind, opts: QaOptions = {}): QaCounts {
  const { lo, hi, threshold, lat } = checkQaArgs(values, qa, width, height, kind, opts);
  const usable = (j: number): boolean => {
    const v = values[j] as number;
    return v >= lo && v <= hi && (lat === null || !Number.isNaN(lat[j] as number));
  };
  for (let r = 0; r < height; r++) {
    for (let c = 0; c < width; c++) {
      const i = r * width + c;
      const v = values[i] as number;
      if (lat !== null && Number.isNaN(lat[i] as number)) {
        qa[i] = (qa[i] as number) | QA.SPACE;
        continue;
      }
      if (Number.isNaN(v)) continue;
      if (!(v >= lo && v <= hi)) {
        qa[i] = (qa[i] as number) | QA.RANGE;
        continue;
      }
      let nUsable = 0;
      let allBelow = true;
      let allAbove = true;
      for (let dr = -1; dr <= 1; dr++) {
        const rr = r + dr;
        if (rr < 0 || rr >= height) continue;
        for (let dc = -1; dc <= 1; dc++) {
          const cc = c + dc;
          if ((dr === 0 && dc === 0) || cc < 0 || cc >= width) continue;
          const j = rr * width + cc;
          if (!usable(j)) continue;
          nUsable++;
          const u = values[j] as number;
          if (!(v - u > threshold)) allBelow = false;
          if (!(u - v > threshold)) allAbove = false;
        }
      }
      if (nUsable >= 3 && (allBelow || allAbove)) qa[i] = (qa[i] as number) | QA.ISOLATED;
    }
  }
  const counts = emptyQaCounts();
  counts.total = values.length;
  for (let i = 0; i < values.length; i++) {
    const q = qa[i] as number;
    if (q & (QA.SPACE | QA.RANGE | QA.ISOLATED)) values[i] = NaN;
    if (q & QA.FILL) counts.fill++;
    if (q & QA.DQF) counts.dqf++;
    if (q & QA.RANGE) counts.range++;
    if (q & QA.ISOLATED) counts.isolated++;
    if (q & QA.SPACE) counts.space++;
    if (q === 0 && !Number.isNaN(values[i] as number)) counts.valid++;
  }
  return counts;
}
