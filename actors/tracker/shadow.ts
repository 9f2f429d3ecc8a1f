/**
 * Is a satellite in Earth's shadow? The geometry of the conical shadow
 * model: the Earth's apparent disc and the Sun's direction as seen from the
 * satellite (Montenbruck & Gill, "Satellite Orbits", 2000, §3.4.2,
 * eq. 3.85-3.87; the Sun's own apparent radius, which splits penumbra from
 * umbra there, is not needed for the boundary used here).
 *
 * "Sunlit" here means the Sun's centre is not behind the Earth's disc
 * (angle between the two centres ≥ the Earth's apparent radius): the middle
 * of the penumbra, which a LEO satellite crosses in about 8 s, so the choice
 * moves a sunlit/shadow boundary by about 4 s at most. The Earth is a
 * sphere of the WGS-84 equatorial radius: its flattening lowers the true
 * limb by up to 21 km at the poles, a few seconds of shadow timing in LEO.
 */
import type { SunPosition } from './sun.js';

const DEG = 180 / Math.PI;
/** WGS-84 equatorial radius, km. */
const EARTH_RADIUS_KM = 6378.137;

export interface ShadowGeometry {
  /** Angle between the Sun's and the Earth's centres seen from the satellite, deg. */
  readonly separationDeg: number;
  /** Apparent radius of the Earth from the satellite, deg. */
  readonly earthRadiusDeg: number;
}

/** The discs' geometry from satellite position `r` (km, TEME) with the Sun at `sun` (km, same frame). */
export function shadowGeometry(r: { x: number; y: number; z: number }, sun: SunPosition): ShadowGeometry {
  const dx = sun.x - r.x;
  const dy = sun.y - r.y;
  const dz = sun.z - r.z;
  const dSun = Math.hypot(dx, dy, dz);
  const dEarth = Math.hypot(r.x, r.y, r.z);
  // Earth's centre is at −r from the satellite.
  const cos = (-(r.x * dx + r.y * dy + r.z * dz)) / (dEarth * dSun);
  return {
    separationDeg: Math.acos(Math.max(-1, Math.min(1, cos))) * DEG,
    earthRadiusDeg: Math.asin(Math.min(1, EARTH_RADIUS_KM / dEarth)) * DEG,
  };
}

/**
 * How far the Sun's centre is outside the Earth's disc, deg: ≥ 0 sunlit,
 * < 0 in shadow. Continuous in time, so pass search can bracket and bisect
 * its zero.
 */
export function sunlitMarginDeg(r: { x: number; y: number; z: number }, sun: SunPosition): number {
  const g = shadowGeometry(r, sun);
  return g.separationDeg - g.earthRadiusDeg;
}
