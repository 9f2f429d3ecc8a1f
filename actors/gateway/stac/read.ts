/**
 * The read side of the STAC API 1.0.0: landing page, conformance,
 * collections, items (OGC API Features) and item search (GET and POST).
 * Paging is keyset-based: a `next` link carries an opaque token naming the
 * last item served, so pages neither repeat nor skip items. Pages and items
 * are served from stored JSON text with a byte cap per page (page.ts).
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { StorageArgumentError } from '../../storage/errors.js';
import type { Storage } from '../../storage/index.js';
import { getCollection, listCollections, type StacDoc } from '../../storage/stac.js';
import { badRequest, notFound } from '../errors.js';
import { CONFORMS_TO, GEOJSON, JSON_TYPE, OAS30, rootOf, STAC_VERSION, withCollectionLinks, type Link } from './links.js';
import { inMediaType } from '../openapi.js';
import { CollectionDoc, CollectionsDoc, ConformanceDoc, ItemCollectionDoc, ItemDoc, LandingDoc } from './doc-schemas.js';
import { buildItem, buildItemPage, partsStream } from './page.js';
import { encodeToken, parseSearch, type ParsedSearch } from './params.js';

export interface StacReadOptions {
  storage(): Promise<Storage>;
  /** Path of the OpenAPI document (service-desc); undefined when none is served. */
  openApiPath?: string;
  title?: string;
  description?: string;
  /** Byte cap of one search page, counted on the items' stored sizes (default DEFAULT_PAGE_MAX_BYTES). */
  pageMaxBytes?: number;
}

/** 4 MiB: read and written in slices (page.ts), so the cap bounds memory per request, not a stall. */
export const DEFAULT_PAGE_MAX_BYTES = 4 * 1024 * 1024;

export const IdParam = Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9._:\\-]+$' });
const CollectionParams = Type.Object({ collectionId: IdParam });
const ItemParams = Type.Object({ collectionId: IdParam, itemId: IdParam });
const Str = Type.Optional(Type.String({ maxLength: 20_000 }));
/** Sort extension (GET form): `-properties.datetime,+id`; fields properties.datetime, id, collection. */
const Sortby = Type.Optional(Type.String({ maxLength: 500, description: 'Sort keys, most significant first: comma-separated properties.datetime, id, collection, each with an optional + (ascending, default) or - (descending) prefix' }));
const ItemsQuery = Type.Object({ bbox: Str, datetime: Str, limit: Str, token: Str, sortby: Sortby }, { additionalProperties: true });
const SearchQuery = Type.Object({ bbox: Str, datetime: Str, limit: Str, token: Str, ids: Str, collections: Str, intersects: Str, sortby: Sortby }, { additionalProperties: true });

const ITEM_PAGE = inMediaType(GEOJSON, ItemCollectionDoc, 'A page of items (ItemCollection)');

/** Storage argument errors (geometry, ids) are the client's: 400. */
async function run<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof StorageArgumentError) throw badRequest(err.message);
    throw err;
  }
}

function nextGetHref(req: FastifyRequest, root: string, token: string): string {
  const url = new URL(req.url, root);
  url.searchParams.set('token', token);
  return `${root}${url.pathname}${url.search}`;
}

/** One page of `p`, streamed. `nextLink` makes the next link from a token; `extra` links follow self and root. */
async function sendPage(
  reply: FastifyReply,
  storage: Storage,
  p: ParsedSearch,
  root: string,
  maxBytes: number,
  nextLink: (token: string) => Link,
  selfHref: string,
  extra: Link[] = [],
): Promise<FastifyReply> {
  const page = await run(() =>
    buildItemPage(storage.db, p.search, p.limit, p.after, maxBytes, root, (next) => [
      { rel: 'self', href: selfHref, type: GEOJSON },
      { rel: 'root', href: `${root}/`, type: JSON_TYPE },
      ...extra,
      ...(next ? [nextLink(encodeToken(next))] : []),
    ]),
  );
  return reply.type(GEOJSON).send(partsStream(page.parts));
}

