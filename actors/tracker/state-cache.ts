/**
 * Reading one object's latest state from the hot cache.
 *
 * The tracker writes, every tick, each owned shard's encoded
 * `tracker.state` v1 frame (protocol/frames/tracker-state.ts) to the cache
 * under the shard (HotCache.setShardFrameBytes): one value per shard
 * instead of one JSON value per object, so every object is in the cache
 * every tick at the cost of one MSET. A reader finds the object's shard
 * (shardOf(String(noradId), shardCount), the tracker's own sharding), reads
 * that frame and decodes the object's record into the `satellite.state`
 * view, minus the element-set fields the frame does not carry.
 *
 * The cached frame is the float64 version-2 frame (the bus carries the
 * float32 version 1): a state read here is the tracker's own doubles, and
 * says so (`precision`). A version-1 frame (a tracker from before version 2,
 * or a record this gateway took off the bus) decodes too, as `float32`.
 */
import { decodeAnyTrackerFrameHeader, TRACKER_FRAME_HEADER_BYTES, TRACKER_FRAME_VERSION, TRACKER_FRAME_VERSION_F64 } from '../../protocol/frames/tracker-state.js';
import type { SatelliteState } from '../../protocol/messages/satellite-state.js';
import { errorMessage } from '../../protocol/errors.js';
import { shardOf } from '../runtime/sharding.js';
import type { HotCache } from '../storage/cache.js';
import { isGood, qaFlagNames } from './qa.js';

/** A state as decoded from a frame record: satellite.state v1 without `epoch` and `elementSetSource`. */
export type TrackedState = Omit<SatelliteState, 'epoch' | 'elementSetSource'>;

export interface ReadStateOptions {
  /** Called once per malformed cached frame (the read then answers null). */
  onMalformed?(reason: string, shard: number): void;
}

/** Malformed cached frames seen by readSatelliteState in this process. */
export const stateCacheStats = { malformed: 0 };

function fin(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

/**
 * Decode the record at `offset` of `dv` into the state view: a 48-byte
 * float32 record of a version-1 frame (the default), or an 88-byte float64
 * one of a version-2 frame.
 */
export function decodeStateRecord(dv: DataView, offset: number, shard: number, tickMs: number, frameVersion: number = TRACKER_FRAME_VERSION): TrackedState {
  const f64 = frameVersion === TRACKER_FRAME_VERSION_F64;
  const f = f64 ? (k: number) => fin(dv.getFloat64(offset + 8 + 8 * k, true)) : (k: number) => fin(dv.getFloat32(offset + 8 + 4 * k, true));
  const flagBits = dv.getUint32(offset + 4, true);
  return {
    v: 1,
    precision: f64 ? 'float64' : 'float32',
    noradId: dv.getUint32(offset, true),
    t: new Date(tickMs).toISOString(),
    teme: { r: [f(0), f(1), f(2)], v: [f(3), f(4), f(5)] },
    geodetic: { latDeg: f(6), lonDeg: f(7), altKm: f(8) },
    speedKmS: f(9),
    flags: qaFlagNames(flagBits),
    flagBits,
    good: isGood(flagBits),
    shard,
  };
}

/**
 * Find `noradId` in an encoded frame. Returns its state, null when the frame
 * does not hold it; throws a ProtocolError (SW_ERR_DECODE) on a malformed frame.
 */
export function stateFromFrame(bytes: Uint8Array, noradId: number, expectShard?: number): TrackedState | null {
  const h = decodeAnyTrackerFrameHeader(bytes);
  if (expectShard !== undefined && h.shard !== expectShard) throw new RangeError(`frame is of shard ${h.shard}, expected ${expectShard}`);
  if (!Number.isFinite(h.tickMs) || Math.abs(h.tickMs) > 8.64e15) throw new RangeError('frame tick time is not a valid instant');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let k = 0, o = TRACKER_FRAME_HEADER_BYTES; k < h.count; k++, o += h.recordBytes) {
    if (dv.getUint32(o, true) === noradId) return decodeStateRecord(dv, o, h.shard, h.tickMs, h.version);
  }
  return null;
}

/**
 * The latest cached state of `noradId`, or null when the cache has no frame
 * for its shard, the frame does not hold it, or the frame is malformed
 * (counted in stateCacheStats and reported to onMalformed, never thrown).
 * Cache outages already answer a miss (HotCache contract).
 */
export async function readSatelliteState(cache: HotCache, shardCount: number, noradId: number, options: ReadStateOptions = {}): Promise<TrackedState | null> {
  const shard = shardOf(String(noradId), shardCount);
  const bytes = await cache.getShardFrameBytes(shard);
  if (bytes === null) return null;
  try {
    return stateFromFrame(bytes, noradId, shard);
  } catch (err) {
    stateCacheStats.malformed++;
    options.onMalformed?.(errorMessage(err), shard);
    return null;
  }
}
