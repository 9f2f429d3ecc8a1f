/**
 * Writes real Himawari AHI HSD segment files: header blocks 1–11 byte for
 * byte per shared/data/himawari_hsd/hsd_format.md (JMA HSD guide as
 * transcribed by satpy), then lines × columns little-endian u2 counts,
 * bzip2-compressed (compressjs) like the files JMA and NOAA distribute, one
 * file per segment (10 for a full disk).
 *
 * writeAhiSegments writes given counts (any band; tests and fault cases);
 * ahiSceneSegments turns a synthetic scene's band-13 BT into counts by
 * inverting the HSD calibration: Te from BT = c0 + c1·Te + c2·Te², the
 * Planck radiance at Te (the file's c, h, k, central wavelength), then
 * count = round((L − offset) / gain).
 */
import { createRequire } from 'node:module';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StarWeatherError } from '../../../protocol/errors.js';
import type { AhiNavigation } from '../formats/geo.js';
import type { Calibration } from '../types.js';
import { ahiNavigationOf, AHI_CFAC_2KM, type SyntheticScene } from './scene.js';

const require = createRequire(import.meta.url);
const { Bzip2 } = require('compressjs') as { Bzip2: { compressFile(input: Uint8Array, output?: unknown, level?: number): Uint8Array | number[] } };

const MJD_EPOCH = Date.UTC(1858, 10, 17);
const mjd = (d: Date): number => (d.getTime() - MJD_EPOCH) / 86_400_000;

/**
 * Block-5 calibration as the writer takes it: the reader's Calibration (types.ts)
 * without what other blocks carry (instrument; the wavelength is a band property),
 * plus the count depth and, for visible bands, the updated ("cali_") gain and offset.
 */
type FileCalibration<K extends 'ir' | 'vis'> = Omit<Extract<Calibration, { instrument: 'ahi'; kind: K }>, 'instrument' | 'wavelengthUm'> & { validBits: number };
export type AhiFileCalibration = FileCalibration<'ir'> | (FileCalibration<'vis'> & { caliGain: number; caliOffset: number });

/**
 * Band-13 coefficients of satpy's HSD test file (hsd_format.md "Test vectors"):
 * gain −0.0037, offset 15.2 span 140–331 K over 12-bit counts at 10.4073 µm.
 * The constants are the file's (CODATA 2010 h and k, as the real files carry).
 */
export const AHI_BAND13: Extract<AhiFileCalibration, { kind: 'ir' }> & { wavelengthUm: number } = {
  kind: 'ir',
  gain: -0.0037,
  offset: 15.2,
  errorCount: 65535,
  outsideCount: 65534,
  validBits: 12,
  c0: -0.116127314574,
  c1: 1.00099153832,
  c2: -1.76961091571e-6,
  lightSpeed: 299792458.0,
  planck: 6.62606957e-34,
  boltzmann: 1.3806488e-23,
  wavelengthUm: 10.4073,
};

export interface AhiFileSpec {
  satellite: 'Himawari-8' | 'Himawari-9';
  band: number;
  wavelengthUm: number;
  /** Nominal slot time (HHMM timeline). */
  time: Date;
  /** 'FLDK' or a region code such as 'R301'. */
  observationArea?: string;
  width: number;
  height: number;
  /** u2 counts, width·height, north to south. */
  counts: Uint16Array;
  nav: AhiNavigation;
  subLon: number;
  calibration: AhiFileCalibration;
  /** Number of segments (height must divide evenly); default 10. */
  segments?: number;
  /** bzip2 each segment (default true). */
  compress?: boolean;
}

