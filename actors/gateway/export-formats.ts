/**
 * A stored element set (actors/storage/element-sets.ts) written out in the
 * bulk formats the field uses, for the gateway's /catalog.{json,csv,tle,3le}
 * exports (exports.ts): CelesTrak's OMM JSON and CSV, TLE and 3LE.
 *
 * - OMM JSON and CSV use CelesTrak's GP keys and column order
 *   (ommToJson, CELESTRAK_CSV_COLUMNS), the same keys the ingest reads, so an
 *   export loads back through our own parser (actors/ingest/catalog-parse.ts)
 *   and through satellite.js json2satrec. A set stored as a TLE is turned
 *   into the OMM of the same element values; MEAN_MOTION_DOT and
 *   MEAN_MOTION_DDOT are the TLE's fields as printed (ṅ/2, n̈/6), which is
 *   how CelesTrak publishes them and how json2satrec and twoline2satrec
 *   both read them.
 * - TLE lines: a set stored as a TLE is written as stored (it passed the
 *   column and checksum checks on ingest). A set stored as an OMM is written
 *   in the NORAD two-line format (columns as in CelesTrak's "NORAD Two-Line
 *   Element Set Format", T.S. Kelso; checksum modulo 10 over columns 1-68),
 *   rounded to the TLE's fixed decimals. An OMM whose catalog number is above
 *   99999 has no TLE (five columns; such objects are published as OMM only,
 *   CelesTrak "A New Way to Obtain GP Data"), nor has a value the fixed
 *   columns cannot hold: those are skipped with a reason, never written
 *   wrongly.
 * - 3LE: Space-Track's three-line form, the name line prefixed "0 ".
 */
import type { ElementSet as StoredElementSet } from '../storage/element-sets.js';
import { ommToJson, validateOmm, type CelestrakOmmJson, type OmmRecord } from '../tracker/omm.js';
import { parseTle, tleChecksum, type TleRecord } from '../tracker/tle.js';
import { designatorFromTle } from '../ingest/catalog-parse.js';

export type Converted<T> = { ok: true; value: T } | { ok: false; reason: string };

/** CelesTrak's OMM CSV header, in its order (the GP API's FORMAT=csv; the same keys as its JSON). */
export const CELESTRAK_CSV_COLUMNS: readonly (keyof CelestrakOmmJson)[] = [
  'OBJECT_NAME',
  'OBJECT_ID',
  'EPOCH',
  'MEAN_MOTION',
  'ECCENTRICITY',
  'INCLINATION',
  'RA_OF_ASC_NODE',
  'ARG_OF_PERICENTER',
  'MEAN_ANOMALY',
  'EPHEMERIS_TYPE',
  'CLASSIFICATION_TYPE',
  'NORAD_CAT_ID',
  'ELEMENT_SET_NO',
  'REV_AT_EPOCH',
  'BSTAR',
  'MEAN_MOTION_DOT',
  'MEAN_MOTION_DDOT',
];

/** The highest catalog number the five TLE columns hold as digits. */
export const MAX_TLE_DIGITS_ID = 99_999;

/** An instant as CelesTrak prints OMM EPOCH: UTC, no zone letter, microseconds. */
export function ommEpochString(epochMs: number): string {
  const micros = Math.round(epochMs * 1000);
  const seconds = Math.floor(micros / 1_000_000);
  const frac = micros - seconds * 1_000_000;
  return `${new Date(seconds * 1000).toISOString().slice(0, 19)}.${String(frac).padStart(6, '0')}`;
}

