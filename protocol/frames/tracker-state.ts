/**
 * Tracker state frame: every object state one tracker shard produced in one
 * tick, as one compact little-endian binary message on
 * `<ns>.tracker.state.v1.<shard>`. At 100,000 objects and 1 Hz, JSON would
 * cost ~25 MB/s and a parse per object; this is 48 bytes per object and a
 * DataView walk.
 *
 * Layout (version 1):
 *   header, 24 bytes
 *     0  u8[4] magic "SWST"
 *     4  u8    version (1)
 *     5  u8    reserved (0)
 *     6  u16   shard
 *     8  f64   tick time, ms since the Unix epoch (UTC)
 *    16  u32   record count
 *    20  u32   reserved (0)
 *   record, 48 bytes each
 *     0  u32   NORAD catalog number (up to 9 digits fits: 999,999,999 < 2^32)
 *     4  u32   QA flags (bit meanings: actors/tracker/qa.ts, QA_FLAG_NAMES)
 *     8  f32×3 TEME position, km
 *    20  f32×3 TEME velocity, km/s
 *    32  f32   geodetic latitude, degrees
 *    36  f32   geodetic longitude, degrees (−180..180)
 *    40  f32   altitude above the WGS-84 ellipsoid, km
 *    44  f32   speed, km/s
 * float32 rounds each number to 24 significant bits: up to 0.24 m per
 * position component in LEO (half a unit in the last place below 8192 km)
 * and 2 m per component, 3.4 m in 3-D, at GEO radius; ~1e-5° in angles.
 * Enough for display and the websocket fanout, not for anyone who computes
 * with the numbers.
 *
 * Version 2, the cache frame: the same header (version byte 2) and the same
 * record fields as float64, 88 bytes a record (u32 id, u32 flags, f64×10 at
 * +8 .. +80), the tracker's own doubles as computed. The tracker writes it
 * to the hot cache as its shard's latest frame, and REST states are decoded
 * from it (actors/tracker/state-cache.ts); it never goes on the bus subject,
 * which stays version 1.
 */
import { ProtocolError } from '../errors.js';

export const TRACKER_FRAME_MAGIC = 0x54535753; // "SWST" read as little-endian u32
export const TRACKER_FRAME_VERSION = 1;
export const TRACKER_FRAME_HEADER_BYTES = 24;
export const TRACKER_FRAME_RECORD_BYTES = 48;
/** The cache frame: float64 values (layout above, version 2). */
export const TRACKER_FRAME_VERSION_F64 = 2;
export const TRACKER_FRAME_F64_RECORD_BYTES = 88;
/** Doubles per object in a StateColumns.values array. */
export const STATE_STRIDE = 10;

export interface TrackerFrameHeader {
  shard: number;
  tickMs: number;
  count: number;
}

/** A header of either version, with what its records are. */
export interface AnyTrackerFrameHeader extends TrackerFrameHeader {
  version: typeof TRACKER_FRAME_VERSION | typeof TRACKER_FRAME_VERSION_F64;
  recordBytes: number;
}

/** Struct-of-arrays input/output: no object per satellite in the hot loop. */
export interface StateColumns {
  ids: Uint32Array;
  flags: Uint32Array;
  /** STATE_STRIDE numbers per object: x y z vx vy vz lat lon alt speed. */
  values: Float64Array | Float32Array;
  count: number;
}

export function trackerFrameSize(count: number): number {
  return TRACKER_FRAME_HEADER_BYTES + count * TRACKER_FRAME_RECORD_BYTES;
}

/** Bytes of a version-2 (float64, cache) frame of `count` records. */
export function trackerFrameF64Size(count: number): number {
  return TRACKER_FRAME_HEADER_BYTES + count * TRACKER_FRAME_F64_RECORD_BYTES;
}

/**
 * Encode `count` states (optionally a subset given by `index`) into `out`
 * (allocated when absent). Returns the bytes written as a view.
 */
export function encodeTrackerFrame(
  shard: number,
  tickMs: number,
  cols: StateColumns,
  index?: ArrayLike<number>,
  indexCount?: number,
  out?: Uint8Array,
): Uint8Array {
  return encodeFrame(TRACKER_FRAME_VERSION, shard, tickMs, cols, index, indexCount, out);
}

/** The same as a version-2 frame: float64 values, for the hot cache. */
export function encodeTrackerFrameF64(
  shard: number,
  tickMs: number,
  cols: StateColumns,
  index?: ArrayLike<number>,
  indexCount?: number,
  out?: Uint8Array,
): Uint8Array {
  return encodeFrame(TRACKER_FRAME_VERSION_F64, shard, tickMs, cols, index, indexCount, out);
}

function encodeFrame(
  version: AnyTrackerFrameHeader['version'],
  shard: number,
  tickMs: number,
  cols: StateColumns,
  index?: ArrayLike<number>,
  indexCount?: number,
  out?: Uint8Array,
): Uint8Array {
  if (!Number.isInteger(shard) || shard < 0 || shard > 0xffff) throw new RangeError(`shard ${shard} out of u16 range`);
  const f64 = version === TRACKER_FRAME_VERSION_F64;
  const recordBytes = f64 ? TRACKER_FRAME_F64_RECORD_BYTES : TRACKER_FRAME_RECORD_BYTES;
  const n = index ? (indexCount ?? index.length) : cols.count;
  const size = TRACKER_FRAME_HEADER_BYTES + n * recordBytes;
  const buf = out && out.byteLength >= size ? out.subarray(0, size) : new Uint8Array(size);
  const dv = new DataView(buf.buffer, buf.byteOffset, size);
  dv.setUint32(0, TRACKER_FRAME_MAGIC, true);
  dv.setUint8(4, version);
  dv.setUint8(5, 0);
  dv.setUint16(6, shard, true);
  dv.setFloat64(8, tickMs, true);
  dv.setUint32(16, n, true);
  dv.setUint32(20, 0, true);
  const v = cols.values;
  let o = TRACKER_FRAME_HEADER_BYTES;
  for (let k = 0; k < n; k++) {
    const i = index ? index[k]! : k;
    dv.setUint32(o, cols.ids[i]!, true);
    dv.setUint32(o + 4, cols.flags[i]!, true);
    const b = i * STATE_STRIDE;
    if (f64) for (let j = 0; j < STATE_STRIDE; j++) dv.setFloat64(o + 8 + 8 * j, v[b + j]!, true);
    else for (let j = 0; j < STATE_STRIDE; j++) dv.setFloat32(o + 8 + 4 * j, v[b + j]!, true);
    o += recordBytes;
  }
  return buf;
}

