/**
 * Himawari AHI Standard Data (HSD) segments → SceneBand.
 *
 * Layout per the JMA HSD user's guide as transcribed by satpy
 * (shared/data/himawari_hsd/hsd_format.md): header blocks 1–11
 * (little-endian; imagery-header.ts readAhiHeader walks and checks them),
 * then lines × columns unsigned 16-bit counts, north to south. Segments
 * (usually 10 per full disk, each its own bz2-compressed file) are stacked
 * by their first line number; they must agree on satellite, band, time slot,
 * columns, navigation and calibration, and their lines must be contiguous.
 *
 * Calibration (block 5): L = count·gain + offset; counts equal to the error
 * or outside-scan values are masked. IR tail: c0/c1/c2 and the file's
 * c, h, k; VIS tail: the albedo coefficient, and the "updated" gain/offset
 * that satpy uses by default for bands 1–6 unless both are 0.
 */
import { endianness } from 'node:os';
import { createRequire } from 'node:module';
import { HeaderIncompleteError, ImageryFormatError, readAhiHeader, type AhiHeader } from '../../ingest/imagery-header.js';
import { errorMessage } from '../../../protocol/errors.js';
import { ahiSceneGeo } from './geo.js';
import type { Calibration, SceneBand } from '../types.js';

const require = createRequire(import.meta.url);
const { Bzip2 } = require('compressjs') as { Bzip2: { decompressFile(input: Uint8Array, output: { writeByte(b: number): void }): unknown } };

/** Offset of block 5 from the file start: blocks 1–4 have fixed lengths (282 + 50 + 127 + 139), checked by readAhiHeader. */
const BLOCK5 = 598;
/** Largest segment accepted, header included: a 0.5 km band-3 segment is 22000 × 2200 × 2 B ≈ 97 MB. */
export const MAX_SEGMENT_BYTES = 256 * 1024 * 1024;

export function isBzip2(b: Uint8Array): boolean {
  return b.byteLength >= 4 && b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68 && b[3]! >= 0x31 && b[3]! <= 0x39;
}

/** A raw HSD segment starts with block 1: number 1, length 282 (u2 LE). */
export function isHsd(b: Uint8Array): boolean {
  return b.byteLength >= 3 && b[0] === 1 && b[1] === 282 % 256 && b[2] === 282 >> 8;
}

const FULL = Symbol('output full');

/**
 * Decompress into a buffer of at most `limit` bytes. Returns the bytes and
 * whether the stream had more (`more`: decoding stopped at the limit). A
 * damaged or cut stream is refused with compressjs's reason.
 */
function bunzipInto(input: Uint8Array, limit: number, what: string): { bytes: Uint8Array; more: boolean } {
  const out = new Uint8Array(limit);
  let n = 0;
  try {
    Bzip2.decompressFile(input, {
      writeByte(b: number): void {
        if (n >= limit) throw FULL;
        out[n++] = b;
      },
    });
  } catch (err) {
    if (err === FULL) return { bytes: out, more: true };
    const msg = errorMessage(err);
    // compressjs reports a stream that ends early as an out-of-range read, not by name.
    const cut = /end of|eof|range|undefined|past/i.test(msg) && !/crc/i.test(msg);
    throw new ImageryFormatError(`${what}: bzip2 stream is ${cut ? 'truncated or corrupt' : 'corrupt'} (${msg.slice(0, 160)})`, { cause: err });
  }
  return { bytes: out.subarray(0, n), more: false };
}

/**
 * The whole decompressed segment, decoded into a buffer of the size its own
 * header gives (read from the first 64 KiB): memory stays bounded whatever
 * the stream would expand to, and a stream longer than its header says is
 * refused rather than trusted.
 */