export interface HsdSegmentFile {
  name: string;
  bytes: Uint8Array;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/**
 * The resolution code of HSD names: 2 km ↔ R20 (CFAC 20466275), 1 km ↔ R10,
 * 0.5 km ↔ R05. Only those three exist (the ingest's key parser accepts
 * nothing else), so a reduced-resolution synthetic disk is named R20; its
 * block 3 CFAC/LFAC carry the true pixel size.
 */
function resolutionCode(cfac: number): string {
  const km = (2 * AHI_CFAC_2KM) / cfac;
  return km < 0.75 ? '05' : km < 1.5 ? '10' : '20';
}

export function ahiSegmentName(s: Pick<AhiFileSpec, 'satellite' | 'time' | 'band' | 'observationArea' | 'nav'>, segment: number, segments: number, compress = true): string {
  const t = s.time;
  const sat = s.satellite === 'Himawari-8' ? 'H08' : 'H09';
  const day = `${t.getUTCFullYear()}${pad(t.getUTCMonth() + 1)}${pad(t.getUTCDate())}`;
  return `HS_${sat}_${day}_${pad(t.getUTCHours())}${pad(t.getUTCMinutes())}_B${pad(s.band)}_${s.observationArea ?? 'FLDK'}_R${resolutionCode(s.nav.cfac)}_S${pad(segment)}${pad(segments)}.DAT${compress ? '.bz2' : ''}`;
}

/** The tb2rad coefficients the file also carries: the quadratic Te(BT) through three points of the exact inverse of c0/c1/c2. */
function tb2radCoefficients(c: { c0: number; c1: number; c2: number }): [number, number, number] {
  const xs = [180, 255, 330];
  const ys = xs.map((bt) => effectiveTemperature(bt, c));
  // Lagrange → monomial coefficients of the quadratic through (xs, ys).
  let a0 = 0, a1 = 0, a2 = 0;
  for (let i = 0; i < 3; i++) {
    const [xj, xk] = xs.filter((_, j) => j !== i) as [number, number];
    const d = (xs[i]! - xj) * (xs[i]! - xk);
    const w = ys[i]! / d;
    a2 += w;
    a1 += -w * (xj + xk);
    a0 += w * xj * xk;
  }
  return [a0, a1, a2];
}

/** Te with BT = c0 + c1·Te + c2·Te² (the root near BT, in the cancellation-free form). */
export function effectiveTemperature(btK: number, c: { c0: number; c1: number; c2: number }): number {
  if (c.c2 === 0) return (btK - c.c0) / c.c1;
  const d = c.c1 * c.c1 + 4 * c.c2 * (btK - c.c0);
  return (2 * (btK - c.c0)) / (c.c1 + Math.sqrt(d));
}

/** HSD inverse calibration of one BT → its rounded count (not clamped). */
export function ahiCountForBt(btK: number, c: Extract<AhiFileCalibration, { kind: 'ir' }>, wavelengthUm: number): number {
  const te = effectiveTemperature(btK, c);
  const lambda = wavelengthUm * 1e-6;
  const l = (2 * c.planck * c.lightSpeed * c.lightSpeed) / (lambda ** 5 * (Math.exp((c.planck * c.lightSpeed) / (lambda * c.boltzmann * te)) - 1)) / 1e6;
  return Math.round((l - c.offset) / c.gain);
}

/**
 * Everything one HSD segment's header blocks carry. The layout (block order,
 * lengths, field offsets) lives only in hsdSegmentBytes; callers choose the
 * values (this writer from a scene, the test helper from its fixed figures).
 */
export interface HsdSegmentHeader {
  satellite: string;
  /** 'FLDK' or a region code such as 'R301'. */
  observationArea: string;
  /** Nominal slot time (block 1 HHMM timeline). */
  time: Date;
  /** Observation start and end of this segment. */
  start: Date;
  end: Date;
  /** Block 1 file name (the uncompressed name). */
  fileName: string;
  columns: number;
  lines: number;
  segment: number;
  segments: number;
  subLon: number;
  nav: AhiNavigation;
  /** Block 4: sub-satellite latitude (deg) and earth-centre distance (km) at the observation. */
  sspLat: number;
  satDistanceKm: number;
  band: number;
  wavelengthUm: number;
  calibration: AhiFileCalibration;
  /** IR tb2rad terms (default: the quadratic fitted to c0/c1/c2). */
  tb2rad?: readonly [number, number, number];
  /** VIS "time of calibration update" (default: the slot time). */
  calibrationTime?: Date;
  /** Block 10 entries: (line, number of error pixels on it). */
  errorLines: ReadonlyArray<readonly [number, number]>;
}

class Writer {
  readonly buf: Uint8Array;
  readonly dv: DataView;
  constructor(len: number) {
    this.buf = new Uint8Array(len);
    this.dv = new DataView(this.buf.buffer);
  }
  u1(o: number, v: number): void { this.dv.setUint8(o, v); }
  u2(o: number, v: number): void { this.dv.setUint16(o, v, true); }
  i2(o: number, v: number): void { this.dv.setInt16(o, v, true); }
  u4(o: number, v: number): void { this.dv.setUint32(o, v, true); }
  f4(o: number, v: number): void { this.dv.setFloat32(o, v, true); }
  f8(o: number, v: number): void { this.dv.setFloat64(o, v, true); }
  s(o: number, v: string, len: number): void {
    for (let i = 0; i < Math.min(v.length, len); i++) this.buf[o + i] = v.charCodeAt(i);
  }
}

/** One segment's uncompressed bytes: header blocks 1–11, then `data` (lines × columns u2 counts, little-endian). */
export function hsdSegmentBytes(h: HsdSegmentHeader, data: Uint16Array): Uint8Array {
  const { columns, lines, segment, segments, nav, start, end } = h;
  if (data.length !== columns * lines) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `segment data must have ${columns * lines} pixels`);
  const firstLine = 1 + (segment - 1) * lines;
  const c = h.calibration;
  const nCorr = 1, nTimes = 2, nErr = h.errorLines.length;
  const lens = [282, 50, 127, 139, 147, 259, 47, 21 + 10 * nCorr + 40, 5 + 10 * nTimes + 40, 7 + 4 * nErr + 40, 259];
  const headerLen = lens.reduce((a, b) => a + b, 0);
  const w = new Writer(headerLen + columns * lines * 2);
  const at: number[] = [];
  let off = 0;
  for (let i = 0; i < 11; i++) {
    at.push(off);
    w.u1(off, i + 1);
    if (i === 9) w.u4(off + 1, lens[i]!);
    else w.u2(off + 1, lens[i]!);
    off += lens[i]!;
  }
  // Block 1 basic_info
  let b = at[0]!;
  w.u2(b + 3, 11); w.u1(b + 5, 0);
  w.s(b + 6, h.satellite, 16); w.s(b + 22, 'MSC', 16); w.s(b + 38, h.observationArea, 4); w.s(b + 42, 'OO', 2);
  w.u2(b + 44, h.time.getUTCHours() * 100 + h.time.getUTCMinutes());
  w.f8(b + 46, mjd(start)); w.f8(b + 54, mjd(end)); w.f8(b + 62, mjd(new Date(end.getTime() + 60_000)));
  w.u4(b + 70, headerLen); w.u4(b + 74, columns * lines * 2);
  w.s(b + 82, '1.3', 32); w.s(b + 114, h.fileName, 128);
  // Block 2 data_info
  b = at[1]!;
  w.u2(b + 3, 16); w.u2(b + 5, columns); w.u2(b + 7, lines); w.u1(b + 9, 0);
  // Block 3 projection_info: the earth/satellite figures of the real files (hsd_format.md), km.
  b = at[2]!;
  w.f8(b + 3, h.subLon); w.u4(b + 11, nav.cfac); w.u4(b + 15, nav.lfac); w.f4(b + 19, nav.coff); w.f4(b + 23, nav.loff);
  w.f8(b + 27, 42164.0); w.f8(b + 35, 6378.137); w.f8(b + 43, 6356.7523);
  w.f8(b + 51, 0.0066943844); w.f8(b + 59, 0.993305616); w.f8(b + 67, 1.006739501); w.f8(b + 75, 1737122264.0);
  w.i2(b + 83, 4); w.i2(b + 85, 4);
  // Block 4 navigation_info
  b = at[3]!;
  w.f8(b + 3, mjd(start)); w.f8(b + 11, h.subLon); w.f8(b + 19, h.sspLat); w.f8(b + 27, h.satDistanceKm); w.f8(b + 35, h.subLon); w.f8(b + 43, 0.0);
  // Block 5 calibration_info + IR tail or VIS tail
  b = at[4]!;
  w.u2(b + 3, h.band); w.f8(b + 5, h.wavelengthUm); w.u2(b + 13, c.validBits);
  w.u2(b + 15, c.errorCount); w.u2(b + 17, c.outsideCount); w.f8(b + 19, c.gain); w.f8(b + 27, c.offset);
  if (c.kind === 'ir') {
    const [t0, t1, t2] = h.tb2rad ?? tb2radCoefficients(c);
    w.f8(b + 35, c.c0); w.f8(b + 43, c.c1); w.f8(b + 51, c.c2);
    w.f8(b + 59, t0); w.f8(b + 67, t1); w.f8(b + 75, t2);
    w.f8(b + 83, c.lightSpeed); w.f8(b + 91, c.planck); w.f8(b + 99, c.boltzmann);
  } else {
    w.f8(b + 35, c.albedo); w.f8(b + 43, mjd(h.calibrationTime ?? h.time)); w.f8(b + 51, c.caliGain); w.f8(b + 59, c.caliOffset);
  }
  // Block 6 inter_calibration_info: GSICS terms left 0 (not applied by default).
  // Block 7 segment_info
  b = at[6]!;
  w.u1(b + 3, segments); w.u1(b + 4, segment); w.u2(b + 5, firstLine);
  // Block 8 navigation_correction_info
  b = at[7]!;
  w.f4(b + 3, nav.coff); w.f4(b + 7, nav.loff); w.f8(b + 11, 0); w.u2(b + 19, nCorr);
  w.u2(b + 21, firstLine); w.f4(b + 23, 0); w.f4(b + 27, 0);
  // Block 9 observation_time_info
  b = at[8]!;
  w.u2(b + 3, nTimes);
  w.u2(b + 5, firstLine); w.f8(b + 7, mjd(start));
  w.u2(b + 15, firstLine + lines - 1); w.f8(b + 17, mjd(end));
  // Block 10 error_info
  b = at[9]!;
  w.u2(b + 5, nErr);
  h.errorLines.forEach(([line, n], i) => {
    w.u2(b + 7 + 4 * i, line);
    w.u2(b + 9 + 4 * i, n);
  });
  // A byte copy, as the counts are little-endian in memory on every host Node runs on (x86, arm64).
  w.buf.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), headerLen);
  return w.buf;
}

