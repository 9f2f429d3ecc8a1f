/**
 * Orbit regimes from an element set's mean motion and eccentricity, and how
 * old an element set of each regime may be before its SGP4 states are no
 * longer good enough to publish as good.
 *
 * Regimes follow Space-Track's orbit-type definitions (space-track.org,
 * "SATCAT / GP query" help): HEO e > 0.25; LEO mean motion > 11.25 rev/day
 * (period < 128 min); GEO mean motion 0.99..1.01 rev/day with e < 0.01.
 * Space-Track leaves gaps between its classes (e.g. GTO-like e < 0.25
 * orbits, GEO with a drift or inclination outside that band); here every
 * orbit gets one regime: near-geosynchronous (0.9..1.1 rev/day, e < 0.25,
 * which includes drifting GEO and the graveyard belt) is GEO, the rest is MEO.
 */
export type OrbitRegime = 'leo' | 'meo' | 'geo' | 'heo';

export const ORBIT_REGIMES: readonly OrbitRegime[] = ['leo', 'meo', 'geo', 'heo'];

export function orbitRegime(eccentricity: number, meanMotionRevPerDay: number): OrbitRegime {
  if (eccentricity > 0.25) return 'heo';
  if (meanMotionRevPerDay > 11.25) return 'leo';
  if (meanMotionRevPerDay >= 0.9 && meanMotionRevPerDay <= 1.1) return 'geo';
  return 'meo';
}

/**
 * Default element-set age limits, days. Published figures for TLE/SGP4
 * accuracy: about 1 km at epoch, with errors growing by about 1–3 km a day
 * in LEO, mostly along track (as widely quoted from Vallado & Cefola,
 * "Two-line element sets – practice and use", IAC-12.C1.6.12, 2012; the
 * figures were not re-read from the paper for this), and faster than linearly once
 * drag mis-modelling dominates; drag-free orbits degrade far more slowly,
 * with GEO TLE errors of a few km changing over weeks rather than days
 * (Flohrer, Krag & Klinkrad, "Assessment and categorization of TLE orbit
 * errors for the US SSN catalogue", AMOS 2008). The limits aim at errors of
 * the order of 100 km, the point where a map position and a pass time (a
 * LEO object covers 100 km in ~13 s) stop meaning anything:
 *  - LEO 30 d: 30–90 km from the linear rate alone, more with drag;
 *  - HEO 30 d: perigees in the upper atmosphere, and along-track errors
 *    grow like LEO's near perigee;
 *  - MEO 60 d: no drag (GNSS, 12 h orbits); slower, luni-solar growth;
 *  - GEO 90 d: slowest growth, but station-keeping manoeuvres every few
 *    weeks that old elements do not know about.
 * The 14-day `stale_epoch` flag (qa.ts) stays the earlier, softer warning.
 */
export const DEFAULT_ELEMENT_MAX_AGE_DAYS: Readonly<Record<OrbitRegime, number>> = { leo: 30, meo: 60, geo: 90, heo: 30 };
