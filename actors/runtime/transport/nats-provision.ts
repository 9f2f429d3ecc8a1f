/**
 * Provisioning: make JetStream look exactly like protocol/topology.ts says,
 * then prove it by reading every config back. NATS 2.9 drops config fields it
 * does not know without an error, so "create returned OK" proves nothing; the
 * read-back comparison is the guarantee (RELIABILITY.md, R9).
 *
 * Safe when several processes provision at once: a create that loses the race
 * ("name already in use") falls back to reading what the winner made.
 */
import type { JetStreamManager, StreamConfig, ConsumerConfig, StreamInfo, ConsumerInfo } from '@nats-io/jetstream';
import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { Kvm, type KvStatus } from '@nats-io/kv';
import { nanos } from '@nats-io/transport-node';
import { ProvisionError } from '../../../protocol/errors.js';
import type { BucketSpec, ConsumerSpec, StreamSpec, Topology } from '../../../protocol/topology.js';
import { JsCode, apiCode, backoffMs, describe, isNotFound, isTransient, sleep } from './nats-errors.js';

export interface FieldMismatch {
  field: string;
  want: unknown;
  got: unknown;
}

/** Fields a running stream cannot change: a mismatch here is an operator decision, not ours. */
const IMMUTABLE_STREAM_FIELDS = new Set(['retention', 'storage']);
const IMMUTABLE_CONSUMER_FIELDS = new Set(['ack_policy', 'durable_name', 'filter_subject', 'deliver_policy']);

export function streamConfig(spec: StreamSpec): Partial<StreamConfig> & { name: string } {
  return {
    name: spec.name,
    subjects: [...spec.subjects],
    retention: spec.retention === 'workqueue' ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: spec.replicas,
    duplicate_window: nanos(spec.duplicateWindowMs),
    max_age: nanos(spec.maxAgeMs),
    discard: spec.discard === 'new' ? DiscardPolicy.New : DiscardPolicy.Old,
  };
}

export function consumerConfig(spec: ConsumerSpec): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: spec.durable,
    filter_subject: spec.filterSubject,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(spec.ackWaitMs),
    max_deliver: spec.maxDeliver,
    max_ack_pending: spec.maxAckPending,
  };
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x));
}

export function diffStream(spec: StreamSpec, got: StreamConfig): FieldMismatch[] {
  const want = streamConfig(spec);
  const out: FieldMismatch[] = [];
  const check = (field: string, w: unknown, g: unknown, eq = w === g) => {
    if (!eq) out.push({ field, want: w, got: g });
  };
  check('subjects', want.subjects, got.subjects ?? [], sameSet(want.subjects!, got.subjects ?? []));
  check('retention', want.retention, got.retention);
  check('storage', want.storage, got.storage);
  check('num_replicas', want.num_replicas, got.num_replicas);
  check('duplicate_window', want.duplicate_window, got.duplicate_window);
  check('max_age', want.max_age, got.max_age);
  check('discard', want.discard, got.discard);
  return out;
}

export function diffConsumer(spec: ConsumerSpec, got: ConsumerConfig): FieldMismatch[] {
  const want = consumerConfig(spec);
  const out: FieldMismatch[] = [];
  const check = (field: string, w: unknown, g: unknown) => {
    if (w !== g) out.push({ field, want: w, got: g });
  };
  check('durable_name', want.durable_name, got.durable_name);
  check('filter_subject', want.filter_subject, got.filter_subject ?? '');
  check('ack_policy', want.ack_policy, got.ack_policy);
  check('deliver_policy', want.deliver_policy, got.deliver_policy);
  check('ack_wait', want.ack_wait, got.ack_wait);
  check('max_deliver', want.max_deliver, got.max_deliver);
  check('max_ack_pending', want.max_ack_pending, got.max_ack_pending);
  return out;
}

export function diffBucket(spec: BucketSpec, got: KvStatus): FieldMismatch[] {
  const out: FieldMismatch[] = [];
  const check = (field: string, w: unknown, g: unknown) => {
    if (w !== g) out.push({ field, want: w, got: g });
  };
  check('history', spec.history, got.history);
  check('replicas', spec.replicas, got.replicas);
  check('description', spec.description, got.description);
  // No KV TTL on purpose (2.9 has none; leases carry expiresAt). A TTL set
  // by someone else would silently expire leases, so it is a mismatch too.
  check('ttl', 0, got.ttl);
  check('storage', 'file', got.storage);
  return out;
}

function mismatchError(what: string, diffs: FieldMismatch[], note = ''): ProvisionError {
  const parts = diffs.map((d) => `${d.field}: wanted ${JSON.stringify(d.want)}, server has ${JSON.stringify(d.got)}`);
  return new ProvisionError(`${what}: ${parts.join('; ')}${note ? ` (${note})` : ''}`);
}

