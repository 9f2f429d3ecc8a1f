/**
 * QA/QC rules for tracker states, as pure functions returning flag bits.
 * Flags travel with the state; a state with any QA_NOT_GOOD bit (a physical
 * failure, or elements past their regime's age limit) is not published as
 * good. The spatial-consistency and staleness flags describe a state that is
 * physically possible but suspicious.
 */
import {
  S_ALT_KM,
  S_SPEED_KM_PER_S,
  S_VX_KM_PER_S,
  S_VY_KM_PER_S,
  S_VZ_KM_PER_S,
  S_X_KM,
  S_Y_KM,
  S_Z_KM,
  SGP4_OK,
} from './propagate.js';
import { QA_FLAG_TABLE } from '../../protocol/qa-flags.js';
import { DEFAULT_ELEMENT_MAX_AGE_DAYS, orbitRegime, type OrbitRegime } from './orbit-regime.js';

export const QA_SGP4_ERROR = 1 << 0;
export const QA_DECAYED = 1 << 1;
export const QA_ALTITUDE_LOW = 1 << 2;
export const QA_ALTITUDE_HIGH = 1 << 3;
export const QA_ECCENTRICITY = 1 << 4;
export const QA_MEAN_MOTION = 1 << 5;
export const QA_VIS_VIVA = 1 << 6;
export const QA_DISPLACEMENT = 1 << 7;
export const QA_SWITCH_JUMP = 1 << 8;
export const QA_STALE_EPOCH = 1 << 9;
/** Elements older than their orbit regime's limit (QaLimits.maxElementAgeDays): the position may be far off. */
export const QA_ELEMENTS_EXPIRED = 1 << 10;
/** The highest bit in use: tables sized by bit count (tracker-table.ts QA_BITS) and name lists end here. */
export const QA_LAST_BIT = QA_ELEMENTS_EXPIRED;

/** Bit value → name, from the protocol's table (protocol/qa-flags.ts), the one place the names are defined. */
export const QA_FLAG_NAMES: Readonly<Record<number, string>> = Object.fromEntries(QA_FLAG_TABLE.map((f) => [1 << f.bit, f.name]));

/** Flags meaning the state itself is not physically credible: never published as good. */
export const QA_PHYSICAL_FAILURE =
  QA_SGP4_ERROR | QA_DECAYED | QA_ALTITUDE_LOW | QA_ALTITUDE_HIGH | QA_ECCENTRICITY | QA_MEAN_MOTION | QA_VIS_VIVA;

export function isPhysicalFailure(flags: number): boolean {
  return (flags & QA_PHYSICAL_FAILURE) !== 0;
}

/**
 * Flags that keep a state from being good: a physical failure, or elements
 * too old for their orbit (a credible orbit, but not where the object is).
 */
export const QA_NOT_GOOD = QA_PHYSICAL_FAILURE | QA_ELEMENTS_EXPIRED;

/** The one definition of a good state (frames, REST, the dashboard). */
export function isGood(flags: number): boolean {
  return (flags & QA_NOT_GOOD) === 0;
}

export function qaFlagNames(flags: number): string[] {
  const out: string[] = [];
  for (let bit = 1; bit <= QA_LAST_BIT; bit <<= 1) if (flags & bit) out.push(QA_FLAG_NAMES[bit]!);
  return out;
}

/** SGP4's gravitational parameter (WGS-72), km³/s², matching the propagator's own constants. */
export const MU_WGS72_KM3_PER_S2 = 398600.8;

export interface QaLimits {
  /** Below this the object is re-entering; 80 km is about where drag ends an orbit within minutes. */
  readonly minAltitudeKm: number;
  /** Beyond about 1.3 lunar distances an "Earth orbit" is nonsense. */
  readonly maxAltitudeKm: number;
  readonly minMeanMotionRevPerDay: number;
  /** An orbit skimming the surface makes ≈ 17.1 rev/day. */
  readonly maxMeanMotionRevPerDay: number;
  /**
   * Allowed |v − v_visviva| / v_visviva. SGP4 speeds are osculating and the
   * element set's a is a mean (Brouwer) value, so J2 short-period terms alone
   * move the ratio by ~1e-3 in LEO; 1 % leaves room for that and for drag.
   */
  readonly visVivaRelTol: number;
  /** Allowed miss between a second-order prediction from the previous state and the new one, km. */
  readonly displacementTolKm: number;
  /** Above this gap the second-order prediction is not meaningful and the rule is not applied, s. */
  readonly displacementMaxGapS: number;
  /** Element-set switch-over position jump that gets flagged, km. */
  readonly switchJumpKm: number;
  /** Element-set age that gets flagged, days. */
  readonly staleDays: number;
  /** Element-set age past which states are not good, days, by orbit regime (orbit-regime.ts). */
  readonly maxElementAgeDays: Readonly<Record<OrbitRegime, number>>;
}

