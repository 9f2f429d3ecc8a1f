/**
 * Cluster status: every node's supervisor publishes a ClusterStatus (its
 * hosts, restarts, queue depths, dead letters) on the status subject every
 * statusIntervalMs over core pub/sub, and keeps the latest status of every
 * node it hears there, so `starweather status` and the gateway can show the
 * whole cluster from any node. Core pub/sub on purpose: a status is stale a
 * moment later, so it is not worth persisting or redelivering.
 */
import { pino, type Logger } from 'pino';
import { StarWeatherError, errorMessage } from '../protocol/errors.js';
import { ClusterStatusMessage, type ClusterStatus, type Role } from '../protocol/messages/cluster.js';
import { QUEUES, type Names } from '../protocol/names.js';
import type { Subscription, Transport } from '../protocol/transport.js';
import type { ChildStatus } from './supervisor.js';

export interface ClusterStatusOptions {
  transport: Transport;
  names: Names;
  nodeId: string;
  roles: Role[];
  /** The supervisor's current view of its children. */
  hosts: () => ChildStatus[];
  intervalMs: number;
  logger?: Logger;
  /** Statuses older than this are dropped from `nodes()` (default 5 × intervalMs). */
  staleAfterMs?: number;
}

/** ChildStatus → the wire shape (the protocol knows no 'draining' state: it stays 'running'). */
export function hostStatus(c: ChildStatus): ClusterStatus['hosts'][number] {
  return {
    hostId: c.hostId,
    role: c.role,
    pid: c.pid ?? 0,
    state: c.state,
    actors: c.actors,
    restarts: c.restarts,
    lastHeartbeatAt: c.lastHeartbeatAt,
    slow: c.slow,
    eventLoopP99Ms: c.eventLoopP99Ms,
    stalledMs: c.stalledMs,
  };
}

export class ClusterStatusReporter {
  /** Statuses heard on the subject that failed to decode. */
  invalid = 0;
  /** Publishes that failed (e.g. the bus was down). */
  publishErrors = 0;

  private readonly opts: ClusterStatusOptions;
  private readonly log: Logger;
  private readonly known = new Map<string, ClusterStatus>();
  private sub: Subscription | null = null;
  private timer: NodeJS.Timeout | null = null;
  private publishing = false;
  private lastQueues: ClusterStatus['queues'] = {};
  private lastDeadLetters = 0;

  constructor(options: ClusterStatusOptions) {
    if (!(options.intervalMs > 0)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'intervalMs must be > 0');
    this.opts = options;
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'cluster-status' });
  }

  /** Listen to every node's status and publish ours every intervalMs. */
  start(): void {
    if (this.sub) return;
    this.sub = this.opts.transport.subscribe(this.opts.names.subjects.clusterStatus, (msg) => {
      try {
        const status = ClusterStatusMessage.decode(msg.data);
        const prev = this.known.get(status.nodeId);
        if (!prev || prev.at <= status.at) this.known.set(status.nodeId, status);
      } catch (err) {
        this.invalid += 1;
        this.log[this.invalid <= 5 ? 'warn' : 'debug']({ reason: errorMessage(err) }, 'invalid cluster status ignored');
      }
    });
    this.timer = setInterval(() => void this.publish(), this.opts.intervalMs);
    this.timer.unref();
    void this.publish();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sub?.unsubscribe();
    this.sub = null;
  }

  /** This node's status now. Queue figures that cannot be read keep their last value. */
  async build(): Promise<ClusterStatus> {
    const { transport } = this.opts;
    const queues: ClusterStatus['queues'] = { ...this.lastQueues };
    for (const q of QUEUES) {
      try {
        queues[q] = { depth: (await transport.queueStats(q)).depth };
      } catch (err) {
        this.log.debug({ queue: q, reason: errorMessage(err) }, 'queue stats unavailable');
      }
    }
    this.lastQueues = queues;
    try {
      this.lastDeadLetters = await transport.deadLetterCount();
    } catch (err) {
      this.log.debug({ reason: errorMessage(err) }, 'dead-letter count unavailable');
    }
    return {
      v: 1,
      nodeId: this.opts.nodeId,
      at: Date.now(),
      roles: [...this.opts.roles],
      hosts: this.opts.hosts().map(hostStatus),
      queues,
      deadLetters: this.lastDeadLetters,
    };
  }

  /** Build and publish once (one publish at a time; a slow bus skips a beat, it does not queue them). */
  async publish(): Promise<ClusterStatus | null> {
    if (this.publishing) return null;
    this.publishing = true;
    try {
      const status = await this.build();
      this.opts.transport.publish(this.opts.names.subjects.clusterStatus, ClusterStatusMessage.encode(status));
      // Our own status counts even when the bus does not echo it back to us.
      this.known.set(status.nodeId, status);
      return status;
    } catch (err) {
      this.publishErrors += 1;
      this.log.warn({ reason: errorMessage(err) }, 'cluster status not published');
      return null;
    } finally {
      this.publishing = false;
    }
  }

  /** The latest status of every node heard within staleAfterMs, by node id. */
  nodes(now = Date.now()): ClusterStatus[] {
    const staleAfter = this.opts.staleAfterMs ?? this.opts.intervalMs * 5;
    for (const [id, s] of this.known) if (now - s.at > staleAfter) this.known.delete(id);
    return [...this.known.values()].sort((a, b) => a.nodeId.localeCompare(b.nodeId));
  }
}

/**
 * Listen on the status subject for `waitMs` and return what was heard (the
 * `status` command; needs no supervisor). Invalid statuses are counted.
 */
export async function collectClusterStatus(transport: Transport, names: Names, waitMs: number): Promise<{ nodes: ClusterStatus[]; invalid: number }> {
  const seen = new Map<string, ClusterStatus>();
  let invalid = 0;
  const sub = transport.subscribe(names.subjects.clusterStatus, (msg) => {
    try {
      const s = ClusterStatusMessage.decode(msg.data);
      const prev = seen.get(s.nodeId);
      if (!prev || prev.at <= s.at) seen.set(s.nodeId, s);
    } catch {
      invalid += 1;
    }
  });
  try {
    await new Promise((r) => setTimeout(r, waitMs));
  } finally {
    sub.unsubscribe();
  }
  return { nodes: [...seen.values()].sort((a, b) => a.nodeId.localeCompare(b.nodeId)), invalid };
}
