/**
 * The cluster-mode HotCache on Redis (ioredis). Commands fail fast while
 * Redis is unreachable (no offline queue, a command timeout), and every
 * failure is turned into a counted miss or dropped write: the cache must
 * never be the reason a request fails. On every `ready` (first connect and
 * each reconnect) the refill hooks run.
 *
 * Nothing is dropped silently (issue 11): stats() counts dropped writes and
 * failed reads and says whether Redis is available (storage-metrics.ts
 * exports them as sw_cache_*), and the first write dropped while Redis is
 * unreachable is reported through onError, once per outage.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { StorageArgumentError } from './errors.js';
import { checkNorad, checkShard, checkTaskId, DEFAULT_TASK_TTL_MS, type CacheStats, type CacheValue, type HotCache, type RefillHook } from './cache.js';

export interface RedisCacheOptions {
  url: string;
  /** AUTH password when the URL has none (config redis.password). */
  password?: string;
  /** Key prefix, e.g. the cluster namespace; keys are `<prefix>:sat:<id>` etc. */
  prefix: string;
  /** Per-command timeout; default 1000 ms. */
  commandTimeoutMs?: number;
  /** Longest wait between reconnect attempts; default 2000 ms. */
  maxReconnectDelayMs?: number;
  onError?: (err: unknown) => void;
}

/** Key/value arguments per MSET (1,000 states). */
const MSET_CHUNK_ARGS = 2000;

export class RedisCache implements HotCache {
  readonly kind = 'redis' as const;
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #hooks: RefillHook[] = [];
  readonly #stats = { hits: 0, misses: 0, writes: 0, droppedWrites: 0, failedReads: 0, refills: 0 };
  readonly #onError: (err: unknown) => void;
  #refilling: Promise<void> | undefined;
  #closed = false;
  /** Set once a write was dropped for want of a connection; cleared on ready (one report per outage). */
  #dropping = false;

