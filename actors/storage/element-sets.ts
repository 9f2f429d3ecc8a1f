/** Every OMM/TLE received, unique per object and epoch. */
import type { Queryable } from './db.js';
import { checkNoradId } from './catalog.js';
import { StorageArgumentError } from './errors.js';

export interface ElementSetInput {
  noradId: number;
  epoch: Date;
  /** Where it came from, e.g. `celestrak:gp:stations`. */
  source: string;
  format: 'omm' | 'tle';
  /** OMM fields as received (CCSDS OMM keys); required for format `omm`. */
  omm?: Record<string, unknown> | null;
  tleLine1?: string | null;
  tleLine2?: string | null;
  /** Name for the catalog row when this object is new to the catalog. */
  objectName?: string;
}

export interface ElementSet extends Required<Omit<ElementSetInput, 'objectName'>> {
  id: number;
  receivedAt: Date;
}

function check(e: ElementSetInput): void {
  checkNoradId(e.noradId);
  if (!(e.epoch instanceof Date) || Number.isNaN(e.epoch.getTime())) throw new StorageArgumentError('epoch must be a valid date');
  if (typeof e.source !== 'string' || e.source.length < 1 || e.source.length > 200) throw new StorageArgumentError('source must be 1..200 characters');
  if (e.format !== 'omm' && e.format !== 'tle') throw new StorageArgumentError("format must be 'omm' or 'tle'");
  if (e.format === 'omm' && (typeof e.omm !== 'object' || e.omm === null || Array.isArray(e.omm))) throw new StorageArgumentError('an OMM element set needs its fields');
  if (e.format === 'tle' && (typeof e.tleLine1 !== 'string' || typeof e.tleLine2 !== 'string' || e.tleLine1.length !== 69 || e.tleLine2.length !== 69)) {
    throw new StorageArgumentError('a TLE element set needs two 69-character lines');
  }
}

/**
 * Record an element set; creates a minimal catalog row for an object not yet
 * in the catalog (an OMM can arrive before the catalog refresh). Returns true
 * when new, false for a replay or an already known (object, epoch).
 */
export async function insertElementSet(q: Queryable, e: ElementSetInput): Promise<boolean> {
  check(e);
  const name = (e.objectName ?? (typeof e.omm?.OBJECT_NAME === 'string' ? e.omm.OBJECT_NAME : '') ?? '').slice(0, 200) || `NORAD ${e.noradId}`;
  await q.query(`INSERT INTO catalog_objects (norad_id, name) VALUES ($1, $2) ON CONFLICT (norad_id) DO NOTHING`, [e.noradId, name]);
  const r = await q.query(
    `INSERT INTO element_sets (norad_id, epoch, source, format, omm, tle_line1, tle_line2)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)
     ON CONFLICT ON CONSTRAINT element_sets_natural_key DO NOTHING`,
    [e.noradId, e.epoch, e.source, e.format, e.omm ? JSON.stringify(e.omm) : null, e.tleLine1 ?? null, e.tleLine2 ?? null],
  );
  return r.rowCount === 1;
}

interface Row {
  id: string | number;
  norad_id: number;
  epoch: Date;
  source: string;
  format: 'omm' | 'tle';
  omm: Record<string, unknown> | null;
  tle_line1: string | null;
  tle_line2: string | null;
  received_at: Date;
}

const COLS = 'id, norad_id, epoch, source, format, omm, tle_line1, tle_line2, received_at';

function fromRow(r: Row): ElementSet {
  return {
    id: Number(r.id),
    noradId: Number(r.norad_id),
    epoch: r.epoch,
    source: r.source,
    format: r.format,
    omm: r.omm,
    tleLine1: r.tle_line1,
    tleLine2: r.tle_line2,
    receivedAt: r.received_at,
  };
}

/** The newest element set of an object (by epoch), or null. */
export async function latestElementSet(q: Queryable, noradId: number): Promise<ElementSet | null> {
  checkNoradId(noradId);
  const r = await q.query<Row>(`SELECT ${COLS} FROM element_sets WHERE norad_id = $1 ORDER BY epoch DESC LIMIT 1`, [noradId]);
  return r.rows[0] ? fromRow(r.rows[0]) : null;
}

/** The newest element set of every object in the list (for a tracker warming up). */
export async function latestElementSets(q: Queryable, noradIds: readonly number[]): Promise<ElementSet[]> {
  noradIds.forEach(checkNoradId);
  if (noradIds.length === 0) return [];
  const r = await q.query<Row>(
    `SELECT DISTINCT ON (norad_id) ${COLS} FROM element_sets WHERE norad_id = ANY($1::int[]) ORDER BY norad_id, epoch DESC`,
    [noradIds],
  );
  return r.rows.map(fromRow);
}

