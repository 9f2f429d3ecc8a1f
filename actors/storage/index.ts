/**
 * The storage layer: the database (PostgreSQL or embedded PGlite), the hot
 * cache (Redis or memory) and the tile file store, chosen from config.
 * `openStorage` migrates the schema and creates the coming metric partitions
 * before it returns.
 */
import { join, resolve } from 'node:path';
import type { Config } from '../../config/load.js';
import type { HotCache } from './cache.js';
import type { Database } from './db.js';
import { FileStore, type Files } from './file-store.js';
import { taskStatusRefill } from './hot-state.js';
import { MemoryCache } from './memory-cache.js';
import { migrate, type MigrateResult } from './migrate.js';
import { startPartitionMaintenance, type PartitionMaintenance } from './partitions.js';
import { openPg } from './pg.js';
import { openPglite } from './pglite.js';
import { RedisCache } from './redis-cache.js';

export * from './errors.js';
export * from './db.js';
export * from './cache.js';
export { openPg, type PgOptions } from './pg.js';
export { openPglite, type PgliteOptions } from './pglite.js';
export { migrate, checksum, type Migration, type MigrateResult } from './migrate.js';
export { MIGRATIONS } from './migrations/index.js';
export { MemoryCache } from './memory-cache.js';
export { RedisCache } from './redis-cache.js';
export { FileStore, keyPath, etagOf, type Files, type StoredFile, type FileStoreStats } from './file-store.js';
export * from './hot-state.js';
export * as partitions from './partitions.js';
export * as catalog from './catalog.js';
export * as elementSets from './element-sets.js';
export * as stac from './stac.js';
export * as tasks from './tasks.js';
export * as alerts from './alerts.js';
export * as deadLetters from './dead-letters.js';
export * as weatherMetrics from './weather-metrics.js';
export * as ingestRuns from './ingest-runs.js';

export interface Storage {
  db: Database;
  cache: HotCache;
  files: Files;
  migration: MigrateResult;
  maintenance: PartitionMaintenance;
  close(): Promise<void>;
}

export type StorageConfig = Pick<Config, 'dataDir' | 'namespace' | 'database' | 'redis' | 'storage'>;

export interface OpenStorageOptions {
  /** Reported cache and maintenance errors (a logger's warn). */
  onError?: (err: unknown) => void;
  /** Schema for search_path (PostgreSQL); default `public`. */
  schema?: string;
}

export async function openStorage(cfg: StorageConfig, options: OpenStorageOptions = {}): Promise<Storage> {
  const onError = options.onError ?? (() => {});
  const db = cfg.database.url
    ? await openPg({ url: cfg.database.url, password: cfg.database.password, ...(options.schema ? { schema: options.schema } : {}) })
    : await openPglite({ dataDir: resolve(cfg.dataDir, 'pglite'), ...(options.schema ? { schema: options.schema } : {}) });
  let cache: HotCache | undefined;
  let maintenance: PartitionMaintenance | undefined;
  try {
    const migration = await migrate(db);
    maintenance = startPartitionMaintenance(db, {
      aheadMonths: cfg.storage.partitionsAheadMonths,
      retentionMonths: cfg.storage.metricsRetentionMonths,
      onError,
    });
    await maintenance.runOnce();
    if (cfg.redis.url) {
      const redis = new RedisCache({ url: cfg.redis.url, password: cfg.redis.password, prefix: cfg.namespace, onError });
      cache = redis;
      // Give Redis a moment so the first writes are not dropped; a node still starts without it.
      if (!(await redis.waitReady(3000))) onError(new Error(`Redis at ${cfg.redis.url.replace(/:[^:@/]*@/, ':***@')} not ready; running on PostgreSQL until it is`));
    } else cache = new MemoryCache();
    cache.onRefill(taskStatusRefill(db));
    const files = await FileStore.open({
      root: cfg.storage.tileCacheDir ? resolve(cfg.storage.tileCacheDir) : join(resolve(cfg.dataDir), 'tiles'),
      maxBytes: cfg.storage.tileCacheMaxBytes,
    });
    const c = cache;
    const m = maintenance;
    return {
      db,
      cache: c,
      files,
      migration,
      maintenance: m,
      async close() {
        m.stop();
        await c.close();
        await db.close();
      },
    };
  } catch (err) {
    maintenance?.stop();
    await cache?.close().catch(() => {});
    await db.close().catch(() => {});
    throw err;
  }
}
