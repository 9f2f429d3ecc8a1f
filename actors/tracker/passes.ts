/**
 * Pass prediction: when an object is above an observer's horizon mask in a
 * time window. Elevation is sampled on a coarse grid; each crossing of the
 * mask is then bracketed and bisected to ROOT_TOL_MS, and the culmination is
 * refined by golden-section search around the highest sample. A pass whose
 * peak falls between two samples that are both below the mask (a short,
 * grazing pass) is caught by refining every local maximum of the samples
 * that lies within GRAZE_MARGIN_DEG below the mask.
 *
 * With `visible`, each pass also gets its visible parts (visibility.ts:
 * satellite sunlit, observer's Sun below civil twilight) and a pass with
 * none is dropped.
 *
 * A 14-day window is tens of thousands of SGP4 calls (about 100 ms for an
 * object that is always up), too long for a service's event loop: the
 * search is a generator (passSteps) that yields every STEP_EVALS samples and
 * after each pass, so a server drives it in time slices; predictPasses runs
 * it at once.
 */
import type { SatRec } from 'satellite.js';
import { lookAnglesAt, observerGeodetic, type Observer } from './look-angles.js';
import type { GeodeticLocation } from 'satellite.js';
import { visiblePartSteps, type VisiblePart } from './visibility.js';

export interface PassPoint {
  readonly tMs: number;
  readonly azimuthDeg: number;
  readonly elevationDeg: number;
}

export interface Pass {
  readonly rise: PassPoint;
  readonly culmination: PassPoint;
  readonly set: PassPoint;
  readonly maxElevationDeg: number;
  /** The object was already up at the window start: `rise` is the window start, not a crossing. */
  readonly riseClipped: boolean;
  /** The object was still up at the window end: `set` is the window end, not a crossing. */
  readonly setClipped: boolean;
  /** With PassOptions.visible: the parts of [rise, set] in which the object is visible, in time order (never empty). */
  readonly visible?: VisiblePart[];
}

export interface PassOptions {
  /** Elevation that counts as "risen", deg (horizon mask). Default 0. */
  readonly horizonDeg?: number;
  /** Keep only passes whose maximum elevation reaches this, deg. Default 0. */
  readonly minMaxElevationDeg?: number;
  /** Coarse sampling step, s. Default 60: shorter than any LEO pass above a few degrees. */
  readonly stepS?: number;
  /** Keep only passes with a visible part (sunlit object, observer's Sun below −6°), and report those parts. Default false. */
  readonly visible?: boolean;
}

export interface PassResult {
  readonly passes: Pass[];
  /** First SGP4 error met in the window (0 = none); times after it are treated as not visible. */
  readonly sgp4Error: number;
}

const ROOT_TOL_MS = 10;
const GOLDEN_TOL_MS = 100;
const GRAZE_MARGIN_DEG = 5;
const MAX_WINDOW_MS = 31 * 86_400_000;
const INV_PHI = (Math.sqrt(5) - 1) / 2;
/** Samples between two yields of passSteps: well under a millisecond of SGP4. */
export const STEP_EVALS = 64;

class ElevationFn {
  sgp4Error = 0;
  constructor(
    private readonly satrec: SatRec,
    private readonly obs: GeodeticLocation,
  ) {}
  at(tMs: number): PassPoint {
    const la = lookAnglesAt(this.satrec, this.obs, tMs);
    if (typeof la === 'number') {
      if (this.sgp4Error === 0) this.sgp4Error = la;
      return { tMs, azimuthDeg: NaN, elevationDeg: -90 };
    }
    return { tMs, azimuthDeg: la.azimuthDeg, elevationDeg: la.elevationDeg };
  }
}

/** Bisection on elevation − mask between a point below and a point above (either order in time). */
function crossing(f: ElevationFn, horizon: number, below: PassPoint, above: PassPoint): PassPoint {
  let lo = below;
  let hi = above;
  while (Math.abs(hi.tMs - lo.tMs) > ROOT_TOL_MS) {
    const mid = f.at((lo.tMs + hi.tMs) / 2);
    if (mid.elevationDeg >= horizon) hi = mid;
    else lo = mid;
  }
  return hi; // the first/last instant at or above the mask, within ROOT_TOL_MS
}