export const DEFAULT_QA_LIMITS: QaLimits = {
  minAltitudeKm: 80,
  maxAltitudeKm: 500_000,
  minMeanMotionRevPerDay: 0.025,
  maxMeanMotionRevPerDay: 17.5,
  visVivaRelTol: 0.01,
  displacementTolKm: 0.05,
  displacementMaxGapS: 10,
  switchJumpKm: 25,
  staleDays: 14,
  maxElementAgeDays: DEFAULT_ELEMENT_MAX_AGE_DAYS,
};

/** SGP4 error code → flags; code 6 is SGP4's own decay verdict. */
export function sgp4ErrorFlags(code: number): number {
  if (code === SGP4_OK) return 0;
  return code === 6 ? QA_SGP4_ERROR | QA_DECAYED : QA_SGP4_ERROR;
}

/**
 * satellite.js's community check (checkForDecay: tempa ≤ 0 after the last
 * propagation) catches long-decayed objects SGP4 still propagates to garbage.
 */
export function decayFlags(sgp4Code: number, communityDecayed: boolean): number {
  return sgp4Code === 6 || communityDecayed ? QA_DECAYED : 0;
}

export function altitudeFlags(altitudeKm: number, limits: QaLimits = DEFAULT_QA_LIMITS): number {
  if (!(altitudeKm >= limits.minAltitudeKm)) return QA_ALTITUDE_LOW; // NaN lands here too
  if (altitudeKm > limits.maxAltitudeKm) return QA_ALTITUDE_HIGH;
  return 0;
}

export function elementFlags(eccentricity: number, meanMotionRevPerDay: number, limits: QaLimits = DEFAULT_QA_LIMITS): number {
  let f = 0;
  if (!(eccentricity >= 0 && eccentricity < 1)) f |= QA_ECCENTRICITY;
  if (!(meanMotionRevPerDay >= limits.minMeanMotionRevPerDay && meanMotionRevPerDay <= limits.maxMeanMotionRevPerDay)) f |= QA_MEAN_MOTION;
  return f;
}

/** Vis-viva speed for radius r and semi-major axis a: v² = μ (2/r − 1/a); NaN when no bound orbit passes r. */
export function visVivaSpeedKmPerS(rKm: number, aKm: number, mu = MU_WGS72_KM3_PER_S2): number {
  const v2 = mu * (2 / rKm - 1 / aKm);
  return v2 > 0 ? Math.sqrt(v2) : NaN;
}

export function visVivaFlags(rKm: number, speedKmPerS: number, aKm: number, limits: QaLimits = DEFAULT_QA_LIMITS): number {
  const v = visVivaSpeedKmPerS(rKm, aKm);
  if (!(Math.abs(speedKmPerS - v) <= limits.visVivaRelTol * v)) return QA_VIS_VIVA;
  return 0;
}

/**
 * Miss distance between the state at `cur[co..]` and the prediction from the
 * previous state `prev[po..]` dt seconds earlier: r0 + v0 dt − ½ μ r0/|r0|³ dt².
 * The two-body term keeps the residual to jerk and J2 (metres at dt ≤ 10 s),
 * so the tolerance can be tight. Arrays use the propagate.ts state layout.
 */
export function displacementMissKm(prev: Float64Array, po: number, cur: Float64Array, co: number, dtS: number): number {
  const x = prev[po + S_X_KM]!;
  const y = prev[po + S_Y_KM]!;
  const z = prev[po + S_Z_KM]!;
  const r = Math.sqrt(x * x + y * y + z * z);
  const k = (-0.5 * MU_WGS72_KM3_PER_S2 * dtS * dtS) / (r * r * r);
  const dx = cur[co + S_X_KM]! - (x + prev[po + S_VX_KM_PER_S]! * dtS + k * x);
  const dy = cur[co + S_Y_KM]! - (y + prev[po + S_VY_KM_PER_S]! * dtS + k * y);
  const dz = cur[co + S_Z_KM]! - (z + prev[po + S_VZ_KM_PER_S]! * dtS + k * z);
  return Math.sqrt(dx * dx + dy * dy + dz * dz);
}

