/**
 * Scene headers from the first bytes of an object, for item metadata.
 *
 * ABI L1b netCDF4 (HDF5), read with h5wasm: h5wasm opens files, not buffers,
 * so the first and last bytes are written to a temporary SPARSE file of the
 * object's full size (HDF5 metadata sits at the start, the end, or both). HDF5 then sees a file of the right length (its end-of-file check
 * passes) and reads the metadata it needs from the prefix; anything past the
 * prefix reads as zeros. A metadata read that fails (HeaderIncomplete) asks
 * the caller for a longer prefix.
 *
 * AHI HSD: header blocks 1–11 (little-endian, fixed layouts per the JMA HSD
 * guide as transcribed by satpy) after bz2 decompression of the stream start.
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import h5wasm from 'h5wasm/node';
import { StarWeatherError, errorMessage } from '../../protocol/errors.js';

/** A file that is not what its name says, or is damaged: skipped with this reason. */
export class ImageryFormatError extends StarWeatherError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SW_ERR_DECODE', message, options);
    this.name = 'ImageryFormatError';
  }
}

/** The prefix ended before the header did: read more and try again. */
export class HeaderIncompleteError extends StarWeatherError {
  constructor(message: string) {
    super('SW_ERR_DECODE', message);
    this.name = 'HeaderIncompleteError';
  }
}

// ---- ABI -----------------------------------------------------------------

export interface AbiHeader {
  platformId: string | null;
  sceneId: string | null;
  /**
   * Scan start and end: the global attributes time_coverage_start/_end, the
   * times satpy's start_time/end_time and NOAA's file names (s…, e…) use
   * (real CDL: s20170590337505 ↔ time_coverage_start "2017-02-28T03:37:50.5Z").
   */
  start: Date;
  end: Date;
  bandId: number;
  /** µm */
  wavelength: number;
  /** Rad(y, x) */
  shape: [number, number];
  radUnits: string | null;
  /** Scan angles (rad) of the first and last pixel centres, and the pixel steps. */
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  dx: number;
  dy: number;
  projection: {
    perspectivePointHeight: number;
    semiMajorAxis: number;
    semiMinorAxis: number;
    lon0: number;
    sweep: string;
  };
}

let h5Ready: Promise<unknown> | null = null;
/** h5wasm loaded, with HDF5 errors thrown as exceptions (shared with the tile readers). */
export function ready(): Promise<unknown> {
  // The throwing handler turns HDF5's error stack into the JS exception instead of printing it to stderr.
  h5Ready ??= h5wasm.ready.then((m) => (m as unknown as { activate_throwing_error_handler(): number }).activate_throwing_error_handler());
  return h5Ready;
}

/** The innermost cause in an HDF5 error stack ("truncated file: eof = …"), else the message's start. */
export function hdf5Reason(err: unknown): string {
  const msg = errorMessage(err);
  const causes = [...msg.matchAll(/\(\): ([^\n]+)/g)].map((m) => m[1]!.trim());
  return (causes[causes.length - 1] ?? msg).slice(0, 200);
}

type H5File = InstanceType<typeof h5wasm.File>;
type H5Entity = ReturnType<H5File['get']>;

function num(v: unknown, what: string): number {
  const x = ArrayBuffer.isView(v) ? (v as unknown as ArrayLike<number | bigint>)[0] : Array.isArray(v) ? v[0] : v;
  const n = typeof x === 'bigint' ? Number(x) : x;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new ImageryFormatError(`${what} is not a finite number`);
  return n;
}

function str(v: unknown): string | null {
  const x = Array.isArray(v) ? v[0] : v;
  return typeof x === 'string' ? x.replace(/\0+$/, '') : null;
}

/** Everything h5wasm might throw reading metadata, as "read more" (prefix) or "damaged" (whole file). */
function read<T>(what: string, whole: boolean, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ImageryFormatError) throw err;
    const msg = `cannot read ${what}: HDF5: ${hdf5Reason(err)}`;
    throw whole ? new ImageryFormatError(msg, { cause: err }) : new HeaderIncompleteError(msg);
  }
}

