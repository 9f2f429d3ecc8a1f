/**
 * Topocentric look angles of an object from an observer, the function pass
 * prediction searches on. Uses satellite.js's eciToEcf (rotation by GMST)
 * and ecfToLookAngles (observer on the WGS-84 ellipsoid).
 */
import { ecfToLookAngles, eciToEcf, sgp4, type GeodeticLocation, type SatRec } from 'satellite.js';
import { gmstRad, julianDate } from './propagate.js';

export interface Observer {
  readonly latDeg: number;
  readonly lonDeg: number;
  /** Height above the WGS-84 ellipsoid, km. */
  readonly altKm: number;
}

const RAD = Math.PI / 180;

export function observerGeodetic(obs: Observer): GeodeticLocation {
  return { latitude: obs.latDeg * RAD, longitude: obs.lonDeg * RAD, height: obs.altKm };
}

export interface LookAngles {
  readonly azimuthDeg: number;
  readonly elevationDeg: number;
  readonly rangeKm: number;
}

/** Look angles at `tMs`, or the SGP4 error code (satrec.error) when propagation fails. */
export function lookAnglesAt(satrec: SatRec, observer: GeodeticLocation, tMs: number): LookAngles | number {
  const pv = sgp4(satrec, (julianDate(tMs) - satrec.jdsatepoch) * 1440);
  if (pv === null) return satrec.error || 7;
  const la = ecfToLookAngles(observer, eciToEcf(pv.position, gmstRad(tMs)));
  return { azimuthDeg: la.azimuth / RAD, elevationDeg: la.elevation / RAD, rangeKm: la.rangeSat };
}
