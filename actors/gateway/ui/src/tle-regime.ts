/** An object's orbit regime from its TLE, without the DOM (the unit tests import it under Node). */
import { orbitRegime, type OrbitRegime } from '../../../tracker/orbit-regime.js';

/**
 * Mean motion and eccentricity from a TLE's second line (fixed columns,
 * CelesTrak "NORAD Two-Line Element Set Format": eccentricity in columns
 * 27–33 with an assumed leading decimal point, mean motion rev/day in 53–63).
 */
export function tleRegime(line2: string): OrbitRegime | null {
  const e = Number(`0.${line2.slice(26, 33).trim()}`);
  const n = Number(line2.slice(52, 63));
  if (!Number.isFinite(e) || !Number.isFinite(n) || n <= 0) return null;
  return orbitRegime(e, n);
}
