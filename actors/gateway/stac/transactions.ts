/**
 * Item transactions: POST (one Item or an ItemCollection), PUT and DELETE on
 * /collections/{id}/items. A registration is answered 202 with the id of its
 * processing task, once the task is durably queued.
 *
 * Order of effects, so a crash between any two is safe on retry:
 *   1. the item and its task row are written in one database transaction;
 *   2. the task is enqueued with its deterministic id as the Nats-Msg-Id;
 *   3. 202.
 * A crash after 1 leaves an item whose task is `queued`: the client's retry
 * finds the same item, and re-enqueues (the queue's de-duplication drops the
 * copy when the first enqueue did land). An enqueue that fails is a 503 the
 * client retries. Beyond the queue's de-duplication window a retry of a
 * still-queued task can put a second copy on the queue; handlers are
 * idempotent on the task id, so that costs work, never correctness — the
 * alternative, never re-enqueueing, could lose the task.
 *
 * Byte caps (issue 16 security 1), so no body costs a long JSON.parse or
 * stringify on the event loop: one item is at most `bodyLimits.item` bytes
 * (1 MiB), as a POST body or a PUT body; an ItemCollection POST at most
 * `bodyLimits.itemCollection` bytes in all (4 MiB: JSON.parse of 4 MiB of
 * STAC items measured ~16 ms on the 2-core dev machine, 16 MiB ~90 ms), each
 * of its items at most `bodyLimits.item` as compact JSON. Over a cap: 413.
 * The ItemCollection's items are checked in slices with yields between.
 */
import { Transform } from 'node:stream';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { Type } from '@sinclair/typebox';
import { IMAGERY_SCENE_KIND, ImagerySceneTaskMessage, imagerySceneTaskId } from '../../../protocol/messages/imagery.js';
import { QUEUE_PRIORITY, type QueueName } from '../../../protocol/names.js';
import type { Transport } from '../../../protocol/transport.js';
import { enqueueTask } from '../../runtime/worker.js';
import type { Queryable } from '../../storage/db.js';
import { StorageArgumentError } from '../../storage/errors.js';
import type { Storage } from '../../storage/index.js';
import { deleteItem, getCollection, insertItemsOnce, itemColumns, itemExists, upsertItem, type StacDoc } from '../../storage/stac.js';
import { createTasks, type TaskState } from '../../storage/tasks.js';
import { badRequest, DEPENDENCY_RETRY_AFTER_S, HttpProblem, notFound, WORK_BUDGETS } from '../errors.js';
import { inMediaType, noBody } from '../openapi.js';
import { RegistrationBatcher } from './batcher.js';
import { BulkRegistrationDoc, ItemDoc, RegistrationDoc } from './doc-schemas.js';
import { queueFor } from './collections.js';
import { JSON_TYPE, OWN_ITEM_RELS, rootOf, withItemLinks } from './links.js';
import { IdParam } from './read.js';
import { jsonShapeProblem, validateItem, warmItemValidator } from './validate.js';
import { LoopSlicer, yieldNow } from '../slice.js';

export interface HrefVerdict {
  ok: boolean;
  reason?: string;
  /**
   * The URL as the check parsed it (ssrf.ts checkAssetHref gives it). Its
   * href is what is stored: other URL parsers read a raw href such as
   * `https://allowed.example\@evil.example/` with another host than the
   * one checked.
   */
  url?: URL;
}

export interface StacWriteOptions {
  storage(): Promise<Storage>;
  /** The bus the processing tasks are enqueued on; null answers writes with 503. */
  transport: Transport | null;
  /** The API-key hook (auth.ts requireApiKey), run onRequest: before the body is read. Without one, writes are refused, never open. */
  authorize?: onRequestAsyncHookHandler;
  /** Byte caps: one item (PUT body, single-item POST body, each item of an ItemCollection) and a whole ItemCollection POST. Default DEFAULT_BODY_LIMITS. */
  bodyLimits?: { item: number; itemCollection: number };
  /** The SSRF policy check for asset hrefs (ssrf.ts checkAssetHref bound to the configured policy). */
  checkHref(href: string): HrefVerdict;
  /** Items in one ItemCollection POST. */
  maxBulkItems?: number;
  onReject?(reason: string): void;
  /** The group-commit batcher for single-item POSTs (pass one to read its stats); default a new one. */
  batcher?: RegistrationBatcher;
}

