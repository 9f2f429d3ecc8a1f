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
import { TimeSlicer } from '../runtime/time-slice.js';
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
  /** Epoch, ms since the Unix epoch; mean motion, rev/day; eccentricity (float8 all: three numbers a row, nothing to parse). */
  epoch_ms: number;
  n: number | null;
  e: number | null;
}

/** A number, or NULL when the text is not one (a row from a foreign writer must not fail the whole query). */
const NUM = `'^\\s*[-+]?[0-9]*\\.?[0-9]+([eE][-+]?[0-9]+)?\\s*$'`;
const num = (text: string) => `CASE WHEN ${text} ~ ${NUM} THEN (${text})::float8 END`;

/**
 * Mean motion and eccentricity of a stored row, in the query: OMM fields, or
 * TLE line 2 columns 53–63 and 27–33 (eccentricity with an assumed leading
 * decimal point; the NORAD two-line format as CelesTrak documents it).
 */
const ELEMENT_AGE_SQL = `
  SELECT DISTINCT ON (e.norad_id) (extract(epoch FROM e.epoch) * 1000)::float8 AS epoch_ms,
         CASE WHEN e.format = 'tle' THEN ${num('substr(e.tle_line2, 53, 11)')} ELSE ${num("(e.omm->>'MEAN_MOTION')")} END AS n,
         CASE WHEN e.format = 'tle' THEN ${num("('0.' || substr(e.tle_line2, 27, 7))")} ELSE ${num("(e.omm->>'ECCENTRICITY')")} END AS e
    FROM element_sets e JOIN catalog_objects c ON c.norad_id = e.norad_id
   WHERE c.status = 'active'
   ORDER BY e.norad_id, e.epoch DESC`;

/** Summary of (epoch, elements) pairs at `nowMs`; exported for tests and other readers. */
export function summariseElementAge(items: ReadonlyArray<{ epochMs: number; eccentricity: number; meanMotionRevPerDay: number }>, nowMs: number, limits: QaLimits = DEFAULT_QA_LIMITS): CatalogElementAge {
  const steps = summarySteps(items.length, (i) => items[i]!, nowMs, limits);
  let r = steps.next();
  while (!r.done) r = steps.next();
  return r.value;
}

/** The summary as steps of about a thousand objects each (a reader in a service yields to the loop between them). */
function* summarySteps(
  count: number,
  itemOf: (i: number) => { epochMs: number; eccentricity: number; meanMotionRevPerDay: number },
  nowMs: number,
  limits: QaLimits,
): Generator<void, CatalogElementAge, void> {
  const byRegime = Object.fromEntries(ORBIT_REGIMES.map((k) => [k, { objects: 0, expired: 0, maxAgeDays: limits.maxElementAgeDays[k] }])) as CatalogElementAge['byRegime'];
  const epochs = new Float64Array(count);
  let expired = 0;
  for (let i = 0; i < count; i++) {
    const { epochMs, eccentricity: e, meanMotionRevPerDay: mm } = itemOf(i);
    epochs[i] = epochMs;
    const reg = byRegime[orbitRegime(e, mm)];
    reg.objects++;
    if (Math.abs(nowMs - epochMs) > maxElementAgeDays(e, mm, limits) * DAY_MS) {
      reg.expired++;
      expired++;
    }
    if (i % 1024 === 1023) yield;
  }
  // A typed-array sort of 100k doubles is a few milliseconds.
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

/**
 * The element age of the active catalog now, from the database. The rows
 * are summarised in slices with a loop turn between them: a gateway answers
 * requests meanwhile.
 */
export async function readCatalogElementAge(db: Queryable, nowMs: number, limits: QaLimits = DEFAULT_QA_LIMITS): Promise<CatalogElementAge> {
  const r = await db.query<Row>(ELEMENT_AGE_SQL);
  const rows = r.rows;
  const steps = summarySteps(
    rows.length,
    (i) => {
      const row = rows[i]!;
      return { epochMs: Number(row.epoch_ms), eccentricity: row.e === null ? NaN : Number(row.e), meanMotionRevPerDay: row.n === null ? NaN : Number(row.n) };
    },
    nowMs,
    limits,
  );
  const slicer = new TimeSlicer(5);
  let s = steps.next();
  while (!s.done) {
    if (slicer.due()) await slicer.pause();
    s = steps.next();
  }
  return s.value;
}
