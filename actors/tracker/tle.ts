/**
 * TLE and 3LE parsing with validation. Column positions follow the NORAD
 * two-line element format as documented by CelesTrak ("NORAD Two-Line Element
 * Set Format", T.S. Kelso) and Space-Track; Alpha-5 catalog numbers follow
 * Space-Track's Alpha-5 scheme. A bad record yields a Rejection value, never an
 * exception, and a whole file always parses to { records, rejects }.
 */
import { reject, type Parsed, type Rejection } from './rejection.js';

export interface TleRecord {
  readonly name: string;
  readonly line1: string;
  /** Line 2 cut to its 69 standard columns. */
  readonly line2: string;
  readonly noradId: number;
  /** Catalog number as written in columns 3-7 (may be Alpha-5, e.g. "A0000"). */
  readonly catalogField: string;
  readonly classification: 'U' | 'C' | 'S';
  readonly intlDesignator: string;
  /** Four-digit year: two-digit years 57-99 are 19xx, 00-56 are 20xx (NORAD convention). */
  readonly epochYear: number;
  /** Day of year with fraction, 1.0 = 1 January 00:00 UTC. */
  readonly epochDay: number;
  readonly epochMs: number;
  /** First derivative of mean motion divided by two, rev/day². */
  readonly ndotRevPerDay2: number;
  /** Second derivative of mean motion divided by six, rev/day³. */
  readonly nddotRevPerDay3: number;
  /** B* drag term, 1/earth radii. */
  readonly bstar: number;
  readonly ephemerisType: number;
  readonly elementSetNo: number;
  readonly inclinationDeg: number;
  readonly raanDeg: number;
  readonly eccentricity: number;
  readonly argpDeg: number;
  readonly meanAnomalyDeg: number;
  readonly meanMotionRevPerDay: number;
  readonly revNumber: number;
  /** Characters after column 69 of line 2 (Vallado's verification files put start/stop/step there). */
  readonly extra: string;
}

export interface TleParseOptions {
  /**
   * Verification mode for Vallado's SGP4-VER.TLE: line 2 may carry extra
   * fields after column 69 and the historical test lines are not required to
   * carry valid checksums. Never used for catalog ingest.
   */
  readonly verification?: boolean;
}

export const TLE_LINE_LENGTH = 69;

/** Alpha-5 first letters; I and O are skipped to avoid confusion with 1 and 0. */
const ALPHA5_LETTERS = 'ABCDEFGHJKLMNPQRSTUVWXYZ';

/** Decodes a 5-character catalog field ("25544", "   42", "A0000" = 100000, "Z9999" = 339999); NaN when invalid. */
export function decodeCatalogNumber(field: string): number {
  if (field.length !== 5) return NaN;
  if (/^ *\d+$/.test(field)) return Number(field);
  if (/^[A-HJ-NP-Z]\d{4}$/.test(field)) return (ALPHA5_LETTERS.indexOf(field[0]!) + 10) * 10000 + Number(field.slice(1));
  return NaN;
}

/** Encodes a catalog number for TLE columns 3-7; undefined above 339999 (Alpha-5's limit: such objects exist only as OMM). */
export function encodeCatalogNumber(noradId: number): string | undefined {
  if (!Number.isInteger(noradId) || noradId < 0) return undefined;
  if (noradId < 100000) return String(noradId).padStart(5, '0');
  const lead = Math.floor(noradId / 10000) - 10;
  if (lead >= ALPHA5_LETTERS.length) return undefined;
  return ALPHA5_LETTERS[lead]! + String(noradId % 10000).padStart(4, '0');
}

/** Modulo-10 checksum of columns 1-68: digits count their value, '-' counts 1, everything else 0. */
export function tleChecksum(line: string): number {
  let sum = 0;
  const n = Math.min(line.length, 68);
  for (let i = 0; i < n; i++) {
    const c = line.charCodeAt(i);
    if (c >= 48 && c <= 57) sum += c - 48;
    else if (c === 45) sum += 1;
  }
  return sum % 10;
}

/** "Decimal point assumed" exponent field, e.g. " 28098-4" = 0.28098e-4, "-11606-4" = -0.11606e-4. */
function parseAssumedDecimal(field: string): number {
  const sign = field[0] === '-' ? -1 : 1;
  return sign * Number(`0.${field.slice(1, 6)}e${field.slice(6, 8)}`);
}

