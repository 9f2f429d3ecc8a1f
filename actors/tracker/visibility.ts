/**
 * The visible part of a pass: the instants at which the satellite is sunlit
 * (shadow.ts) while the observer's Sun is below the civil-twilight limit
 * (sun.ts), the conditions under which a satellite can be seen by eye.
 *
 * Both conditions are one continuous function of time, the smaller of the
 * two margins (degrees): how far the Sun is below −6° at the observer, and
 * how far the Sun's centre is outside the Earth's disc seen from the
 * satellite. The part of [rise, set] where it is ≥ 0 is found like the pass
 * itself (passes.ts): samples, every sign change bisected to ROOT_TOL_MS, a
 * sample maximum just below zero refined in case a short visible part hides
 * between two samples.
 */
import { sgp4, type SatRec } from 'satellite.js';
import { lookAnglesAt, observerGeodetic, type Observer } from './look-angles.js';
import type { PassPoint } from './passes.js';
import { julianDate } from './propagate.js';
import { sunlitMarginDeg } from './shadow.js';
import { sunElevationDeg, sunPositionKm } from './sun.js';

/** Civil twilight: the Sun's centre 6° below the horizon (The Astronomical Almanac, glossary). */
export const CIVIL_TWILIGHT_SUN_DEG = -6;

export interface VisiblePart {
  readonly start: PassPoint;
  readonly end: PassPoint;
}

const ROOT_TOL_MS = 10;
const GOLDEN_TOL_MS = 100;
/** A sample maximum this far below zero may hide a visible part between its neighbours. */
const GRAZE_MARGIN_DEG = 1;
/** Samples per pass, bounded by MIN/MAX_STEP_MS: LEO passes are sampled every few seconds, day-long ones every minute. */
const SAMPLES_PER_PASS = 300;
const MIN_STEP_MS = 2_000;
const MAX_STEP_MS = 60_000;
const INV_PHI = (Math.sqrt(5) - 1) / 2;
/** Samples between two yields of visiblePartSteps (passes.ts STEP_EVALS; not imported, passes.ts imports this module). */
const STEP_EVALS = 64;

interface Sample {
  readonly tMs: number;
  readonly margin: number;
}

/** The visibility margin at `tMs`, deg (≥ 0: visible); −90 when SGP4 fails there. */
export function visibilityMarginDeg(satrec: SatRec, observer: Observer, tMs: number): number {
  const pv = sgp4(satrec, (julianDate(tMs) - satrec.jdsatepoch) * 1440);
  if (pv === null) return -90;
  const sun = sunPositionKm(tMs);
  const dark = CIVIL_TWILIGHT_SUN_DEG - sunElevationDeg(observer, tMs, sun);
  return Math.min(dark, sunlitMarginDeg(pv.position, sun));
}

/** The parts of [riseMs, setMs] in which the satellite is visible (sunlit, observer in darkness), in time order. */
export function visibleParts(satrec: SatRec, observer: Observer, riseMs: number, setMs: number): VisiblePart[] {
  const steps = visiblePartSteps(satrec, observer, riseMs, setMs);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** The same as steps that yield every STEP_EVALS samples (a day-long pass is over a thousand; passes.ts slices the whole search). */
export function* visiblePartSteps(satrec: SatRec, observer: Observer, riseMs: number, setMs: number): Generator<void, VisiblePart[], void> {
  const at = (tMs: number): Sample => ({ tMs, margin: visibilityMarginDeg(satrec, observer, tMs) });
  const gd = observerGeodetic(observer);
  const point = (tMs: number): PassPoint => {
    const la = lookAnglesAt(satrec, gd, tMs);
    return typeof la === 'number' ? { tMs, azimuthDeg: NaN, elevationDeg: -90 } : { tMs, azimuthDeg: la.azimuthDeg, elevationDeg: la.elevationDeg };
  };
  const stepMs = Math.min(MAX_STEP_MS, Math.max(MIN_STEP_MS, (setMs - riseMs) / SAMPLES_PER_PASS));
  const samples: Sample[] = [];
  for (let t = riseMs; t < setMs; t += stepMs) {
    samples.push(at(t));
    if (samples.length % STEP_EVALS === 0) yield;
  }
  samples.push(at(setMs));

  const extra: Sample[] = [];
  for (let i = 1; i + 1 < samples.length; i++) {
    const s = samples[i]!;
    if (s.margin < 0 && s.margin > -GRAZE_MARGIN_DEG && s.margin >= samples[i - 1]!.margin && s.margin >= samples[i + 1]!.margin) {
      const peak = maximise(at, samples[i - 1]!.tMs, samples[i + 1]!.tMs);
      if (peak.margin >= 0) extra.push(peak);
    }
  }
  if (extra.length > 0) {
    samples.push(...extra);
    samples.sort((a, b) => a.tMs - b.tMs);
  }

  const parts: VisiblePart[] = [];
  let i = 0;
  while (i < samples.length) {
    if (samples[i]!.margin < 0) {
      i++;
      continue;
    }
    const first = i;
    while (i + 1 < samples.length && samples[i + 1]!.margin >= 0) i++;
    const startMs = first === 0 ? riseMs : crossing(at, samples[first - 1]!, samples[first]!);
    const endMs = i === samples.length - 1 ? setMs : crossing(at, samples[i + 1]!, samples[i]!);
    parts.push({ start: point(startMs), end: point(endMs) });
    i++;
  }
  return parts;
}

/** Bisection between a sample below zero and one at or above it (either order in time): the instant at or above, within ROOT_TOL_MS. */
function crossing(at: (tMs: number) => Sample, below: Sample, above: Sample): number {
  let lo = below;
  let hi = above;
  while (Math.abs(hi.tMs - lo.tMs) > ROOT_TOL_MS) {
    const mid = at((lo.tMs + hi.tMs) / 2);
    if (mid.margin >= 0) hi = mid;
    else lo = mid;
  }
  return hi.tMs;
}

/** Golden-section search for the margin's maximum in [a, b]. */
function maximise(at: (tMs: number) => Sample, aMs: number, bMs: number): Sample {
  let a = aMs;
  let b = bMs;
  let c = at(b - INV_PHI * (b - a));
  let d = at(a + INV_PHI * (b - a));
  while (b - a > GOLDEN_TOL_MS) {
    if (c.margin > d.margin) {
      b = d.tMs;
      d = c;
      c = at(b - INV_PHI * (b - a));
    } else {
      a = c.tMs;
      c = d;
      d = at(a + INV_PHI * (b - a));
    }
  }
  return at((a + b) / 2);
}
