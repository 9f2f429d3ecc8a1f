/**
 * A real fastify app with the STAC API, the task API and the gateway's
 * problem details, on a free loopback port, over a given database and bus
 * (not a test file). Writes need `Authorization: Bearer <key>` (auth.ts
 * requireApiKey); asset hrefs go through ssrf.ts checkAssetHref with the
 * default NOAA policy.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { apiKeyAuth, requireApiKey } from '../../actors/gateway/auth.js';
import { useProblemDetails } from '../../actors/gateway/errors.js';
import { checkAssetHref, DEFAULT_ASSET_HOSTS, type AssetPolicy } from '../../actors/gateway/ssrf.js';
import { stacPlugin } from '../../actors/gateway/stac/index.js';
import { tasksPlugin } from '../../actors/gateway/tasks.js';
import type { Database } from '../../actors/storage/db.js';
import type { Storage } from '../../actors/storage/index.js';
import { MemoryCache } from '../../actors/storage/memory-cache.js';
import { migrate } from '../../actors/storage/migrate.js';
import type { Transport } from '../../protocol/transport.js';

export const TEST_API_KEY = 'test-key-0123456789abcdef';
export const TEST_ASSET_POLICY: AssetPolicy = { schemes: ['https'], hosts: [...DEFAULT_ASSET_HOSTS], fileRoot: '' };

export interface StacApp {
  app: FastifyInstance;
  base: string;
  storage: Storage;
  close(): Promise<void>;
}

export async function startStacApp(db: Database, transport: Transport | null): Promise<StacApp> {
  await migrate(db);
  const cache = new MemoryCache();
  const storage = { db, cache } as unknown as Storage;
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
  useProblemDetails(app, pino({ level: 'silent' }));
  await app.register(tasksPlugin, { storage: async () => storage });
  await app.register(stacPlugin, {
    storage: async () => storage,
    transport,
    authorize: requireApiKey(apiKeyAuth(TEST_API_KEY)),
    checkHref: (h) => checkAssetHref(h, TEST_ASSET_POLICY),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    app,
    base: `http://127.0.0.1:${port}`,
    storage,
    async close() {
      await app.close();
      await cache.close();
    },
  };
}

/** A valid STAC 1.0.0 item in `collection` with a square footprint at (lon, lat). */
export function testItem(id: string, opts: { lon: number; lat: number; size?: number; datetime?: string; start?: string; end?: string; collection?: string; props?: Record<string, unknown> }): Record<string, unknown> {
  const s = opts.size ?? 1;
  const [w, so, e, n] = [opts.lon - s, opts.lat - s, opts.lon + s, opts.lat + s];
  const collection = opts.collection ?? 'imagery';
  const properties: Record<string, unknown> = opts.start
    ? { datetime: null, start_datetime: opts.start, end_datetime: opts.end }
    : { datetime: opts.datetime ?? '2026-01-01T00:00:00Z' };
  return {
    type: 'Feature',
    stac_version: '1.0.0',
    id,
    collection,
    geometry: { type: 'Polygon', coordinates: [[[w, so], [e, so], [e, n], [w, n], [w, so]]] },
    bbox: [w, so, e, n],
    properties: { ...properties, ...(opts.props ?? {}) },
    links: [{ rel: 'collection', href: `https://example.com/collections/${collection}`, type: 'application/json' }],
    assets: {
      data: { href: `https://noaa-goes19.s3.amazonaws.com/ABI-L1b-RadF/2026/001/00/${id}.nc`, type: 'application/netcdf', roles: ['data'] },
    },
  };
}
