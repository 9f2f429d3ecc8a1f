/**
 * Storage for a role host on a worker thread (the embedded default, issue
 * 10). The node's main thread opens the storage once (openStorage: PGlite,
 * memory cache, tile file store, partition maintenance), because PGlite
 * allows one opener per data directory and the memory cache and the file
 * store's LRU index are state with one owner. A host thread reaches them so:
 *
 * - database: PGlite through a port straight to the PGlite thread
 *   (pglite.ts attachPgliteClient), so its statements never wait on another
 *   loop; PostgreSQL (DATABASE_URL) through a pool of the thread's own.
 * - cache: the memory cache through the storage bridge below (frames in
 *   protocol/messages/storage-ipc.ts); Redis through a client of its own.
 * - files and maintenance: through the storage bridge.
 *
 * The main thread's side (serveStorage) answers each call on its loop; the
 * cache and file calls are map lookups and small file operations, so the
 * loop that carries the bus stays short.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { Config } from '../../config/load.js';
import { ProtocolError, StarWeatherError } from '../../protocol/errors.js';
import { checkStorageCall, checkStorageReply, type StorageBridgeTarget, type StorageCall, type StorageReply, type StorageStats } from '../../protocol/messages/storage-ipc.js';
import type { BridgeError } from '../../protocol/messages/thread-bridge.js';
import { fromBridgeError, toBridgeError } from '../runtime/transport/thread-wire.js';
import type { CacheStats, CacheValue, HotCache, RefillHook } from './cache.js';
import { StorageArgumentError, StorageError, PathTraversalError } from './errors.js';
import type { Files, FileStoreStats, StoredFile } from './file-store.js';
import { taskStatusRefill } from './hot-state.js';
import type { Storage } from './index.js';
import type { MigrateResult } from './migrate.js';
import type { PartitionMaintenance } from './partitions.js';
import { openPg } from './pg.js';
import { attachPgliteClient, pgliteClient } from './pglite.js';
import { RedisCache } from './redis-cache.js';

/** What a host thread is handed (ThreadHostData.storage); the ports are transferred. */
export interface StorageThreadHandles {
  schema: string;
  db: { kind: 'pglite'; port: MessagePort } | { kind: 'pg' };
  cache: { kind: 'memory' } | { kind: 'redis' };
  files: { root: string; maxBytes: number };
  /** The storage bridge to the main thread. */
  service: MessagePort;
  migration: MigrateResult;
  stats: StorageStats;
}

export interface StorageThreadLaunch {
  handles: StorageThreadHandles;
  transferList: MessagePort[];
  /** Drop the thread's connections (its open PGlite transaction is rolled back); idempotent. */
  release(): void;
}

export interface StorageBridgeOptions {
  /** A call that could not be answered (malformed, or its reply would not clone). */
  onError?: (err: unknown) => void;
}

function ownerStats(storage: Storage): StorageStats {
  return { cache: storage.cache.stats(), files: storage.files.stats() };
}

/**
 * Answer storage-bridge calls arriving on `port` from the storage this
 * thread owns. Returns a function that stops answering and closes the port.
 */
export function serveStorage(storage: Storage, port: MessagePort, options: StorageBridgeOptions = {}): () => void {
  const onError = options.onError ?? (() => {});
  const targets: Record<StorageBridgeTarget, object> = { cache: storage.cache, files: storage.files, maintenance: storage.maintenance };
  let closed = false;
  const post = (reply: StorageReply): void => {
    if (closed) return;
    try {
      port.postMessage(reply);
    } catch (err) {
      // A value that does not clone is answered as an error, not left hanging.
      onError(err);
      port.postMessage({ id: reply.id, ok: false, error: toBridgeError(new StorageError(`storage bridge: the reply could not be sent: ${(err as Error).message}`)), stats: ownerStats(storage) });
    }
  };
  port.on('message', (raw: unknown) => {
    const why = checkStorageCall(raw);
    if (why) {
      const id = (raw as { id?: unknown } | null)?.id;
      const err = new ProtocolError('SW_ERR_SCHEMA', why);
      if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 1) post({ id, ok: false, error: toBridgeError(err), stats: ownerStats(storage) });
      else onError(err);
      return;
    }
    const call = raw as StorageCall;
    const target = targets[call.target] as Record<string, (...args: unknown[]) => Promise<unknown>>;
    Promise.resolve()
      .then(() => target[call.method]!(...call.args))
      .then(
        (value) => post({ id: call.id, ok: true, value: value ?? null, stats: ownerStats(storage) }),
        (err: unknown) => post({ id: call.id, ok: false, error: toBridgeError(err), stats: ownerStats(storage) }),
      );
  });
  return () => {
    if (closed) return;
    closed = true;
    port.close();
  };
}

