/**
 * The gateway's websocket protocol (`GET /ws`). Control messages are JSON
 * text frames; states travel as binary frames in the tracker state frame
 * layout (protocol/frames/tracker-state.ts, shard field 0), so a browser
 * decodes one format whether it listens to the gateway or a tracker.
 *
 * A client has one subscription: `subscribe` replaces it, `unsubscribe`
 * clears it. A state matches when any criterion matches (ids OR groups OR
 * bbox OR all). After a `subscribe` the server answers `subscribed`, then
 * sends a snapshot (one binary frame with the latest known matching states),
 * then, every tracker tick (1 Hz), one binary frame with the matching states
 * of that tick. A client too slow to read skips frames (latest wins) and is
 * disconnected past a bound.
 *
 * Channels beside positions: `alerts: true` in a subscribe sends the recent
 * unacknowledged alerts, then every alert raised, as `alert` messages;
 * alerts travel in a priority lane ahead of any queued position frame and
 * are never skipped (a client that cannot take them is disconnected).
 * `cluster: true` sends a `cluster` message (every node's latest status)
 * at once and every few seconds.
 *
 * Sequence numbers and resume: the gateway numbers its flushes; every
 * binary frame carries the number of the flush it belongs to in the tracker
 * frame header's reserved u32 at offset 20 (trackers write 0 there, so the
 * layout and its decoder are unchanged; a snapshot carries the latest flush
 * number). `welcome` gives the connection a session id. A client that
 * reconnects sends `resume {session, lastSeq}` with the highest seq it saw:
 * it gets its subscription and channels back (`resumed`), then one binary
 * frame with the matching states changed after lastSeq, and the alert replay
 * when it had alerts. Sessions are kept `sessionTtlMs` after a disconnect and
 * a gateway keeps a bounded number of them (oldest dropped first); an unknown
 * or expired session is answered with `error` SW_ERR_NOT_FOUND and the client
 * subscribes again. Sessions live in one gateway's memory: resume on another
 * gateway fails the same way.
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineMessage } from '../message.js';
import { ClusterStatusSchema } from './cluster.js';
import { AlertRaisedSchema } from './satellite-state.js';

const WS_SUBJECT = 'gateway websocket /ws (JSON text frames; states as binary tracker frames)';

/** At most this many ids or groups in one subscription: bounds per-subscription memory. */
export const WS_MAX_IDS = 10_000;
export const WS_MAX_GROUPS = 100;

const NoradId = Type.Integer({ minimum: 1, maximum: 999_999_999 });
const Group = Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_.-]+$' });
/** Client-chosen id echoed in the answer (`subscribed` or `error`). */
const RequestId = Type.Optional(Type.String({ maxLength: 64 }));

