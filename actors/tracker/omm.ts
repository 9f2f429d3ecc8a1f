/**
 * CelesTrak OMM (CCSDS 502.0-B-3 Orbit Mean-Elements Message) in its JSON and
 * CSV encodings, validated field by field. Catalog numbers run to 9 digits:
 * objects numbered 100000 and above exist since July 2026 and are published
 * only as OMM (CelesTrak, "A New Way to Obtain GP Data"), so this is the only
 * path for ids above Alpha-5's 339999.
 */
import { reject, type Parsed, type Rejection } from './rejection.js';

export const MAX_NORAD_ID = 999_999_999;

/** The validated, normalized content of one OMM record (numbers are numbers). */
export interface OmmRecord {
  readonly noradId: number;
  readonly name: string;
  readonly objectId: string;
  /** EPOCH as given (UTC, no zone suffix in CelesTrak's output). */
  readonly epoch: string;
  /** Epoch in Unix ms; keeps sub-millisecond digits as a fraction. */
  readonly epochMs: number;
  readonly meanMotionRevPerDay: number;
  readonly eccentricity: number;
  readonly inclinationDeg: number;
  readonly raanDeg: number;
  readonly argpDeg: number;
  readonly meanAnomalyDeg: number;
  readonly bstar: number;
  readonly meanMotionDot: number;
  readonly meanMotionDdot: number;
  readonly classification: string;
  readonly elementSetNo: number;
  readonly revAtEpoch: number;
}

export interface OmmParseResult {
  readonly records: OmmRecord[];
  readonly rejects: Rejection[];
}

const REQUIRED = [
  'NORAD_CAT_ID',
  'EPOCH',
  'MEAN_MOTION',
  'ECCENTRICITY',
  'INCLINATION',
  'RA_OF_ASC_NODE',
  'ARG_OF_PERICENTER',
  'MEAN_ANOMALY',
  'BSTAR',
  'MEAN_MOTION_DOT',
  'MEAN_MOTION_DDOT',
] as const;

/**
 * Mean motion ceiling: an orbit grazing the surface has about 17.1 rev/day
 * (period ≈ 84.4 min); anything above 20 is not an Earth orbit SGP4 can model.
 */
export const OMM_MAX_MEAN_MOTION_REV_PER_DAY = 20;

const NUMERIC = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const EPOCH_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?Z?$/;

/** Numbers may arrive as JSON numbers (CelesTrak) or numeric strings (Space-Track, CSV). */
function num(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && NUMERIC.test(v.trim())) return Number(v.trim());
  return undefined;
}

/** Parses an OMM EPOCH to Unix ms; NaN unless it is a real calendar instant. */
export function parseOmmEpoch(epoch: string): number {
  const m = EPOCH_RE.exec(epoch);
  if (!m) return NaN;
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number];
  if (y < 1957 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return NaN;
  const base = Date.UTC(y, mo - 1, d, h, mi, s);
  if (new Date(base).getUTCDate() !== d) return NaN; // 2026-02-30 rolls over: not a date
  return base + (m[7] ? Number(m[7]) * 1000 : 0);
}

