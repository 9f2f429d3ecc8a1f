/**
 * STAC API search parameters (GET query strings and POST bodies) parsed into
 * the storage search, with a 400 that names the parameter for anything
 * malformed. Time intervals follow STAC API item-search: an RFC 3339
 * instant, or `start/end` where either side may be open (`..` or empty).
 */
import { badRequest } from '../errors.js';
import { jsonShapeProblem } from './validate.js';
import { SORT_FIELDS, type ItemCursor, type ItemSearch, type SortField, type SortKey } from '../../storage/stac.js';

export const DEFAULT_LIMIT = 10;
/** A larger limit is served as this many (OGC API Features: the server's maximum applies). */
export const MAX_LIMIT = 1000;
const MAX_IDS = 1000;
const ID = /^[A-Za-z0-9._:\-]{1,200}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export interface ParsedSearch {
  search: Omit<ItemSearch, 'offset' | 'limit'>;
  limit: number;
  after: ItemCursor | null;
}

function instant(s: string, name: string): Date {
  if (!RFC3339.test(s)) throw badRequest(`${name}: "${s.slice(0, 60)}" is not an RFC 3339 date-time (e.g. 2026-01-01T00:00:00Z)`);
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) throw badRequest(`${name}: "${s.slice(0, 60)}" is not a valid date-time`);
  return d;
}

/** `x`, `a/b`, `../b`, `a/..`, `/b`, `a/`: a closed or half-open interval (both ends inclusive). */
export function parseDatetime(v: unknown): { from?: Date; to?: Date } {
  if (typeof v !== 'string' || v.length === 0 || v.length > 100) throw badRequest('datetime must be an RFC 3339 instant or an interval start/end (either side may be ..)');
  const parts = v.split('/');
  if (parts.length === 1) {
    const d = instant(parts[0]!, 'datetime');
    return { from: d, to: d };
  }
  if (parts.length !== 2) throw badRequest('datetime interval must have exactly one /');
  const open = (s: string): boolean => s === '' || s === '..';
  const [a, b] = parts as [string, string];
  if (open(a) && open(b)) throw badRequest('datetime interval cannot be open at both ends');
  const from = open(a) ? undefined : instant(a, 'datetime start');
  const to = open(b) ? undefined : instant(b, 'datetime end');
  if (from && to && from > to) throw badRequest('datetime interval start is after its end');
  return { ...(from ? { from } : {}), ...(to ? { to } : {}) };
}

export function parseLimit(v: unknown): number {
  if (v === undefined) return DEFAULT_LIMIT;
  const n = typeof v === 'string' && /^\d{1,9}$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw badRequest('limit must be an integer ≥ 1');
  return Math.min(n, MAX_LIMIT);
}

function numbers(v: unknown, name: string): number[] {
  const arr = typeof v === 'string' ? v.split(',').map((x) => (x.trim() === '' ? NaN : Number(x))) : v;
  if (!Array.isArray(arr) || arr.some((x) => typeof x !== 'number' || !Number.isFinite(x))) throw badRequest(`${name} must be comma-separated numbers (GET) or a number array (POST)`);
  return arr as number[];
}

export function parseBboxParam(v: unknown): number[] {
  const b = numbers(v, 'bbox');
  if (b.length !== 4 && b.length !== 6) throw badRequest('bbox must have 4 numbers (west,south,east,north) or 6 (with heights)');
  const [w, s, e, n] = b.length === 4 ? b : [b[0]!, b[1]!, b[3]!, b[4]!];
  if ([w, e].some((x) => x! < -180 || x! > 180) || [s, n].some((y) => y! < -90 || y! > 90)) throw badRequest('bbox must lie within longitude -180..180 and latitude -90..90');
  if (s! > n!) throw badRequest('bbox south must be ≤ north');
  return b;
}

function idList(v: unknown, name: string): string[] {
  const arr = typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter((x) => x !== '') : v;
  if (!Array.isArray(arr) || arr.length === 0 || arr.length > MAX_IDS) throw badRequest(`${name} must be 1..${MAX_IDS} ids (comma-separated in GET, an array in POST)`);
  for (const x of arr) if (typeof x !== 'string' || !ID.test(x)) throw badRequest(`${name}: ${JSON.stringify(x).slice(0, 60)} is not a valid id ([A-Za-z0-9._:-], 1..200)`);
  return arr as string[];
}

const GEOMETRY_TYPES = new Set(['Point', 'MultiPoint', 'LineString', 'MultiLineString', 'Polygon', 'MultiPolygon', 'GeometryCollection']);

function parseIntersects(v: unknown): unknown {
  let g = v;
  if (typeof v === 'string') {
    try {
      g = JSON.parse(v);
    } catch {
      throw badRequest('intersects must be a GeoJSON geometry (JSON)');
    }
  }
  if (typeof g !== 'object' || g === null || !GEOMETRY_TYPES.has((g as { type?: string }).type ?? '')) throw badRequest('intersects must be a GeoJSON geometry object');
  // A GET's intersects is parsed here, not with the body: its shape is checked here too.
  const shape = jsonShapeProblem(g);
  if (shape) throw badRequest(`intersects: ${shape}`);
  return g;
}

// ---- sort (STAC API sort extension) -----------------------------------------------

/** The names a sort field may be given by: STAC's `properties.datetime` and the bare names clients also send. */
const SORT_NAMES: Record<string, SortField> = { 'properties.datetime': 'datetime', datetime: 'datetime', id: 'id', collection: 'collection' };

/** The sortable fields, as a sort key's `field` may name them (for documentation and errors). */
export const SORTABLE_FIELDS: readonly string[] = SORT_FIELDS.map((f) => (f === 'datetime' ? 'properties.datetime' : f));

