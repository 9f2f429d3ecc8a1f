/** The satellite catalog: NORAD id, name, groups, status. Upserts are idempotent. */
import type { Queryable } from './db.js';
import { StorageArgumentError } from './errors.js';

export type ObjectStatus = 'active' | 'inactive' | 'decayed' | 'unknown';
export const OBJECT_STATUSES: readonly ObjectStatus[] = ['active', 'inactive', 'decayed', 'unknown'];

export interface CatalogObject {
  noradId: number;
  name: string;
  intlDesignator: string | null;
  groups: string[];
  status: ObjectStatus;
  updatedAt: Date;
}

export type CatalogObjectInput = Pick<CatalogObject, 'noradId' | 'name'> & Partial<Pick<CatalogObject, 'intlDesignator' | 'groups' | 'status'>>;

export function checkNoradId(id: unknown): number {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > 999_999_999) throw new StorageArgumentError(`NORAD id must be an integer in 1..999999999 (got ${String(id)})`);
  return id;
}

function checkInput(o: CatalogObjectInput): void {
  checkNoradId(o.noradId);
  if (typeof o.name !== 'string' || o.name.length < 1 || o.name.length > 200) throw new StorageArgumentError('name must be 1..200 characters');
  if (o.status !== undefined && !OBJECT_STATUSES.includes(o.status)) throw new StorageArgumentError(`status must be one of ${OBJECT_STATUSES.join(', ')}`);
  if (o.groups !== undefined && (!Array.isArray(o.groups) || o.groups.some((g) => typeof g !== 'string' || g.length < 1 || g.length > 100))) {
    throw new StorageArgumentError('groups must be strings of 1..100 characters');
  }
}

interface Row {
  norad_id: number;
  name: string;
  intl_designator: string | null;
  groups: string[];
  status: ObjectStatus;
  updated_at: Date;
}

const COLS = 'norad_id, name, intl_designator, groups, status, updated_at';

function fromRow(r: Row): CatalogObject {
  return { noradId: Number(r.norad_id), name: r.name, intlDesignator: r.intl_designator, groups: r.groups ?? [], status: r.status, updatedAt: r.updated_at };
}

/**
 * Insert or update one object. A replay with the same values changes nothing
 * (the WHERE … IS DISTINCT FROM guard), so updated_at keeps its first value.
 * Returns true when a row was inserted or changed.
 */
export async function upsertObject(q: Queryable, o: CatalogObjectInput): Promise<boolean> {
  checkInput(o);
  const groups = [...new Set(o.groups ?? [])].sort();
  const r = await q.query(
    `INSERT INTO catalog_objects (norad_id, name, intl_designator, groups, status)
     VALUES ($1, $2, $3, $4::text[], $5)
     ON CONFLICT (norad_id) DO UPDATE SET
       name = EXCLUDED.name, intl_designator = EXCLUDED.intl_designator,
       groups = EXCLUDED.groups, status = EXCLUDED.status, updated_at = now()
     WHERE (catalog_objects.name, catalog_objects.intl_designator, catalog_objects.groups, catalog_objects.status)
           IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.intl_designator, EXCLUDED.groups, EXCLUDED.status)`,
    [o.noradId, o.name, o.intlDesignator ?? null, groups, o.status ?? 'active'],
  );
  return r.rowCount === 1;
}

export async function getObject(q: Queryable, noradId: number): Promise<CatalogObject | null> {
  checkNoradId(noradId);
  const r = await q.query<Row>(`SELECT ${COLS} FROM catalog_objects WHERE norad_id = $1`, [noradId]);
  return r.rows[0] ? fromRow(r.rows[0]) : null;
}

export async function listObjects(q: Queryable, filter: { group?: string; status?: ObjectStatus; limit?: number } = {}): Promise<CatalogObject[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.group !== undefined) where.push(`groups @> ARRAY[$${params.push(filter.group)}::text]`);
  if (filter.status !== undefined) where.push(`status = $${params.push(filter.status)}`);
  const limit = Math.min(Math.max(1, filter.limit ?? 100_000), 100_000);
  const r = await q.query<Row>(`SELECT ${COLS} FROM catalog_objects ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY norad_id LIMIT ${limit}`, params);
  return r.rows.map(fromRow);
}

/** Set the status; true when it changed. */
export async function setObjectStatus(q: Queryable, noradId: number, status: ObjectStatus): Promise<boolean> {
  checkNoradId(noradId);
  if (!OBJECT_STATUSES.includes(status)) throw new StorageArgumentError(`status must be one of ${OBJECT_STATUSES.join(', ')}`);
  const r = await q.query(`UPDATE catalog_objects SET status = $2, updated_at = now() WHERE norad_id = $1 AND status <> $2`, [noradId, status]);
  return r.rowCount === 1;
}

export interface UpsertObjectsResult {
  /** Ids inserted by this call. */
  inserted: number[];
  /** Ids whose existing row changed (name, designator or groups). */
  updated: number[];
}

/**
 * Batch upsert for catalog ingest: one statement per call (unnest of column
 * arrays) instead of one round trip per object, so a 15k-object group loads
 * in a handful of statements. `group` is merged into each object's groups
 * (never removed: an object can belong to several CelesTrak groups). A new
 * object gets status `active`; an existing object keeps its status, which
 * the trackers own (e.g. `decayed` from QA). A replay changes nothing.
 * Ids must be unique within one call (ON CONFLICT DO UPDATE cannot touch a
 * row twice in one statement).
 */
