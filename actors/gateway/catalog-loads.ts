/**
 * Catalog loads through a running node (issue 16 part 6):
 *
 * - POST /catalog/loads (Bearer key): the body is a catalog (OMM JSON, TLE,
 *   3LE or CSV; `?format=` or sniffed), `?group=` names the group recorded
 *   on its objects, `?source=` the label stored with the run (a file name).
 *   → 202 + Location: /catalog/loads/{id}. The load runs on this gateway
 *   through the one catalog write path (ingest/catalog-ingest.ts), sliced
 *   like every load, and tells the trackers over the bus as a CLI load does.
 * - GET /catalog/loads/{id}: state (running, done, failed), progress
 *   (phase, objects written of total) and, once ended, the report.
 *
 * Why the node does it: the embedded database (PGlite) is one process's
 * directory, locked by the running node, so `starweather catalog load`
 * beside `starweather start` cannot open it. The CLI sends the file here
 * instead. One load at a time per gateway (409 while one runs): two full
 * catalogs in parallel would only fight over the same rows.
 *
 * Status lives in this gateway's memory (the last LOADS_KEPT loads): a
 * load's durable record is its ingest_runs row (/ingest/status), written
 * at its end either way.
 */
import { randomBytes } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from 'pino';
import { IngestRunSummarySchema } from '../../protocol/messages/catalog.js';
import type { Names } from '../../protocol/names.js';
import type { Transport } from '../../protocol/transport.js';
import { ingestCatalogText, summary, type IngestReport, type LoadProgress } from '../ingest/catalog-ingest.js';
import { CATALOG_FORMATS, sniffFormat, type CatalogFormat } from '../ingest/catalog-parse.js';
import type { Storage } from '../storage/index.js';
import { HttpProblem, notFound } from './errors.js';

/** Finished loads whose status stays readable. */
export const LOADS_KEPT = 20;

/** Media types a catalog body may carry; each is read as text (the parsers decide what is valid). */
const CATALOG_MEDIA_TYPES = ['text/plain', 'text/csv', 'application/json', 'application/octet-stream'];

export interface CatalogLoadsOptions {
  storage(): Promise<Storage>;
  /** Where catalog.changed goes (trackers reload the changed ids); null: they pick the change up at their reconcile. */
  transport: Transport | null;
  names: Names;
  hostId: string;
  logger: Logger;
  /** config catalog.maxBytes: the same cap as a download or a CLI file. */
  maxBytes: number;
}

export interface CatalogLoadView {
  id: string;
  state: 'running' | 'done' | 'failed';
  source: string;
  format: CatalogFormat;
  group: string | null;
  bytes: number;
  progress: LoadProgress;
  startedAt: string;
  finishedAt: string | null;
  /** Once ended: counts, rejections by code and samples, as /ingest/status and the CLI print them. */
  report: (ReturnType<typeof summary> & { elementSetsNew: number; rejectedByCode: Record<string, number>; rejectSamples: IngestReport['rejectSamples'] }) | null;
}

/** CatalogLoadView, for the OpenAPI document (openapi.ts documentedResponse). */
const CatalogLoadDoc = Type.Object(
  {
    id: Type.String(),
    state: Type.Union([Type.Literal('running'), Type.Literal('done'), Type.Literal('failed')]),
    source: Type.String(),
    format: Type.Union(CATALOG_FORMATS.map((f) => Type.Literal(f))),
    group: Type.Union([Type.String(), Type.Null()]),
    bytes: Type.Integer({ minimum: 0 }),
    progress: Type.Object(
      { phase: Type.Union([Type.Literal('parse'), Type.Literal('write'), Type.Literal('done')]), objectsDone: Type.Integer({ minimum: 0 }), objectsTotal: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]) },
      { additionalProperties: false },
    ),
    startedAt: Type.String({ format: 'date-time' }),
    finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    report: Type.Union([
      Type.Object(
        {
          ...IngestRunSummarySchema.properties,
          elementSetsNew: Type.Integer({ minimum: 0 }),
          rejectedByCode: Type.Record(Type.String(), Type.Integer({ minimum: 0 })),
          rejectSamples: Type.Array(Type.Object({}, { additionalProperties: true, description: 'A rejected record: where, its code and why' })),
        },
        { additionalProperties: false },
      ),
      Type.Null(),
    ]),
  },
  { additionalProperties: false },
);

const query = Type.Object(
  {
    format: Type.Optional(Type.Union(CATALOG_FORMATS.map((f) => Type.Literal(f)))),
    group: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,100}$' })),
    source: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f]+$' })),
  },
  { additionalProperties: false },
);
const params = Type.Object({ id: Type.String({ pattern: '^[a-f0-9]{16}$' }) });

