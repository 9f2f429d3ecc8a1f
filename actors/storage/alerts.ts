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
