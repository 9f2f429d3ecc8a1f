/**
 * Sharded entities on one host: ties a ShardManager (which shards are ours,
 * by lease) to the ActorSystem (the entities themselves). Entity `id` lives in
 * shard `shardOf(id, shardCount)`; the shard's lease holder is the only host
 * that runs it (best effort, as in Orleans: a paused former holder may still
 * run for a moment, which is why side effects carry the fencing token).
 *
 * On acquire: the shard's fence record is raised to the new token first (so a
 * former holder's writes are rejected from now on), then the entities the
 * id source names for that shard are activated ("remembered entities", as
 * Akka calls them). On release: the shard's active entities are stopped
 * before the lease is handed back.
 */
import { StarWeatherError, errorMessage } from '../../protocol/errors.js';
import type { KvBucket } from '../../protocol/transport.js';
import { ActorSystem, actorAddress, parseAddress } from './actor.js';
import type { FencedStore } from './fencing.js';
import type { Lease, LeaseManager } from './lease.js';
import type { Membership } from './membership.js';
import { ShardManager, shardOf, type ReleaseReason } from './sharding.js';
import { createLogger, type Logger } from './log.js';
import type { Metrics } from './metrics.js';

/** This host does not (or no longer) hold the entity's shard. `owner` is who should, as far as we know. */
export class NotOwnerError extends StarWeatherError {
  readonly entityId: string;
  readonly shard: number;
  readonly owner: string | null;
  constructor(entityId: string, shard: number, owner: string | null) {
    super('SW_ERR_LEASE_LOST', `entity ${entityId} (shard ${shard}) is not owned by this host; owner: ${owner ?? 'unknown'}`);
    this.entityId = entityId;
    this.shard = shard;
    this.owner = owner;
  }
}

export interface EntityHostOptions {
  /** Actor kind, already registered on `system`; also the lease key prefix. */
  kind: string;
  system: ActorSystem;
  membership: Membership;
  leases: LeaseManager;
  leaseBucket: KvBucket;
  shardCount: number;
  /** The entity ids to activate when `shard` is acquired (ids of other shards are ignored and counted). */
  entityIds?: (shard: number) => Iterable<string> | Promise<Iterable<string>>;
  /** The message that activates an entity (default `{ type: 'activate', shard, fenceToken }`). */
  activation?: (id: string, shard: number, lease: Lease) => unknown;
  /** Raise `fence.<kind>.<shard>` to the new lease's token on acquire. */
  fence?: FencedStore;
  maxMovesPerRound?: number;
  /** Told after the shard's entities were activated / after they were stopped. */
  onAcquire?: (shard: number, lease: Lease) => void;
  onRelease?: (shard: number, reason: ReleaseReason) => void;
  logger?: Logger;
  metrics?: Metrics;
}

export interface EntityHostStats {
  activated: number;
  stopped: number;
  /** Ids from the id source that do not belong to the shard asked for. */
  foreignIds: number;
  notOwner: number;
  fenceClaimErrors: number;
}

export class EntityHost {
  readonly kind: string;
  readonly shardCount: number;
  readonly shards: ShardManager;
  readonly stats: EntityHostStats = { activated: 0, stopped: 0, foreignIds: 0, notOwner: 0, fenceClaimErrors: 0 };
  private readonly system: ActorSystem;
  private readonly options: EntityHostOptions;
  private readonly logger: Logger;

  constructor(options: EntityHostOptions) {
    this.kind = options.kind;
    this.shardCount = options.shardCount;
    this.system = options.system;
    this.options = options;
    this.logger = options.logger ?? createLogger({ nodeId: options.membership.hostId, level: 'warn', destination: 2 });
    this.shards = new ShardManager({
      kind: options.kind,
      shardCount: options.shardCount,
      membership: options.membership,
      leases: options.leases,
      leaseBucket: options.leaseBucket,
      maxMovesPerRound: options.maxMovesPerRound,
      logger: this.logger,
      metrics: options.metrics,
      onAcquire: (shard, lease) => this.acquired(shard, lease),
      onRelease: (shard, reason) => this.released(shard, reason),
    });
  }

