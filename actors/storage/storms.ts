/**
 * Storm tracks and their fixes (migration 007): the rows only. Which track a
 * fix belongs to and its intensity are decided by the tile pipeline
 * (actors/tile/pipeline/storm-tracks.ts), inside one transaction that holds
 * its basin's lock (lockBasin).
 */
import type { Queryable } from './db.js';
import { StorageArgumentError } from './errors.js';

export interface StormFixRow {
  sceneKey: string;
  cell: number;
  trackId: string;
  observedAt: Date;
  collection: string;
  itemId: string;
  platform: string;
  lat: number;
  lon: number;
  scene: 'eye' | 'cdo';
  eyeTempK: number | null;
  cloudTempK: number;
  rawT: number;
  adjRawT: number;
  finalT: number;
  ci: number;
  weakening: boolean;
  vmaxKt: number;
  mslpHpa: number;
}

export interface StormTrackRow {
  id: string;
  basin: string;
  firstAt: Date;
  lastAt: Date;
  lat: number;
  lon: number;
  scenes: number;
  finalT: number;
  ci: number;
  vmaxKt: number;
  mslpHpa: number;
}

const FIX_COLS = `scene_key, cell, track_id, observed_at, collection_id, item_id, platform, lat, lon, scene, eye_temp_k, cloud_temp_k, raw_t, adj_raw_t, final_t, ci, weakening, vmax_kt, mslp_hpa`;
const TRACK_COLS = `id, basin, first_at, last_at, lat, lon, scenes, final_t, ci, vmax_kt, mslp_hpa`;

type Raw = Record<string, unknown>;
const num = (v: unknown): number => Number(v);
const date = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));

function fixRow(r: Raw): StormFixRow {
  return {
    sceneKey: String(r.scene_key), cell: num(r.cell), trackId: String(r.track_id), observedAt: date(r.observed_at),
    collection: String(r.collection_id), itemId: String(r.item_id), platform: String(r.platform),
    lat: num(r.lat), lon: num(r.lon), scene: r.scene === 'eye' ? 'eye' : 'cdo',
    eyeTempK: r.eye_temp_k === null ? null : num(r.eye_temp_k), cloudTempK: num(r.cloud_temp_k),
    rawT: num(r.raw_t), adjRawT: num(r.adj_raw_t), finalT: num(r.final_t), ci: num(r.ci), weakening: r.weakening === true,
    vmaxKt: num(r.vmax_kt), mslpHpa: num(r.mslp_hpa),
  };
}

function trackRow(r: Raw): StormTrackRow {
  return {
    id: String(r.id), basin: String(r.basin), firstAt: date(r.first_at), lastAt: date(r.last_at), lat: num(r.lat), lon: num(r.lon),
    scenes: num(r.scenes), finalT: num(r.final_t), ci: num(r.ci), vmaxKt: num(r.vmax_kt), mslpHpa: num(r.mslp_hpa),
  };
}

/** Holds the basin's row lock until the transaction ends (creates the row on first use). */
export async function lockBasin(tx: Queryable, basin: string): Promise<void> {
  await tx.query(`INSERT INTO storm_basins (basin) VALUES ($1) ON CONFLICT (basin) DO NOTHING`, [basin]);
  await tx.query(`SELECT basin FROM storm_basins WHERE basin = $1 FOR UPDATE`, [basin]);
}

/** The track an already stored fix went to, or null. */
export async function fixTrack(q: Queryable, sceneKey: string, cell: number): Promise<string | null> {
  const r = await q.query<{ track_id: string }>(`SELECT track_id FROM storm_fixes WHERE scene_key = $1 AND cell = $2`, [sceneKey, cell]);
  return r.rows[0]?.track_id ?? null;
}

/** Fixes of the basin's tracks within ±hours of `at`, of tracks with no fix from this scene yet. */
export async function nearbyFixes(q: Queryable, basin: string, at: Date, hours: number, sceneKey: string): Promise<StormFixRow[]> {
  const from = new Date(at.getTime() - hours * 3_600_000);
  const to = new Date(at.getTime() + hours * 3_600_000);
  const r = await q.query<Raw>(
    `SELECT ${FIX_COLS.split(', ').map((c) => `f.${c}`).join(', ')} FROM storm_fixes f JOIN storm_tracks t ON t.id = f.track_id
     WHERE t.basin = $1 AND f.observed_at BETWEEN $2 AND $3
       AND NOT EXISTS (SELECT 1 FROM storm_fixes s WHERE s.track_id = f.track_id AND s.scene_key = $4)
     ORDER BY f.track_id, f.observed_at`,
    [basin, from, to, sceneKey],
  );
  return r.rows.map(fixRow);
}

