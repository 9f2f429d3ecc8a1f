/**
 * What a finished scene writes besides its images: weather_metrics rows (per
 * tile and per scene, plus one set per tropical cyclone) and storm warnings.
 * Both are pure functions of the merged results, with deterministic keys:
 * metric cells and alert ids are the same on every replay, so the COPY
 * ingest and raiseAlert turn a replay into a no-op.
 */
import { createHash } from 'node:crypto';
import type { WeatherMetric } from '../../storage/weather-metrics.js';
import type { CycloneFix } from '../types.js';
import type { SceneStats } from './merge.js';
import type { TileStats } from './process-tile.js';

/** Cell ids: 0 is the whole scene; a tile is tileSize·2^20 + index + 1 (a re-tiling at another size cannot collide); a cyclone is 2^40 + its 0.1° grid cell. */
export const SCENE_CELL = 0;
export function tileCellId(tileSize: number, index: number): number {
  return tileSize * 2 ** 20 + index + 1;
}
export function cycloneCellId(lat: number, lon: number): number {
  const i = Math.round((lat + 90) * 10);
  const j = Math.round((((lon + 180) % 360) + 360) % 360 * 10);
  return 2 ** 40 + i * 3600 + j;
}

export interface MetricContext {
  observedAt: Date;
  satellite: string;
  band: number;
  tileSize: number;
  taskId: string;
  /** A tile is a storm cell from this many overshooting-top pixels. */
  stormMinOvershoots: number;
}

function product(band: number, name: string): string {
  return `b${band}.${name}`;
}

/** The products of one cell (a tile or the scene) that have a value. */
function cellRows(ctx: MetricContext, cellId: number, s: Pick<SceneStats, 'valid' | 'cloudy' | 'cthMaxM' | 'btMinK' | 'deepConvection' | 'overshootingTops' | 'qa'> & { cthMeanM: number | null; cthP90M?: number | null }, storm: boolean): WeatherMetric[] {
  const quality = s.qa.total > 0 ? Math.round((100 * s.valid) / s.qa.total) : 0;
  const base = { observedAt: ctx.observedAt, satellite: ctx.satellite, cellId, quality, taskId: ctx.taskId };
  const rows: WeatherMetric[] = [];
  const add = (name: string, value: number | null): void => {
    if (value !== null && Number.isFinite(value)) rows.push({ ...base, product: product(ctx.band, name), value });
  };
  add('valid_px', s.valid);
  add('cloud_fraction', s.valid > 0 ? s.cloudy / s.valid : null);
  add('cth_mean_m', s.cthMeanM);
  add('cth_max_m', s.cthMaxM);
  if (s.cthP90M !== undefined) add('cth_p90_m', s.cthP90M);
  add('bt_min_k', s.btMinK);
  add('deep_convection_px', s.deepConvection);
  add('overshooting_tops_px', s.overshootingTops);
  add('storm_flag', storm ? 1 : 0);
  return rows;
}

export function isStormTile(t: TileStats, minOvershoots: number): boolean {
  return t.overshootingTops >= minOvershoots;
}

export function metricRows(ctx: MetricContext, tiles: readonly TileStats[], scene: SceneStats, cyclones: readonly CycloneFix[]): WeatherMetric[] {
  const rows: WeatherMetric[] = [];
  let anyStorm = cyclones.length > 0;
  for (const t of tiles) {
    const storm = isStormTile(t, ctx.stormMinOvershoots);
    anyStorm ||= storm;
    rows.push(...cellRows(ctx, tileCellId(ctx.tileSize, t.index), { ...t, cthMeanM: t.cthCount > 0 ? t.cthSumM / t.cthCount : null }, storm));
  }
  rows.push(...cellRows(ctx, SCENE_CELL, scene, anyStorm));
  rows.push({ observedAt: ctx.observedAt, satellite: ctx.satellite, cellId: SCENE_CELL, quality: 0, taskId: ctx.taskId, product: product(ctx.band, 'cyclones'), value: cyclones.length });
  for (const c of cyclones) {
    const cellId = cycloneCellId(c.lat, c.lon);
    const base = { observedAt: ctx.observedAt, satellite: ctx.satellite, cellId, quality: 0, taskId: ctx.taskId };
    for (const [name, value] of [['cyclone_lat', c.lat], ['cyclone_lon', c.lon], ['cyclone_t_number', c.tNumber], ['cyclone_ci', c.ci], ['cyclone_vmax_kt', c.vmaxKt], ['cyclone_mslp_hpa', c.mslpHpa], ['cyclone_cloud_temp_k', c.cloudTempK], ['cyclone_eye_temp_k', c.eyeTempK]] as const) {
      if (value !== null && Number.isFinite(value)) rows.push({ ...base, product: product(ctx.band, name), value });
    }
  }
  return rows;
}

export interface StormWarning {
  id: string;
  kind: 'storm.overshooting-tops' | 'storm.tropical-cyclone';
  severity: 'warning' | 'critical';
  message: string;
  payload: Record<string, unknown>;
}

/** Alert ids are at most 300 characters: a long collection/item pair is replaced by its digest. */
function alertId(prefix: string, collection: string, itemId: string, suffix: string): string {
  const plain = `${prefix}:${collection}:${itemId}:${suffix}`;
  if (plain.length <= 300) return plain;
  return `${prefix}:h${createHash('sha256').update(`${collection}/${itemId}`).digest('hex').slice(0, 40)}:${suffix}`;
}

