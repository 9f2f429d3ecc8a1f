/**
 * Where the Sun is, for visible-pass prediction: its geocentric position and
 * its elevation at an observer.
 *
 * Source: the low-precision solar coordinates of The Astronomical Almanac
 * (section C, "Low precision formulas for the Sun"; also in the Explanatory
 * Supplement to the Astronomical Almanac, 1992, §C.24): 0.01° in right
 * ascension and declination between 1950 and 2050. The argument should be
 * TT; UTC is used (TT − UTC ≈ 69 s, in which the Sun moves 0.003°, well
 * inside the formula's own error).
 *
 * Frame: the formula gives the equator and equinox of date, taken here as
 * TEME (they differ by the equation of the equinoxes, about 1″), so the
 * result rotates to Earth-fixed by the same GMST as SGP4 states
 * (look-angles.ts).
 */
import { gmstRad, julianDate } from './propagate.js';
import type { Observer } from './look-angles.js';

const RAD = Math.PI / 180;
/** The astronomical unit, km (IAU 2012 Resolution B2). */
export const AU_KM = 149_597_870.7;
const J2000_JD = 2451545.0;

/** Geocentric position of the Sun, km, in the equator and equinox of date (≈ TEME). */
export interface SunPosition {
  readonly x: number;
  readonly y: number;
  readonly z: number;
}

export function sunPositionKm(tMs: number): SunPosition {
  const n = julianDate(tMs) - J2000_JD;
  // Mean longitude and mean anomaly, degrees (The Astronomical Almanac, low-precision Sun).
  const L = 280.46 + 0.9856474 * n;
  const g = (357.528 + 0.9856003 * n) * RAD;
  // Ecliptic longitude (latitude is 0 to this precision) and distance, AU.
  const lambda = (L + 1.915 * Math.sin(g) + 0.02 * Math.sin(2 * g)) * RAD;
  const rAu = 1.00014 - 0.01671 * Math.cos(g) - 0.00014 * Math.cos(2 * g);
  const eps = (23.439 - 0.0000004 * n) * RAD;
  const r = rAu * AU_KM;
  return {
    x: r * Math.cos(lambda),
    y: r * Math.cos(eps) * Math.sin(lambda),
    z: r * Math.sin(eps) * Math.sin(lambda),
  };
}

/**
 * Geometric elevation of the Sun's centre at the observer, degrees (no
 * refraction: twilight limits such as civil −6° are defined on it). The
 * local vertical is the WGS-84 ellipsoid normal (geodetic latitude); the
 * Sun's parallax (8.8″) is neglected.
 */
export function sunElevationDeg(observer: Observer, tMs: number, sun: SunPosition = sunPositionKm(tMs)): number {
  const theta = gmstRad(tMs);
  const c = Math.cos(theta);
  const s = Math.sin(theta);
  // TEME → Earth-fixed: rotation about z by GMST.
  const xe = c * sun.x + s * sun.y;
  const ye = -s * sun.x + c * sun.y;
  const ze = sun.z;
  const lat = observer.latDeg * RAD;
  const lon = observer.lonDeg * RAD;
  const up = Math.cos(lat) * Math.cos(lon) * xe + Math.cos(lat) * Math.sin(lon) * ye + Math.sin(lat) * ze;
  return Math.asin(Math.max(-1, Math.min(1, up / Math.hypot(xe, ye, ze)))) / RAD;
}
