/**
 * /health and /metrics on the gateway port: the node's supervisor view
 * (every host on this node), obtained through ctx.nodeView (direct call
 * inline, IPC when forked), plus the gateway's own fields. When the
 * supervisor cannot be asked, /health answers 503 rather than guessing.
 * Neither is rate limited or shed for overload (overload.ts): they are how
 * an operator sees that the node is overloaded.
 *
 * The gateway adds what it sees of its own dependencies (issue 11): while
 * its database, its Redis cache or its bus connection is down
 * (runtime/dependency-probe.ts), /health says `degraded` (503) with one
 * reason per dependency in `problems`, and lists them in `dependencies`.
 *
 * `catalog` says how old the tracked elements are (catalog-age.ts), not
 * only when they were loaded. Old elements do not make the node unhealthy
 * (a process manager would restart it for nothing): the states they give
 * are published as not good, and /health says why.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { NodeView } from '../host/services.js';
import type { DependencyStatus } from '../runtime/dependency-probe.js';
import type { CatalogAgeView } from './catalog-age.js';
import { problem, sendProblem } from './errors.js';
import { ElementAgeSchema } from './ingest-status.js';
import { inMediaType } from './openapi.js';

export interface HealthPluginOptions {
  nodeView: NodeView;
  /** The gateway's own health fields (websocket clients, states known...). */
  gateway(): Record<string, unknown>;
  /** The gateway's dependencies as last probed (DependencyProbe.current()). */
  dependencies?(): DependencyStatus[];
  /** The catalog's element age and last load (CatalogAge.view, cached); absent: no `catalog` field. */
  catalog?(): Promise<CatalogAgeView>;
}

/** The health report (supervisor/http.ts HealthReport) with the gateway's fields, for the OpenAPI document (openapi.ts documentedResponse). */
const HealthDoc = Type.Object(
  {
    status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
    nodeId: Type.String(),
    roles: Type.Array(Type.String()),
    transport: Type.Object({ kind: Type.Union([Type.Literal('nats'), Type.Literal('embedded')]), connected: Type.Boolean() }, { additionalProperties: true }),
    hosts: Type.Array(Type.Object({}, { additionalProperties: true, description: 'One host of this node: role, mode, state, restarts, heartbeat and event-loop figures' })),
    problems: Type.Array(Type.String(), { description: 'Why the node is degraded (empty when ok)' }),
    slowHosts: Type.Array(Type.String()),
    dependencies: Type.Array(
      Type.Object({ name: Type.String(), kind: Type.String(), ok: Type.Boolean(), detail: Type.Union([Type.String(), Type.Null()]) }, { additionalProperties: true }),
    ),
    stalledQueues: Type.Array(Type.Object({ queue: Type.String(), depth: Type.Integer(), stalledMs: Type.Integer() }, { additionalProperties: true })),
    invalidIpcMessages: Type.Integer({ minimum: 0 }),
    kernels: Type.Union([Type.Object({ mode: Type.String(), running: Type.String() }, { additionalProperties: true }), Type.Null()], { description: 'The tile kernels this node runs; null without the tile role' }),
    at: Type.Integer(),
    catalog: Type.Optional(
      Type.Union([
        Type.Object(
          {
            elements: Type.Union([ElementAgeSchema, Type.Null()]),
            lastLoad: Type.Union([Type.Object({ source: Type.String(), snapshotDate: Type.Union([Type.String(), Type.Null()]), finishedAt: Type.String({ format: 'date-time' }) }, { additionalProperties: false }), Type.Null()]),
          },
          { additionalProperties: false },
        ),
        Type.Null(),
      ]),
    ),
    gateway: Type.Object({}, { additionalProperties: true, description: 'The gateway\'s own figures (websocket clients, states known, load)' }),
  },
  { additionalProperties: true },
);

export const healthPlugin: FastifyPluginAsync<HealthPluginOptions> = async (app, o) => {
  app.get(
    '/health',
    {
      config: { rateLimit: false, shed: false },
      schema: {
        operationId: 'getHealth',
        summary: 'Node health: hosts, dependencies, catalog element age',
        documentedResponse: { 200: HealthDoc, 503: { description: 'Degraded: the same report, `problems` saying why', content: { 'application/json': { schema: HealthDoc } } } },
      },
    },
    async (_req, reply) => {
    let report;
    try {
      report = await o.nodeView.health();
    } catch (err) {
      return sendProblem(reply, problem(503, 'SW_ERR_UNAVAILABLE', `node view unavailable: ${err instanceof Error ? err.message : String(err)}`));
    }
    const deps = o.dependencies?.() ?? [];
    if (deps.length > 0) {
      const now = Date.now();
      const problems = Array.isArray(report.problems) ? [...(report.problems as string[])] : [];
      const listed = Array.isArray(report.dependencies) ? (report.dependencies as DependencyStatus[]) : [];
      for (const d of deps) {
        if (d.ok) continue;
        const reason = `${d.name} (${d.kind}) unavailable for ${Math.max(0, Math.round((now - d.since) / 1000))} s: ${d.detail ?? 'down'}`;
        // The supervisor may already report the same dependency (an inline node shares its storage): once.
        if (!problems.some((p) => p.startsWith(`${d.name} (${d.kind}) unavailable`))) problems.push(reason);
      }
      report = { ...report, status: problems.length > 0 ? 'degraded' : report.status, problems, dependencies: [...listed.filter((x) => !deps.some((d) => d.name === x.name)), ...deps] };
    }
    const catalog = o.catalog ? await o.catalog().catch(() => null) : undefined;
    reply.code(report.status === 'ok' ? 200 : 503).header('cache-control', 'no-store');
    return { ...report, ...(catalog !== undefined ? { catalog } : {}), gateway: o.gateway() };
    },
  );
  app.get(
    '/metrics',
    {
      config: { rateLimit: false, shed: false },
      schema: {
        operationId: 'getMetrics',
        summary: 'Prometheus metrics of the node (every host)',
        documentedResponse: { 200: inMediaType('text/plain', Type.String({ description: 'Prometheus text exposition format 0.0.4' }), 'The metrics') },
        // The node view unavailable is a 503 problem (the standard 503 of every route).
      },
    },
    async (_req, reply) => {
    let m;
    try {
      m = await o.nodeView.metrics();
    } catch (err) {
      return sendProblem(reply, problem(503, 'SW_ERR_UNAVAILABLE', `node metrics unavailable: ${err instanceof Error ? err.message : String(err)}`));
    }
    reply.header('content-type', m.contentType).header('cache-control', 'no-store');
    return m.body;
    },
  );
};