/** A bus frame's header: version 1 only (the subject's contract). */
export function decodeTrackerFrameHeader(bytes: Uint8Array): TrackerFrameHeader {
  const h = decodeAnyTrackerFrameHeader(bytes);
  if (h.version !== TRACKER_FRAME_VERSION) throw new ProtocolError('SW_ERR_DECODE', `tracker frame: unsupported version ${h.version}`);
  return { shard: h.shard, tickMs: h.tickMs, count: h.count };
}

/** A header of version 1 (bus, float32) or 2 (cache, float64); anything else is rejected. */
export function decodeAnyTrackerFrameHeader(bytes: Uint8Array): AnyTrackerFrameHeader {
  if (bytes.byteLength < TRACKER_FRAME_HEADER_BYTES) {
    throw new ProtocolError('SW_ERR_DECODE', `tracker frame: ${bytes.byteLength} bytes is shorter than the ${TRACKER_FRAME_HEADER_BYTES}-byte header`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== TRACKER_FRAME_MAGIC) throw new ProtocolError('SW_ERR_DECODE', 'tracker frame: bad magic');
  const version = dv.getUint8(4);
  if (version !== TRACKER_FRAME_VERSION && version !== TRACKER_FRAME_VERSION_F64) throw new ProtocolError('SW_ERR_DECODE', `tracker frame: unsupported version ${version}`);
  const recordBytes = version === TRACKER_FRAME_VERSION_F64 ? TRACKER_FRAME_F64_RECORD_BYTES : TRACKER_FRAME_RECORD_BYTES;
  const count = dv.getUint32(16, true);
  const need = TRACKER_FRAME_HEADER_BYTES + count * recordBytes;
  if (bytes.byteLength !== need) {
    throw new ProtocolError('SW_ERR_DECODE', `tracker frame: ${count} records need ${need} bytes, got ${bytes.byteLength}`);
  }
  const tickMs = dv.getFloat64(8, true);
  if (!Number.isFinite(tickMs)) throw new ProtocolError('SW_ERR_DECODE', 'tracker frame: tick time is not finite');
  return { shard: dv.getUint16(6, true), tickMs, count, version, recordBytes };
}

/** Decode a whole frame into columns (float32 values, as sent). */
export function decodeTrackerFrame(bytes: Uint8Array): TrackerFrameHeader & { columns: StateColumns } {
  const header = decodeTrackerFrameHeader(bytes);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ids = new Uint32Array(header.count);
  const flags = new Uint32Array(header.count);
  const values = new Float32Array(header.count * STATE_STRIDE);
  let o = TRACKER_FRAME_HEADER_BYTES;
  for (let k = 0; k < header.count; k++) {
    ids[k] = dv.getUint32(o, true);
    flags[k] = dv.getUint32(o + 4, true);
    for (let j = 0; j < STATE_STRIDE; j++) values[k * STATE_STRIDE + j] = dv.getFloat32(o + 8 + 4 * j, true);
    o += TRACKER_FRAME_RECORD_BYTES;
  }
  return { ...header, columns: { ids, flags, values, count: header.count } };
}

/** The layout above, for the generated protocol reference. */
export const TRACKER_FRAME_DOC = `Subject \`<ns>.tracker.state.v1.<shard>\` (core NATS, 1 Hz per shard), little-endian.

| offset | type | field |
| --- | --- | --- |
| 0 | u8[4] | magic \`SWST\` |
| 4 | u8 | version (1) |
| 5 | u8 | reserved (0) |
| 6 | u16 | shard |
| 8 | f64 | tick time, ms since the Unix epoch (UTC) |
| 16 | u32 | record count N |
| 20 | u32 | reserved (0) |
| 24 + 48·i | u32 | NORAD catalog number (up to 9 digits) |
| +4 | u32 | QA flags |
| +8 | f32×3 | TEME position, km |
| +20 | f32×3 | TEME velocity, km/s |
| +32 | f32 | geodetic latitude, ° |
| +36 | f32 | geodetic longitude, ° (−180..180) |
| +40 | f32 | altitude above the WGS-84 ellipsoid, km |
| +44 | f32 | speed, km/s |

A frame is exactly 24 + 48·N bytes; anything else is rejected.

**Precision.** The f32 fields are rounded to 24 significant bits: up to 0.24 m per position component in LEO and 2 m per component (3.4 m in 3-D) at GEO radius, ~1e-5° in latitude and longitude. That is this frame (and so the websocket \`state\` frames, which carry it) only: REST states are float64 and say so (\`precision: "float64"\` in \`satellite.state\`).

**Cache frame (version 2).** What the tracker writes to the hot cache (\`<ns>:frameb:<shard>\`) and REST states are decoded from: the same header with version 2, then 88 bytes a record: u32 NORAD number, u32 QA flags, and the ten values above in the same order as **f64** (+8 .. +80). Exactly 24 + 88·N bytes. It never goes on the bus subject.`;