export interface Registration {
  itemId: string;
  taskId: string;
  status: TaskState;
  queue: QueueName;
  /** false for an identical re-POST that found the task already there. */
  created: boolean;
}

const COLLECTION_TTL_MS = 5000;

export const DEFAULT_BODY_LIMITS = { item: 1024 * 1024, itemCollection: 4 * 1024 * 1024 } as const;

const tooLarge = (detail: string): HttpProblem => new HttpProblem(413, 'SW_ERR_TOO_LARGE', detail);

const refuseWrites: onRequestAsyncHookHandler = async () => {
  throw new HttpProblem(503, 'SW_ERR_WRITES_DISABLED', 'writes are disabled: no API key check is configured');
};

/** Thrown for a schema failure: fastify's validation shape, so errors.ts answers the same 400 (detail and `errors` naming each field). */
export class ItemSchemaError extends Error {
  readonly statusCode = 400;
  readonly validationContext = 'body';
  constructor(readonly validation: Array<{ instancePath: string; message: string; params: Record<string, unknown> }>) {
    super(`body ${validation[0]?.instancePath ?? ''}: ${validation[0]?.message ?? 'invalid'}`);
    this.name = 'ItemSchemaError';
  }
}

function schemaProblem(doc: unknown, pathPrefix: string): ItemSchemaError | null {
  const errors = validateItem(doc);
  if (errors.length === 0) return null;
  // errors.ts names a field from instancePath (missingProperty is already folded into `path`).
  return new ItemSchemaError(errors.map((e) => ({ instancePath: `${pathPrefix}${e.path}`, message: e.message, params: {} })));
}

/**
 * Validate one item for `collectionId`, and return it as stored (collection
 * set). A megabyte item holds thousands of assets: the schema check is one
 * stretch (~12 ms for 1 MiB), the href checks are sliced with `slicer`.
 */
export async function prepareItem(raw: unknown, collectionId: string, checkHref: (h: string) => HrefVerdict, prefix = '', slicer = new LoopSlicer()): Promise<StacDoc> {
  const shape = jsonShapeProblem(raw);
  if (shape) throw badRequest(`${prefix}${shape}`);
  await slicer.maybeYield();
  const view = asServed(raw, collectionId, prefix);
  const p = schemaProblem(view.checked, prefix ? '/' + prefix.replace(/\.$/, '').split('.').join('/') : '');
  if (p) throw p;
  await slicer.maybeYield();
  const item = raw as StacDoc;
  if (item.collection !== undefined && item.collection !== collectionId) {
    throw badRequest(`${prefix}collection: the item names collection ${JSON.stringify(item.collection)} but was sent to ${collectionId}`);
  }
  const doc: StacDoc = view.stored as StacDoc;
  try {
    itemColumns(doc);
  } catch (err) {
    if (err instanceof StorageArgumentError) throw badRequest(`${prefix}${err.message}`);
    throw err;
  }
  let n = 0;
  const assets = Object.entries((doc.assets ?? {}) as Record<string, { href: string }>);
  let normalised = false;
  for (let i = 0; i < assets.length; i++) {
    const [key, asset] = assets[i]!;
    const v = checkHref(asset.href);
    if (!v.ok) throw badRequest(`${prefix}assets.${key}.href: ${v.reason ?? 'not allowed'}`, 'SW_ERR_ASSET_HREF');
    // The href checked is the one stored, never the raw string beside it.
    if (v.url && v.url.href !== asset.href) {
      assets[i] = [key, { ...asset, href: v.url.href }];
      normalised = true;
    }
    // A check is ~2-5 µs: look at the clock every 256.
    if (++n % 256 === 0) await slicer.maybeYield();
  }
  // fromEntries defines own properties, so an asset keyed `__proto__` stays an asset.
  return normalised ? { ...doc, assets: Object.fromEntries(assets) } : doc;
}

