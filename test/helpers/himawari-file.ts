/**
 * Writes a real, small Himawari AHI HSD segment: header blocks 1–11 laid out
 * byte for byte per ../shared/data/himawari_hsd/hsd_format.md, then the
 * image as little-endian unsigned 16-bit counts; bz2-compressed (compressjs)
 * like the files in the NOAA bucket. The grid is the real full disk's extent
 * sub-sampled (CFAC/LFAC scaled so the columns span the real disk), so
 * navigation and footprints come out as for a real segment.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Bzip2 } = require('compressjs') as { Bzip2: { compressFile(input: Uint8Array, output?: unknown, level?: number): Uint8Array | number[] } };

export interface HimawariSegmentOptions {
  /** Nominal time (the HHMM slot). */
  time: Date;
  band?: number;
  wavelength?: number;
  segment: number;
  segments?: number;
  /** Columns of the whole (sub-sampled) disk; lines per segment = columns / segments. */
  columns?: number;
  satellite?: 'Himawari-8' | 'Himawari-9';
  subLon?: number;
  /** Real 2 km full disk: 5500 columns, CFAC 20466275. */
  compress?: boolean;
}

const MJD_EPOCH = Date.UTC(1858, 10, 17);
const mjd = (d: Date): number => (d.getTime() - MJD_EPOCH) / 86_400_000;

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

export function himawariFileName(o: HimawariSegmentOptions): string {
  const t = o.time;
  const sat = (o.satellite ?? 'Himawari-9') === 'Himawari-9' ? 'H09' : 'H08';
  return `HS_${sat}_${t.getUTCFullYear()}${pad(t.getUTCMonth() + 1)}${pad(t.getUTCDate())}_${pad(t.getUTCHours())}${pad(t.getUTCMinutes())}_B${pad(o.band ?? 13)}_FLDK_R20_S${pad(o.segment)}${pad(o.segments ?? 10)}.DAT${o.compress === false ? '' : '.bz2'}`;
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

/** The uncompressed HSD bytes of one segment. */
export function hsdSegmentBytes(o: HimawariSegmentOptions): Uint8Array {
  const segments = o.segments ?? 10;
  const columns = o.columns ?? 40;
  const lines = Math.round(columns / segments);
  const band = o.band ?? 13;
  // Real 2 km full disk: 5500 columns, CFAC = LFAC = 20466275, COFF = LOFF = 2750.5.
  const cfac = Math.round((20466275 * columns) / 5500);
  const coff = columns / 2 + 0.5;
  const nCorr = 1, nTimes = 2, nErr = 1;
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
  const start = new Date(o.time.getTime() + 20_000 + (o.segment - 1) * 3_000);
  const end = new Date(start.getTime() + 33_000);
  // Block 1 basic_info
  let b = at[0]!;
  w.u2(b + 3, 11); w.u1(b + 5, 0);
  w.s(b + 6, o.satellite ?? 'Himawari-9', 16); w.s(b + 22, 'MSC', 16); w.s(b + 38, 'FLDK', 4); w.s(b + 42, 'OO', 2);
  w.u2(b + 44, o.time.getUTCHours() * 100 + o.time.getUTCMinutes());
  w.f8(b + 46, mjd(start)); w.f8(b + 54, mjd(end)); w.f8(b + 62, mjd(new Date(end.getTime() + 60_000)));
  w.u4(b + 70, headerLen); w.u4(b + 74, columns * lines * 2);
  w.s(b + 82, '1.3', 32); w.s(b + 114, himawariFileName({ ...o, compress: false }), 128);
  // Block 2 data_info
  b = at[1]!;
  w.u2(b + 3, 16); w.u2(b + 5, columns); w.u2(b + 7, lines); w.u1(b + 9, 0);
  // Block 3 projection_info
  b = at[2]!;
  w.f8(b + 3, o.subLon ?? 140.7); w.u4(b + 11, cfac); w.u4(b + 15, cfac); w.f4(b + 19, coff); w.f4(b + 23, coff);
  w.f8(b + 27, 42164.0); w.f8(b + 35, 6378.137); w.f8(b + 43, 6356.7523);
  w.f8(b + 51, 0.0066943844); w.f8(b + 59, 0.993305616); w.f8(b + 67, 1.006739501); w.f8(b + 75, 1737122264.0);
  w.i2(b + 83, 4); w.i2(b + 85, 4);
  // Block 4 navigation_info
  b = at[3]!;
  w.f8(b + 3, mjd(start)); w.f8(b + 11, o.subLon ?? 140.7); w.f8(b + 19, 0.01); w.f8(b + 27, 42164.1); w.f8(b + 35, o.subLon ?? 140.7); w.f8(b + 43, 0.0);
  // Block 5 calibration_info + IR tail (band ≥ 7) or VIS tail
  b = at[4]!;
  w.u2(b + 3, band); w.f8(b + 5, o.wavelength ?? 10.4073); w.u2(b + 13, band >= 7 ? 12 : 11);
  w.u2(b + 15, 65535); w.u2(b + 17, 65534); w.f8(b + 19, -0.0037); w.f8(b + 27, 15.2);
  if (band >= 7) {
    w.f8(b + 35, -0.116127314574); w.f8(b + 43, 1.00099153832); w.f8(b + 51, -1.76961091571e-6);
    w.f8(b + 59, 0.1); w.f8(b + 67, 0.99); w.f8(b + 75, 1e-6);
    w.f8(b + 83, 299792458.0); w.f8(b + 91, 6.62606957e-34); w.f8(b + 99, 1.3806488e-23);
  } else {
    w.f8(b + 35, 0.0019255); w.f8(b + 43, mjd(start)); w.f8(b + 51, -0.0074); w.f8(b + 59, 30.4);
  }
  // Block 6 inter_calibration_info: GSICS terms left 0 (not applied by default)
  // Block 7 segment_info
  b = at[6]!;
  w.u1(b + 3, segments); w.u1(b + 4, o.segment); w.u2(b + 5, 1 + (o.segment - 1) * lines);
  // Block 8 navigation_correction_info
  b = at[7]!;
  w.f4(b + 3, coff); w.f4(b + 7, coff); w.f8(b + 11, 0); w.u2(b + 19, nCorr);
  w.u2(b + 21, 1 + (o.segment - 1) * lines); w.f4(b + 23, 0); w.f4(b + 27, 0);
  // Block 9 observation_time_info
  b = at[8]!;
  w.u2(b + 3, nTimes);
  w.u2(b + 5, 1 + (o.segment - 1) * lines); w.f8(b + 7, mjd(start));
  w.u2(b + 15, o.segment * lines); w.f8(b + 17, mjd(end));
  // Block 10 error_info
  b = at[9]!;
  w.u2(b + 5, nErr); w.u2(b + 7, 1 + (o.segment - 1) * lines); w.u2(b + 9, 0);
  // Image: a ramp of counts
  for (let l = 0; l < lines; l++) for (let c = 0; c < columns; c++) w.u2(headerLen + (l * columns + c) * 2, 1000 + ((c * 5 + l * 3) % 3000));
  return w.buf;
}

/** The file's bytes: bz2-compressed unless compress === false. */
export function himawariSegmentFile(o: HimawariSegmentOptions): Uint8Array {
  const raw = hsdSegmentBytes(o);
  if (o.compress === false) return raw;
  const out = Bzip2.compressFile(raw);
  return out instanceof Uint8Array ? out : Uint8Array.from(out);
}