export function bunzipSegment(input: Uint8Array, what: string): Uint8Array {
  let head = bunzipInto(input, 65536, what);
  if (!head.more) return head.bytes;
  let header: AhiHeader;
  for (;;) {
    try {
      header = readAhiHeader(head.bytes, false);
      break;
    } catch (err) {
      if (!(err instanceof HeaderIncompleteError) || head.bytes.byteLength >= 4 << 20) throw new ImageryFormatError(`${what}: ${errorMessage(err)}`, { cause: err });
      head = bunzipInto(input, head.bytes.byteLength * 4, what);
      if (!head.more) return head.bytes;
    }
  }
  const expected = header.totalHeaderLength + header.columns * header.lines * 2;
  if (expected > MAX_SEGMENT_BYTES) throw new ImageryFormatError(`${what}: HSD segment of ${header.columns}×${header.lines} counts is larger than ${MAX_SEGMENT_BYTES} bytes`);
  const whole = bunzipInto(input, expected, what);
  if (whole.more) throw new ImageryFormatError(`${what}: bzip2 stream decompresses to more than the ${expected} bytes its HSD header gives`);
  return whole.bytes;
}

interface Segment {
  name: string;
  header: AhiHeader;
  calibration: Calibration;
  raw: Uint8Array;
}

function calibrationOf(raw: Uint8Array, h: AhiHeader, name: string): Calibration {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const b = BLOCK5;
  const errorCount = dv.getUint16(b + 15, true);
  const outsideCount = dv.getUint16(b + 17, true);
  const gain = dv.getFloat64(b + 19, true);
  const offset = dv.getFloat64(b + 27, true);
  const finite = (vals: number[], what: string): void => {
    if (!vals.every(Number.isFinite)) throw new ImageryFormatError(`${name}: HSD block 5 ${what} are not finite numbers`);
  };
  finite([gain, offset], 'gain/offset');
  if (gain === 0) throw new ImageryFormatError(`${name}: HSD block 5 count-to-radiance gain is 0`);
  // AHI bands 1–6 are visible/near-IR (VIS tail), 7–16 infrared (IR tail) — hsd_format.md block 5a/5b.
  if (h.band >= 7) {
    const c0 = dv.getFloat64(b + 35, true), c1 = dv.getFloat64(b + 43, true), c2 = dv.getFloat64(b + 51, true);
    const lightSpeed = dv.getFloat64(b + 83, true), planck = dv.getFloat64(b + 91, true), boltzmann = dv.getFloat64(b + 99, true);
    finite([c0, c1, c2, lightSpeed, planck, boltzmann], 'IR coefficients');
    // The file's physical constants must be the physical constants (CODATA), within a part in 1e4.
    const near = (v: number, ref: number): boolean => Math.abs(v / ref - 1) < 1e-4;
    if (!near(lightSpeed, 299792458) || !near(planck, 6.62607e-34) || !near(boltzmann, 1.380649e-23)) {
      throw new ImageryFormatError(`${name}: HSD block 5 constants c=${lightSpeed} h=${planck} k=${boltzmann} are not the physical ones`);
    }
    return { instrument: 'ahi', kind: 'ir', gain, offset, errorCount, outsideCount, wavelengthUm: h.centralWavelength, c0, c1, c2, lightSpeed, planck, boltzmann };
  }
  const albedo = dv.getFloat64(b + 35, true);
  const caliGain = dv.getFloat64(b + 51, true), caliOffset = dv.getFloat64(b + 59, true);
  finite([albedo, caliGain, caliOffset], 'VIS coefficients');
  const updated = caliGain !== 0 || caliOffset !== 0;
  return { instrument: 'ahi', kind: 'vis', gain: updated ? caliGain : gain, offset: updated ? caliOffset : offset, errorCount, outsideCount, albedo };
}

