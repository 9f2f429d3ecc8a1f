/**
 * Entity sharding for one role on one host.
 *
 * PUBLIC CONTRACT (every node, in any language, must compute the same):
 *   shardOf(entityId, shardCount) =
 *     FNV-1a 32-bit (offset basis 0x811c9dc5, prime 0x01000193) over the UTF-8
 *     bytes of entityId, as an unsigned 32-bit integer, modulo shardCount.
 *   rendezvous weight(shard, hostId) =
 *     fmix32(FNV-1a 32-bit over the UTF-8 bytes of `${shard}:${hostId}`),
 *     fmix32 being MurmurHash3's 32-bit finaliser; the owner of a shard is
 *     the host with the highest weight, ties to the larger hostId (UTF-16
 *     code-unit order). Highest-random-weight hashing (Thaler & Ravishankar
 *     1998) moves only the shards the joining host wins, about 1/N of them.
 * shardCount is fixed for the life of a cluster (cluster.shardCount; about
 * 10x the largest host count, as Akka cluster sharding advises).
 *
 * ShardManager: the shards this host should own are those rendezvous gives it
 * among the live, non-draining members of its role. It holds a lease per
 * owned shard (`<kind>.<shard>` in the leases bucket), renews each on its own
 * timer every leaseMs/3 (never behind a round's takeover work), releases
 * shards it should no longer own (throttled, so a join moves a bounded
 * number per round) and takes over shards whose lease has expired. A shard
 * counts as owned only while its lease is valid LOCALLY:
 * - when the local deadline passes while this host was running (renewals
 *   failed: the bus is slow or gone), onRelease fires first, before any other
 *   work, and the shard is gone from `ownedShards()`;
 * - when it passed while this host was NOT running (its event loop stalled,
 *   or the process was stopped: pause.ts), `owns()` answers false at once and
 *   the lease is reclaimed by compare-and-set on the revision we hold: that
 *   succeeds only if nobody took the lease meanwhile, so the shard stays ours
 *   without a release and re-acquisition (counted as a reclaim, not an
 *   ownership change); a lost compare-and-set is a loss ('lost').
 */
import { performance } from 'node:perf_hooks';
import { StarWeatherError, errorMessage } from '../../protocol/errors.js';
import type { KvBucket, Subscription } from '../../protocol/transport.js';
import type { Member } from '../../protocol/messages/cluster.js';
import type { Lease, LeaseManager } from './lease.js';
import { loopPauses, type PauseTracker } from './pause.js';
import type { Membership } from './membership.js';
import { createLogger, type Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { clusterMetrics, type ClusterMetrics } from './cluster-metrics.js';

const utf8 = new TextEncoder();

/** FNV-1a 32-bit over the UTF-8 bytes of `text`, unsigned. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of utf8.encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** MurmurHash3 fmix32: spreads every input bit over the output, which plain FNV does poorly in its high bits. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function assertShardCount(shardCount: unknown): asserts shardCount is number {
  if (typeof shardCount !== 'number' || !Number.isSafeInteger(shardCount) || shardCount < 1 || shardCount > 0xffffffff) {
    throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `shardCount must be an integer in [1, 2^32) (got ${String(shardCount)})`);
  }
}

/** The shard of an entity (see the contract above). */
export function shardOf(entityId: string, shardCount: number): number {
  if (typeof entityId !== 'string') throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'entityId must be a string');
  assertShardCount(shardCount);
  return fnv1a32(entityId) % shardCount;
}

export function rendezvousWeight(shard: number, hostId: string): number {
  return fmix32(fnv1a32(`${shard}:${hostId}`));
}

/** The host that owns `shard` among `hostIds` by highest random weight; null when there is none. */
export function rendezvousOwner(shard: number, hostIds: readonly string[]): string | null {
  let best: string | null = null;
  let bestWeight = -1;
  for (const hostId of hostIds) {
    const w = rendezvousWeight(shard, hostId);
    if (w > bestWeight || (w === bestWeight && best !== null && hostId > best)) {
      best = hostId;
      bestWeight = w;
    }
  }
  return best;
}

