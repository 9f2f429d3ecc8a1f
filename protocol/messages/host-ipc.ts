/**
 * The messages an actor host and its supervisor exchange, besides the
 * HostHeartbeat defined in protocol/messages/cluster.ts. They travel over the
 * Node IPC channel of a forked child, the parent port of a host on a worker
 * thread, or as plain calls when the host runs inline; both sides validate
 * them the same way, and an invalid message is counted and ignored, never
 * trusted.
 */
import type { MessagePort } from 'node:worker_threads';
import { Type, type Static } from '@sinclair/typebox';
import { defineMessage } from '../message.js';
import { RoleSchema } from './cluster.js';

/** What a host runs, sent once it is up and again when it changes. */
export const HostInfoSchema = Type.Object(
  {
    v: Type.Literal(1),
    type: Type.Literal('info'),
    hostId: Type.String({ minLength: 1, maxLength: 200 }),
    role: RoleSchema,
    pid: Type.Integer({ minimum: 0 }),
    transport: Type.Union([Type.Literal('nats'), Type.Literal('embedded')]),
    connected: Type.Boolean(),
    /** Work queues this host consumes (empty when it has no handlers for them). */
    queues: Type.Array(Type.String()),
    /** Task kinds with a registered handler. */
    handlers: Type.Array(Type.String()),
    /** Entity kinds this host can activate. */
    entityKinds: Type.Array(Type.String()),
    /** Shard kinds whose leases this host competes for, and how many shards it owns. */
    shards: Type.Record(Type.String(), Type.Integer({ minimum: 0 })),
    draining: Type.Boolean(),
    /** Honest notes for /health, e.g. "no task handlers registered: not consuming". */
    notes: Type.Array(Type.String({ maxLength: 500 })),
    /** Per role service (actors/host/services.ts): its own health fields. */
    services: Type.Optional(Type.Record(Type.String(), Type.Record(Type.String(), Type.Unknown()))),
  },
  { additionalProperties: false },
);
export type HostInfo = Static<typeof HostInfoSchema>;
export const HostInfoMessage = defineMessage({
  name: 'host.info',
  version: 1,
  description: 'What an actor host runs (queues, handlers, entity kinds, transport state), sent to its supervisor over Node IPC.',
  encoding: 'json',
  schema: HostInfoSchema,
  subjects: 'Node.js IPC channel between supervisor and child (not NATS)',
});

/** A host's prom-client registry as JSON, in answer to a `metrics` command. */
export const HostMetricsSchema = Type.Object(
  {
    v: Type.Literal(1),
    type: Type.Literal('metrics'),
    requestId: Type.Integer({ minimum: 0 }),
    metrics: Type.Array(Type.Unknown()),
  },
  { additionalProperties: false },
);
export type HostMetrics = Static<typeof HostMetricsSchema>;
export const HostMetricsMessage = defineMessage({
  name: 'host.metrics',
  version: 1,
  description: "A host's metrics (prom-client getMetricsAsJSON), aggregated by the supervisor for /metrics.",
  encoding: 'json',
  schema: HostMetricsSchema,
  subjects: 'Node.js IPC channel between supervisor and child (not NATS)',
});

/**
 * Host → supervisor: a host that serves the node's /health and /metrics (the
 * gateway) asks its supervisor for the node view, which only the supervisor
 * has (every host's heartbeats, restarts, the aggregated registries).
 */
export const NodeViewRequestSchema = Type.Object(
  {
    v: Type.Literal(1),
    type: Type.Literal('node-view'),
    requestId: Type.Integer({ minimum: 0 }),
    want: Type.Union([Type.Literal('health'), Type.Literal('metrics')]),
  },
  { additionalProperties: false },
);
export type NodeViewRequest = Static<typeof NodeViewRequestSchema>;
export const NodeViewRequestMessage = defineMessage({
  name: 'host.node-view',
  version: 1,
  description: "A host's request for the node view (health report or Prometheus text) it serves on the gateway port; answered by a `node-view` supervisor command with the same requestId.",
  encoding: 'json',
  schema: NodeViewRequestSchema,
  subjects: 'Node.js IPC channel between supervisor and child (not NATS)',
});

