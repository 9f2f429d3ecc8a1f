/**
 * STAC collections and items. The full JSON is kept as jsonb; the time span,
 * bbox and footprint are pulled out into columns the indexes serve. No
 * PostGIS (the embedded backend has none): bbox is a built-in `box` with a GiST
 * index (&& is index-assisted), and intersects refines the bbox candidates
 * with polygon overlap (&&) on each part's outer ring.
 * Limits, stated: holes are ignored and a line is closed into a ring, so an
 * intersects search can return an extra item, never miss one; coordinates are
 * planar lon/lat degrees.
 */
import type { Queryable } from './db.js';
import { StorageArgumentError } from './errors.js';

export type StacDoc = Record<string, unknown> & { id: string };

const ID = /^[A-Za-z0-9._:\-]{1,200}$/;
const MAX_VERTICES = 10_000;

function checkId(id: unknown, what: string): string {
  if (typeof id !== 'string' || !ID.test(id)) throw new StorageArgumentError(`${what} must be 1..200 of [A-Za-z0-9._:-]`);
  return id;
}

// ---- geometry → built-in types -------------------------------------------

type Position = [number, number];

function position(p: unknown): Position {
  if (!Array.isArray(p) || p.length < 2 || typeof p[0] !== 'number' || typeof p[1] !== 'number' || !Number.isFinite(p[0]) || !Number.isFinite(p[1])) {
    throw new StorageArgumentError('a GeoJSON position must be [lon, lat] numbers');
  }
  if (p[0] < -180 || p[0] > 180 || p[1] < -90 || p[1] > 90) throw new StorageArgumentError(`position [${p[0]}, ${p[1]}] is outside lon -180..180, lat -90..90`);
  return [p[0], p[1]];
}

function ring(coords: unknown): Position[] {
  if (!Array.isArray(coords) || coords.length === 0) throw new StorageArgumentError('a GeoJSON ring or line needs positions');
  return coords.map(position);
}

/** Outer rings (or points, or closed lines) of a GeoJSON geometry, as position lists. */
export function geometryParts(g: unknown, depth = 0): Position[][] {
  if (depth > 4) throw new StorageArgumentError('GeometryCollection nested too deep');
  if (typeof g !== 'object' || g === null) throw new StorageArgumentError('geometry must be a GeoJSON object');
  const { type, coordinates, geometries } = g as { type?: unknown; coordinates?: unknown; geometries?: unknown };
  const arr = (x: unknown): unknown[] => {
    if (!Array.isArray(x) || x.length === 0) throw new StorageArgumentError(`${String(type)} needs coordinates`);
    return x;
  };
  switch (type) {
    case 'Point':
      return [[position(coordinates)]];
    case 'MultiPoint':
      return arr(coordinates).map((p) => [position(p)]);
    case 'LineString':
      return [ring(coordinates)];
    case 'MultiLineString':
      return arr(coordinates).map(ring);
    case 'Polygon':
      return [ring(arr(coordinates)[0])];
    case 'MultiPolygon':
      return arr(coordinates).map((poly) => ring(arr(poly)[0]));
    case 'GeometryCollection':
      return arr(geometries).flatMap((x) => geometryParts(x, depth + 1));
    default:
      throw new StorageArgumentError(`unsupported geometry type ${JSON.stringify(type)}`);
  }
}

function polygonLiteral(part: Position[]): string {
  return '(' + part.map(([x, y]) => `(${x},${y})`).join(',') + ')';
}

/** `{"((x,y),…)",…}`: a polygon[] literal, passed as text and cast in SQL (same on both drivers). */
function polygonArrayLiteral(parts: Position[][]): string {
  return '{' + parts.map((p) => `"${polygonLiteral(p)}"`).join(',') + '}';
}

export interface Bbox {
  west: number;
  south: number;
  east: number;
  north: number;
}

export function bboxOf(parts: Position[][]): Bbox {
  let west = Infinity, south = Infinity, east = -Infinity, north = -Infinity;
  for (const part of parts) for (const [x, y] of part) {
    west = Math.min(west, x); east = Math.max(east, x);
    south = Math.min(south, y); north = Math.max(north, y);
  }
  return { west, south, east, north };
}

