/**
 * The gateway's fastify app, built from plugins with one concern each:
 * problem details (errors.ts), rate limit, /health + /metrics (health.ts),
 * the satellite REST API (satellites.ts) and the websocket (ws.ts). Later
 * APIs (STAC, the dashboard) register beside them.
 *
 * Timeouts and the body limit are set because fastify's defaults
 * (connectionTimeout and requestTimeout 0) never close a slow client
 * (RELIABILITY.md, "Security controls"); ws clears the socket timeout once
 * a connection is upgraded. Load shedding (overload.ts) is the first hook:
 * an overloaded gateway answers 503 before reading a body or checking a key.
 *
 * Work outlives no socket (issue 11): the socket is closed after
 * `connectionTimeoutMs` without traffic, so every request gets a shorter
 * budget (`requestBudgetMs`): one not answered by then (a database or bus
 * that is down or hung) is answered 503 with Retry-After and a problem body
 * rather than losing its connection. A task enqueue (30 s of retries in the
 * transport) is given `enqueueBudgetMs` of them (stac/transactions.ts).
 */
import rateLimit from '@fastify/rate-limit';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { NodeView } from '../host/services.js';
import type { Storage } from '../storage/index.js';
import { closeOnUnreadBody } from './unread-body.js';
import { continueAfterOnRequest, requireApiKey, writesDisabled, type ApiKeyAuth } from './auth.js';
import { registerCors } from './cors.js';
import { DEPENDENCY_RETRY_AFTER_S, problem, problemServerOptions, sendProblem, useProblemDetails, WORK_BUDGETS } from './errors.js';
import type { DependencyStatus } from '../runtime/dependency-probe.js';
import { alertsApiPlugin } from './alerts-api.js';
import type { AlertsFeed } from './alerts-feed.js';
import { clusterPlugin, type ClusterView } from './cluster-view.js';
import type { StateFanout } from './fanout.js';
import { healthPlugin } from './health.js';
import { observeHttpRequests, type HttpMetrics } from './http-metrics.js';
import type { CatalogAge } from './catalog-age.js';
import { LoadMonitor, shedWhenOverloaded, type LoadSample, type OverloadLimits } from './overload.js';
import { ingestStatusPlugin } from './ingest-status.js';
import { OPENAPI_PATH, registerOpenApi } from './openapi.js';
import { productsPlugin } from './products.js';
import { satellitesPlugin } from './satellites.js';
import { exportsPlugin } from './exports.js';
import { checkAssetHref, type AssetPolicy } from './ssrf.js';
import { stacPlugin } from './stac/index.js';
import { refuseUnusableParameters } from './params-check.js';
import { originForm, usePublicBaseUrl } from './stac/links.js';
import { DEFAULT_PAGE_MAX_BYTES } from './stac/read.js';
import { DEFAULT_BODY_LIMITS } from './stac/transactions.js';
import { tasksPlugin } from './tasks.js';
import { stormsPlugin } from './storms.js';
import { catalogLoadsPlugin } from './catalog-loads.js';
import type { Names } from '../../protocol/names.js';
import { uiRoutesPlugin } from './ui-routes.js';
import type { Transport } from '../../protocol/transport.js';
import { WS_MAX_PAYLOAD, wsPlugin, type WsLimits, type WsPluginStats } from './ws.js';