/** A new track, from its first fix; a track id that exists is left as it is. */
export async function createTrack(q: Queryable, t: StormTrackRow): Promise<void> {
  if (!/^[A-Za-z0-9._:\-]{1,120}$/.test(t.id)) throw new StorageArgumentError('storm track id must be 1..120 of [A-Za-z0-9._:-]');
  await q.query(
    `INSERT INTO storm_tracks (${TRACK_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING`,
    [t.id, t.basin, t.firstAt, t.lastAt, t.lat, t.lon, t.scenes, t.finalT, t.ci, t.vmaxKt, t.mslpHpa],
  );
}

/** True when the fix is new; a fix already stored for (scene, cell) is left as it is. */
export async function insertFix(q: Queryable, f: StormFixRow): Promise<boolean> {
  const r = await q.query(
    `INSERT INTO storm_fixes (${FIX_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
     ON CONFLICT DO NOTHING`,
    [f.sceneKey, f.cell, f.trackId, f.observedAt, f.collection, f.itemId, f.platform, f.lat, f.lon, f.scene, f.eyeTempK, f.cloudTempK, f.rawT, f.adjRawT, f.finalT, f.ci, f.weakening, f.vmaxKt, f.mslpHpa],
  );
  return r.rowCount === 1;
}

/** Every fix of a track, oldest first. */
export async function trackFixes(q: Queryable, trackId: string): Promise<StormFixRow[]> {
  const r = await q.query<Raw>(`SELECT ${FIX_COLS} FROM storm_fixes WHERE track_id = $1 ORDER BY observed_at, scene_key`, [trackId]);
  return r.rows.map(fixRow);
}

/** Rewrites a fix's time-rule results (the track was re-analysed). */
export async function updateFixIntensity(q: Queryable, f: Pick<StormFixRow, 'sceneKey' | 'cell' | 'adjRawT' | 'finalT' | 'ci' | 'weakening' | 'vmaxKt' | 'mslpHpa'>): Promise<void> {
  await q.query(
    `UPDATE storm_fixes SET adj_raw_t = $3, final_t = $4, ci = $5, weakening = $6, vmax_kt = $7, mslp_hpa = $8
     WHERE scene_key = $1 AND cell = $2 AND (adj_raw_t, final_t, ci, weakening, vmax_kt, mslp_hpa) IS DISTINCT FROM ($3::float8, $4::float8, $5::float8, $6::boolean, $7::float8, $8::float8)`,
    [f.sceneKey, f.cell, f.adjRawT, f.finalT, f.ci, f.weakening, f.vmaxKt, f.mslpHpa],
  );
}

/** The track's summary: its span, scene count and its latest fix. */
export async function updateTrack(q: Queryable, t: StormTrackRow): Promise<void> {
  await q.query(
    `UPDATE storm_tracks SET first_at = $2, last_at = $3, lat = $4, lon = $5, scenes = $6, final_t = $7, ci = $8, vmax_kt = $9, mslp_hpa = $10, updated_at = now() WHERE id = $1`,
    [t.id, t.firstAt, t.lastAt, t.lat, t.lon, t.scenes, t.finalT, t.ci, t.vmaxKt, t.mslpHpa],
  );
}

export async function getTrack(q: Queryable, id: string): Promise<StormTrackRow | null> {
  const r = await q.query<Raw>(`SELECT ${TRACK_COLS} FROM storm_tracks WHERE id = $1`, [id]);
  return r.rows[0] ? trackRow(r.rows[0]) : null;
}

/** Tracks, most recently seen first; `since` keeps those seen at or after it. */
export async function listTracks(q: Queryable, f: { limit: number; since?: Date; minScenes?: number }): Promise<StormTrackRow[]> {
  if (!Number.isInteger(f.limit) || f.limit < 1 || f.limit > 1000) throw new StorageArgumentError('limit must be an integer 1..1000');
  const r = await q.query<Raw>(
    `SELECT ${TRACK_COLS} FROM storm_tracks WHERE ($1::timestamptz IS NULL OR last_at >= $1) AND scenes >= $2 ORDER BY last_at DESC, id LIMIT $3`,
    [f.since ?? null, f.minScenes ?? 1, f.limit],
  );
  return r.rows.map(trackRow);
}