/** The supervisor's answer to a NodeViewRequest (one of health, metrics or error is set). */
export const NodeViewAnswerSchema = Type.Object(
  {
    type: Type.Literal('node-view'),
    requestId: Type.Integer({ minimum: 0 }),
    health: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    metrics: Type.Optional(Type.Object({ contentType: Type.String(), body: Type.String() }, { additionalProperties: false })),
    error: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { additionalProperties: false },
);
export type NodeViewAnswer = Static<typeof NodeViewAnswerSchema>;

/** Supervisor → host. */
export const SupervisorCommandSchema = Type.Union([
  Type.Object({ type: Type.Literal('drain') }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('metrics'), requestId: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
  NodeViewAnswerSchema,
]);
export type SupervisorCommand = Static<typeof SupervisorCommandSchema>;
export const SupervisorCommandMessage = defineMessage({
  name: 'supervisor.command',
  version: 1,
  description: 'A command from the supervisor to one of its actor hosts: drain, report metrics, or the answer to a node-view request.',
  encoding: 'json',
  schema: SupervisorCommandSchema,
  subjects: 'Node.js IPC channel between supervisor and child (not NATS)',
});

/** Environment variables through which a supervisor tells a forked host who it is. */
export const HOST_ENV = {
  role: 'STARWEATHER_HOST_ROLE',
  hostId: 'STARWEATHER_HOST_ID',
  childId: 'STARWEATHER_CHILD_ID',
  /** File descriptor of the liveness pipe a forked host writes LivenessBeat lines to. */
  beatFd: 'STARWEATHER_BEAT_FD',
} as const;

/** The stdio slot of a forked host's liveness pipe (0-2 are stdio, 3 is the IPC channel). */
export const LIVENESS_FD = 4;

/**
 * Host → supervisor, one JSON line each on the liveness pipe, written by the
 * host's liveness thread (actors/runtime/liveness.ts), not by its main loop:
 * beats keep coming while the host's JavaScript is busy. `stalledMs` is how
 * long the main loop has gone without a turn; the supervisor judges a host
 * hung on that, and unresponsive (stopped or dead) only when beats stop.
 */
export const LivenessBeatSchema = Type.Object(
  {
    v: Type.Literal(1),
    type: Type.Literal('beat'),
    seq: Type.Integer({ minimum: 0 }),
    stalledMs: Type.Integer({ minimum: 0 }),
    pid: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type LivenessBeat = Static<typeof LivenessBeatSchema>;
export const LivenessBeatMessage = defineMessage({
  name: 'host.liveness-beat',
  version: 1,
  description: "A forked host's liveness beat, written by a thread that runs while the host's JavaScript is busy; says how long its event loop has gone without a turn.",
  encoding: 'json',
  schema: LivenessBeatSchema,
  subjects: 'liveness pipe of a forked actor host (stdio fd 4; not NATS)',
});

/**
 * What a supervisor hands a host it runs on a worker thread (embedded
 * default, issue 10), as the Worker's workerData. Messages then flow as over
 * IPC (HostHeartbeat, HostInfo, HostMetrics, NodeViewRequest up;
 * SupervisorCommand down) on the worker's parent port; liveness is the
 * progress counter below instead of a beat pipe.
 */
export interface ThreadHostData {
  role: string;
  hostId: string;
  childId: string;
  /**
   * THREAD_PROGRESS_SLOTS Int32 slots; the host's loop adds 1 to slot 0 every
   * THREAD_PROGRESS_MS. The supervisor reads it from its own thread: a counter
   * that stops moving is a loop that makes no progress.
   */
  progress: SharedArrayBuffer;
  /** The node's resolved configuration (config/load.ts Config), so the host runs exactly what the node was started with. */
  config: unknown;
  /** The bus, bridged over a port to the transport the main thread owns (actors/runtime/transport/thread-bridge.ts). */
  transportPort: MessagePort;
  /** The storage the main thread owns, bridged (actors/storage/thread-storage.ts). */
  storage: unknown;
}
export const THREAD_PROGRESS_SLOTS = 1;
export const THREAD_PROGRESS_MS = 50;
