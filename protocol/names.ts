/**
 * Every NATS subject, stream, durable consumer and KV bucket StarWeather uses,
 * as data. A namespace prefixes them all so several clusters (or test runs)
 * can share one NATS server without seeing each other; the default is `sw`,
 * which gives the public names `sw.<domain>.<event>.v<N>`.
 */

export const QUEUES = ['high', 'satellite', 'weather'] as const;
export type QueueName = (typeof QUEUES)[number];

/** Scheduling order: earlier drains first (see actors/runtime/priority.ts). */
export const QUEUE_PRIORITY: Record<QueueName, number> = { high: 0, satellite: 1, weather: 2 };

const NAMESPACE_RE = /^[a-z][a-z0-9_]{0,31}$/;

export function isValidNamespace(ns: string): boolean {
  return NAMESPACE_RE.test(ns);
}

export interface Names {
  readonly namespace: string;
  readonly subjects: {
    /** Work tasks for one priority queue; the task kind is the last token. */
    work(queue: QueueName): string;
    workAll(queue: QueueName): string;
    deadLetter(queue: QueueName): string;
    deadLetterAll: string;
    /** Core pub/sub (no JetStream): 1 Hz state and status. */
    clusterStatus: string;
    nodeHeartbeat: string;
    trackerState(shard: number): string;
    trackerStateAll: string;
    alerts: string;
    /** Catalog ingest (core NATS): changed-ids hint, on-demand refresh request and its reply. */
    catalogChanged: string;
    catalogRefresh: string;
    catalogRefreshReply(requestId: string): string;
    /**
     * Presence probes of one host (core NATS request/reply, empty bodies):
     * a live host answers; a host whose connection is gone has no
     * subscription, which NATS reports as "no responders" at once.
     */
    hostPresence(hostId: string): string;
    /** Server advisory raised when a work consumer exhausts MaxDeliver. */
    maxDeliveriesAdvisory(stream: string, consumer: string): string;
  };
  readonly streams: {
    work(queue: QueueName): string;
    deadLetter: string;
    /** Stored MAX_DELIVERIES advisories of the work consumers (what the exhausted-task sweep trusts). */
    advisories: string;
  };
  readonly consumers: {
    work(queue: QueueName): string;
    /** The storage relay's durable consumer on the dead-letter stream. */
    deadLetterRelay: string;
  };
  readonly buckets: {
    members: string;
    leases: string;
    shards: string;
  };
}

export function names(namespace = 'sw'): Names {
  if (!isValidNamespace(namespace)) {
    throw new TypeError(`namespace must match ${NAMESPACE_RE} (got ${JSON.stringify(namespace)})`);
  }
  const ns = namespace;
  const NS = namespace.toUpperCase();
  return {
    namespace,
    subjects: {
      work: (q) => `${ns}.work.${q}.v1`,
      workAll: (q) => `${ns}.work.${q}.v1`,
      deadLetter: (q) => `${ns}.dlq.${q}.v1`,
      deadLetterAll: `${ns}.dlq.*.v1`,
      clusterStatus: `${ns}.cluster.status.v1`,
      nodeHeartbeat: `${ns}.cluster.heartbeat.v1`,
      trackerState: (shard) => `${ns}.tracker.state.v1.${shard}`,
      trackerStateAll: `${ns}.tracker.state.v1.*`,
      alerts: `${ns}.alerts.v1`,
      catalogChanged: `${ns}.catalog.changed.v1`,
      catalogRefresh: `${ns}.catalog.refresh.v1`,
      catalogRefreshReply: (requestId) => `${ns}.catalog.refresh.reply.v1.${requestId}`,
      hostPresence: (hostId) => `${ns}.host.presence.v1.${hostId}`,
      maxDeliveriesAdvisory: (stream, consumer) => `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${consumer}`,
    },
    streams: {
      work: (q) => `${NS}_WORK_${q.toUpperCase()}`,
      deadLetter: `${NS}_DLQ`,
      advisories: `${NS}_ADVISORIES`,
    },
    consumers: {
      work: (q) => `worker-${q}`,
      deadLetterRelay: 'dlq-relay',
    },
    buckets: {
      members: `${ns}_members`,
      leases: `${ns}_leases`,
      shards: `${ns}_shards`,
    },
  };
}
