import { Type, type Static } from '@sinclair/typebox';
import { defineMessage } from '../message.js';
import { QueueNameSchema } from './work-task.js';

/**
 * A task that will not be retried: it failed MaxDeliver times, or it could
 * not be decoded at all. The original bytes travel base64-encoded so an
 * operator can inspect and replay it.
 */
export const DeadLetterSchema = Type.Object(
  {
    v: Type.Literal(1),
    queue: QueueNameSchema,
    taskId: Type.Union([Type.String(), Type.Null()]),
    kind: Type.Union([Type.String(), Type.Null()]),
    code: Type.String({ pattern: '^SW_ERR_[A-Z_]+$' }),
    reason: Type.String({ maxLength: 4000 }),
    deliveries: Type.Integer({ minimum: 0 }),
    failedAt: Type.String({ format: 'date-time' }),
    original: Type.String({ contentEncoding: 'base64' }),
    /**
     * The work message id (Nats-Msg-Id) it was delivered under: the task id,
     * or `<id>#retry<n>` / `<id>#auto` for a re-driven task. Absent in
     * records written before re-drives existed.
     */
    msgId: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
    /**
     * How `deliveries` is known: `delivery`, the count of the delivery a
     * handler held when it gave up; `advisory`, the server's MAX_DELIVERIES
     * advisory (live or as stored in the advisory stream); never a
     * configured value. Absent in older records.
     */
    deliveriesFrom: Type.Optional(Type.Union([Type.Literal('delivery'), Type.Literal('advisory')])),
  },
  { additionalProperties: false },
);
export type DeadLetter = Static<typeof DeadLetterSchema>;

export const DeadLetterMessage = defineMessage({
  name: 'work.dead-letter',
  version: 1,
  description: 'A task given up on, with the reason. Stored in stream `<NS>_DLQ`.',
  encoding: 'json',
  schema: DeadLetterSchema,
  subjects: '`<ns>.dlq.<queue>.v1`',
  idempotencyKey: 'queue + taskId (published with Nats-Msg-Id `dlq:<queue>:<taskId>`)',
});
