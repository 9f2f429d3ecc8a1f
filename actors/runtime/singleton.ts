/**
 * SingletonLease: the leadership half of a cluster singleton actor (one
 * catalog ingest, one imagery ingest). Every host runs the actor; they
 * compete for one lease key and only the holder does the work. The actor
 * calls `tick()` on its own timer (every third of the lease, so two renewals
 * may fail before the lease runs out) and keeps its own scheduling and
 * fencing: before each write it checks `isLeader` (or `lease.isValid()` /
 * `lease.fenceToken`), which never asks the server.
 *
 * A tick while not leader tries to take the lease; while leader it renews it.
 * A renewal that throws (transport trouble) does not end leadership: the
 * lease may still be ours and stays locally valid until its deadline, so
 * work already fenced by it may go on, but nothing new should start. A
 * renewal answered null means someone else took the lease over.
 */
import { errorMessage } from '../../protocol/errors.js';
import type { Lease, LeaseManager } from './lease.js';
import type { Logger } from './log.js';

export interface SingletonLeaseOptions {
  leases: LeaseManager;
  /** The lease key, e.g. `singleton.catalog-ingest`. */
  key: string;
  logger: Logger;
  /** Prefix of the log lines, e.g. `catalog ingest`. */
  name: string;
  /**
   * Leadership won: set up the schedule (may read the database). Runs before
   * the "leader" line is logged; the fields it returns are added to that line.
   */
  onLead?: (lease: Lease) => Promise<Record<string, unknown> | void> | Record<string, unknown> | void;
  /** Leadership lost (taken over, or expired while renewals failed). */
  onLose?: (why: string) => void;
}

/**
 * What one tick found:
 * - `leader`: the lease was taken or renewed just now; start due work.
 * - `holding`: the renewal failed but the lease is still locally valid;
 *   fenced work in flight may go on, start nothing new.
 * - `follower`: not ours (held elsewhere, lost, stopping, or the check failed).
 */
export type SingletonRole = 'leader' | 'holding' | 'follower';

export class SingletonLease {
  /** Times this instance became leader. */
  leaderships = 0;
  private readonly o: SingletonLeaseOptions;
  private current: Lease | null = null;
  private stopping = false;

  constructor(options: SingletonLeaseOptions) {
    this.o = options;
  }

  /** The lease as last taken or renewed (check `isValid()` before acting on it); null when not held. */
  get lease(): Lease | null {
    return this.current;
  }

  /** Held, locally valid, and not stopping. Local check, no I/O. */
  get isLeader(): boolean {
    return this.current !== null && this.current.isValid() && !this.stopping;
  }

  async tick(): Promise<SingletonRole> {
    try {
      if (this.current === null) {
        const got = await this.o.leases.tryAcquire(this.o.key);
        if (!got.ok || this.stopping) {
          // Won while stopping: give it back at once instead of leaving it to expire.
          if (got.ok) await this.o.leases.release(got.lease).catch(() => false);
          return 'follower';
        }
        this.current = got.lease;
        this.leaderships++;
        const fields = (await this.o.onLead?.(got.lease)) ?? {};
        this.o.logger.info({ fenceToken: got.lease.fenceToken, ...fields }, `${this.o.name}: leader`);
        return 'leader';
      }
      let renewed: Lease | null;
      try {
        renewed = await this.o.leases.renew(this.current);
      } catch (err) {
        // The lease may still be ours; it stays locally valid until its deadline.
        this.o.logger.warn({ err: errorMessage(err) }, `${this.o.name}: lease renewal failed`);
        if (!this.current.isValid()) {
          this.lose('lease expired while renewals failed');
          return 'follower';
        }
        return 'holding';
      }
      if (renewed === null) {
        this.lose('lease taken over');
        return 'follower';
      }
      this.current = renewed;
      return 'leader';
    } catch (err) {
      this.o.logger.warn({ err: errorMessage(err) }, `${this.o.name}: lease check failed`);
      return 'follower';
    }
  }

  /** No longer leader from now on (`isLeader` false), and a lease won by a tick in flight is given back. Sync: call first in an actor's stop. */
  stop(): void {
    this.stopping = true;
  }

  /**
   * Stop and let go of the lease: released so another host takes over at
   * once, or with `release: false` left to expire (what a crash looks like;
   * tests use it). Call after the work fenced by the lease has ended.
   */
  async release(options: { release?: boolean } = {}): Promise<void> {
    this.stopping = true;
    const lease = this.current;
    this.current = null;
    if (lease && options.release !== false) await this.o.leases.release(lease).catch(() => false);
  }

  private lose(why: string): void {
    this.o.logger.warn({ why }, `${this.o.name}: no longer leader`);
    this.current = null;
    this.o.onLose?.(why);
  }
}