export interface GatewayAppOptions {
  logger: Logger;
  storage(): Promise<Storage>;
  nodeView: NodeView;
  fanout: StateFanout;
  ws: WsLimits;
  /** Alerts from the bus for the ws alert channel; absent: that channel is refused (GET /alerts reads storage either way). */
  alerts?: AlertsFeed;
  /** Cluster status for GET /cluster and the ws cluster channel; absent: neither is served. */
  cluster?: ClusterView;
  /** Receives a reader of the websocket plugin's counters (for /health). */
  exposeWsStats?(read: () => WsPluginStats): void;
  rateLimit: { max: number; windowMs: number };
  /** The gateway's own fields in /health. */
  gatewayHealth(): Record<string, unknown>;
  onReject?(reason: string): void;
  onInvalidState?(noradId: number): void;
  /** cluster.shardCount (REST reads an object's state from its shard's cached frame). */
  shardCount: number;
  /** Write-endpoint key (auth.ts loadApiKey); absent: writes answer 503, never open. */
  apiKey?: ApiKeyAuth;
  /** The bus STAC registrations enqueue their processing tasks on; absent: STAC writes answer 503. */
  transport?: Transport;
  /** SSRF policy for asset hrefs (ssrf.ts assetPolicyFromConfig); absent: every href is refused. */
  assetPolicy?: AssetPolicy;
  /** STAC byte caps (config gateway.stac*MaxBytes); absent: DEFAULT_BODY_LIMITS and DEFAULT_PAGE_MAX_BYTES. */
  stacLimits?: { itemBytes: number; itemCollectionBytes: number; pageBytes: number };
  /** Load shedding (config gateway.shed*); absent: DEFAULT_OVERLOAD_LIMITS. */
  overload?: OverloadLimits;
  /** HTTP request count and duration by route (http-metrics.ts); absent: not measured. */
  httpMetrics?: HttpMetrics;
  /** Called for each request shed for overload (route pattern, cause). */
  onShed?(route: string, cause: string): void;
  /** Receives a reader of the load monitor's last sample (for /health and metrics). */
  exposeLoad?(read: () => LoadSample): void;
  /** The gateway's dependencies as last probed (runtime/dependency-probe.ts), for /health. */
  dependencies?(): DependencyStatus[];
  /** The catalog's element age (catalog-age.ts; holds the configured age limits), for /health and /ingest/status. */
  catalogAge?: CatalogAge;
  /** POST /catalog/loads (a catalog sent to the running node); absent: not served. */
  catalogLoads?: { names: Names; hostId: string; maxBytes: number };
  /** config gateway.corsAllowedOrigins: origins whose pages may call the REST and STAC APIs (cors.ts); absent or empty: no CORS. */
  corsAllowedOrigins?: readonly string[];
  /** config gateway.publicBaseUrl: the base of STAC links; absent or '': a well-formed Host, else the local address (stac/links.ts rootOf). */
  publicBaseUrl?: string;
}

export const DEFAULT_OVERLOAD_LIMITS: OverloadLimits = { maxEventLoopDelayMs: 1000, maxEventLoopUtilization: 0, sampleMs: 1000, retryAfterS: 2 };

export const HTTP_LIMITS = {
  /** A socket without traffic for this long is closed (node's server.timeout). */
  connectionTimeoutMs: 10_000,
  /** A request not answered within this is answered 503 + Retry-After (before the socket timeout closes it). */
  requestBudgetMs: WORK_BUDGETS.requestMs,
  /** How long a write waits for the task queue to take its task (the transport retries up to 30 s). */
  enqueueBudgetMs: WORK_BUDGETS.enqueueMs,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  /** STAC item routes have their own caps (stac/transactions.ts; items with many assets exceed 64 KiB). */
  bodyLimitBytes: 64 * 1024,
} as const;

