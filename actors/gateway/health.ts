/**
 * /health and /metrics on the gateway port: the node's supervisor view
 * (every host on this node), obtained through ctx.nodeView (direct call
 * inline, IPC when forked), plus the gateway's own fields. When the
 * supervisor cannot be asked, /health answers 503 rather than guessing.
 * Neither is rate limited or shed for overload (overload.ts): they are how
 * an operator sees that the node is overloaded.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { NodeView } from '../host/services.js';
import { problem, sendProblem } from './errors.js';

export interface HealthPluginOptions {
  nodeView: NodeView;
  /** The gateway's own health fields (websocket clients, states known...). */
  gateway(): Record<string, unknown>;
}

export const healthPlugin: FastifyPluginAsync<HealthPluginOptions> = async (app, o) => {
  app.get('/health', { config: { rateLimit: false, shed: false } }, async (_req, reply) => {
    let report;
    try {
      report = await o.nodeView.health();
    } catch (err) {
      return sendProblem(reply, problem(503, 'SW_ERR_UNAVAILABLE', `node view unavailable: ${err instanceof Error ? err.message : String(err)}`));
    }
    reply.code(report.status === 'ok' ? 200 : 503).header('cache-control', 'no-store');
    return { ...report, gateway: o.gateway() };
  });
  app.get('/metrics', { config: { rateLimit: false, shed: false } }, async (_req, reply) => {
    let m;
    try {
      m = await o.nodeView.metrics();
    } catch (err) {
      return sendProblem(reply, problem(503, 'SW_ERR_UNAVAILABLE', `node metrics unavailable: ${err instanceof Error ? err.message : String(err)}`));
    }
    reply.header('content-type', m.contentType).header('cache-control', 'no-store');
    return m.body;
  });
};
