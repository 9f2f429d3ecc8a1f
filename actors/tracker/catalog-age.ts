/**
 * The age of the active catalog's ELEMENTS (not of its load): for every
 * active object, the epoch of its newest element set, summarised as the
 * newest, median and oldest epoch and their ages, and how many objects are
 * past their orbit regime's age limit (the tracker publishes those states as
 * not good: qa.ts QA_ELEMENTS_EXPIRED). /health, /ingest/status and the
 * start banner report it; a catalog loaded 14 minutes ago from a months-old
 * snapshot is months old here.
 *
 * One query of one row per active object (15k for CelesTrak's active
 * group): askers that poll cache it (actors/gateway/catalog-age.ts).
 */
import type { Queryable } from '../storage/db.js';
import { maxElementAgeDays, DEFAULT_QA_LIMITS, type QaLimits } from './qa.js';
import { orbitRegime, ORBIT_REGIMES, type OrbitRegime } from './orbit-regime.js';

export interface CatalogElementAge {
  /** When the ages were computed. */
  at: string;
  /** Active objects with an element set. */
  objects: number;
  newestEpoch: string | null;
  /** Median epoch (the mean of the two middle ones for an even count). */
  medianEpoch: string | null;
  oldestEpoch: string | null;
  /** Age of the median epoch at `at`, days (negative for an epoch in the future). */
  medianAgeDays: number | null;
  /** Age of the oldest epoch, days. */
  maxAgeDays: number | null;
  /** Objects whose elements are past their regime's limit at `at` (their states are not good). */
  expired: number;
  /** The same, by orbit regime, with the limit that applied. */
  byRegime: Record<OrbitRegime, { objects: number; expired: number; maxAgeDays: number }>;
}

const DAY_MS = 86_400_000;

interface Row {
  epoch: Date;
  format: 'omm' | 'tle';
  n_tle: string | null;
  e_tle: string | null;
  n_omm: string | null;
  e_omm: string | null;
}

/**
 * Mean motion and eccentricity of a stored row: OMM fields, or TLE line 2
 * columns 53–63 and 27–33 (eccentricity with an assumed leading decimal point;
 * the NORAD two-line format as CelesTrak documents it). NaN when unreadable.
 */
function elementsOf(r: Row): { n: number; e: number } {
  if (r.format === 'tle') return { n: Number(r.n_tle ?? NaN), e: Number(`0.${(r.e_tle ?? '').trim()}`) };
  return { n: Number(r.n_omm ?? NaN), e: Number(r.e_omm ?? NaN) };
}

/** Summary of (epoch, elements) pairs at `nowMs`; exported for tests and other readers. */
export function summariseElementAge(items: ReadonlyArray<{ epochMs: number; eccentricity: number; meanMotionRevPerDay: number }>, nowMs: number, limits: QaLimits = DEFAULT_QA_LIMITS): CatalogElementAge {
  const byRegime = Object.fromEntries(ORBIT_REGIMES.map((k) => [k, { objects: 0, expired: 0, maxAgeDays: limits.maxElementAgeDays[k] }])) as CatalogElementAge['byRegime'];
  const epochs = new Float64Array(items.length);
  let expired = 0;
  items.forEach((it, i) => {
    epochs[i] = it.epochMs;
    const reg = byRegime[orbitRegime(it.eccentricity, it.meanMotionRevPerDay)];
    reg.objects++;
    if (Math.abs(nowMs - it.epochMs) > maxElementAgeDays(it.eccentricity, it.meanMotionRevPerDay, limits) * DAY_MS) {
      reg.expired++;
      expired++;
    }
  });
  epochs.sort();
  const n = epochs.length;
  const iso = (ms: number) => new Date(Math.round(ms)).toISOString();
  const ageDays = (ms: number) => Math.round(((nowMs - ms) / DAY_MS) * 100) / 100;
  const median = n === 0 ? NaN : n % 2 === 1 ? epochs[(n - 1) / 2]! : (epochs[n / 2 - 1]! + epochs[n / 2]!) / 2;
  return {
    at: iso(nowMs),
    objects: n,
    newestEpoch: n ? iso(epochs[n - 1]!) : null,
    medianEpoch: n ? iso(median) : null,
    oldestEpoch: n ? iso(epochs[0]!) : null,
    medianAgeDays: n ? ageDays(median) : null,
    maxAgeDays: n ? ageDays(epochs[0]!) : null,
    expired,
    byRegime,
  };
}

/** The element age of the active catalog now, from the database. */
export async function readCatalogElementAge(db: Queryable, nowMs: number, limits: QaLimits = DEFAULT_QA_LIMITS): Promise<CatalogElementAge> {
  const r = await db.query<Row>(
    `SELECT DISTINCT ON (e.norad_id) e.epoch, e.format,
            substr(e.tle_line2, 53, 11) AS n_tle, substr(e.tle_line2, 27, 7) AS e_tle,
            e.omm->>'MEAN_MOTION' AS n_omm, e.omm->>'ECCENTRICITY' AS e_omm
       FROM element_sets e JOIN catalog_objects c ON c.norad_id = e.norad_id
      WHERE c.status = 'active'
      ORDER BY e.norad_id, e.epoch DESC`,
  );
  const items = r.rows.map((row) => {
    const { n, e } = elementsOf(row);
    return { epochMs: new Date(row.epoch).getTime(), eccentricity: e, meanMotionRevPerDay: n };
  });
  return summariseElementAge(items, nowMs, limits);
}