/** A search bbox as rectangles: two when it crosses the antimeridian (west > east). */
function bboxParts(b: unknown): Position[][] {
  const whole = parseBbox(b);
  const n = b as number[];
  const [w, e] = n.length === 4 ? [n[0]!, n[2]!] : [n[0]!, n[3]!];
  const rect = (west: number, east: number): Position[] => [[west, whole.south], [east, whole.south], [east, whole.north], [west, whole.north], [west, whole.south]];
  return w > e ? [rect(w, 180), rect(-180, e)] : [rect(whole.west, whole.east)];
}

/** A STAC bbox array (2D or 3D) as a Bbox; west > east (antimeridian) widens to the full longitude range. */
export function parseBbox(b: unknown): Bbox {
  if (!Array.isArray(b) || (b.length !== 4 && b.length !== 6) || b.some((x) => typeof x !== 'number' || !Number.isFinite(x))) {
    throw new StorageArgumentError('bbox must be 4 or 6 finite numbers');
  }
  const n = b as number[];
  const [w, s, e, nn] = n.length === 4 ? [n[0]!, n[1]!, n[2]!, n[3]!] : [n[0]!, n[1]!, n[3]!, n[4]!];
  if (s > nn) throw new StorageArgumentError('bbox south must be ≤ north');
  for (const [x, y] of [[w, s], [e, nn]] as const) position([x, y]);
  // A box cannot wrap; the full longitude band is a superset, and the footprint refines it.
  return w > e ? { west: -180, south: s, east: 180, north: nn } : { west: w, south: s, east: e, north: nn };
}

function boxLiteral(b: Bbox): string {
  return `(${b.east},${b.north}),(${b.west},${b.south})`;
}

// ---- collections ---------------------------------------------------------

export async function upsertCollection(q: Queryable, doc: StacDoc): Promise<boolean> {
  checkId(doc?.id, 'collection id');
  const r = await q.query(
    `INSERT INTO stac_collections (id, doc) VALUES ($1, $2::jsonb)
     ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc, updated_at = now()
     WHERE stac_collections.doc IS DISTINCT FROM EXCLUDED.doc`,
    [doc.id, JSON.stringify(doc)],
  );
  return r.rowCount === 1;
}

export async function getCollection(q: Queryable, id: string): Promise<StacDoc | null> {
  checkId(id, 'collection id');
  const r = await q.query<{ doc: StacDoc }>('SELECT doc FROM stac_collections WHERE id = $1', [id]);
  return r.rows[0]?.doc ?? null;
}

export async function listCollections(q: Queryable): Promise<StacDoc[]> {
  const r = await q.query<{ doc: StacDoc }>('SELECT doc FROM stac_collections ORDER BY id');
  return r.rows.map((row) => row.doc);
}

// ---- items ---------------------------------------------------------------

function parseTime(v: unknown, what: string): Date | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new StorageArgumentError(`${what} must be an RFC 3339 string or null`);
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new StorageArgumentError(`${what} is not a valid date-time`);
  return d;
}

interface ItemColumns {
  collection: string;
  id: string;
  dtStart: Date | null;
  dtEnd: Date | null;
  bbox: string | null;
  footprint: string | null;
}

export function itemColumns(item: StacDoc): ItemColumns {
  const id = checkId(item?.id, 'item id');
  // Only written ids: reads and deletes still take them, so an item stored before this check can be removed.
  if (id === '.' || id === '..') throw new StorageArgumentError(`item id must not be "${id}": as a URL path segment it resolves to another resource (its self link would name the collection)`);
  const collection = checkId(item.collection, 'item collection');
  const props = (item.properties ?? {}) as Record<string, unknown>;
  if (typeof props !== 'object' || Array.isArray(props)) throw new StorageArgumentError('item properties must be an object');
  const dt = parseTime(props.datetime, 'properties.datetime');
  const start = parseTime(props.start_datetime, 'properties.start_datetime') ?? dt;
  const end = parseTime(props.end_datetime, 'properties.end_datetime') ?? dt;
  if (!dt && (!start || !end)) throw new StorageArgumentError('an item needs properties.datetime, or start_datetime and end_datetime');
  if (start && end && end < start) throw new StorageArgumentError('end_datetime is before start_datetime');
  let parts: Position[][] | null = null;
  if (item.geometry !== null && item.geometry !== undefined) {
    parts = geometryParts(item.geometry);
    if (parts.reduce((n, p) => n + p.length, 0) > MAX_VERTICES) throw new StorageArgumentError(`geometry has more than ${MAX_VERTICES} vertices`);
  }
  const bbox = item.bbox !== undefined ? parseBbox(item.bbox) : parts ? bboxOf(parts) : null;
  return { collection, id, dtStart: start, dtEnd: end, bbox: bbox ? boxLiteral(bbox) : null, footprint: parts ? polygonArrayLiteral(parts) : null };
}