export async function buildGatewayApp(o: GatewayAppOptions): Promise<FastifyInstance> {
  const httpLog = o.logger.child({ component: 'http' });
  const app = Fastify({
    // The router's and the HTTP parser's refusals as problem details, like every other error.
    ...problemServerOptions(httpLog),
    // Links repeat the request's path: never let an absolute-form target put another origin there.
    rewriteUrl: (req) => originForm(req.url),
    // Per-request logs would dominate at dashboard polling rates; errors are logged by the error handler.
    logger: false,
    connectionTimeout: HTTP_LIMITS.connectionTimeoutMs,
    requestTimeout: HTTP_LIMITS.requestTimeoutMs,
    keepAliveTimeout: HTTP_LIMITS.keepAliveTimeoutMs,
    bodyLimit: HTTP_LIMITS.bodyLimitBytes,
    return503OnClosing: true,
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: false } },
  });
  useProblemDetails(app, httpLog);
  if (o.httpMetrics) observeHttpRequests(app, o.httpMetrics);
  // First hook of every route, so a shed request costs no body read, rate-limit bookkeeping or key check.
  const overload = o.overload ?? DEFAULT_OVERLOAD_LIMITS;
  const monitor = new LoadMonitor(overload);
  shedWhenOverloaded(app, monitor, overload.retryAfterS, o.onShed);
  o.exposeLoad?.(() => monitor.current());
  // Before the rate limit and the key checks: their refusals carry the CORS headers, so a page can read the problem.
  await registerCors(app, o.corsAllowedOrigins ?? []);
  // The budget, from the end of the body (the socket's idle clock starts there too): answered 503 before the socket timeout would drop the connection.
  app.addHook('preHandler', (_req, reply, done) => {
    const t = setTimeout(() => {
      if (reply.sent || reply.raw.headersSent) return;
      o.onReject?.('deadline');
      reply.header('retry-after', String(DEPENDENCY_RETRY_AFTER_S));
      sendProblem(reply, problem(503, 'SW_ERR_UNAVAILABLE', `the request was not answered within ${HTTP_LIMITS.requestBudgetMs / 1000} s (a dependency is slow or unavailable); retry after ${DEPENDENCY_RETRY_AFTER_S} s`));
    }, HTTP_LIMITS.requestBudgetMs);
    t.unref();
    reply.raw.once('close', () => clearTimeout(t));
    reply.raw.once('finish', () => clearTimeout(t));
    done();
  });
  // Before any refusal can be sent (shedding, rate limit, key checks): none of them reads a body the client announced.
  closeOnUnreadBody(app);
  // API answers are live state (satellites, tasks, health) or answers to one client's request: none may be kept unless its route says so (STAC reads, the OpenAPI document, the dashboard's files, products set their own).
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    done(null, payload);
  });
  // Before the STAC plugin registers: its links read this (a decoration is inherited by plugins registered after it).
  usePublicBaseUrl(app, o.publicBaseUrl);
  refuseUnusableParameters(app);
  // Per gateway, in memory: several gateways need a shared store (Redis) for one global limit.
  await app.register(rateLimit, {
    global: true,
    max: o.rateLimit.max,
    timeWindow: o.rateLimit.windowMs,
    onExceeded: () => o.onReject?.('rate_limit'),
  });
  // Before every route: swagger collects routes as they are added.
  await registerOpenApi(app);
  // On the root instance, so every plugin's write routes can use `onRequest: app.requireApiKey`; one hook, so one failed-key budget per client across all write routes.
  app.decorate('requireApiKey', requireApiKey(o.apiKey ?? writesDisabled('writes disabled: no API key loaded'), o.onReject));
  continueAfterOnRequest(app);
  // At the root, so every plugin can declare websocket routes; maxPayload bounds every client message.
  await app.register(websocket, { options: { maxPayload: WS_MAX_PAYLOAD, perMessageDeflate: false } });
  const catalogAge = o.catalogAge;
  await app.register(healthPlugin, { nodeView: o.nodeView, gateway: o.gatewayHealth, ...(o.dependencies ? { dependencies: o.dependencies } : {}), ...(catalogAge ? { catalog: () => catalogAge.view() } : {}) });
  await app.register(satellitesPlugin, {
    storage: o.storage,
    shardCount: o.shardCount,
    latestFromBus: (id) => o.fanout.latestState(id, o.shardCount),
    ...(o.onInvalidState ? { onInvalidState: o.onInvalidState } : {}),
  });
  await app.register(exportsPlugin, { storage: o.storage, shardCount: o.shardCount, latestFromBus: (id) => o.fanout.latestState(id, o.shardCount) });
  await app.register(wsPlugin, {
    fanout: o.fanout,
    limits: o.ws,
    logger: o.logger.child({ component: 'ws' }),
    ...(o.onReject ? { onReject: o.onReject } : {}),
    ...(o.alerts ? { alerts: o.alerts } : {}),
    ...(o.cluster ? { cluster: o.cluster } : {}),
    ...(o.exposeWsStats ? { exposeStats: o.exposeWsStats } : {}),
  });
  await app.register(alertsApiPlugin, { storage: o.storage });
  if (o.cluster) await app.register(clusterPlugin, { view: o.cluster });
  await app.register(tasksPlugin, { storage: o.storage, transport: o.transport ?? null });
  await app.register(stormsPlugin, { storage: o.storage });
  if (o.catalogLoads) await app.register(catalogLoadsPlugin, { storage: o.storage, transport: o.transport ?? null, logger: o.logger.child({ component: 'catalog-load' }), ...o.catalogLoads });
  // Rendered tile-pipeline products (enhanced IR, cloud-top height), served from the database through this node's file cache.
  await app.register(productsPlugin, { storage: o.storage });
  const policy = o.assetPolicy;
  await app.register(stacPlugin, {
    storage: o.storage,
    transport: o.transport ?? null,
    authorize: app.requireApiKey,
    checkHref: (h) => (policy ? checkAssetHref(h, policy) : { ok: false, reason: 'no asset policy configured' }),
    bodyLimits: o.stacLimits ? { item: o.stacLimits.itemBytes, itemCollection: o.stacLimits.itemCollectionBytes } : DEFAULT_BODY_LIMITS,
    pageMaxBytes: o.stacLimits?.pageBytes ?? DEFAULT_PAGE_MAX_BYTES,
    openApiPath: OPENAPI_PATH,
    ...(o.onReject ? { onReject: o.onReject } : {}),
  });
  await app.register(ingestStatusPlugin, { storage: o.storage, ...(catalogAge ? { catalogAge } : {}) });
  // The dashboard (/ui/) and the browser redirect from the STAC landing page `/`.
  await app.register(uiRoutesPlugin, {});
  return app;
}
