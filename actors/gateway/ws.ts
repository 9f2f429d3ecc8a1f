/**
 * GET /ws: live states over a websocket (protocol/messages/ws.ts).
 *
 * Before the upgrade (RELIABILITY.md, "Security controls"): the Origin is
 * checked against the allow list when one is configured, the token when one
 * is configured, and the connection count. After it: maxPayload on every
 * message, a per-connection message rate, heartbeats with pings (a client
 * that misses two is dropped), and the fanout's backpressure. Bad client
 * input is answered with an `error` message; the connection stays usable.
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { errorMessage } from '../../protocol/errors.js';
import { WS_MAX_GROUPS, WS_MAX_IDS, WsClientMessage, type WsServerMessage } from '../../protocol/messages/ws.js';
import { problem, sendProblem } from './errors.js';
import type { FanoutClient, StateFanout } from './fanout.js';
import { normalizeSubscription } from './subscription.js';

/** Largest client message: a subscribe with WS_MAX_IDS 9-digit ids fits. */
export const WS_MAX_PAYLOAD = 128 * 1024;

export interface WsLimits {
  allowedOrigins: readonly string[];
  token: string;
  maxClients: number;
  heartbeatMs: number;
  messagesPerSecond: number;
}

export interface WsPluginOptions {
  fanout: StateFanout;
  limits: WsLimits;
  logger: Logger;
  /** Counted refusals and rejections, by reason. */
  onReject?(reason: string): void;
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function tokenOf(req: FastifyRequest): string | null {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7).trim();
  const q = (req.query as Record<string, unknown> | undefined)?.token;
  return typeof q === 'string' ? q : null;
}

/** Token bucket: `rate` per second, `burst` at most. */
class Bucket {
  private tokens: number;
  private at = Date.now();
  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }
  take(now = Date.now()): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.rate);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export const wsPlugin: FastifyPluginAsync<WsPluginOptions> = async (app, o) => {
  const { fanout, limits, logger: log } = o;
  const origins = new Set(limits.allowedOrigins.map((x) => x.replace(/\/+$/, '').toLowerCase()));
  const live = new Map<WebSocket, { client: FanoutClient; alive: boolean }>();

  const send = (socket: WebSocket, m: WsServerMessage): void => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(m));
  };

  const heartbeat = setInterval(() => {
    const now = Date.now();
    const lastTickMs = fanout.stats().lastTickMs;
    for (const [socket, st] of live) {
      // A closing socket (e.g. a slow client being dropped) would throw on ping.
      if (socket.readyState !== socket.OPEN) continue;
      if (!st.alive) {
        o.onReject?.('heartbeat_timeout');
        socket.terminate();
        continue;
      }
      st.alive = false;
      socket.ping();
      send(socket, { type: 'heartbeat', serverTime: now, lastTickMs });
    }
  }, limits.heartbeatMs);
  app.addHook('onClose', async () => {
    clearInterval(heartbeat);
    for (const socket of live.keys()) socket.close(1001, 'server shutting down');
  });

  app.get(
    '/ws',
    {
      websocket: true,
      // Refusals happen here, before the upgrade: the client gets a plain HTTP problem.
      preValidation: async (req, reply) => {
        const origin = req.headers.origin;
        if (origins.size > 0 && typeof origin === 'string' && !origins.has(origin.replace(/\/+$/, '').toLowerCase())) {
          o.onReject?.('origin');
          return sendProblem(reply, problem(403, 'SW_ERR_FORBIDDEN_ORIGIN', `origin ${origin.slice(0, 200)} is not allowed`));
        }
        if (limits.token) {
          const t = tokenOf(req);
          if (t === null || !sameToken(t, limits.token)) {
            o.onReject?.('token');
            return sendProblem(reply, problem(401, 'SW_ERR_UNAUTHORIZED', 'a valid token is required (?token= or Authorization: Bearer)'));
          }
        }
        if (live.size >= limits.maxClients) {
          o.onReject?.('max_clients');
          return sendProblem(reply, problem(503, 'SW_ERR_UNAVAILABLE', `this gateway serves at most ${limits.maxClients} websocket clients`));
        }
      },
    },
    (socket) => {
      const client: FanoutClient = {
        send: (bytes) => {
          if (socket.readyState === socket.OPEN) socket.send(bytes, { binary: true });
        },
        bufferedAmount: () => socket.bufferedAmount,
        close: (code, reason) => {
          socket.close(code, reason);
          // A client that stopped reading may never complete the closing handshake.
          setTimeout(() => socket.terminate(), 2000).unref();
        },
      };
      const st = { client, alive: true };
      live.set(socket, st);
      fanout.addClient(client);
      const soft = new Bucket(limits.messagesPerSecond, limits.messagesPerSecond * 2);
      const hard = new Bucket(limits.messagesPerSecond * 4, limits.messagesPerSecond * 8);

      socket.on('pong', () => (st.alive = true));
      socket.on('error', (err) => log.debug({ err: errorMessage(err) }, 'websocket error'));
      socket.on('close', () => {
        live.delete(socket);
        fanout.removeClient(client);
      });
      socket.on('message', (data, isBinary) => {
        st.alive = true;
        if (!hard.take()) {
          o.onReject?.('message_flood');
          client.close(1008, 'message rate exceeded');
          return;
        }
        if (!soft.take()) {
          o.onReject?.('message_rate');
          send(socket, { type: 'error', code: 'SW_ERR_RATE_LIMITED', message: `at most ${limits.messagesPerSecond} messages per second` });
          return;
        }
        if (isBinary) {
          o.onReject?.('binary_message');
          send(socket, { type: 'error', code: 'SW_ERR_DECODE', message: 'client messages are JSON text frames' });
          return;
        }
        const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
        let msg;
        try {
          msg = WsClientMessage.decode(bytes);
        } catch (err) {
          o.onReject?.('invalid_message');
          send(socket, { type: 'error', code: (err as { code?: string }).code ?? 'SW_ERR_SCHEMA', message: errorMessage(err).slice(0, 1000) });
          return;
        }
        const id = msg.id !== undefined ? { id: msg.id } : {};
        if (msg.type === 'unsubscribe') {
          fanout.subscribe(client, null);
          send(socket, { type: 'subscribed', ...id, matched: 0 });
          return;
        }
        const sub = normalizeSubscription(msg);
        if (!sub.all && !sub.ids && !sub.groups && !sub.bbox) {
          send(socket, { type: 'error', ...id, code: 'SW_ERR_INVALID_ARGUMENT', message: 'subscribe needs ids, groups, bbox or all' });
          return;
        }
        const { matched, snapshot } = fanout.subscribe(client, sub);
        send(socket, { type: 'subscribed', ...id, matched });
        if (snapshot) client.send(snapshot);
      });

      send(socket, { type: 'welcome', v: 1, serverTime: Date.now(), heartbeatMs: limits.heartbeatMs, frame: 'tracker-state-v1', maxIds: WS_MAX_IDS, maxGroups: WS_MAX_GROUPS });
    },
  );
};
