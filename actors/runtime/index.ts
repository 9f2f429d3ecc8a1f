/**
 * The actor runtime's public API. Import from here, not from the files.
 */
export { createLogger, type Logger, type LoggerOptions } from './log.js';
export { createMetrics, type Metrics, type MetricsOptions, type EventLoopDelay, type TaskOutcome } from './metrics.js';
export { Mailbox, type MailboxOptions, type SendOptions } from './mailbox.js';
export {
  ActorSystem,
  ActorCrashError,
  ActorEscalatedError,
  actorAddress,
  parseAddress,
  type ActorBehaviour,
  type ActorContext,
  type ActorKindSpec,
  type ActorSystemOptions,
  type Directive,
  type TellOptions,
} from './actor.js';
export { PriorityScheduler, DEFAULT_WEIGHTS, type QueueWeights, type Scheduled, type PrioritySchedulerOptions } from './priority.js';
export { TaskWorker, enqueueTask, retryDelay, type TaskContext, type TaskHandler, type TaskWorkerOptions, type WorkerStats, type NewTask } from './worker.js';

// ---------------------------------------------------------------------------
// Membership, leases, sharding, fencing and entity hosts (helper H3b):
// append their exports below this line.
// ---------------------------------------------------------------------------
export { LeaseManager, Lease, type LeaseOptions, type LeaseStats, type AcquireOutcome } from './lease.js';
export { FencedStore, encodeFenced, decodeFenced, type FencedRecord, type FencedStoreOptions, type FencedStoreStats } from './fencing.js';
export { Membership, memberKey, isValidHostId, type MembershipOptions, type MembershipStats, type MembersListener } from './membership.js';
export {
  ShardManager,
  shardOf,
  rendezvousOwner,
  rendezvousWeight,
  fnv1a32,
  fmix32,
  type ReleaseReason,
  type ShardManagerOptions,
  type ShardManagerStats,
} from './sharding.js';
export { EntityHost, NotOwnerError, type EntityHostOptions, type EntityHostStats } from './entity-host.js';
export { clusterMetrics, type ClusterMetrics } from './cluster-metrics.js';
export { SingletonLease, type SingletonLeaseOptions, type SingletonRole } from './singleton.js';