export const catalogLoadsPlugin: FastifyPluginAsync<CatalogLoadsOptions> = async (app, o) => {
  const loads = new Map<string, CatalogLoadView>();
  let running: { id: string; abort: AbortController; done: Promise<void> } | null = null;
  // A load still running when the gateway stops rolls back (nothing half-written) and is reported failed.
  app.addHook('onClose', async () => {
    running?.abort.abort();
    await running?.done;
  });

  // This plugin's own parsers: a catalog is text whatever its media type, and JSON is parsed record by record by the loader, never as one document here.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(CATALOG_MEDIA_TYPES, { parseAs: 'string', bodyLimit: o.maxBytes }, (_req, body, done) => done(null, body));

  app.post<{ Querystring: { format?: CatalogFormat; group?: string; source?: string }; Body: string }>(
    '/catalog/loads',
    {
      onRequest: app.requireApiKey,
      bodyLimit: o.maxBytes,
      config: { bodyLimitHint: `a catalog load is capped at ${o.maxBytes} bytes (STARWEATHER_CATALOG_MAX_BYTES)` },
      schema: {
        operationId: 'startCatalogLoad',
        summary: 'Load a catalog file into the running node',
        querystring: query,
        documentedResponse: {
          202: { description: 'Started; Location is its status', headers: { location: { type: 'string', description: '/catalog/loads/{id}' } }, content: { 'application/json': { schema: CatalogLoadDoc } } },
          409: 'A catalog load is already running on this node',
        },
        description: 'Load a catalog (OMM JSON, TLE, 3LE or CSV) into this node: validated record by record, written through the catalog ingest path. Needs the API key. 202 + Location of the load status.',
      },
    },
    async (req, reply) => {
      if (running) throw new HttpProblem(409, 'SW_ERR_CONFLICT', `catalog load ${running.id} is running on this node: wait for it (GET /catalog/loads/${running.id}) and send this one again`);
      const text = typeof req.body === 'string' ? req.body : '';
      if (text.trim().length === 0) throw new HttpProblem(400, 'SW_ERR_INVALID_ARGUMENT', 'the body is empty: send the catalog file as the request body');
      const source = req.query.source ?? 'upload';
      const format = req.query.format ?? sniffFormat(text, source);
      const id = randomBytes(8).toString('hex');
      const view: CatalogLoadView = {
        id,
        state: 'running',
        source,
        format,
        group: req.query.group ?? null,
        bytes: Buffer.byteLength(text),
        progress: { phase: 'parse', objectsDone: 0, objectsTotal: null },
        startedAt: new Date().toISOString(),
        finishedAt: null,
        report: null,
      };
      remember(view);
      const abort = new AbortController();
      const storage = await o.storage();
      const done = ingestCatalogText(
        {
          db: storage.db,
          transport: o.transport,
          names: o.names,
          logger: o.logger,
          hostId: o.hostId,
          signal: abort.signal,
          onProgress: (p) => (view.progress = p),
        },
        { text, format, source: `upload:${source}`, group: view.group, full: false, bytes: view.bytes, startedAt: new Date(view.startedAt) },
      ).then(
        (r) => {
          view.state = r.outcome === 'ok' ? 'done' : 'failed';
          view.report = { ...summary(r), elementSetsNew: r.elementSetsNew, rejectedByCode: r.rejectedByCode, rejectSamples: r.rejectSamples };
        },
        (err: unknown) => {
          // ingestCatalogText reports bad input and aborted writes itself; only a bug lands here.
          view.state = 'failed';
          o.logger.error({ err, loadId: id }, 'catalog load failed');
        },
      ).finally(() => {
        view.finishedAt = new Date().toISOString();
        running = null;
      });
      running = { id, abort, done };
      const location = `/catalog/loads/${id}`;
      return reply.code(202).header('location', location).send(view);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/catalog/loads/:id',
    {
      schema: {
        operationId: 'getCatalogLoad',
        summary: 'A catalog load\'s state, progress and report',
        params,
        description: 'A catalog load sent to this node: state, progress and, once ended, its report.',
        documentedResponse: { 200: CatalogLoadDoc },
      },
    },
    async (req) => {
      const view = loads.get(req.params.id);
      if (!view) throw notFound(`catalog load ${req.params.id} is not known to this gateway (only its last ${LOADS_KEPT} are kept; /ingest/status lists stored runs)`);
      return view;
    },
  );

  function remember(view: CatalogLoadView): void {
    loads.set(view.id, view);
    for (const [id, v] of loads) {
      if (loads.size <= LOADS_KEPT) break;
      if (v.state !== 'running') loads.delete(id);
    }
  }
};