/** Element sets of one object with epochs in [from, to), oldest first. */
export async function elementSetHistory(q: Queryable, noradId: number, from: Date, to: Date, limit = 1000): Promise<ElementSet[]> {
  checkNoradId(noradId);
  const r = await q.query<Row>(
    `SELECT ${COLS} FROM element_sets WHERE norad_id = $1 AND epoch >= $2 AND epoch < $3 ORDER BY epoch LIMIT ${Math.min(Math.max(1, limit), 100_000)}`,
    [noradId, from, to],
  );
  return r.rows.map(fromRow);
}

/**
 * Batch insert for catalog ingest: one statement per call; every object must
 * already be in the catalog (upsertObjects first). Replays and duplicate
 * (object, epoch) pairs are skipped by the natural key. Returns the ids that
 * got a new element set.
 */
export async function insertElementSets(q: Queryable, sets: readonly ElementSetInput[]): Promise<number[]> {
  if (sets.length === 0) return [];
  const ids: number[] = [];
  const epochs: string[] = [];
  const sources: string[] = [];
  const formats: string[] = [];
  const omms: (string | null)[] = [];
  const l1: (string | null)[] = [];
  const l2: (string | null)[] = [];
  for (const e of sets) {
    check(e);
    ids.push(e.noradId);
    epochs.push(e.epoch.toISOString());
    sources.push(e.source);
    formats.push(e.format);
    omms.push(e.omm ? JSON.stringify(e.omm) : null);
    l1.push(e.tleLine1 ?? null);
    l2.push(e.tleLine2 ?? null);
  }
  const r = await q.query<{ norad_id: number }>(
    `INSERT INTO element_sets (norad_id, epoch, source, format, omm, tle_line1, tle_line2)
     SELECT u.id, u.epoch, u.source, u.format, u.omm::jsonb, u.l1, u.l2
       FROM unnest($1::int[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS u(id, epoch, source, format, omm, l1, l2)
     ON CONFLICT ON CONSTRAINT element_sets_natural_key DO NOTHING
     RETURNING norad_id`,
    [ids, epochs, sources, formats, omms, l1, l2],
  );
  return r.rows.map((row) => Number(row.norad_id));
}

/** One row of a catalog export: an active object with its newest element set. */
export interface ActiveElementSet {
  noradId: number;
  name: string;
  intlDesignator: string | null;
  elementSet: ElementSet;
}

export interface ActiveElementSetsPage {
  /** Only objects in this catalog group. */
  group?: string;
  /** Only these objects (at most 1000). */
  noradIds?: readonly number[];
  /** Keyset cursor: only ids above this one. */
  afterId?: number;
  /** 1..1000. */
  limit: number;
}

/**
 * Active objects with their newest element set (by epoch), ordered by id,
 * one keyset page: bulk exports read the catalog in pages so that no single
 * query result (PGlite runs a statement as one synchronous call) holds the
 * event loop long. Objects without any element set are left out. The
 * newest set per object is found through the (norad_id, epoch) key.
 */
export async function activeElementSetsPage(q: Queryable, p: ActiveElementSetsPage): Promise<ActiveElementSet[]> {
  if (!Number.isInteger(p.limit) || p.limit < 1 || p.limit > 1000) throw new StorageArgumentError('limit must be an integer in 1..1000');
  const where = [`c.status = 'active'`];
  const params: unknown[] = [];
  if (p.group !== undefined) {
    if (typeof p.group !== 'string' || p.group.length < 1 || p.group.length > 100) throw new StorageArgumentError('group must be 1..100 characters');
    where.push(`c.groups @> ARRAY[$${params.push(p.group)}::text]`);
  }
  if (p.noradIds !== undefined) {
    if (p.noradIds.length > 1000) throw new StorageArgumentError('at most 1000 ids per page');
    p.noradIds.forEach(checkNoradId);
    where.push(`c.norad_id = ANY($${params.push(p.noradIds)}::int[])`);
  }
  if (p.afterId !== undefined) {
    if (!Number.isInteger(p.afterId) || p.afterId < 0 || p.afterId > 999_999_999) throw new StorageArgumentError('afterId must be an integer in 0..999999999');
    where.push(`c.norad_id > $${params.push(p.afterId)}`);
  }
  const r = await q.query<Row & { name: string; intl_designator: string | null }>(
    `SELECT c.name, c.intl_designator, e.id, e.norad_id, e.epoch, e.source, e.format, e.omm, e.tle_line1, e.tle_line2, e.received_at
       FROM catalog_objects c
       CROSS JOIN LATERAL (SELECT ${COLS} FROM element_sets x WHERE x.norad_id = c.norad_id ORDER BY x.epoch DESC LIMIT 1) e
      WHERE ${where.join(' AND ')}
      ORDER BY c.norad_id
      LIMIT ${p.limit}`,
    params,
  );
  return r.rows.map((row) => ({ noradId: Number(row.norad_id), name: row.name, intlDesignator: row.intl_designator, elementSet: fromRow(row) }));
}
