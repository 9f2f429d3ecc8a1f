/**
 * When a host of this node exits, what it held in the cluster is given back
 * at once: its leases (each by compare-and-set on the revision read) and its
 * member record. The supervisor saw the process (or thread) exit, so the host
 * can renew nothing any more; without this its peers wait for its member
 * record and its leases to expire (STARWEATHER_MEMBER_TTL_MS,
 * STARWEATHER_LEASE_MS) before taking its shards, and its objects go
 * unpublished meanwhile. A node that dies whole (supervisor included) is
 * buried by its peers' presence watch (actors/runtime/presence.ts).
 */
import type { Logger } from 'pino';
import { errorMessage } from '../protocol/errors.js';
import type { Role } from '../protocol/messages/cluster.js';
import type { Transport } from '../protocol/transport.js';
import { buryHost } from '../actors/runtime/burial.js';
import type { Supervisor } from './supervisor.js';

interface ChildExitEvent {
  id: string;
  role: Role;
  hostId: string;
  reason: string;
}

/** Bury every host of `supervisor` that exits; the returned function waits for burials in flight. */
export function buryExitedHosts(supervisor: Supervisor, transport: Transport, log: Logger): () => Promise<void> {
  const inFlight = new Set<Promise<void>>();
  supervisor.on('child-exit', (e: ChildExitEvent) => {
    if (!e.hostId) return;
    const p = bury(transport, e, log).finally(() => inFlight.delete(p));
    inFlight.add(p);
  });
  return async () => {
    await Promise.allSettled([...inFlight]);
  };
}

async function bury(transport: Transport, e: ChildExitEvent, log: Logger): Promise<void> {
  const startedAt = Date.now();
  try {
    const leases = await buryHost(transport, e.role, e.hostId, { logger: log });
    if (leases.length > 0 || e.reason !== 'shutdown') {
      log.info({ child: e.id, hostId: e.hostId, reason: e.reason, leases: leases.length, ms: Date.now() - startedAt }, 'exited host buried: its leases and member record given back');
    }
  } catch (err) {
    // The records expire on their own; peers take over later, not never.
    log.warn({ child: e.id, hostId: e.hostId, error: errorMessage(err) }, 'could not bury an exited host; its records expire on their own');
  }
}