/** Hand a host thread what it needs to open its storage view (openThreadStorage). */
export function storageThreadHandles(storage: Storage, options: StorageBridgeOptions = {}): StorageThreadLaunch {
  const service = new MessageChannel();
  const stopServing = serveStorage(storage, service.port1, options);
  const transferList: MessagePort[] = [service.port2];
  let db: StorageThreadHandles['db'] = { kind: 'pg' };
  let detach = (): void => {};
  if (storage.db.backend === 'pglite') {
    try {
      const a = attachPgliteClient(storage.db);
      db = { kind: 'pglite', port: a.port };
      detach = a.detach;
      transferList.push(a.port);
    } catch (err) {
      stopServing();
      throw err;
    }
  }
  let released = false;
  return {
    handles: {
      schema: storage.db.schema,
      db,
      cache: { kind: storage.cache.kind },
      files: { root: storage.files.root, maxBytes: storage.files.maxBytes },
      service: service.port2,
      migration: storage.migration,
      stats: ownerStats(storage),
    },
    transferList,
    release() {
      if (released) return;
      released = true;
      detach();
      stopServing();
    },
  };
}

// The storage layer's error classes, rebuilt so callers' instanceof checks
// (StorageArgumentError → HTTP 400, for one) hold across the bridge.
const STORAGE_ERRORS: Record<string, (e: BridgeError) => Error> = {
  StorageError: (e) => new StorageError(e.message),
  StorageArgumentError: (e) => new StorageArgumentError(e.message),
  PathTraversalError: (e) => {
    const err = new PathTraversalError('');
    err.message = e.message;
    return err;
  },
};

function rebuild(e: BridgeError): Error {
  const make = Object.hasOwn(STORAGE_ERRORS, e.name) ? STORAGE_ERRORS[e.name] : undefined;
  return make ? make(e) : fromBridgeError(e);
}

/** The thread side of the storage bridge: calls out, replies matched by id. */
class BridgeClient {
  stats: StorageStats;
  private readonly port: MessagePort;
  private readonly onError: (err: unknown) => void;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private dead: Error | null = null;

  constructor(port: MessagePort, stats: StorageStats, onError: (err: unknown) => void) {
    this.port = port;
    this.stats = stats;
    this.onError = onError;
    port.on('message', (raw: unknown) => {
      const why = checkStorageReply(raw);
      if (why) {
        this.onError(new ProtocolError('SW_ERR_SCHEMA', why));
        return;
      }
      const reply = raw as StorageReply;
      this.stats = reply.stats;
      const w = this.waiting.get(reply.id);
      if (!w) return;
      this.waiting.delete(reply.id);
      if (reply.ok) w.resolve(reply.value);
      else w.reject(rebuild(reply.error));
    });
    port.on('close', () => this.fail(new StorageError('storage bridge closed')));
  }

  call(target: StorageBridgeTarget, method: string, args: unknown[]): Promise<unknown> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      try {
        this.port.postMessage({ id, target, method, args });
      } catch (err) {
        this.waiting.delete(id);
        reject(new StorageArgumentError(`storage bridge: the arguments of ${target}.${method} could not be sent: ${(err as Error).message}`));
      }
    });
  }

  fail(err: Error): void {
    this.dead ??= err;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }

  close(): void {
    this.fail(new StorageError('storage closed'));
    this.port.close();
  }
}

function refused(err: unknown): boolean {
  return err instanceof StorageArgumentError || (err instanceof StarWeatherError && err.code === 'SW_ERR_SCHEMA');
}

/**
 * The main thread's memory cache, seen from a host thread. As every
 * HotCache: when the owner cannot be reached (the bridge closed), reads
 * answer a miss and writes are dropped and counted, never thrown; a refused
 * argument is still the caller's error.
 */
class BridgedCache implements HotCache {
  readonly kind = 'memory' as const;
  readonly #client: BridgeClient;
  #droppedWrites = 0;
  #failedReads = 0;

  constructor(client: BridgeClient) {
    this.#client = client;
  }