/**
 * An item's navigation links (self, root, parent, collection) are the
 * server's: it writes its own on every read (links.ts itemNavLinks), as
 * stac-fastapi does. So a posted item is checked as it will be served, not
 * as it was sent: with its collection (the path's when it names none) and a
 * `rel: collection` link. The STAC Item schema's if/then ties the two (a
 * `collection` field requires a collection link, and none is allowed
 * without one); a client that sends `collection` and no such link, or no
 * links at all, is not wrong about anything the server keeps. Everything
 * else is checked as sent: the client's own links (any rel, each a valid
 * link, at its own index) are appended after. What is stored is the item
 * with its own links only: the navigation links it sent are dropped, never
 * served.
 */
function asServed(raw: unknown, collectionId: string, prefix: string): { checked: unknown; stored: unknown } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { checked: raw, stored: raw };
  const item = raw as Record<string, unknown>;
  const links = item.links;
  if (links !== undefined && !Array.isArray(links)) throw badRequest(`${prefix}links: must be an array of link objects`);
  const sent = (links ?? []) as unknown[];
  const collection = item.collection === undefined ? collectionId : item.collection;
  const nav = { rel: 'collection', href: `/collections/${encodeURIComponent(collectionId)}`, type: JSON_TYPE };
  // The sent links first, so a schema error names the client's own index (links.N).
  const checked = { ...item, collection, links: [...sent, nav] };
  const own = sent.filter((l) => !(typeof l === 'object' && l !== null && OWN_ITEM_RELS.includes((l as { rel?: unknown }).rel as string)));
  return { checked, stored: { ...item, collection, links: own } };
}

interface Planned {
  doc: StacDoc;
  taskId: string;
  queue: QueueName;
}

const conflictProblem = (doc: StacDoc): HttpProblem =>
  new HttpProblem(409, 'SW_ERR_CONFLICT', `item ${doc.id} already exists in collection ${String(doc.collection)} with different content (use PUT to replace it)`);

/** Item JSON written per statement of a bulk insert. */
const INSERT_CHUNK_BYTES = 512 * 1024;

/** `docs` in consecutive runs of at most `maxBytes` of JSON (estimated; a larger doc is a run of its own). */
function chunksByBytes(docs: StacDoc[], maxBytes: number): StacDoc[][] {
  const out: StacDoc[][] = [];
  let run: StacDoc[] = [];
  let bytes = 0;
  for (const d of docs) {
    const b = docBytes.get(d) ?? 0;
    if (run.length > 0 && bytes + b > maxBytes) {
      out.push(run);
      run = [];
      bytes = 0;
    }
    run.push(d);
    bytes += b;
  }
  if (run.length > 0) out.push(run);
  return out;
}

/** Sizes measured at the cap check, for chunking writes without serialising again. */
const docBytes = new WeakMap<StacDoc, number>();

/** Step 1: items and task rows in one transaction. Returns the tasks to enqueue. */
async function writeAll(storage: Storage, plans: Planned[], mode: 'insert' | 'replace'): Promise<Registration[]> {
  try {
    return await writeAllTx(storage, plans, mode);
  } catch (err) {
    // The database layer wraps what the transaction threw (StorageError with cause): unwrap our 409.
    const cause = (err as { cause?: unknown }).cause;
    if (cause instanceof HttpProblem) throw cause;
    throw err;
  }
}

async function writeAllTx(storage: Storage, plans: Planned[], mode: 'insert' | 'replace'): Promise<Registration[]> {
  return storage.db.transaction(async (tx: Queryable) => {
    if (mode === 'insert') {
      // Statements of about INSERT_CHUNK_BYTES, with yields between them: PGlite converts JSON on this thread
      // (~40 ms per MiB). One transaction still: any conflict rolls all of the ItemCollection back.
      for (const chunk of chunksByBytes(plans.map((p) => p.doc), INSERT_CHUNK_BYTES)) {
        const results = await insertItemsOnce(tx, chunk);
        const bad = results.indexOf('conflict');
        if (bad >= 0) throw conflictProblem(chunk[bad]!);
        await yieldNow();
      }
    } else for (const p of plans) await upsertItem(tx, p.doc);
    const tasks = await createTasks(
      tx,
      plans.map((p) => ({ id: p.taskId, kind: IMAGERY_SCENE_KIND, item: `${String(p.doc.collection)}/${p.doc.id}`, priority: QUEUE_PRIORITY[p.queue] })),
    );
    return plans.map((p, n) => ({ itemId: p.doc.id, taskId: p.taskId, status: tasks[n]!.state, queue: p.queue, created: tasks[n]!.created }));
  });
}

