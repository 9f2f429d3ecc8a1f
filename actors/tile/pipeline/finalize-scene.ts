/**
 * The compute of imagery.finalize, between reading the tile results and
 * writing the scene's outputs: merge the tiles' reduced rasters and
 * statistics, geolocate the merged grid, and detect tropical cyclones on
 * the merged BT (they need the whole storm, which no single tile holds).
 *
 * Every JavaScript step goes row by row (or tile by tile) with a turn for
 * the event loop whenever the slice is used up: on a full disk the merged
 * grid is 1356² (up to productMaxPx²), and its geolocation alone is ~0.1 s of
 * JS that must not hold the host's loop in one stretch (issue 10). The
 * detection kernel itself runs where `detect` puts it (the native kernels:
 * the libuv pool).
 */
import { TimeSlicer } from '../../runtime/time-slice.js';
import { pixelLonLatSliced } from '../formats/geo.js';
import type { CycloneEstimate } from '../kernels/index.js';
import type { BandKind, CycloneFix, SceneGeo } from '../types.js';
import { btKelvinSliced, mergeRastersSliced, reducedGeo, sceneStats, type MergedRasters, type SceneStats, type StoredTile } from './merge.js';

export interface SceneToMerge {
  width: number;
  height: number;
  reduce: number;
  kind: BandKind;
  geo: SceneGeo;
  tiles: readonly StoredTile[];
}

export interface MergedScene {
  merged: MergedRasters;
  stats: SceneStats;
  cyclones: Array<CycloneFix & { basin: string }>;
}

/** The cyclone kernel on the merged grid (Kernels.cyclones, possibly behind the host's CPU limiter). */
export type DetectCyclones = (bt: Float32Array, lat: Float32Array, lon: Float32Array, width: number, height: number) => Promise<CycloneEstimate[]>;

export interface MergeSceneOptions {
  slicer?: TimeSlicer;
  /** Called after each step with its name (ctx.heartbeat; the bench's stall probe). */
  lap?(step: 'merge' | 'geolocation' | 'bt' | 'cyclones'): void;
}

export async function mergeScene(scene: SceneToMerge, detect: DetectCyclones, opts: MergeSceneOptions = {}): Promise<MergedScene> {
  const slicer = opts.slicer ?? new TimeSlicer();
  const merged = await mergeRastersSliced(scene.width, scene.height, scene.reduce, scene.tiles, slicer);
  const stats = sceneStats(scene.tiles.map((t) => t.stats));
  opts.lap?.('merge');
  let cyclones: MergedScene['cyclones'] = [];
  // The visible band has no L3: no cyclones.
  if (scene.kind === 'ir') {
    const geo = reducedGeo(scene.geo, scene.reduce);
    const { lat, lon } = await pixelLonLatSliced(geo, { col0: 0, row0: 0, width: merged.width, height: merged.height }, slicer);
    opts.lap?.('geolocation');
    const bt = await btKelvinSliced(merged, slicer);
    opts.lap?.('bt');
    const fixes = await detect(bt, lat, lon, merged.width, merged.height);
    cyclones = fixes.map((f) => ({ ...fixOf(f), edgeKm: edgeKm(lat, lon, merged.width, merged.height, f.row, f.col), basin: f.basin }));
    opts.lap?.('cyclones');
  }
  return { merged, stats, cyclones };
}

/** The pipeline's fix from the kernel's estimate (its measurements' pixel position and shape stay behind). */
export function fixOf(e: CycloneEstimate): CycloneFix {
  const { lat, lon, eyeTempK, cloudTempK, scene, tNumber, ci, vmaxKt, mslpHpa, symmetryK } = e;
  return { lat, lon, eyeTempK, cloudTempK, scene, tNumber, ci, vmaxKt, mslpHpa, symmetryK };
}

/**
 * How far (km, great circle) the fix is from where the image ends: the
 * nearest of the four last geolocated pixels straight up, down, left and
 * right of it (the image border or the Earth's limb). A storm cut by the
 * border can show its warm outside as an "eye"; the warning rule uses this.
 */
export function edgeKm(lat: Float32Array, lon: Float32Array, width: number, height: number, row: number, col: number): number {
  const r0 = Math.min(height - 1, Math.max(0, Math.round(row)));
  const c0 = Math.min(width - 1, Math.max(0, Math.round(col)));
  const la0 = lat[r0 * width + c0] as number;
  const lo0 = lon[r0 * width + c0] as number;
  if (!Number.isFinite(la0) || !Number.isFinite(lo0)) return 0;
  let best = Infinity;
  for (const [dr, dc] of [[-1, 0], [1, 0], [0, -1], [0, 1]] as const) {
    let r = r0, c = c0;
    while (r + dr >= 0 && r + dr < height && c + dc >= 0 && c + dc < width && Number.isFinite(lat[(r + dr) * width + c + dc] as number)) {
      r += dr;
      c += dc;
    }
    best = Math.min(best, greatCircleKm(la0, lo0, lat[r * width + c] as number, lon[r * width + c] as number));
  }
  return best;
}

/** Haversine on the mean Earth radius (6371.0088 km, IUGG). */
export function greatCircleKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const k = Math.PI / 180;
  const a = Math.sin(((lat2 - lat1) * k) / 2) ** 2 + Math.cos(lat1 * k) * Math.cos(lat2 * k) * Math.sin(((lon2 - lon1) * k) / 2) ** 2;
  return 2 * 6371.0088 * Math.asin(Math.min(1, Math.sqrt(a)));
}