interface FieldSpec {
  readonly name: string;
  readonly start: number; // 0-based
  readonly end: number; // exclusive
  readonly pattern: RegExp;
}

// Fixed-width fields; the pattern fixes where a decimal point or sign may be.
const LINE1_FIELDS: readonly FieldSpec[] = [
  { name: 'classification', start: 7, end: 8, pattern: /^[UCS]$/ },
  { name: 'international designator', start: 9, end: 17, pattern: /^(?:\d{5}[A-Z ]{3}|\d{5}[A-Z]{1,3} *| {8})$/ },
  { name: 'epoch year', start: 18, end: 20, pattern: /^\d\d$/ },
  { name: 'epoch day', start: 20, end: 32, pattern: /^ *\d{1,3}\.\d{8}$/ },
  { name: 'mean motion first derivative', start: 33, end: 43, pattern: /^[ +-]\.\d{8}$/ },
  { name: 'mean motion second derivative', start: 44, end: 52, pattern: /^[ +-]\d{5}[+-]\d$/ },
  { name: 'bstar', start: 53, end: 61, pattern: /^[ +-]\d{5}[+-]\d$/ },
  { name: 'ephemeris type', start: 62, end: 63, pattern: /^[\d ]$/ },
  { name: 'element set number', start: 64, end: 68, pattern: /^ *\d*$/ },
];
const LINE2_FIELDS: readonly FieldSpec[] = [
  { name: 'inclination', start: 8, end: 16, pattern: /^ *\d{1,3}\.\d{4}$/ },
  { name: 'right ascension of ascending node', start: 17, end: 25, pattern: /^ *\d{1,3}\.\d{4}$/ },
  { name: 'eccentricity', start: 26, end: 33, pattern: /^\d{7}$/ },
  { name: 'argument of perigee', start: 34, end: 42, pattern: /^ *\d{1,3}\.\d{4}$/ },
  { name: 'mean anomaly', start: 43, end: 51, pattern: /^ *\d{1,3}\.\d{4}$/ },
  { name: 'mean motion', start: 52, end: 63, pattern: /^ *\d{1,2}\.\d{8}$/ },
  { name: 'revolution number', start: 63, end: 68, pattern: /^ *\d*$/ },
];
const LINE1_BLANKS = [1, 8, 17, 32, 43, 52, 61, 63];
const LINE2_BLANKS = [1, 7, 16, 25, 33, 42, 51];

function checkLine(line: string, which: 1 | 2, fileLine: number, opts: TleParseOptions): Parsed<string> {
  const trimmed = line.replace(/\s+$/, '');
  if (trimmed.length < TLE_LINE_LENGTH) {
    return reject('TLE_LINE_LENGTH', `line ${which} has ${trimmed.length} columns, expected ${TLE_LINE_LENGTH}`, fileLine);
  }
  if (trimmed.length > TLE_LINE_LENGTH && !(opts.verification && which === 2)) {
    return reject('TLE_LINE_LENGTH', `line ${which} has ${trimmed.length} columns, expected ${TLE_LINE_LENGTH}`, fileLine);
  }
  if (trimmed[0] !== String(which)) {
    return reject('TLE_LINE_NUMBER', `line ${which} starts with ${JSON.stringify(trimmed[0])}, expected "${which}"`, fileLine);
  }
  const std = trimmed.slice(0, TLE_LINE_LENGTH);
  for (const col of which === 1 ? LINE1_BLANKS : LINE2_BLANKS) {
    if (std[col] !== ' ') return reject('TLE_FORMAT', `line ${which} column ${col + 1} must be blank, found ${JSON.stringify(std[col])}`, fileLine);
  }
  if (!opts.verification) {
    const want = tleChecksum(std);
    const got = std.charCodeAt(68) - 48;
    if (got !== want) {
      return reject('TLE_CHECKSUM', `line ${which} checksum is ${JSON.stringify(std[68])}, computed ${want}`, fileLine);
    }
  }
  return { ok: true, value: std };
}

