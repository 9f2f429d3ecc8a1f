/**
 * The frames of the thread bridge (actors/runtime/transport/thread-bridge.ts
 * and thread-client.ts): the whole Transport contract carried over one
 * MessagePort, so a role host on its own worker thread uses the bus its
 * node's main thread owns. In the embedded default every role host used to
 * share one event loop with the bus; a host that held its loop (a long
 * synchronous stretch) delayed every other host's heartbeats, lease renewals
 * and acks (issue 10). On their own threads they cannot, and the bus stays
 * one in-process bus.
 *
 * Each postMessage carries an array of frames, in order (a port preserves
 * order, and so does every batch): client → server frames are requests,
 * server → client frames are replies and events. A request with an `id` is
 * answered by exactly one `reply` with that id; the others (publish,
 * unsubscribe, working, nak, done, …) are one-way. The ids the client picks
 * (`sid` subscriptions, `cid` consumers, `wid` KV watches, `fid`
 * dead-letter feeds, `lid` status listeners) name what a later frame refers
 * to; `did` names one delivery and is picked by the server.
 *
 * Frames are structured clones inside one process, not bytes on a wire, so
 * they are not registered as messages (protocol/message.ts) and are not in
 * PROTOCOL.md; both sides still check every frame they receive against
 * these schemas, and a frame that fails is answered with an error or
 * reported, never trusted.
 */
import { Type, type Static, type TSchema, type TProperties } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import '../formats.js';
import { DeadLetterSchema } from './dead-letter.js';
import { QueueNameSchema } from './work-task.js';

