/**
 * The cluster as one gateway sees it: the latest ClusterStatus of every
 * node (each supervisor publishes its own on `<ns>.cluster.status.v1` every
 * few seconds, supervisor/cluster-status.ts), nodes not heard from within
 * `staleMs` dropped, plus task counts by state from storage and the task
 * throughput derived from two readings. Served as `GET /cluster` and as the
 * websocket `cluster` message (protocol/messages/ws.ts ClusterView).
 */
import type { FastifyPluginAsync } from 'fastify';
import { errorMessage } from '../../protocol/errors.js';
import { ClusterStatusMessage, type ClusterStatus } from '../../protocol/messages/cluster.js';
import { ClusterViewSchema, type ClusterView as ClusterViewMessage } from '../../protocol/messages/ws.js';
import { QUEUES } from '../../protocol/names.js';
import type { Storage } from '../storage/index.js';
import { countTasksByState } from '../storage/tasks.js';

export interface ClusterViewOptions {
  /** Statuses older than this are dropped (default 15 s: several missed reports at the 2 s default interval). */
  staleMs?: number;
  /** At most this many nodes are kept (a flood of made-up node ids cannot grow memory without limit). Default 1,000. */
  maxNodes?: number;
  /** Task counts are read at most this often (default 10 s). Absent storage: `tasks` is null. */
  taskSampleMs?: number;
  storage?(): Promise<Storage>;
  onInvalid?(err: unknown): void;
}

interface TaskSample {
  at: number;
  byState: Record<string, number>;
}

export class ClusterView {
  private readonly nodes = new Map<string, ClusterStatus>();
  private readonly staleMs: number;
  private readonly maxNodes: number;
  private readonly taskSampleMs: number;
  private prev: TaskSample | null = null;
  private last: TaskSample | null = null;
  private sampling: Promise<void> | null = null;
  invalid = 0;

  constructor(private readonly o: ClusterViewOptions = {}) {
    this.staleMs = o.staleMs ?? 15_000;
    this.maxNodes = o.maxNodes ?? 1000;
    this.taskSampleMs = o.taskSampleMs ?? 10_000;
  }

  /** Take one status off the bus; false when malformed (counted). */
  ingest(bytes: Uint8Array, now = Date.now()): boolean {
    let s: ClusterStatus;
    try {
      s = ClusterStatusMessage.decode(bytes);
    } catch (err) {
      this.invalid += 1;
      this.o.onInvalid?.(err);
      return false;
    }
    const prev = this.nodes.get(s.nodeId);
    if (prev && prev.at > s.at) return true; // an older report arriving late
    this.nodes.delete(s.nodeId); // re-insert: map order is last-heard order
    this.nodes.set(s.nodeId, s);
    this.prune(now);
    return true;
  }

  private prune(now: number): void {
    for (const [id, s] of this.nodes) if (now - s.at > this.staleMs) this.nodes.delete(id);
    for (const id of this.nodes.keys()) {
      if (this.nodes.size <= this.maxNodes) break;
      this.nodes.delete(id);
    }
  }

  /** Read task counts when the last reading is older than taskSampleMs (one reading at a time). */
  async sampleTasks(now = Date.now()): Promise<void> {
    if (!this.o.storage || (this.last && now - this.last.at < this.taskSampleMs)) return;
    this.sampling ??= (async () => {
      try {
        const byState = await countTasksByState((await this.o.storage!()).db);
        this.prev = this.last;
        this.last = { at: Date.now(), byState };
      } catch (err) {
        this.o.onInvalid?.(new Error(`task counts not read: ${errorMessage(err)}`));
      }
    })().finally(() => (this.sampling = null));
    await this.sampling;
  }

  /** The view now (call sampleTasks first for fresh task figures). */
  view(now = Date.now()): ClusterViewMessage {
    this.prune(now);
    const nodes = [...this.nodes.values()].sort((a, b) => a.nodeId.localeCompare(b.nodeId));
    const queues: Record<string, number> = Object.fromEntries(QUEUES.map((q) => [q, 0]));
    let hosts = 0;
    let actors = 0;
    let restarts = 0;
    let deadLetters = 0;
    for (const n of nodes) {
      hosts += n.hosts.length;
      for (const h of n.hosts) {
        actors += h.actors;
        restarts += h.restarts;
      }
      // Queues and the dead-letter stream are cluster-wide: every node reports the same ones, so take the highest, not the sum.
      for (const [q, v] of Object.entries(n.queues)) queues[q] = Math.max(queues[q] ?? 0, v.depth);
      deadLetters = Math.max(deadLetters, n.deadLetters);
    }
    return {
      at: now,
      nodes: nodes.map((n) => ({ ...n, ageMs: Math.max(0, now - n.at) })),
      totals: { nodes: nodes.length, hosts, actors, restarts, queues, deadLetters },
      tasks: this.last ? { byState: this.last.byState, finishedPerMinute: this.throughput(), sampledAt: this.last.at } : null,
    };
  }

  /** Tasks that reached done or failed per minute between the last two readings; null with fewer than two. */
  private throughput(): number | null {
    if (!this.prev || !this.last || this.last.at <= this.prev.at) return null;
    const fin = (s: TaskSample) => (s.byState.done ?? 0) + (s.byState.failed ?? 0);
    const d = fin(this.last) - fin(this.prev);
    // Retention may delete finished rows: a negative difference says nothing about throughput.
    return d < 0 ? null : Math.round((d * 60_000 * 100) / (this.last.at - this.prev.at)) / 100;
  }
}

export const clusterPlugin: FastifyPluginAsync<{ view: ClusterView }> = async (app, o) => {
  app.get(
    '/cluster',
    { schema: { operationId: 'getCluster', summary: 'Every node heard recently, totals and task throughput', documentedResponse: { 200: ClusterViewSchema } } },
    async (_req, reply) => {
    await o.view.sampleTasks();
    return reply.header('cache-control', 'no-store').send(o.view.view());
    },
  );
};