export const stacReadPlugin: FastifyPluginAsync<StacReadOptions> = async (app, o) => {
  const conformsTo = o.openApiPath ? [...CONFORMS_TO, OAS30] : [...CONFORMS_TO];
  const maxBytes = o.pageMaxBytes ?? DEFAULT_PAGE_MAX_BYTES;

  app.get('/', { schema: { operationId: 'getLandingPage', summary: 'STAC API landing page', documentedResponse: { 200: LandingDoc } } }, async (req) => {
    const root = rootOf(req);
    const storage = await o.storage();
    const collections = await listCollections(storage.db);
    const links: Link[] = [
      { rel: 'self', href: `${root}/`, type: JSON_TYPE },
      { rel: 'root', href: `${root}/`, type: JSON_TYPE },
      { rel: 'conformance', href: `${root}/conformance`, type: JSON_TYPE },
      { rel: 'data', href: `${root}/collections`, type: JSON_TYPE },
      { rel: 'search', href: `${root}/search`, type: GEOJSON, method: 'GET' },
      { rel: 'search', href: `${root}/search`, type: GEOJSON, method: 'POST' },
      ...(o.openApiPath ? [{ rel: 'service-desc', href: `${root}${o.openApiPath}`, type: 'application/vnd.oai.openapi+json;version=3.0' }] : []),
      ...collections.map((c) => ({ rel: 'child', href: `${root}/collections/${encodeURIComponent(c.id)}`, type: JSON_TYPE, ...(typeof c.title === 'string' ? { title: c.title } : {}) })),
    ];
    return {
      type: 'Catalog',
      stac_version: STAC_VERSION,
      id: 'starweather',
      title: o.title ?? 'StarWeather',
      description: o.description ?? 'Weather-satellite imagery (GOES-East, GOES-West, Himawari-9) registered as STAC items',
      conformsTo,
      links,
    };
  });

  app.get('/conformance', { schema: { operationId: 'getConformance', summary: 'Conformance classes this API implements', documentedResponse: { 200: ConformanceDoc } } }, async () => ({ conformsTo }));

  app.get('/collections', { schema: { operationId: 'listCollections', summary: 'Every collection', documentedResponse: { 200: CollectionsDoc } } }, async (req) => {
    const root = rootOf(req);
    const storage = await o.storage();
    const collections = (await listCollections(storage.db)).map((c) => withCollectionLinks(root, c));
    return {
      collections,
      links: [
        { rel: 'self', href: `${root}/collections`, type: JSON_TYPE },
        { rel: 'root', href: `${root}/`, type: JSON_TYPE },
        { rel: 'parent', href: `${root}/`, type: JSON_TYPE },
      ],
    };
  });

  app.get<{ Params: { collectionId: string } }>('/collections/:collectionId', { schema: { operationId: 'getCollection', summary: 'One collection', params: CollectionParams, documentedResponse: { 200: CollectionDoc } } }, async (req) => {
    const storage = await o.storage();
    const c = await getCollection(storage.db, req.params.collectionId);
    if (!c) throw notFound(`collection ${req.params.collectionId} does not exist`);
    return withCollectionLinks(rootOf(req), c);
  });

  app.get<{ Params: { collectionId: string }; Querystring: Record<string, unknown> }>(
    '/collections/:collectionId/items',
    { schema: { operationId: 'listCollectionItems', summary: 'Items of a collection, a page at a time (bbox, datetime, sortby)', params: CollectionParams, querystring: ItemsQuery, documentedResponse: { 200: ITEM_PAGE } } },
    async (req, reply) => {
      const root = rootOf(req);
      const id = req.params.collectionId;
      const storage = await o.storage();
      if (!(await getCollection(storage.db, id))) throw notFound(`collection ${id} does not exist`);
      const p = parseSearch(req.query, id);
      return sendPage(reply, storage, p, root, maxBytes, (token) => ({ rel: 'next', href: nextGetHref(req, root, token), type: GEOJSON, method: 'GET' }), `${root}${req.url}`, [
        { rel: 'collection', href: `${root}/collections/${encodeURIComponent(id)}`, type: JSON_TYPE },
      ]);
    },
  );

  app.get<{ Params: { collectionId: string; itemId: string } }>('/collections/:collectionId/items/:itemId', { schema: { operationId: 'getItem', summary: 'One item', params: ItemParams, documentedResponse: { 200: inMediaType(GEOJSON, ItemDoc, 'The item') } } }, async (req, reply) => {
    const storage = await o.storage();
    const parts = await run(() => buildItem(storage.db, rootOf(req), req.params.collectionId, req.params.itemId));
    if (!parts) throw notFound(`item ${req.params.itemId} does not exist in collection ${req.params.collectionId}`);
    return reply.type(GEOJSON).send(partsStream(parts));
  });

  app.get<{ Querystring: Record<string, unknown> }>('/search', { schema: { operationId: 'searchItemsGet', summary: 'Item search (GET): bbox, datetime, ids, collections, intersects, sortby', querystring: SearchQuery, documentedResponse: { 200: ITEM_PAGE } } }, async (req, reply) => {
    const root = rootOf(req);
    const p = parseSearch(req.query);
    return sendPage(reply, await o.storage(), p, root, maxBytes, (token) => ({ rel: 'next', href: nextGetHref(req, root, token), type: GEOJSON, method: 'GET' }), `${root}${req.url}`);
  });

  app.post<{ Body: Record<string, unknown> }>('/search', { schema: { operationId: 'searchItemsPost', summary: 'Item search (POST): the same parameters as a JSON body', body: Type.Object({}, { additionalProperties: true }), documentedResponse: { 200: ITEM_PAGE } } }, async (req, reply) => {
    const root = rootOf(req);
    const input = req.body ?? {};
    const p = parseSearch(input);
    // POST paging (STAC API item-search): the next link repeats the body with the new token.
    return sendPage(
      reply,
      await o.storage(),
      p,
      root,
      maxBytes,
      (token) => ({ rel: 'next', href: `${root}/search`, type: GEOJSON, method: 'POST', body: { ...input, token }, merge: false }),
      `${root}/search`,
    );
  });
};

export type { StacDoc };
