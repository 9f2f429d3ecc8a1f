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
