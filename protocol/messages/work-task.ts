import { Type, type Static } from '@sinclair/typebox';
import { defineMessage } from '../message.js';
import { QUEUES } from '../names.js';

export const QueueNameSchema = Type.Union(QUEUES.map((q) => Type.Literal(q)));

/**
 * The envelope of every task on a work queue. `kind` selects the handler;
 * `payload` is validated by that handler's own message type. `id` doubles as
 * the JetStream `Nats-Msg-Id`, so a retried publish is de-duplicated.
 */
export const WorkTaskSchema = Type.Object(
  {
    v: Type.Literal(1),
    id: Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9._:\\-]+$' }),
    kind: Type.String({ minLength: 1, maxLength: 100, pattern: '^[a-z][a-z0-9._\\-]*$' }),
    queue: QueueNameSchema,
    createdAt: Type.String({ format: 'date-time' }),
    payload: Type.Unknown(),
  },
  { additionalProperties: false },
);
export type WorkTask = Static<typeof WorkTaskSchema>;

export const WorkTaskMessage = defineMessage({
  name: 'work.task',
  version: 1,
  description: 'A unit of work on one of the three priority queues. Delivered at least once; handlers are idempotent on `id`.',
  encoding: 'json',
  schema: WorkTaskSchema,
  subjects: '`<ns>.work.<queue>.v1` (JetStream streams `<NS>_WORK_<QUEUE>`, work-queue retention)',
  idempotencyKey: 'id',
});
