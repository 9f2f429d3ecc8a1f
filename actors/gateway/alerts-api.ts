/**
 * GET /alerts: recent alerts from storage, newest first (the dashboard's
 * alerts panel). `limit` (1..500, default 100), `since` (date-time), and
 * `unacknowledged=true` for open alerts only.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { AlertRaisedSchema } from '../../protocol/messages/satellite-state.js';
import { listAlerts } from '../storage/alerts.js';
import type { Storage } from '../storage/index.js';
import { alertToWire } from './alerts-feed.js';
import { badRequest } from './errors.js';

export interface AlertsApiOptions {
  storage(): Promise<Storage>;
}

const Query = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
    since: Type.Optional(Type.String({ format: 'date-time' })),
    unacknowledged: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const alertsApiPlugin: FastifyPluginAsync<AlertsApiOptions> = async (app, o) => {
  app.get<{ Querystring: { limit?: number; since?: string; unacknowledged?: boolean } }>('/alerts', {
      schema: {
        operationId: 'listAlerts',
        summary: 'Recent alerts, newest first',
        querystring: Query,
        documentedResponse: {
          200: Type.Object(
            { alerts: Type.Array(Type.Object({ ...AlertRaisedSchema.properties, acknowledgedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]) }, { additionalProperties: false })) },
            { additionalProperties: false, description: 'alert.raised v1 (protocol/PROTOCOL.md) with when it was acknowledged' },
          ),
        },
      },
    }, async (req, reply) => {
    const since = req.query.since !== undefined ? new Date(req.query.since) : undefined;
    if (since && Number.isNaN(since.getTime())) throw badRequest('since must be a date-time');
    const rows = await listAlerts((await o.storage()).db, {
      limit: req.query.limit ?? 100,
      ...(since ? { since } : {}),
      ...(req.query.unacknowledged ? { unacknowledgedOnly: true } : {}),
    });
    return reply.header('cache-control', 'no-store').send({
      alerts: rows.map((a) => ({ ...alertToWire(a), acknowledgedAt: a.acknowledgedAt ? a.acknowledgedAt.toISOString() : null })),
    });
  });
};