/** Insert or replace an item; a replay with the same JSON changes nothing. True when written. */
export async function upsertItem(q: Queryable, item: StacDoc): Promise<boolean> {
  const c = itemColumns(item);
  const doc = JSON.stringify(item);
  const r = await q.query(
    `INSERT INTO stac_items (collection_id, id, doc, dt_start, dt_end, bbox, footprint, doc_bytes)
     VALUES ($1, $2, $3::jsonb, $4, $5, $6::box, $7::polygon[], $8)
     ON CONFLICT (collection_id, id) DO UPDATE SET
       doc = EXCLUDED.doc, dt_start = EXCLUDED.dt_start, dt_end = EXCLUDED.dt_end,
       bbox = EXCLUDED.bbox, footprint = EXCLUDED.footprint, doc_bytes = EXCLUDED.doc_bytes, updated_at = now()
     WHERE stac_items.doc IS DISTINCT FROM EXCLUDED.doc`,
    [c.collection, c.id, doc, c.dtStart, c.dtEnd, c.bbox, c.footprint, Buffer.byteLength(doc)],
  );
  return r.rowCount === 1;
}

export async function getItem(q: Queryable, collection: string, id: string): Promise<StacDoc | null> {
  checkId(collection, 'collection id');
  checkId(id, 'item id');
  const r = await q.query<{ doc: StacDoc }>('SELECT doc FROM stac_items WHERE collection_id = $1 AND id = $2', [collection, id]);
  return r.rows[0]?.doc ?? null;
}

/** Whether the item exists, without reading its document (a PUT's check; documents can be megabytes). */
export async function itemExists(q: Queryable, collection: string, id: string): Promise<boolean> {
  checkId(collection, 'collection id');
  checkId(id, 'item id');
  const r = await q.query('SELECT 1 FROM stac_items WHERE collection_id = $1 AND id = $2', [collection, id]);
  return r.rows.length > 0;
}

export async function deleteItem(q: Queryable, collection: string, id: string): Promise<boolean> {
  const r = await q.query('DELETE FROM stac_items WHERE collection_id = $1 AND id = $2', [checkId(collection, 'collection id'), checkId(id, 'item id')]);
  return r.rowCount === 1;
}

export interface ItemSearch {
  collections?: string[];
  ids?: string[];
  /** STAC bbox [w, s, e, n] (or 6 numbers). */
  bbox?: number[];
  /** A GeoJSON geometry the item must intersect. */
  intersects?: unknown;
  /** Closed interval; either end open when absent. */
  datetime?: { from?: Date; to?: Date };
  /** Sort keys (STAC API sort extension), most significant first; absent: newest first. Paging functions only. */
  sortby?: SortKey[];
  limit?: number;
  offset?: number;
}

/**
 * The fields a search can sort on: each is a column of stac_items, so a sort
 * costs no JSON read. `datetime` is the item's start time (dt_start:
 * properties.datetime, or start_datetime for a range).
 */
export const SORT_FIELDS = ['datetime', 'collection', 'id'] as const;
export type SortField = (typeof SORT_FIELDS)[number];

export interface SortKey {
  field: SortField;
  direction: 'asc' | 'desc';
}

const SORT_COLUMN: Record<SortField, 'dt_start' | 'collection_id' | 'id'> = { datetime: 'dt_start', collection: 'collection_id', id: 'id' };

