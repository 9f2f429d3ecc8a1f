/**
 * /health and /metrics for a node: a fastify plugin (the gateway mounts the
 * same plugin on its own server later) and a small server for nodes without
 * the gateway role. Errors are RFC 9457 problem details
 * (application/problem+json). Timeouts are set because fastify's defaults
 * (connectionTimeout and requestTimeout 0) never close a slow client
 * (RELIABILITY.md, "Security controls").
 */
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyError } from 'fastify';
import type { Logger } from 'pino';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { Role } from '../protocol/messages/cluster.js';
import type { ChildStatus, Supervisor } from './supervisor.js';
import type { DependencyStatus } from '../actors/runtime/dependency-probe.js';
import type { KernelsInUse } from '../actors/tile/kernels/index.js';

export interface HostHealth {
  id: string;
  role: Role;
  mode: 'process' | 'inline' | 'thread';
  hostId: string;
  pid: number | null;
  /** The worker thread's id (a host on a thread of the node process); null otherwise. */
  threadId: number | null;
  state: ChildStatus['state'];
  draining: boolean;
  restarts: number;
  lastHeartbeatAt: number | null;
  heartbeatAgeMs: number | null;
  /** Busy: its event loop is late (p99 delay or a current stall above the slow threshold). Never a reason to restart. */
  slow: boolean;
  eventLoopP99Ms: number;
  /** How long its loop had gone without a turn at its last liveness beat. */
  stalledMs: number;
  /** Wall time of its last liveness beat (forked hosts) or progress seen (thread hosts); null for inline hosts. */
  lastBeatAt: number | null;
  inFlight: number;
  queueDepths: Record<string, number>;
  /** What the host reported it runs; null until its first info message. */
  queues: string[] | null;
  handlers: string[] | null;
  entityKinds: string[] | null;
  shards: Record<string, number> | null;
  notes: string[];
  lastExit: ChildStatus['lastExit'];
}

export interface HealthReport {
  status: 'ok' | 'degraded';
  nodeId: string;
  roles: Role[];
  transport: { kind: 'nats' | 'embedded'; connected: boolean };
  hosts: HostHealth[];
  /** Why the node is degraded (empty when ok). */
  problems: string[];
  /** Hosts that are busy right now (slow, not dead): reported, never restarted for it. */
  slowHosts: string[];
  /** Database, cache and bus as last probed (dependency-probe.ts); empty when this node probes none. */
  dependencies: DependencyStatus[];
  /** Work queues with messages whose depth has not gone down for queueStallMs: depth and for how long. */
  stalledQueues: Array<{ queue: string; depth: number; stalledMs: number }>;
  invalidIpcMessages: number;
  /**
   * The tile kernels this node's tile hosts run: native (the C++ addon) or
   * typescript (no addon: an install without a C++ toolchain, or one that
   * does not load; `reason` says why); null on a node without the tile role.
   */
  kernels: KernelsInUse | null;
  at: number;
}

export interface NodeHealthSource {
  health(): HealthReport;
  /** Prometheus text and its content type. */
  metrics(): Promise<{ contentType: string; body: string }>;
}

export interface SupervisorHealthOptions {
  supervisor: Supervisor;
  nodeId: string;
  roles: Role[];
  transport: () => { kind: 'nats' | 'embedded'; connected: boolean };
  /** A host silent longer than this is reported as a problem (use the hang timeout). */
  staleHeartbeatMs: number;
  /** The supervisor's own registry (restarts, child up, process metrics). */
  registry: Registry;
  /** How long /metrics waits for children's metrics (default 1000 ms). */
  childMetricsTimeoutMs?: number;
  /** Dependencies as probed (DependencyProbe.current()); a dependency that is down makes the node degraded. */
  dependencies?: () => DependencyStatus[];
  /**
   * A queue with messages whose depth has not gone down for this long is not
   * draining (nothing acked, or acks slower than arrivals the whole time):
   * degraded. Default 60000 ms; 0: not checked.
   */
  queueStallMs?: number;
  /** How often queue depths are sampled for that check; default 1000 ms. */
  queueSampleMs?: number;
  /** The tile hosts' kernels (kernels/index.ts kernelsInUse, the choice pipeline/kernel-binding.ts makes); absent: null (no tile role). */
  kernels?: KernelsInUse;
}

