/**
 * One element-set shape for the tracker, whatever the source format, and the
 * satellite.js SatRec built from it. TLE-born sets initialise through
 * twoline2satrec so that the exact Vallado parsing path is used; OMM-born sets
 * through json2satrec (opsmode 'i', "improved", as Vallado 2006).
 */
import { json2satrec, twoline2satrec, type SatRec } from 'satellite.js';
import type { TleRecord } from './tle.js';
import { ommToJson, type OmmRecord } from './omm.js';

export type ElementSetRaw =
  | { readonly format: 'tle'; readonly line1: string; readonly line2: string }
  | { readonly format: 'omm'; readonly omm: OmmRecord };

export interface ElementSet {
  /** NORAD catalog number, 1..999,999,999. */
  readonly noradId: number;
  readonly name: string;
  readonly intlDesignator: string;
  /** Epoch in Unix ms (may carry a sub-ms fraction). */
  readonly epochMs: number;
  readonly meanMotionRevPerDay: number;
  readonly eccentricity: number;
  readonly inclinationDeg: number;
  readonly raanDeg: number;
  readonly argpDeg: number;
  readonly meanAnomalyDeg: number;
  /** B* drag term, 1/earth radii. */
  readonly bstar: number;
  readonly sourceFormat: 'tle' | 'omm';
  readonly raw: ElementSetRaw;
}

export function elementSetFromTle(t: TleRecord): ElementSet {
  return {
    noradId: t.noradId,
    name: t.name,
    intlDesignator: t.intlDesignator,
    epochMs: t.epochMs,
    meanMotionRevPerDay: t.meanMotionRevPerDay,
    eccentricity: t.eccentricity,
    inclinationDeg: t.inclinationDeg,
    raanDeg: t.raanDeg,
    argpDeg: t.argpDeg,
    meanAnomalyDeg: t.meanAnomalyDeg,
    bstar: t.bstar,
    sourceFormat: 'tle',
    raw: { format: 'tle', line1: t.line1, line2: t.line2 },
  };
}

export function elementSetFromOmm(o: OmmRecord): ElementSet {
  return {
    noradId: o.noradId,
    name: o.name,
    intlDesignator: o.objectId,
    epochMs: o.epochMs,
    meanMotionRevPerDay: o.meanMotionRevPerDay,
    eccentricity: o.eccentricity,
    inclinationDeg: o.inclinationDeg,
    raanDeg: o.raanDeg,
    argpDeg: o.argpDeg,
    meanAnomalyDeg: o.meanAnomalyDeg,
    bstar: o.bstar,
    sourceFormat: 'omm',
    raw: { format: 'omm', omm: o },
  };
}

/**
 * Builds the SatRec. satellite.js signals a failed initialisation through
 * `satrec.error` (it never throws for numerical reasons), so the caller reads
 * `initError` and decides; a non-zero value is an SGP4 error code
 * (see propagate.ts, SGP4_ERROR_MEANING).
 *
 * OMM note: json2satrec parses EPOCH with `Date`, which keeps whole
 * milliseconds; CelesTrak prints microseconds, so up to 1 ms of the epoch is
 * dropped (≤ 8 m along track in LEO). Propagation times are taken from the
 * SatRec's own epoch (jdsatepoch), so state and epoch stay consistent.
 */
export function createSatrec(es: ElementSet): { satrec: SatRec; initError: number } {
  let satrec: SatRec;
  if (es.raw.format === 'tle') {
    satrec = twoline2satrec(es.raw.line1, es.raw.line2);
  } else {
    // SGP4 needs only the mean elements; classification (any letter here,
    // 'U' | 'C' in satellite.js's type) and the counters stay out.
    const { CLASSIFICATION_TYPE: _classification, EPHEMERIS_TYPE: _ephemeris, REV_AT_EPOCH: _rev, ...json } = ommToJson(es.raw.omm);
    satrec = json2satrec(json, 'i');
  }
  return { satrec, initError: satrec.error };
}

/** WGS-72 equatorial radius, km: SGP4's own constant (satellite.js constants.earthRadius). */
export const SGP4_EARTH_RADIUS_KM = 6378.135;

/** SGP4's mean (Brouwer) semi-major axis after initialisation, km. */
export function sgp4SemiMajorAxisKm(satrec: SatRec): number {
  return satrec.a * SGP4_EARTH_RADIUS_KM;
}
