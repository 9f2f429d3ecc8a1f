/**
 * GET /ws: live states over a websocket (protocol/messages/ws.ts).
 *
 * Before the upgrade (RELIABILITY.md, "Security controls"): the Origin is
 * checked against the allow list when one is configured, the token when one
 * is configured, the connection count, and the connections of the client's
 * address (429 past `maxPerIp`: the HTTP rate limit counts upgrades, not
 * how long they stay open, so one address could otherwise hold every slot).
 * After it: maxPayload on every message, a per-connection message rate,
 * heartbeats with pings (a client that misses two is dropped), and the
 * fanout's backpressure. Bad client input is answered with an `error`
 * message; the connection stays usable.
 *
 * Every message to a client goes through its Outbox (outbox.ts): control
 * messages and alerts in the urgent lane, position frames in a one-frame
 * latest-wins slot behind it. Alert and cluster messages are encoded once
 * per broadcast and the same bytes are queued for every subscriber. A
 * closed connection's subscription is parked for `resume` (ws-sessions.ts).
 */
import { timingSafeEqual } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { Socket } from 'node:net';
import { clientKey } from './client-address.js';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { errorMessage } from '../../protocol/errors.js';
import { WS_MAX_GROUPS, WS_MAX_IDS, WsClientMessage, type WsServerMessage } from '../../protocol/messages/ws.js';
import { problem, sendProblem } from './errors.js';
import { noBody, PROTOCOL_DOC_PATH } from './openapi.js';
import type { AlertRaised } from '../../protocol/messages/satellite-state.js';
import type { AlertsFeed } from './alerts-feed.js';
import type { ClusterView } from './cluster-view.js';
import type { FanoutClient, StateFanout } from './fanout.js';
import { Outbox } from './outbox.js';
import { normalizeSubscription, type Subscription } from './subscription.js';
import { newSessionId, SessionStore, type SessionState } from './ws-sessions.js';

/** Largest client message: a subscribe with WS_MAX_IDS 9-digit ids fits. */
export const WS_MAX_PAYLOAD = 128 * 1024;

export interface WsLimits {
  allowedOrigins: readonly string[];
  token: string;
  maxClients: number;
  /** Websocket connections one client address (an IPv6 address: its /64) may hold at once. */
  maxPerIp: number;
  heartbeatMs: number;
  messagesPerSecond: number;
}

/** Defaults for what the plugin bounds itself (no config keys: these follow from the limits above). */
export const WS_DEFAULTS = {
  /** A parked session is kept this long after its connection closed. */
  sessionTtlMs: 60_000,
  /** Urgent-lane messages (control + alerts) one client may have queued before it is disconnected. */
  maxUrgent: 256,
  /** Cluster channel push interval. */
  clusterPushMs: 5_000,
} as const;

export interface WsPluginOptions {
  fanout: StateFanout;
  limits: WsLimits;
  logger: Logger;
  /** Counted refusals and rejections, by reason. */
  onReject?(reason: string): void;
  /** The alert channel's source; absent: `alerts: true` is refused. */
  alerts?: AlertsFeed;
  /** The cluster channel's source; absent: `cluster: true` is refused. */
  cluster?: ClusterView;
  sessionTtlMs?: number;
  /** Parked sessions at most (default limits.maxClients). */
  maxSessions?: number;
  maxUrgent?: number;
  clusterPushMs?: number;
  /** Receives a reader of the plugin's counters (for /health). */
  exposeStats?(read: () => WsPluginStats): void;
}

export interface WsPluginStats {
  sessionsParked: number;
  sessionsDropped: number;
  resumes: number;
  resumeMisses: number;
  alertSubscribers: number;
  clusterSubscribers: number;
  alertsSent: number;
  urgentOverflows: number;
}