  constructor(options: RedisCacheOptions) {
    if (!/^[A-Za-z0-9_.:-]{1,100}$/.test(options.prefix)) throw new StorageArgumentError('cache prefix must be 1..100 of [A-Za-z0-9_.:-]');
    this.#prefix = options.prefix;
    this.#onError = options.onError ?? (() => {});
    const maxDelay = options.maxReconnectDelayMs ?? 2000;
    const redisOptions: RedisOptions = {
      lazyConnect: false,
      // Fail fast instead of queueing while disconnected: a queued write would
      // hold the caller until Redis returns.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs ?? 1000,
      connectTimeout: 2000,
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), maxDelay),
      ...(options.password && !new URL(options.url).password ? { password: options.password } : {}),
    };
    this.#redis = new Redis(options.url, redisOptions);
    // Without a listener an 'error' event would crash the process.
    this.#redis.on('error', (err) => this.#onError(err));
    this.#redis.on('ready', () => {
      this.#dropping = false;
      this.#refill();
    });
  }

  /** Resolves once connected (or rejects after `timeoutMs`); the cache works either way. */
  async waitReady(timeoutMs = 5000): Promise<boolean> {
    if (this.#redis.status === 'ready') return true;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#redis.off('ready', onReady);
        resolve(false);
      }, timeoutMs);
      const onReady = () => {
        clearTimeout(t);
        resolve(true);
      };
      this.#redis.once('ready', onReady);
    });
  }

  #refill(): void {
    if (this.#hooks.length === 0 || this.#refilling) return;
    this.#refilling = (async () => {
      try {
        for (const hook of this.#hooks) await hook(this);
        this.#stats.refills++;
      } catch (err) {
        this.#onError(err);
      } finally {
        this.#refilling = undefined;
      }
    })();
  }

  /** The refill in progress, if any (tests wait on it). */
  get refilling(): Promise<void> | undefined {
    return this.#refilling;
  }

  #key(kind: string, id: string | number): string {
    return `${this.#prefix}:${kind}:${id}`;
  }

  async #write(fn: (r: Redis) => Promise<unknown>, count: number): Promise<void> {
    if (this.#closed || this.#redis.status !== 'ready') {
      this.#stats.droppedWrites += count;
      if (!this.#closed && !this.#dropping) {
        this.#dropping = true;
        this.#onError(new Error(`Redis unavailable (${this.#redis.status}): dropping cache writes until it reconnects (counted in sw_cache_dropped_writes_total)`));
      }
      return;
    }
    try {
      const out = await fn(this.#redis);
      // A pipeline resolves with per-command [err, result] pairs.
      if (Array.isArray(out)) {
        const failed = out.filter((x) => Array.isArray(x) && x[0]).length;
        this.#stats.droppedWrites += failed;
        this.#stats.writes += count - failed;
      } else this.#stats.writes += count;
    } catch (err) {
      this.#stats.droppedWrites += count;
      this.#onError(err);
    }
  }

  async #read(keys: string[]): Promise<Array<string | null>> {
    if (this.#closed || this.#redis.status !== 'ready') {
      this.#stats.failedReads += keys.length;
      this.#stats.misses += keys.length;
      return keys.map(() => null);
    }
    try {
      const out = keys.length === 1 ? [await this.#redis.get(keys[0]!)] : await this.#redis.mget(keys);
      for (const v of out) v === null ? this.#stats.misses++ : this.#stats.hits++;
      return out;
    } catch (err) {
      this.#stats.failedReads += keys.length;
      this.#stats.misses += keys.length;
      this.#onError(err);
      return keys.map(() => null);
    }
  }

  #parse<T>(v: string | null): T | null {
    if (v === null) return null;
    try {
      return JSON.parse(v) as T;
    } catch {
      return null; // a foreign or corrupt value is a miss, not a crash
    }
  }

  async setSatelliteState(noradId: number, state: CacheValue): Promise<void> {
    const key = this.#key('sat', checkNorad(noradId));
    return this.#write((r) => r.set(key, JSON.stringify(state)), 1);
  }
  async setSatelliteStates(entries: ReadonlyArray<readonly [number, CacheValue]>): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    // MSET in chunks rather than a pipeline of SETs: the same keys and values
    // (no TTL on states), at a fifth to a tenth of the client CPU per key —
    // a tracker host writes up to tens of thousands of states per second.
    const args: string[] = [];
    for (const [id, s] of entries) args.push(this.#key('sat', checkNorad(id)), JSON.stringify(s));
    return this.#write((r) => {
      const chunks: Array<Promise<unknown>> = [];
      for (let i = 0; i < args.length; i += MSET_CHUNK_ARGS) chunks.push(r.mset(args.slice(i, i + MSET_CHUNK_ARGS)));
      return Promise.all(chunks);
    }, entries.length);
  }
  async getSatelliteState<T extends CacheValue>(noradId: number): Promise<T | null> {
    const [v] = await this.#read([this.#key('sat', checkNorad(noradId))]);
    return this.#parse<T>(v ?? null);
  }
  async getSatelliteStates<T extends CacheValue>(noradIds: readonly number[]): Promise<Array<T | null>> {
    if (noradIds.length === 0) return [];
    const out = await this.#read(noradIds.map((id) => this.#key('sat', checkNorad(id))));
    return out.map((v) => this.#parse<T>(v));
  }
  async setShardFrame(shard: number, frame: CacheValue): Promise<void> {
    const key = this.#key('frame', checkShard(shard));
    return this.#write((r) => r.set(key, JSON.stringify(frame)), 1);
  }
  async getShardFrame<T extends CacheValue>(shard: number): Promise<T | null> {
    const [v] = await this.#read([this.#key('frame', checkShard(shard))]);
    return this.#parse<T>(v ?? null);
  }
  async setShardFrameBytes(entries: ReadonlyArray<readonly [number, Uint8Array]>): Promise<void> {
    if (entries.length === 0) return;
    // One MSET: every shard's frame of a tick in one round trip. Buffer
    // values go to Redis byte for byte (no string conversion).
    const args: Array<string | Buffer> = [];
    for (const [shard, bytes] of entries) args.push(this.#key('frameb', checkShard(shard)), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return this.#write((r) => r.mset(args), entries.length);
  }
  async getShardFrameBytes(shard: number): Promise<Uint8Array | null> {
    const key = this.#key('frameb', checkShard(shard));
    if (this.#closed || this.#redis.status !== 'ready') {
      this.#stats.failedReads++;
      this.#stats.misses++;
      return null;
    }
    try {
      const v = await this.#redis.getBuffer(key);
      v === null ? this.#stats.misses++ : this.#stats.hits++;
      return v === null ? null : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    } catch (err) {
      this.#stats.failedReads++;
      this.#stats.misses++;
      this.#onError(err);
      return null;
    }
  }
  async setTaskStatus(taskId: string, status: CacheValue, ttlMs = DEFAULT_TASK_TTL_MS): Promise<void> {
    const key = this.#key('task', checkTaskId(taskId));
    return this.#write((r) => r.set(key, JSON.stringify(status), 'PX', ttlMs), 1);
  }
  async setTaskStatuses(entries: ReadonlyArray<readonly [string, CacheValue]>, ttlMs = DEFAULT_TASK_TTL_MS): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    const pairs = entries.map(([id, s]) => [this.#key('task', checkTaskId(id)), JSON.stringify(s)] as const);
    return this.#write((r) => {
      const p = r.pipeline();
      for (const [k, v] of pairs) p.set(k, v, 'PX', ttlMs);
      return p.exec();
    }, pairs.length);
  }
  async getTaskStatus<T extends CacheValue>(taskId: string): Promise<T | null> {
    const [v] = await this.#read([this.#key('task', checkTaskId(taskId))]);
    return this.#parse<T>(v ?? null);
  }

  onRefill(hook: RefillHook): void {
    this.#hooks.push(hook);
    if (this.#redis.status === 'ready') this.#refill();
  }

  stats(): CacheStats {
    return { ...this.#stats, available: !this.#closed && this.#redis.status === 'ready' };
  }

  /** SCAN + UNLINK under the prefix (never KEYS: it blocks a busy Redis). */
  async clear(): Promise<void> {
    if (this.#redis.status !== 'ready') return;
    let cursor = '0';
    do {
      const [next, keys] = await this.#redis.scan(cursor, 'MATCH', `${this.#prefix}:*`, 'COUNT', 1000);
      if (keys.length) await this.#redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#refilling;
    if (this.#redis.status === 'ready') await this.#redis.quit().catch(() => this.#redis.disconnect());
    else this.#redis.disconnect();
  }
}
