/**
 * The latest two states of every object, from 1 Hz tracker frames, and its
 * position at any moment between them (or a little past the newer one).
 *
 * Display time runs one tick behind the newest frame: when a frame for tick
 * t1 arrives, the map is showing t0 = t1 − 1 s and moves towards t1 over the
 * next second, so motion is continuous without guessing ahead. Display time
 * is taken from the frames themselves (tick + local time since it arrived),
 * so a skewed browser clock does not matter.
 */
import type { StateColumns } from '../../../../protocol/frames/tracker-state.js';
import { STATE_STRIDE } from '../../../../protocol/frames/tracker-state.js';

export interface TrackedObject {
  id: number;
  flags: number;
  t0: number;
  lat0: number;
  lon0: number;
  alt0: number;
  t1: number;
  lat1: number;
  lon1: number;
  alt1: number;
  speed: number;
}

/** Value offsets in a StateColumns row (protocol/frames/tracker-state.ts): x y z vx vy vz lat lon alt speed. */
const LAT = 6;
const LON = 7;
const ALT = 8;
const SPEED = 9;
/** Extrapolate at most this far past the newest frame (a late frame), as a fraction of a tick. */
const MAX_EXTRAPOLATION = 0.5;
/** Objects missing from frames this long are dropped (decayed, or left the subscription). */
const STALE_MS = 15_000;

export class StateStore {
  readonly objects = new Map<number, TrackedObject>();
  lastTickMs: number | null = null;
  private lastArrival = 0;
  frames = 0;

  /** One decoded frame (snapshot or tick). */
  ingest(tickMs: number, c: StateColumns, arrivedAt = performance.now()): void {
    this.frames++;
    for (let k = 0; k < c.count; k++) {
      const id = c.ids[k]!;
      const b = k * STATE_STRIDE;
      const lat = c.values[b + LAT]!;
      const lon = c.values[b + LON]!;
      const alt = c.values[b + ALT]!;
      const o = this.objects.get(id);
      if (!Number.isFinite(lat) || !Number.isFinite(lon)) continue;
      if (!o) {
        this.objects.set(id, { id, flags: c.flags[k]!, t0: tickMs, lat0: lat, lon0: lon, alt0: alt, t1: tickMs, lat1: lat, lon1: lon, alt1: alt, speed: c.values[b + SPEED]! });
        continue;
      }
      if (tickMs <= o.t1) continue; // a snapshot repeating a tick we have, or an old frame
      o.t0 = o.t1;
      o.lat0 = o.lat1;
      o.lon0 = o.lon1;
      o.alt0 = o.alt1;
      o.t1 = tickMs;
      o.lat1 = lat;
      o.lon1 = lon;
      o.alt1 = alt;
      o.flags = c.flags[k]!;
      o.speed = c.values[b + SPEED]!;
    }
    if (this.lastTickMs === null || tickMs > this.lastTickMs) {
      this.lastTickMs = tickMs;
      this.lastArrival = arrivedAt;
      for (const [id, o] of this.objects) if (o.t1 < tickMs - STALE_MS) this.objects.delete(id);
    }
  }

  /** The moment the map shows: one tick behind the newest frame, advancing in local time. */
  displayTime(now = performance.now()): number | null {
    if (this.lastTickMs === null) return null;
    return this.lastTickMs - 1000 + (now - this.lastArrival);
  }

  clear(): void {
    this.objects.clear();
    this.lastTickMs = null;
  }
}

/** Interpolated [lon, lat, alt] of `o` at `t` (longitude the short way round the antimeridian). */
export function positionAt(o: TrackedObject, t: number, out: Float64Array): Float64Array {
  if (o.t1 === o.t0) {
    out[0] = o.lon1;
    out[1] = o.lat1;
    out[2] = o.alt1;
    return out;
  }
  let a = (t - o.t0) / (o.t1 - o.t0);
  if (a < 0) a = 0;
  else if (a > 1 + MAX_EXTRAPOLATION) a = 1 + MAX_EXTRAPOLATION;
  let dLon = o.lon1 - o.lon0;
  if (dLon > 180) dLon -= 360;
  else if (dLon < -180) dLon += 360;
  let lon = o.lon0 + a * dLon;
  if (lon > 180) lon -= 360;
  else if (lon < -180) lon += 360;
  out[0] = lon;
  out[1] = o.lat0 + a * (o.lat1 - o.lat0);
  out[2] = o.alt0 + a * (o.alt1 - o.alt0);
  return out;
}