export type ReleaseReason =
  /** Another host should own it now (a join, or we are draining). Released gracefully. */
  | 'rebalance'
  /** Renewal found someone else's (or no) record: the lease is gone. */
  | 'lost'
  /** The local deadline passed without a successful renewal (pause, slow or broken bus). */
  | 'expired'
  /** stop() was called. */
  | 'stopped';

export interface ShardManagerOptions {
  /** Lease keys are `<kind>.<shard>`; usually the entity kind (e.g. `tracker`). */
  kind: string;
  shardCount: number;
  membership: Membership;
  leases: LeaseManager;
  /** Bucket the leases live in, watched so a released shard is taken at once. */
  leaseBucket: KvBucket;
  /** Most shards released per round when ownership moves away (default max(8, shardCount/4)). */
  maxMovesPerRound?: number;
  /** Most KV calls in flight at once (default 16). */
  concurrency?: number;
  /**
   * How long past its local deadline a lease is kept while its renewals fail
   * only because the store is unavailable (connected, but the leases
   * bucket has no leader: a JetStream election, 4-9 s on NATS 2.9). Default
   * 0: release at the deadline. See `pastDeadline`.
   */
  outageGraceMs?: number;
  /**
   * Called after a lease is taken; the host may activate the shard's
   * entities. Must be prompt (a round awaits it, and rounds never overlap):
   * slow work such as loading belongs in the background (tracker service).
   */
  onAcquire?: (shard: number, lease: Lease) => void | Promise<void>;
  /**
   * Called when the shard stops being ours, before the lease is given back
   * (awaited for 'rebalance' and 'stopped', so entities can passivate while
   * still fenced in). Must not act on the shard afterwards.
   */
  onRelease?: (shard: number, reason: ReleaseReason) => void | Promise<void>;
  logger?: Logger;
  /** Adds sw_shards_owned, sw_shard_acquisitions_total, sw_shard_releases_total, sw_lease_renewal_errors_total. */
  metrics?: Metrics;
  clock?: () => number;
  /** Where pauses of this thread's loop are recorded (default: the thread's shared tracker). */
  pauses?: PauseTracker;
}

export interface ShardManagerStats {
  acquired: number;
  released: Record<ReleaseReason, number>;
  renewErrors: number;
  acquireErrors: number;
  rounds: number;
  /** Leases found past their local deadline after a pause of this host, and won back by compare-and-set. */
  reclaimed: number;
  /** Leases held past their deadline through a store outage, and renewed once it ended. */
  holds: number;
  heldThroughOutage: number;
}

interface Owned {
  lease: Lease;
  /** Fires at the local deadline. */
  timer: NodeJS.Timeout;
  /** Fires when the lease is due for renewal. */
  renewTimer: NodeJS.Timeout | undefined;
  /** A reclaim (compare-and-set after a pause) is in flight. */
  reclaiming: boolean;
  /** A renewal is in flight. */
  renewing: boolean;
  /** Every renewal since the last success failed with the store unavailable (connected, no leader). */
  storeDown: boolean;
  /** Held past the local deadline through a store outage until this performance.now() (null: not held). */
  holdUntil: number | null;
}

async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  });
  await Promise.all(workers);
}

export class ShardManager {
  readonly kind: string;
  readonly hostId: string;
  readonly shardCount: number;
  readonly renewEveryMs: number;
  readonly stats: ShardManagerStats = { acquired: 0, released: { rebalance: 0, lost: 0, expired: 0, stopped: 0 }, renewErrors: 0, acquireErrors: 0, rounds: 0, reclaimed: 0, holds: 0, heldThroughOutage: 0 };
  private readonly pauses: PauseTracker;
  private readonly membership: Membership;
  private readonly leases: LeaseManager;
  private readonly leaseBucket: KvBucket;
  private readonly maxMoves: number;
  private readonly concurrency: number;
  private readonly outageGraceMs: number;
  private readonly onAcquire: ShardManagerOptions['onAcquire'];
  private readonly onRelease: ShardManagerOptions['onRelease'];
  private readonly logger: Logger;
  private readonly cm: ClusterMetrics | undefined;
  private readonly clock: () => number;