/** Validates one decoded OMM object. `line` is its 1-based position for the report. */
export function validateOmm(obj: unknown, line: number): Parsed<OmmRecord> {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    return reject('OMM_NOT_OBJECT', `record is ${Array.isArray(obj) ? 'an array' : typeof obj}, expected an object`, line);
  }
  const o = obj as Record<string, unknown>;
  for (const k of REQUIRED) {
    if (o[k] === undefined || o[k] === null || o[k] === '') return reject('OMM_MISSING_FIELD', `required field ${k} is missing`, line);
  }
  const idNum = num(o.NORAD_CAT_ID);
  if (idNum === undefined || !Number.isInteger(idNum) || idNum < 1 || idNum > MAX_NORAD_ID) {
    return reject('OMM_CATNUM', `NORAD_CAT_ID ${JSON.stringify(o.NORAD_CAT_ID)} is not an integer in 1..${MAX_NORAD_ID}`, line);
  }
  const noradId = idNum;
  // Only SGP4 mean elements in TEME about the Earth can be propagated here.
  const eph = o.EPHEMERIS_TYPE;
  if (eph !== undefined && eph !== null && num(eph) !== 0) {
    return reject('OMM_UNSUPPORTED', `EPHEMERIS_TYPE ${JSON.stringify(eph)} is not 0 (SGP4)`, line, noradId);
  }
  const fixed: [string, string][] = [
    ['CENTER_NAME', 'EARTH'],
    ['REF_FRAME', 'TEME'],
    ['TIME_SYSTEM', 'UTC'],
    ['MEAN_ELEMENT_THEORY', 'SGP4'],
  ];
  for (const [k, want] of fixed) {
    const v = o[k];
    if (v !== undefined && v !== null && String(v).toUpperCase() !== want) {
      return reject('OMM_UNSUPPORTED', `${k} ${JSON.stringify(v)} is not ${want}`, line, noradId);
    }
  }
  const numbers: Record<string, number> = {};
  for (const k of REQUIRED) {
    if (k === 'EPOCH' || k === 'NORAD_CAT_ID') continue;
    const v = num(o[k]);
    if (v === undefined) return reject('OMM_TYPE', `${k} ${JSON.stringify(o[k])} is not a finite number`, line, noradId);
    numbers[k] = v;
  }
  const n = numbers.MEAN_MOTION!;
  if (!(n > 0 && n <= OMM_MAX_MEAN_MOTION_REV_PER_DAY)) {
    return reject('OMM_RANGE', `MEAN_MOTION ${n} rev/day is outside (0, ${OMM_MAX_MEAN_MOTION_REV_PER_DAY}]`, line, noradId);
  }
  const e = numbers.ECCENTRICITY!;
  if (!(e >= 0 && e < 1)) return reject('OMM_RANGE', `ECCENTRICITY ${e} is outside [0, 1)`, line, noradId);
  const angles: [string, number][] = [
    ['INCLINATION', 180],
    ['RA_OF_ASC_NODE', 360],
    ['ARG_OF_PERICENTER', 360],
    ['MEAN_ANOMALY', 360],
  ];
  for (const [k, hi] of angles) {
    const v = numbers[k]!;
    if (!(v >= 0 && v <= hi)) return reject('OMM_RANGE', `${k} ${v} deg is outside 0..${hi}`, line, noradId);
  }
  if (typeof o.EPOCH !== 'string') return reject('OMM_EPOCH', `EPOCH ${JSON.stringify(o.EPOCH)} is not a string`, line, noradId);
  const epochMs = parseOmmEpoch(o.EPOCH);
  if (!Number.isFinite(epochMs)) {
    return reject('OMM_EPOCH', `EPOCH ${JSON.stringify(o.EPOCH)} is not an ISO 8601 UTC instant YYYY-MM-DDThh:mm:ss[.f]`, line, noradId);
  }
  return {
    ok: true,
    value: {
      noradId,
      name: typeof o.OBJECT_NAME === 'string' ? o.OBJECT_NAME.trim() : '',
      objectId: typeof o.OBJECT_ID === 'string' ? o.OBJECT_ID.trim() : '',
      epoch: o.EPOCH,
      epochMs,
      meanMotionRevPerDay: n,
      eccentricity: e,
      inclinationDeg: numbers.INCLINATION!,
      raanDeg: numbers.RA_OF_ASC_NODE!,
      argpDeg: numbers.ARG_OF_PERICENTER!,
      meanAnomalyDeg: numbers.MEAN_ANOMALY!,
      bstar: numbers.BSTAR!,
      meanMotionDot: numbers.MEAN_MOTION_DOT!,
      meanMotionDdot: numbers.MEAN_MOTION_DDOT!,
      classification: typeof o.CLASSIFICATION_TYPE === 'string' ? o.CLASSIFICATION_TYPE : 'U',
      elementSetNo: num(o.ELEMENT_SET_NO) ?? 0,
      revAtEpoch: num(o.REV_AT_EPOCH) ?? 0,
    },
  };
}

/** Parses a CelesTrak OMM JSON document: an array of records (a single object is accepted too). */
export function parseOmmJson(text: string): OmmParseResult {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { records: [], rejects: [{ code: 'OMM_PARSE', reason: `not JSON: ${(err as Error).message}`, line: 0 }] };
  }
  return validateOmmArray(Array.isArray(doc) ? doc : [doc]);
}

export function validateOmmArray(items: readonly unknown[]): OmmParseResult {
  const records: OmmRecord[] = [];
  const rejects: Rejection[] = [];
  items.forEach((item, i) => {
    const r = validateOmm(item, i + 1);
    if (r.ok) records.push(r.value);
    else rejects.push(r.rejection);
  });
  return { records, rejects };
}

/** Splits one CSV line (RFC 4180 quoting; CelesTrak's CSV rarely quotes, but names may contain commas). */
function splitCsvLine(line: string): string[] | undefined {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"' && cur === '') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (quoted) return undefined;
  out.push(cur);
  return out;
}

