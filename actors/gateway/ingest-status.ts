/**
 * GET /ingest/status: how fresh the data behind the dashboard is, read from
 * the ingest's own records (the system of record, so every gateway answers
 * the same):
 *  - catalog: the newest catalog ingest run and the newest one that loaded
 *    data (ok, or not_modified: CelesTrak's "nothing new", which still
 *    confirms the catalog), the time since that run (`ageS`: the age of
 *    the LOAD), the age of the ELEMENTS themselves (`elements`: newest,
 *    median and oldest epoch of the active objects' newest element sets,
 *    and how many are past their orbit's age limit; catalog-age.ts), and
 *    the object count (ingest_runs, migration 002; catalog_objects);
 *  - imagery: per source, the last scene the imagery ingest handled
 *    (registered or rejected, with the scene's time when its STAC item
 *    exists) and how many it handled (imagery_ingested, migration 003).
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { Queryable } from '../storage/db.js';
import type { Storage } from '../storage/index.js';
import { listIngestRuns, type IngestRun } from '../storage/ingest-runs.js';
import { CatalogAge } from './catalog-age.js';

export interface IngestStatusOptions {
  storage(): Promise<Storage>;
  /** The element age reader shared with /health (it holds the configured age limits); absent: one with the default limits. */
  catalogAge?: CatalogAge;
}

/** The STAC collection the imagery ingest registers scenes in (actors/ingest/imagery-item.ts). */
const IMAGERY_COLLECTION = 'imagery';

function runJson(r: IngestRun) {
  return {
    group: r.group,
    source: r.source,
    format: r.format,
    outcome: r.outcome,
    httpStatus: r.httpStatus,
    records: r.records,
    accepted: r.accepted,
    rejected: r.rejected,
    objectsNew: r.objectsNew,
    objectsChanged: r.objectsChanged,
    elementSetsNew: r.elementSetsNew,
    snapshotDate: r.snapshotDate,
    hostId: r.hostId,
    message: r.message,
    startedAt: r.startedAt.toISOString(),
    finishedAt: r.finishedAt.toISOString(),
  };
}

export interface ImagerySourceStatus {
  source: string;
  registered: number;
  rejected: number;
  lastScene: {
    itemId: string;
    outcome: 'registered' | 'rejected';
    reason: string;
    recordedAt: string;
    /** Scene start (the STAC item's datetime) when the item is stored. */
    sceneTime: string | null;
    /** Link to the STAC item when it is stored. */
    href: string | null;
  };
}

