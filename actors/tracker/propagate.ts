/**
 * The project's propagation path: SatRec + time → TEME position/velocity,
 * geodetic latitude/longitude/altitude and speed, written into a caller-owned
 * Float64Array. A tracker host keeps one array for all its objects and calls
 * propagateBatch once per tick: no result object per object is created by
 * this module (satellite.js's sgp4() still returns its own small object), GMST
 * is computed once per tick, and the geodetic conversion stops iterating when
 * converged instead of satellite.js's fixed 20 rounds.
 *
 * Frames and models: SGP4 with WGS-72 gravity constants (as Vallado 2006 and
 * satellite.js); TEME → pseudo-Earth-fixed by rotation about z through GMST
 * (IAU-82, satellite.js gstime), no polar motion; geodetic on the WGS-84
 * ellipsoid (a = 6378.137 km, b = 6356.7523142 km), same as satellite.js
 * eciToGeodetic.
 *
 * Numerical failure is a value: the return is the SGP4 error code (0 = ok) and
 * the state slots hold NaN.
 */
import { gstime, sgp4, type SatRec } from 'satellite.js';

/** Layout of one object's state in a batch array (stride STATE_STRIDE). */
export const S_X_KM = 0;
export const S_Y_KM = 1;
export const S_Z_KM = 2;
export const S_VX_KM_PER_S = 3;
export const S_VY_KM_PER_S = 4;
export const S_VZ_KM_PER_S = 5;
export const S_LAT_DEG = 6;
export const S_LON_DEG = 7;
export const S_ALT_KM = 8;
export const S_SPEED_KM_PER_S = 9;
export const STATE_STRIDE = 10;

/**
 * SGP4 error codes as set in satrec.error by Vallado's sgp4 (SGP4.cpp,
 * "Revisiting Spacetrack Report #3", 2006), plus one of ours.
 */
export const SGP4_OK = 0;
export const SGP4_ERROR_MEANING: Readonly<Record<number, string>> = {
  0: 'no error',
  1: 'mean elements: eccentricity >= 1.0 or < -0.001, or semi-major axis < 0.95 earth radii',
  2: 'mean motion less than 0.0',
  3: 'perturbed eccentricity outside 0..1 (deep-space lunar-solar periodics)',
  4: 'semi-latus rectum < 0.0',
  5: 'epoch elements are sub-orbital (historical, no longer raised)',
  6: 'satellite has decayed: radius below 1 earth radius',
  7: 'non-finite state (project check, not SGP4)',
};
/** Project-defined: SGP4 returned a state containing NaN or Infinity. */
export const SGP4_NON_FINITE = 7;
/** Marks a batch slot that holds no object (not an SGP4 code). */
export const EMPTY_SLOT = 255;

const DEG = 180 / Math.PI;
const WGS84_A_KM = 6378.137;
const WGS84_B_KM = 6356.7523142;
const WGS84_F = (WGS84_A_KM - WGS84_B_KM) / WGS84_A_KM;
const WGS84_E2 = 2 * WGS84_F - WGS84_F * WGS84_F;
const UNIX_EPOCH_JD = 2440587.5;
const MS_PER_DAY = 86_400_000;

export function julianDate(tMs: number): number {
  return tMs / MS_PER_DAY + UNIX_EPOCH_JD;
}

/** Greenwich mean sidereal time, rad, for a Unix-ms instant (UT1 ≈ UTC). */
export function gmstRad(tMs: number): number {
  return gstime(julianDate(tMs));
}

/** Element-set epoch in Unix ms, from the SatRec's own Julian date. */
export function satrecEpochMs(satrec: SatRec): number {
  return (satrec.jdsatepoch - UNIX_EPOCH_JD) * MS_PER_DAY;
}

function fillNaN(out: Float64Array, o: number): void {
  for (let k = 0; k < STATE_STRIDE; k++) out[o + k] = NaN;
}

/**
 * SGP4 at `tsinceMin` minutes from epoch; writes TEME position/velocity and
 * speed at `out[o..]`; leaves the geodetic slots untouched. Returns the error code.
 */