/** One step of an OMM CSV parse: a record or a rejection with its 1-based line; null is progress without a result (blank lines). */
export type OmmCsvItem = { readonly line: number; readonly parsed: Parsed<OmmRecord> } | null;

/**
 * The CSV parse as a generator, one row per step, so a caller on a shared
 * event loop can yield between steps (catalog ingest runs it in time
 * slices). parseOmmCsv drains it. Rows are read one at a time from the text.
 */
export function* ommCsvItems(text: string): Generator<OmmCsvItem> {
  let pos = 0;
  let i = 0;
  const nextLine = (): string | undefined => {
    if (pos > text.length) return undefined;
    const nl = text.indexOf('\n', pos);
    const end = nl === -1 ? text.length : nl;
    const line = end > pos && text.charCodeAt(end - 1) === 13 ? text.slice(pos, end - 1) : text.slice(pos, end);
    pos = nl === -1 ? text.length + 1 : nl + 1;
    i++;
    return line;
  };
  const header = splitCsvLine(nextLine() ?? '');
  if (!header || !header.includes('NORAD_CAT_ID')) {
    yield { line: 1, parsed: { ok: false, rejection: { code: 'OMM_PARSE', reason: 'CSV header row with OMM keywords (NORAD_CAT_ID, ...) expected', line: 1 } } };
    return;
  }
  let blank = 0;
  for (let line = nextLine(); line !== undefined; line = nextLine()) {
    if (line.trim() === '') {
      if (++blank % 1024 === 0) yield null;
      continue;
    }
    const cells = splitCsvLine(line);
    if (!cells || cells.length !== header.length) {
      yield { line: i, parsed: { ok: false, rejection: { code: 'OMM_PARSE', reason: `row has ${cells ? cells.length : 'unterminated quoted'} cells, header has ${header.length}`, line: i } } };
      continue;
    }
    const obj: Record<string, string> = {};
    header.forEach((k, j) => {
      if (cells[j] !== '') obj[k.trim()] = cells[j]!;
    });
    yield { line: i, parsed: validateOmm(obj, i) };
  }
}

/** Parses CelesTrak's OMM CSV (header row of OMM keywords, one record per line). */
export function parseOmmCsv(text: string): OmmParseResult {
  const records: OmmRecord[] = [];
  const rejects: Rejection[] = [];
  for (const item of ommCsvItems(text)) {
    if (item === null) continue;
    if (item.parsed.ok) records.push(item.parsed.value);
    else rejects.push(item.parsed.rejection);
  }
  return { records, rejects };
}

/**
 * An OMM record as CelesTrak's JSON (the GP API's keys, numbers as numbers):
 * what json2satrec takes, and what is stored, so validateOmm reads it back
 * unchanged.
 */
export interface CelestrakOmmJson {
  OBJECT_NAME: string;
  OBJECT_ID: string;
  EPOCH: string;
  MEAN_MOTION: number;
  ECCENTRICITY: number;
  INCLINATION: number;
  RA_OF_ASC_NODE: number;
  ARG_OF_PERICENTER: number;
  MEAN_ANOMALY: number;
  EPHEMERIS_TYPE: number;
  CLASSIFICATION_TYPE: string;
  NORAD_CAT_ID: number;
  ELEMENT_SET_NO: number;
  REV_AT_EPOCH: number;
  BSTAR: number;
  MEAN_MOTION_DOT: number;
  MEAN_MOTION_DDOT: number;
}

export function ommToJson(o: OmmRecord): CelestrakOmmJson {
  return {
    OBJECT_NAME: o.name,
    OBJECT_ID: o.objectId,
    EPOCH: o.epoch,
    MEAN_MOTION: o.meanMotionRevPerDay,
    ECCENTRICITY: o.eccentricity,
    INCLINATION: o.inclinationDeg,
    RA_OF_ASC_NODE: o.raanDeg,
    ARG_OF_PERICENTER: o.argpDeg,
    MEAN_ANOMALY: o.meanAnomalyDeg,
    EPHEMERIS_TYPE: 0,
    CLASSIFICATION_TYPE: o.classification,
    NORAD_CAT_ID: o.noradId,
    ELEMENT_SET_NO: o.elementSetNo,
    REV_AT_EPOCH: o.revAtEpoch,
    BSTAR: o.bstar,
    MEAN_MOTION_DOT: o.meanMotionDot,
    MEAN_MOTION_DDOT: o.meanMotionDdot,
  };
}
