/**
 * The task state API: GET /tasks/{id} → the task's state (queued, L1, L2,
 * L3, done or failed), attempts, error and a timestamp per stage. Read
 * through the hot cache with the database as fallback (storage/tasks.ts
 * readTaskView); stage changes write both through recordTaskStage.
 *
 * POST /tasks/{id}/retry (Bearer key) re-drives a failed task: its dead
 * letters go back on their queues with a new delivery budget
 * (runtime/dead-letter-relay.ts redriveTask) → 202 + Location (`pending`
 * lists re-drives the bus did not take yet: recorded, and enqueued by the
 * dead-letter relay when it does); 404 for an unknown task, 409 for one that
 * is not failed (or whose dead letter is not recorded yet), 503 when the
 * gateway has no bus.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { QUEUE_PRIORITY, QUEUES } from '../../protocol/names.js';
import type { Transport } from '../../protocol/transport.js';
import { redriveTask } from '../runtime/dead-letter-relay.js';
import type { Storage } from '../storage/index.js';
import { readTaskView, type TaskView } from '../storage/tasks.js';
import { HttpProblem, notFound } from './errors.js';

export interface TasksOptions {
  storage(): Promise<Storage>;
  /** The bus re-drives are enqueued on; absent: POST /tasks/{id}/retry answers 503. */
  transport?: Transport | null;
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
    redrives: v.redrives ?? 0,
    timestamps: { queued: v.queuedAt, L1: v.l1At, L2: v.l2At, L3: v.l3At, done: v.doneAt, failed: v.failedAt },
    updatedAt: v.updatedAt,
  };
}

const Instant = Type.String({ format: 'date-time' });
const NullableInstant = Type.Union([Instant, Type.Null()]);
/** taskResponse's shape, for the OpenAPI document (openapi.ts documentedResponse). */
const TaskDoc = Type.Object(
  {
    id: Type.String(),
    kind: Type.String(),
    collection: Type.Union([Type.String(), Type.Null()]),
    item: Type.Union([Type.String(), Type.Null()]),
    priority: Type.Union([...QUEUES.map((q) => Type.Literal(q)), Type.Null()], { description: 'The queue of the task\'s priority' }),
    state: Type.Union(Object.values(API_STATE).map((v) => Type.Literal(v))),
    attempts: Type.Integer({ minimum: 0 }),
    error: Type.Union([Type.String(), Type.Null()]),
    redrives: Type.Integer({ minimum: 0 }),
    timestamps: Type.Object({ queued: Instant, L1: NullableInstant, L2: NullableInstant, L3: NullableInstant, done: NullableInstant, failed: NullableInstant }, { additionalProperties: false }),
    updatedAt: Instant,
  },
  { additionalProperties: false },
);
const RetriedDoc = Type.Object(
  {
    ...Type.Partial(Type.Omit(TaskDoc, ['id'])).properties,
    id: Type.String(),
    redriven: Type.Array(Type.String(), { description: 'Message ids of the dead letters put back on their queues' }),
    pending: Type.Array(Type.String(), { description: 'Re-drives recorded but not yet taken by the bus (the dead-letter relay enqueues them)' }),
  },
  { additionalProperties: false },
);

export const tasksPlugin: FastifyPluginAsync<TasksOptions> = async (app, o) => {
  const params = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9._:\\-]+$' }) });
  app.get<{ Params: { id: string } }>(
    '/tasks/:id',
    { schema: { operationId: 'getTask', summary: 'A processing task\'s state, attempts, error and stage timestamps', params, documentedResponse: { 200: TaskDoc } } },
    async (req, reply) => {
    const storage = await o.storage();
    const v = await readTaskView(storage.cache, storage.db, req.params.id);
    if (!v) throw notFound(`task ${req.params.id} does not exist`);
    return reply.header('cache-control', 'no-store').send(taskResponse(v));
    },
  );

  app.post<{ Params: { id: string } }>(
    '/tasks/:id/retry',
    {
      // Before the body is read: a client without the key costs nothing.
      onRequest: app.requireApiKey,
      schema: {
        operationId: 'retryTask',
        summary: 'Re-drive a failed task',
        params,
        description: 'Re-drive a failed (dead-lettered) task with a new delivery budget. Needs the API key.',
        documentedResponse: {
          202: { description: 'Re-driven; Location is the task', headers: { location: { type: 'string', description: 'The task, /tasks/{id}' } }, content: { 'application/json': { schema: RetriedDoc } } },
          409: 'The task is not failed, or its dead letter is not recorded yet',
        },
      },
    },
    async (req, reply) => {
      if (!o.transport) throw new HttpProblem(503, 'SW_ERR_UNAVAILABLE', 'no task queue on this gateway');
      const storage = await o.storage();
      const id = req.params.id;
      const r = await redriveTask(storage, o.transport, id);
      switch (r.outcome) {
        case 'not-found':
          throw notFound(`task ${id} does not exist`);
        case 'not-failed':
          throw new HttpProblem(409, 'SW_ERR_CONFLICT', `task ${id} is ${API_STATE[r.state]}, not failed: only a failed task can be retried`);
        case 'no-dead-letter':
          throw new HttpProblem(409, 'SW_ERR_CONFLICT', `task ${id} failed, but no dead letter to re-drive is recorded for it (yet): try again shortly`);
        case 'redriven': {
          const location = `/tasks/${encodeURIComponent(id)}`;
          const view = r.view ?? (await readTaskView(storage.cache, storage.db, id));
          return reply
            .code(202)
            .header('location', location)
            .header('cache-control', 'no-store')
            .send({ ...(view ? taskResponse(view) : { id }), redriven: r.msgIds, pending: r.pending });
        }
      }
    },
  );
};
