/**
 * Catalog ingest contracts: the `catalog.changed` hint the trackers reload
 * from, and the on-demand refresh request/reply (`starweather catalog refresh`).
 * All three travel on core NATS (no persistence): the database is the system
 * of record, so a lost notification only delays a reload until the trackers'
 * periodic reconcile, and a lost refresh request until the next cycle.
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineMessage } from '../message.js';

/** Catalog numbers run to 9 digits (objects ≥ 100000 are published as OMM only since July 2026). */
export const NoradIdSchema = Type.Integer({ minimum: 1, maximum: 999_999_999 });

/** A message carries at most this many ids; a larger change is split into chunks. */
export const CATALOG_CHANGED_MAX_IDS = 5000;

export const CatalogChangedSchema = Type.Object(
  {
    v: Type.Literal(1),
    at: Type.Integer({ minimum: 0, description: 'ms since the Unix epoch, when the write committed' }),
    ids: Type.Array(NoradIdSchema, { maxItems: CATALOG_CHANGED_MAX_IDS, description: 'NORAD ids whose latest element set or catalog row changed' }),
    full: Type.Boolean({ description: 'true when the load was a complete group: objects of that group not listed are unchanged, not removed' }),
    group: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'CelesTrak group (or `file`/`snapshot`) the load came from' })),
  },
  { additionalProperties: false },
);
export type CatalogChanged = Static<typeof CatalogChangedSchema>;

export const CatalogChangedMessage = defineMessage({
  name: 'catalog.changed',
  version: 1,
  description:
    'Hint that the element sets or catalog rows of these objects changed in the database; receivers reload them from the database. Sent after the write commits, in chunks of at most 5,000 ids.',
  encoding: 'json',
  schema: CatalogChangedSchema,
  subjects: '`<ns>.catalog.changed.v1` (core NATS)',
  idempotencyKey: 'none needed: a repeat makes receivers reload rows that are already current',
});

const GroupSchema = Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_-]+$' });

export const CatalogRefreshSchema = Type.Object(
  {
    v: Type.Literal(1),
    requestId: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_-]+$' }),
    at: Type.Integer({ minimum: 0 }),
    /** Groups to fetch; absent: the configured ones. */
    groups: Type.Optional(Type.Array(GroupSchema, { minItems: 1, maxItems: 100 })),
  },
  { additionalProperties: false },
);
export type CatalogRefresh = Static<typeof CatalogRefreshSchema>;

export const CatalogRefreshMessage = defineMessage({
  name: 'catalog.refresh',
  version: 1,
  description:
    'Asks the catalog ingest leader to run a cycle now. Every ingest host hears it; only the lease holder acts, and answers on the reply subject of the request id. The per-group 2 h guard (CelesTrak) still applies.',
  encoding: 'json',
  schema: CatalogRefreshSchema,
  subjects: '`<ns>.catalog.refresh.v1` (core NATS)',
  idempotencyKey: 'requestId (a cycle already running answers for the request that arrives during it)',
});

export const IngestRunSummarySchema = Type.Object(
  {
    group: Type.String({ maxLength: 100 }),
    outcome: Type.Union([Type.Literal('ok'), Type.Literal('not_modified'), Type.Literal('http_error'), Type.Literal('failed'), Type.Literal('skipped')]),
    httpStatus: Type.Union([Type.Integer(), Type.Null()]),
    records: Type.Integer({ minimum: 0 }),
    accepted: Type.Integer({ minimum: 0 }),
    rejected: Type.Integer({ minimum: 0 }),
    objectsNew: Type.Integer({ minimum: 0 }),
    objectsChanged: Type.Integer({ minimum: 0 }),
    message: Type.String({ maxLength: 2000 }),
  },
  { additionalProperties: false },
);
export type IngestRunSummary = Static<typeof IngestRunSummarySchema>;

export const CatalogRefreshReplySchema = Type.Object(
  {
    v: Type.Literal(1),
    requestId: Type.String({ minLength: 1, maxLength: 100 }),
    hostId: Type.String({ minLength: 1, maxLength: 200 }),
    at: Type.Integer({ minimum: 0 }),
    runs: Type.Array(IngestRunSummarySchema, { maxItems: 100 }),
  },
  { additionalProperties: false },
);
export type CatalogRefreshReply = Static<typeof CatalogRefreshReplySchema>;

export const CatalogRefreshReplyMessage = defineMessage({
  name: 'catalog.refresh-reply',
  version: 1,
  description: 'The leader’s answer to a `catalog.refresh`: one summary per group of the cycle it ran.',
  encoding: 'json',
  schema: CatalogRefreshReplySchema,
  subjects: '`<ns>.catalog.refresh.reply.v1.<requestId>` (core NATS)',
  idempotencyKey: 'requestId',
});