function parseSegment(name: string, bytes: Uint8Array): Segment {
  let raw: Uint8Array;
  if (isBzip2(bytes)) raw = bunzipSegment(bytes, name);
  else if (isHsd(bytes)) raw = bytes;
  else throw new ImageryFormatError(`${name}: not a Himawari HSD segment (neither bzip2 nor an HSD block 1)`);
  let header: AhiHeader;
  try {
    header = readAhiHeader(raw, true);
  } catch (err) {
    throw new ImageryFormatError(`${name}: ${errorMessage(err)}`, { cause: err });
  }
  const need = header.totalHeaderLength + header.columns * header.lines * 2;
  if (raw.byteLength < need) throw new ImageryFormatError(`${name}: truncated HSD segment: ${raw.byteLength} bytes, header and ${header.columns}×${header.lines} counts need ${need}`);
  if (raw.byteLength > need) throw new ImageryFormatError(`${name}: HSD segment has ${raw.byteLength - need} bytes after its ${header.columns}×${header.lines} counts`);
  return { name, header, calibration: calibrationOf(raw, header, name), raw };
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Read a band of Himawari HSD segments (each bz2-compressed or plain), in any order. */
export function readAhiScene(segments: ReadonlyArray<Uint8Array | { name: string; bytes: Uint8Array }>): SceneBand {
  if (segments.length === 0) throw new ImageryFormatError('no HSD segments given');
  if (endianness() !== 'LE') throw new ImageryFormatError('HSD counts are little-endian; this host is not');
  const segs = segments
    .map((s, i) => (s instanceof Uint8Array ? parseSegment(`segment #${i + 1}`, s) : parseSegment(s.name, s.bytes)))
    .sort((a, b) => a.header.firstLine - b.header.firstLine);
  const first = segs[0]!;
  const h0 = first.header;
  for (const s of segs.slice(1)) {
    const h = s.header;
    const diff: string[] = [];
    if (h.satellite !== h0.satellite) diff.push(`satellite ${h.satellite} vs ${h0.satellite}`);
    if (h.band !== h0.band) diff.push(`band ${h.band} vs ${h0.band}`);
    if (h.observationArea !== h0.observationArea || h.timeline !== h0.timeline) diff.push(`observation ${h.observationArea}/${h.timeline} vs ${h0.observationArea}/${h0.timeline}`);
    if (h.columns !== h0.columns) diff.push(`${h.columns} columns vs ${h0.columns}`);
    if (h.totalSegments !== h0.totalSegments) diff.push(`${h.totalSegments} segments in all vs ${h0.totalSegments}`);
    if (h.cfac !== h0.cfac || h.lfac !== h0.lfac || h.coff !== h0.coff || h.loff !== h0.loff || h.subLon !== h0.subLon) diff.push('navigation (block 3) differs');
    if (!same(s.calibration, first.calibration)) diff.push('calibration (block 5) differs');
    if (diff.length > 0) throw new ImageryFormatError(`inconsistent HSD segments: ${s.name} and ${first.name}: ${diff.join('; ')}`);
  }
  for (let i = 1; i < segs.length; i++) {
    const a = segs[i - 1]!, b = segs[i]!;
    if (b.header.segment === a.header.segment) throw new ImageryFormatError(`inconsistent HSD segments: ${a.name} and ${b.name} are both segment ${a.header.segment}`);
    const next = a.header.firstLine + a.header.lines;
    if (b.header.firstLine !== next) {
      throw new ImageryFormatError(`HSD segments are not contiguous: ${a.name} (segment ${a.header.segment}) ends before line ${next}, ${b.name} (segment ${b.header.segment}) starts at line ${b.header.firstLine}`);
    }
  }
  const width = h0.columns;
  const height = segs.reduce((n, s) => n + s.header.lines, 0);
  const counts = new Uint16Array(width * height);
  // Byte copy: the counts are little-endian u2 like the host's, and a segment's data need not be 2-byte aligned.
  const dst = new Uint8Array(counts.buffer);
  let at = 0;
  for (const s of segs) {
    const n = s.header.columns * s.header.lines * 2;
    dst.set(s.raw.subarray(s.header.totalHeaderLength, s.header.totalHeaderLength + n), at);
    at += n;
  }
  const km = (v: number): number => Math.round(v * 1e6) / 1e3; // km → m, to the mm the file's decimals carry
  const params = { sweep: 'y' as const, h: km(h0.distanceFromEarthCenter), req: km(h0.earthEquatorialRadius), rpol: km(h0.earthPolarRadius), lon0: h0.subLon > 180 ? h0.subLon - 360 : h0.subLon };
  const num = /^Himawari-(\d)$/.exec(h0.satellite)![1]!;
  return {
    instrument: 'ahi',
    platform: `himawari-${num}`,
    band: h0.band,
    kind: first.calibration.kind,
    wavelengthUm: h0.centralWavelength,
    width,
    height,
    counts,
    dqf: null,
    calibration: first.calibration,
    geo: ahiSceneGeo({ cfac: h0.cfac, lfac: h0.lfac, coff: h0.coff, loff: h0.loff }, h0.firstLine, params),
    start: new Date(Math.min(...segs.map((s) => s.header.start.getTime()))),
    end: new Date(Math.max(...segs.map((s) => s.header.end.getTime()))),
  };
}