export async function upsertObjects(q: Queryable, objects: readonly CatalogObjectInput[], group: string | null): Promise<UpsertObjectsResult> {
  if (objects.length === 0) return { inserted: [], updated: [] };
  if (group !== null && (typeof group !== 'string' || group.length < 1 || group.length > 100)) throw new StorageArgumentError('group must be 1..100 characters');
  const seen = new Set<number>();
  const ids: number[] = [];
  const namesCol: string[] = [];
  const designators: (string | null)[] = [];
  for (const o of objects) {
    checkInput(o);
    if (seen.has(o.noradId)) throw new StorageArgumentError(`NORAD id ${o.noradId} appears twice in one batch`);
    seen.add(o.noradId);
    ids.push(o.noradId);
    namesCol.push(o.name);
    designators.push(o.intlDesignator ?? null);
  }
  const r = await q.query<{ norad_id: number; inserted: boolean }>(
    `INSERT INTO catalog_objects AS c (norad_id, name, intl_designator, groups, status)
     SELECT u.id, u.name, u.des, CASE WHEN $4::text IS NULL THEN '{}'::text[] ELSE ARRAY[$4::text] END, 'active'
       FROM unnest($1::int[], $2::text[], $3::text[]) AS u(id, name, des)
     ON CONFLICT (norad_id) DO UPDATE SET
       name = EXCLUDED.name,
       intl_designator = COALESCE(EXCLUDED.intl_designator, c.intl_designator),
       groups = (SELECT coalesce(array_agg(DISTINCT g ORDER BY g), '{}') FROM unnest(c.groups || EXCLUDED.groups) AS g),
       updated_at = now()
     WHERE c.name IS DISTINCT FROM EXCLUDED.name
        OR (EXCLUDED.intl_designator IS NOT NULL AND c.intl_designator IS DISTINCT FROM EXCLUDED.intl_designator)
        OR NOT (c.groups @> EXCLUDED.groups)
     RETURNING norad_id, (xmax = 0) AS inserted`,
    [ids, namesCol, designators, group],
  );
  const inserted: number[] = [];
  const updated: number[] = [];
  for (const row of r.rows) (row.inserted ? inserted : updated).push(Number(row.norad_id));
  return { inserted, updated };
}

/** The ids among `ids` whose catalog status is `active` now. */
export async function activeAmong(q: Queryable, ids: readonly number[]): Promise<Set<number>> {
  if (ids.length === 0) return new Set();
  for (const id of ids) checkNoradId(id);
  const r = await q.query<{ norad_id: number }>(`SELECT norad_id FROM catalog_objects WHERE norad_id = ANY($1::int[]) AND status = 'active'`, [ids]);
  return new Set(r.rows.map((row) => Number(row.norad_id)));
}

/** Decayed objects among `ids` become active again; returns the ids that changed. */
export async function reactivateObjects(q: Queryable, ids: readonly number[]): Promise<number[]> {
  if (ids.length === 0) return [];
  for (const id of ids) checkNoradId(id);
  const r = await q.query<{ norad_id: number }>(
    `UPDATE catalog_objects SET status = 'active', updated_at = now()
      WHERE norad_id = ANY($1::int[]) AND status = 'decayed'
      RETURNING norad_id`,
    [ids],
  );
  return r.rows.map((row) => Number(row.norad_id));
}

export interface ObjectSearch {
  /** Case-insensitive substring of the name; an all-digit text also matches the id. */
  text?: string;
  noradId?: number;
  group?: string;
  /** Keyset cursor: only ids above this one. */
  afterId?: number;
  /** 1..1000, default 100. */
  limit?: number;
}

export interface ObjectPage {
  items: CatalogObject[];
  /** The last id of this page when more rows follow (pass as afterId), else null. */
  nextAfterId: number | null;
}

/** LIKE pattern for a literal substring: %, _ and the escape itself are escaped. */
function likeSubstring(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * Search the catalog by name substring, id and/or group (criteria AND-ed),
 * ordered by id with keyset paging: a page costs the same at any depth.
 */
export async function searchObjects(q: Queryable, s: ObjectSearch = {}): Promise<ObjectPage> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (s.text !== undefined && s.text.length > 0) {
    if (s.text.length > 200) throw new StorageArgumentError('search text must be at most 200 characters');
    const p = `$${params.push(likeSubstring(s.text))}`;
    if (/^\d{1,9}$/.test(s.text) && Number(s.text) >= 1) where.push(`(name ILIKE ${p} ESCAPE '\\' OR norad_id = $${params.push(Number(s.text))})`);
    else where.push(`name ILIKE ${p} ESCAPE '\\'`);
  }
  if (s.noradId !== undefined) where.push(`norad_id = $${params.push(checkNoradId(s.noradId))}`);
  if (s.group !== undefined) where.push(`groups @> ARRAY[$${params.push(s.group)}::text]`);
  if (s.afterId !== undefined) {
    if (!Number.isInteger(s.afterId) || s.afterId < 0 || s.afterId > 999_999_999) throw new StorageArgumentError('afterId must be an integer in 0..999999999');
    where.push(`norad_id > $${params.push(s.afterId)}`);
  }
  const limit = s.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new StorageArgumentError('limit must be an integer in 1..1000');
  const r = await q.query<Row>(`SELECT ${COLS} FROM catalog_objects ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY norad_id LIMIT ${limit + 1}`, params);
  const items = r.rows.slice(0, limit).map(fromRow);
  return { items, nextAfterId: r.rows.length > limit ? items[items.length - 1]!.noradId : null };
}

/** Every object that belongs to at least one group, with its groups (for group subscriptions). */
export async function groupMemberships(q: Queryable): Promise<Array<{ noradId: number; groups: string[] }>> {
  const r = await q.query<{ norad_id: number; groups: string[] }>(`SELECT norad_id, groups FROM catalog_objects WHERE cardinality(groups) > 0 ORDER BY norad_id`);
  return r.rows.map((x) => ({ noradId: Number(x.norad_id), groups: x.groups }));
}
