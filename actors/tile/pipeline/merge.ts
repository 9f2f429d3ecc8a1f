/**
 * Merging a scene's tile results: the reduced rasters are placed side by
 * side into scene-wide ones, and the tiles' statistics add up to the scene's
 * (counts sum, extremes take the extreme, the cloud-top-height percentile
 * comes from the summed histograms, so it is exact to one bin).
 */
import { StarWeatherError } from '../../../protocol/errors.js';
import type { TimeSlicer } from '../../runtime/time-slice.js';
import type { QaCounts, SceneGeo } from '../types.js';
import { CTH_BIN_M, CTH_NONE, type TileStats } from './process-tile.js';

export interface MergedRasters {
  width: number;
  height: number;
  /** Centikelvin (IR) or reflectance ×10 000 (visible); 0 none. */
  bt: Uint16Array;
  /** Metres; 65535 none. */
  cth: Uint16Array;
  cloud: Uint8Array;
}

export interface SceneStats {
  tiles: number;
  qa: QaCounts;
  valid: number;
  cloudy: number;
  cloudFraction: number | null;
  cthMeanM: number | null;
  cthMaxM: number | null;
  cthP90M: number | null;
  btMinK: number | null;
  btMinLat: number | null;
  btMinLon: number | null;
  deepConvection: number;
  overshootingTops: number;
}

export interface StoredTile {
  index: number;
  stats: TileStats;
  bt: Uint16Array;
  cth: Uint16Array;
  cloud: Uint8Array;
}

/** Scene-wide reduced rasters from the tiles' reduced cores. */
export function mergeRasters(sceneWidth: number, sceneHeight: number, reduce: number, tiles: readonly StoredTile[]): MergedRasters {
  const out = emptyMerged(sceneWidth, sceneHeight, reduce);
  for (const t of tiles) placeTile(out, reduce, t);
  return out;
}

/** mergeRasters with a turn for the event loop between tiles when the slice is used up (a 0.5 km disk has ~1,800 tiles). */
export async function mergeRastersSliced(sceneWidth: number, sceneHeight: number, reduce: number, tiles: readonly StoredTile[], slicer: TimeSlicer): Promise<MergedRasters> {
  const out = emptyMerged(sceneWidth, sceneHeight, reduce);
  for (const t of tiles) {
    placeTile(out, reduce, t);
    if (slicer.due()) await slicer.pause();
  }
  return out;
}

function emptyMerged(sceneWidth: number, sceneHeight: number, reduce: number): MergedRasters {
  const width = Math.ceil(sceneWidth / reduce);
  const height = Math.ceil(sceneHeight / reduce);
  return { width, height, bt: new Uint16Array(width * height), cth: new Uint16Array(width * height).fill(CTH_NONE), cloud: new Uint8Array(width * height).fill(255) };
}

/** One tile's reduced core into the merged rasters. */
function placeTile(m: MergedRasters, reduce: number, t: StoredTile): void {
  const { width, bt, cth, cloud } = m;
  const core = t.stats.core;
  if (core.col0 % reduce !== 0 || core.row0 % reduce !== 0) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `tile ${t.index} core is not aligned to the reduction ${reduce}`);
  const tw = Math.ceil(core.width / reduce);
  const th = Math.ceil(core.height / reduce);
  if (t.bt.length !== tw * th) throw new StarWeatherError('SW_ERR_STORAGE', `tile ${t.index}: stored raster has ${t.bt.length} pixels, expected ${tw}×${th}`);
  const x0 = core.col0 / reduce;
  const y0 = core.row0 / reduce;
  for (let r = 0; r < th; r++) {
    const dst = (y0 + r) * width + x0;
    bt.set(t.bt.subarray(r * tw, (r + 1) * tw), dst);
    cth.set(t.cth.subarray(r * tw, (r + 1) * tw), dst);
    cloud.set(t.cloud.subarray(r * tw, (r + 1) * tw), dst);
  }
}

export function sceneStats(tiles: readonly TileStats[]): SceneStats {
  const qa: QaCounts = { total: 0, valid: 0, fill: 0, dqf: 0, range: 0, isolated: 0, space: 0 };
  let valid = 0, cloudy = 0, cthCount = 0, cthSum = 0, deep = 0, ov = 0;
  let cthMax: number | null = null;
  let btMin: TileStats | null = null;
  const hist: number[] = [];
  for (const t of tiles) {
    for (const k of Object.keys(qa) as Array<keyof QaCounts>) qa[k] += t.qa[k];
    valid += t.valid;
    cloudy += t.cloudy;
    cthCount += t.cthCount;
    cthSum += t.cthSumM;
    deep += t.deepConvection;
    ov += t.overshootingTops;
    if (t.cthMaxM !== null && (cthMax === null || t.cthMaxM > cthMax)) cthMax = t.cthMaxM;
    if (t.btMinK !== null && (btMin === null || t.btMinK < btMin.btMinK!)) btMin = t;
    t.cthHist.forEach((n, i) => (hist[i] = (hist[i] ?? 0) + n));
  }
  return {
    tiles: tiles.length,
    qa,
    valid,
    cloudy,
    cloudFraction: valid > 0 ? cloudy / valid : null,
    cthMeanM: cthCount > 0 ? cthSum / cthCount : null,
    cthMaxM: cthMax,
    cthP90M: histPercentile(hist, cthCount, 0.9),
    btMinK: btMin?.btMinK ?? null,
    btMinLat: btMin?.btMinLat ?? null,
    btMinLon: btMin?.btMinLon ?? null,
    deepConvection: deep,
    overshootingTops: ov,
  };
}

/** The upper edge of the bin where the cumulative count reaches p·n (null for no values). */
export function histPercentile(hist: readonly number[], n: number, p: number): number | null {
  if (n <= 0) return null;
  const want = p * n;
  let acc = 0;
  for (let i = 0; i < hist.length; i++) {
    acc += hist[i] ?? 0;
    if (acc >= want) return (i + 1) * CTH_BIN_M;
  }
  return hist.length * CTH_BIN_M;
}

/** The scene's geolocation at 1/reduce resolution: pixel centres of the reduced grid (the centre of each f×f block). */
export function reducedGeo(geo: SceneGeo, reduce: number): SceneGeo {
  return { params: geo.params, x0: geo.x0 + (geo.dx * (reduce - 1)) / 2, dx: geo.dx * reduce, y0: geo.y0 + (geo.dy * (reduce - 1)) / 2, dy: geo.dy * reduce };
}

/** Reduced BT as kelvin floats (NaN where none), for cyclone detection. */
export function btKelvin(m: MergedRasters): Float32Array {
  const out = new Float32Array(m.bt.length);
  btKelvinPixels(m, out, 0, out.length);
  return out;
}

function btKelvinPixels(m: MergedRasters, out: Float32Array, from: number, to: number): void {
  for (let i = from; i < to; i++) out[i] = m.bt[i] === 0 ? NaN : m.bt[i]! / 100;
}

/** btKelvin row by row, with turns for the event loop (the merged raster is up to productMaxPx², 4 Mpx). */
export async function btKelvinSliced(m: MergedRasters, slicer: TimeSlicer): Promise<Float32Array> {
  const out = new Float32Array(m.bt.length);
  for (let r = 0; r < m.height; r++) {
    btKelvinPixels(m, out, r * m.width, (r + 1) * m.width);
    if (slicer.due()) await slicer.pause();
  }
  return out;
}
