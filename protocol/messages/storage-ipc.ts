/**
 * The frames of the storage bridge (actors/storage/thread-storage.ts): the
 * hot cache, the tile file store and partition maintenance of an embedded
 * node, which its main thread owns, called from role hosts on worker
 * threads of their own (issue 10). The memory cache and the file store's
 * LRU index are single-owner state, so their calls cross one MessagePort
 * per host thread; PGlite has its own port straight to its thread
 * (actors/storage/pglite-worker.ts), and PostgreSQL and Redis are opened by
 * each thread itself.
 *
 * A call is answered by exactly one reply with its id. Every reply carries
 * the owner's current counters, so the thread's synchronous stats() (read at
 * metrics scrape time) answer what the owner last counted.
 *
 * Like the bus bridge, these are structured clones inside one process, not
 * bytes on a wire: not registered as messages and not in PROTOCOL.md, but
 * both sides check what they receive against these schemas. Argument values
 * are only typed: the cache and the store check them and answer their own
 * errors, as they would in-thread.
 */
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { BridgeErrorSchema } from './thread-bridge.js';

/** The methods each target answers over the bridge, and nothing else. */
export const STORAGE_BRIDGE_METHODS = {
  cache: [
    'setSatelliteState',
    'setSatelliteStates',
    'getSatelliteState',
    'getSatelliteStates',
    'setShardFrame',
    'getShardFrame',
    'setShardFrameBytes',
    'getShardFrameBytes',
    'setTaskStatus',
    'setTaskStatuses',
    'getTaskStatus',
    'clear',
  ],
  files: ['put', 'get', 'head', 'delete'],
  maintenance: ['runOnce'],
} as const;
export type StorageBridgeTarget = keyof typeof STORAGE_BRIDGE_METHODS;

const Id = Type.Integer({ minimum: 1 });
const Count = Type.Integer({ minimum: 0 });

export const StorageCallSchema = Type.Union(
  (Object.keys(STORAGE_BRIDGE_METHODS) as StorageBridgeTarget[]).map((target) =>
    Type.Object(
      {
        id: Id,
        target: Type.Literal(target),
        method: Type.Union(STORAGE_BRIDGE_METHODS[target].map((m) => Type.Literal(m))),
        args: Type.Array(Type.Unknown(), { maxItems: 4 }),
      },
      { additionalProperties: false },
    ),
  ),
);
export type StorageCall = Static<typeof StorageCallSchema>;

export const CacheStatsSchema = Type.Object(
  { hits: Count, misses: Count, writes: Count, droppedWrites: Count, failedReads: Count, refills: Count, available: Type.Boolean() },
  { additionalProperties: false },
);
export const FileStoreStatsSchema = Type.Object(
  { files: Count, bytes: Count, maxBytes: Count, evictions: Count, rejectedKeys: Count },
  { additionalProperties: false },
);
export const StorageStatsSchema = Type.Object({ cache: CacheStatsSchema, files: FileStoreStatsSchema }, { additionalProperties: false });
export type StorageStats = Static<typeof StorageStatsSchema>;

export const StorageReplySchema = Type.Union([
  Type.Object({ id: Id, ok: Type.Literal(true), value: Type.Unknown(), stats: StorageStatsSchema }, { additionalProperties: false }),
  Type.Object({ id: Id, ok: Type.Literal(false), error: BridgeErrorSchema, stats: StorageStatsSchema }, { additionalProperties: false }),
]);
export type StorageReply = Static<typeof StorageReplySchema>;

const callCheck = TypeCompiler.Compile(StorageCallSchema);
const replyCheck = TypeCompiler.Compile(StorageReplySchema);

/** Null when `value` is a valid call, else why not. */
export function checkStorageCall(value: unknown): string | null {
  if (callCheck.Check(value)) return null;
  const o = value as { target?: unknown; method?: unknown } | null;
  if (o && typeof o === 'object' && typeof o.target === 'string' && typeof o.method === 'string') {
    const allowed = (STORAGE_BRIDGE_METHODS as Record<string, readonly string[]>)[o.target];
    if (!allowed) return `storage bridge: unknown target ${JSON.stringify(o.target.slice(0, 40))}`;
    if (!allowed.includes(o.method)) return `storage bridge: ${o.target} has no bridged method ${JSON.stringify(o.method.slice(0, 40))}`;
  }
  const first = callCheck.Errors(value).First();
  return `storage bridge call: ${first?.path || '/'}: ${first?.message ?? 'invalid'}`;
}

/** Null when `value` is a valid reply, else why not. */
export function checkStorageReply(value: unknown): string | null {
  if (replyCheck.Check(value)) return null;
  const first = replyCheck.Errors(value).First();
  return `storage bridge reply: ${first?.path || '/'}: ${first?.message ?? 'invalid'}`;
}