/**
 * Parses one element set. `fileLine` is the 1-based line number of line 1 in
 * its file (for the rejection report); line 2 is assumed to follow it.
 */
export function parseTle(name: string, line1: string, line2: string, fileLine = 1, opts: TleParseOptions = {}): Parsed<TleRecord> {
  const c1 = checkLine(line1, 1, fileLine, opts);
  if (!c1.ok) return c1;
  const c2 = checkLine(line2, 2, fileLine + 1, opts);
  if (!c2.ok) return c2;
  const l1 = c1.value;
  const l2 = c2.value;

  const catalogField = l1.slice(2, 7);
  const noradId = decodeCatalogNumber(catalogField);
  if (!Number.isFinite(noradId) || noradId < 1) {
    return reject('TLE_CATNUM', `line 1 catalog number ${JSON.stringify(catalogField)} is neither 5 digits nor Alpha-5`, fileLine);
  }
  const catalog2 = l2.slice(2, 7);
  if (decodeCatalogNumber(catalog2) !== noradId) {
    return reject('TLE_CATNUM_MISMATCH', `catalog number ${JSON.stringify(catalogField)} on line 1 but ${JSON.stringify(catalog2)} on line 2`, fileLine + 1, noradId);
  }
  for (const f of LINE1_FIELDS) {
    const v = l1.slice(f.start, f.end);
    if (!f.pattern.test(v)) return reject('TLE_FORMAT', `line 1 ${f.name} (columns ${f.start + 1}-${f.end}) ${JSON.stringify(v)} is malformed`, fileLine, noradId);
  }
  for (const f of LINE2_FIELDS) {
    const v = l2.slice(f.start, f.end);
    if (!f.pattern.test(v)) return reject('TLE_FORMAT', `line 2 ${f.name} (columns ${f.start + 1}-${f.end}) ${JSON.stringify(v)} is malformed`, fileLine + 1, noradId);
  }

  const yy = Number(l1.slice(18, 20));
  const epochYear = yy < 57 ? 2000 + yy : 1900 + yy;
  const epochDay = Number(l1.slice(20, 32));
  const leap = (epochYear % 4 === 0 && epochYear % 100 !== 0) || epochYear % 400 === 0;
  if (!(epochDay >= 1 && epochDay < (leap ? 367 : 366))) {
    return reject('TLE_EPOCH', `epoch day ${epochDay} is outside 1..${leap ? 366 : 365} of ${epochYear}`, fileLine, noradId);
  }
  const epochMs = Date.UTC(epochYear, 0, 1) + (epochDay - 1) * 86_400_000;

  const inclinationDeg = Number(l2.slice(8, 16));
  const raanDeg = Number(l2.slice(17, 25));
  const eccentricity = Number(`0.${l2.slice(26, 33)}`);
  const argpDeg = Number(l2.slice(34, 42));
  const meanAnomalyDeg = Number(l2.slice(43, 51));
  const meanMotionRevPerDay = Number(l2.slice(52, 63));
  const ranges: [string, number, number, number][] = [
    ['inclination', inclinationDeg, 0, 180],
    ['right ascension of ascending node', raanDeg, 0, 360],
    ['argument of perigee', argpDeg, 0, 360],
    ['mean anomaly', meanAnomalyDeg, 0, 360],
  ];
  for (const [what, v, lo, hi] of ranges) {
    if (!(v >= lo && v <= hi)) return reject('TLE_RANGE', `${what} ${v} deg is outside ${lo}..${hi}`, fileLine + 1, noradId);
  }
  if (!(meanMotionRevPerDay > 0)) return reject('TLE_RANGE', `mean motion ${meanMotionRevPerDay} rev/day must be > 0`, fileLine + 1, noradId);

  return {
    ok: true,
    value: {
      name: name.trim(),
      line1: l1,
      line2: l2,
      noradId,
      catalogField,
      classification: l1[7] as 'U' | 'C' | 'S',
      intlDesignator: l1.slice(9, 17).trim(),
      epochYear,
      epochDay,
      epochMs,
      ndotRevPerDay2: Number(l1.slice(33, 43).replace(' ', '')),
      nddotRevPerDay3: parseAssumedDecimal(l1.slice(44, 52)),
      bstar: parseAssumedDecimal(l1.slice(53, 61)),
      ephemerisType: l1[62] === ' ' ? 0 : Number(l1[62]),
      elementSetNo: Number(l1.slice(64, 68).trim() || '0'),
      inclinationDeg,
      raanDeg,
      eccentricity,
      argpDeg,
      meanAnomalyDeg,
      meanMotionRevPerDay,
      revNumber: Number(l2.slice(63, 68).trim() || '0'),
      extra: line2.replace(/\s+$/, '').slice(TLE_LINE_LENGTH),
    },
  };
}