interface QueueWatch {
  depth: number;
  /** Since when the depth has not gone down (ms since the epoch). */
  since: number;
}

/**
 * Follows queue depths (the deepest any host reports for a queue) and says
 * which have held messages without their depth going down for `stallMs`.
 */
export class QueueDrainWatch {
  private readonly q = new Map<string, QueueWatch>();
  constructor(private readonly stallMs: number) {}

  sample(depths: ReadonlyMap<string, number>, now = Date.now()): void {
    for (const [queue, depth] of depths) {
      const w = this.q.get(queue);
      if (!w || depth < w.depth || depth === 0) this.q.set(queue, { depth, since: now });
      else w.depth = depth;
    }
    for (const queue of [...this.q.keys()]) if (!depths.has(queue)) this.q.delete(queue);
  }

  stalled(now = Date.now()): Array<{ queue: string; depth: number; stalledMs: number }> {
    if (this.stallMs <= 0) return [];
    const out: Array<{ queue: string; depth: number; stalledMs: number }> = [];
    for (const [queue, w] of this.q) if (w.depth > 0 && now - w.since >= this.stallMs) out.push({ queue, depth: w.depth, stalledMs: now - w.since });
    return out;
  }
}

/** The deepest depth any host reports for each queue. */
function queueDepths(children: readonly ChildStatus[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const c of children) for (const [q, d] of Object.entries(c.queueDepths)) if (Number.isFinite(d)) out.set(q, Math.max(out.get(q) ?? 0, d));
  return out;
}

/** Health and metrics of a supervisor and its hosts. */
export function supervisorHealth(o: SupervisorHealthOptions): NodeHealthSource & { close(): void } {
  const drain = new QueueDrainWatch(o.queueStallMs ?? 60_000);
  const sampler = (o.queueStallMs ?? 60_000) > 0 ? setInterval(() => drain.sample(queueDepths(o.supervisor.status())), o.queueSampleMs ?? 1000) : null;
  sampler?.unref();
  return {
    close() {
      if (sampler) clearInterval(sampler);
    },
    health(): HealthReport {
      const now = Date.now();
      const transport = o.transport();
      const problems: string[] = [];
      const slowHosts: string[] = [];
      if (!transport.connected) problems.push(`transport ${transport.kind} is not connected`);
      const status = o.supervisor.status();
      drain.sample(queueDepths(status), now);
      const stalledQueues = drain.stalled(now);
      for (const q of stalledQueues) problems.push(`queue ${q.queue} is not draining: ${q.depth} messages, depth not down for ${Math.round(q.stalledMs / 1000)} s`);
      const dependencies = o.dependencies?.() ?? [];
      for (const d of dependencies) if (!d.ok) problems.push(`${d.name} (${d.kind}) unavailable for ${Math.max(0, Math.round((now - d.since) / 1000))} s: ${d.detail ?? 'down'}`);
      const hosts = status.map((c): HostHealth => {
        const age = c.lastHeartbeatAt === null ? null : now - c.lastHeartbeatAt;
        const beating = c.lastBeatAt !== null && now - c.lastBeatAt <= o.staleHeartbeatMs;
        if (c.state !== 'running') problems.push(`host ${c.id} is ${c.state}`);
        else if (age === null || age > o.staleHeartbeatMs) {
          // A late heartbeat from a host whose liveness thread still beats is
          // a busy host, not a dead one (and an inline host shares the loop
          // that is answering this request, so it turns again).
          if (beating || c.mode === 'inline') slowHosts.push(c.id);
          else problems.push(`host ${c.id} has not heartbeated for ${age ?? '?'} ms`);
        }
        if (c.slow && !slowHosts.includes(c.id)) slowHosts.push(c.id);
        if (c.info && !c.info.connected) problems.push(`host ${c.id} reports its transport disconnected`);
        return {
          id: c.id,
          role: c.role,
          mode: c.mode,
          hostId: c.hostId,
          pid: c.pid,
          threadId: c.threadId,
          state: c.state,
          draining: c.draining || (c.info?.draining ?? false),
          restarts: c.restarts,
          lastHeartbeatAt: c.lastHeartbeatAt,
          heartbeatAgeMs: age,
          slow: c.slow || slowHosts.includes(c.id),
          eventLoopP99Ms: c.eventLoopP99Ms,
          stalledMs: c.stalledMs,
          lastBeatAt: c.lastBeatAt,
          inFlight: c.inFlight,
          queueDepths: c.queueDepths,
          queues: c.info?.queues ?? null,
          handlers: c.info?.handlers ?? null,
          entityKinds: c.info?.entityKinds ?? null,
          shards: c.info?.shards ?? null,
          notes: c.info?.notes ?? [],
          lastExit: c.lastExit,
        };
      });
      return {
        status: problems.length === 0 ? 'ok' : 'degraded',
        nodeId: o.nodeId,
        roles: o.roles,
        transport,
        hosts,
        problems,
        slowHosts,
        dependencies,
        stalledQueues,
        invalidIpcMessages: o.supervisor.invalidMessages,
        kernels: o.kernels ?? null,
        at: now,
      };
    },
    async metrics() {
      const children = await o.supervisor.collectChildMetrics(o.childMetricsTimeoutMs ?? 1000);
      // Each host labels its series with its host id, so aggregation keeps
      // them apart; the supervisor's own series have no host label.
      const aggregated = AggregatorRegistry.aggregate([await o.registry.getMetricsAsJSON(), ...(children as Array<Awaited<ReturnType<Registry['getMetricsAsJSON']>>>)]);
      return { contentType: o.registry.contentType, body: await aggregated.metrics() };
    },
  };
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  code?: string;
}