const fmt = (v: number | null, d = 1): string => (v === null ? '?' : v.toFixed(d));

/** A cyclone fix of this scene with the track it joined (actors/tile/pipeline/storm-tracks.ts). */
export interface TrackedCyclone {
  fix: CycloneFix;
  trackId: string;
  /** Scenes the track has been seen in, this one included. */
  trackScenes: number;
  /** The track's intensity at this fix after the ADT time rules. */
  finalT: number;
  ci: number;
  vmaxKt: number;
  mslpHpa: number;
}

/**
 * One image is enough only for a clear eye: a warm eye at least this much
 * above its cold ring (eye − cloud) at T ≥ EYE_MIN_T. A project threshold,
 * not a published one: the false single-image detections (issue 14) are CDO
 * blobs, which have no eye at all, and Dvorak eye patterns start near T4.5.
 */
export const EYE_MIN_CONTRAST_K = 30;
export const EYE_MIN_T = 4.5;
/**
 * And the storm must lie whole in the image: its centre at least this far
 * from the border or limb. Storms cut by a crop's edge showed the warm
 * outside as an "eye" (test/unit/storm-tracks.test.ts, seeds 3 and 7); 400
 * km covers the ADT's analysis rings (to 136 km) and a typical CDO radius.
 */
export const EYE_MIN_EDGE_KM = 400;
/**
 * And a symmetric ring: the ADT's cloud symmetry (mean absolute difference
 * of opposite sectors) at most this. Planted eye storms measure 0.2–0.8 K;
 * the warm holes in large convective clusters that passed the other tests
 * on cyclone-free full disks (storm-eval, seeds 1044 and 1056) 4.1–4.3 K.
 */
export const EYE_MAX_SYMMETRY_K = 2;

export function isConfidentEye(c: CycloneFix): boolean {
  return (
    c.scene === 'eye' &&
    c.eyeTempK !== null &&
    c.eyeTempK - c.cloudTempK >= EYE_MIN_CONTRAST_K &&
    c.tNumber >= EYE_MIN_T &&
    (c.edgeKm ?? 0) >= EYE_MIN_EDGE_KM &&
    (c.symmetryK ?? Infinity) <= EYE_MAX_SYMMETRY_K
  );
}

/**
 * Warnings: a tile with at least `minOvershoots` overshooting-top pixels
 * (severe convection: Bedka et al. 2010 relate IR overshooting tops to
 * hail, wind and turbulence reports); a tropical cyclone only once its
 * track has been seen in `minTrackScenes` scenes, or at once for a clear
 * eye (the ADT is a time-series method, and single-image CDO blobs are its
 * false alarms); critical from hurricane strength (64 kt, the
 * Saffir-Simpson category 1 threshold) of the track's time-averaged CI.
 * One warning per (track, scene), so a replayed scene raises nothing new.
 */
export function stormWarnings(collection: string, itemId: string, platform: string, observedAt: Date, tiles: readonly TileStats[], cyclones: readonly TrackedCyclone[], minOvershoots: number, minTrackScenes: number): StormWarning[] {
  const out: StormWarning[] = [];
  for (const t of tiles) {
    if (!isStormTile(t, minOvershoots)) continue;
    out.push({
      id: alertId('storm', collection, itemId, `tile${t.index}`),
      kind: 'storm.overshooting-tops',
      severity: 'warning',
      message: `${t.overshootingTops} overshooting-top pixels near ${fmt(t.overshootLat, 2)}, ${fmt(t.overshootLon, 2)} (min BT ${fmt(t.btMinK)} K) in ${platform} scene ${itemId} at ${observedAt.toISOString()}`,
      payload: {
        collection, itemId, platform, observedAt: observedAt.toISOString(), tile: t.index,
        lat: t.overshootLat, lon: t.overshootLon, overshootingTops: t.overshootingTops, deepConvection: t.deepConvection, btMinK: t.btMinK, cthMaxM: t.cthMaxM,
      },
    });
  }
  for (const tc of cyclones) {
    const c = tc.fix;
    const persisted = tc.trackScenes >= minTrackScenes;
    if (!persisted && !isConfidentEye(c)) continue;
    out.push({
      id: alertId('cyclone', collection, itemId, tc.trackId),
      kind: 'storm.tropical-cyclone',
      severity: tc.vmaxKt >= 64 ? 'critical' : 'warning',
      message: `tropical cyclone ${tc.trackId} at ${c.lat.toFixed(2)}, ${c.lon.toFixed(2)}: CI ${tc.ci.toFixed(1)}, ${Math.round(tc.vmaxKt)} kt, ${Math.round(tc.mslpHpa)} hPa (${c.scene} scene; seen in ${tc.trackScenes} scene${tc.trackScenes === 1 ? '' : 's'}) in ${platform} scene ${itemId} at ${observedAt.toISOString()}`,
      payload: {
        collection, itemId, platform, observedAt: observedAt.toISOString(), ...c, rawT: c.tNumber,
        trackId: tc.trackId, trackScenes: tc.trackScenes, finalT: tc.finalT, ci: tc.ci, vmaxKt: tc.vmaxKt, mslpHpa: tc.mslpHpa,
        reason: persisted ? 'track' : 'eye',
      },
    });
  }
  return out;
}
