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
  /** Re-drives after a dead letter so far (the n of the `<id>#retry<n>` message id). */
  redrives: number;
  /** When the last re-drive reopened it. */
  reopenedAt: Date | null;
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
  redrives: number;
  reopened_at: Date | null;
}

const COLS = 'id, kind, item, priority, state, attempts, error, queued_at, l1_at, l2_at, l3_at, done_at, failed_at, updated_at, redrives, reopened_at';

function fromRow(r: Row): TaskRecord {
  return {
    id: r.id, kind: r.kind, item: r.item, priority: Number(r.priority), state: r.state, attempts: Number(r.attempts), error: r.error,
    queuedAt: r.queued_at, l1At: r.l1_at, l2At: r.l2_at, l3At: r.l3_at, doneAt: r.done_at, failedAt: r.failed_at, updatedAt: r.updated_at,
    redrives: Number(r.redrives ?? 0), reopenedAt: r.reopened_at ?? null,
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

/**
 * Fail a task because of a dead letter that was given up on at `deadLetterAt`:
 * as failTask, but never a task re-driven after that moment (a late or
 * replayed dead letter of an earlier run must not fail the new one).
 */
export async function failTaskForDeadLetter(q: Queryable, id: string, error: string, deadLetterAt: Date, at: Date = new Date()): Promise<boolean> {
  checkId(id);
  const r = await q.query(
    `UPDATE tasks SET state = 'failed', error = $2, failed_at = coalesce(failed_at, $3), updated_at = $3
      WHERE id = $1 AND state NOT IN ('done', 'failed') AND (reopened_at IS NULL OR reopened_at <= $4)`,
    [id, String(error).slice(0, 4000), at, deadLetterAt],
  );
  return r.rowCount === 1;
}

/** The row, locked until the end of the transaction `q` belongs to (re-drives). */
export async function lockTask(q: Queryable, id: string): Promise<TaskRecord | null> {
  checkId(id);
  const r = await q.query<Row>(`SELECT ${COLS} FROM tasks WHERE id = $1 FOR UPDATE`, [id]);
  return r.rows[0] ? fromRow(r.rows[0]) : null;
}

/**
 * A failed task re-driven: back to the furthest stage it had reached
 * (queued, l1, l2 or l3), error and failed_at cleared, `redrives` set and
 * reopened_at now. Only from failed; true when it changed.
 */
export async function reopenTask(q: Queryable, id: string, redrives: number, at: Date = new Date()): Promise<boolean> {
  checkId(id);
  if (!Number.isInteger(redrives) || redrives < 0) throw new StorageArgumentError('redrives must be a non-negative integer');
  const r = await q.query(
    `UPDATE tasks SET state = CASE WHEN l3_at IS NOT NULL THEN 'l3' WHEN l2_at IS NOT NULL THEN 'l2' WHEN l1_at IS NOT NULL THEN 'l1' ELSE 'queued' END,
        error = NULL, failed_at = NULL, redrives = $2, reopened_at = $3, updated_at = $3
      WHERE id = $1 AND state = 'failed'`,
    [id, redrives, at],
  );
  return r.rowCount === 1;
}

/**
 * Write the task's current view to the hot cache (after a change made
 * outside recordTaskStage); null when there is no such task. Served for
 * `ttlMs`, or OPEN_VIEW_TTL_MS unless done (see there).
 */
export async function refreshTaskView(q: Queryable, cache: TaskViewCache, id: string, ttlMs?: number): Promise<TaskView | null> {
  const row = await getTask(q, id);
  if (!row) return null;
  const view = taskView(row);
  await setViewBriefly(cache, view, ttlMs);
  return view;
}

/**
 * Tile scenes whose tiles are all stored while their task still sits at l1
 * or l2 and has not changed for `idleMs`: the finalize was never enqueued
 * (the host that stored the last tile died first) or was lost. At most `limit`.
 */
export async function scenesAwaitingFinalize(q: Queryable, idleMs: number, limit = 100): Promise<Array<{ taskId: string; collection: string; itemId: string; fingerprint: string; queue: 'high' | 'weather' }>> {
  const r = await q.query<{ task_id: string; collection_id: string; item_id: string; fingerprint: string; priority: number }>(
    `SELECT s.task_id, s.collection_id, s.item_id, s.fingerprint, t.priority
       FROM tasks t JOIN tile_scenes s ON s.task_id = t.id
      WHERE t.state IN ('l1', 'l2') AND t.updated_at < now() - make_interval(secs => $1::double precision / 1000)
        AND (SELECT count(*) FROM tile_results r WHERE r.task_id = s.task_id AND r.fingerprint = s.fingerprint) >= s.tile_count
      ORDER BY t.updated_at LIMIT ${Math.min(Math.max(1, limit), 10_000)}`,
    [idleMs],
  );
  // The scene's queue: high for a priority (0) scene, weather otherwise (as pipeline/tasks.ts workQueue).
  return r.rows.map((x) => ({ taskId: x.task_id, collection: x.collection_id, itemId: x.item_id, fingerprint: x.fingerprint, queue: (Number(x.priority) === 0 ? 'high' : 'weather') as 'high' | 'weather' }));
}

/** Bump an open task's updated_at (the reconciler's mark: it acted, so the scene's idle time starts again). */
export async function touchTask(q: Queryable, id: string, at: Date = new Date()): Promise<boolean> {
  checkId(id);
  const r = await q.query(`UPDATE tasks SET updated_at = $2 WHERE id = $1 AND state NOT IN ('done', 'failed')`, [id, at]);
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

// ---- stage transitions and the task view (the task state API) -------------

/** A stage a task can be moved to. */
export type TaskTransition = 'l1' | 'l2' | 'l3' | 'done' | 'failed';

/**
 * The one function stage changes go through: move `id` forward to `to`
 * (failed needs `error`). Replays and backward moves change nothing. Returns
 * the row as it is afterwards, or null when no such task exists.
 */
export async function transitionTask(q: Queryable, id: string, to: TaskTransition, opts: { at?: Date; error?: string } = {}): Promise<TaskRecord | null> {
  const at = opts.at ?? new Date();
  if (to === 'failed') {
    if (typeof opts.error !== 'string' || opts.error.length === 0) throw new StorageArgumentError('a failed transition needs the error');
    await failTask(q, id, opts.error, at);
  } else await advanceTask(q, id, to, at);
  return getTask(q, id);
}

/**
 * A task as the API and the hot cache show it. `state`, `attempts`, `error`
 * and `updatedAt` keep the names and forms of hot-state's TaskStatus, so
 * either shape can sit under the same cache key.
 */
export interface TaskView {
  [key: string]: unknown;
  id: string;
  kind: string;
  item: string | null;
  priority: number;
  state: TaskState;
  attempts: number;
  error: string | null;
  queuedAt: string;
  l1At: string | null;
  l2At: string | null;
  l3At: string | null;
  doneAt: string | null;
  failedAt: string | null;
  updatedAt: string;
  redrives: number;
}

const iso = (d: Date | null): string | null => (d ? new Date(d).toISOString() : null);

export function taskView(t: TaskRecord): TaskView {
  return {
    id: t.id, kind: t.kind, item: t.item, priority: t.priority, state: t.state, attempts: t.attempts, error: t.error,
    queuedAt: iso(t.queuedAt)!, l1At: iso(t.l1At), l2At: iso(t.l2At), l3At: iso(t.l3At), doneAt: iso(t.doneAt), failedAt: iso(t.failedAt), updatedAt: iso(t.updatedAt)!,
    redrives: t.redrives,
  };
}

/** True for a cached value that is a whole TaskView (the refill hook stores the shorter TaskStatus). */
export function isTaskView(v: unknown): v is TaskView {
  return typeof v === 'object' && v !== null && typeof (v as TaskView).queuedAt === 'string' && typeof (v as TaskView).kind === 'string';
}

/** The cache part of the task transitions: where a view is written and read. */
export interface TaskViewCache {
  setTaskStatus(taskId: string, status: Record<string, unknown>, ttlMs?: number): Promise<void>;
  getTaskStatus<T extends Record<string, unknown>>(taskId: string): Promise<T | null>;
}

/**
 * transitionTask, then the hot cache gets the new view (database first: the
 * cache is a copy, and a cache outage only costs a database read later).
 */
export async function recordTaskStage(q: Queryable, cache: TaskViewCache, id: string, to: TaskTransition, opts: { at?: Date; error?: string } = {}): Promise<TaskView | null> {
  const row = await transitionTask(q, id, to, opts);
  if (!row) return null;
  const view = taskView(row);
  await cache.setTaskStatus(id, view);
  return view;
}

/** A task's view: the hot cache when it holds a whole view, otherwise the database (and the view goes back into the cache). */
export async function readTaskView(cache: TaskViewCache, q: Queryable, id: string): Promise<TaskView | null> {
  checkId(id);
  const hit = await cache.getTaskStatus<Record<string, unknown>>(id);
  if (isTaskView(hit)) return hit;
  const row = await getTask(q, id);
  if (!row) return null;
  const view = taskView(row);
  await setViewBriefly(cache, view);
  return view;
}

/**
 * How long a view written outside recordTaskStage (a reader's fill, a dead
 * letter, a re-drive) may be served, unless it is done: cache writes are not
 * ordered with the database's, so such a copy can land just after the newer
 * one of the host moving the task on (a failed task can be re-driven too).
 */
export const OPEN_VIEW_TTL_MS = 5000;

async function setViewBriefly(cache: TaskViewCache, view: TaskView, ttlMs?: number): Promise<void> {
  if (ttlMs !== undefined) await cache.setTaskStatus(view.id, view, ttlMs);
  else if (view.state === 'done') await cache.setTaskStatus(view.id, view);
  else await cache.setTaskStatus(view.id, view, OPEN_VIEW_TTL_MS);
}

/**
 * createTask for many tasks in one statement; returns, in input order,
 * whether each was new and its state now (a batch of registrations).
 */
export async function createTasks(q: Queryable, list: readonly TaskInput[]): Promise<Array<{ created: boolean; state: TaskState }>> {
  if (list.length === 0) return [];
  for (const t of list) {
    checkId(t.id);
    if (typeof t.kind !== 'string' || t.kind.length < 1 || t.kind.length > 100) throw new StorageArgumentError('task kind must be 1..100 characters');
    const p = t.priority ?? 0;
    if (!Number.isInteger(p) || p < -32768 || p > 32767) throw new StorageArgumentError('priority must be a 16-bit integer');
  }
  const r = await q.query<{ id: string }>(
    `INSERT INTO tasks (id, kind, item, priority)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[])
     ON CONFLICT (id) DO NOTHING RETURNING id`,
    [list.map((t) => t.id), list.map((t) => t.kind), list.map((t) => t.item ?? null), list.map((t) => t.priority ?? 0)],
  );
  const fresh = new Set(r.rows.map((row) => row.id));
  const out = list.map((t) => ({ created: fresh.has(t.id), state: 'queued' as TaskState }));
  // A duplicate id in one batch: only its first copy counts as created.
  const claimed = new Set<string>();
  list.forEach((t, n) => {
    if (out[n]!.created && claimed.has(t.id)) out[n]!.created = false;
    claimed.add(t.id);
  });
  const old = [...new Set(list.filter((_, n) => !out[n]!.created).map((t) => t.id))];
  if (old.length > 0) {
    const s = await q.query<{ id: string; state: TaskState }>('SELECT id, state FROM tasks WHERE id = ANY($1::text[])', [old]);
    const states = new Map(s.rows.map((row) => [row.id, row.state]));
    list.forEach((t, n) => {
      if (!out[n]!.created) out[n]!.state = states.get(t.id) ?? 'queued';
    });
  }
  return out;
}