/** Step 2: enqueue every task still queued (a retry re-enqueues; the queue de-duplicates). */
async function enqueueAll(transport: Transport, collection: string, regs: Registration[]): Promise<void> {
  const pending = regs.filter((r) => r.status === 'queued');
  let timer: NodeJS.Timeout | undefined;
  try {
    const all = Promise.all(
      pending.map((r) =>
        enqueueTask(transport, { queue: r.queue, id: r.taskId, kind: IMAGERY_SCENE_KIND, payload: { v: 1, collection, itemId: r.itemId }, payloadType: ImagerySceneTaskMessage }),
      ),
    );
    // The transport retries for up to 30 s; the request has less (app.ts HTTP_LIMITS): answer 503 in time.
    // An enqueue still retrying lands later or not at all; either way the client's retry is safe (de-duplicated).
    all.catch(() => undefined);
    await Promise.race([
      all,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not stored within ${WORK_BUDGETS.enqueueMs / 1000} s`)), WORK_BUDGETS.enqueueMs);
      }),
    ]);
  } catch (err) {
    // The rows are written; the client's retry finds them and enqueues again.
    throw new HttpProblem(503, 'SW_ERR_UNAVAILABLE', `the task queue did not accept the task (${(err as Error).message?.slice(0, 200) ?? 'error'}); the item is stored, retry the request`, DEPENDENCY_RETRY_AFTER_S);
  } finally {
    clearTimeout(timer);
  }
}

export const stacWritePlugin: FastifyPluginAsync<StacWriteOptions> = async (app, o) => {
  warmItemValidator();
  const maxBulk = o.maxBulkItems ?? 500;
  const onRequest = o.authorize ?? refuseWrites;
  const limits = o.bodyLimits ?? DEFAULT_BODY_LIMITS;
  if (limits.itemCollection < limits.item) throw new Error('the ItemCollection byte cap must be at least the item cap');
  // Bytes of each POST body as received (chunked bodies have no Content-Length): a single item is held to the item cap.
  const received = new WeakMap<FastifyRequest, { bytes: number }>();
  const countBody = async (req: FastifyRequest, _reply: FastifyReply, payload: NodeJS.ReadableStream): Promise<NodeJS.ReadableStream> => {
    const seen = { bytes: 0 };
    received.set(req, seen);
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        seen.bytes += chunk.length;
        done(null, chunk);
      },
    });
    payload.on('error', (err) => counter.destroy(err));
    return payload.pipe(counter);
  };
  const params = Type.Object({ collectionId: IdParam });
  const itemParams = Type.Object({ collectionId: IdParam, itemId: IdParam });

  // Collections change rarely; a per-request read would queue every POST behind the running batch
  // (PGlite has one connection). A changed `starweather:queue` applies within COLLECTION_TTL_MS.
  const collections = new Map<string, { doc: StacDoc; at: number }>();
  const collectionOf = async (storage: Storage, id: string): Promise<StacDoc> => {
    const hit = collections.get(id);
    if (hit && Date.now() - hit.at < COLLECTION_TTL_MS) return hit.doc;
    const c = await getCollection(storage.db, id);
    if (!c) throw notFound(`collection ${id} does not exist`);
    if (collections.size > 1000) collections.clear();
    collections.set(id, { doc: c, at: Date.now() });
    return c;
  };
  const batcher = o.batcher ?? new RegistrationBatcher(async () => (await o.storage()).db);
  const needTransport = (): Transport => {
    if (!o.transport) throw new HttpProblem(503, 'SW_ERR_UNAVAILABLE', 'no task queue on this gateway');
    return o.transport;
  };
  const accepted = (reply: FastifyReply, r: Registration): FastifyReply =>
    reply.code(202).header('location', `/tasks/${encodeURIComponent(r.taskId)}`).send({ taskId: r.taskId, status: r.status, itemId: r.itemId, queue: r.queue, created: r.created });

  app.post<{ Params: { collectionId: string }; Body: unknown }>(
    '/collections/:collectionId/items',
    {
      onRequest,
      preParsing: countBody,
      bodyLimit: limits.itemCollection,
      config: { bodyLimitHint: `an ItemCollection POST is limited to ${limits.itemCollection} bytes, and one item to ${limits.item} bytes` },
      schema: {
        operationId: 'createItems',
        summary: 'Register a STAC item (or an ItemCollection of items) and queue its processing',
        documentedResponse: {
          202: {
            description: 'Registered and queued: one item (Location is its task) or, for an ItemCollection, one task per item',
            headers: { location: { type: 'string', description: 'The task of a single item, /tasks/{id}' } },
            content: { 'application/json': { schema: Type.Union([RegistrationDoc, BulkRegistrationDoc]) } },
          },
          409: 'An item with this id is already stored with other content (PUT replaces it)',
        },
        params,
        body: Type.Object({}, { additionalProperties: true, description: `A STAC Item (at most ${limits.item} bytes), or an ItemCollection (FeatureCollection of Items, at most ${limits.itemCollection} bytes, each item at most ${limits.item} bytes as compact JSON) for bulk registration` }),
      },
    },
    async (req, reply) => {
      const transport = needTransport();
      const cid = req.params.collectionId;
      const body = req.body as Record<string, unknown>;
      const bulk = body.type === 'FeatureCollection';
      const bytes = received.get(req)?.bytes ?? Number(req.headers['content-length'] ?? 0);
      if (!bulk && bytes > limits.item) {
        o.onReject?.('body_too_large');
        throw tooLarge(`a single STAC item is limited to ${limits.item} bytes, like PUT (this body has ${bytes}); several items may be sent as an ItemCollection of up to ${limits.itemCollection} bytes`);
      }
      const storage = await o.storage();
      const coll = await collectionOf(storage, cid);
      let docs: StacDoc[];
      try {
        if (bulk) {
          const features = body.features;
          if (!Array.isArray(features) || features.length === 0) throw badRequest('features: an ItemCollection needs a non-empty features array');
          if (features.length > maxBulk) throw badRequest(`features: at most ${maxBulk} items per request`);
          docs = [];
          // Up to maxBulk items and the whole cap of JSON: checked in slices, so the loop is never held for all of it.
          const slicer = new LoopSlicer();
          for (let i = 0; i < features.length; i++) {
            const f: unknown = features[i];
            let size: number;
            try {
              size = Buffer.byteLength(JSON.stringify(f) ?? '');
            } catch {
              // JSON.stringify throws RangeError on nesting deeper than V8's stack: no item is that deep.
              throw badRequest(`features.${i}: the item cannot be serialised (nested too deeply)`);
            }
            if (size > limits.item) {
              const id = typeof (f as { id?: unknown })?.id === 'string' ? ` (${JSON.stringify((f as { id: string }).id).slice(0, 80)})` : '';
              throw tooLarge(`features.${i}${id}: an item is limited to ${limits.item} bytes as compact JSON (this one has ${size}); nothing in this ItemCollection was registered`);
            }
            await slicer.maybeYield();
            const doc = await prepareItem(f, cid, o.checkHref, `features.${i}.`, slicer);
            docBytes.set(doc, size);
            docs.push(doc);
            await slicer.maybeYield();
          }
          const ids = new Set(docs.map((d) => d.id));
          if (ids.size !== docs.length) throw badRequest('features: item ids must be unique within one ItemCollection');
        } else {
          // The body was just parsed in this same stretch: let the loop breathe before validating it.
          if (bytes > 64 * 1024) await yieldNow();
          const doc = await prepareItem(body, cid, o.checkHref);
          docBytes.set(doc, bytes);
          docs = [doc];
        }
      } catch (err) {
        const reason = !(err instanceof HttpProblem) ? 'stac_item_invalid' : err.code === 'SW_ERR_ASSET_HREF' ? 'asset_href' : err.status === 413 ? 'body_too_large' : 'stac_item_invalid';
        o.onReject?.(reason);
        throw err;
      }
      const plans = docs.map((doc) => ({ doc, taskId: imagerySceneTaskId(cid, doc.id), queue: queueFor(doc, coll) }));
      let regs: Registration[];
      if (bulk) regs = await writeAll(storage, plans, 'insert');
      else {
        // One item: committed together with the other POSTs in flight (group commit).
        const p = plans[0]!;
        const r = await batcher.register({ ...p, bytes: docBytes.get(p.doc) ?? bytes });
        if (r.conflict) throw conflictProblem(p.doc);
        regs = [{ itemId: p.doc.id, taskId: p.taskId, status: r.status, queue: p.queue, created: r.created }];
      }
      await enqueueAll(transport, cid, regs);
      if (!bulk) return accepted(reply, regs[0]!);
      return reply.code(202).send({ tasks: regs.map((r) => ({ itemId: r.itemId, taskId: r.taskId, status: r.status, queue: r.queue, created: r.created, location: `/tasks/${encodeURIComponent(r.taskId)}` })) });
    },
  );

  app.put<{ Params: { collectionId: string; itemId: string }; Body: unknown }>(
    '/collections/:collectionId/items/:itemId',
    {
      onRequest,
      bodyLimit: limits.item,
      config: { bodyLimitHint: `one STAC item is limited to ${limits.item} bytes` },
      schema: {
        operationId: 'replaceItem',
        summary: 'Replace a stored STAC item',
        params: itemParams,
        body: Type.Object({}, { additionalProperties: true, description: `A STAC Item replacing the stored one (at most ${limits.item} bytes)` }),
        documentedResponse: {
          200: inMediaType('application/geo+json', ItemDoc, 'Replaced; its task had already run, so it is not queued again: the item as stored'),
          202: { description: 'Replaced and its task queued; Location is the task', headers: { location: { type: 'string', description: '/tasks/{id}' } }, content: { 'application/json': { schema: RegistrationDoc } } },
        },
      },
    },
    async (req, reply) => {
      const transport = needTransport();
      const { collectionId: cid, itemId } = req.params;
      const storage = await o.storage();
      const coll = await collectionOf(storage, cid);
      const doc = await prepareItem(req.body, cid, o.checkHref);
      if (doc.id !== itemId) throw badRequest(`id: the body's id ${JSON.stringify(doc.id)} differs from the path's ${itemId}`);
      if (!(await itemExists(storage.db, cid, itemId))) throw notFound(`item ${itemId} does not exist in collection ${cid} (POST creates items)`);
      const [reg] = await writeAll(storage, [{ doc, taskId: imagerySceneTaskId(cid, itemId), queue: queueFor(doc, coll) }], 'replace');
      await enqueueAll(transport, cid, [reg!]);
      // A task that already ran is not rerun by a replacement (the tile pipeline decides reprocessing).
      if (reg!.status === 'queued') return accepted(reply, reg!);
      // As a GET would serve it: the server's navigation links, the item's own after them.
      return reply.code(200).type('application/geo+json').send(withItemLinks(rootOf(req), doc));
    },
  );

  app.delete<{ Params: { collectionId: string; itemId: string } }>(
    '/collections/:collectionId/items/:itemId',
    { onRequest, schema: { operationId: 'deleteItem', summary: 'Delete a stored STAC item', params: itemParams, documentedResponse: { 204: noBody('Deleted') } } },
    async (req, reply) => {
      const storage = await o.storage();
      if (!(await deleteItem(storage.db, req.params.collectionId, req.params.itemId))) {
        throw notFound(`item ${req.params.itemId} does not exist in collection ${req.params.collectionId}`);
      }
      return reply.code(204).send();
    },
  );
};