  private readonly owned = new Map<number, Owned>();
  /** Shard → wall time until which another holder's lease runs (skip acquiring before it). */
  private readonly heldUntil = new Map<number, number>();
  private candidates: string[] = [];
  private desired = new Set<number>();
  private started = false;
  private stopped = false;
  private running: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private subs: Subscription[] = [];

  constructor(options: ShardManagerOptions) {
    if (typeof options.kind !== 'string' || !/^[-\w]{1,100}$/.test(options.kind)) {
      throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `kind must match /^[-\\w]{1,100}$/ (got ${JSON.stringify(options.kind)})`);
    }
    assertShardCount(options.shardCount);
    if (options.leases.holder !== options.membership.hostId) {
      throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `lease holder ${options.leases.holder} must be the member hostId ${options.membership.hostId}`);
    }
    this.kind = options.kind;
    this.shardCount = options.shardCount;
    this.membership = options.membership;
    this.hostId = options.membership.hostId;
    this.leases = options.leases;
    this.leaseBucket = options.leaseBucket;
    this.renewEveryMs = Math.max(10, Math.floor(options.leases.leaseMs / 3));
    this.maxMoves = options.maxMovesPerRound ?? Math.max(8, Math.ceil(options.shardCount / 4));
    this.concurrency = options.concurrency ?? 16;
    this.outageGraceMs = options.outageGraceMs ?? 0;
    if (!Number.isSafeInteger(this.outageGraceMs) || this.outageGraceMs < 0) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'outageGraceMs must be a non-negative integer');
    if (!Number.isSafeInteger(this.maxMoves) || this.maxMoves < 1) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'maxMovesPerRound must be a positive integer');
    if (!Number.isSafeInteger(this.concurrency) || this.concurrency < 1) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'concurrency must be a positive integer');
    this.onAcquire = options.onAcquire;
    this.onRelease = options.onRelease;
    this.logger = options.logger ?? createLogger({ nodeId: this.hostId, level: 'warn', destination: 2 });
    this.cm = options.metrics ? clusterMetrics(options.metrics) : undefined;
    this.clock = options.clock ?? Date.now;
    this.pauses = options.pauses ?? loopPauses;
  }

  leaseKey(shard: number): string {
    return `${this.kind}.${shard}`;
  }

  /** True while we hold a locally valid lease on `shard`, or hold it through a store outage (see `pastDeadline`). */
  owns(shard: number): boolean {
    const o = this.owned.get(shard);
    if (!o) return false;
    if (o.lease.isValid()) return true;
    if (o.holdUntil !== null && performance.now() < o.holdUntil) return true;
    this.pastDeadline(shard, o);
    return this.owned.get(shard) === o && o.holdUntil !== null && performance.now() < o.holdUntil;
  }

  /**
   * Shards whose lease we hold, valid or being reclaimed after a pause: an
   * owner keeps their entities (inactive: `owns()` is false) until the
   * reclaim is decided, so a won reclaim needs no reload.
   */
  heldShards(): number[] {
    const out: number[] = [];
    for (const [shard, o] of [...this.owned]) if (this.owns(shard) || (this.owned.get(shard) === o && o.reclaiming)) out.push(shard);
    return out.sort((a, b) => a - b);
  }

  /** The lease (and so the fencing token) of a shard we own, or null. */
  leaseOf(shard: number): Lease | null {
    return this.owns(shard) ? this.owned.get(shard)!.lease : null;
  }

  /** Shards we own right now (locally valid leases), ascending. */
  ownedShards(): number[] {
    const out: number[] = [];
    for (const shard of [...this.owned.keys()]) if (this.owns(shard)) out.push(shard);
    return out.sort((a, b) => a - b);
  }

  /** Live, non-draining members of the role, as last seen. */
  members(): readonly string[] {
    return this.candidates;
  }

  /** Who rendezvous says should own `shard`, by the members we know of (may not hold the lease yet). */
  expectedOwner(shard: number): string | null {
    return rendezvousOwner(shard, this.candidates);
  }

  async start(): Promise<void> {
    if (this.started) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'ShardManager already started');
    this.started = true;
    const prefix = `${this.kind}.`;
    this.subs.push(
      await this.leaseBucket.watch((change) => {
        // A released or deleted lease we want: take it now, not next round.
        if (change.value !== null || !change.key.startsWith(prefix)) return;
        const shard = Number(change.key.slice(prefix.length));
        if (Number.isSafeInteger(shard) && this.desired.has(shard) && !this.owned.has(shard)) {
          this.heldUntil.delete(shard);
          this.kick(0);
        }
      }, prefix),
    );
    this.subs.push(await this.membership.watch(this.membership.role, (members) => this.setMembers(members)));
    this.pauses.retain();
    this.kick(0);
  }

  /** Release every shard (onRelease 'stopped', then the lease) and stop. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const sub of this.subs) sub.unsubscribe();
    this.subs = [];
    this.pauses.release();
    await this.running;
    await forEachLimit([...this.owned.keys()], this.concurrency, (shard) => this.releaseShard(shard, 'stopped'));
  }

  private setMembers(members: Member[]): void {
    this.candidates = members.filter((m) => !m.draining).map((m) => m.hostId);
    const desired = new Set<number>();
    if (this.candidates.includes(this.hostId)) {
      for (let shard = 0; shard < this.shardCount; shard++) {
        if (rendezvousOwner(shard, this.candidates) === this.hostId) desired.add(shard);
      }
    }
    this.desired = desired;
    this.logger.debug({ kind: this.kind, members: this.candidates, desired: desired.size }, 'members changed');
    this.kick(0);
  }

  /** Run a round in `delayMs`, or sooner if one is already due sooner. */
  private kick(delayMs: number): void {
    if (this.stopped || !this.started) return;
    const at = performance.now() + delayMs;
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.runRound();
    }, delayMs);
  }

  private runRound(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      let next = this.renewEveryMs;
      // Rounds never overlap (issue 11): a round that outlives a lease is
      // reported, not abandoned. Renewals run on their own timers, so a slow
      // round delays only acquisitions and releases, and every KV call it
      // makes has its own timeout.
      const slow = setTimeout(() => this.logger.warn({ kind: this.kind, leaseMs: this.leases.leaseMs }, 'shard round is taking longer than a lease'), this.leases.leaseMs);
      try {
        next = await this.round();
      } catch (err) {
        this.logger.error({ kind: this.kind, error: errorMessage(err) }, 'shard round failed');
      } finally {
        clearTimeout(slow);
        this.running = null;
      }
      if (this.again) {
        this.again = false;
        next = 0;
      }
      this.kick(next);
    })();
  }

  /** One round: check, renew, release what moved away, acquire what is ours. Returns ms until the next. */
  private async round(): Promise<number> {
    this.stats.rounds++;
    // 1. Local validity first: nothing below may run on an expired lease.
    // (Renewals run on their own timers, never behind this round.)
    for (const [shard, o] of [...this.owned]) if (!o.lease.isValid()) this.pastDeadline(shard, o);

    // 2. Release shards that should move, a bounded number per round.
    const moving = [...this.owned.keys()].filter((s) => !this.desired.has(s) && !this.owned.get(s)!.reclaiming);
    const moveNow = moving.slice(0, this.maxMoves);
    await forEachLimit(moveNow, this.concurrency, (shard) => this.releaseShard(shard, 'rebalance'));
    if (this.stopped) return this.renewEveryMs;

    // 3. Acquire desired shards we lack, unless we know their holder's lease still runs.
    const wanted = [...this.desired].filter((s) => !this.owned.has(s) && !((this.heldUntil.get(s) ?? 0) > this.clock()));
    await forEachLimit(wanted, this.concurrency, (shard) => this.acquireShard(shard));

    let next = this.renewEveryMs;
    if (moving.length > moveNow.length) next = Math.min(next, Math.max(50, Math.floor(this.renewEveryMs / 2)));
    const t = this.clock();
    for (const [shard, until] of this.heldUntil) {
      if (!this.desired.has(shard) || this.owned.has(shard)) {
        this.heldUntil.delete(shard);
        continue;
      }
      next = Math.min(next, Math.max(20, until - t + 10));
    }
    return next;
  }

  private async renewShard(shard: number): Promise<void> {
    const o = this.owned.get(shard);
    if (!o || o.reclaiming || o.renewing || this.stopped) return;
    if (!o.lease.isValid() && o.holdUntil === null) {
      this.pastDeadline(shard, o);
      if (this.owned.get(shard) !== o || o.holdUntil === null) return;
    }
    let renewed: Lease | null;
    o.renewing = true;
    try {
      renewed = await this.leases.renew(o.lease);
    } catch (err) {
      o.renewing = false;
      o.storeDown = err instanceof StarWeatherError && err.code === 'SW_ERR_UNAVAILABLE';
      if (this.owned.get(shard) !== o) return;
      if (o.holdUntil !== null) {
        // Held past the deadline: only an unavailable store justifies holding on.
        if (!o.storeDown) {
          this.renewFailed(shard, err, 'lease renewal failed while held through a store outage; shard released');
          this.dropExpired(shard, o);
          return;
        }
        // Counted, not logged: the hold was logged once, and a retry every half second would flood.
        this.renewFailed(shard, err, null);
        o.renewTimer = this.armRenew(shard, this.retryMs());
        return;
      }
      // Unknown outcome: keep the shard only until its local deadline, and try again soon.
      this.renewFailed(shard, err, 'lease renewal failed; shard stays owned until its local deadline');
      if (o.lease.isValid()) {
        clearTimeout(o.renewTimer);
        o.renewTimer = this.armRenew(shard, Math.max(20, Math.min(this.retryMs(), Math.floor(o.lease.remainingMs() / 2))));
      } else this.pastDeadline(shard, o);
      return;
    }
    o.renewing = false;
    if (this.owned.get(shard) !== o) {
      // Dropped locally while the renewal was in flight (deadline passed):
      // we promised the host it is gone, so give the fresh lease back.
      if (renewed) void this.leases.release(renewed).catch(() => undefined);
      return;
    }
    if (renewed === null) {
      this.forget(shard, o);
      this.stats.released.lost++;
      this.cm?.shardReleases.inc({ kind: this.kind, reason: 'lost' });
      this.logger.warn({ shard, kind: this.kind, held: o.holdUntil !== null }, 'lease lost on renewal');
      this.notifyRelease(shard, 'lost');
      return;
    }
    if (o.holdUntil !== null) {
      this.stats.heldThroughOutage++;
      this.cm?.leaseReclaims.inc({ kind: this.kind });
      this.logger.info({ shard, kind: this.kind }, 'lease renewed after a store outage; ownership unchanged');
    }
    if (!renewed.isValid()) {
      // The renewal took longer than the lease allows (or we were paused while
      // it was in flight): decide as for any lease past its deadline.
      this.replace(shard, o, renewed);
      this.pastDeadline(shard, this.owned.get(shard)!);
      return;
    }
    this.replace(shard, o, renewed);
  }

  /** How soon a failed renewal is tried again. */
  private retryMs(): number {
    return Math.max(20, Math.min(500, Math.floor(this.renewEveryMs / 3)));
  }

  /** A renewal (or reclaim) that failed with a bus error: its outcome is unknown. */
  private renewFailed(shard: number, err: unknown, what: string | null): void {
    this.stats.renewErrors++;
    this.cm?.leaseRenewalErrors.inc({ kind: this.kind });
    if (what !== null) this.logger.warn({ shard, kind: this.kind, error: errorMessage(err) }, what);
  }

  /** Swap in a renewed lease, with fresh expiry and renewal timers. */
  private replace(shard: number, o: Owned, lease: Lease): void {
    clearTimeout(o.timer);
    clearTimeout(o.renewTimer);
    this.owned.set(shard, this.track(shard, lease));
  }

  private track(shard: number, lease: Lease): Owned {
    return { lease, timer: this.armExpiry(shard, lease), renewTimer: this.armRenew(shard, this.renewEveryMs), reclaiming: false, renewing: false, storeDown: false, holdUntil: null };
  }

  private armRenew(shard: number, delayMs: number): NodeJS.Timeout {
    return setTimeout(() => void this.renewShard(shard), delayMs);
  }

  /**
   * The lease's local deadline has passed.
   * - It passed while this thread's loop was not running: reclaim it by
   *   compare-and-set (owns() is false until that is decided).
   * - We were awake and every renewal since the last success failed because
   *   the store was unavailable while we stayed connected throughout: a
   *   JetStream leader election. In an election nobody can write the leases
   *   bucket, so nobody can take the shard: keep it (owns() stays true) for
   *   up to `outageGraceMs` past the deadline, renewing by compare-and-set
   *   every retry; the first renewal after the election decides (ours
   *   again, or lost). A host that was disconnected, or whose renewals fail
   *   any other way, may be the one cut off: it releases at the deadline.
   *   The price: a host connected to a NATS server that is itself cut off
   *   from the rest (a minority side) sees the same failures while the
   *   majority can write, and a peer may take the shard once its lease
   *   expires; both then act on it until the hold ends or our renewal loses
   *   its compare-and-set. Our frames then reach only that server's
   *   subscribers, and database writes are fenced by the lease revision.
   *   Takers do not wait out the grace: that would make every crash take
   *   lease + grace to fail over.
   * - Otherwise: release it locally at once.
   */
  private pastDeadline(shard: number, o: Owned): void {
    if (this.owned.get(shard) !== o || o.reclaiming) return;
    if (o.holdUntil !== null) {
      if (performance.now() >= o.holdUntil) {
        this.logger.warn({ shard, kind: this.kind, graceMs: this.outageGraceMs }, 'store outage outlasted the grace; shard released');
        this.dropExpired(shard, o);
      }
      return;
    }
    if (this.stopped || !this.pauses.wasPausedAt(o.lease.deadlineMono)) {
      if (!this.stopped && this.outageGraceMs > 0 && o.storeDown) {
        o.holdUntil = o.lease.deadlineMono + this.outageGraceMs;
        clearTimeout(o.timer);
        o.timer = setTimeout(() => this.pastDeadline(shard, o), Math.max(0, o.holdUntil - performance.now()) + 1);
        this.stats.holds++;
        this.logger.warn({ shard, kind: this.kind, graceMs: this.outageGraceMs }, 'lease past its deadline while the store is unavailable; holding the shard until a renewal succeeds');
        if (!o.renewing) {
          clearTimeout(o.renewTimer);
          o.renewTimer = this.armRenew(shard, 0);
        }
        return;
      }
      this.dropExpired(shard, o);
      return;
    }
    o.reclaiming = true;
    clearTimeout(o.timer);
    clearTimeout(o.renewTimer);
    void this.reclaim(shard, o);
  }

  private async reclaim(shard: number, o: Owned): Promise<void> {
    let renewed: Lease | null;
    try {
      renewed = await this.leases.renew(o.lease);
    } catch (err) {
      // Cannot prove the lease is still ours: let it go, as at any deadline.
      this.renewFailed(shard, err, 'lease reclaim after a pause failed; shard released');
      o.reclaiming = false;
      this.dropExpired(shard, o);
      return;
    }
    if (this.owned.get(shard) !== o) {
      if (renewed) void this.leases.release(renewed).catch(() => undefined);
      return;
    }
    o.reclaiming = false;
    if (renewed === null) {
      this.forget(shard, o);
      this.stats.released.lost++;
      this.cm?.shardReleases.inc({ kind: this.kind, reason: 'lost' });
      this.logger.warn({ shard, kind: this.kind }, 'lease taken over while this host was paused');
      this.notifyRelease(shard, 'lost');
      return;
    }
    if (!renewed.isValid() || this.stopped) {
      const stale: Owned = { ...o, lease: renewed };
      this.owned.set(shard, stale);
      this.dropExpired(shard, stale, renewed);
      return;
    }
    this.owned.set(shard, this.track(shard, renewed));
    this.stats.reclaimed++;
    this.cm?.leaseReclaims.inc({ kind: this.kind });
    this.logger.info({ shard, kind: this.kind }, 'lease reclaimed after a pause of this host; ownership unchanged');
  }

  private async acquireShard(shard: number): Promise<void> {
    let outcome;
    try {
      outcome = await this.leases.tryAcquire(this.leaseKey(shard));
    } catch (err) {
      this.stats.acquireErrors++;
      this.logger.warn({ shard, kind: this.kind, error: errorMessage(err) }, 'lease acquisition failed');
      return;
    }
    if (!outcome.ok) {
      if (outcome.expiresAt !== null) this.heldUntil.set(shard, outcome.expiresAt);
      return;
    }
    const lease = outcome.lease;
    if (this.stopped || !this.desired.has(shard) || !lease.isValid() || this.owned.has(shard)) {
      // Membership moved (or we stopped) while we were asking: hand it back.
      void this.leases.release(lease).catch(() => undefined);
      return;
    }
    this.heldUntil.delete(shard);
    this.owned.set(shard, this.track(shard, lease));
    this.stats.acquired++;
    this.cm?.shardAcquisitions.inc({ kind: this.kind });
    this.cm?.shardsOwned.set({ kind: this.kind }, this.owned.size);
    try {
      await this.onAcquire?.(shard, lease);
    } catch (err) {
      this.logger.error({ shard, kind: this.kind, error: errorMessage(err) }, 'onAcquire threw; shard stays owned');
    }
  }

  /** Graceful give-up: forget locally, let the host passivate, then delete the lease. */
  private async releaseShard(shard: number, reason: 'rebalance' | 'stopped'): Promise<void> {
    const o = this.owned.get(shard);
    if (!o) return;
    this.forget(shard, o);
    this.stats.released[reason]++;
    // A rebalance is ownership moving: worth a line (stops release every shard at once: counted only).
    if (reason === 'rebalance') this.logger.info({ shard, kind: this.kind, members: this.candidates }, 'shard released to rebalance');
    this.cm?.shardReleases.inc({ kind: this.kind, reason });
    try {
      await this.onRelease?.(shard, reason);
    } catch (err) {
      this.logger.error({ shard, kind: this.kind, error: errorMessage(err) }, 'onRelease threw');
    }
    try {
      await this.leases.release(o.lease);
    } catch (err) {
      // It will expire on its own; the next owner waits for that.
      this.logger.warn({ shard, kind: this.kind, error: errorMessage(err) }, 'lease release failed');
    }
  }

  /** The local deadline passed: forget the shard and tell the host first, then free the record if still ours. */
  private dropExpired(shard: number, o: Owned, giveBack: Lease = o.lease): void {
    if (this.owned.get(shard) !== o) return;
    this.forget(shard, o);
    this.stats.released.expired++;
    this.cm?.shardReleases.inc({ kind: this.kind, reason: 'expired' });
    this.logger.warn({ shard, kind: this.kind }, 'lease expired locally; shard released');
    this.notifyRelease(shard, 'expired');
    void this.leases.release(giveBack).catch(() => undefined);
  }

  private forget(shard: number, o: Owned): void {
    clearTimeout(o.timer);
    clearTimeout(o.renewTimer);
    this.owned.delete(shard);
    this.cm?.shardsOwned.set({ kind: this.kind }, this.owned.size);
  }

  private notifyRelease(shard: number, reason: ReleaseReason): void {
    try {
      const r = this.onRelease?.(shard, reason);
      if (r instanceof Promise) r.catch((err: unknown) => this.logger.error({ shard, kind: this.kind, error: errorMessage(err) }, 'onRelease threw'));
    } catch (err) {
      this.logger.error({ shard, kind: this.kind, error: errorMessage(err) }, 'onRelease threw');
    }
  }

  /** A timer at the local deadline, so a stalled renewal cannot leave the shard "owned" past it. */
  private armExpiry(shard: number, lease: Lease): NodeJS.Timeout {
    return setTimeout(() => {
      const o = this.owned.get(shard);
      if (o && o.lease === lease && !lease.isValid()) this.pastDeadline(shard, o);
      else if (o && o.lease === lease) {
        // Woke a hair early (timer granularity): look again shortly.
        clearTimeout(o.timer);
        o.timer = this.armExpiry(shard, lease);
      }
    }, lease.remainingMs() + 1);
  }
}
