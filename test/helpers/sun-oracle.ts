/**
 * Independent oracles for the Sun and Earth's shadow, for tests of visible
 * passes (actors/tracker/sun.ts and shadow.ts use other formulas):
 * - the Sun from Meeus, "Astronomical Algorithms" (2nd ed., 1998), ch. 25
 *   (low accuracy, apparent coordinates), sidereal time from Meeus eq. 12.4
 *   and the elevation from the hour angle (eq. 13.6);
 * - the shadow as a segment–sphere intersection: the line from the
 *   satellite to the Sun's centre meets the Earth sphere or not.
 */
import type { Observer } from '../../actors/tracker/look-angles.js';

const RAD = Math.PI / 180;
const DAY_MS = 86_400_000;
/** The astronomical unit, km (IAU 2012 Resolution B2). */
const AU_KM = 149_597_870.7;
/** The sphere sun.ts/shadow.ts use too: the WGS-84 equatorial radius. */
export const EARTH_RADIUS_KM = 6378.137;

export const jdOf = (tMs: number): number => tMs / DAY_MS + 2440587.5;

/** Meeus ch. 25, low accuracy: apparent right ascension, declination (deg) and distance (AU) at Julian day `jd`. */
export function meeusSun(jd: number): { raDeg: number; decDeg: number; rAu: number } {
  const T = (jd - 2451545.0) / 36525;
  const L0 = 280.46646 + 36000.76983 * T + 0.0003032 * T * T;
  const M = (357.52911 + 35999.05029 * T - 0.0001537 * T * T) * RAD;
  const e = 0.016708634 - 0.000042037 * T - 0.0000001267 * T * T;
  const C = (1.914602 - 0.004817 * T - 0.000014 * T * T) * Math.sin(M) + (0.019993 - 0.000101 * T) * Math.sin(2 * M) + 0.000289 * Math.sin(3 * M);
  const trueLon = L0 + C;
  const nu = M + C * RAD;
  const rAu = (1.000001018 * (1 - e * e)) / (1 + e * Math.cos(nu));
  const omega = (125.04 - 1934.136 * T) * RAD;
  const lambda = (trueLon - 0.00569 - 0.00478 * Math.sin(omega)) * RAD;
  // eq. 22.2 (mean obliquity) + the apparent correction of eq. 25.8
  const eps0 = 23 + 26 / 60 + (21.448 - 46.815 * T - 0.00059 * T * T + 0.001813 * T * T * T) / 3600;
  const eps = (eps0 + 0.00256 * Math.cos(omega)) * RAD;
  const ra = Math.atan2(Math.cos(eps) * Math.sin(lambda), Math.cos(lambda)) / RAD;
  const dec = Math.asin(Math.sin(eps) * Math.sin(lambda)) / RAD;
  return { raDeg: (ra + 360) % 360, decDeg: dec, rAu };
}

/** Meeus eq. 12.4: mean sidereal time at Greenwich, deg. */
export function meeusGmstDeg(jd: number): number {
  const T = (jd - 2451545.0) / 36525;
  const th = 280.46061837 + 360.98564736629 * (jd - 2451545.0) + 0.000387933 * T * T - (T * T * T) / 38710000;
  return ((th % 360) + 360) % 360;
}

/** Elevation of the Sun's centre by the hour-angle formula (Meeus eq. 13.6), deg. */
export function oracleSunElevationDeg(obs: Observer, tMs: number): number {
  const jd = jdOf(tMs);
  const s = meeusSun(jd);
  const H = (meeusGmstDeg(jd) + obs.lonDeg - s.raDeg) * RAD;
  const phi = obs.latDeg * RAD;
  const d = s.decDeg * RAD;
  return Math.asin(Math.sin(phi) * Math.sin(d) + Math.cos(phi) * Math.cos(d) * Math.cos(H)) / RAD;
}

export function oracleSunKm(tMs: number): [number, number, number] {
  const s = meeusSun(jdOf(tMs));
  const a = s.raDeg * RAD;
  const d = s.decDeg * RAD;
  const r = s.rAu * AU_KM;
  return [r * Math.cos(d) * Math.cos(a), r * Math.cos(d) * Math.sin(a), r * Math.sin(d)];
}

/** Does the segment from the satellite to the Sun's centre pass through the Earth sphere? */
export function oracleInShadow(r: { x: number; y: number; z: number }, sun: [number, number, number]): boolean {
  const d = [sun[0] - r.x, sun[1] - r.y, sun[2] - r.z];
  const len = Math.hypot(d[0]!, d[1]!, d[2]!);
  const u = d.map((x) => x / len);
  const tc = -(r.x * u[0]! + r.y * u[1]! + r.z * u[2]!); // closest approach of the line to the Earth's centre
  if (tc <= 0) return false; // the Earth's centre is behind the satellite as seen towards the Sun
  const px = r.x + tc * u[0]!;
  const py = r.y + tc * u[1]!;
  const pz = r.z + tc * u[2]!;
  return Math.hypot(px, py, pz) < EARTH_RADIUS_KM;
}