function sortField(name: unknown): SortField {
  const f = typeof name === 'string' ? SORT_NAMES[name] : undefined;
  if (f === undefined) {
    throw badRequest(`sortby: cannot sort by ${JSON.stringify(name ?? null).slice(0, 80)} (sortable fields: ${SORTABLE_FIELDS.join(', ')})`);
  }
  return f;
}

/**
 * `sortby` as the sort extension gives it: in GET, comma-separated fields
 * each with an optional `+` (ascending, the default) or `-` (descending)
 * prefix; in POST, `[{"field": …, "direction": "asc"|"desc"}]`. Either form
 * is taken from either method. In a query string an unescaped `+` arrives
 * as a space (form encoding), so a leading space reads as `+`, as the
 * extension's README says servers should.
 */
export function parseSortby(v: unknown): SortKey[] {
  let keys: SortKey[];
  if (typeof v === 'string') {
    const parts = v.split(',');
    if (v.length > 500 || parts.length > 10) throw badRequest('sortby: at most 10 fields');
    keys = parts.map((raw) => {
      const t = (raw.startsWith(' ') ? `+${raw.trimStart()}` : raw).trimEnd();
      if (t === '') throw badRequest('sortby: an empty field (write e.g. -properties.datetime,+id)');
      const sign = t[0] === '-' || t[0] === '+' ? t[0] : '';
      return { field: sortField(t.slice(sign.length)), direction: sign === '-' ? 'desc' : 'asc' };
    });
  } else if (Array.isArray(v)) {
    if (v.length === 0 || v.length > 10) throw badRequest('sortby: give 1..10 sort keys');
    keys = v.map((k, n) => {
      if (typeof k !== 'object' || k === null || Array.isArray(k)) throw badRequest(`sortby.${n}: must be an object {"field": …, "direction": "asc"|"desc"}`);
      const { field, direction, ...rest } = k as Record<string, unknown>;
      const extra = Object.keys(rest)[0];
      if (extra !== undefined) throw badRequest(`sortby.${n}.${extra.slice(0, 40)}: unknown member (a sort key has field and direction)`);
      if (direction !== undefined && direction !== 'asc' && direction !== 'desc') throw badRequest(`sortby.${n}.direction: must be "asc" or "desc"`);
      return { field: sortField(field), direction: direction === 'desc' ? 'desc' : 'asc' };
    });
  } else throw badRequest('sortby: a comma-separated list such as -properties.datetime,+id (GET) or [{"field": "properties.datetime", "direction": "desc"}] (POST)');
  const seen = new Set<SortField>();
  for (const k of keys) {
    if (seen.has(k.field)) throw badRequest(`sortby: ${k.field} is given more than once`);
    seen.add(k.field);
  }
  return keys;
}

// ---- paging tokens -----------------------------------------------------------

/** The largest |ms| a JavaScript Date holds (ECMA-262 time values). */
const MAX_DATE_MS = 8.64e15;

/** An opaque token naming where the previous page ended (keyset, not offset). */
export function encodeToken(c: ItemCursor): string {
  return Buffer.from(JSON.stringify([c.dt, c.collection, c.id])).toString('base64url');
}

export function decodeToken(v: unknown): ItemCursor {
  if (typeof v !== 'string' || v.length === 0 || v.length > 1000) throw badRequest('token is not one this server issued');
  try {
    const [dt, collection, id] = JSON.parse(Buffer.from(v, 'base64url').toString('utf8')) as unknown[];
    // A token holds an item's time in whole ms; 1e308 is finite, but not a Date (PostgreSQL would get an invalid timestamp).
    const time = dt === null || (typeof dt === 'number' && Number.isSafeInteger(dt) && Math.abs(dt) <= MAX_DATE_MS);
    if (time && typeof collection === 'string' && ID.test(collection) && typeof id === 'string' && ID.test(id)) {
      return { dt: dt as number | null, collection, id };
    }
  } catch {
    // falls through to the 400
  }
  throw badRequest('token is not one this server issued');
}

const SEARCH_KEYS = new Set(['bbox', 'intersects', 'datetime', 'ids', 'collections', 'limit', 'token', 'sortby']);

/**
 * A search from GET query parameters or a POST body. `fixedCollection` is the
 * /collections/{id}/items case (collections, ids and intersects not taken there).
 */
export function parseSearch(input: Record<string, unknown>, fixedCollection?: string): ParsedSearch {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw badRequest('the search must be a JSON object');
  // A POST body is echoed into its next link (JSON.stringify): one nested thousands deep would throw there.
  const shape = jsonShapeProblem(input);
  if (shape) throw badRequest(`search: ${shape}`);
  const search: ParsedSearch['search'] = {};
  if (fixedCollection === undefined) {
    for (const k of Object.keys(input)) if (!SEARCH_KEYS.has(k)) throw badRequest(`${k}: unknown search parameter (this server supports ${[...SEARCH_KEYS].join(', ')})`);
  }
  if (input.bbox !== undefined && input.intersects !== undefined) throw badRequest('bbox and intersects: give only one of them');
  if (input.bbox !== undefined) search.bbox = parseBboxParam(input.bbox);
  if (fixedCollection === undefined && input.intersects !== undefined) search.intersects = parseIntersects(input.intersects);
  if (input.datetime !== undefined) search.datetime = parseDatetime(input.datetime);
  if (input.sortby !== undefined) search.sortby = parseSortby(input.sortby);
  if (fixedCollection !== undefined) search.collections = [fixedCollection];
  else {
    if (input.ids !== undefined) search.ids = idList(input.ids, 'ids');
    if (input.collections !== undefined) search.collections = idList(input.collections, 'collections');
  }
  return { search, limit: parseLimit(input.limit), after: input.token === undefined ? null : decodeToken(input.token) };
}
