/**
 * PostgreSQL-backed reads and refill for the hot-state cache. A task status
 * read tries the cache, then the tasks table (and puts the answer back); the
 * refill hook reloads open tasks after Redis returns empty.
 */
import type { CacheValue, HotCache } from './cache.js';
import type { Queryable } from './db.js';
import { getTask, listOpenTasks, type TaskRecord } from './tasks.js';

export interface TaskStatus extends CacheValue {
  id: string;
  state: TaskRecord['state'];
  attempts: number;
  error: string | null;
  updatedAt: string;
}

export function taskStatusOf(t: TaskRecord): TaskStatus {
  return { id: t.id, state: t.state, attempts: t.attempts, error: t.error, updatedAt: t.updatedAt.toISOString() };
}

/** Cache first, then PostgreSQL. A cache outage costs latency, never an error. */
export async function readTaskStatus(cache: HotCache, db: Queryable, id: string): Promise<TaskStatus | null> {
  const hit = await cache.getTaskStatus<TaskStatus>(id);
  if (hit) return hit;
  const row = await getTask(db, id);
  if (!row) return null;
  const status = taskStatusOf(row);
  await cache.setTaskStatus(id, status);
  return status;
}

/** A refill hook: reload the status of open tasks (up to `limit`) in pipelined batches. */
export function taskStatusRefill(db: Queryable, limit = 100_000): (cache: HotCache) => Promise<void> {
  return async (cache) => {
    const open = await listOpenTasks(db, limit);
    for (let i = 0; i < open.length; i += 500) {
      await cache.setTaskStatuses(open.slice(i, i + 500).map((t) => [t.id, taskStatusOf(t)] as const));
    }
  };
}