export const WsSubscribeSchema = Type.Object(
  {
    type: Type.Literal('subscribe'),
    id: RequestId,
    ids: Type.Optional(Type.Array(NoradId, { maxItems: WS_MAX_IDS })),
    groups: Type.Optional(Type.Array(Group, { maxItems: WS_MAX_GROUPS })),
    /** [west, south, east, north] in degrees; west > east crosses the antimeridian. */
    bbox: Type.Optional(
      Type.Tuple([
        Type.Number({ minimum: -180, maximum: 180 }),
        Type.Number({ minimum: -90, maximum: 90 }),
        Type.Number({ minimum: -180, maximum: 180 }),
        Type.Number({ minimum: -90, maximum: 90 }),
      ]),
    ),
    all: Type.Optional(Type.Boolean()),
    /** Alert channel: recent unacknowledged alerts, then every alert raised (priority lane). */
    alerts: Type.Optional(Type.Boolean()),
    /** Cluster channel: every node's latest status, now and every few seconds. */
    cluster: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type WsSubscribe = Static<typeof WsSubscribeSchema>;

export const WsUnsubscribeSchema = Type.Object({ type: Type.Literal('unsubscribe'), id: RequestId }, { additionalProperties: false });
export type WsUnsubscribe = Static<typeof WsUnsubscribeSchema>;

/** Session ids are 22 base64url characters (128 random bits). */
const SessionId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
const Seq = Type.Integer({ minimum: 0, maximum: 0xffff_ffff });

export const WsResumeSchema = Type.Object(
  {
    type: Type.Literal('resume'),
    id: RequestId,
    session: SessionId,
    /** Highest frame seq the client received; absent or 0: every matching state. */
    lastSeq: Type.Optional(Seq),
  },
  { additionalProperties: false },
);
export type WsResume = Static<typeof WsResumeSchema>;

export const WsClientMessageSchema = Type.Union([WsSubscribeSchema, WsUnsubscribeSchema, WsResumeSchema]);
export type WsClientMessage = Static<typeof WsClientMessageSchema>;
export const WsClientMessage = defineMessage({
  name: 'ws.client',
  version: 1,
  description:
    'Client → gateway on /ws: `subscribe` (ids, groups, bbox [w,s,e,n] or all, plus the `alerts` and `cluster` channels; replaces the current subscription; criteria are OR-ed), `unsubscribe`, or `resume` (a session id from an earlier `welcome` and the highest frame seq received: restores that subscription). An invalid message is answered with `error` and the connection stays open.',
  encoding: 'json',
  schema: WsClientMessageSchema,
  subjects: WS_SUBJECT,
});

export const WsWelcomeSchema = Type.Object(
  {
    type: Type.Literal('welcome'),
    v: Type.Literal(1),
    serverTime: Type.Number(),
    heartbeatMs: Type.Integer({ minimum: 1 }),
    /** Layout of binary frames. */
    frame: Type.Literal('tracker-state-v1'),
    maxIds: Type.Integer(),
    maxGroups: Type.Integer(),
    /** This connection's session, for `resume` after a reconnect. */
    session: SessionId,
    /** How long a session outlives its connection. */
    sessionTtlMs: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export const WsSubscribedSchema = Type.Object(
  {
    type: Type.Literal('subscribed'),
    id: RequestId,
    /** Latest known states matching now (the snapshot frame that follows carries them). */
    matched: Type.Integer({ minimum: 0 }),
    /** The gateway's latest flush seq (the snapshot frame carries it). */
    seq: Seq,
  },
  { additionalProperties: false },
);
export const WsResumedSchema = Type.Object(
  {
    type: Type.Literal('resumed'),
    id: RequestId,
    session: SessionId,
    /** States changed after lastSeq (the frame that follows carries them). */
    matched: Type.Integer({ minimum: 0 }),
    seq: Seq,
    alerts: Type.Boolean(),
    cluster: Type.Boolean(),
  },
  { additionalProperties: false },
);
export const WsAlertSchema = Type.Object(
  {
    type: Type.Literal('alert'),
    /** True for the recent alerts sent on subscribe or resume, false for one raised now. */
    replay: Type.Boolean(),
    alert: AlertRaisedSchema,
  },
  { additionalProperties: false },
);

/** A node as the gateway shows it: its latest ClusterStatus and how old that is. */
export const ClusterNodeViewSchema = Type.Object({ ...ClusterStatusSchema.properties, ageMs: Type.Integer({ minimum: 0 }) }, { additionalProperties: false });
export type ClusterNodeView = Static<typeof ClusterNodeViewSchema>;
/** `GET /cluster` and the ws `cluster` message: every node heard recently, totals, and task throughput. */
export const ClusterViewSchema = Type.Object(
  {
    at: Type.Integer({ minimum: 0 }),
    nodes: Type.Array(ClusterNodeViewSchema),
    totals: Type.Object(
      {
        nodes: Type.Integer({ minimum: 0 }),
        hosts: Type.Integer({ minimum: 0 }),
        actors: Type.Integer({ minimum: 0 }),
        restarts: Type.Integer({ minimum: 0 }),
        /** Queue depth per priority queue (high, satellite, weather), the highest any node reported (the queues are cluster-wide). */
        queues: Type.Record(Type.String(), Type.Integer({ minimum: 0 })),
        deadLetters: Type.Integer({ minimum: 0 }),
      },
      { additionalProperties: false },
    ),
    /** From the tasks table: counts by state, and tasks finished (done or failed) per minute between two readings; null until derivable. */
    tasks: Type.Union([
      Type.Object(
        {
          byState: Type.Record(Type.String(), Type.Integer({ minimum: 0 })),
          finishedPerMinute: Type.Union([Type.Number({ minimum: 0 }), Type.Null()]),
          sampledAt: Type.Integer({ minimum: 0 }),
        },
        { additionalProperties: false },
      ),
      Type.Null(),
    ]),
  },
  { additionalProperties: false },
);
export type ClusterView = Static<typeof ClusterViewSchema>;
export const WsClusterSchema = Type.Object({ type: Type.Literal('cluster'), view: ClusterViewSchema }, { additionalProperties: false });

export const WsErrorSchema = Type.Object(
  {
    type: Type.Literal('error'),
    id: RequestId,
    /** Stable SW_ERR_ code. */
    code: Type.String(),
    message: Type.String({ maxLength: 1000 }),
  },
  { additionalProperties: false },
);
export const WsHeartbeatSchema = Type.Object(
  { type: Type.Literal('heartbeat'), serverTime: Type.Number(), lastTickMs: Type.Union([Type.Number(), Type.Null()]) },
  { additionalProperties: false },
);

export const WsServerMessageSchema = Type.Union([WsWelcomeSchema, WsSubscribedSchema, WsResumedSchema, WsAlertSchema, WsClusterSchema, WsErrorSchema, WsHeartbeatSchema]);
export type WsServerMessage = Static<typeof WsServerMessageSchema>;
export const WsServerMessage = defineMessage({
  name: 'ws.server',
  version: 1,
  description:
    'Gateway → client on /ws (JSON text frames): `welcome` on connect (with the session id), `subscribed` after a subscribe, `resumed` after a resume, `alert` on the alert channel (ahead of queued position frames, never skipped), `cluster` on the cluster channel, `error` for a rejected message, `heartbeat` every heartbeatMs. States follow as binary tracker-state frames whose reserved u32 at offset 20 carries the gateway flush seq (0 in tracker frames).',
  encoding: 'json',
  schema: WsServerMessageSchema,
  subjects: WS_SUBJECT,
});
