/**
 * Burying a host that is known to be dead: its leases are given back (each
 * by compare-and-set on the revision read) and then its member record is
 * deleted, so its peers take its shards and singletons at once instead of
 * waiting for the records to expire (STARWEATHER_LEASE_MS,
 * STARWEATHER_MEMBER_TTL_MS).
 *
 * Two callers know a host is dead: its own supervisor, which saw the process
 * or thread exit (supervisor/burial.ts), and its peers' presence watch, which
 * saw its bus connection gone (presence.ts) when no supervisor is left to
 * tell, because the whole node crashed.
 */
import type { Logger } from 'pino';
import { CasConflictError } from '../../protocol/errors.js';
import type { Role } from '../../protocol/messages/cluster.js';
import type { Transport } from '../../protocol/transport.js';
import { releaseLeasesOfDeadHolder } from './lease.js';
import { memberKey } from './membership.js';

export interface BuryOptions {
  logger?: Logger;
  /**
   * Delete the member record only if it is still at this revision: a record
   * rewritten since the host was judged dead means it is alive after all.
   * Without it the record is deleted whatever its revision (the supervisor
   * saw the process exit, so nothing can rewrite it).
   */
  memberRevision?: number;
}

/** Give back `hostId`'s leases, then its member record. Returns the lease keys given back. */
export async function buryHost(transport: Pick<Transport, 'kv'>, role: Role, hostId: string, opts: BuryOptions = {}): Promise<string[]> {
  // Leases first: when the member record goes, peers rebalance at once and
  // should find the shards free, not held until expiry.
  const leases = await releaseLeasesOfDeadHolder(await transport.kv('leases'), hostId, { logger: opts.logger });
  try {
    await (await transport.kv('members')).delete(memberKey(role, hostId), opts.memberRevision);
  } catch (err) {
    // Rewritten meanwhile: the host lives and joins again on its own; its
    // leases were given back, so it takes its shards again by rebalance.
    if (!(err instanceof CasConflictError)) throw err;
  }
  return leases;
}