function sendProblem(reply: { code(n: number): unknown; type(t: string): unknown; send(b: unknown): unknown }, p: Problem): void {
  reply.code(p.status);
  reply.type('application/problem+json');
  reply.send(p);
}

/** GET /health (200 ok / 503 degraded) and GET /metrics. */
export const nodeHttpPlugin: FastifyPluginAsync<{ source: NodeHealthSource }> = async (app, { source }) => {
  app.get('/health', async (_req, reply) => {
    const report = source.health();
    reply.code(report.status === 'ok' ? 200 : 503).header('cache-control', 'no-store');
    return report;
  });
  app.get('/metrics', async (_req, reply) => {
    const { contentType, body } = await source.metrics();
    reply.header('content-type', contentType).header('cache-control', 'no-store');
    return body;
  });
};

export interface NodeServerOptions {
  host: string;
  port: number;
  source: NodeHealthSource;
  logger?: Logger;
}

/** Problem-details handlers for a whole server (404 and errors). */
export function useProblemDetails(app: FastifyInstance, log?: Logger): void {
  app.setNotFoundHandler((req, reply) => {
    sendProblem(reply, { type: 'about:blank', title: 'Not Found', status: 404, detail: `no route for ${req.method} ${req.url.slice(0, 200)}`, code: 'SW_ERR_NOT_FOUND' });
  });
  app.setErrorHandler((err: FastifyError, _req, reply) => {
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) (log ?? app.log).error({ err }, 'request failed');
    sendProblem(reply, {
      type: 'about:blank',
      title: status >= 500 ? 'Internal Server Error' : 'Bad Request',
      status,
      // A 5xx does not leak internals; a 4xx says what was wrong.
      detail: status >= 500 ? 'the server failed to handle the request' : err.message,
      code: status >= 500 ? 'SW_ERR_HANDLER' : (err.code ?? 'SW_ERR_INVALID_ARGUMENT'),
    });
  });
}

export interface NodeServer {
  app: FastifyInstance;
  /** The bound port (useful with port 0). */
  port: number;
  close(): Promise<void>;
}

export async function startNodeServer(o: NodeServerOptions): Promise<NodeServer> {
  const app: FastifyInstance = Fastify({
    // No per-request logs for health probes and scrapes; errors are logged by the handler below.
    logger: false,
    connectionTimeout: 10_000,
    requestTimeout: 10_000,
    keepAliveTimeout: 5_000,
    // These routes take no body.
    bodyLimit: 16 * 1024,
    return503OnClosing: true,
  });
  useProblemDetails(app, o.logger?.child({ component: 'http' }));
  await app.register(nodeHttpPlugin, { source: o.source });
  await app.listen({ host: o.host, port: o.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : o.port;
  return { app, port, close: () => app.close() };
}
