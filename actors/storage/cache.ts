/**
 * L1 hot-state cache: the latest state per satellite, the latest frame per
 * shard and task status. Redis in cluster mode, memory when embedded; both
 * implement this interface and pass the same tests.
 *
 * The cache is never the system of record. When its backend is down, reads
 * answer a miss (the caller falls back to PostgreSQL), writes are dropped and
 * counted, and no error reaches the caller. When the backend comes back, the
 * refill hooks run so the cache is rebuilt from PostgreSQL.
 */
import { StorageArgumentError } from './errors.js';

export type CacheValue = Record<string, unknown>;

export interface CacheStats {
  hits: number;
  misses: number;
  writes: number;
  /** Writes lost because the backend was unavailable. */
  droppedWrites: number;
  /** Reads answered as a miss because the backend was unavailable. */
  failedReads: number;
  /** Completed refill runs. */
  refills: number;
  available: boolean;
}

export type RefillHook = (cache: HotCache) => Promise<void>;

export interface HotCache {
  readonly kind: 'redis' | 'memory';
  setSatelliteState(noradId: number, state: CacheValue): Promise<void>;
  /** Several states in one round trip (pipelined on Redis). */
  setSatelliteStates(entries: ReadonlyArray<readonly [number, CacheValue]>): Promise<void>;
  getSatelliteState<T extends CacheValue = CacheValue>(noradId: number): Promise<T | null>;
  getSatelliteStates<T extends CacheValue = CacheValue>(noradIds: readonly number[]): Promise<Array<T | null>>;
  setShardFrame(shard: number, frame: CacheValue): Promise<void>;
  getShardFrame<T extends CacheValue = CacheValue>(shard: number): Promise<T | null>;
  /**
   * Binary-safe latest frame per shard (the tracker's encoded
   * `tracker.state` v1 frame, stored as is), several shards in one round
   * trip (MSET on Redis). Separate keys from the JSON frames above.
   */
  setShardFrameBytes(entries: ReadonlyArray<readonly [number, Uint8Array]>): Promise<void>;
  /** The bytes last written for `shard` (a copy), or null. */
  getShardFrameBytes(shard: number): Promise<Uint8Array | null>;
  /** Task status expires after `ttlMs` (default 24 h): finished tasks need not live forever. */
  setTaskStatus(taskId: string, status: CacheValue, ttlMs?: number): Promise<void>;
  setTaskStatuses(entries: ReadonlyArray<readonly [string, CacheValue]>, ttlMs?: number): Promise<void>;
  getTaskStatus<T extends CacheValue = CacheValue>(taskId: string): Promise<T | null>;
  /** Run `hook` whenever the backend (re)connects; rebuilds what a restart lost. */
  onRefill(hook: RefillHook): void;
  stats(): CacheStats;
  /** Delete every key this cache owns (its prefix). */
  clear(): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_TASK_TTL_MS = 24 * 3_600_000;

export function checkNorad(id: number): number {
  if (!Number.isInteger(id) || id < 1 || id > 999_999_999) throw new StorageArgumentError(`NORAD id must be an integer in 1..999999999 (got ${id})`);
  return id;
}

export function checkShard(shard: number): number {
  if (!Number.isInteger(shard) || shard < 0 || shard > 65_535) throw new StorageArgumentError(`shard must be an integer in 0..65535 (got ${shard})`);
  return shard;
}

export function checkTaskId(id: string): string {
  if (typeof id !== 'string' || !/^[A-Za-z0-9._:\-]{1,200}$/.test(id)) throw new StorageArgumentError('task id must be 1..200 of [A-Za-z0-9._:-]');
  return id;
}
