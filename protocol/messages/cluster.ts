import { Type, type Static } from '@sinclair/typebox';
import { defineMessage } from '../message.js';
import { QueueNameSchema } from './work-task.js';

const RoleSchema = Type.Union([Type.Literal('tracker'), Type.Literal('tile'), Type.Literal('ingest'), Type.Literal('gateway'), Type.Literal('worker')]);
export type Role = Static<typeof RoleSchema>;
export { RoleSchema };
export const ROLES: readonly Role[] = ['tracker', 'tile', 'ingest', 'gateway', 'worker'];

/**
 * One live actor host, as a value in the members bucket. 2.9 has no KV TTL,
 * so liveness is `expiresAt`: readers ignore records past it.
 */
export const MemberSchema = Type.Object(
  {
    v: Type.Literal(1),
    hostId: Type.String({ minLength: 1, maxLength: 200 }),
    nodeId: Type.String({ minLength: 1, maxLength: 200 }),
    role: RoleSchema,
    pid: Type.Integer({ minimum: 0 }),
    startedAt: Type.Integer({ minimum: 0, description: 'ms since the Unix epoch' }),
    heartbeatAt: Type.Integer({ minimum: 0 }),
    expiresAt: Type.Integer({ minimum: 0 }),
    draining: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type Member = Static<typeof MemberSchema>;
export const MemberMessage = defineMessage({
  name: 'cluster.member',
  version: 1,
  description: 'Membership record of one actor host; alive while `expiresAt` is in the future.',
  encoding: 'json',
  schema: MemberSchema,
  subjects: 'KV bucket `<ns>_members`, key `<role>.<hostId>`',
});

/**
 * A lease on a shard (or singleton). The KV revision of the record is the
 * fencing token: it only grows, and a holder whose revision is not the
 * current one has lost the lease.
 */
export const LeaseSchema = Type.Object(
  {
    v: Type.Literal(1),
    holder: Type.String({ minLength: 1, maxLength: 200 }),
    acquiredAt: Type.Integer({ minimum: 0 }),
    expiresAt: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type Lease = Static<typeof LeaseSchema>;
export const LeaseMessage = defineMessage({
  name: 'cluster.lease',
  version: 1,
  description: 'A time-bounded lease, taken over by compare-and-set after `expiresAt`. Fencing token = KV revision.',
  encoding: 'json',
  schema: LeaseSchema,
  subjects: 'KV bucket `<ns>_leases`, key `<kind>.<shard>` or `singleton.<name>`',
});

const HostStatusSchema = Type.Object(
  {
    hostId: Type.String(),
    role: RoleSchema,
    pid: Type.Integer({ minimum: 0 }),
    state: Type.Union([Type.Literal('starting'), Type.Literal('running'), Type.Literal('restarting'), Type.Literal('stopped'), Type.Literal('failed')]),
    actors: Type.Integer({ minimum: 0 }),
    restarts: Type.Integer({ minimum: 0 }),
    lastHeartbeatAt: Type.Union([Type.Integer(), Type.Null()]),
    /** Busy: event-loop delay above the slow threshold. Reported, never a reason to restart. */
    slow: Type.Optional(Type.Boolean()),
    /** p99 event-loop delay of the host's last window, ms. */
    eventLoopP99Ms: Type.Optional(Type.Number({ minimum: 0 })),
    /** How long the host's event loop has gone without a turn, as its liveness thread last saw it, ms. */
    stalledMs: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);

export const ClusterStatusSchema = Type.Object(
  {
    v: Type.Literal(1),
    nodeId: Type.String(),
    at: Type.Integer({ minimum: 0 }),
    roles: Type.Array(RoleSchema),
    hosts: Type.Array(HostStatusSchema),
    queues: Type.Record(Type.String(), Type.Object({ depth: Type.Integer({ minimum: 0 }) }, { additionalProperties: false })),
    deadLetters: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type ClusterStatus = Static<typeof ClusterStatusSchema>;
export const ClusterStatusMessage = defineMessage({
  name: 'cluster.status',
  version: 1,
  description: "One node's supervisor report: its hosts, their actors and restarts, queue depths and dead letters. Published every few seconds.",
  encoding: 'json',
  schema: ClusterStatusSchema,
  subjects: '`<ns>.cluster.status.v1` (core NATS)',
});

/** Child host → supervisor, over the IPC channel, every heartbeat interval. */
export const HostHeartbeatSchema = Type.Object(
  {
    v: Type.Literal(1),
    type: Type.Literal('heartbeat'),
    hostId: Type.String(),
    actors: Type.Integer({ minimum: 0 }),
    inFlight: Type.Integer({ minimum: 0 }),
    eventLoopP99Ms: Type.Number({ minimum: 0 }),
    queueDepths: Type.Optional(Type.Record(Type.String(), Type.Integer({ minimum: 0 }))),
  },
  { additionalProperties: false },
);
export type HostHeartbeat = Static<typeof HostHeartbeatSchema>;
export const HostHeartbeatMessage = defineMessage({
  name: 'host.heartbeat',
  version: 1,
  description: 'Liveness and load of an actor-host child process, sent to its supervisor over Node IPC.',
  encoding: 'json',
  schema: HostHeartbeatSchema,
  subjects: 'Node.js IPC channel between supervisor and child (not NATS)',
});

export { QueueNameSchema };