export function propagateMinutes(satrec: SatRec, tsinceMin: number, out: Float64Array, o: number): number {
  const pv = sgp4(satrec, tsinceMin);
  if (pv === null) {
    fillNaN(out, o);
    return satrec.error === SGP4_OK ? SGP4_NON_FINITE : satrec.error;
  }
  const p = pv.position;
  const v = pv.velocity;
  const vx = v.x;
  const vy = v.y;
  const vz = v.z;
  out[o + S_X_KM] = p.x;
  out[o + S_Y_KM] = p.y;
  out[o + S_Z_KM] = p.z;
  out[o + S_VX_KM_PER_S] = vx;
  out[o + S_VY_KM_PER_S] = vy;
  out[o + S_VZ_KM_PER_S] = vz;
  const speed = Math.sqrt(vx * vx + vy * vy + vz * vz);
  out[o + S_SPEED_KM_PER_S] = speed;
  if (!Number.isFinite(p.x + p.y + p.z + speed)) {
    fillNaN(out, o);
    return SGP4_NON_FINITE;
  }
  return SGP4_OK;
}

/**
 * TEME position (km) at `out[o..o+2]` → geodetic latitude/longitude (deg)
 * and altitude above the WGS-84 ellipsoid (km) at `out[o+6..o+8]`.
 * Fixed-point iteration on latitude (as satellite.js), started from the
 * Bowring-style guess atan(z / (R (1 − e²))) and stopped at 1e-12 rad, which
 * takes 2-4 rounds in LEO instead of 20.
 */
export function temeToGeodetic(out: Float64Array, o: number, gmst: number): void {
  const x = out[o + S_X_KM]!;
  const y = out[o + S_Y_KM]!;
  const z = out[o + S_Z_KM]!;
  const R = Math.sqrt(x * x + y * y);
  let lon = Math.atan2(y, x) - gmst;
  // one or two wraps at most: atan2 ∈ [-π, π], gmst ∈ [0, 2π)
  while (lon < -Math.PI) lon += 2 * Math.PI;
  while (lon >= Math.PI) lon -= 2 * Math.PI;
  let lat = Math.atan2(z, R * (1 - WGS84_E2));
  let N = WGS84_A_KM;
  let sinLat = 0;
  for (let k = 0; k < 20; k++) {
    sinLat = Math.sin(lat);
    N = WGS84_A_KM / Math.sqrt(1 - WGS84_E2 * sinLat * sinLat);
    const next = Math.atan2(z + N * WGS84_E2 * sinLat, R);
    const d = next - lat;
    lat = next;
    if (d < 1e-12 && d > -1e-12) break;
  }
  sinLat = Math.sin(lat);
  N = WGS84_A_KM / Math.sqrt(1 - WGS84_E2 * sinLat * sinLat);
  // h = R cosφ + (z + e² N sinφ) sinφ − N: well conditioned at the poles too.
  const alt = R * Math.cos(lat) + (z + WGS84_E2 * N * sinLat) * sinLat - N;
  out[o + S_LAT_DEG] = lat * DEG;
  out[o + S_LON_DEG] = lon * DEG;
  out[o + S_ALT_KM] = alt;
}

/** One object at one instant, everything filled. Returns the SGP4 error code. */
export function propagateAt(satrec: SatRec, tMs: number, out: Float64Array, o = 0, gmst = gmstRad(tMs)): number {
  const tsince = (julianDate(tMs) - satrec.jdsatepoch) * 1440;
  const err = propagateMinutes(satrec, tsince, out, o);
  if (err === SGP4_OK) temeToGeodetic(out, o, gmst);
  return err;
}

/**
 * Propagates `count` objects (slots 0..count-1; `satrecs[i]` may be undefined
 * for a free slot) to one instant. `state` has STATE_STRIDE numbers per slot,
 * `errors` one code per slot. Returns how many slots propagated without error.
 */
export function propagateBatch(
  satrecs: ReadonlyArray<SatRec | undefined>,
  count: number,
  tMs: number,
  state: Float64Array,
  errors: Uint8Array,
): number {
  const jd = julianDate(tMs);
  const gmst = gstime(jd);
  let ok = 0;
  for (let i = 0; i < count; i++) {
    const s = satrecs[i];
    const o = i * STATE_STRIDE;
    if (s === undefined) {
      fillNaN(state, o);
      errors[i] = EMPTY_SLOT;
      continue;
    }
    const err = propagateMinutes(s, (jd - s.jdsatepoch) * 1440, state, o);
    errors[i] = err;
    if (err === SGP4_OK) {
      temeToGeodetic(state, o, gmst);
      ok++;
    }
  }
  return ok;
}

/** A batch's arrays, sized once for `capacity` objects. */
export interface StateBuffer {
  readonly capacity: number;
  readonly state: Float64Array;
  readonly errors: Uint8Array;
}

export function createStateBuffer(capacity: number): StateBuffer {
  return { capacity, state: new Float64Array(capacity * STATE_STRIDE), errors: new Uint8Array(capacity) };
}
