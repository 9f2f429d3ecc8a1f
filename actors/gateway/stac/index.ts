/**
 * The STAC API on the gateway: read side (read.ts), item transactions
 * (transactions.ts) and the default collections, created at registration.
 */
import type { FastifyPluginAsync } from 'fastify';
import { ensureDefaultCollections } from './collections.js';
import { stacReadCacheControl } from './links.js';
import { stacReadPlugin, type StacReadOptions } from './read.js';
import { stacWritePlugin, type StacWriteOptions } from './transactions.js';

export type StacOptions = StacReadOptions & StacWriteOptions;

export const stacPlugin: FastifyPluginAsync<StacOptions> = async (app, o) => {
  await ensureDefaultCollections((await o.storage()).db);
  // Set before the handler: an error answer replaces it with no-store (errors.ts sendProblem).
  app.addHook('onRequest', (req, reply, done) => {
    if (req.method === 'GET' || req.method === 'HEAD') reply.header('cache-control', stacReadCacheControl(req));
    done();
  });
  await app.register(stacReadPlugin, o);
  await app.register(stacWritePlugin, o);
};

export { validateItem } from './validate.js';
export { DEFAULT_COLLECTIONS, ensureDefaultCollections, queueFor } from './collections.js';
export { CONFORMS_TO } from './links.js';