/** An error as it crosses the port; rebuilt as the class `name` says (thread-wire.ts). */
export const BridgeErrorSchema = Type.Object(
  {
    name: Type.String(),
    code: Type.Union([Type.String(), Type.Null()]),
    message: Type.String(),
    /** ProtocolError's field path. */
    path: Type.Optional(Type.String()),
    /** ConfigError's config key. */
    key: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type BridgeError = Static<typeof BridgeErrorSchema>;

const Id = Type.Integer({ minimum: 1 });
const Ref = Type.Integer({ minimum: 1 });
const Bytes = Type.Uint8Array();

function frame<T extends string, P extends TProperties>(t: T, props: P) {
  return Type.Object({ t: Type.Literal(t), ...props }, { additionalProperties: false });
}

// Arguments the transport itself validates (subject syntax, queue and bucket
// names, prefetch range, key syntax …) are only typed here, so the caller
// gets the transport's own error for a bad value, as it would in-thread.

/** Client → server, by `t`. */
export const BridgeRequestSchemas = {
  provision: frame('provision', { id: Id }),
  publish: frame('publish', { subject: Type.String(), data: Bytes }),
  subscribe: frame('subscribe', { id: Id, sid: Ref, subject: Type.String() }),
  unsubscribe: frame('unsubscribe', { sid: Ref }),
  /** Answer presence probes on `subject`; undone by `unsubscribe` with sid = pid. */
  'presence-on': frame('presence-on', { id: Id, pid: Ref, subject: Type.String() }),
  'presence-probe': frame('presence-probe', { id: Id, subject: Type.String(), timeoutMs: Type.Number() }),
  /** Answered once everything published before it has been handed to the transport and flushed there. */
  flush: frame('flush', { id: Id }),
  enqueue: frame('enqueue', { id: Id, queue: Type.String(), msgId: Type.String(), data: Bytes }),
  /** Answered once the server's consume() resolved; `work` frames for `cid` may come before the answer. */
  consume: frame('consume', { id: Id, cid: Ref, queue: Type.String(), prefetch: Type.Number() }),
  'consume-stop': frame('consume-stop', { id: Id, cid: Ref }),
  working: frame('working', { did: Ref }),
  ack: frame('ack', { id: Id, did: Ref }),
  nak: frame('nak', { did: Ref, delayMs: Type.Optional(Type.Number()) }),
  'dead-letter': frame('dead-letter', { id: Id, did: Ref, code: Type.String(), reason: Type.String() }),
  /** The client's handler for delivery `did` returned, or rejected with `error`. */
  done: frame('done', { did: Ref, error: Type.Optional(BridgeErrorSchema) }),
  /** The client dropped delivery `did` unsettled (garbage-collected): only AckWait brings it back. */
  forget: frame('forget', { did: Ref }),
  'queue-stats': frame('queue-stats', { id: Id, queue: Type.String() }),
  'dead-letters': frame('dead-letters', { id: Id, limit: Type.Optional(Type.Number()) }),
  'dead-letter-count': frame('dead-letter-count', { id: Id }),
  'dl-consume': frame('dl-consume', { id: Id, fid: Ref }),
  'dl-stop': frame('dl-stop', { id: Id, fid: Ref }),
  'dl-done': frame('dl-done', { did: Ref, error: Type.Optional(BridgeErrorSchema) }),
  kv: frame('kv', { id: Id, bucket: Type.String() }),
  'kv-get': frame('kv-get', { id: Id, bucket: Type.String(), key: Type.String() }),
  'kv-put': frame('kv-put', { id: Id, bucket: Type.String(), key: Type.String(), value: Bytes }),
  'kv-create': frame('kv-create', { id: Id, bucket: Type.String(), key: Type.String(), value: Bytes }),
  'kv-update': frame('kv-update', { id: Id, bucket: Type.String(), key: Type.String(), value: Bytes, revision: Type.Number() }),
  'kv-delete': frame('kv-delete', { id: Id, bucket: Type.String(), key: Type.String(), revision: Type.Optional(Type.Number()) }),
  'kv-keys': frame('kv-keys', { id: Id, bucket: Type.String(), prefix: Type.Optional(Type.String()) }),
  'kv-entries': frame('kv-entries', { id: Id, bucket: Type.String(), prefix: Type.Optional(Type.String()) }),
  /** Answered once the server's watch is registered: changes after the answer are seen. */
  'kv-watch': frame('kv-watch', { id: Id, wid: Ref, bucket: Type.String(), prefix: Type.Optional(Type.String()) }),
  'kv-unwatch': frame('kv-unwatch', { wid: Ref }),
  'status-on': frame('status-on', { id: Id, lid: Ref }),
  'status-off': frame('status-off', { lid: Ref }),
  /** The client is closing: release everything it holds, then answer. */
  close: frame('close', { id: Id }),
} as const;

type RequestSchemas = typeof BridgeRequestSchemas;
export type BridgeRequestType = keyof RequestSchemas;
export type BridgeRequestOf<T extends BridgeRequestType> = Static<RequestSchemas[T]>;
export type BridgeRequest = { [T in BridgeRequestType]: BridgeRequestOf<T> }[BridgeRequestType];
/** The requests that are answered. */
export type BridgeCall = Extract<BridgeRequest, { id: number }>;
export type BridgeCallType = BridgeCall['t'];

export const KvEntrySchema = Type.Object({ key: Type.String(), value: Bytes, revision: Type.Integer({ minimum: 0 }) }, { additionalProperties: false });

/** What an ok reply carries, by the request it answers; requests not listed answer with no value. */
export const BridgeReplyValueSchemas = {
  enqueue: Type.Object({ duplicate: Type.Boolean(), seq: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
  'presence-probe': Type.Union([Type.Literal('present'), Type.Literal('absent'), Type.Literal('unknown')]),
  'queue-stats': Type.Object({ depth: Type.Integer({ minimum: 0 }), inFlight: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
  'dead-letters': Type.Array(DeadLetterSchema),
  'dead-letter-count': Type.Integer({ minimum: 0 }),
  kv: Type.Object({ name: Type.String() }, { additionalProperties: false }),
  'kv-get': Type.Union([KvEntrySchema, Type.Null()]),
  'kv-put': Type.Integer({ minimum: 0 }),
  'kv-create': Type.Integer({ minimum: 0 }),
  'kv-update': Type.Integer({ minimum: 0 }),
  'kv-keys': Type.Array(Type.String()),
  'kv-entries': Type.Array(KvEntrySchema),
} as const;
type ReplyValueSchemas = typeof BridgeReplyValueSchemas;
export type BridgeReplyValue<T extends BridgeCallType> = T extends keyof ReplyValueSchemas ? Static<ReplyValueSchemas[T]> : void;

export const TransportStatusSchema = Type.Union([
  Type.Object({ type: Type.Literal('connected') }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('disconnected') }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('reconnecting') }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('reconnected') }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('error'), error: Type.String() }, { additionalProperties: false }),
]);

/** Server → client, by `t`. */
export const BridgeEventSchemas = {
  reply: Type.Union([
    Type.Object({ t: Type.Literal('reply'), id: Id, ok: Type.Literal(true), value: Type.Optional(Type.Unknown()) }, { additionalProperties: false }),
    Type.Object({ t: Type.Literal('reply'), id: Id, ok: Type.Literal(false), error: BridgeErrorSchema }, { additionalProperties: false }),
  ]),
  /** One pub/sub message for subscription `sid`. */
  deliver: frame('deliver', { sid: Ref, subject: Type.String(), data: Bytes }),
  /** One work delivery for consumer `cid`; settled with ack / nak / dead-letter on `did`, then `done`. */
  work: frame('work', {
    cid: Ref,
    did: Ref,
    queue: QueueNameSchema,
    msgId: Type.String(),
    data: Bytes,
    deliveryCount: Type.Integer({ minimum: 1 }),
    maxDeliver: Type.Integer({ minimum: 1 }),
  }),
  /** One dead letter for feed `fid`; answered with `dl-done` on `did`. */
  dl: frame('dl', { fid: Ref, did: Ref, record: DeadLetterSchema }),
  'kv-change': frame('kv-change', { wid: Ref, key: Type.String(), value: Type.Union([Bytes, Type.Null()]), revision: Type.Integer({ minimum: 0 }) }),
  status: frame('status', { lid: Ref, status: TransportStatusSchema }),
} as const;

type EventSchemas = typeof BridgeEventSchemas;
export type BridgeEventType = keyof EventSchemas;
export type BridgeEventOf<T extends BridgeEventType> = Static<EventSchemas[T]>;
export type BridgeEvent = { [T in BridgeEventType]: BridgeEventOf<T> }[BridgeEventType];
export type BridgeReply = BridgeEventOf<'reply'>;

/** One postMessage on the bridge: frames in order. */
export type BridgeBatch<F> = F[];

export type FrameCheck<F> =
  | { ok: true; frame: F }
  | {
      ok: false;
      code: 'SW_ERR_SCHEMA' | 'SW_ERR_UNKNOWN_MESSAGE';
      error: string;
      /** The frame's id, when it had a usable one: the error can be answered. */
      id: number | null;
    };

function compileAll<M extends Record<string, TSchema>>(schemas: M): Map<string, TypeCheck<TSchema>> {
  const out = new Map<string, TypeCheck<TSchema>>();
  for (const [t, s] of Object.entries(schemas)) out.set(t, TypeCompiler.Compile(s));
  return out;
}

function checker<F>(kind: string, compiled: Map<string, TypeCheck<TSchema>>): (value: unknown) => FrameCheck<F> {
  return (value) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return { ok: false, code: 'SW_ERR_SCHEMA', error: `${kind}: not an object`, id: null };
    const o = value as { t?: unknown; id?: unknown };
    const id = typeof o.id === 'number' && Number.isSafeInteger(o.id) && o.id >= 1 ? o.id : null;
    const check = typeof o.t === 'string' ? compiled.get(o.t) : undefined;
    if (!check) return { ok: false, code: 'SW_ERR_UNKNOWN_MESSAGE', error: `${kind}: unknown frame type ${typeof o.t === 'string' ? JSON.stringify(o.t.slice(0, 100)) : `(${typeof o.t})`}`, id };
    if (check.Check(value)) return { ok: true, frame: value as F };
    const first = check.Errors(value).First();
    return { ok: false, code: 'SW_ERR_SCHEMA', error: `${kind} ${o.t}: ${first?.path || '/'}: ${first?.message ?? 'invalid'}`, id };
  };
}

/** Checks one client → server frame. */
export const checkBridgeRequest = checker<BridgeRequest>('thread-bridge request', compileAll(BridgeRequestSchemas));
/** Checks one server → client frame. */
export const checkBridgeEvent = checker<BridgeEvent>('thread-bridge event', compileAll(BridgeEventSchemas));

const replyValueChecks = compileAll(BridgeReplyValueSchemas);

/**
 * Checks an ok reply's value against what request `t` answers with; returns
 * an error message or null. The value of a request that answers with none
 * is not looked at (the caller drops it).
 */
export function checkBridgeReplyValue(t: BridgeCallType, value: unknown): string | null {
  const check = replyValueChecks.get(t);
  if (!check) return null;
  if (check.Check(value)) return null;
  const first = check.Errors(value).First();
  return `reply to ${t}: ${first?.path || '/'}: ${first?.message ?? 'invalid'}`;
}
