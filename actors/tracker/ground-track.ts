/**
 * Ground track of an object as a GeoJSON (RFC 7946) MultiLineString, split
 * at the antimeridian as RFC 7946 §3.1.9 asks: a segment never jumps from
 * +180 to −180; the crossing point is interpolated and ends one line at ±180
 * and starts the next at ∓180. SGP4 failures break the line too.
 */
import type { SatRec } from 'satellite.js';
import { propagateAt, S_LAT_DEG, S_LON_DEG, SGP4_OK, STATE_STRIDE } from './propagate.js';

export interface GroundTrackFeature {
  readonly type: 'Feature';
  readonly geometry: { readonly type: 'MultiLineString'; readonly coordinates: [number, number][][] };
  readonly properties: { readonly startMs: number; readonly endMs: number; readonly stepS: number; readonly sgp4Error: number };
}

const MAX_POINTS = 100_000;

/**
 * Splits a lon/lat polyline (deg) at the antimeridian. Between consecutive
 * points the shorter way round is taken (|Δlon| > 180 means it crossed).
 * The crossing latitude is linear in unwrapped longitude, adequate at the
 * sampling steps a ground track uses (the error is the chord's, not the split's).
 */
export function splitAtAntimeridian(points: readonly [number, number][]): [number, number][][] {
  const lines: [number, number][][] = [];
  let cur: [number, number][] = [];
  for (let i = 0; i < points.length; i++) {
    const p = points[i]!;
    if (cur.length > 0) {
      const [lon1, lat1] = cur[cur.length - 1]!;
      let lon2 = p[0];
      if (lon2 - lon1 > 180) lon2 -= 360;
      else if (lon2 - lon1 < -180) lon2 += 360;
      if (lon2 > 180 || lon2 < -180) {
        const edge = lon2 > 180 ? 180 : -180;
        const frac = (edge - lon1) / (lon2 - lon1);
        const latC = lat1 + frac * (p[1] - lat1);
        cur.push([edge, latC]);
        lines.push(cur);
        cur = [[-edge, latC]];
      }
    }
    cur.push([p[0], p[1]]);
  }
  if (cur.length > 1) lines.push(cur);
  return lines;
}

export function groundTrack(satrec: SatRec, startMs: number, endMs: number, stepS = 60): GroundTrackFeature {
  const stepMs = Math.max(1, stepS) * 1000;
  const n = Math.min(MAX_POINTS, Math.floor((endMs - startMs) / stepMs) + 1);
  const out = new Float64Array(STATE_STRIDE);
  const lines: [number, number][][] = [];
  let run: [number, number][] = [];
  let sgp4Error = 0;
  const flush = () => {
    if (run.length > 1) lines.push(...splitAtAntimeridian(run));
    run = [];
  };
  for (let k = 0; k < n; k++) {
    const t = Math.min(startMs + k * stepMs, endMs);
    const err = propagateAt(satrec, t, out, 0);
    if (err !== SGP4_OK) {
      if (sgp4Error === 0) sgp4Error = err;
      flush();
      continue;
    }
    run.push([out[S_LON_DEG]!, out[S_LAT_DEG]!]);
  }
  flush();
  return {
    type: 'Feature',
    geometry: { type: 'MultiLineString', coordinates: lines },
    properties: { startMs, endMs, stepS: stepMs / 1000, sgp4Error },
  };
}