export interface TleParseResult {
  readonly records: TleRecord[];
  readonly rejects: Rejection[];
}

/** One step of a TLE text parse: a record or a rejection, with the 1-based line it starts on; null is progress without a result (blank lines). */
export type TleTextItem = { readonly line: number; readonly parsed: Parsed<TleRecord> } | null;

/** Lines of `text` without their CR/LF ending, one at a time (no copy of the whole text into an array). */
function* lineCursor(text: string): Generator<string> {
  let pos = 0;
  for (;;) {
    const nl = text.indexOf('\n', pos);
    const end = nl === -1 ? text.length : nl;
    yield end > pos && text.charCodeAt(end - 1) === 13 ? text.slice(pos, end - 1) : text.slice(pos, end);
    if (nl === -1) return;
    pos = nl + 1;
  }
}

/**
 * The TLE/3LE parse as a generator, one record (or rejection) per step, so a
 * caller on a shared event loop can stop between steps and yield (catalog
 * ingest runs it in time slices). parseTleText drains it.
 */
export function* tleTextItems(text: string, opts: TleParseOptions = {}): Generator<TleTextItem> {
  const lines = lineCursor(text);
  let pendingName: string | undefined;
  let pendingNameLine = 0;
  const isLine = (s: string | undefined, n: '1' | '2') => s !== undefined && s.length > 2 && s[0] === n && s[1] === ' ';
  let next = lines.next();
  let i = 0;
  let blank = 0;
  while (!next.done) {
    const line = next.value;
    next = lines.next();
    i++;
    if (line.trim() === '') {
      // A long run of blank lines still hands control back now and then.
      if (++blank % 1024 === 0) yield null;
      continue;
    }
    const following = next.done ? undefined : next.value;
    if (isLine(line, '1') && isLine(following, '2')) {
      const r = parseTle(pendingName ?? '', line, following!, i, opts);
      yield { line: i, parsed: r };
      pendingName = undefined;
      next = lines.next();
      i++;
      continue;
    }
    if (isLine(line, '1') || isLine(line, '2')) {
      yield { line: i, parsed: { ok: false, rejection: { code: 'TLE_ORPHAN_LINE', reason: `line ${line[0]} without its ${line[0] === '1' ? 'line 2' : 'line 1'}`, line: i } } };
      pendingName = undefined;
      continue;
    }
    if (pendingName !== undefined) {
      yield { line: pendingNameLine, parsed: { ok: false, rejection: { code: 'TLE_ORPHAN_LINE', reason: `name line ${JSON.stringify(pendingName)} not followed by lines 1 and 2`, line: pendingNameLine } } };
    }
    pendingName = line.startsWith('0 ') ? line.slice(2) : line;
    pendingNameLine = i;
  }
  if (pendingName !== undefined) {
    yield { line: pendingNameLine, parsed: { ok: false, rejection: { code: 'TLE_ORPHAN_LINE', reason: `name line ${JSON.stringify(pendingName)} at end of input without lines 1 and 2`, line: pendingNameLine } } };
  }
}

/**
 * Parses a TLE (2-line) or 3LE (name + 2 lines, name optionally prefixed
 * "0 ") text, CRLF or LF. A line that does not belong to a record is rejected
 * on its own and parsing resynchronises on the next "1 " line.
 */
export function parseTleText(text: string, opts: TleParseOptions = {}): TleParseResult {
  const records: TleRecord[] = [];
  const rejects: Rejection[] = [];
  for (const item of tleTextItems(text, opts)) {
    if (item === null) continue;
    if (item.parsed.ok) records.push(item.parsed.value);
    else rejects.push(item.parsed.rejection);
  }
  return { records, rejects };
}