/** The default order: newest first, then collection and id. */
const DEFAULT_SORT: readonly SortKey[] = [{ field: 'datetime', direction: 'desc' }];

/**
 * The full order of a search: the requested keys, then collection and id
 * ascending where not already given. (collection_id, id) is the primary key,
 * so the order is total and a keyset cursor names one position in it.
 */
export function fullOrder(sortby: readonly SortKey[] | undefined): SortKey[] {
  const keys: SortKey[] = [];
  for (const k of sortby && sortby.length > 0 ? sortby : DEFAULT_SORT) {
    if (!(SORT_FIELDS as readonly string[]).includes(k.field) || (k.direction !== 'asc' && k.direction !== 'desc')) {
      throw new StorageArgumentError(`cannot sort by ${JSON.stringify(k.field)} ${JSON.stringify(k.direction)}`);
    }
    if (!keys.some((x) => x.field === k.field)) keys.push({ field: k.field, direction: k.direction });
  }
  for (const field of ['collection', 'id'] as const) if (!keys.some((x) => x.field === field)) keys.push({ field, direction: 'asc' });
  return keys;
}

/** ORDER BY text of `order`. A missing time sorts last in either direction (as the default order always has). */
function orderBySql(order: readonly SortKey[]): string {
  return order.map((k) => `${SORT_COLUMN[k.field]} ${k.direction === 'desc' ? 'DESC' : 'ASC'}${k.field === 'datetime' ? ' NULLS LAST' : ''}`).join(', ');
}

/** SQL conditions and parameters for a search's filters (shared by searchItems and searchItemsPage). */
function searchWhere(s: ItemSearch): { where: string[]; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  if (s.collections) where.push(`collection_id = ANY($${params.push(s.collections.map((c) => checkId(c, 'collection id')))}::text[])`);
  if (s.ids) where.push(`id = ANY($${params.push(s.ids.map((c) => checkId(c, 'item id')))}::text[])`);
  if (s.bbox && s.intersects) throw new StorageArgumentError('bbox and intersects cannot both be given (STAC API)');
  // STAC API: bbox and intersects select items whose geometry intersects the area.
  let parts: Position[][] | undefined;
  if (s.bbox) parts = bboxParts(s.bbox);
  if (s.intersects) {
    parts = geometryParts(s.intersects);
    if (parts.reduce((n, p) => n + p.length, 0) > MAX_VERTICES) throw new StorageArgumentError(`intersects has more than ${MAX_VERTICES} vertices`);
  }
  if (parts) {
    // The && on box uses the GiST index; the polygon test then drops candidates whose footprint misses.
    where.push(`bbox && $${params.push(boxLiteral(bboxOf(parts)))}::box`);
    where.push(
      `(footprint IS NULL OR EXISTS (SELECT 1 FROM unnest(footprint) AS f, unnest($${params.push(polygonArrayLiteral(parts))}::polygon[]) AS g WHERE f && g))`,
    );
  }
  if (s.datetime?.from) where.push(`dt_end >= $${params.push(s.datetime.from)}`);
  if (s.datetime?.to) where.push(`dt_start <= $${params.push(s.datetime.to)}`);
  return { where, params };
}

/** Items matching every given filter, newest first. */
export async function searchItems(q: Queryable, s: ItemSearch): Promise<StacDoc[]> {
  const { where, params } = searchWhere(s);
  const limit = Math.min(Math.max(1, s.limit ?? 100), 10_000);
  const offset = Math.max(0, Math.floor(s.offset ?? 0));
  const r = await q.query<{ doc: StacDoc }>(
    `SELECT doc FROM stac_items ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
      ORDER BY dt_start DESC NULLS LAST, collection_id, id LIMIT ${limit} OFFSET ${offset}`,
    params,
  );
  return r.rows.map((row) => row.doc);
}

/** Where a page ended: the last item's values of every sort field, so one cursor serves any order (fullOrder). */
export interface ItemCursor {
  /** The last item's dt_start in ms since the epoch, or null. */
  dt: number | null;
  collection: string;
  id: string;
}

export interface ItemPage {
  items: StacDoc[];
  /** Set when more items may follow: pass it as `after` for the next page. */
  next: ItemCursor | null;
}

