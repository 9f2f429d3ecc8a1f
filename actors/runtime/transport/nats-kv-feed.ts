/**
 * Change feeds and listings of a JetStream KV bucket, over push consumers we
 * create ourselves: the delivery subscription first, the consumer second.
 *
 * Why not @nats-io/kv's watch() and keys(): nats.js 3.x creates the consumer
 * first and subscribes to its deliver subject afterwards (kv.js watch/keys →
 * getOrderedPushConsumer, then consume). A change pushed in between goes to no
 * subscriber and, with AckPolicy none, is gone; the ordered consumer only
 * notices at its next gap or after two missed 30 s heartbeats. A member
 * listing that silently misses a key hands that member's shards away. nats.go
 * and nats.c subscribe first; so do we (same connection, so the SUB reaches
 * the server before the create request).
 *
 * Each feed tracks the consumer and stream sequences it has seen. A delivery
 * gap, an idle heartbeat that reports a later consumer sequence than we saw,
 * missed heartbeats or a deleted consumer make a watch re-create its consumer
 * from the next stream sequence (nothing lost, nothing repeated) and make a
 * listing start over.
 */
import { createInbox, nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { StarWeatherError } from '../../../protocol/errors.js';
import type { KvChange, KvEntry } from '../../../protocol/transport.js';

export interface KvFeedDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

/** Idle heartbeat of our consumers: two missed ones re-create a watch's consumer. */
const WATCH_HEARTBEAT_MS = 2_000;
/** Consumers whose subscriber vanished (process killed) are removed by the server after this. */
const INACTIVE_MS = 60_000;
/** Back-off bounds while the consumer cannot be re-created (no leader, disconnected). */
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5_000;

const OP_HEADER = 'KV-Operation';

function isRemoval(m: JsMsg): boolean {
  const op = m.headers?.get(OP_HEADER);
  return op === 'DEL' || op === 'PURGE';
}

interface Attempt {
  messages: ConsumerMessages;
  consumer: string;
}

interface Opened extends Attempt {
  /** Trouble was reported (possibly before the create request returned): the attempt is not to be used. */
  troubled(): boolean;
  /** Messages the consumer had to deliver when it was created. */
  pendingAtStart: number;
  /** The stream sequence just before the consumer's starting point, as of its creation. */
  startAfter: number;
}

/**
 * One push consumer on `stream`: subscribe, then create. `onMessage` sees the
 * data messages in delivery order; `onTrouble` is called once when the
 * attempt can no longer be trusted (gap, missed heartbeats, deleted consumer).
 */
async function openAttempt(
  deps: KvFeedDeps,
  stream: string,
  config: Partial<ConsumerConfig>,
  onMessage: (m: JsMsg) => void,
  onTrouble: (why: string) => void,
): Promise<Opened> {
  const deliver = createInbox();
  const hb = nanos(WATCH_HEARTBEAT_MS);
  const bound = await deps.js.consumers.getBoundPushConsumer({ deliver_subject: deliver, idle_heartbeat: hb });
  let lastDseq = 0;
  let troubled = false;
  let created = false;
  const trouble = (why: string): void => {
    if (troubled) return;
    troubled = true;
    // Reported by the caller once the create returns (it may still fail): no half-made attempt is acted on.
    if (created) onTrouble(why);
  };
  const messages = await bound.consume({
    callback: (m) => {
      if (troubled) return;
      if (m.info.deliverySequence !== lastDseq + 1) {
        trouble(`delivery gap: ${lastDseq} then ${m.info.deliverySequence}`);
        return;
      }
      lastDseq = m.info.deliverySequence;
      onMessage(m);
    },
  });
  void (async () => {
    for await (const s of messages.status()) {
      if (s.type === 'heartbeat' && s.lastConsumerSequence > lastDseq) trouble(`heartbeat reports consumer sequence ${s.lastConsumerSequence}, last seen ${lastDseq}`);
      else if (s.type === 'heartbeats_missed') trouble(`${s.count} heartbeats missed`);
      else if (s.type === 'consumer_deleted') trouble('consumer deleted');
    }
  })().catch(() => undefined);
  const name = `sw_kvfeed_${deliver.slice(deliver.lastIndexOf('.') + 1)}`;
  try {
    const ci = await deps.jsm.consumers.add(stream, {
      ...config,
      name,
      deliver_subject: deliver,
      ack_policy: AckPolicy.None,
      max_deliver: 1,
      flow_control: true,
      idle_heartbeat: hb,
      inactive_threshold: nanos(INACTIVE_MS),
      num_replicas: 1,
      mem_storage: true,
    });
    created = true;
    return { messages, consumer: name, pendingAtStart: ci.num_pending, startAfter: ci.delivered.stream_seq, troubled: () => troubled };
  } catch (err) {
    messages.stop();
    throw err;
  }
}

function closeAttempt(deps: KvFeedDeps, stream: string, a: Attempt): void {
  a.messages.stop();
  // Best effort: a consumer we cannot delete now goes at its inactive threshold.
  deps.jsm.consumers.delete(stream, a.consumer).catch(() => undefined);
}

export interface KvWatchHandle {
  stop(): void;
}

/**
 * Every change under `filter` after the call, in revision order, none lost:
 * after trouble the feed resumes at the stream sequence after the last one
 * delivered. Resolves once the first consumer exists.
 */
export async function watchKv(
  deps: KvFeedDeps,
  bucket: string,
  filter: string,
  onChange: (change: KvChange) => void,
  onError: (err: unknown, what: string) => void,
): Promise<KvWatchHandle> {
  const stream = `KV_${bucket}`;
  const subjectPrefix = `$KV.${bucket}.`;
  let stopped = false;
  let lastSeq = 0;
  let current: Attempt | undefined;
  /** A create request is in flight; trouble meanwhile is handled when it returns. */
  let opening = false;
  let reopen = false;
  let retryMs = RETRY_MIN_MS;
  let timer: NodeJS.Timeout | undefined;
  let lastWhy = '';

  const deliverMessage = (m: JsMsg): void => {
    if (stopped || m.info.streamSequence <= lastSeq) return;
    lastSeq = m.info.streamSequence;
    retryMs = RETRY_MIN_MS;
    const change: KvChange = {
      key: m.subject.slice(subjectPrefix.length),
      value: isRemoval(m) ? null : m.data,
      revision: m.info.streamSequence,
    };
    try {
      onChange(change);
    } catch {
      // A throwing listener must not end the watch for everyone else.
    }
  };

  const open = (config: Partial<ConsumerConfig>): Promise<Opened> => {
    opening = true;
    return openAttempt(deps, stream, { filter_subject: `${subjectPrefix}${filter}`, ...config }, deliverMessage, (why) => restart(why)).finally(() => {
      opening = false;
    });
  };

  /** A create returned: use the attempt, or (stopped, troubled, or trouble reported meanwhile) close it. */
  const settle = (a: Opened): void => {
    if (stopped) {
      closeAttempt(deps, stream, a);
    } else if (a.troubled() || reopen) {
      reopen = false;
      closeAttempt(deps, stream, a);
      schedule();
    } else current = a;
  };

  const schedule = (): void => {
    // A closed connection ends the watch, as it ends every subscription.
    if (deps.nc.isClosed()) stopped = true;
    if (stopped || timer) return;
    const wait = retryMs;
    retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
    timer = setTimeout(() => {
      timer = undefined;
      if (stopped) return;
      open({ deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: lastSeq + 1 }).then(settle, (err) => {
        onError(err, `KV watch ${bucket}: re-creating its consumer after ${lastWhy}`);
        schedule();
      });
    }, wait);
    timer.unref?.();
  };

  const restart = (why: string): void => {
    if (stopped) return;
    lastWhy = why;
    if (current) closeAttempt(deps, stream, current);
    current = undefined;
    if (opening) reopen = true;
    else schedule();
  };

  // The first consumer starts at "new"; its starting point (as of its
  // creation, not a later info, which would skip what is still in flight to
  // us) becomes the cursor, so that a re-creation resumes exactly there.
  let first: Opened;
  try {
    first = await open({ deliver_policy: DeliverPolicy.New });
  } catch (err) {
    stopped = true;
    if (timer) clearTimeout(timer);
    throw err;
  }
  if (lastSeq === 0) lastSeq = first.startAfter;
  settle(first);
  return {
    stop: () => {
      if (stopped) return;
      stopped = true;
      if (timer) clearTimeout(timer);
      if (current) closeAttempt(deps, stream, current);
      current = undefined;
    },
  };
}

/**
 * The live entries under `filter` (newest value per key), read in one pass of
 * a last-per-subject consumer. A pass that saw a gap is thrown away and the
 * listing starts over; the caller bounds the whole call with its own timeout.
 */
export async function listKv(deps: KvFeedDeps, bucket: string, filter: string, opts: { headersOnly: boolean; attempts?: number }): Promise<KvEntry[]> {
  const stream = `KV_${bucket}`;
  const subjectPrefix = `$KV.${bucket}.`;
  const attempts = opts.attempts ?? 3;
  let lastWhy = '';
  for (let attempt = 0; attempt < attempts; attempt++) {
    const entries = new Map<string, KvEntry>();
    let settle!: (outcome: { ok: true } | { ok: false; why: string }) => void;
    const done = new Promise<{ ok: true } | { ok: false; why: string }>((resolve) => (settle = resolve));
    const a = await openAttempt(
      deps,
      stream,
      { filter_subject: `${subjectPrefix}${filter}`, deliver_policy: DeliverPolicy.LastPerSubject, headers_only: opts.headersOnly },
      (m) => {
        const key = m.subject.slice(subjectPrefix.length);
        if (isRemoval(m)) entries.delete(key);
        else entries.set(key, { key, value: opts.headersOnly ? new Uint8Array(0) : m.data, revision: m.info.streamSequence });
        if (m.info.pending === 0) settle({ ok: true });
      },
      (why) => settle({ ok: false, why }),
    );
    if (a.troubled()) settle({ ok: false, why: 'trouble before its consumer was created' });
    else if (a.pendingAtStart === 0) settle({ ok: true });
    const outcome = await done;
    closeAttempt(deps, stream, a);
    if (outcome.ok) return [...entries.values()].sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
    lastWhy = outcome.why;
  }
  throw new StarWeatherError('SW_ERR_TRANSPORT', `KV listing of ${bucket} failed ${attempts} times (last: ${lastWhy})`);
}
