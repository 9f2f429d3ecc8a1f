/** Alerts (conjunctions, decays, data gaps…). The id is the natural key, so raising twice is a no-op. */
import type { Queryable } from './db.js';
import { StorageArgumentError } from './errors.js';

export type AlertSeverity = 'info' | 'warning' | 'critical';

export interface AlertInput {
  id: string;
  kind: string;
  severity: AlertSeverity;
  noradId?: number | null;
  message: string;
  payload?: Record<string, unknown>;
  raisedAt: Date;
}

export interface Alert extends Required<AlertInput> {
  acknowledgedAt: Date | null;
}

function check(a: AlertInput): void {
  if (typeof a.id !== 'string' || !/^[A-Za-z0-9._:\-]{1,300}$/.test(a.id)) throw new StorageArgumentError('alert id must be 1..300 of [A-Za-z0-9._:-]');
  if (typeof a.kind !== 'string' || a.kind.length < 1 || a.kind.length > 100) throw new StorageArgumentError('alert kind must be 1..100 characters');
  if (!['info', 'warning', 'critical'].includes(a.severity)) throw new StorageArgumentError('severity must be info, warning or critical');
  if (typeof a.message !== 'string' || a.message.length > 4000) throw new StorageArgumentError('message must be a string of at most 4000 characters');
  if (!(a.raisedAt instanceof Date) || Number.isNaN(a.raisedAt.getTime())) throw new StorageArgumentError('raisedAt must be a valid date');
}

/** True when the alert is new. */
export async function raiseAlert(q: Queryable, a: AlertInput): Promise<boolean> {
  check(a);
  const r = await q.query(
    `INSERT INTO alerts (id, kind, severity, norad_id, message, payload, raised_at)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7) ON CONFLICT (id) DO NOTHING`,
    [a.id, a.kind, a.severity, a.noradId ?? null, a.message, JSON.stringify(a.payload ?? {}), a.raisedAt],
  );
  return r.rowCount === 1;
}

export interface GroupAlertInput extends Omit<AlertInput, 'noradId' | 'message'> {
  /** Objects this raise adds to the group (merged into payload.noradIds, each once). */
  noradIds: readonly number[];
  /** The message, with `{count}` where the group's object count goes. */
  messageTemplate: string;
}

/**
 * One alert for a group of objects (e.g. the decays a stale catalog load
 * predicts): the first raise stores it, later raises of the same id merge
 * their objects into payload.noradIds (a set: a redelivered or retaken
 * object counts once) and rewrite the count in the message, in one
 * statement, so concurrent raisers from several hosts serialise on the row.
 * Returns the group's size after this raise and how many objects it added
 * (read against the row as of the statement's start: two raisers racing on
 * the same new objects may both count them; the stored set stays exact).
 */
export async function raiseGroupAlert(q: Queryable, a: GroupAlertInput): Promise<{ total: number; added: number; isNew: boolean; message: string; raisedAt: Date }> {
  check({ ...a, message: a.messageTemplate });
  for (const id of a.noradIds) if (!Number.isInteger(id) || id < 1 || id > 999_999_999) throw new StorageArgumentError('group alert members must be NORAD ids');
  const ids = [...new Set(a.noradIds)].sort((x, y) => x - y);
  const merged = `(SELECT coalesce(jsonb_agg(DISTINCT v ORDER BY v), '[]'::jsonb) FROM (
      SELECT jsonb_array_elements(coalesce(a.payload->'noradIds', '[]'::jsonb)) AS v
      UNION ALL SELECT jsonb_array_elements(EXCLUDED.payload->'noradIds')) u)`;
  const r = await q.query<{ total: number; before: number | null; message: string; raised_at: Date }>(
    `WITH prior AS (SELECT jsonb_array_length(coalesce(payload->'noradIds', '[]'::jsonb)) AS n FROM alerts WHERE id = $1)
     INSERT INTO alerts AS a (id, kind, severity, norad_id, message, payload, raised_at)
     VALUES ($1, $2, $3, NULL, replace($4, '{count}', $7::text), $5::jsonb, $6)
     ON CONFLICT (id) DO UPDATE SET
       payload = jsonb_set(a.payload, '{noradIds}', ${merged}),
       message = replace($4, '{count}', jsonb_array_length(${merged})::text)
     RETURNING jsonb_array_length(a.payload->'noradIds') AS total, (SELECT n FROM prior) AS before, a.message, a.raised_at`,
    [a.id, a.kind, a.severity, a.messageTemplate, JSON.stringify({ ...(a.payload ?? {}), noradIds: ids }), a.raisedAt, ids.length],
  );
  const row = r.rows[0]!;
  const total = Number(row.total);
  const before = row.before === null ? 0 : Number(row.before);
  return { total, added: Math.max(0, total - before), isNew: row.before === null, message: row.message, raisedAt: new Date(row.raised_at) };
}

/** Acknowledge once; the first acknowledgement time is kept. */
export async function acknowledgeAlert(q: Queryable, id: string, at: Date = new Date()): Promise<boolean> {
  const r = await q.query('UPDATE alerts SET acknowledged_at = $2 WHERE id = $1 AND acknowledged_at IS NULL', [id, at]);
  return r.rowCount === 1;
}

interface Row {
  id: string;
  kind: string;
  severity: AlertSeverity;
  norad_id: number | null;
  message: string;
  payload: Record<string, unknown>;
  raised_at: Date;
  acknowledged_at: Date | null;
}

export async function listAlerts(q: Queryable, f: { since?: Date; unacknowledgedOnly?: boolean; limit?: number } = {}): Promise<Alert[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (f.since) where.push(`raised_at >= $${params.push(f.since)}`);
  if (f.unacknowledgedOnly) where.push('acknowledged_at IS NULL');
  const r = await q.query<Row>(
    `SELECT id, kind, severity, norad_id, message, payload, raised_at, acknowledged_at FROM alerts
      ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY raised_at DESC, id LIMIT ${Math.min(Math.max(1, f.limit ?? 100), 10_000)}`,
    params,
  );
  return r.rows.map((x) => ({
    id: x.id, kind: x.kind, severity: x.severity, noradId: x.norad_id === null ? null : Number(x.norad_id),
    message: x.message, payload: x.payload, raisedAt: x.raised_at, acknowledgedAt: x.acknowledged_at,
  }));
}
