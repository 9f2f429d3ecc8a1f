/**
 * Dead letters: tasks given up on, with the reason and the original bytes.
 * Keyed by queue + task id (or a hash of the bytes when they never decoded),
 * so the MaxDeliver advisory arriving twice records one row.
 */
import { createHash } from 'node:crypto';
import type { DeadLetter } from '../../protocol/messages/dead-letter.js';
import type { Queryable } from './db.js';
import { StorageArgumentError } from './errors.js';

export interface DeadLetterRecord extends DeadLetter {
  dedupeKey: string;
  recordedAt: Date;
}

export function deadLetterKey(d: Pick<DeadLetter, 'queue' | 'taskId' | 'original'>): string {
  return d.taskId ? `${d.queue}:${d.taskId}` : `${d.queue}:sha256:${createHash('sha256').update(d.original, 'utf8').digest('hex')}`;
}

/** True when new. */
export async function recordDeadLetter(q: Queryable, d: DeadLetter): Promise<boolean> {
  const failedAt = new Date(d.failedAt);
  if (Number.isNaN(failedAt.getTime())) throw new StorageArgumentError('failedAt must be a date-time');
  if (!/^SW_ERR_[A-Z_]+$/.test(d.code)) throw new StorageArgumentError('code must be an SW_ERR_ code');
  const original = Buffer.from(d.original, 'base64');
  const r = await q.query(
    `INSERT INTO dead_letters (dedupe_key, queue, task_id, kind, code, reason, deliveries, failed_at, original)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (dedupe_key) DO NOTHING`,
    [deadLetterKey(d), d.queue, d.taskId, d.kind, d.code, d.reason.slice(0, 4000), d.deliveries, failedAt, original],
  );
  return r.rowCount === 1;
}

interface Row {
  dedupe_key: string;
  queue: DeadLetter['queue'];
  task_id: string | null;
  kind: string | null;
  code: string;
  reason: string;
  deliveries: number;
  failed_at: Date;
  original: Uint8Array;
  recorded_at: Date;
}

export async function listDeadLetters(q: Queryable, f: { queue?: DeadLetter['queue']; limit?: number } = {}): Promise<DeadLetterRecord[]> {
  const params: unknown[] = [];
  const where = f.queue ? `WHERE queue = $${params.push(f.queue)}` : '';
  const r = await q.query<Row>(
    `SELECT dedupe_key, queue, task_id, kind, code, reason, deliveries, failed_at, original, recorded_at FROM dead_letters
      ${where} ORDER BY failed_at DESC, dedupe_key LIMIT ${Math.min(Math.max(1, f.limit ?? 100), 10_000)}`,
    params,
  );
  return r.rows.map((x) => ({
    v: 1 as const, dedupeKey: x.dedupe_key, queue: x.queue, taskId: x.task_id, kind: x.kind, code: x.code, reason: x.reason,
    deliveries: Number(x.deliveries), failedAt: x.failed_at.toISOString(), original: Buffer.from(x.original).toString('base64'), recordedAt: x.recorded_at,
  }));
}

export async function countDeadLetters(q: Queryable): Promise<number> {
  const r = await q.query<{ n: string | number }>('SELECT count(*) AS n FROM dead_letters');
  return Number(r.rows[0]?.n ?? 0);
}
