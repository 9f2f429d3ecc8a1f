/**
 * Role services: the long-running parts of a role that are more than task
 * handlers — a tracker shard host ticking at 1 Hz, an ingest singleton, the
 * gateway's HTTP server. A role lists its service factories in roles.ts; the
 * host starts them after it has joined membership and before its worker
 * starts (so a service can still register task handlers), and stops them in
 * reverse order when it drains.
 */
import type { TSchema } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { Config } from '../../config/load.js';
import type { Names } from '../../protocol/names.js';
import type { Role } from '../../protocol/messages/cluster.js';
import type { Transport } from '../../protocol/transport.js';
import type { Metrics } from '../runtime/metrics.js';
import type { Membership } from '../runtime/membership.js';
import type { LeaseManager } from '../runtime/lease.js';
import type { ShardManager, ShardManagerOptions } from '../runtime/sharding.js';
import type { TaskHandler } from '../runtime/worker.js';
import type { Storage } from '../storage/index.js';

/**
 * The node's supervisor view (every host's state, aggregated metrics), which
 * the gateway serves as /health and /metrics on its port. Inline hosts call
 * the supervisor directly; forked hosts ask it over IPC.
 */
export interface NodeView {
  /** The supervisor's health report (supervisor/http.ts HealthReport). */
  health(): Promise<{ status: 'ok' | 'degraded' } & Record<string, unknown>>;
  /** Prometheus text of the node (supervisor and every host). */
  metrics(): Promise<{ contentType: string; body: string }>;
}

export interface HostContext {
  readonly config: Config;
  readonly role: Role;
  readonly hostId: string;
  readonly logger: Logger;
  readonly transport: Transport;
  readonly names: Names;
  readonly metrics: Metrics;
  readonly membership: Membership;
  /** Leases held by this host (holder = hostId). */
  readonly leases: LeaseManager;
  /** The node's storage: shared with the supervisor inline, opened on first use in a forked host. */
  storage(): Promise<Storage>;
  /**
   * A ShardManager for `kind` over this role's live members, started by the
   * caller; the host stops it (releasing its leases) when it drains.
   */
  shardManager(kind: string, callbacks: Pick<ShardManagerOptions, 'onAcquire' | 'onRelease'>): Promise<ShardManager>;
  /** Register a task handler; only valid while services start (before the worker does). */
  registerTask<S extends TSchema>(kind: string, handler: TaskHandler<S>): void;
  /** A line for /health: something operators should know about this host. */
  note(text: string): void;
  /** The node's supervisor view, for /health and /metrics on the gateway port. */
  readonly nodeView: NodeView;
}

export interface RunningService {
  /** Actors this service has active, for heartbeats and cluster status. */
  actors?(): number;
  /** Extra fields for /health and host info. */
  health?(): Record<string, unknown>;
  /** Stop: finish or hand back work, release what it holds. */
  stop(): Promise<void>;
}

export interface RoleService {
  /** Stable name, used in logs and health. */
  name: string;
  start(ctx: HostContext): Promise<RunningService>;
}
