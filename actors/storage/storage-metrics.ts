/**
 * Storage metrics of a host (issue 11): the hot cache's dropped writes,
 * failed reads and availability, and database errors by kind.
 *
 *   sw_cache_dropped_writes_total   writes lost because the cache backend was unavailable
 *   sw_cache_failed_reads_total     reads answered as a miss because it was unavailable
 *   sw_cache_available              1 while the cache backend is connected (a memory cache: always)
 *   sw_db_errors_total{kind}        database errors of this process (db-errors.ts kinds)
 *
 * The values are read at scrape time from the cache's own counters
 * (HotCache.stats()) and the process's database error tally, so nothing on a
 * hot path changes. Register once per registry (a second call on the same
 * registry is a no-op that switches the storage it reads): each host that
 * uses storage calls it with its own registry.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { DB_ERROR_KINDS, dbErrorCounts } from './db-errors.js';
import type { HotCache } from './cache.js';

const sources = new WeakMap<Registry, { cache: () => HotCache | null }>();

/** Export the cache and database metrics above on `registry`; `cache` returns the host's cache once storage is open (null before). */
export function registerStorageMetrics(registry: Registry, cache: () => HotCache | null): void {
  const known = sources.get(registry);
  if (known) {
    known.cache = cache;
    return;
  }
  const src = { cache };
  sources.set(registry, src);
  const registers = [registry];
  /** A counter following a monotonic source: grows by the source's increase; a reset source (a reopened cache) restarts from its value. */
  const follow = (name: string, help: string, read: (c: HotCache) => number) => {
    let last = 0;
    let lastCache: HotCache | null = null;
    new Counter({
      name,
      help,
      registers,
      collect() {
        const c = src.cache();
        if (!c) return;
        const v = read(c);
        if (c !== lastCache) {
          lastCache = c;
          last = 0;
        }
        if (v > last) this.inc(v - last);
        last = v;
      },
    });
  };
  follow('sw_cache_dropped_writes_total', 'Hot-cache writes lost because the cache backend was unavailable', (c) => c.stats().droppedWrites);
  follow('sw_cache_failed_reads_total', 'Hot-cache reads answered as a miss because the cache backend was unavailable', (c) => c.stats().failedReads);
  new Gauge({
    name: 'sw_cache_available',
    help: '1 while the hot-cache backend is connected (a memory cache always is)',
    registers,
    collect() {
      const c = src.cache();
      if (c) this.set(c.stats().available ? 1 : 0);
    },
  });
  const seen = new Map<string, number>();
  const dbErrors = new Counter({
    name: 'sw_db_errors_total',
    help: 'Database errors of this process, by kind (connection, pool_timeout, closed, timeout, query)',
    labelNames: ['kind'],
    registers,
    collect() {
      const now = dbErrorCounts();
      for (const k of DB_ERROR_KINDS) {
        const d = now[k] - (seen.get(k) ?? 0);
        if (d > 0) this.inc({ kind: k }, d);
        seen.set(k, now[k]);
      }
    },
  });
  for (const k of DB_ERROR_KINDS) dbErrors.inc({ kind: k }, 0);
}