/** Golden-section search for the elevation maximum in [a, b]. */
function culminate(f: ElevationFn, aMs: number, bMs: number): PassPoint {
  let a = aMs;
  let b = bMs;
  let c = b - INV_PHI * (b - a);
  let d = a + INV_PHI * (b - a);
  let fc = f.at(c);
  let fd = f.at(d);
  while (b - a > GOLDEN_TOL_MS) {
    if (fc.elevationDeg > fd.elevationDeg) {
      b = d;
      d = c;
      fd = fc;
      c = b - INV_PHI * (b - a);
      fc = f.at(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + INV_PHI * (b - a);
      fd = f.at(d);
    }
  }
  return f.at((a + b) / 2);
}

/** The pass search at once (tests, scripts; a server slices passSteps instead). */
export function predictPasses(satrec: SatRec, observer: Observer, startMs: number, endMs: number, opts: PassOptions = {}): PassResult {
  const steps = passSteps(satrec, observer, startMs, endMs, opts);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** The pass search as steps of well under a millisecond each: a driver runs them at once or yields to the event loop between them. */
export function* passSteps(satrec: SatRec, observer: Observer, startMs: number, endMs: number, opts: PassOptions = {}): Generator<void, PassResult, void> {
  const horizon = opts.horizonDeg ?? 0;
  const minMax = opts.minMaxElevationDeg ?? 0;
  const stepMs = Math.max(1, opts.stepS ?? 60) * 1000;
  if (!(endMs > startMs) || endMs - startMs > MAX_WINDOW_MS) return { passes: [], sgp4Error: 0 };
  const f = new ElevationFn(satrec, observerGeodetic(observer));

  const samples: PassPoint[] = [];
  for (let t = startMs; t < endMs; t += stepMs) {
    samples.push(f.at(t));
    if (samples.length % STEP_EVALS === 0) yield;
  }
  samples.push(f.at(endMs));

  // Grazing passes: a local sample maximum just below the mask may hide a peak above it.
  const extra: PassPoint[] = [];
  for (let i = 1; i + 1 < samples.length; i++) {
    const p = samples[i]!;
    if (p.elevationDeg < horizon && p.elevationDeg > horizon - GRAZE_MARGIN_DEG && p.elevationDeg >= samples[i - 1]!.elevationDeg && p.elevationDeg >= samples[i + 1]!.elevationDeg) {
      const peak = culminate(f, samples[i - 1]!.tMs, samples[i + 1]!.tMs);
      if (peak.elevationDeg >= horizon) extra.push(peak);
    }
    if (i % (STEP_EVALS * 16) === 0) yield;
  }
  if (extra.length > 0) {
    samples.push(...extra);
    samples.sort((x, y) => x.tMs - y.tMs);
  }

  const passes: Pass[] = [];
  let i = 0;
  while (i < samples.length) {
    if (samples[i]!.elevationDeg < horizon) {
      i++;
      continue;
    }
    const first = i;
    while (i + 1 < samples.length && samples[i + 1]!.elevationDeg >= horizon) i++;
    const last = i;
    const riseClipped = first === 0;
    const setClipped = last === samples.length - 1;
    const rise = riseClipped ? samples[0]! : crossing(f, horizon, samples[first - 1]!, samples[first]!);
    const set = setClipped ? samples[last]! : crossing(f, horizon, samples[last + 1]!, samples[last]!);
    let best = first;
    for (let k = first; k <= last; k++) if (samples[k]!.elevationDeg > samples[best]!.elevationDeg) best = k;
    // The maximum lies between the best sample's neighbours (or the pass ends).
    const a = best > first ? samples[best - 1]!.tMs : rise.tMs;
    const b = best < last ? samples[best + 1]!.tMs : set.tMs;
    let culmination = b - a > GOLDEN_TOL_MS ? culminate(f, a, b) : samples[best]!;
    if (culmination.elevationDeg < samples[best]!.elevationDeg) culmination = samples[best]!;
    if (culmination.elevationDeg >= minMax) {
      const pass: Pass = { rise, culmination, set, maxElevationDeg: culmination.elevationDeg, riseClipped, setClipped };
      if (!opts.visible) passes.push(pass);
      else {
        const visible = yield* visiblePartSteps(satrec, observer, rise.tMs, set.tMs);
        if (visible.length > 0) passes.push({ ...pass, visible });
      }
    }
    i++;
    yield;
  }
  return { passes, sgp4Error: f.sgp4Error };
}