/** A parsed TLE as CelesTrak's OMM JSON (the name is the catalog's). */
export function ommFromTleRecord(t: TleRecord, name: string): CelestrakOmmJson {
  return {
    OBJECT_NAME: name,
    OBJECT_ID: designatorFromTle(t.intlDesignator) ?? '',
    EPOCH: ommEpochString(t.epochMs),
    MEAN_MOTION: t.meanMotionRevPerDay,
    ECCENTRICITY: t.eccentricity,
    INCLINATION: t.inclinationDeg,
    RA_OF_ASC_NODE: t.raanDeg,
    ARG_OF_PERICENTER: t.argpDeg,
    MEAN_ANOMALY: t.meanAnomalyDeg,
    EPHEMERIS_TYPE: t.ephemerisType,
    CLASSIFICATION_TYPE: t.classification,
    NORAD_CAT_ID: t.noradId,
    ELEMENT_SET_NO: t.elementSetNo,
    REV_AT_EPOCH: t.revNumber,
    BSTAR: t.bstar,
    MEAN_MOTION_DOT: t.ndotRevPerDay2,
    MEAN_MOTION_DDOT: t.nddotRevPerDay3,
  };
}

/** A stored element set as CelesTrak's OMM JSON. */
export function storedAsOmm(es: StoredElementSet, name: string): Converted<CelestrakOmmJson> {
  if (es.format === 'tle') {
    const p = parseTle(name, es.tleLine1 ?? '', es.tleLine2 ?? '');
    if (!p.ok) return { ok: false, reason: `stored TLE does not parse: ${p.rejection.reason}` };
    return { ok: true, value: ommFromTleRecord(p.value, name) };
  }
  const p = validateOmm(es.omm, 1);
  if (!p.ok) return { ok: false, reason: `stored OMM does not validate: ${p.rejection.reason}` };
  return { ok: true, value: { ...ommToJson(p.value), OBJECT_NAME: name } };
}

