/**
 * L1 radiometric calibration, TS reference: raw counts → brightness
 * temperature (K) or reflectance factor, with the formulas documented on
 * `Calibration` (actors/tile/types.ts; sources there). Masked pixels are NaN
 * and carry their reason in the QA bits: FILL (fill/error/outside-scan
 * count), DQF (ABI DQF ≥ 2, 255 = DQF fill included), RANGE (a radiance that
 * has no brightness temperature, L ≤ 0).
 */
import { QA, type Calibration } from '../types.js';
import { checkArray, checkNumber, invalid } from './validate.js';

export interface L1Result {
  values: Float32Array;
  qa: Uint8Array;
}

/** Mode codes shared with native/src/calibrate.cc. */
export const CAL_MODE = { 'abi-ir': 0, 'abi-vis': 1, 'ahi-ir': 2, 'ahi-vis': 3 } as const;

/**
 * The calibration as the flat coefficient vector the native kernel reads,
 * with each coefficient checked; the IR Planck terms are folded into two
 * constants the same way on both sides:
 *   ABI IR  [0, scale, offset, fill, fk1, fk2, bc1, bc2]
 *   ABI VIS [1, scale, offset, fill, kappa0]
 *   AHI IR  [2, gain, offset, errorCount, outsideCount, a, b, c0, c1, c2]  (Te = a / ln(b/L + 1))
 *   AHI VIS [3, gain, offset, errorCount, outsideCount, albedo]
 */
export function calibrationParams(cal: Calibration): Float64Array {
  const k = 'calibrate';
  if (cal === null || typeof cal !== 'object') throw invalid(k, 'calibration must be an object');
  const n = (name: string, min = -Infinity, max = Infinity): number => checkNumber(k, `calibration.${name}`, (cal as unknown as Record<string, unknown>)[name], min, max);
  if (cal.instrument === 'abi' && cal.kind === 'ir') return Float64Array.of(0, n('scale'), n('offset'), n('fill', 0, 65535), n('fk1', 1e-30), n('fk2', 1e-30), n('bc1'), n('bc2', 1e-30));
  if (cal.instrument === 'abi' && cal.kind === 'vis') return Float64Array.of(1, n('scale'), n('offset'), n('fill', 0, 65535), n('kappa0'));
  if (cal.instrument === 'ahi' && cal.kind === 'ir') {
    const lambda = n('wavelengthUm', 1e-3, 1e3) * 1e-6;
    const c = n('lightSpeed', 1e-30), h = n('planck', 1e-60), kb = n('boltzmann', 1e-60);
    // Planck inverted: Te = (h c / (k λ)) / ln(2 h c² / (L·1e6·λ⁵) + 1); L in W m⁻² sr⁻¹ µm⁻¹ (hence 1e6).
    const a = (h * c) / (kb * lambda);
    const b = (2 * h * c * c) / (1e6 * lambda ** 5);
    return Float64Array.of(2, n('gain'), n('offset'), n('errorCount', 0, 65535), n('outsideCount', 0, 65535), a, b, n('c0'), n('c1'), n('c2'));
  }
  if (cal.instrument === 'ahi' && cal.kind === 'vis') return Float64Array.of(3, n('gain'), n('offset'), n('errorCount', 0, 65535), n('outsideCount', 0, 65535), n('albedo'));
  throw invalid(k, `unknown calibration ${String((cal as { instrument?: unknown }).instrument)}/${String((cal as { kind?: unknown }).kind)}`);
}

export function checkCalibrateArgs(counts: unknown, dqf: unknown, cal: Calibration): Float64Array {
  checkArray('calibrate', 'counts', counts, Uint16Array);
  if (dqf !== null) checkArray('calibrate', 'dqf', dqf, Uint8Array, (counts as Uint16Array).length);
  return calibrationParams(cal);
}

/** Calibrates counts with an optional ABI DQF raster. */
export function calibrate(counts: Uint16Array, dqf: Uint8Array | null, cal: Calibration): L1Result {
  const p = checkCalibrateArgs(counts, dqf, cal);
  const n = counts.length;
  const values = new Float32Array(n);
  const qa = new Uint8Array(n);
  const mode = p[0] as number;
  const gain = p[1] as number, offset = p[2] as number;
  const fillA = p[3] as number, fillB = mode >= 2 ? (p[4] as number) : -1;
  for (let i = 0; i < n; i++) {
    const c = counts[i] as number;
    if (c === fillA || c === fillB) {
      values[i] = NaN;
      qa[i] = QA.FILL;
      continue;
    }
    if (dqf !== null && (dqf[i] as number) >= 2) {
      values[i] = NaN;
      qa[i] = QA.DQF;
      continue;
    }
    const L = c * gain + offset;
    let v: number;
    if (mode === 0) v = L > 0 ? ((p[5] as number) / Math.log((p[4] as number) / L + 1) - (p[6] as number)) / (p[7] as number) : NaN;
    else if (mode === 1) v = (p[4] as number) * L;
    else if (mode === 2) {
      if (L > 0) {
        const te = (p[5] as number) / Math.log((p[6] as number) / L + 1);
        v = (p[7] as number) + (p[8] as number) * te + (p[9] as number) * te * te;
      } else v = NaN;
    } else v = (p[5] as number) * L;
    values[i] = v;
    if (Number.isNaN(v)) qa[i] = QA.RANGE;
  }
  return { values, qa };
}