/** One segment of a spec: its header values, then hsdSegmentBytes. */
function segmentBytes(s: AhiFileSpec, segment: number, segments: number, linesPer: number): Uint8Array {
  const columns = s.width;
  const firstLine = 1 + (segment - 1) * linesPer;
  const data = s.counts.subarray((segment - 1) * linesPer * columns, segment * linesPer * columns);
  const errLines: Array<[number, number]> = [];
  const c = s.calibration;
  for (let l = 0; l < linesPer; l++) {
    let n = 0;
    for (let i = l * columns; i < (l + 1) * columns; i++) if (data[i] === c.errorCount) n++;
    if (n > 0) errLines.push([firstLine + l, Math.min(n, 65535)]);
  }
  // A full disk takes ~10 min; each of 10 segments about a tenth of it (times as in satpy's test file: start +20 s).
  const start = new Date(s.time.getTime() + 20_000 + (segment - 1) * 58_000);
  const end = new Date(start.getTime() + 57_000);
  return hsdSegmentBytes(
    {
      satellite: s.satellite,
      observationArea: s.observationArea ?? 'FLDK',
      time: s.time,
      start,
      end,
      fileName: ahiSegmentName(s, segment, segments, false),
      columns,
      lines: linesPer,
      segment,
      segments,
      subLon: s.subLon,
      nav: s.nav,
      sspLat: 0.0,
      satDistanceKm: 42164.0,
      band: s.band,
      wavelengthUm: s.wavelengthUm,
      calibration: c,
      errorLines: errLines,
    },
    data,
  );
}