async function imageryStatus(db: Queryable): Promise<ImagerySourceStatus[]> {
  // One row per scene, so a scan grouped by source stays small (hundreds of scenes a day per source).
  const counts = await db.query<{ source: string; outcome: 'registered' | 'rejected'; n: string | number }>(
    'SELECT source, outcome, count(*) AS n FROM imagery_ingested GROUP BY source, outcome',
  );
  const last = await db.query<{ source: string; item_id: string; outcome: 'registered' | 'rejected'; reason: string; recorded_at: Date; dt_start: Date | null; stored: boolean }>(
    `SELECT DISTINCT ON (i.source) i.source, i.item_id, i.outcome, i.reason, i.recorded_at, s.dt_start, (s.id IS NOT NULL) AS stored
       FROM imagery_ingested i
       LEFT JOIN stac_items s ON s.collection_id = $1 AND s.id = i.item_id
      ORDER BY i.source, i.recorded_at DESC, i.item_id`,
    [IMAGERY_COLLECTION],
  );
  const n = (source: string, outcome: string) => Number(counts.rows.find((c) => c.source === source && c.outcome === outcome)?.n ?? 0);
  return last.rows.map((r) => ({
    source: r.source,
    registered: n(r.source, 'registered'),
    rejected: n(r.source, 'rejected'),
    lastScene: {
      itemId: r.item_id,
      outcome: r.outcome,
      reason: r.reason,
      recordedAt: new Date(r.recorded_at).toISOString(),
      sceneTime: r.dt_start ? new Date(r.dt_start).toISOString() : null,
      href: r.stored ? `/collections/${IMAGERY_COLLECTION}/items/${encodeURIComponent(r.item_id)}` : null,
    },
  }));
}

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const RegimeAge = Type.Object(
  {
    objects: Type.Integer({ minimum: 0 }),
    expired: Type.Integer({ minimum: 0 }),
    maxAgeDays: Type.Number({ description: 'The age limit of this regime, days' }),
  },
  { additionalProperties: false },
);
/** actors/tracker/catalog-age.ts CatalogElementAge. */
export const ElementAgeSchema = Type.Object(
  {
    at: Type.String({ format: 'date-time' }),
    objects: Type.Integer({ minimum: 0, description: 'Active objects with an element set' }),
    newestEpoch: Nullable(Type.String({ format: 'date-time' })),
    medianEpoch: Nullable(Type.String({ format: 'date-time' })),
    oldestEpoch: Nullable(Type.String({ format: 'date-time' })),
    medianAgeDays: Nullable(Type.Number()),
    maxAgeDays: Nullable(Type.Number()),
    expired: Type.Integer({ minimum: 0, description: 'Objects whose newest elements are past their orbit regime\'s age limit: their states are published as not good' }),
    byRegime: Type.Object({ leo: RegimeAge, meo: RegimeAge, geo: RegimeAge, heo: RegimeAge }, { additionalProperties: false }),
  },
  { additionalProperties: false, description: 'The age of the active catalog\'s elements (epochs of each object\'s newest element set), not of its load' },
);
const Run = Type.Object(
  {
    group: Type.String(),
    source: Type.String(),
    format: Nullable(Type.String()),
    outcome: Type.String(),
    httpStatus: Nullable(Type.Integer()),
    records: Type.Integer(),
    accepted: Type.Integer(),
    rejected: Type.Integer(),
    objectsNew: Type.Integer(),
    objectsChanged: Type.Integer(),
    elementSetsNew: Type.Integer(),
    snapshotDate: Nullable(Type.String()),
    hostId: Nullable(Type.String()),
    message: Type.String(),
    startedAt: Type.String({ format: 'date-time' }),
    finishedAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
/** The response, for the OpenAPI document (and fastify's serializer). */
export const IngestStatusSchema = Type.Object(
  {
    at: Type.String({ format: 'date-time' }),
    catalog: Type.Object(
      {
        objects: Type.Integer({ minimum: 0 }),
        lastRun: Nullable(Run),
        lastLoaded: Nullable(Run),
        ageS: Nullable(Type.Integer({ minimum: 0, description: 'Seconds since the last run that loaded or confirmed the catalog (ok or not_modified): the age of the load, not of the elements (see elements)' })),
        elements: Nullable(ElementAgeSchema),
      },
      { additionalProperties: false },
    ),
    imagery: Type.Array(
      Type.Object(
        {
          source: Type.String(),
          registered: Type.Integer({ minimum: 0 }),
          rejected: Type.Integer({ minimum: 0 }),
          lastScene: Type.Object(
            {
              itemId: Type.String(),
              outcome: Type.Union([Type.Literal('registered'), Type.Literal('rejected')]),
              reason: Type.String(),
              recordedAt: Type.String({ format: 'date-time' }),
              sceneTime: Nullable(Type.String({ format: 'date-time' })),
              href: Nullable(Type.String()),
            },
            { additionalProperties: false },
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const ingestStatusPlugin: FastifyPluginAsync<IngestStatusOptions> = async (app, o) => {
  const catalogAge = o.catalogAge ?? new CatalogAge(o.storage);
  app.get('/ingest/status', { schema: { operationId: 'getIngestStatus', summary: 'Ingest status: catalog age and the last scene per imagery source', response: { 200: IngestStatusSchema } } }, async (_req, reply) => {
    const { db } = await o.storage();
    const now = Date.now();
    const [lastRun, lastLoaded, objects, imagery, age] = await Promise.all([
      listIngestRuns(db, { kind: 'catalog', limit: 1 }),
      listIngestRuns(db, { kind: 'catalog', outcomes: ['ok', 'not_modified'], limit: 1 }),
      db.query<{ n: string | number }>('SELECT count(*) AS n FROM catalog_objects'),
      imageryStatus(db),
      catalogAge.view(),
    ]);
    const loaded = lastLoaded[0] ?? null;
    reply.header('cache-control', 'no-store');
    return {
      at: new Date(now).toISOString(),
      catalog: {
        objects: Number(objects.rows[0]?.n ?? 0),
        lastRun: lastRun[0] ? runJson(lastRun[0]) : null,
        lastLoaded: loaded ? runJson(loaded) : null,
        ageS: loaded ? Math.max(0, Math.round((now - loaded.finishedAt.getTime()) / 1000)) : null,
        elements: age.elements,
      },
      imagery,
    };
  });
};