interface Conn {
  socket: WebSocket;
  client: FanoutClient;
  outbox: Outbox;
  alive: boolean;
  /** '' once another connection resumed this session (nothing to park). */
  session: string;
  sub: Subscription | null;
  alerts: boolean;
  cluster: boolean;
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

/**
 * One unmasked server message as a websocket frame (RFC 6455 §5.2: FIN,
 * opcode 1 text / 2 binary, then a 7-bit, 16-bit or 64-bit length; servers
 * never mask). A server frame is the same bytes for every client, so a frame
 * shared by a subscription class is framed once, not per client (`framed`).
 */
export function wsFrame(payload: Uint8Array, binary: boolean): Buffer {
  const n = payload.byteLength;
  const head = n < 126 ? 2 : n < 65_536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + n);
  out[0] = 0x80 | (binary ? 0x2 : 0x1);
  if (n < 126) out[1] = n;
  else if (n < 65_536) {
    out[1] = 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 127;
    out.writeBigUInt64BE(BigInt(n), 2);
  }
  out.set(payload, head);
  return out;
}

const framedCache = new WeakMap<Uint8Array, Buffer>();
function framed(payload: Uint8Array, binary: boolean): Buffer {
  let f = framedCache.get(payload);
  if (!f) {
    f = wsFrame(payload, binary);
    framedCache.set(payload, f);
  }
  return f;
}

/**
 * The outbox's writer for one connection. With 10,000 clients at 1 Hz the
 * per-client cost of ws's send (options, a header buffer, cork + two writes
 * per message) dominates a tick, so frames are framed once per shared
 * payload and written to the connection's TCP socket in one write. That
 * socket is ws's `_socket` (not public API): safe here because ws writes
 * whole frames synchronously when permessage-deflate is off (app.ts turns it
 * off), so its own frames (pings, close) and ours never interleave within a
 * frame; ws's bufferedAmount counts these writes too. Without it (another ws
 * version), messages go through ws's send.
 */
