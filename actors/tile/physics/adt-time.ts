/**
 * The Advanced Dvorak Technique's time rules: what turns a series of
 * single-image raw T-numbers (physics/dvorak.ts) into a storm's Final T and
 * current intensity (CI). Pure functions of a track's history, so the same
 * fixes give the same intensities whatever order the scenes arrived in.
 *
 * Sources (numbers restated here, not copied code):
 * - Dvorak, V. F. (1984), NOAA Tech. Rep. NESDIS 11: Rule 8 (the T-number may
 *   only change so fast) and Rule 9 (when a storm weakens, CI is held above
 *   the T-number).
 * - Olander & Velden (2007), Wea. Forecasting 22, 287–298, and the ADT users'
 *   guide; Velden et al. (2006), BAMS 87, 1195–1210: the ADT's Final T is a
 *   6-hour linearly time-weighted average of the (Rule-8-limited) raw T, and
 *   CI = min(Final T + 1.0, max(Final T, the highest Final T of the previous
 *   6 h)).
 * - The Rule 8 limits per elapsed time are the ADT's as tabulated in its
 *   Unidata/IDV Java port (commit 4cb8ed0aad764f6e84821930ab2ed33e1723aadb,
 *   Intensity.java, Rule8AdjArray): 0.5 T over 1 h, 1.0/6 h, 1.7/12 h,
 *   2.2/18 h, 2.7/24 h for the original rule; eye scenes may move 1.0 more
 *   from 12 h on (2.7/12 h, 3.2/18 h, 3.7/24 h); other (CDO) scenes less
 *   (0.7/6 h, 1.2/12 h, 1.7/18 h, 2.2/24 h). The port adds 0.01 to each
 *   limit against rounding, kept here.
 * Not reproduced: land flags, rapid-dissipation (Rule 9 additive 0.5),
 * microwave adjustments, latitude bias: the pipeline has none of those inputs.
 */

/** One analysed image of a track, in time order. */
export interface AdtRecord {
  /** Observation time, ms since the epoch. */
  t: number;
  scene: 'eye' | 'cdo';
  /** The image's raw T-number (single-image regression). */
  rawT: number;
  /** Raw T after the Rule 8 limits (what the averaging uses). */
  adjRawT: number;
  finalT: number;
  ci: number;
  /** Rule 9 is holding CI above Final T. */
  weakening: boolean;
}

const HOUR = 3_600_000;

/** Windows (h) and Rule 8 limits (T per window) by scene; see the module comment for the source. */
const RULE8_WINDOWS_H = [1, 6, 12, 18, 24] as const;
const RULE8_LIMITS: Record<'eye' | 'cdo', readonly number[]> = {
  eye: [0.51, 1.01, 2.71, 3.21, 3.71],
  cdo: [0.51, 0.71, 1.21, 1.71, 2.21],
};

/** ADT: the Final T averages over the previous 6 h (its default; 3 h is NHC's option). */
export const AVERAGING_HOURS = 6;
/** Dvorak Rule 9 / ADT: CI may exceed Final T by at most 1.0 when weakening. */
export const RULE9_MAX_ABOVE_T = 1.0;
/** ADT: a gap of more than 24 h starts the storm over (no history constrains it). */
export const HISTORY_HOURS = 24;

/** Tenths as the ADT keeps them: floor((x + 0.01)·10)/10. */
export function tenths(x: number): number {
  return Math.floor((x + 0.01) * 10) / 10;
}

/** The largest change of T allowed over `hours` for a scene type (Rule 8); Infinity past 24 h. */
export function rule8Limit(scene: 'eye' | 'cdo', hours: number): number {
  for (let i = 0; i < RULE8_WINDOWS_H.length; i++) {
    if (hours <= (RULE8_WINDOWS_H[i] as number)) return RULE8_LIMITS[scene][i] as number;
  }
  return Infinity;
}

/**
 * Analyses the next image of a track given its earlier records (time order,
 * all before `t`). Rule 8 clamps the raw T against every earlier Final T
 * within 24 h; the Final T is the 6-h time-weighted mean (weight 6 − Δh for
 * an earlier record, 6 for this one); CI follows Rule 9.
 */
export function nextRecord(history: readonly AdtRecord[], t: number, scene: 'eye' | 'cdo', rawT: number): AdtRecord {
  const recent = history.filter((r) => r.t < t && t - r.t <= HISTORY_HOURS * HOUR);
  if (recent.length === 0) return { t, scene, rawT, adjRawT: rawT, finalT: rawT, ci: rawT, weakening: false };
  let lo = -Infinity;
  let hi = Infinity;
  for (const r of recent) {
    const lim = rule8Limit(scene, (t - r.t) / HOUR);
    lo = Math.max(lo, r.finalT - lim);
    hi = Math.min(hi, r.finalT + lim);
  }
  // Limits from different ages can cross (a storm already at its 24-h limit); the newest record decides then.
  const adjRawT = lo <= hi ? Math.min(hi, Math.max(lo, rawT)) : (recent[recent.length - 1] as AdtRecord).finalT;
  let sum = AVERAGING_HOURS * adjRawT;
  let wsum = AVERAGING_HOURS;
  let max6 = -Infinity;
  for (const r of recent) {
    const dh = (t - r.t) / HOUR;
    if (dh > AVERAGING_HOURS) continue;
    const w = AVERAGING_HOURS - dh;
    sum += w * r.adjRawT;
    wsum += w;
    max6 = Math.max(max6, r.finalT);
  }
  const finalT = tenths(sum / wsum);
  const ci = Math.min(finalT + RULE9_MAX_ABOVE_T, Math.max(max6, finalT));
  return { t, scene, rawT, adjRawT, finalT, ci, weakening: ci > finalT };
}

/** The whole track, from its fixes in any order: records in time order. */
export function analyseTrack(fixes: ReadonlyArray<{ t: number; scene: 'eye' | 'cdo'; rawT: number }>): AdtRecord[] {
  const sorted = [...fixes].sort((a, b) => a.t - b.t);
  const out: AdtRecord[] = [];
  for (const f of sorted) out.push(nextRecord(out, f.t, f.scene, f.rawT));
  return out;
}