/** One CSV field (RFC 4180: quoted when it holds a comma, a quote or a line break; quotes doubled). */
export function csvField(v: string | number): string {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One CSV record in CELESTRAK_CSV_COLUMNS order, CRLF-terminated (RFC 4180 §2). */
export function ommCsvRow(o: CelestrakOmmJson): string {
  return CELESTRAK_CSV_COLUMNS.map((k) => csvField(o[k])).join(',') + '\r\n';
}

export const OMM_CSV_HEADER = CELESTRAK_CSV_COLUMNS.join(',') + '\r\n';

/** " .00016717": the first derivative field (columns 34-43), |v| < 1. */
function decimalField(v: number): string | undefined {
  const s = Math.abs(v).toFixed(8);
  if (!s.startsWith('0.')) return undefined;
  return (v < 0 && Number(s) !== 0 ? '-' : ' ') + s.slice(1);
}

/** " 10270-3" = 0.10270e-3: the "decimal point assumed" fields (columns 45-52, 54-61); exponent one digit. */
export function assumedDecimalField(v: number): string | undefined {
  if (!Number.isFinite(v)) return undefined;
  if (v === 0) return ' 00000+0';
  const a = Math.abs(v);
  let exp = Math.floor(Math.log10(a)) + 1;
  let mantissa = Math.round((a / 10 ** exp) * 1e5);
  if (mantissa >= 100_000) {
    mantissa = Math.round(mantissa / 10);
    exp += 1;
  }
  if (mantissa === 0) return ' 00000+0';
  if (exp < -9 || exp > 9) return undefined;
  return `${v < 0 ? '-' : ' '}${String(mantissa).padStart(5, '0')}${exp < 0 ? '-' : '+'}${Math.abs(exp)}`;
}

/** An angle in degrees as "ddd.dddd" right-aligned in 8 columns. */
function angleField(deg: number): string {
  return deg.toFixed(4).padStart(8, ' ');
}

/** "98067A  " (columns 10-17) from OMM's "1998-067A"; blank when there is none. */
function designatorField(objectId: string): string | undefined {
  if (objectId === '') return '        ';
  const m = /^(\d{4})-(\d{3})([A-Z]{1,3})$/.exec(objectId);
  if (!m) return undefined;
  return `${m[1]!.slice(2)}${m[2]}${m[3]}`.padEnd(8, ' ');
}

/**
 * The epoch as columns 19-32: two-digit year and day of year with 8
 * decimals (1e-8 day = 0.864 ms), counted in whole 1e-8 days so a day that
 * rounds up to the next year is carried into it.
 */
function epochField(epochMs: number): string | undefined {
  let year = new Date(Math.floor(epochMs)).getUTCFullYear();
  let units = Math.round((epochMs - Date.UTC(year, 0, 1)) / 0.864);
  const daysIn = (y: number) => (Date.UTC(y + 1, 0, 1) - Date.UTC(y, 0, 1)) / 86_400_000;
  if (units >= daysIn(year) * 1e8) {
    units -= daysIn(year) * 1e8;
    year += 1;
  }
  // Two-digit years: 57-99 are 19xx, 00-56 are 20xx (NORAD convention).
  if (year < 1957 || year > 2056) return undefined;
  const day = 1 + Math.floor(units / 1e8);
  const frac = units - (day - 1) * 1e8;
  return `${String(year % 100).padStart(2, '0')}${String(day).padStart(3, '0')}.${String(frac).padStart(8, '0')}`;
}

const withChecksum = (line68: string): string => line68 + String(tleChecksum(line68));

/** An OMM record in the NORAD two-line format, or why it cannot be one. */
export function tleLinesFromOmm(o: OmmRecord): Converted<{ line1: string; line2: string }> {
  if (o.noradId > MAX_TLE_DIGITS_ID) return { ok: false, reason: `catalog number ${o.noradId} is above ${MAX_TLE_DIGITS_ID}: published as OMM only, no TLE` };
  if (!['U', 'C', 'S'].includes(o.classification)) return { ok: false, reason: `classification ${JSON.stringify(o.classification)} is not U, C or S` };
  const cat = String(o.noradId).padStart(5, '0');
  const designator = designatorField(o.objectId);
  const epoch = epochField(o.epochMs);
  const ndot = decimalField(o.meanMotionDot);
  const nddot = assumedDecimalField(o.meanMotionDdot);
  const bstar = assumedDecimalField(o.bstar);
  const ecc = Math.round(o.eccentricity * 1e7);
  const n = o.meanMotionRevPerDay.toFixed(8).padStart(11, ' ');
  const missing = [
    [designator, 'OBJECT_ID'],
    [epoch, 'EPOCH'],
    [ndot, 'MEAN_MOTION_DOT'],
    [nddot, 'MEAN_MOTION_DDOT'],
    [bstar, 'BSTAR'],
  ].find(([v]) => v === undefined);
  if (missing) return { ok: false, reason: `${missing[1]} does not fit the TLE's columns` };
  if (ecc >= 1e7) return { ok: false, reason: 'ECCENTRICITY rounds to 1 in the TLE\'s 7 digits' };
  if (n.length !== 11) return { ok: false, reason: 'MEAN_MOTION does not fit the TLE\'s columns' };
  // Counters wrap in their columns: element set number in 4, revolution number in 5.
  const setNo = String(Math.trunc(o.elementSetNo) % 10_000).padStart(4, ' ');
  const rev = String(Math.trunc(o.revAtEpoch) % 100_000).padStart(5, ' ');
  const line1 = withChecksum(`1 ${cat}${o.classification} ${designator} ${epoch} ${ndot} ${nddot} ${bstar} 0 ${setNo}`);
  const line2 = withChecksum(
    `2 ${cat} ${angleField(o.inclinationDeg)} ${angleField(o.raanDeg)} ${String(ecc).padStart(7, '0')} ${angleField(o.argpDeg)} ${angleField(o.meanAnomalyDeg)} ${n}${rev}`,
  );
  return { ok: true, value: { line1, line2 } };
}

/** A stored element set as two TLE lines: stored TLEs as stored, OMMs written in the two-line format. */
export function storedAsTle(es: StoredElementSet): Converted<{ line1: string; line2: string }> {
  if (es.format === 'tle') {
    if (typeof es.tleLine1 !== 'string' || typeof es.tleLine2 !== 'string') return { ok: false, reason: 'stored TLE has no lines' };
    return { ok: true, value: { line1: es.tleLine1, line2: es.tleLine2 } };
  }
  const p = validateOmm(es.omm, 1);
  if (!p.ok) return { ok: false, reason: `stored OMM does not validate: ${p.rejection.reason}` };
  return tleLinesFromOmm(p.value);
}