export function displacementFlags(prev: Float64Array, po: number, cur: Float64Array, co: number, dtS: number, limits: QaLimits = DEFAULT_QA_LIMITS): number {
  if (!(dtS > 0) || dtS > limits.displacementMaxGapS) return 0;
  return displacementMissKm(prev, po, cur, co, dtS) <= limits.displacementTolKm ? 0 : QA_DISPLACEMENT;
}

/** Position jump between the old and new element set's states at the same instant, km. */
export function switchJumpKm(oldState: Float64Array, oo: number, newState: Float64Array, no: number): number {
  const dx = newState[no + S_X_KM]! - oldState[oo + S_X_KM]!;
  const dy = newState[no + S_Y_KM]! - oldState[oo + S_Y_KM]!;
  const dz = newState[no + S_Z_KM]! - oldState[oo + S_Z_KM]!;
  return Math.sqrt(dx * dx + dy * dy + dz * dz);
}

export function switchJumpFlags(jumpKm: number, limits: QaLimits = DEFAULT_QA_LIMITS): number {
  return jumpKm > limits.switchJumpKm ? QA_SWITCH_JUMP : 0;
}

export function staleFlags(epochMs: number, tMs: number, limits: QaLimits = DEFAULT_QA_LIMITS): number {
  return tMs - epochMs > limits.staleDays * 86_400_000 ? QA_STALE_EPOCH : 0;
}

/** Days an element set of this orbit may be propagated before its states are not good. */
export function maxElementAgeDays(eccentricity: number, meanMotionRevPerDay: number, limits: QaLimits = DEFAULT_QA_LIMITS): number {
  return limits.maxElementAgeDays[orbitRegime(eccentricity, meanMotionRevPerDay)];
}

/**
 * QA_ELEMENTS_EXPIRED when `tMs` is more than the regime's limit away from
 * the epoch, either way: propagating far backwards is as unreliable.
 */
export function expiredFlags(el: Pick<QaElementInfo, 'eccentricity' | 'meanMotionRevPerDay' | 'epochMs'>, tMs: number, limits: QaLimits = DEFAULT_QA_LIMITS): number {
  return Math.abs(tMs - el.epochMs) > maxElementAgeDays(el.eccentricity, el.meanMotionRevPerDay, limits) * 86_400_000 ? QA_ELEMENTS_EXPIRED : 0;
}

/** What the per-tick rules need to know about an object's element set, precomputed once per switch-over. */
export interface QaElementInfo {
  readonly eccentricity: number;
  readonly meanMotionRevPerDay: number;
  /** SGP4 mean semi-major axis, km (element-set.ts sgp4SemiMajorAxisKm). */
  readonly semiMajorAxisKm: number;
  readonly epochMs: number;
}

/**
 * All per-tick rules for one slot (switch-over is evaluated at switch time by
 * the owner, who ORs switchJumpFlags into the next state). `prev` may be
 * undefined on the first tick after a (re)start.
 */
export function evaluateTick(
  state: Float64Array,
  o: number,
  sgp4Code: number,
  communityDecayed: boolean,
  el: QaElementInfo,
  tMs: number,
  prev: Float64Array | undefined,
  po: number,
  prevTMs: number,
  limits: QaLimits = DEFAULT_QA_LIMITS,
): number {
  let f = elementFlags(el.eccentricity, el.meanMotionRevPerDay, limits) | staleFlags(el.epochMs, tMs, limits) | expiredFlags(el, tMs, limits);
  if (sgp4Code !== SGP4_OK) return f | sgp4ErrorFlags(sgp4Code);
  f |= decayFlags(sgp4Code, communityDecayed);
  f |= altitudeFlags(state[o + S_ALT_KM]!, limits);
  const x = state[o + S_X_KM]!;
  const y = state[o + S_Y_KM]!;
  const z = state[o + S_Z_KM]!;
  f |= visVivaFlags(Math.sqrt(x * x + y * y + z * z), state[o + S_SPEED_KM_PER_S]!, el.semiMajorAxisKm, limits);
  if (prev !== undefined) f |= displacementFlags(prev, po, state, o, (tMs - prevTMs) / 1000, limits);
  return f;
}