  async #write(method: string, args: unknown[]): Promise<void> {
    try {
      await this.#client.call('cache', method, args);
    } catch (err) {
      if (refused(err)) throw err;
      this.#droppedWrites++;
    }
  }

  async #read<T>(method: string, args: unknown[], miss: T): Promise<T> {
    try {
      return (await this.#client.call('cache', method, args)) as T;
    } catch (err) {
      if (refused(err)) throw err;
      this.#failedReads++;
      return miss;
    }
  }

  setSatelliteState(noradId: number, state: CacheValue): Promise<void> {
    return this.#write('setSatelliteState', [noradId, state]);
  }
  setSatelliteStates(entries: ReadonlyArray<readonly [number, CacheValue]>): Promise<void> {
    return this.#write('setSatelliteStates', [entries]);
  }
  getSatelliteState<T extends CacheValue = CacheValue>(noradId: number): Promise<T | null> {
    return this.#read<T | null>('getSatelliteState', [noradId], null);
  }
  getSatelliteStates<T extends CacheValue = CacheValue>(noradIds: readonly number[]): Promise<Array<T | null>> {
    return this.#read<Array<T | null>>('getSatelliteStates', [noradIds], noradIds.map(() => null));
  }
  setShardFrame(shard: number, frame: CacheValue): Promise<void> {
    return this.#write('setShardFrame', [shard, frame]);
  }
  getShardFrame<T extends CacheValue = CacheValue>(shard: number): Promise<T | null> {
    return this.#read<T | null>('getShardFrame', [shard], null);
  }
  setShardFrameBytes(entries: ReadonlyArray<readonly [number, Uint8Array]>): Promise<void> {
    return this.#write('setShardFrameBytes', [entries]);
  }
  getShardFrameBytes(shard: number): Promise<Uint8Array | null> {
    return this.#read<Uint8Array | null>('getShardFrameBytes', [shard], null);
  }
  setTaskStatus(taskId: string, status: CacheValue, ttlMs?: number): Promise<void> {
    return this.#write('setTaskStatus', ttlMs === undefined ? [taskId, status] : [taskId, status, ttlMs]);
  }
  setTaskStatuses(entries: ReadonlyArray<readonly [string, CacheValue]>, ttlMs?: number): Promise<void> {
    return this.#write('setTaskStatuses', ttlMs === undefined ? [entries] : [entries, ttlMs]);
  }
  getTaskStatus<T extends CacheValue = CacheValue>(taskId: string): Promise<T | null> {
    return this.#read<T | null>('getTaskStatus', [taskId], null);
  }

  /** The owner's memory never goes away while the node lives: run the hook once now, as MemoryCache does. */
  onRefill(hook: RefillHook): void {
    hook(this).catch(() => {});
  }

  stats(): CacheStats {
    const s = this.#client.stats.cache;
    return { ...s, droppedWrites: s.droppedWrites + this.#droppedWrites, failedReads: s.failedReads + this.#failedReads };
  }

  async clear(): Promise<void> {
    await this.#client.call('cache', 'clear', []);
  }

  /** Closes this thread's view; the owner's cache stays. */
  async close(): Promise<void> {}
}

/** The main thread's file store, seen from a host thread. */
class BridgedFiles implements Files {
  readonly root: string;
  readonly maxBytes: number;
  readonly #client: BridgeClient;

  constructor(client: BridgeClient, root: string, maxBytes: number) {
    this.#client = client;
    this.root = root;
    this.maxBytes = maxBytes;
  }

  async put(key: string, data: Uint8Array | string): Promise<{ etag: string; size: number }> {
    return (await this.#client.call('files', 'put', [key, data])) as { etag: string; size: number };
  }

  async get(key: string): Promise<StoredFile | null> {
    const f = (await this.#client.call('files', 'get', [key])) as { data: Uint8Array; etag: string; size: number } | null;
    // A Buffer crosses as a plain Uint8Array; callers expect a Buffer.
    return f ? { ...f, data: Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength) } : null;
  }

  async head(key: string): Promise<{ etag: string; size: number } | null> {
    return (await this.#client.call('files', 'head', [key])) as { etag: string; size: number } | null;
  }

  async delete(key: string): Promise<boolean> {
    return (await this.#client.call('files', 'delete', [key])) as boolean;
  }

  stats(): FileStoreStats {
    return this.#client.stats.files;
  }
}

export interface OpenThreadStorageOptions {
  onError?: (err: unknown) => void;
}

/** Open a host thread's view of its node's storage from the handles storageThreadHandles made. */
export async function openThreadStorage(cfg: Pick<Config, 'namespace' | 'database' | 'redis'>, handles: StorageThreadHandles, options: OpenThreadStorageOptions = {}): Promise<Storage> {
  const onError = options.onError ?? (() => {});
  const client = new BridgeClient(handles.service, handles.stats, onError);
  let db: Storage['db'] | undefined;
  let cache: HotCache | undefined;
  try {
    if (handles.db.kind === 'pglite') db = pgliteClient(handles.db.port, handles.schema);
    else {
      if (!cfg.database.url) throw new StorageError('the node uses PostgreSQL but this host was given no database.url');
      db = await openPg({ url: cfg.database.url, password: cfg.database.password, schema: handles.schema });
    }
    if (handles.cache.kind === 'redis') {
      if (!cfg.redis.url) throw new StorageError('the node uses Redis but this host was given no redis.url');
      const redis = new RedisCache({ url: cfg.redis.url, password: cfg.redis.password, prefix: cfg.namespace, onError });
      cache = redis;
      if (!(await redis.waitReady(3000))) onError(new Error('Redis not ready; running on the database until it is'));
      cache.onRefill(taskStatusRefill(db));
    } else cache = new BridgedCache(client);
  } catch (err) {
    client.close();
    await db?.close().catch(() => {});
    throw err;
  }
  const maintenance: PartitionMaintenance = {
    runOnce: async () => (await client.call('maintenance', 'runOnce', [])) as { created: string[]; dropped: string[] },
    // The schedule is the owner's; a host thread's view has none to stop.
    stop: () => {},
  };
  const d = db;
  const c = cache;
  let closed = false;
  return {
    db: d,
    cache: c,
    files: new BridgedFiles(client, handles.files.root, handles.files.maxBytes),
    migration: handles.migration,
    maintenance,
    async close() {
      if (closed) return;
      closed = true;
      await c.close().catch(onError);
      await d.close().catch(onError);
      client.close();
    },
  };
}
