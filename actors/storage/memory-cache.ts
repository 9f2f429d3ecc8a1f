/** The embedded-mode HotCache: three bounded Maps in this process. */
import { checkNorad, checkShard, checkTaskId, DEFAULT_TASK_TTL_MS, type CacheStats, type CacheValue, type HotCache, type RefillHook } from './cache.js';

type Kind = 'sat' | 'frame' | 'task';

interface Entry {
  json: string;
  expiresAt: number;
}

export interface MemoryCacheOptions {
  /** Entries per kind before the oldest written is evicted; default 1,000,000. */
  maxEntries?: number;
  now?: () => number;
}

export class MemoryCache implements HotCache {
  readonly kind = 'memory' as const;
  readonly #maps = { sat: new Map<string, Entry>(), frame: new Map<string, Entry>(), task: new Map<string, Entry>() };
  /** Binary shard frames; at most 65,536 keys (one per shard), so no eviction. */
  readonly #frameBytes = new Map<number, Uint8Array>();
  readonly #max: number;
  readonly #now: () => number;
  readonly #hooks: RefillHook[] = [];
  readonly #stats = { hits: 0, misses: 0, writes: 0, droppedWrites: 0, failedReads: 0, refills: 0 };
  #closed = false;

  constructor(options: MemoryCacheOptions = {}) {
    this.#max = options.maxEntries ?? 1_000_000;
    this.#now = options.now ?? Date.now;
  }

  // Values are stored as JSON so callers get a copy, as from Redis, never a shared object.
  #set(kind: Kind, key: string, value: CacheValue, ttlMs = 0): void {
    if (this.#closed) {
      this.#stats.droppedWrites++;
      return;
    }
    const map = this.#maps[kind];
    map.delete(key);
    map.set(key, { json: JSON.stringify(value), expiresAt: ttlMs > 0 ? this.#now() + ttlMs : Infinity });
    if (map.size > this.#max) map.delete(map.keys().next().value!);
    this.#stats.writes++;
  }

  #get<T>(kind: Kind, key: string): T | null {
    const e = this.#maps[kind].get(key);
    if (!e || e.expiresAt <= this.#now()) {
      if (e) this.#maps[kind].delete(key);
      this.#stats.misses++;
      return null;
    }
    this.#stats.hits++;
    return JSON.parse(e.json) as T;
  }

  async setSatelliteState(noradId: number, state: CacheValue): Promise<void> {
    this.#set('sat', String(checkNorad(noradId)), state);
  }
  async setSatelliteStates(entries: ReadonlyArray<readonly [number, CacheValue]>): Promise<void> {
    for (const [id, state] of entries) this.#set('sat', String(checkNorad(id)), state);
  }
  async getSatelliteState<T extends CacheValue>(noradId: number): Promise<T | null> {
    return this.#get<T>('sat', String(checkNorad(noradId)));
  }
  async getSatelliteStates<T extends CacheValue>(noradIds: readonly number[]): Promise<Array<T | null>> {
    return noradIds.map((id) => this.#get<T>('sat', String(checkNorad(id))));
  }
  async setShardFrame(shard: number, frame: CacheValue): Promise<void> {
    this.#set('frame', String(checkShard(shard)), frame);
  }
  async getShardFrame<T extends CacheValue>(shard: number): Promise<T | null> {
    return this.#get<T>('frame', String(checkShard(shard)));
  }
  async setShardFrameBytes(entries: ReadonlyArray<readonly [number, Uint8Array]>): Promise<void> {
    for (const [shard] of entries) checkShard(shard);
    for (const [shard, bytes] of entries) {
      if (this.#closed) {
        this.#stats.droppedWrites++;
        continue;
      }
      // A copy, as Redis would hold: the caller may reuse its buffer.
      this.#frameBytes.set(shard, new Uint8Array(bytes));
      this.#stats.writes++;
    }
  }
  async getShardFrameBytes(shard: number): Promise<Uint8Array | null> {
    const b = this.#frameBytes.get(checkShard(shard));
    if (b === undefined) {
      this.#stats.misses++;
      return null;
    }
    this.#stats.hits++;
    return new Uint8Array(b);
  }
  async setTaskStatus(taskId: string, status: CacheValue, ttlMs = DEFAULT_TASK_TTL_MS): Promise<void> {
    this.#set('task', checkTaskId(taskId), status, ttlMs);
  }
  async setTaskStatuses(entries: ReadonlyArray<readonly [string, CacheValue]>, ttlMs = DEFAULT_TASK_TTL_MS): Promise<void> {
    for (const [id, status] of entries) this.#set('task', checkTaskId(id), status, ttlMs);
  }
  async getTaskStatus<T extends CacheValue>(taskId: string): Promise<T | null> {
    return this.#get<T>('task', checkTaskId(taskId));
  }

  /** Memory never goes away while the process lives: run the hook once now to warm the cache. */
  onRefill(hook: RefillHook): void {
    this.#hooks.push(hook);
    hook(this).then(
      () => this.#stats.refills++,
      () => {},
    );
  }

  stats(): CacheStats {
    return { ...this.#stats, available: !this.#closed };
  }

  async clear(): Promise<void> {
    for (const m of Object.values(this.#maps)) m.clear();
    this.#frameBytes.clear();
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.clear();
  }
}
