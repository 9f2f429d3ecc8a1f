/**
 * CZML packets for GET /czml (exports.ts). Structure from the CZML
 * specification (CesiumGS czml-writer wiki: "CZML Structure", "Packet",
 * "Position", "Clock"): a JSON array whose first packet has id "document"
 * and version "1.0" (and the clock), then one packet per object with its id,
 * name, availability interval and position as sampled Cartesian values
 * `[t, X, Y, Z, t, X, Y, Z, ...]`, t in seconds since the property's
 * `epoch`, X Y Z in metres.
 *
 * Frame: FIXED (Earth-fixed). SGP4 gives TEME; Cesium's INERTIAL is ICRF,
 * and TEME → ICRF needs precession and nutation (and UT1 and polar motion
 * for the Earth-fixed side), which nothing here models. TEME → Earth-fixed
 * by a rotation about z through the Greenwich mean sidereal angle (IAU 1982
 * GMST, satellite.js gstime / eciToEcf) is what SGP4 users and most CZML
 * producers do ("pseudo-Earth-fixed", Vallado et al. 2006, "Revisiting
 * Spacetrack Report #3", its discussion of TEME), so the positions are SGP4's own, rotated,
 * with no claim of a precision it does not have (polar motion, < 20 m, is
 * not applied).
 */
import { eciToEcf, type EciVec3 } from 'satellite.js';
import { gmstRad, propagateAt, SGP4_ERROR_MEANING, SGP4_OK, STATE_STRIDE } from '../tracker/propagate.js';
import type { SatRec } from 'satellite.js';
import type { TimeSlicer } from '../runtime/time-slice.js';

/** CZML's version of the packets written here (the "document" packet's `version`). */
export const CZML_VERSION = '1.0';

/** Lagrange of degree 5: what Cesium's own satellite examples use for SGP4 samples a minute apart. */
export const CZML_INTERPOLATION = { interpolationAlgorithm: 'LAGRANGE', interpolationDegree: 5 } as const;

export const iso = (ms: number): string => new Date(ms).toISOString();

/** The instants sampled in [fromMs, toMs]: every stepS from fromMs, and toMs itself when the step does not land on it. */
export function sampleTimes(fromMs: number, toMs: number, stepS: number): number[] {
  const stepMs = stepS * 1000;
  const out: number[] = [];
  for (let t = fromMs; t <= toMs; t += stepMs) out.push(t);
  if (out[out.length - 1] !== toMs) out.push(toMs);
  return out;
}

/** How many instants sampleTimes gives, without building them (for the request's bounds). */
export function sampleCount(fromMs: number, toMs: number, stepS: number): number {
  const whole = Math.floor((toMs - fromMs) / (stepS * 1000)) + 1;
  return (toMs - fromMs) % (stepS * 1000) === 0 ? whole : whole + 1;
}

/** The "document" packet: version, name and a clock over the window (a viewer loads it looping at ×60). */
export function documentPacket(fromMs: number, toMs: number, name: string): Record<string, unknown> {
  return {
    id: 'document',
    name,
    version: CZML_VERSION,
    clock: { interval: `${iso(fromMs)}/${iso(toMs)}`, currentTime: iso(fromMs), multiplier: 60, range: 'LOOP_STOP', step: 'SYSTEM_CLOCK_MULTIPLIER' },
  };
}

export interface ObjectSamples {
  /** Earth-fixed positions in metres, with their times (seconds after the first sample). */
  cartesian: number[];
  firstMs: number | null;
  lastMs: number | null;
  /** The SGP4 error that ended the samples early (0: none), and when. */
  sgp4Error: number;
  errorAtMs: number | null;
}

/**
 * Propagates one object at `times` (SGP4, TEME) and rotates each position
 * Earth-fixed; stops at the first SGP4 error (a decayed orbit does not come
 * back). Gives the loop a turn whenever the slicer's slice is used.
 */
export async function sampleObject(satrec: SatRec, times: readonly number[], slicer: TimeSlicer): Promise<ObjectSamples> {
  const out = new Float64Array(STATE_STRIDE);
  const cartesian: number[] = [];
  let firstMs: number | null = null;
  let lastMs: number | null = null;
  for (const t of times) {
    const gmst = gmstRad(t);
    const err = propagateAt(satrec, t, out, 0, gmst);
    if (err !== SGP4_OK) return { cartesian, firstMs, lastMs, sgp4Error: err, errorAtMs: t };
    const ecf = eciToEcf({ x: out[0]!, y: out[1]!, z: out[2]! } as EciVec3<number>, gmst);
    if (firstMs === null) firstMs = t;
    lastMs = t;
    // Millimetres: far below SGP4's own error, and a third of the text of full doubles.
    cartesian.push((t - firstMs) / 1000, mm(ecf.x * 1000), mm(ecf.y * 1000), mm(ecf.z * 1000));
    await slicer.maybeYield();
  }
  return { cartesian, firstMs, lastMs, sgp4Error: 0, errorAtMs: null };
}

const mm = (m: number): number => Math.round(m * 1000) / 1000;

/** One object's packet: position samples and availability, a point and a label so a viewer draws it. */
export function objectPacket(noradId: number, name: string, s: ObjectSamples): Record<string, unknown> {
  const p: Record<string, unknown> = { id: String(noradId), name };
  if (s.sgp4Error !== 0) {
    const why = SGP4_ERROR_MEANING[s.sgp4Error] ?? `error ${s.sgp4Error}`;
    p.description = `SGP4 ${why} at ${iso(s.errorAtMs!)}: no positions from then on`;
  }
  if (s.firstMs === null || s.lastMs === null) return p;
  p.availability = `${iso(s.firstMs)}/${iso(s.lastMs)}`;
  p.position = { epoch: iso(s.firstMs), referenceFrame: 'FIXED', ...CZML_INTERPOLATION, cartesian: s.cartesian };
  p.point = { pixelSize: 5, color: { rgba: [255, 255, 255, 255] } };
  p.label = { text: name, font: '11pt sans-serif', pixelOffset: { cartesian2: [8, 0] }, horizontalOrigin: 'LEFT' };
  return p;
}