async function streamInfoOrNull(jsm: JetStreamManager, name: string): Promise<StreamInfo | null> {
  try {
    return await jsm.streams.info(name);
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

async function consumerInfoOrNull(jsm: JetStreamManager, stream: string, name: string): Promise<ConsumerInfo | null> {
  try {
    return await jsm.consumers.info(stream, name);
  } catch (err) {
    if (apiCode(err) === JsCode.ConsumerNotFound || (err instanceof Error && err.message === 'consumer not found')) return null;
    throw err;
  }
}

export async function ensureStream(jsm: JetStreamManager, spec: StreamSpec): Promise<StreamInfo> {
  const want = streamConfig(spec);
  const what = `stream ${spec.name}`;
  let info = await streamInfoOrNull(jsm, spec.name);
  if (!info) {
    try {
      info = await jsm.streams.add(want);
    } catch (err) {
      // Lost a creation race (reported as "name already in use" or, when the
      // winner's stream already holds our subjects, "subjects overlap"):
      // judge what the winner made. If nothing is there, the error stands.
      info = await streamInfoOrNull(jsm, spec.name);
      if (!info) throw wrapProvision(what, 'create failed', err);
    }
  }
  const diffs = diffStream(spec, info.config);
  if (diffs.length > 0) {
    const fixed = diffs.filter((d) => IMMUTABLE_STREAM_FIELDS.has(d.field));
    if (fixed.length > 0) {
      throw mismatchError(what, fixed, 'cannot change on an existing stream; delete or migrate it deliberately');
    }
    try {
      await jsm.streams.update(spec.name, { ...info.config, ...want });
    } catch (err) {
      throw wrapProvision(what, `update of ${diffs.map((d) => d.field).join(', ')} refused`, err);
    }
  }
  const final = await jsm.streams.info(spec.name);
  const left = diffStream(spec, final.config);
  if (left.length > 0) throw mismatchError(what, left, 'read back after provisioning');
  return final;
}

export async function ensureConsumer(jsm: JetStreamManager, spec: ConsumerSpec): Promise<ConsumerInfo> {
  const want = consumerConfig(spec);
  const what = `consumer ${spec.stream}/${spec.durable}`;
  let info = await consumerInfoOrNull(jsm, spec.stream, spec.durable);
  if (!info) {
    try {
      info = await jsm.consumers.add(spec.stream, want);
    } catch (err) {
      // Lost a creation race: judge what the winner made, if anything.
      info = await consumerInfoOrNull(jsm, spec.stream, spec.durable);
      if (!info) throw wrapProvision(what, 'create failed', err);
    }
  }
  const diffs = diffConsumer(spec, info.config);
  if (diffs.length > 0) {
    const fixed = diffs.filter((d) => IMMUTABLE_CONSUMER_FIELDS.has(d.field));
    if (fixed.length > 0) {
      throw mismatchError(what, fixed, 'cannot change on an existing consumer; delete it deliberately');
    }
    try {
      await jsm.consumers.update(spec.stream, spec.durable, {
        ack_wait: want.ack_wait,
        max_deliver: want.max_deliver,
        max_ack_pending: want.max_ack_pending,
      });
    } catch (err) {
      throw wrapProvision(what, `update of ${diffs.map((d) => d.field).join(', ')} refused`, err);
    }
  }
  const final = await jsm.consumers.info(spec.stream, spec.durable);
  const left = diffConsumer(spec, final.config);
  if (left.length > 0) throw mismatchError(what, left, 'read back after provisioning');
  return final;
}

export async function ensureBucket(jsm: JetStreamManager, kvm: Kvm, spec: BucketSpec): Promise<KvStatus> {
  const what = `KV bucket ${spec.bucket}`;
  let kv;
  try {
    // Kvm.create opens the bucket when it exists; it never changes one.
    kv = await kvm.create(spec.bucket, {
      history: spec.history,
      replicas: spec.replicas,
      description: spec.description,
      storage: StorageType.File,
    });
  } catch (err) {
    // Lost a creation race: use the winner's bucket, if there is one.
    if (!(await streamInfoOrNull(jsm, `KV_${spec.bucket}`))) throw wrapProvision(what, 'create failed', err);
    kv = await kvm.open(spec.bucket);
  }
  const status = await kv.status();
  const diffs = diffBucket(spec, status);
  if (diffs.length > 0) {
    const fixed = diffs.filter((d) => d.field === 'storage');
    if (fixed.length > 0) throw mismatchError(what, fixed, 'storage cannot change on an existing bucket');
    const cfg = status.streamInfo.config;
    try {
      await jsm.streams.update(cfg.name, {
        ...cfg,
        max_msgs_per_subject: spec.history,
        num_replicas: spec.replicas,
        description: spec.description,
        max_age: 0,
      });
    } catch (err) {
      throw wrapProvision(what, `update of ${diffs.map((d) => d.field).join(', ')} refused`, err);
    }
  }
  const final = await kv.status();
  const left = diffBucket(spec, final);
  if (left.length > 0) throw mismatchError(what, left, 'read back after provisioning');
  return final;
}

function wrapProvision(what: string, action: string, err: unknown): unknown {
  // Transient errors stay as they are so the caller's retry loop sees them.
  if (isTransient(err) || err instanceof ProvisionError) return err;
  return new ProvisionError(`${what}: ${action}: ${describe(err)}`, { cause: err });
}

/**
 * Provision everything, retrying transient failures (no meta leader yet,
 * a stream leader being elected) until `timeoutMs`. A ProvisionError is a
 * real mismatch and is thrown at once.
 */
export async function provisionTopology(jsm: JetStreamManager, kvm: Kvm, topo: Topology, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const step = async (label: string, fn: () => Promise<unknown>) => {
    for (let attempt = 0; ; attempt++) {
      try {
        await fn();
        return;
      } catch (err) {
        if (err instanceof ProvisionError || !isTransient(err) || Date.now() > deadline) {
          if (err instanceof ProvisionError) throw err;
          throw new ProvisionError(`${label}: ${describe(err)}`, { cause: err });
        }
        await sleep(backoffMs(attempt, 200, 2000));
      }
    }
  };
  // Streams before their consumers; independent items in parallel.
  await Promise.all(topo.streams.map((s) => step(`stream ${s.name}`, () => ensureStream(jsm, s))));
  await Promise.all(topo.consumers.map((c) => step(`consumer ${c.stream}/${c.durable}`, () => ensureConsumer(jsm, c))));
  await Promise.all(topo.buckets.map((b) => step(`KV bucket ${b.bucket}`, () => ensureBucket(jsm, kvm, b))));
}
