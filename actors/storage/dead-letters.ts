/**
 * Dead letters: tasks given up on, with the reason, the observed delivery
 * count and the original bytes. Keyed by queue + task id (or a hash of the
 * bytes when they never decoded), plus the message id for a re-driven task
 * (`<id>#retry<n>`), so the same dead letter arriving twice records one row
 * while each re-drive that dies again records its own.
 *
 * `owner_task_id` is the task row a dead letter fails (the task itself, or
 * the scene a tile belongs to); `redriven_at` marks one that was re-enqueued
 * (POST /tasks/{id}/retry, or the relay's automatic re-drive).
 */
import { createHash } from 'node:crypto';
import type { DeadLetter } from '../../protocol/messages/dead-letter.js';
import type { Queryable } from './db.js';
import { StorageArgumentError } from './errors.js';

export interface DeadLetterRecord extends DeadLetter {
  dedupeKey: string;
  recordedAt: Date;
  ownerTaskId: string | null;
  redrivenAt: Date | null;
  redriveMsgId: string | null;
}

export function deadLetterKey(d: Pick<DeadLetter, 'queue' | 'taskId' | 'original' | 'msgId'>): string {
  if (!d.taskId) return `${d.queue}:sha256:${createHash('sha256').update(d.original, 'utf8').digest('hex')}`;
  // A task's first budget keeps the old key (msgId = task id); a re-drive has its own.
  return d.msgId && d.msgId !== d.taskId ? `${d.queue}:${d.taskId}:${d.msgId}` : `${d.queue}:${d.taskId}`;
}

/** True when new. `ownerTaskId`: the task row this dead letter fails (default: its own task id). */
export async function recordDeadLetter(q: Queryable, d: DeadLetter, ownerTaskId: string | null = d.taskId): Promise<boolean> {
  const failedAt = new Date(d.failedAt);
  if (Number.isNaN(failedAt.getTime())) throw new StorageArgumentError('failedAt must be a date-time');
  if (!/^SW_ERR_[A-Z_]+$/.test(d.code)) throw new StorageArgumentError('code must be an SW_ERR_ code');
  const original = Buffer.from(d.original, 'base64');
  const r = await q.query(
    `INSERT INTO dead_letters (dedupe_key, queue, task_id, kind, code, reason, deliveries, failed_at, original, msg_id, owner_task_id, deliveries_from)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (dedupe_key) DO NOTHING`,
    [
      deadLetterKey(d), d.queue, d.taskId, d.kind, d.code, d.reason.slice(0, 4000), d.deliveries, failedAt, original,
      d.msgId ?? d.taskId, ownerTaskId, d.deliveriesFrom ?? null,
    ],
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
  msg_id: string | null;
  owner_task_id: string | null;
  deliveries_from: 'delivery' | 'advisory' | null;
  redriven_at: Date | null;
  redrive_msg_id: string | null;
}

const COLS = 'dedupe_key, queue, task_id, kind, code, reason, deliveries, failed_at, original, recorded_at, msg_id, owner_task_id, deliveries_from, redriven_at, redrive_msg_id';

function fromRow(x: Row): DeadLetterRecord {
  return {
    v: 1 as const, dedupeKey: x.dedupe_key, queue: x.queue, taskId: x.task_id, kind: x.kind, code: x.code, reason: x.reason,
    deliveries: Number(x.deliveries), failedAt: x.failed_at.toISOString(), original: Buffer.from(x.original).toString('base64'), recordedAt: x.recorded_at,
    ...(x.msg_id ? { msgId: x.msg_id } : {}),
    ...(x.deliveries_from ? { deliveriesFrom: x.deliveries_from } : {}),
    ownerTaskId: x.owner_task_id, redrivenAt: x.redriven_at, redriveMsgId: x.redrive_msg_id,
  };
}

export async function listDeadLetters(q: Queryable, f: { queue?: DeadLetter['queue']; limit?: number } = {}): Promise<DeadLetterRecord[]> {
  const params: unknown[] = [];
  const where = f.queue ? `WHERE queue = $${params.push(f.queue)}` : '';
  const r = await q.query<Row>(
    `SELECT ${COLS} FROM dead_letters
      ${where} ORDER BY failed_at DESC, dedupe_key LIMIT ${Math.min(Math.max(1, f.limit ?? 100), 10_000)}`,
    params,
  );
  return r.rows.map(fromRow);
}

/** The dead letters that failed `ownerTaskId` and were not re-driven yet, oldest first (at most 10 000). */
export async function openDeadLettersOf(q: Queryable, ownerTaskId: string): Promise<DeadLetterRecord[]> {
  const r = await q.query<Row>(
    `SELECT ${COLS} FROM dead_letters WHERE owner_task_id = $1 AND redriven_at IS NULL ORDER BY failed_at, dedupe_key LIMIT 10000`,
    [ownerTaskId],
  );
  return r.rows.map(fromRow);
}

/** Mark a dead letter re-driven under `msgId` (the enqueue not confirmed yet); false when it already was. */
export async function markDeadLetterRedriven(q: Queryable, dedupeKey: string, msgId: string, at: Date = new Date()): Promise<boolean> {
  const r = await q.query(`UPDATE dead_letters SET redriven_at = $3, redrive_msg_id = $2 WHERE dedupe_key = $1 AND redriven_at IS NULL`, [dedupeKey, msgId, at]);
  return r.rowCount === 1;
}

/** The bus confirmed the re-drive's enqueue. */
export async function confirmRedriveEnqueued(q: Queryable, dedupeKey: string, at: Date = new Date()): Promise<void> {
  await q.query(`UPDATE dead_letters SET redrive_enqueued_at = coalesce(redrive_enqueued_at, $2) WHERE dedupe_key = $1`, [dedupeKey, at]);
}

/** Re-drives committed at least `olderThanMs` ago whose enqueue was never confirmed (the process died, the bus refused), oldest first. */
export async function unconfirmedRedrives(q: Queryable, olderThanMs: number, limit = 100): Promise<DeadLetterRecord[]> {
  const r = await q.query<Row>(
    `SELECT ${COLS} FROM dead_letters
      WHERE redriven_at IS NOT NULL AND redrive_enqueued_at IS NULL AND redriven_at < now() - make_interval(secs => $1::double precision / 1000)
      ORDER BY redriven_at LIMIT ${Math.min(Math.max(1, limit), 10_000)}`,
    [olderThanMs],
  );
  return r.rows.map(fromRow);
}

/** Whether the dead letter with this key was re-driven already (false also when it is not recorded). */
export async function isDeadLetterRedriven(q: Queryable, dedupeKey: string): Promise<boolean> {
  const r = await q.query<{ redriven: boolean }>('SELECT redriven_at IS NOT NULL AS redriven FROM dead_letters WHERE dedupe_key = $1', [dedupeKey]);
  return r.rows[0]?.redriven === true;
}

export async function countDeadLetters(q: Queryable): Promise<number> {
  const r = await q.query<{ n: string | number }>('SELECT count(*) AS n FROM dead_letters');
  return Number(r.rows[0]?.n ?? 0);
}
