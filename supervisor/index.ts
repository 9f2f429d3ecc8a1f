/**
 * The supervisor's public API: child specs, backoff, the Supervisor, cluster
 * status, node HTTP (/health, /metrics) and a whole node. The CLI
 * (supervisor/cli.ts) is an entry point, not exported.
 */
export { backoffBound, nextDelay, validateBackoff, type BackoffPolicy, type JitterKind } from './backoff.js';
export { shouldRestart, validateChildSpecs, type ChildSpec, type InlineChild, type InlineContext, type InlineStart, type ProcessStart, type RestartType } from './child-spec.js';
export { Supervisor, type ChildExit, type ChildState, type ChildStatus, type SupervisorOptions, type SupervisorOutcome } from './supervisor.js';
export { ClusterStatusReporter, collectClusterStatus, hostStatus, type ClusterStatusOptions } from './cluster-status.js';
export {
  nodeHttpPlugin,
  startNodeServer,
  supervisorHealth,
  useProblemDetails,
  type HealthReport,
  type HostHealth,
  type NodeHealthSource,
  type NodeServer,
  type NodeServerOptions,
  type Problem,
  type SupervisorHealthOptions,
} from './http.js';
export { startNode, childSpecs, HOST_ENTRY, ROLE_ORDER, type NodeOptions, type RunningNode } from './node.js';