/**
 * The keyset condition: rows that sort after `after` in `order`, i.e. for
 * some key i, equal on every key before i and strictly after on key i
 * (for the time, a missing time sorts after every time).
 */
function afterCondition(where: string[], params: unknown[], after: ItemCursor, order: readonly SortKey[]): void {
  const c = checkId(after.collection, 'cursor collection');
  const i = checkId(after.id, 'cursor id');
  if (after.dt !== null && !Number.isFinite(after.dt)) throw new StorageArgumentError('cursor time must be finite');
  // A parameter is pushed only when used: PostgreSQL refuses a statement with a parameter it cannot type.
  const raw: Record<SortField, unknown> = { datetime: after.dt === null ? null : new Date(after.dt), collection: c, id: i };
  const placed = new Map<SortField, string>();
  const valueOf = (f: SortField): string | null => {
    if (raw[f] === null) return null;
    let p = placed.get(f);
    if (p === undefined) {
      p = `$${params.push(raw[f])}${f === 'datetime' ? '::timestamptz' : ''}`;
      placed.set(f, p);
    }
    return p;
  };
  const eq = (k: SortKey): string => {
    const v = valueOf(k.field);
    return v === null ? `${SORT_COLUMN[k.field]} IS NULL` : `${SORT_COLUMN[k.field]} = ${v}`;
  };
  const past = (k: SortKey): string | null => {
    const v = valueOf(k.field);
    // Nothing sorts after a missing time on the time key itself.
    if (v === null) return null;
    const col = SORT_COLUMN[k.field];
    const cmp = `${col} ${k.direction === 'desc' ? '<' : '>'} ${v}`;
    return k.field === 'datetime' ? `(${cmp} OR ${col} IS NULL)` : cmp;
  };
  const terms: string[] = [];
  order.forEach((k, n) => {
    const p = past(k);
    if (p !== null) terms.push([...order.slice(0, n).map(eq), p].join(' AND '));
  });
  where.push(terms.length > 0 ? `(${terms.map((t) => `(${t})`).join(' OR ')})` : 'FALSE');
}

const cursorOfRow = (row: { dt_start: Date | null; collection_id: string; id: string }): ItemCursor => ({
  dt: row.dt_start ? new Date(row.dt_start).getTime() : null,
  collection: row.collection_id,
  id: row.id,
});

/**
 * One page of a search, keyset-paged: the page after `after` holds exactly
 * the matching items that sort after it, so concurrent inserts never shift a
 * later page into duplicates or gaps (offset paging would).
 */
export async function searchItemsPage(q: Queryable, s: Omit<ItemSearch, 'offset'>, after?: ItemCursor | null): Promise<ItemPage> {
  const { where, params } = searchWhere(s);
  const order = fullOrder(s.sortby);
  if (after) afterCondition(where, params, after, order);
  const limit = Math.min(Math.max(1, s.limit ?? 100), 10_000);
  // One extra row says whether a next page exists without a count.
  const r = await q.query<{ doc: StacDoc; dt_start: Date | null; collection_id: string; id: string }>(
    `SELECT doc, dt_start, collection_id, id FROM stac_items ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
      ORDER BY ${orderBySql(order)} LIMIT ${limit + 1}`,
    params,
  );
  const rows = r.rows.slice(0, limit);
  const last = rows[rows.length - 1];
  const next = r.rows.length > limit && last ? cursorOfRow(last) : null;
  return { items: rows.map((row) => row.doc), next };
}

/** A search hit without its document: where it sorts, and its stored size. */
export interface ItemKey {
  cursor: ItemCursor;
  /** Compact JSON bytes of the stored document (doc_bytes). */
  bytes: number;
}

/**
 * The keys of one page of a search (same order and keyset as
 * searchItemsPage), with each item's size, and whether more follow. No
 * document is read: the caller picks the items that fit its byte budget and
 * reads only those (itemTexts).
 */
