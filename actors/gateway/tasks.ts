/**
 * The task state API: GET /tasks/{id} → the task's state (queued, L1, L2,
 * L3, done or failed), attempts, error and a timestamp per stage. Read
 * through the hot cache with the database as fallback (storage/tasks.ts
 * readTaskView); stage changes write both through recordTaskStage.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { QUEUE_PRIORITY, QUEUES } from '../../protocol/names.js';
import type { Storage } from '../storage/index.js';
import { readTaskView, type TaskView } from '../storage/tasks.js';
import { notFound } from './errors.js';

export interface TasksOptions {
  storage(): Promise<Storage>;
}

const API_STATE = { queued: 'queued', l1: 'L1', l2: 'L2', l3: 'L3', done: 'done', failed: 'failed' } as const;

/** The API form of a task: stage names as the issue spells them, the item split into collection and id. */
export function taskResponse(v: TaskView): Record<string, unknown> {
  const slash = v.item?.indexOf('/') ?? -1;
  const queue = QUEUES.find((q) => QUEUE_PRIORITY[q] === v.priority) ?? null;
  return {
    id: v.id,
    kind: v.kind,
    collection: v.item && slash > 0 ? v.item.slice(0, slash) : null,
    item: v.item && slash > 0 ? v.item.slice(slash + 1) : v.item,
    priority: queue,
    state: API_STATE[v.state],
    attempts: v.attempts,
    error: v.error,
    timestamps: { queued: v.queuedAt, L1: v.l1At, L2: v.l2At, L3: v.l3At, done: v.doneAt, failed: v.failedAt },
    updatedAt: v.updatedAt,
  };
}

export const tasksPlugin: FastifyPluginAsync<TasksOptions> = async (app, o) => {
  const params = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9._:\\-]+$' }) });
  app.get<{ Params: { id: string } }>('/tasks/:id', { schema: { params } }, async (req, reply) => {
    const storage = await o.storage();
    const v = await readTaskView(storage.cache, storage.db, req.params.id);
    if (!v) throw notFound(`task ${req.params.id} does not exist`);
    return reply.header('cache-control', 'no-store').send(taskResponse(v));
  });
};
