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
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineMessage } from '../message.js';

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
  },
  { additionalProperties: false },
);
export type WsSubscribe = Static<typeof WsSubscribeSchema>;

export const WsUnsubscribeSchema = Type.Object({ type: Type.Literal('unsubscribe'), id: RequestId }, { additionalProperties: false });
export type WsUnsubscribe = Static<typeof WsUnsubscribeSchema>;

export const WsClientMessageSchema = Type.Union([WsSubscribeSchema, WsUnsubscribeSchema]);
export type WsClientMessage = Static<typeof WsClientMessageSchema>;
export const WsClientMessage = defineMessage({
  name: 'ws.client',
  version: 1,
  description:
    'Client → gateway on /ws: `subscribe` (ids, groups, bbox [w,s,e,n] or all; replaces the current subscription; criteria are OR-ed) or `unsubscribe`. An invalid message is answered with `error` and the connection stays open.',
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
  },
  { additionalProperties: false },
);
export const WsSubscribedSchema = Type.Object(
  {
    type: Type.Literal('subscribed'),
    id: RequestId,
    /** Latest known states matching now (the snapshot frame that follows carries them). */
    matched: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
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

export const WsServerMessageSchema = Type.Union([WsWelcomeSchema, WsSubscribedSchema, WsErrorSchema, WsHeartbeatSchema]);
export type WsServerMessage = Static<typeof WsServerMessageSchema>;
export const WsServerMessage = defineMessage({
  name: 'ws.server',
  version: 1,
  description:
    'Gateway → client on /ws (JSON text frames): `welcome` on connect, `subscribed` after a subscribe, `error` for a rejected message, `heartbeat` every heartbeatMs. States follow as binary tracker-state frames.',
  encoding: 'json',
  schema: WsServerMessageSchema,
  subjects: WS_SUBJECT,
});
