/**
 * Object keys of the NOAA open-data buckets, by the official file-name
 * patterns, and the listing prefixes a poll walks. A key that does not match
 * is a reason, never an exception: the poller counts and skips it.
 *
 * GOES ABI L1b (GOES-R PUG): OR_ABI-L1b-RadF-M6C13_G19_s20263291700205_e20263291709513_c20263291709570.nc
 *   s/e/c = start, end, creation: YYYY JJJ HH MM SS s (day of year, tenths of a second).
 * Himawari AHI HSD (JMA HSD user's guide): HS_H09_20261125_1700_B13_FLDK_R20_S0110.DAT.bz2
 *   Rrr = resolution (05, 10, 20 = 0.5/1/2 km), Sss TT = segment ss of TT.
 */

export type SourceName = 'goes-east' | 'goes-west' | 'himawari-9';

export interface SourceSpec {
  name: SourceName;
  bucket: string;
  platform: string;
  instrument: 'abi' | 'ahi';
  constellation: string;
  /** Products polled when the configuration names none for this source. */
  products: readonly string[];
}

export const SOURCES: Record<SourceName, SourceSpec> = {
  'goes-east': { name: 'goes-east', bucket: 'noaa-goes19', platform: 'goes-19', instrument: 'abi', constellation: 'goes', products: ['ABI-L1b-RadF', 'ABI-L1b-RadC'] },
  'goes-west': { name: 'goes-west', bucket: 'noaa-goes18', platform: 'goes-18', instrument: 'abi', constellation: 'goes', products: ['ABI-L1b-RadF', 'ABI-L1b-RadC'] },
  'himawari-9': { name: 'himawari-9', bucket: 'noaa-himawari9', platform: 'himawari-9', instrument: 'ahi', constellation: 'himawari', products: ['AHI-L1b-FLDK'] },
};

export function isSourceName(s: string): s is SourceName {
  return Object.hasOwn(SOURCES, s);
}

/** Platform names by the file name's satellite code. */
const GOES_PLATFORMS: Record<string, string> = { G16: 'goes-16', G17: 'goes-17', G18: 'goes-18', G19: 'goes-19' };
const HIMAWARI_PLATFORMS: Record<string, string> = { H08: 'himawari-8', H09: 'himawari-9' };

export interface GoesKey {
  kind: 'goes';
  key: string;
  file: string;
  /** e.g. ABI-L1b-RadF */
  product: string;
  /** F (full disk), C (CONUS), M1/M2 (mesoscale). */
  sector: string;
  mode: number;
  band: number;
  satellite: string;
  platform: string;
  start: Date;
  end: Date;
  created: Date;
  /** Stable item id: the file name without its creation time (a reprocessed file is the same scene). */
  itemId: string;
}

export interface HimawariKey {
  kind: 'himawari';
  key: string;
  file: string;
  satellite: string;
  platform: string;
  /** Nominal observation time (the HHMM in the name). */
  time: Date;
  band: number;
  area: string;
  /** km: 0.5, 1 or 2. */
  resolutionKm: number;
  segment: number;
  segments: number;
  compressed: boolean;
  /** The id of the whole scene (all segments of this band and time). */
  itemId: string;
}

export type ParsedKey = GoesKey | HimawariKey;
export type KeyParse = { ok: true; value: ParsedKey } | { ok: false; reason: string };

const GOES_RE = /^OR_(ABI-L1b-Rad(F|C|M[12]))-M(\d)C(\d{2})_(G\d{2})_s(\d{14})_e(\d{14})_c(\d{14})\.nc$/;
const HIMAWARI_RE = /^HS_(H\d{2})_(\d{8})_(\d{4})_B(\d{2})_([A-Z0-9]{4})_R(\d{2})_S(\d{2})(\d{2})\.DAT(\.bz2)?$/;

/** YYYYJJJHHMMSSs → Date, or null when any field is out of range. */
export function goesTime(s: string): Date | null {
  const m = /^(\d{4})(\d{3})(\d{2})(\d{2})(\d{2})(\d)$/.exec(s);
  if (!m) return null;
  const [year, doy, hh, mm, ss, tenth] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  if (doy < 1 || doy > (leap ? 366 : 365) || hh > 23 || mm > 59 || ss > 60) return null;
  return new Date(Date.UTC(year, 0, doy, hh, mm, ss, tenth * 100));
}