/** Every segment file of a band (bzip2-compressed unless spec.compress === false). */
export function writeAhiSegments(s: AhiFileSpec): HsdSegmentFile[] {
  const segments = s.segments ?? 10;
  if (s.counts.length !== s.width * s.height) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `counts must have ${s.width * s.height} pixels`);
  if (!Number.isInteger(segments) || segments < 1 || segments > 255 || s.height % segments !== 0) {
    throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `${s.height} lines do not split into ${segments} equal segments`);
  }
  if (s.width > 65535 || s.height > 65535) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'HSD columns/lines are u2');
  const linesPer = s.height / segments;
  const compress = s.compress ?? true;
  const out: HsdSegmentFile[] = [];
  for (let k = 1; k <= segments; k++) {
    const raw = segmentBytes(s, k, segments, linesPer);
    let bytes = raw;
    if (compress) {
      const z = Bzip2.compressFile(raw);
      bytes = z instanceof Uint8Array ? z : Uint8Array.from(z);
    }
    out.push({ name: ahiSegmentName(s, k, segments, compress), bytes });
  }
  return out;
}

export interface AhiSceneWriteOptions {
  segments?: number;
  compress?: boolean;
  observationArea?: string;
  /** Pixels to write as the error count (pixel indexes), e.g. for QA tests. */
  errorPixels?: readonly number[];
}