function writerFor(socket: WebSocket): (data: Uint8Array, binary: boolean, done: (err?: Error) => void) => void {
  const raw = (socket as unknown as { _socket?: Socket })._socket;
  if (raw && typeof raw.write === 'function') return (data, binary, done) => void raw.write(framed(data, binary), (err) => done(err ?? undefined));
  return (data, binary, done) => socket.send(data, { binary }, done);
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

/** Connections held per client key. A slot is taken before the upgrade, so concurrent handshakes from one address cannot all pass the check before any of them is counted. */
export class AddressSlots {
  private readonly held = new Map<string, number>();
  total = 0;
  constructor(private readonly max: number) {}
  take(key: string): boolean {
    const n = this.held.get(key) ?? 0;
    if (n >= this.max) return false;
    this.held.set(key, n + 1);
    this.total += 1;
    return true;
  }
  release(key: string): void {
    const n = this.held.get(key) ?? 0;
    if (n <= 0) return;
    // Emptied keys are dropped, so the map holds only addresses with open connections.
    if (n === 1) this.held.delete(key);
    else this.held.set(key, n - 1);
    this.total -= 1;
  }
}

export const wsPlugin: FastifyPluginAsync<WsPluginOptions> = async (app, o) => {
  const { fanout, limits, logger: log } = o;
  const origins = new Set(limits.allowedOrigins.map((x) => x.replace(/\/+$/, '').toLowerCase()));
  const sessionTtlMs = o.sessionTtlMs ?? WS_DEFAULTS.sessionTtlMs;
  const maxUrgent = o.maxUrgent ?? WS_DEFAULTS.maxUrgent;
  const live = new Map<WebSocket, Conn>();
  const slots = new AddressSlots(limits.maxPerIp);
  const bySession = new Map<string, Conn>();
  const alertConns = new Set<Conn>();
  const clusterConns = new Set<Conn>();
  // Parked subscriptions' ids bounded like one full gateway's worth of clients with 100 ids each.
  const store = new SessionStore({ ttlMs: sessionTtlMs, maxSessions: o.maxSessions ?? limits.maxClients, maxIds: Math.max(100_000, limits.maxClients * 100) });
  const st = { resumes: 0, resumeMisses: 0, alertsSent: 0, urgentOverflows: 0 };
  o.exposeStats?.(() => ({
    sessionsParked: store.size(),
    sessionsDropped: store.dropped,
    alertSubscribers: alertConns.size,
    clusterSubscribers: clusterConns.size,
    ...st,
  }));

  /** Queue bytes in the urgent lane; a client that let the lane fill up is disconnected. */
  const urgent = (c: Conn, bytes: Uint8Array): void => {
    if (c.socket.readyState !== c.socket.OPEN) return;
    if (c.outbox.pushUrgent(bytes)) return;
    st.urgentOverflows += 1;
    o.onReject?.('urgent_overflow');
    c.client.close(1008, `too slow: ${maxUrgent} messages queued`);
  };
  const send = (c: Conn, m: WsServerMessage): void => urgent(c, Buffer.from(JSON.stringify(m)));

  const alertBytes = (a: AlertRaised, replay: boolean): Buffer => Buffer.from(JSON.stringify({ type: 'alert', replay, alert: a } satisfies WsServerMessage));
  // Replays of one recent alert share their bytes across every subscriber (and their framing, see `framed`).
  const replayCache = new WeakMap<AlertRaised, Buffer>();
  const replayBytes = (a: AlertRaised): Buffer => {
    let b = replayCache.get(a);
    if (!b) replayCache.set(a, (b = alertBytes(a, true)));
    return b;
  };
  const replayAlerts = (c: Conn): void => {
    if (!o.alerts) return;
    o.alerts
      .recent()
      .then((xs) => {
        if (!c.alerts) return;
        // Oldest first, so a client's panel ends with the newest.
        for (let i = xs.length - 1; i >= 0; i--) urgent(c, replayBytes(xs[i]!));
      })
      .catch((err: unknown) => log.debug({ err: errorMessage(err) }, 'alert replay failed'));
  };
  const unlistenAlerts = o.alerts?.onAlert((a) => {
    if (alertConns.size === 0) return;
    const bytes = alertBytes(a, false); // once, shared by every subscriber
    for (const c of alertConns) urgent(c, bytes);
    st.alertsSent += alertConns.size;
  });

  const clusterBytes = async (): Promise<Buffer | null> => {
    if (!o.cluster) return null;
    await o.cluster.sampleTasks();
    return Buffer.from(JSON.stringify({ type: 'cluster', view: o.cluster.view() } satisfies WsServerMessage));
  };
  const pushCluster = (to: Iterable<Conn>): void => {
    clusterBytes()
      .then((bytes) => {
        if (bytes) for (const c of to) if (c.cluster) urgent(c, bytes);
      })
      .catch((err: unknown) => log.debug({ err: errorMessage(err) }, 'cluster view failed'));
  };
  const clusterTimer = setInterval(() => {
    if (clusterConns.size > 0) pushCluster([...clusterConns]);
  }, o.clusterPushMs ?? WS_DEFAULTS.clusterPushMs);
  clusterTimer.unref();

  const setChannels = (c: Conn, alerts: boolean, cluster: boolean): void => {
    c.alerts = alerts;
    c.cluster = cluster;
    if (alerts) alertConns.add(c);
    else alertConns.delete(c);
    if (cluster) clusterConns.add(c);
    else clusterConns.delete(c);
  };

  const heartbeat = setInterval(() => {
    const now = Date.now();
    store.sweep(now);
    const hb = Buffer.from(JSON.stringify({ type: 'heartbeat', serverTime: now, lastTickMs: fanout.stats().lastTickMs } satisfies WsServerMessage));
    for (const [socket, c] of live) {
      // A closing socket (e.g. a slow client being dropped) would throw on ping.
      if (socket.readyState !== socket.OPEN) continue;
      if (!c.alive) {
        o.onReject?.('heartbeat_timeout');
        socket.terminate();
        continue;
      }
      c.alive = false;
      socket.ping();
      urgent(c, hb);
    }
  }, limits.heartbeatMs);
  app.addHook('onClose', async () => {
    clearInterval(heartbeat);
    clearInterval(clusterTimer);
    unlistenAlerts?.();
    for (const socket of live.keys()) socket.close(1001, 'server shutting down');
  });

  const refuse = (c: Conn, id: { id?: string }, code: string, message: string): void => send(c, { type: 'error', ...id, code, message });

  app.get(
    '/ws',
    {
      websocket: true,
      schema: {
        operationId: 'openWebSocket',
        summary: 'Live states, alerts and cluster status over a websocket',
        description:
          'An HTTP/1.1 GET with `Upgrade: websocket` (RFC 6455). After the 101 the client sends `ws.client` messages (subscribe, unsubscribe, resume) and receives `ws.server` JSON messages and binary state frames, all described in protocol/PROTOCOL.md (externalDocs). ' +
          'Refusals happen before the upgrade, as problem details.',
        externalDocs: { description: 'The websocket messages and frames (protocol/PROTOCOL.md, "Websocket API")', url: `${PROTOCOL_DOC_PATH}#websocket-api-gateway-ws` },
        documentedQuerystring: Type.Object({
          token: Type.Optional(Type.String({ description: 'The websocket token (STARWEATHER_WS_TOKEN) when one is configured; `Authorization: Bearer` works too' })),
        }),
        documentedResponse: {
          101: noBody('Switching Protocols: the connection is a websocket from here on'),
          401: 'A websocket token is configured and the request has none, or another one',
          403: 'The Origin is not in the configured allow list',
          404: noBody('Not an upgrade request (a plain GET): answered by the websocket plugin, without a body'),
          429: 'Too many requests, or this client address already holds its maximum of websocket connections',
          503: 'The gateway serves its maximum of websocket clients, or is overloaded',
        },
      },
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
        // Held slots count handshakes still in progress, which `live` does not yet.
        if (Math.max(live.size, slots.total) >= limits.maxClients) {
          o.onReject?.('max_clients');
          return sendProblem(reply, problem(503, 'SW_ERR_UNAVAILABLE', `this gateway serves at most ${limits.maxClients} websocket clients`));
        }
        // A plain GET (no Upgrade) is answered 404 by the websocket plugin and holds nothing.
        const sock = req.raw.socket;
        if (!req.ws || !sock || sock.destroyed) return;
        const key = clientKey(req.ip);
        if (!slots.take(key)) {
          o.onReject?.('max_per_ip');
          return sendProblem(reply, problem(429, 'SW_ERR_TOO_MANY_CONNECTIONS', `at most ${limits.maxPerIp} websocket connections per client address; close one first`));
        }
        // Given back when the TCP connection closes: after the websocket closes, and just the same when the handshake fails after this point.
        sock.once('close', () => slots.release(key));
      },
    },
    (socket) => {
      const outbox = new Outbox(
        {
          write: writerFor(socket),
          isOpen: () => socket.readyState === socket.OPEN,
        },
        maxUrgent,
      );
      const client: FanoutClient = {
        send: (bytes) => outbox.offerPosition(bytes),
        bufferedAmount: () => socket.bufferedAmount + outbox.queuedBytes(),
        close: (code, reason) => {
          if (socket.readyState === socket.OPEN) for (const m of outbox.takeUrgent()) socket.send(m, { binary: false });
          socket.close(code, reason);
          // A client that stopped reading may never complete the closing handshake.
          setTimeout(() => socket.terminate(), 2000).unref();
        },
      };
      const c: Conn = { socket, client, outbox, alive: true, session: newSessionId(), sub: null, alerts: false, cluster: false };
      live.set(socket, c);
      bySession.set(c.session, c);
      fanout.addClient(client);
      const soft = new Bucket(limits.messagesPerSecond, limits.messagesPerSecond * 2);
      const hard = new Bucket(limits.messagesPerSecond * 4, limits.messagesPerSecond * 8);

      socket.on('pong', () => (c.alive = true));
      socket.on('error', (err) => log.debug({ err: errorMessage(err) }, 'websocket error'));
      socket.on('close', () => {
        live.delete(socket);
        fanout.removeClient(client);
        setChannels(c, false, false);
        outbox.clear();
        if (c.session && bySession.get(c.session) === c) {
          bySession.delete(c.session);
          // Only a session with something to restore is worth keeping.
          if (c.sub || c.alerts || c.cluster) store.park(c.session, { sub: c.sub, alerts: c.alerts, cluster: c.cluster });
        }
      });

      /** Apply a subscription state: positions (with the snapshot), channels, replays. */
      const apply = (s: SessionState, sinceSeq: number): { matched: number; seq: number; snapshot: Uint8Array | null } => {
        const r = fanout.subscribe(client, s.sub, sinceSeq);
        c.sub = r.sub;
        setChannels(c, s.alerts, s.cluster);
        return r;
      };
      const after = (snapshot: Uint8Array | null): void => {
        if (snapshot) client.send(snapshot);
        if (c.alerts) replayAlerts(c);
        if (c.cluster) pushCluster([c]);
      };

      socket.on('message', (data, isBinary) => {
        c.alive = true;
        if (!hard.take()) {
          o.onReject?.('message_flood');
          client.close(1008, 'message rate exceeded');
          return;
        }
        if (!soft.take()) {
          o.onReject?.('message_rate');
          refuse(c, {}, 'SW_ERR_RATE_LIMITED', `at most ${limits.messagesPerSecond} messages per second`);
          return;
        }
        if (isBinary) {
          o.onReject?.('binary_message');
          refuse(c, {}, 'SW_ERR_DECODE', 'client messages are JSON text frames');
          return;
        }
        const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
        let msg;
        try {
          msg = WsClientMessage.decode(bytes);
        } catch (err) {
          o.onReject?.('invalid_message');
          refuse(c, {}, (err as { code?: string }).code ?? 'SW_ERR_SCHEMA', errorMessage(err).slice(0, 1000));
          return;
        }
        const id = msg.id !== undefined ? { id: msg.id } : {};
        if (msg.type === 'unsubscribe') {
          const r = apply({ sub: null, alerts: false, cluster: false }, 0);
          send(c, { type: 'subscribed', ...id, matched: 0, seq: r.seq });
          return;
        }
        if (msg.type === 'resume') {
          let s: SessionState | null = null;
          const holder = bySession.get(msg.session);
          if (holder === c) s = { sub: c.sub, alerts: c.alerts, cluster: c.cluster };
          else if (holder) {
            // The old connection may be half-open (the client saw it drop first): take its session over.
            s = { sub: holder.sub, alerts: holder.alerts, cluster: holder.cluster };
            bySession.delete(msg.session);
            holder.session = '';
            holder.client.close(4000, 'session resumed on another connection');
          } else s = store.take(msg.session);
          if (!s) {
            st.resumeMisses += 1;
            refuse(c, id, 'SW_ERR_NOT_FOUND', 'session unknown or expired: subscribe again');
            return;
          }
          st.resumes += 1;
          if (holder !== c) {
            bySession.delete(c.session);
            c.session = msg.session;
            bySession.set(c.session, c);
          }
          const r = apply(s, msg.lastSeq ?? 0);
          send(c, { type: 'resumed', ...id, session: c.session, matched: r.matched, seq: r.seq, alerts: c.alerts, cluster: c.cluster });
          after(r.snapshot);
          return;
        }
        const positions = msg.all === true || (msg.ids?.length ?? 0) > 0 || (msg.groups?.length ?? 0) > 0 || msg.bbox !== undefined;
        const alerts = msg.alerts === true;
        const cluster = msg.cluster === true;
        if (!positions && !alerts && !cluster) {
          refuse(c, id, 'SW_ERR_INVALID_ARGUMENT', 'subscribe needs ids, groups, bbox, all, alerts or cluster');
          return;
        }
        if ((alerts && !o.alerts) || (cluster && !o.cluster)) {
          refuse(c, id, 'SW_ERR_UNAVAILABLE', `this gateway has no ${alerts && !o.alerts ? 'alert' : 'cluster'} channel`);
          return;
        }
        const r = apply({ sub: positions ? normalizeSubscription(msg) : null, alerts, cluster }, 0);
        send(c, { type: 'subscribed', ...id, matched: r.matched, seq: r.seq });
        after(r.snapshot);
      });

      send(c, {
        type: 'welcome',
        v: 1,
        serverTime: Date.now(),
        heartbeatMs: limits.heartbeatMs,
        frame: 'tracker-state-v1',
        maxIds: WS_MAX_IDS,
        maxGroups: WS_MAX_GROUPS,
        session: c.session,
        sessionTtlMs,
      });
    },
  );
};
