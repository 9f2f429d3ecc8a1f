/**
 * Time-bounded leases on a KV bucket, for NATS 2.9 which has no KV TTL: the
 * value carries its own `expiresAt` (LeaseMessage), a free lease is taken by
 * `create`, an expired one by compare-and-set `update` on the revision the
 * taker read, renewal is a CAS `update` with the holder's last revision and
 * release a CAS `delete`. Whoever loses a CAS has lost the lease.
 *
 * Fencing token = the KV revision of the holder's latest write. Revisions only
 * grow (one counter per bucket), so a later holder always carries a larger
 * token than any earlier one, and a holder's own renewals raise its token too.
 *
 * Local validity (`isValid`) never asks the server: a lease counts as held
 * only until `expiresAt - safetyMs` on the wall clock AND the same span on the
 * monotonic clock, both measured from just BEFORE the write was sent. A host
 * paused past its lease (SIGSTOP, GC, swap) therefore sees its lease invalid
 * the moment it resumes, before any renew result comes back; the margin
 * absorbs clock skew between hosts, since a taker waits for `expiresAt` on its
 * own wall clock (Kleppmann, "How to do distributed locking", 2016).
 */
import { performance } from 'node:perf_hooks';
import { CasConflictError, StarWeatherError, errorMessage } from '../../protocol/errors.js';
import type { KvBucket, KvEntry } from '../../protocol/transport.js';
import { LeaseMessage, type Lease as LeaseRecord } from '../../protocol/messages/cluster.js';
import { createLogger, type Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { countMalformed } from './cluster-metrics.js';

export interface LeaseOptions {
  bucket: KvBucket;
  /** Who holds the leases this manager takes (a host id); written into the record. */
  holder: string;
  leaseMs: number;
  /**
   * Local validity ends this long before `expiresAt`: clock skew between hosts
   * plus the longest pause we allow between a check and the act it guards.
   * Default: a fifth of the lease, at least 100 ms.
   */
  safetyMs?: number;
  logger?: Logger;
  /** Malformed records are also counted on `sw_messages_rejected_total{where="kv.leases"}`. */
  metrics?: Metrics;
  /** Wall clock (ms since the epoch); injectable for tests. */
  clock?: () => number;
}

export interface LeaseStats {
  acquired: number;
  renewed: number;
  lost: number;
  released: number;
  /** Records in the bucket that failed to decode; treated as expired. */
  malformed: number;
  errors: number;
}

/** A lease this process holds (or held: check `isValid`). Immutable; renew returns a new one. */
export class Lease {
  readonly key: string;
  readonly holder: string;
  /** KV revision of our latest write: the fencing token. */
  readonly revision: number;
  readonly acquiredAt: number;
  readonly expiresAt: number;
  readonly safetyMs: number;
  /** performance.now() after which the lease is locally invalid. */
  private readonly monoDeadline: number;
  private readonly clock: () => number;

  constructor(init: { key: string; holder: string; revision: number; acquiredAt: number; expiresAt: number; safetyMs: number; monoDeadline: number; clock: () => number }) {
    this.key = init.key;
    this.holder = init.holder;
    this.revision = init.revision;
    this.acquiredAt = init.acquiredAt;
    this.expiresAt = init.expiresAt;
    this.safetyMs = init.safetyMs;
    this.monoDeadline = init.monoDeadline;
    this.clock = init.clock;
  }

  get fenceToken(): number {
    return this.revision;
  }

  /** performance.now() at which local validity ends (this thread's monotonic clock). */
  get deadlineMono(): number {
    return this.monoDeadline;
  }

  /**
   * Local check, no I/O. `now` is wall-clock ms; the monotonic deadline is
   * checked as well, so a wall clock stepped backwards cannot extend a lease.
   */
  isValid(now: number = this.clock()): boolean {
    return this.expiresAt - this.safetyMs > now && performance.now() < this.monoDeadline;
  }

  /** Milliseconds of local validity left (0 when invalid). */
  remainingMs(now: number = this.clock()): number {
    const wall = this.expiresAt - this.safetyMs - now;
    const mono = this.monoDeadline - performance.now();
    return Math.max(0, Math.min(wall, mono));
  }
}

export type AcquireOutcome =
  | { ok: true; lease: Lease }
  /** Held by someone else until `expiresAt` (their clock); retry after it. */
  | { ok: false; holder: string; expiresAt: number }
  /** Lost a race (CAS conflict) or could not read; retry soon. */
  | { ok: false; holder: null; expiresAt: null };

/** A lease record, or null when it is malformed (counted, logged, and treated as expired by every caller). */
function decodeLease(entry: KvEntry, opts: { logger?: Logger; metrics?: Metrics }): LeaseRecord | null {
  try {
    return LeaseMessage.decode(entry.value);
  } catch (err) {
    countMalformed(opts.metrics, 'kv.leases', err);
    opts.logger?.warn({ key: entry.key, revision: entry.revision, reason: errorMessage(err) }, 'malformed lease record; treating it as expired');
    return null;
  }
}

/**
 * Give back every lease `holder` holds in `bucket`, each by compare-and-set
 * on the revision read (a lease renewed or taken meanwhile is left alone).
 * Only for a holder known to be dead: its process (or thread) has exited and
 * was seen to exit, so it can renew nothing any more. Then the survivors need
 * not wait for the lease to expire. Returns the keys given back.
 */
export async function releaseLeasesOfDeadHolder(bucket: KvBucket, holder: string, opts: { logger?: Logger; metrics?: Metrics } = {}): Promise<string[]> {
  const released: string[] = [];
  for (const entry of await bucket.entries()) {
    const record = decodeLease(entry, opts);
    if (record === null || record.holder !== holder) continue;
    try {
      await bucket.delete(entry.key, entry.revision);
      released.push(entry.key);
    } catch (err) {
      if (err instanceof CasConflictError) continue;
      opts.logger?.warn({ key: entry.key, holder, error: errorMessage(err) }, 'could not give back a dead holder\'s lease; it expires on its own');
    }
  }
  return released;
}

export class LeaseManager {
  readonly holder: string;
  readonly leaseMs: number;
  readonly safetyMs: number;
  readonly stats: LeaseStats = { acquired: 0, renewed: 0, lost: 0, released: 0, malformed: 0, errors: 0 };
  private readonly bucket: KvBucket;
  private readonly logger: Logger;
  private readonly metrics: Metrics | undefined;
  private readonly clock: () => number;

  constructor(options: LeaseOptions) {
    if (typeof options.holder !== 'string' || options.holder.length === 0 || options.holder.length > 200) {
      throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'lease holder must be a non-empty string of at most 200 characters');
    }
    if (!Number.isSafeInteger(options.leaseMs) || options.leaseMs < 100) {
      throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `leaseMs must be an integer >= 100 (got ${String(options.leaseMs)})`);
    }
    const safetyMs = options.safetyMs ?? Math.max(100, Math.floor(options.leaseMs / 5));
    if (!Number.isFinite(safetyMs) || safetyMs < 0 || safetyMs >= options.leaseMs) {
      throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `safetyMs must be in [0, leaseMs) (got ${String(safetyMs)})`);
    }
    this.bucket = options.bucket;
    this.holder = options.holder;
    this.leaseMs = options.leaseMs;
    this.safetyMs = safetyMs;
    this.logger = options.logger ?? createLogger({ nodeId: options.holder, level: 'warn', destination: 2 });
    this.metrics = options.metrics;
    this.clock = options.clock ?? Date.now;
  }

  /** Take `key` if it is free or expired; null when someone else holds it (or a race was lost). */
  async acquire(key: string): Promise<Lease | null> {
    const outcome = await this.tryAcquire(key);
    return outcome.ok ? outcome.lease : null;
  }

  /** Like acquire, but says who holds the lease and until when, so a caller can time its retry. */
  async tryAcquire(key: string): Promise<AcquireOutcome> {
    const current = await this.bucket.get(key);
    const now = this.clock();
    let takeOverRevision: number | null = null;
    if (current !== null) {
      const record = this.decode(current);
      if (record !== null && record.holder !== this.holder && record.expiresAt > now) {
        return { ok: false, holder: record.holder, expiresAt: record.expiresAt };
      }
      // Expired, malformed, or ours from an earlier Lease object we dropped
      // locally: take it over by CAS on exactly the revision we read.
      takeOverRevision = current.revision;
    }
    const lease = await this.write(key, takeOverRevision, now);
    if (lease === null) return { ok: false, holder: null, expiresAt: null };
    this.stats.acquired++;
    return { ok: true, lease };
  }

  /**
   * Extend a lease we hold, by CAS on its revision. Null: lost (someone took
   * it over, or it was deleted); the caller must stop acting on it. Transport
   * errors are thrown: the lease may still be ours, and stays locally valid
   * only until its deadline.
   */
  async renew(lease: Lease): Promise<Lease | null> {
    const next = await this.write(lease.key, lease.revision, this.clock(), lease.acquiredAt);
    if (next === null) {
      this.stats.lost++;
      return null;
    }
    this.stats.renewed++;
    return next;
  }

  /** Give the lease up (CAS delete). False when it was no longer ours; never throws on a lost CAS. */
  async release(lease: Lease): Promise<boolean> {
    try {
      await this.bucket.delete(lease.key, lease.revision);
      this.stats.released++;
      return true;
    } catch (err) {
      if (err instanceof CasConflictError) return false;
      throw err;
    }
  }

  /** Read a lease record as data (status, tests); malformed or absent: null. */
  async inspect(key: string): Promise<(LeaseRecord & { revision: number }) | null> {
    const entry = await this.bucket.get(key);
    if (entry === null) return null;
    const record = this.decode(entry);
    return record === null ? null : { ...record, revision: entry.revision };
  }

  private async write(key: string, revision: number | null, now: number, acquiredAt?: number): Promise<Lease | null> {
    // Measure the deadline from before the request: the server may apply the
    // write late, never early, so the local deadline is never too generous.
    const mono = performance.now();
    const record: LeaseRecord = { v: 1, holder: this.holder, acquiredAt: acquiredAt ?? now, expiresAt: now + this.leaseMs };
    const bytes = LeaseMessage.encode(record);
    let newRevision: number;
    try {
      newRevision = revision === null ? await this.bucket.create(key, bytes) : await this.bucket.update(key, bytes, revision);
    } catch (err) {
      if (err instanceof CasConflictError) return null;
      this.stats.errors++;
      throw err;
    }
    return new Lease({
      key,
      holder: this.holder,
      revision: newRevision,
      acquiredAt: record.acquiredAt,
      expiresAt: record.expiresAt,
      safetyMs: this.safetyMs,
      monoDeadline: mono + this.leaseMs - this.safetyMs,
      clock: this.clock,
    });
  }

  private decode(entry: KvEntry): LeaseRecord | null {
    const record = decodeLease(entry, { logger: this.logger, metrics: this.metrics });
    if (record === null) this.stats.malformed++;
    return record;
  }
}