function baseName(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

export function parseGoesKey(key: string): KeyParse {
  const file = baseName(key);
  const m = GOES_RE.exec(file);
  if (!m) return { ok: false, reason: `not an ABI L1b radiance file name: ${JSON.stringify(file.slice(0, 120))}` };
  const [, product, sector, mode, band, sat, s, e, c] = m as unknown as [string, string, string, string, string, string, string, string, string];
  const platform = GOES_PLATFORMS[sat];
  if (!platform) return { ok: false, reason: `unknown GOES satellite ${sat}` };
  const start = goesTime(s), end = goesTime(e), created = goesTime(c);
  if (!start || !end || !created) return { ok: false, reason: `invalid time field in ${file}` };
  if (end < start) return { ok: false, reason: `end before start in ${file}` };
  const b = Number(band);
  if (b < 1 || b > 16) return { ok: false, reason: `ABI band ${b} outside 1..16` };
  return {
    ok: true,
    value: {
      kind: 'goes', key, file, product, sector, mode: Number(mode), band: b, satellite: sat, platform, start, end, created,
      itemId: file.replace(/_c\d{14}\.nc$/, ''),
    },
  };
}

export function parseHimawariKey(key: string): KeyParse {
  const file = baseName(key);
  const m = HIMAWARI_RE.exec(file);
  if (!m) return { ok: false, reason: `not an AHI HSD file name: ${JSON.stringify(file.slice(0, 120))}` };
  const [, sat, ymd, hhmm, band, area, res, seg, total, bz] = m as unknown as [string, string, string, string, string, string, string, string, string, string | undefined];
  const platform = HIMAWARI_PLATFORMS[sat];
  if (!platform) return { ok: false, reason: `unknown Himawari satellite ${sat}` };
  const y = Number(ymd.slice(0, 4)), mo = Number(ymd.slice(4, 6)), d = Number(ymd.slice(6, 8));
  const hh = Number(hhmm.slice(0, 2)), mi = Number(hhmm.slice(2, 4));
  const time = new Date(Date.UTC(y, mo - 1, d, hh, mi));
  if (time.getUTCMonth() !== mo - 1 || time.getUTCDate() !== d || hh > 23 || mi > 59) return { ok: false, reason: `invalid date/time in ${file}` };
  const b = Number(band), segment = Number(seg), segments = Number(total);
  if (b < 1 || b > 16) return { ok: false, reason: `AHI band ${b} outside 1..16` };
  if (segments < 1 || segment < 1 || segment > segments) return { ok: false, reason: `segment ${segment} of ${segments} in ${file}` };
  const resolutionKm = Number(res) / 10;
  if (![0.5, 1, 2].includes(resolutionKm)) return { ok: false, reason: `AHI resolution R${res} is not 05, 10 or 20` };
  return {
    ok: true,
    value: {
      kind: 'himawari', key, file, satellite: sat, platform, time, band: b, area, resolutionKm, segment, segments, compressed: bz !== undefined,
      itemId: `HS_${sat}_${ymd}_${hhmm}_B${band}_${area}_R${res}`,
    },
  };
}

export function parseKey(instrument: 'abi' | 'ahi', key: string): KeyParse {
  return instrument === 'abi' ? parseGoesKey(key) : parseHimawariKey(key);
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** Day of year (1-based, UTC). */
export function dayOfYear(t: Date): number {
  return Math.floor((Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()) - Date.UTC(t.getUTCFullYear(), 0, 1)) / 86_400_000) + 1;
}

/**
 * The listing prefix holding files of `product` observed in the hour (GOES)
 * or the ten-minute slot (Himawari) that contains `t`.
 * GOES: ABI-L1b-RadF/2026/329/17/ ; Himawari: AHI-L1b-FLDK/2026/11/25/1700/
 */
export function prefixFor(instrument: 'abi' | 'ahi', product: string, t: Date): string {
  const y = t.getUTCFullYear();
  if (instrument === 'abi') return `${product}/${y}/${pad(dayOfYear(t), 3)}/${pad(t.getUTCHours())}/`;
  const slot = Math.floor(t.getUTCMinutes() / 10) * 10;
  return `${product}/${y}/${pad(t.getUTCMonth() + 1)}/${pad(t.getUTCDate())}/${pad(t.getUTCHours())}${pad(slot)}/`;
}

/**
 * Prefixes a poll at `now` walks: the current and the previous hour (GOES) or
 * the slots of the last `lookbackMs` (Himawari), oldest first, so files that
 * land late in a closed hour or slot are still found.
 */
export function prefixesToPoll(instrument: 'abi' | 'ahi', product: string, now: Date, lookbackMs: number): string[] {
  const step = instrument === 'abi' ? 3_600_000 : 600_000;
  const out: string[] = [];
  for (let t = now.getTime() - Math.max(lookbackMs, step); t <= now.getTime(); t += step) {
    const p = prefixFor(instrument, product, new Date(t));
    if (!out.includes(p)) out.push(p);
  }
  const last = prefixFor(instrument, product, now);
  if (!out.includes(last)) out.push(last);
  return out;
}
