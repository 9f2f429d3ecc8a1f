/**
 * Task records: one row per task id with a timestamp per stage. Stages only
 * move forward (queued → l1 → l2 → l3 → done; failed from any open stage), and
 * a stage's timestamp is set once, so replaying a transition is a no-op.
 */
import type { Queryable } from './db.js';
import { StorageArgumentError } from './errors.js';

export type TaskState = 'queued' | 'l1' | 'l2' | 'l3' | 'done' | 'failed';
export const TASK_STATES: readonly TaskState[] = ['queued', 'l1', 'l2', 'l3', 'done', 'failed'];
const RANK: Record<TaskState, number> = { queued: 0, l1: 1, l2: 2, l3: 3, done: 4, failed: 4 };

export interface TaskRecord {
  id: string;
  kind: string;
  item: string | null;
  priority: number;
  state: TaskState;
  attempts: number;
  error: string | null;
  queuedAt: Date;
  l1At: Date | null;
  l2At: Date | null;
  l3At: Date | null;
  doneAt: Date | null;
  failedAt: Date | null;
  updatedAt: Date;
}

export interface TaskInput {
  id: string;
  kind: string;
  item?: string | null;
  priority?: number;
}

const ID = /^[A-Za-z0-9._:\-]{1,200}$/;

function checkId(id: unknown): string {
  if (typeof id !== 'string' || !ID.test(id)) throw new StorageArgumentError('task id must be 1..200 of [A-Za-z0-9._:-]');
  return id;
}

interface Row {
  id: string;
  kind: string;
  item: string | null;
  priority: number;
  state: TaskState;
  attempts: number;
  error: string | null;
  queued_at: Date;
  l1_at: Date | null;
  l2_at: Date | null;
  l3_at: Date | null;
  done_at: Date | null;
  failed_at: Date | null;
  updated_at: Date;
}

const COLS = 'id, kind, item, priority, state, attempts, error, queued_at, l1_at, l2_at, l3_at, done_at, failed_at, updated_at';

function fromRow(r: Row): TaskRecord {
  return {
    id: r.id, kind: r.kind, item: r.item, priority: Number(r.priority), state: r.state, attempts: Number(r.attempts), error: r.error,
    queuedAt: r.queued_at, l1At: r.l1_at, l2At: r.l2_at, l3At: r.l3_at, doneAt: r.done_at, failedAt: r.failed_at, updatedAt: r.updated_at,
  };
}

/** Record a queued task; true when new (a republished task is a no-op). */
export async function createTask(q: Queryable, t: TaskInput): Promise<boolean> {
  checkId(t.id);
  if (typeof t.kind !== 'string' || t.kind.length < 1 || t.kind.length > 100) throw new StorageArgumentError('task kind must be 1..100 characters');
  const priority = t.priority ?? 0;
  if (!Number.isInteger(priority) || priority < -32768 || priority > 32767) throw new StorageArgumentError('priority must be a 16-bit integer');
  const r = await q.query(
    `INSERT INTO tasks (id, kind, item, priority) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING`,
    [t.id, t.kind, t.item ?? null, priority],
  );
  return r.rowCount === 1;
}

/**
 * Move a task forward to `state` (l1, l2, l3 or done). Stages it skipped stay
 * null. Returns true when the row changed; false for a replay, a backward move
 * or a finished task.
 */
export async function advanceTask(q: Queryable, id: string, state: 'l1' | 'l2' | 'l3' | 'done', at: Date = new Date()): Promise<boolean> {
  checkId(id);
  if (!['l1', 'l2', 'l3', 'done'].includes(state)) throw new StorageArgumentError(`cannot advance to ${String(state)}`);
  const lower = TASK_STATES.filter((s) => s !== 'failed' && RANK[s] < RANK[state]);
  const col = `${state}_at`;
  const r = await q.query(
    `UPDATE tasks SET state = $2, ${col} = coalesce(${col}, $3), updated_at = $3
      WHERE id = $1 AND state = ANY($4::text[])`,
    [id, state, at, lower],
  );
  return r.rowCount === 1;
}

/** Mark a task failed with its error, unless it already finished. */
export async function failTask(q: Queryable, id: string, error: string, at: Date = new Date()): Promise<boolean> {
  checkId(id);
  const r = await q.query(
    `UPDATE tasks SET state = 'failed', error = $2, failed_at = coalesce(failed_at, $3), updated_at = $3
      WHERE id = $1 AND state NOT IN ('done', 'failed')`,
    [id, String(error).slice(0, 4000), at],
  );
  return r.rowCount === 1;
}

/**
 * Note the delivery count (JetStream's) and the last error. `greatest` keeps
 * it idempotent: a replayed or out-of-order report never lowers it.
 */
export async function recordAttempt(q: Queryable, id: string, deliveries: number, error?: string | null): Promise<boolean> {
  checkId(id);
  if (!Number.isInteger(deliveries) || deliveries < 0) throw new StorageArgumentError('deliveries must be a non-negative integer');
  const r = await q.query(
    `UPDATE tasks SET attempts = greatest(attempts, $2), error = coalesce($3, error), updated_at = now()
      WHERE id = $1 AND (attempts < $2 OR ($3::text IS NOT NULL AND error IS DISTINCT FROM $3::text))`,
    [id, deliveries, error === undefined || error === null ? null : String(error).slice(0, 4000)],
  );
  return r.rowCount === 1;
}

export async function getTask(q: Queryable, id: string): Promise<TaskRecord | null> {
  checkId(id);
  const r = await q.query<Row>(`SELECT ${COLS} FROM tasks WHERE id = $1`, [id]);
  return r.rows[0] ? fromRow(r.rows[0]) : null;
}

/** Tasks not yet done or failed, oldest update first (served by the partial index). */
export async function listOpenTasks(q: Queryable, limit = 1000): Promise<TaskRecord[]> {
  const r = await q.query<Row>(
    `SELECT ${COLS} FROM tasks WHERE state NOT IN ('done', 'failed') ORDER BY updated_at LIMIT ${Math.min(Math.max(1, limit), 100_000)}`,
  );
  return r.rows.map(fromRow);
}

export async function countTasksByState(q: Queryable): Promise<Record<TaskState, number>> {
  const r = await q.query<{ state: TaskState; n: string | number }>('SELECT state, count(*) AS n FROM tasks GROUP BY state');
  const out = Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as Record<TaskState, number>;
  for (const row of r.rows) out[row.state] = Number(row.n);
  return out;
}