export async function searchItemKeys(q: Queryable, s: Omit<ItemSearch, 'offset'>, after?: ItemCursor | null): Promise<{ keys: ItemKey[]; more: boolean }> {
  const { where, params } = searchWhere(s);
  const order = fullOrder(s.sortby);
  if (after) afterCondition(where, params, after, order);
  const limit = Math.min(Math.max(1, s.limit ?? 100), 10_000);
  const r = await q.query<{ dt_start: Date | null; collection_id: string; id: string; doc_bytes: number }>(
    `SELECT dt_start, collection_id, id, doc_bytes FROM stac_items ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
      ORDER BY ${orderBySql(order)} LIMIT ${limit + 1}`,
    params,
  );
  return { keys: r.rows.slice(0, limit).map((row) => ({ cursor: cursorOfRow(row), bytes: Number(row.doc_bytes) })), more: r.rows.length > limit };
}

/**
 * How many items match `s` (filters only; sort, limit and paging ignored),
 * or null when more than `max` do: the count reads at most max + 1 rows, so
 * its cost is bounded whatever the search (STAC API numberMatched is
 * optional; it is given only where it stays cheap).
 */
export async function countItemsUpTo(q: Queryable, s: Omit<ItemSearch, 'offset' | 'limit'>, max: number): Promise<number | null> {
  const { where, params } = searchWhere(s);
  const bound = Math.max(0, Math.floor(max));
  const r = await q.query<{ n: number | string }>(
    `SELECT count(*) AS n FROM (SELECT 1 FROM stac_items ${where.length ? 'WHERE ' + where.join(' AND ') : ''} LIMIT ${bound + 1}) AS m`,
    params,
  );
  const n = Number(r.rows[0]?.n ?? 0);
  return n > bound ? null : n;
}

/**
 * A stored item as JSON text, never parsed here: `body` is the document
 * without its `links` (a JSON object, as the database writes jsonb), and
 * `links` the JSON array of its links whose rel is not in `dropRels` (the
 * server writes its own navigation links). The caller splices the two.
 */
export interface ItemText {
  collection: string;
  id: string;
  body: string;
  links: string;
  /** The size the item was stored with (doc_bytes). */
  bytes: number;
}

/**
 * The items named by `keys` as text (see ItemText), in the order of `keys`;
 * an item deleted since its key was read is left out. Reading text rather
 * than jsonb keeps JSON.parse (and the JSON.stringify of the answer) off the
 * caller's event loop: on a megabyte document each takes tens of ms.
 */
export async function itemTexts(q: Queryable, keys: ReadonlyArray<{ collection: string; id: string }>, dropRels: readonly string[]): Promise<ItemText[]> {
  if (keys.length === 0) return [];
  const r = await q.query<{ n: string | number; collection_id: string; id: string; body: string; links: string; doc_bytes: number }>(
    `SELECT u.n, s.collection_id, s.id, (s.doc - 'links')::text AS body, s.doc_bytes,
            (SELECT coalesce(jsonb_agg(l.v ORDER BY l.o), '[]'::jsonb)
               FROM jsonb_array_elements(CASE WHEN jsonb_typeof(s.doc->'links') = 'array' THEN s.doc->'links' ELSE '[]'::jsonb END)
                    WITH ORDINALITY AS l(v, o)
              WHERE jsonb_typeof(l.v) <> 'object' OR coalesce(l.v->>'rel', '') <> ALL ($3::text[]))::text AS links
       FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(c, i, n)
       JOIN stac_items s ON s.collection_id = u.c AND s.id = u.i
      ORDER BY u.n`,
    [keys.map((k) => checkId(k.collection, 'collection id')), keys.map((k) => checkId(k.id, 'item id')), [...dropRels]],
  );
  return r.rows.map((row) => ({ collection: row.collection_id, id: row.id, body: row.body, links: row.links, bytes: Number(row.doc_bytes) }));
}

export type InsertOnceResult = 'inserted' | 'same' | 'conflict';

/**
 * Insert an item unless one with its id exists: `same` when the stored JSON
 * equals this one (jsonb equality, so key order does not matter), `conflict`
 * when it differs. The idempotency rule of a STAC transaction POST.
 */
