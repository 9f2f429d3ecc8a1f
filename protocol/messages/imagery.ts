/**
 * Imagery processing contract: the payload of the `imagery.scene` task the
 * gateway enqueues when a STAC item is registered (POST/PUT
 * /collections/{id}/items). The item itself lives in the database
 * (stac_items); the task names it, so a redelivery reads the current row.
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineMessage } from '../message.js';

/** The task kind the processing pipeline registers a handler for. */
export const IMAGERY_SCENE_KIND = 'imagery.scene';

/** Ids as the STAC repository accepts them (actors/storage/stac.ts). */
const StacIdSchema = Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9._:\\-]+$' });

export const ImagerySceneTaskSchema = Type.Object(
  {
    v: Type.Literal(1),
    collection: StacIdSchema,
    itemId: StacIdSchema,
  },
  { additionalProperties: false },
);
export type ImagerySceneTask = Static<typeof ImagerySceneTaskSchema>;

/** Deterministic task id: a re-POST of the same item finds its task, and the id is the queue's Nats-Msg-Id. */
export function imagerySceneTaskId(collection: string, itemId: string): string {
  return `stac:${collection}:${itemId}`;
}

export const ImagerySceneTaskMessage = defineMessage({
  name: 'imagery.scene',
  version: 1,
  description:
    'Payload of the `imagery.scene` work task: process the STAC item `itemId` of `collection` (read from stac_items) through L1 → L2 → L3, reporting each stage on the task row. Task id `stac:<collection>:<itemId>`; queue `high` for items flagged `starweather:priority: "high"`, otherwise the collection\'s queue (default `weather`).',
  encoding: 'json',
  schema: ImagerySceneTaskSchema,
  subjects: 'payload of a `work.task` v1 envelope with kind `imagery.scene` on `<ns>.work.<queue>.v1`',
  idempotencyKey: 'the envelope id `stac:<collection>:<itemId>`',
});
