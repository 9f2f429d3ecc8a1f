/**
 * The JetStream topology as data: what every stream, durable consumer and
 * KV bucket must look like. The NATS transport provisions exactly this and
 * reads it back (NATS 2.9 silently drops fields it does not know, so a
 * mismatch must fail loudly rather than run with weaker guarantees).
 */
import { QUEUES, type Names, type QueueName } from './names.js';

export interface TopologySettings {
  /** How long a delivered task may go unacked before redelivery. */
  ackWaitMs: number;
  /** Deliveries before a task is dead-lettered. */
  maxDeliver: number;
  /** Window in which a repeated Nats-Msg-Id is dropped. */
  dedupeWindowMs: number;
  /** Stream replicas (3 in a production cluster). */
  replicas: number;
  /** Dead letters kept this long. */
  deadLetterMaxAgeMs: number;
}

export const DEFAULT_TOPOLOGY: TopologySettings = {
  ackWaitMs: 30_000,
  maxDeliver: 5,
  dedupeWindowMs: 120_000,
  replicas: 1,
  deadLetterMaxAgeMs: 14 * 24 * 3600_000,
};

export interface StreamSpec {
  name: string;
  subjects: string[];
  retention: 'workqueue' | 'limits';
  storage: 'file';
  replicas: number;
  duplicateWindowMs: number;
  maxAgeMs: number;
  /** A publish to a full stream fails instead of dropping old messages. */
  discard: 'new' | 'old';
}

export interface ConsumerSpec {
  stream: string;
  durable: string;
  filterSubject: string;
  ackPolicy: 'explicit';
  ackWaitMs: number;
  maxDeliver: number;
  /** Unacked tasks the server hands out at once across all workers. */
  maxAckPending: number;
}

export interface BucketSpec {
  bucket: string;
  history: number;
  replicas: number;
  description: string;
}

export interface Topology {
  streams: StreamSpec[];
  consumers: ConsumerSpec[];
  buckets: BucketSpec[];
  workStream(queue: QueueName): StreamSpec;
  workConsumer(queue: QueueName): ConsumerSpec;
}

/** Stored MAX_DELIVERIES advisories are kept a day: the sweep runs every 15 s. */
export const ADVISORY_MAX_AGE_MS = 24 * 3600_000;

export function topology(n: Names, s: TopologySettings = DEFAULT_TOPOLOGY): Topology {
  const work = new Map<QueueName, StreamSpec>();
  const consumers = new Map<QueueName, ConsumerSpec>();
  for (const q of QUEUES) {
    const stream: StreamSpec = {
      name: n.streams.work(q),
      subjects: [n.subjects.work(q)],
      retention: 'workqueue',
      storage: 'file',
      replicas: s.replicas,
      duplicateWindowMs: s.dedupeWindowMs,
      maxAgeMs: 0,
      discard: 'new',
    };
    work.set(q, stream);
    consumers.set(q, {
      stream: stream.name,
      durable: n.consumers.work(q),
      filterSubject: n.subjects.work(q),
      ackPolicy: 'explicit',
      ackWaitMs: s.ackWaitMs,
      maxDeliver: s.maxDeliver,
      maxAckPending: 10_000,
    });
  }
  const dlq: StreamSpec = {
    name: n.streams.deadLetter,
    subjects: [n.subjects.deadLetterAll],
    retention: 'limits',
    storage: 'file',
    replicas: s.replicas,
    duplicateWindowMs: s.dedupeWindowMs,
    maxAgeMs: s.deadLetterMaxAgeMs,
    discard: 'old',
  };
  // The server's MAX_DELIVERIES advisories, stored: a core subscription can
  // miss one (a reconnect), and the exhausted-task sweep moves a message to
  // the DLQ only with the server's own delivery count for it (never on a
  // configured value: NATS 2.9 can keep an acked message after a kill -9).
  const advisories: StreamSpec = {
    name: n.streams.advisories,
    subjects: QUEUES.map((q) => n.subjects.maxDeliveriesAdvisory(n.streams.work(q), n.consumers.work(q))),
    retention: 'limits',
    storage: 'file',
    replicas: s.replicas,
    duplicateWindowMs: Math.min(s.dedupeWindowMs, ADVISORY_MAX_AGE_MS),
    maxAgeMs: ADVISORY_MAX_AGE_MS,
    discard: 'old',
  };
  // The storage relay (actors/runtime/dead-letter-relay.ts): every dead letter
  // is recorded in the database and its task failed, at least once.
  const relay: ConsumerSpec = {
    stream: dlq.name,
    durable: n.consumers.deadLetterRelay,
    filterSubject: n.subjects.deadLetterAll,
    ackPolicy: 'explicit',
    ackWaitMs: s.ackWaitMs,
    // Finite (RELIABILITY.md), and far beyond any database outage at the relay's backoff.
    maxDeliver: 100_000,
    maxAckPending: 256,
  };
  return {
    streams: [...work.values(), dlq, advisories],
    consumers: [...consumers.values(), relay],
    buckets: [
      { bucket: n.buckets.members, history: 1, replicas: s.replicas, description: 'live actor hosts (expiresAt in value)' },
      { bucket: n.buckets.leases, history: 1, replicas: s.replicas, description: 'shard and singleton leases (CAS, fencing by revision)' },
      { bucket: n.buckets.shards, history: 1, replicas: s.replicas, description: 'shard assignment snapshots' },
    ],
    workStream: (q) => work.get(q)!,
    workConsumer: (q) => consumers.get(q)!,
  };
}
