/**
 * Tile pipeline tasks. A scene (`imagery.scene`, imagery.ts) is cut into
 * tiles; each tile is one `imagery.tile` task on the scene's queue (`weather`,
 * or `high` for a priority scene), taken
 * by any tile host. The host that stores a scene's last tile result enqueues
 * one `imagery.finalize` task, which merges the tiles and writes the scene's
 * outputs; each storm warning it raises becomes a `storm.warning` task on the
 * `high` queue, whose handler publishes the alert on `<ns>.alerts.v1`.
 *
 * Every task id is deterministic (it is the queue's Nats-Msg-Id), so a
 * re-enqueue after a crash is dropped inside the de-duplication window and
 * is harmless after it: every handler is idempotent on its natural keys.
 */
import { createHash } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { defineMessage } from '../message.js';

export const IMAGERY_TILE_KIND = 'imagery.tile';
export const IMAGERY_FINALIZE_KIND = 'imagery.finalize';
export const STORM_WARNING_KIND = 'storm.warning';

const StacIdSchema = Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9._:\\-]+$' });
const TaskIdSchema = Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9._:\\-]+$' });
/** Hex digest of what the scene was read from (asset hrefs and sizes): a re-registered item with new files is a new fingerprint. */
const FingerprintSchema = Type.String({ pattern: '^[0-9a-f]{16}$' });

export const ImageryTileTaskSchema = Type.Object(
  {
    v: Type.Literal(1),
    /** The scene's task id (`stac:<collection>:<itemId>`), whose row the tile results and stages belong to. */
    sceneTaskId: TaskIdSchema,
    collection: StacIdSchema,
    itemId: StacIdSchema,
    fingerprint: FingerprintSchema,
    index: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
  },
  { additionalProperties: false },
);
export type ImageryTileTask = Static<typeof ImageryTileTaskSchema>;

export const ImageryTileTaskMessage = defineMessage({
  name: 'imagery.tile',
  version: 1,
  description:
    'Payload of the `imagery.tile` work task: run L1 (calibration, QA), L2 (cloud mask) and L3 (cloud top, convection) on tile `index` of the scene (core rectangle plus halo, from the scene row) and store its result once per (sceneTaskId, index). Queue: the scene\'s (`weather`, or `high` for a priority scene).',
  encoding: 'json',
  schema: ImageryTileTaskSchema,
  subjects: 'payload of a `work.task` v1 envelope with kind `imagery.tile` on `<ns>.work.weather.v1` (or `<ns>.work.high.v1`)',
  idempotencyKey: 'the envelope id `tile:<collection>:<itemId>:<fingerprint 8>:<index>` (hashed form when longer than 200 characters); results keyed (sceneTaskId, index)',
});

export const ImageryFinalizeTaskSchema = Type.Object(
  {
    v: Type.Literal(1),
    sceneTaskId: TaskIdSchema,
    collection: StacIdSchema,
    itemId: StacIdSchema,
    fingerprint: FingerprintSchema,
  },
  { additionalProperties: false },
);
export type ImageryFinalizeTask = Static<typeof ImageryFinalizeTaskSchema>;

export const ImageryFinalizeTaskMessage = defineMessage({
  name: 'imagery.finalize',
  version: 1,
  description:
    'Payload of the `imagery.finalize` work task, enqueued once every tile result of a scene is stored: merge the tiles, detect tropical cyclones on the merged brightness temperature, write weather_metrics rows, raise storm warnings, render products and add them and the QA summary to the STAC item, then mark the scene task done. Queue: the scene\'s (`weather`, or `high` for a priority scene).',
  encoding: 'json',
  schema: ImageryFinalizeTaskSchema,
  subjects: 'payload of a `work.task` v1 envelope with kind `imagery.finalize` on `<ns>.work.weather.v1` (or `<ns>.work.high.v1`)',
  idempotencyKey: 'the envelope id `finalize:<collection>:<itemId>:<fingerprint 8>` (hashed form when longer than 200 characters)',
});

export const StormWarningTaskSchema = Type.Object(
  {
    v: Type.Literal(1),
    /** The stored alert's id (alerts table natural key). */
    alertId: Type.String({ pattern: '^[A-Za-z0-9._:\\-]{1,300}$' }),
    kind: Type.Union([Type.Literal('storm.overshooting-tops'), Type.Literal('storm.tropical-cyclone')]),
    severity: Type.Union([Type.Literal('warning'), Type.Literal('critical')]),
    message: Type.String({ maxLength: 4000 }),
    raisedAt: Type.String({ format: 'date-time' }),
    payload: Type.Record(Type.String(), Type.Unknown()),
  },
  { additionalProperties: false },
);
export type StormWarningTask = Static<typeof StormWarningTaskSchema>;

export const StormWarningTaskMessage = defineMessage({
  name: 'storm.warning',
  version: 1,
  description:
    'Payload of the `storm.warning` work task on the `high` queue: a storm warning already stored in the alerts table, to be published as `alert.raised` on `<ns>.alerts.v1` for gateways and dashboards.',
  encoding: 'json',
  schema: StormWarningTaskSchema,
  subjects: 'payload of a `work.task` v1 envelope with kind `storm.warning` on `<ns>.work.high.v1`',
  idempotencyKey: 'the envelope id `alert:<alertId>` (hashed form when longer than 200 characters); subscribers de-duplicate on alertId',
});

const MAX_ID = 200;

/** `prefix:<collection>:<itemId><suffix>`, or `prefix:h<sha256 of collection/itemId>` in its place when that is too long for a task id. */
function sceneScopedId(prefix: string, collection: string, itemId: string, suffix = ''): string {
  const plain = `${prefix}:${collection}:${itemId}${suffix}`;
  if (plain.length <= MAX_ID) return plain;
  const digest = createHash('sha256').update(`${collection}/${itemId}`).digest('hex').slice(0, 40);
  return `${prefix}:h${digest}${suffix}`;
}

/**
 * The fingerprint's first 8 digits are part of the id: an item re-registered
 * with other files gets new tile and finalize ids, so the de-duplication
 * window cannot swallow the new scene's tasks as repeats of the old one's.
 */
export function imageryTileTaskId(collection: string, itemId: string, fingerprint: string, index: number): string {
  return sceneScopedId('tile', collection, itemId, `:${fingerprint.slice(0, 8)}:${index}`);
}

export function imageryFinalizeTaskId(collection: string, itemId: string, fingerprint: string): string {
  return sceneScopedId('finalize', collection, itemId, `:${fingerprint.slice(0, 8)}`);
}

export function stormWarningTaskId(alertId: string): string {
  const plain = `alert:${alertId}`;
  return plain.length <= MAX_ID ? plain : `alert:h${createHash('sha256').update(alertId).digest('hex').slice(0, 40)}`;
}