/** The u2 counts of a synthetic scene's band 13: BT → counts; off-disk → outside-scan value; clipped to the valid bits. */
export function ahiSceneCounts(scene: SyntheticScene, o: AhiSceneWriteOptions = {}): Uint16Array {
  const c = AHI_BAND13;
  const max = 2 ** c.validBits - 1;
  const counts = new Uint16Array(scene.width * scene.height);
  for (let i = 0; i < counts.length; i++) {
    const bt = scene.btK[i]!;
    if (Number.isNaN(bt)) {
      counts[i] = c.outsideCount;
      continue;
    }
    const k = ahiCountForBt(bt, c, c.wavelengthUm);
    counts[i] = k < 0 ? 0 : k > max ? max : k;
  }
  for (const i of o.errorPixels ?? []) counts[i] = c.errorCount;
  return counts;
}

export function ahiSceneSpec(scene: SyntheticScene, o: AhiSceneWriteOptions = {}): AhiFileSpec {
  if (scene.instrument !== 'ahi' || scene.geo.params.sweep !== 'y') throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'HSD segments need an AHI (sweep-y) scene');
  const spec: AhiFileSpec = {
    satellite: scene.platform === 'himawari-8' ? 'Himawari-8' : 'Himawari-9',
    band: 13,
    wavelengthUm: AHI_BAND13.wavelengthUm,
    time: scene.time,
    width: scene.width,
    height: scene.height,
    counts: ahiSceneCounts(scene, o),
    nav: ahiNavigationOf(scene),
    subLon: scene.geo.params.lon0,
    calibration: AHI_BAND13,
  };
  if (o.segments !== undefined) spec.segments = o.segments;
  if (o.compress !== undefined) spec.compress = o.compress;
  if (o.observationArea !== undefined) spec.observationArea = o.observationArea;
  return spec;
}

/** A synthetic scene as HSD segment files in memory. */
export function ahiSceneSegments(scene: SyntheticScene, o: AhiSceneWriteOptions = {}): { spec: AhiFileSpec; files: HsdSegmentFile[] } {
  const spec = ahiSceneSpec(scene, o);
  return { spec, files: writeAhiSegments(spec) };
}

/** Write a synthetic scene's HSD segments into `dir`; returns their paths. */
export async function writeAhiScene(dir: string, scene: SyntheticScene, o: AhiSceneWriteOptions = {}): Promise<string[]> {
  const { files } = ahiSceneSegments(scene, o);
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (const f of files) {
    const p = join(dir, f.name);
    await writeFile(p, f.bytes);
    paths.push(p);
  }
  return paths;
}
