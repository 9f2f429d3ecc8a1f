/**
 * Tile pipeline state (migration 004): the scene being tiled, one result per
 * tile, and the rendered products. Every write is keyed on its natural key
 * and is a no-op on replay, so a redelivered tile task or finalize never
 * doubles a row. Rasters travel as bytea; 16-bit ones are little-endian.
 */
import { createHash } from 'node:crypto';
import type { Queryable } from './db.js';
import { StorageArgumentError } from './errors.js';

const ID = /^[A-Za-z0-9._:\-]{1,200}$/;
const PRODUCT = /^[a-z0-9][a-z0-9.-]{0,63}$/;
const FINGERPRINT = /^[0-9a-f]{16}$/;

function check(re: RegExp, v: unknown, what: string): string {
  if (typeof v !== 'string' || !re.test(v)) throw new StorageArgumentError(`${what} is not valid (${re})`);
  return v;
}

function posInt(v: unknown, what: string, min = 1): number {
  if (!Number.isInteger(v) || (v as number) < min) throw new StorageArgumentError(`${what} must be an integer >= ${min}`);
  return v as number;
}

export interface TileSceneRow {
  taskId: string;
  collection: string;
  itemId: string;
  fingerprint: string;
  width: number;
  height: number;
  tileSize: number;
  halo: number;
  tileCount: number;
  /** Stored rasters are 1/reduce of the scene resolution. */
  reduce: number;
  /** Scene facts the finalize needs without re-reading the file (platform, band, times, geo). */
  scene: Record<string, unknown>;
}

interface SceneDbRow {
  task_id: string;
  collection_id: string;
  item_id: string;
  fingerprint: string;
  width: number;
  height: number;
  tile_size: number;
  halo: number;
  tile_count: number;
  reduce: number;
  scene: Record<string, unknown>;
}

function sceneFromRow(r: SceneDbRow): TileSceneRow {
  return {
    taskId: r.task_id, collection: r.collection_id, itemId: r.item_id, fingerprint: r.fingerprint,
    width: Number(r.width), height: Number(r.height), tileSize: Number(r.tile_size), halo: Number(r.halo),
    tileCount: Number(r.tile_count), reduce: Number(r.reduce), scene: r.scene,
  };
}

const SCENE_COLS = 'task_id, collection_id, item_id, fingerprint, width, height, tile_size, halo, tile_count, reduce, scene';

/**
 * Record the scene's tiling. A replay with the same fingerprint keeps the
 * row (and its tile results); a different fingerprint (the item now names
 * other files) replaces the row and drops the old results, so the scene is
 * processed again from its new files. Returns the row as stored and whether
 * it was reset.
 */
export async function putTileScene(q: Queryable, s: TileSceneRow): Promise<{ row: TileSceneRow; reset: boolean }> {
  check(ID, s.taskId, 'task id');
  check(ID, s.collection, 'collection id');
  check(ID, s.itemId, 'item id');
  check(FINGERPRINT, s.fingerprint, 'fingerprint');
  for (const [k, v] of [['width', s.width], ['height', s.height], ['tileSize', s.tileSize], ['tileCount', s.tileCount], ['reduce', s.reduce]] as const) posInt(v, k);
  posInt(s.halo, 'halo', 0);
  const params = [s.taskId, s.collection, s.itemId, s.fingerprint, s.width, s.height, s.tileSize, s.halo, s.tileCount, s.reduce, JSON.stringify(s.scene)];
  const ins = await q.query(
    `INSERT INTO tile_scenes (${SCENE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb) ON CONFLICT (task_id) DO NOTHING`,
    params,
  );
  if (ins.rowCount === 1) return { row: s, reset: false };
  const cur = await getTileScene(q, s.taskId);
  if (cur && cur.fingerprint === s.fingerprint) return { row: cur, reset: false };
  await q.query('DELETE FROM tile_results WHERE task_id = $1', [s.taskId]);
  await q.query(
    `UPDATE tile_scenes SET collection_id = $2, item_id = $3, fingerprint = $4, width = $5, height = $6, tile_size = $7, halo = $8,
       tile_count = $9, reduce = $10, scene = $11::jsonb, updated_at = now() WHERE task_id = $1`,
    params,
  );
  return { row: s, reset: true };
}

export async function getTileScene(q: Queryable, taskId: string): Promise<TileSceneRow | null> {
  check(ID, taskId, 'task id');
  const r = await q.query<SceneDbRow>(`SELECT ${SCENE_COLS} FROM tile_scenes WHERE task_id = $1`, [taskId]);
  return r.rows[0] ? sceneFromRow(r.rows[0]) : null;
}

export interface TileResultRow {
  taskId: string;
  index: number;
  fingerprint: string;
  stats: Record<string, unknown>;
  /** Brightness temperature, centikelvin; 0 = no value. */
  bt: Uint16Array;
  /** Cloud-top height, metres; 65535 = none (clear or no value). */
  cth: Uint16Array;
  /** CLOUD.* per pixel. */
  cloud: Uint8Array;
  host?: string | null;
  delivery?: number;
}

