/**
 * Rendered tile-pipeline products (enhanced IR, cloud-top height; PNG and
 * WebP): GET /products/{collection}/{item}/{name}, the hrefs the finalize
 * step puts in the item's assets. The database holds every product, so any
 * gateway can serve any scene; this node's file store is the L2 cache in
 * front of it. Strong ETags (SHA-256 of the bytes) answer If-None-Match with
 * 304; products of a scene change only when the scene is reprocessed, so
 * caches may keep them an hour and must revalidate after.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { Storage } from '../storage/index.js';
import { noBody } from './openapi.js';
import { getProduct, productEtag, sceneFileKey } from '../storage/tile-results.js';
import { notFound } from './errors.js';

export interface ProductsOptions {
  storage(): Promise<Storage>;
}

export const PRODUCT_CACHE_CONTROL = 'public, max-age=3600, must-revalidate';

const MEDIA: Record<string, string> = { png: 'image/png', webp: 'image/webp' };

function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  // A list of tags, weak or strong (RFC 9110 13.1.2: If-None-Match uses the weak comparison).
  return ifNoneMatch.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '');
    return tag === '*' || tag === etag;
  });
}

export const productsPlugin: FastifyPluginAsync<ProductsOptions> = async (app, o) => {
  const id = Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9._:\\-]+$' });
  const params = Type.Object({ collection: id, item: id, name: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,58}\\.(png|webp)$' }) });
  app.get<{ Params: { collection: string; item: string; name: string } }>('/products/:collection/:item/:name',
    {
      schema: {
        operationId: 'getProduct',
        summary: 'A rendered imagery product (PNG or WebP), with a strong ETag',
        params,
        documentedResponse: {
          200: {
            description: 'The image',
            headers: { etag: { type: 'string', description: 'Strong: SHA-256 of the bytes' } },
            content: { 'image/png': { schema: { type: 'string', format: 'binary' } }, 'image/webp': { schema: { type: 'string', format: 'binary' } } },
          },
          304: noBody('If-None-Match matched the ETag'),
        },
      },
    },
    async (req, reply) => {
    const { collection, item, name } = req.params;
    const storage = await o.storage();
    const key = sceneFileKey('products', collection, item, name);
    const type = MEDIA[name.slice(name.lastIndexOf('.') + 1)]!;
    const send = (etag: string, body: Buffer | Uint8Array | null) => {
      reply.header('etag', etag).header('cache-control', PRODUCT_CACHE_CONTROL).header('x-content-type-options', 'nosniff');
      if (matches(req.headers['if-none-match'], etag) || body === null) return reply.code(304).send();
      return reply.type(type).send(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
    };
    // The database decides whether the product exists (a cached file of a deleted or re-rendered product must not win).
    const etag = await productEtag(storage.db, collection, item, name);
    if (etag === null) throw notFound(`no product ${name} for item ${collection}/${item}`);
    if (matches(req.headers['if-none-match'], etag)) return send(etag, null);
    const cached = await storage.files.get(key).catch(() => null);
    if (cached && cached.etag === etag) return send(etag, cached.data);
    const p = await getProduct(storage.db, collection, item, name);
    if (!p) throw notFound(`no product ${name} for item ${collection}/${item}`);
    await storage.files.put(key, p.data).catch((err) => req.log.warn({ err }, 'product not cached'));
    return send(p.etag, p.data);
    },
  );
};