function dataset(f: H5File, name: string, whole: boolean): NonNullable<H5Entity> & { attrs: Record<string, { value: unknown }>; shape: number[] | null; value: unknown } {
  const e = read(`variable ${name}`, whole, () => f.get(name));
  if (!e) {
    if (whole) throw new ImageryFormatError(`not an ABI L1b file: variable ${name} is missing`);
    throw new HeaderIncompleteError(`variable ${name} not found in the prefix`);
  }
  return e as never;
}

function attr(e: { attrs: Record<string, { value: unknown }> }, name: string, of: string, whole: boolean): unknown {
  return read(`${of}:${name}`, whole, () => {
    const a = e.attrs[name];
    if (!a) throw new ImageryFormatError(`${of} has no attribute ${name}`);
    return a.value;
  });
}

/**
 * Parse an ABI L1b header from `prefix`, the first bytes of an object of
 * `totalSize` bytes (the whole file when equal), and optionally `tail`, its
 * last bytes.
 */
export async function readAbiHeader(prefix: Uint8Array, totalSize: number, tail?: Uint8Array): Promise<AbiHeader> {
  const whole = prefix.byteLength >= totalSize || (tail !== undefined && prefix.byteLength + tail.byteLength >= totalSize);
  if (prefix.byteLength < 8 || !(prefix[0] === 0x89 && prefix[1] === 0x48 && prefix[2] === 0x44 && prefix[3] === 0x46)) {
    throw new ImageryFormatError('not an HDF5/netCDF4 file (no HDF5 signature at offset 0)');
  }
  await ready();
  const dir = await mkdtemp(join(tmpdir(), 'sw-abi-'));
  const path = join(dir, 'header.nc');
  try {
    const fh = await open(path, 'w', 0o600);
    try {
      await fh.write(prefix, 0, prefix.byteLength, 0);
      if (totalSize > prefix.byteLength) await fh.truncate(totalSize);
      // HDF5 writers may put metadata at the end (the root group's index is often written last).
      if (tail && tail.byteLength > 0 && tail.byteLength <= totalSize) await fh.write(tail, 0, tail.byteLength, totalSize - tail.byteLength);
    } finally {
      await fh.close();
    }
    const f = read('the HDF5 superblock', whole, () => new h5wasm.File(path, 'r'));
    try {
      return parseAbi(f, whole);
    } finally {
      try {
        f.close();
      } catch {
        // closing a file whose metadata failed to read can throw; nothing to release then
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A time_coverage_* attribute: ISO 8601 UTC as the product writes it, to the
 * tenth of a second ("2022-01-01T18:00:20.5Z", real CDL). Parsed by hand:
 * Date.parse accepts a fraction of other than three digits only through
 * V8's lenient fallback, and would take local-time forms without the Z.
 */
export function coverageTime(v: string | null, what: string, whole: boolean): Date {
  if (v === null || v === '') {
    // Absent on a prefix may be the unread part of the file; absent from the whole file is a file that is not L1b.
    if (whole) throw new ImageryFormatError(`not an ABI L1b file: global attribute ${what} is missing`);
    throw new HeaderIncompleteError(`global attribute ${what} not found in the prefix`);
  }
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$/.exec(v);
  if (!m) {
    // A prefix may hold part of the attribute heap: only the whole file can say the value is bad.
    if (!whole) throw new HeaderIncompleteError(`global attribute ${what} is not readable from the prefix`);
    throw new ImageryFormatError(`${what} ${JSON.stringify(v.slice(0, 40))} is not an ISO 8601 UTC time (YYYY-MM-DDThh:mm:ss[.s]Z)`);
  }
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const ms = m[7] === undefined ? 0 : Math.round(Number(`0.${m[7]}`) * 1000);
  const t = Date.UTC(y, mo - 1, d, h, mi, sec) + ms;
  const back = new Date(t);
  // Date.UTC rolls 2026-02-30 over to March: a field out of range is a bad value, not another date.
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || back.getUTCHours() !== h || back.getUTCMinutes() !== mi || back.getUTCSeconds() !== sec) {
    throw new ImageryFormatError(`${what} ${JSON.stringify(v)} is not a calendar time`);
  }
  // GOES-R launched in 2016; a time before 2000 or far ahead is a damaged attribute.
  if (y < 2000 || y > 2100) throw new ImageryFormatError(`${what} ${v} is out of range`);
  return back;
}

/** The header fields of an open ABI L1b file (`whole`: every byte is there, so a failure is damage, not a short prefix). */
export function parseAbi(f: H5File, whole: boolean): AbiHeader {
  const proj = dataset(f, 'goes_imager_projection', whole);
  const gattr = (name: string): string | null => str(read(`global attribute ${name}`, whole, () => (f.attrs as Record<string, { value: unknown }>)[name]?.value));
  const p = {
    perspectivePointHeight: num(attr(proj, 'perspective_point_height', 'goes_imager_projection', whole), 'perspective_point_height'),
    semiMajorAxis: num(attr(proj, 'semi_major_axis', 'goes_imager_projection', whole), 'semi_major_axis'),
    semiMinorAxis: num(attr(proj, 'semi_minor_axis', 'goes_imager_projection', whole), 'semi_minor_axis'),
    lon0: num(attr(proj, 'longitude_of_projection_origin', 'goes_imager_projection', whole), 'longitude_of_projection_origin'),
    sweep: str(attr(proj, 'sweep_angle_axis', 'goes_imager_projection', whole)) ?? 'x',
  };
  if (p.perspectivePointHeight < 1e7 || p.perspectivePointHeight > 1e8) throw new ImageryFormatError(`perspective_point_height ${p.perspectivePointHeight} m is not geostationary`);
  if (p.semiMajorAxis < 6e6 || p.semiMajorAxis > 7e6 || p.semiMinorAxis < 6e6 || p.semiMinorAxis > p.semiMajorAxis) throw new ImageryFormatError('goes_imager_projection axes are not the earth');
  if (p.lon0 < -180 || p.lon0 > 180) throw new ImageryFormatError(`longitude_of_projection_origin ${p.lon0} out of range`);

  const rad = dataset(f, 'Rad', whole);
  const shape = read('Rad shape', whole, () => rad.shape);
  if (!shape || shape.length !== 2 || shape[0]! < 1 || shape[1]! < 1) throw new ImageryFormatError('Rad is not a 2-D (y, x) variable');
  const radUnits = str(read('Rad:units', whole, () => rad.attrs['units']?.value ?? null));

  const axis = (name: 'x' | 'y', n: number): { first: number; last: number; step: number } => {
    const v = dataset(f, name, whole);
    const scale = num(attr(v, 'scale_factor', name, whole), `${name}:scale_factor`);
    const offset = num(attr(v, 'add_offset', name, whole), `${name}:add_offset`);
    const values = read(`${name} values`, whole, () => v.value) as ArrayLike<number>;
    if (!values || values.length !== n) throw new ImageryFormatError(`${name} has ${values?.length ?? 0} values, Rad has ${n}`);
    const first = values[0]! * scale + offset;
    const last = values[n - 1]! * scale + offset;
    if (!whole && values[0] === 0 && values[n - 1] === 0 && n > 1) throw new HeaderIncompleteError(`${name} values lie past the prefix`);
    if (Math.abs(first) > 0.3 || Math.abs(last) > 0.3) throw new ImageryFormatError(`${name} scan angles beyond ±0.3 rad`);
    return { first, last, step: scale };
  };
  const x = axis('x', shape[1]!);
  const y = axis('y', shape[0]!);

  const scalar = (name: string): number => num(read(name, whole, () => dataset(f, name, whole).value), name);
  const start = coverageTime(gattr('time_coverage_start'), 'time_coverage_start', whole);
  const end = coverageTime(gattr('time_coverage_end'), 'time_coverage_end', whole);
  if (end < start) throw new ImageryFormatError(`time_coverage_end ${end.toISOString()} is before time_coverage_start ${start.toISOString()}`);
  const bandId = scalar('band_id');
  const wavelength = scalar('band_wavelength');
  // Zeros may be the unread part of a sparse prefix rather than the file's values.
  if (!whole && (bandId === 0 || wavelength === 0)) throw new HeaderIncompleteError('band values lie past the prefix');
  if (!Number.isInteger(bandId) || bandId < 1 || bandId > 16) throw new ImageryFormatError(`band_id ${bandId} outside 1..16`);
  if (wavelength <= 0.3 || wavelength > 20) throw new ImageryFormatError(`band_wavelength ${wavelength} µm is not an ABI band`);
  return {
    platformId: gattr('platform_ID'),
    sceneId: gattr('scene_id'),
    start,
    end,
    bandId,
    wavelength,
    shape: [shape[0]!, shape[1]!],
    radUnits,
    x0: x.first,
    x1: x.last,
    y0: y.first,
    y1: y.last,
    dx: x.step,
    dy: y.step,
    projection: p,
  };
}

// ---- AHI -----------------------------------------------------------------

export interface AhiHeader {
  satellite: string;
  observationArea: string;
  timeline: number;
  start: Date;
  end: Date;
  totalHeaderLength: number;
  columns: number;
  lines: number;
  bitsPerPixel: number;
  subLon: number;
  cfac: number;
  lfac: number;
  coff: number;
  loff: number;
  /** km */
  distanceFromEarthCenter: number;
  earthEquatorialRadius: number;
  earthPolarRadius: number;
  band: number;
  /** µm */
  centralWavelength: number;
  totalSegments: number;
  segment: number;
  firstLine: number;
}

const HSD_FIXED: Record<number, number> = { 1: 282, 2: 50, 3: 127, 4: 139, 5: 147, 6: 259, 7: 47, 11: 259 };
const MJD_EPOCH = Date.UTC(1858, 10, 17);

const require = createRequire(import.meta.url);
interface Bzip2Module {
  decompressFile(input: Uint8Array, output: { writeByte(b: number): void }): unknown;
}
let bzip2: Bzip2Module | null = null;
function bz(): Bzip2Module {
  bzip2 ??= (require('compressjs') as { Bzip2: Bzip2Module }).Bzip2;
  return bzip2;
}

/**
 * Decompress the start of a bz2 stream: whole blocks are CRC-checked; a
 * stream cut short after them still yields what they held.
 */
export function bunzipPrefix(input: Uint8Array, wanted: number, whole = false): Uint8Array {
  if (input.byteLength < 4 || input[0] !== 0x42 || input[1] !== 0x5a || input[2] !== 0x68) throw new ImageryFormatError('not a bzip2 stream (no BZh signature)');
  const chunks: number[] = [];
  try {
    bz().decompressFile(input, { writeByte: (b: number) => void chunks.push(b) });
  } catch (err) {
    const msg = errorMessage(err);
    // CRC failures are damage; anything else on the whole file is too; on a prefix it may be the cut.
    if (/crc/i.test(msg) || (whole && chunks.length < wanted)) throw new ImageryFormatError(`bzip2 data is corrupt: ${msg.slice(0, 200)}`, { cause: err });
    if (chunks.length < wanted) throw new HeaderIncompleteError(`bzip2 prefix decoded to ${chunks.length} bytes, need ${wanted} (${msg.slice(0, 100)})`);
  }
  return Uint8Array.from(chunks);
}

function ascii(b: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = off; i < off + len && b[i] !== 0; i++) s += String.fromCharCode(b[i]!);
  return s;
}

/**
 * Parse HSD header blocks 1–11 from `bytes` (a bz2 stream start or raw HSD).
 * `whole`: the bytes are the whole object (no longer prefix exists).
 */
export function readAhiHeader(input: Uint8Array, whole: boolean): AhiHeader {
  const raw = input[0] === 0x42 && input[1] === 0x5a && input[2] === 0x68 ? bunzipPrefix(input, 2048, whole) : input;
  const need = (n: number, what: string): void => {
    if (raw.byteLength < n) {
      if (whole) throw new ImageryFormatError(`truncated HSD file: ${what} needs ${n} bytes, file has ${raw.byteLength}`);
      throw new HeaderIncompleteError(`${what} needs ${n} bytes, prefix has ${raw.byteLength}`);
    }
  };
  need(282, 'block 1');
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const offsets: number[] = [];
  let off = 0;
  for (let n = 1; n <= 11; n++) {
    need(off + 7, `block ${n} header`);
    const id = dv.getUint8(off);
    if (id !== n) throw new ImageryFormatError(`HSD block ${n} expected at offset ${off}, found block number ${id}`);
    const len = n === 10 ? dv.getUint32(off + 1, true) : dv.getUint16(off + 1, true);
    const fixed = HSD_FIXED[n];
    if (fixed !== undefined && len !== fixed) throw new ImageryFormatError(`HSD block ${n} length ${len}, expected ${fixed}`);
    if (len < 7) throw new ImageryFormatError(`HSD block ${n} length ${len} is too short`);
    offsets.push(off);
    off += len;
  }
  need(off, 'header blocks 1–11');
  const b1 = offsets[0]!, b2 = offsets[1]!, b3 = offsets[2]!, b5 = offsets[4]!, b7 = offsets[6]!;
  if (dv.getUint16(b1 + 3, true) !== 11) throw new ImageryFormatError(`HSD total_number_of_hblocks is ${dv.getUint16(b1 + 3, true)}, not 11`);
  if (dv.getUint8(b1 + 5) !== 0) throw new ImageryFormatError('HSD byte_order is not little-endian (0)');
  const totalHeaderLength = dv.getUint32(b1 + 70, true);
  if (totalHeaderLength !== off) throw new ImageryFormatError(`HSD total_header_length ${totalHeaderLength} ≠ sum of block lengths ${off}`);
  const mjd = (o: number, what: string): Date => {
    const v = dv.getFloat64(o, true);
    if (!Number.isFinite(v) || v < 40000 || v > 100000) throw new ImageryFormatError(`HSD ${what} ${v} is not a plausible MJD`);
    return new Date(MJD_EPOCH + Math.round(v * 86_400_000));
  };
  const columns = dv.getUint16(b2 + 5, true);
  const lines = dv.getUint16(b2 + 7, true);
  if (columns < 1 || lines < 1) throw new ImageryFormatError('HSD image has no pixels');
  const totalDataLength = dv.getUint32(b1 + 74, true);
  if (totalDataLength !== columns * lines * 2) throw new ImageryFormatError(`HSD total_data_length ${totalDataLength} ≠ ${columns}×${lines}×2`);
  const h: AhiHeader = {
    satellite: ascii(raw, b1 + 6, 16),
    observationArea: ascii(raw, b1 + 38, 4),
    timeline: dv.getUint16(b1 + 44, true),
    start: mjd(b1 + 46, 'observation_start_time'),
    end: mjd(b1 + 54, 'observation_end_time'),
    totalHeaderLength,
    columns,
    lines,
    bitsPerPixel: dv.getUint16(b2 + 3, true),
    subLon: dv.getFloat64(b3 + 3, true),
    cfac: dv.getUint32(b3 + 11, true),
    lfac: dv.getUint32(b3 + 15, true),
    coff: dv.getFloat32(b3 + 19, true),
    loff: dv.getFloat32(b3 + 23, true),
    distanceFromEarthCenter: dv.getFloat64(b3 + 27, true),
    earthEquatorialRadius: dv.getFloat64(b3 + 35, true),
    earthPolarRadius: dv.getFloat64(b3 + 43, true),
    band: dv.getUint16(b5 + 3, true),
    centralWavelength: dv.getFloat64(b5 + 5, true),
    totalSegments: dv.getUint8(b7 + 3),
    segment: dv.getUint8(b7 + 4),
    firstLine: dv.getUint16(b7 + 5, true),
  };
  if (!/^Himawari-\d$/.test(h.satellite)) throw new ImageryFormatError(`HSD satellite ${JSON.stringify(h.satellite)} is not Himawari`);
  if (h.end < h.start) throw new ImageryFormatError('HSD observation end before start');
  if (h.bitsPerPixel !== 16) throw new ImageryFormatError(`HSD ${h.bitsPerPixel} bits per pixel, expected 16`);
  if (!(h.subLon > -180 && h.subLon <= 360) || h.cfac === 0 || h.lfac === 0) throw new ImageryFormatError('HSD projection block is not plausible');
  if (!(h.distanceFromEarthCenter > 40000 && h.distanceFromEarthCenter < 45000) || !(h.earthEquatorialRadius > 6000 && h.earthEquatorialRadius < 7000) || !(h.earthPolarRadius > 6000 && h.earthPolarRadius <= h.earthEquatorialRadius)) {
    throw new ImageryFormatError('HSD earth/satellite distances (km) are not plausible');
  }
  if (h.band < 1 || h.band > 16 || !(h.centralWavelength > 0.3 && h.centralWavelength < 20)) throw new ImageryFormatError(`HSD band ${h.band} / ${h.centralWavelength} µm is not an AHI band`);
  if (h.totalSegments < 1 || h.segment < 1 || h.segment > h.totalSegments) throw new ImageryFormatError(`HSD segment ${h.segment} of ${h.totalSegments}`);
  return h;
}