const bytesOf = (a: Uint16Array | Uint8Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** A copy in a fresh, aligned buffer (a bytea Buffer may start at any offset). */
function u16(b: Uint8Array): Uint16Array {
  if (b.byteLength % 2 !== 0) throw new StorageArgumentError('a 16-bit raster has an odd byte length');
  const out = new Uint16Array(b.byteLength / 2);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/**
 * Store one tile's result, once: a redelivered tile (or a second host that
 * ran it) inserts nothing. Refused (false) when the scene row is missing or
 * has moved on to another fingerprint, so a stale tile cannot land in a
 * re-processed scene. True when this call stored it.
 */
export async function putTileResult(q: Queryable, r: TileResultRow): Promise<boolean> {
  check(ID, r.taskId, 'task id');
  check(FINGERPRINT, r.fingerprint, 'fingerprint');
  posInt(r.index, 'tile index', 0);
  if (r.bt.length !== r.cth.length || r.bt.length !== r.cloud.length) throw new StorageArgumentError('tile rasters must have the same length');
  const res = await q.query(
    `INSERT INTO tile_results (task_id, tile_index, fingerprint, stats, bt, cth, cloud, host, delivery)
     SELECT $1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9
      WHERE EXISTS (SELECT 1 FROM tile_scenes WHERE task_id = $1 AND fingerprint = $3)
     ON CONFLICT (task_id, tile_index) DO NOTHING`,
    [r.taskId, r.index, r.fingerprint, JSON.stringify(r.stats), bytesOf(r.bt), bytesOf(r.cth), bytesOf(r.cloud), r.host ?? null, r.delivery ?? 1],
  );
  return res.rowCount === 1;
}

/** Tile results stored for the scene's current fingerprint. */
export async function countTileResults(q: Queryable, taskId: string, fingerprint: string): Promise<number> {
  check(ID, taskId, 'task id');
  const r = await q.query<{ n: string | number }>('SELECT count(*) AS n FROM tile_results WHERE task_id = $1 AND fingerprint = $2', [taskId, fingerprint]);
  return Number(r.rows[0]?.n ?? 0);
}

interface ResultDbRow {
  tile_index: number;
  fingerprint: string;
  stats: Record<string, unknown>;
  bt: Uint8Array;
  cth: Uint8Array;
  cloud: Uint8Array;
  host: string | null;
  delivery: number;
}

/** Every stored result of the scene's current fingerprint, by tile index. */
export async function listTileResults(q: Queryable, taskId: string, fingerprint: string): Promise<TileResultRow[]> {
  check(ID, taskId, 'task id');
  const r = await q.query<ResultDbRow>(
    'SELECT tile_index, fingerprint, stats, bt, cth, cloud, host, delivery FROM tile_results WHERE task_id = $1 AND fingerprint = $2 ORDER BY tile_index',
    [taskId, fingerprint],
  );
  return r.rows.map((row) => ({
    taskId,
    index: Number(row.tile_index),
    fingerprint: row.fingerprint,
    stats: row.stats,
    bt: u16(row.bt),
    cth: u16(row.cth),
    cloud: new Uint8Array(row.cloud),
    host: row.host,
    delivery: Number(row.delivery),
  }));
}

export interface TileProduct {
  collection: string;
  itemId: string;
  /** File name, e.g. `enhanced-ir.png`. */
  name: string;
  mediaType: string;
  data: Uint8Array;
  etag: string;
}

/** Store (or replace, when the bytes changed) a rendered product. True when written. */
export async function putProduct(q: Queryable, p: TileProduct): Promise<boolean> {
  check(ID, p.collection, 'collection id');
  check(ID, p.itemId, 'item id');
  check(PRODUCT, p.name, 'product name');
  const r = await q.query(
    `INSERT INTO tile_products (collection_id, item_id, name, media_type, data, etag) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (collection_id, item_id, name) DO UPDATE SET media_type = EXCLUDED.media_type, data = EXCLUDED.data, etag = EXCLUDED.etag, created_at = now()
     WHERE tile_products.etag IS DISTINCT FROM EXCLUDED.etag`,
    [p.collection, p.itemId, p.name, p.mediaType, Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength), p.etag],
  );
  return r.rowCount === 1;
}

export async function getProduct(q: Queryable, collection: string, itemId: string, name: string): Promise<TileProduct | null> {
  check(ID, collection, 'collection id');
  check(ID, itemId, 'item id');
  check(PRODUCT, name, 'product name');
  const r = await q.query<{ media_type: string; data: Uint8Array; etag: string }>(
    'SELECT media_type, data, etag FROM tile_products WHERE collection_id = $1 AND item_id = $2 AND name = $3',
    [collection, itemId, name],
  );
  const row = r.rows[0];
  return row ? { collection, itemId, name, mediaType: row.media_type, data: new Uint8Array(row.data), etag: row.etag } : null;
}

/** A product's ETag only (conditional requests without reading the bytes). */
export async function productEtag(q: Queryable, collection: string, itemId: string, name: string): Promise<string | null> {
  check(ID, collection, 'collection id');
  check(ID, itemId, 'item id');
  check(PRODUCT, name, 'product name');
  const r = await q.query<{ etag: string }>('SELECT etag FROM tile_products WHERE collection_id = $1 AND item_id = $2 AND name = $3', [collection, itemId, name]);
  return r.rows[0]?.etag ?? null;
}

/**
 * File-store key of a scene's file (`sources/…`) or rendered product
 * (`products/…`). STAC ids may hold `:`, which file-store keys refuse, so the
 * scene is named by a digest of collection and item id.
 */
export function sceneFileKey(kind: 'sources' | 'products', collection: string, itemId: string, name: string): string {
  check(ID, collection, 'collection id');
  check(ID, itemId, 'item id');
  const digest = createHash('sha256').update(`${collection}/${itemId}`).digest('hex').slice(0, 32);
  const safe = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/.test(name) ? name : createHash('sha256').update(name).digest('hex').slice(0, 32);
  return `${kind}/${digest}/${safe}`;
}