  static fenceKey(kind: string, shard: number): string {
    return `fence.${kind}.${shard}`;
  }

  start(): Promise<void> {
    return this.shards.start();
  }

  /** Stop every local entity and give back every lease. */
  stop(): Promise<void> {
    return this.shards.stop();
  }

  shardOf(entityId: string): number {
    return shardOf(entityId, this.shardCount);
  }

  /** This host's id when we hold the entity's shard; otherwise the rendezvous owner we know of (may be null). */
  ownerOf(entityId: string): string | null {
    const shard = this.shardOf(entityId);
    return this.shards.owns(shard) ? this.shards.hostId : this.shards.expectedOwner(shard);
  }

  isLocal(entityId: string): boolean {
    return this.shards.owns(this.shardOf(entityId));
  }

  /** The fencing token an entity's side effects must carry, or null when not ours. */
  fenceTokenOf(entityId: string): number | null {
    return this.shards.leaseOf(this.shardOf(entityId))?.revision ?? null;
  }

  /** Deliver to a local entity; NotOwnerError when its shard is not ours. */
  async tell(entityId: string, msg: unknown): Promise<void> {
    const shard = this.shardOf(entityId);
    if (!this.shards.owns(shard)) {
      this.stats.notOwner++;
      throw new NotOwnerError(entityId, shard, this.shards.expectedOwner(shard));
    }
    const address = actorAddress(this.kind, entityId);
    await this.system.tell(address, msg);
    // The shard may have been released while the message waited for room;
    // the release already stopped its entities, so do not leave this one behind.
    if (!this.shards.owns(shard)) await this.system.stop(address);
  }

  /** Ids of the active local entities of `shard` (all shards when omitted). */
  activeEntities(shard?: number): string[] {
    const out: string[] = [];
    for (const address of this.system.list(this.kind)) {
      const { id } = parseAddress(address);
      if (shard === undefined || this.shardOf(id) === shard) out.push(id);
    }
    return out;
  }

  private async acquired(shard: number, lease: Lease): Promise<void> {
    const fence = this.options.fence;
    if (fence) {
      try {
        await fence.claim(EntityHost.fenceKey(this.kind, shard), lease.revision);
      } catch (err) {
        // A larger token is already there: a newer holder exists, and our
        // lease will fail its renewal. Activate nothing.
        this.stats.fenceClaimErrors++;
        this.logger.warn({ shard, kind: this.kind, error: errorMessage(err) }, 'could not raise the shard fence; not activating');
        return;
      }
    }
    const source = this.options.entityIds;
    if (source) {
      const activation = this.options.activation ?? ((_id: string, s: number, l: Lease) => ({ type: 'activate', shard: s, fenceToken: l.revision }));
      for (const id of await source(shard)) {
        if (typeof id !== 'string' || id.length === 0 || this.shardOf(id) !== shard) {
          this.stats.foreignIds++;
          continue;
        }
        if (!this.shards.owns(shard)) break;
        try {
          await this.system.tell(actorAddress(this.kind, id), activation(id, shard, lease));
          this.stats.activated++;
        } catch (err) {
          this.logger.warn({ shard, kind: this.kind, id, error: errorMessage(err) }, 'could not activate entity');
        }
      }
    }
    this.options.onAcquire?.(shard, lease);
  }

  private async released(shard: number, reason: ReleaseReason): Promise<void> {
    const ids = this.activeEntities(shard);
    await Promise.all(
      ids.map(async (id) => {
        try {
          if (await this.system.stop(actorAddress(this.kind, id))) this.stats.stopped++;
        } catch (err) {
          this.logger.warn({ shard, kind: this.kind, id, error: errorMessage(err) }, 'could not stop entity');
        }
      }),
    );
    this.options.onRelease?.(shard, reason);
  }
}
