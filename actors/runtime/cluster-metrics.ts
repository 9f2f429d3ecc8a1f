/**
 * Prometheus instruments for membership, leases, fencing and sharding, added
 * to the process registry from metrics.ts. Get-or-create by name, because a
 * process may run several shard managers (one per entity kind) on one
 * registry, and prom-client refuses to register a name twice.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { errorCode } from '../../protocol/errors.js';
import type { Metrics } from './metrics.js';

export interface ClusterMetrics {
  readonly shardsOwned: Gauge<'kind'>;
  readonly shardAcquisitions: Counter<'kind'>;
  readonly shardReleases: Counter<'kind' | 'reason'>;
  readonly leaseRenewalErrors: Counter<'kind'>;
  readonly leaseReclaims: Counter<'kind'>;
  readonly fencedWrites: Counter<'outcome'>;
  readonly memberHeartbeatErrors: Counter<'role'>;
  readonly hostBurials: Counter<'role' | 'cause'>;
}

const cache = new WeakMap<Registry, ClusterMetrics>();

export function clusterMetrics(metrics: Metrics): ClusterMetrics {
  const registry = metrics.registry;
  const hit = cache.get(registry);
  if (hit) return hit;
  const registers = [registry];
  const made: ClusterMetrics = {
    shardsOwned: new Gauge({ name: 'sw_shards_owned', help: 'Shards this process holds a locally valid lease on, by entity kind', labelNames: ['kind'] as const, registers }),
    shardAcquisitions: new Counter({ name: 'sw_shard_acquisitions_total', help: 'Shard leases taken, by entity kind', labelNames: ['kind'] as const, registers }),
    shardReleases: new Counter({
      name: 'sw_shard_releases_total',
      help: 'Shards given up, by entity kind and reason (rebalance, lost, expired, stopped); lost and expired mean a lease ran out under us',
      labelNames: ['kind', 'reason'] as const,
      registers,
    }),
    leaseRenewalErrors: new Counter({ name: 'sw_lease_renewal_errors_total', help: 'Lease renewals that failed with a bus error (outcome unknown), by entity kind', labelNames: ['kind'] as const, registers }),
    leaseReclaims: new Counter({ name: 'sw_lease_reclaims_total', help: 'Leases found past their local deadline after a pause of this host (stalled loop, stopped process) and won back by compare-and-set: ownership unchanged', labelNames: ['kind'] as const, registers }),
    fencedWrites: new Counter({ name: 'sw_fenced_writes_total', help: 'Fenced writes, by outcome (ok, fenced: rejected for a stale token)', labelNames: ['outcome'] as const, registers }),
    memberHeartbeatErrors: new Counter({ name: 'sw_member_heartbeat_errors_total', help: 'Membership heartbeats that could not be written, by role', labelNames: ['role'] as const, registers }),
    hostBurials: new Counter({
      name: 'sw_host_burials_total',
      help: 'Peer hosts buried by this host (leases and member record given back before they expired), by role and cause (presence: its bus connection was gone)',
      labelNames: ['role', 'cause'] as const,
      registers,
    }),
  };
  cache.set(registry, made);
  return made;
}

/** Count a malformed KV record on the shared rejected-messages counter. */
export function countMalformed(metrics: Metrics | undefined, where: string, err: unknown): void {
  metrics?.messagesRejected.inc({ where, code: errorCode(err) === 'SW_ERR_HANDLER' ? 'SW_ERR_DECODE' : errorCode(err) });
}