export async function insertItemOnce(q: Queryable, item: StacDoc): Promise<InsertOnceResult> {
  const c = itemColumns(item);
  const doc = JSON.stringify(item);
  const r = await q.query(
    `INSERT INTO stac_items (collection_id, id, doc, dt_start, dt_end, bbox, footprint, doc_bytes)
     VALUES ($1, $2, $3::jsonb, $4, $5, $6::box, $7::polygon[], $8)
     ON CONFLICT (collection_id, id) DO NOTHING`,
    [c.collection, c.id, doc, c.dtStart, c.dtEnd, c.bbox, c.footprint, Buffer.byteLength(doc)],
  );
  if (r.rowCount === 1) return 'inserted';
  const same = await q.query<{ same: boolean }>('SELECT doc = $3::jsonb AS same FROM stac_items WHERE collection_id = $1 AND id = $2', [c.collection, c.id, doc]);
  // Deleted between the two statements: report a conflict rather than guess; the client retries.
  return same.rows[0]?.same === true ? 'same' : 'conflict';
}

/** An item as inserted: its columns and its JSON text. */
export interface ItemRow extends ItemColumns {
  doc: string;
}

/**
 * One item's row, made apart from the others of its batch: an item that
 * cannot be stored (bad columns, or JSON.stringify's RangeError on nesting
 * deeper than the stack) fails here with StorageArgumentError, alone,
 * rather than inside the statement that writes the whole batch.
 */
export function itemRow(item: StacDoc): ItemRow {
  const c = itemColumns(item);
  let doc: string;
  try {
    doc = JSON.stringify(item);
  } catch (err) {
    throw new StorageArgumentError(`item ${c.id} cannot be serialised as JSON (${(err as Error).message})`);
  }
  return { ...c, doc };
}

/**
 * insertItemOnce for many items in one statement per step (a batch of
 * concurrent registrations committed together). Results are in input order;
 * an id given twice is inserted once, the later copy compared to it.
 */
export async function insertItemsOnce(q: Queryable, items: readonly StacDoc[]): Promise<InsertOnceResult[]> {
  return insertItemRowsOnce(q, items.map(itemRow));
}

/** insertItemsOnce for rows already made (itemRow). */
export async function insertItemRowsOnce(q: Queryable, rows: readonly ItemRow[]): Promise<InsertOnceResult[]> {
  if (rows.length === 0) return [];
  const docs = rows.map((r) => r.doc);
  const inserted = await q.query<{ collection_id: string; id: string }>(
    `INSERT INTO stac_items (collection_id, id, doc, dt_start, dt_end, bbox, footprint, doc_bytes)
     SELECT c, i, d::jsonb, s, e, b::box, f::polygon[], n
       FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[], $7::text[], $8::int[]) AS u(c, i, d, s, e, b, f, n)
     ON CONFLICT (collection_id, id) DO NOTHING
     RETURNING collection_id, id`,
    [
      rows.map((c) => c.collection),
      rows.map((c) => c.id),
      docs,
      rows.map((c) => c.dtStart),
      rows.map((c) => c.dtEnd),
      rows.map((c) => c.bbox),
      rows.map((c) => c.footprint),
      docs.map((d) => Buffer.byteLength(d)),
    ],
  );
  const key = (c: string, i: string): string => `${c}\u0000${i}`;
  const fresh = new Set(inserted.rows.map((r) => key(r.collection_id, r.id)));
  const results: InsertOnceResult[] = new Array(rows.length);
  const firstOf = new Map<string, number>();
  const compare: number[] = [];
  rows.forEach((c, n) => {
    const k = key(c.collection, c.id);
    if (fresh.has(k) && !firstOf.has(k)) {
      firstOf.set(k, n);
      results[n] = 'inserted';
    } else compare.push(n);
  });
  if (compare.length > 0) {
    const r = await q.query<{ n: number; same: boolean | null }>(
      `SELECT u.n, s.doc = u.d::jsonb AS same
         FROM unnest($1::int[], $2::text[], $3::text[], $4::text[]) AS u(n, c, i, d)
         LEFT JOIN stac_items s ON s.collection_id = u.c AND s.id = u.i`,
      [compare, compare.map((n) => rows[n]!.collection), compare.map((n) => rows[n]!.id), compare.map((n) => docs[n]!)],
    );
    for (const row of r.rows) results[Number(row.n)] = row.same === true ? 'same' : 'conflict';
  }
  return results;
}
