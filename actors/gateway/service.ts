/**
 * The gateway role's service: the HTTP API, the websocket and the node's
 * /health + /metrics on cfg.http.port. It listens to every tracker shard's
 * state frames on the bus and fans them out to websocket clients; it keeps
 * the id → groups index for group subscriptions fresh from `catalog.changed`
 * hints and a periodic reload.
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import { errorMessage } from '../../protocol/errors.js';
import { CatalogChangedMessage } from '../../protocol/messages/catalog.js';
import type { RoleService, RunningService } from '../host/services.js';
import { AlertsFeed } from './alerts-feed.js';
import { buildGatewayApp } from './app.js';
import { ClusterView } from './cluster-view.js';
import { loadApiKey, type ApiKeyAuth } from './auth.js';
import { startBanner } from './banner.js';
import { prettyFor } from '../runtime/log.js';
import { writeSync } from 'node:fs';
import { assetPolicyFromConfig } from './ssrf.js';
import { StateFanout } from './fanout.js';
import { GroupIndex } from './groups.js';
import type { LoadSample } from './overload.js';
import type { WsPluginStats } from './ws.js';
import { DependencyProbe } from '../runtime/dependency-probe.js';
import { createHttpMetrics } from './http-metrics.js';
import { qaLimitsFromConfig } from '../tracker/qa-config.js';
import { CatalogAge } from './catalog-age.js';

/** Group index reload period: a lost catalog.changed hint delays a change at most this long. */
const GROUP_RELOAD_MS = 5 * 60_000;
/** Hints arrive in chunks of 5,000 ids: one reload for a burst. */
const GROUP_RELOAD_DEBOUNCE_MS = 2_000;

export const gatewayService: RoleService = {
  name: 'gateway',
  async start(ctx): Promise<RunningService> {
    const cfg = ctx.config;
    const log = ctx.logger.child({ component: 'gateway' });
    const registers = [ctx.metrics.registry];
    const framesIn = new Counter({ name: 'sw_gateway_tracker_frames_total', help: 'Tracker state frames received, by outcome', labelNames: ['outcome'], registers });
    const rejected = new Counter({ name: 'sw_gateway_rejected_total', help: 'Requests, connections and websocket messages refused, by reason', labelNames: ['reason'], registers });
    const skipped = new Counter({ name: 'sw_gateway_ws_skipped_frames_total', help: 'Frames a slow websocket client skipped (latest wins)', registers });
    const slow = new Counter({ name: 'sw_gateway_ws_slow_disconnects_total', help: 'Websocket clients disconnected for skipping too many frames', registers });
    const latency = new Histogram({
      name: 'sw_gateway_tick_to_send_seconds',
      help: 'From a tick instant to the gateway sending its states',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
      registers,
    });
    const groups = new GroupIndex(async () => (await ctx.storage()).db);
    // Its dependencies as /health shows them (issue 11); the host registers the cache and database metrics.
    // The age of the catalog's elements for /health, /ingest/status and the banner, judged by this node's configured limits.
    const catalogAge = new CatalogAge(() => ctx.storage(), qaLimitsFromConfig(cfg));
    const probe = new DependencyProbe({ storage: () => ctx.storage(), transport: ctx.transport }).start();
    const fanout = new StateFanout({
      maxBufferedBytes: cfg.gateway.wsMaxBufferedBytes,
      maxSkippedFrames: cfg.gateway.wsMaxSkippedFrames,
      groupsOf: groups.groupsOf,
      onMalformed: (err) => {
        framesIn.inc({ outcome: 'malformed' });
        ctx.metrics.messagesRejected.inc({ where: 'gateway.tracker-frame', code: (err as { code?: string }).code ?? 'SW_ERR_DECODE' });
      },
      onSkip: () => skipped.inc(),
      onSlowDisconnect: () => slow.inc(),
      onFlush: (tickMs, sentAtMs, frames) => {
        if (frames > 0) latency.observe(Math.max(0, sentAtMs - tickMs) / 1000);
      },
    });
    new Gauge({ name: 'sw_gateway_ws_clients', help: 'Connected websocket clients', registers, collect() { this.set(fanout.stats().clients); } });
    new Gauge({ name: 'sw_gateway_states_known', help: 'Objects whose latest state this gateway holds', registers, collect() { this.set(fanout.stats().objects); } });

    const alerts = new AlertsFeed({
      storage: ctx.storage,
      onError: (err) => ctx.metrics.messagesRejected.inc({ where: 'gateway.alert', code: (err as { code?: string }).code ?? 'SW_ERR_DECODE' }),
    });
    const cluster = new ClusterView({
      // Several missed reports at the supervisors' interval.
      staleMs: Math.max(15_000, cfg.supervisor.statusIntervalMs * 5),
      storage: ctx.storage,
      onInvalid: (err) => ctx.metrics.messagesRejected.inc({ where: 'gateway.cluster-status', code: (err as { code?: string }).code ?? 'SW_ERR_DECODE' }),
    });
    let wsStats: () => WsPluginStats | null = () => null;
    let load: () => LoadSample | null = () => null;
    const shed = new Counter({ name: 'sw_gateway_shed_total', help: 'HTTP requests answered 503 because the gateway was overloaded, by route and cause', labelNames: ['route', 'cause'], registers });
    new Gauge({ name: 'sw_gateway_overloaded', help: '1 while the gateway sheds HTTP requests for overload (last sample window over a threshold)', registers, collect() { this.set(load()?.overloaded ? 1 : 0); } });

    const reloadGroups = (): void => {
      groups.refresh().catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'group index reload failed'));
    };
    let debounce: NodeJS.Timeout | null = null;
    const subs = [
      ctx.transport.subscribe(ctx.names.subjects.trackerStateAll, (m) => {
        if (fanout.ingest(m.data)) framesIn.inc({ outcome: 'ok' });
      }),
      ctx.transport.subscribe(ctx.names.subjects.alerts, (m) => void alerts.ingest(m.data)),
      ctx.transport.subscribe(ctx.names.subjects.clusterStatus, (m) => void cluster.ingest(m.data)),
      ctx.transport.subscribe(ctx.names.subjects.catalogChanged, (m) => {
        try {
          CatalogChangedMessage.decode(m.data);
        } catch (err) {
          ctx.metrics.messagesRejected.inc({ where: 'gateway.catalog-changed', code: (err as { code?: string }).code ?? 'SW_ERR_DECODE' });
          return;
        }
        debounce ??= setTimeout(() => {
          debounce = null;
          reloadGroups();
        }, GROUP_RELOAD_DEBOUNCE_MS);
      }),
    ];
    const reloadTimer = setInterval(reloadGroups, GROUP_RELOAD_MS);
    reloadTimer.unref();
    reloadGroups();

    const stopAll = async (): Promise<void> => {
      for (const s of subs) s.unsubscribe();
      clearInterval(reloadTimer);
      probe.stop();
      if (debounce) clearTimeout(debounce);
      fanout.close();
    };

    let app;
    let apiKey: ApiKeyAuth;
    try {
      // Before listening: a generated key is printed once, at the first start of this data dir.
      apiKey = await loadApiKey({ configured: cfg.gateway.apiKey, dataDir: cfg.dataDir, cluster: Boolean(cfg.nats.url || cfg.database.url), log });
      app = await buildGatewayApp({
        apiKey,
        transport: ctx.transport,
        assetPolicy: assetPolicyFromConfig(cfg),
        logger: log,
        storage: ctx.storage,
        nodeView: ctx.nodeView,
        fanout,
        alerts,
        cluster,
        exposeWsStats: (read) => (wsStats = read),
        ws: {
          allowedOrigins: cfg.gateway.wsAllowedOrigins,
          token: cfg.gateway.wsToken,
          maxClients: cfg.gateway.wsMaxClients,
          maxPerIp: cfg.gateway.wsMaxPerIp,
          heartbeatMs: cfg.gateway.wsHeartbeatMs,
          messagesPerSecond: cfg.gateway.wsMessagesPerSecond,
        },
        rateLimit: { max: cfg.gateway.rateLimitMax, windowMs: cfg.gateway.rateLimitWindowMs },
        publicBaseUrl: cfg.gateway.publicBaseUrl,
        corsAllowedOrigins: cfg.gateway.corsAllowedOrigins,
        stacLimits: { itemBytes: cfg.gateway.stacItemMaxBytes, itemCollectionBytes: cfg.gateway.stacItemCollectionMaxBytes, pageBytes: cfg.gateway.stacPageMaxBytes },
        overload: {
          maxEventLoopDelayMs: cfg.gateway.shedEventLoopDelayMs,
          maxEventLoopUtilization: cfg.gateway.shedEventLoopUtilization,
          sampleMs: cfg.gateway.shedSampleMs,
          retryAfterS: cfg.gateway.shedRetryAfterS,
        },
        onShed: (route, cause) => shed.inc({ route, cause }),
        exposeLoad: (read) => (load = read),
        gatewayHealth: () => ({ ...fanout.stats(), ws: wsStats(), groupIndex: { objects: groups.size, loadedAt: groups.loadedAt }, load: load() }),
        onReject: (reason) => rejected.inc({ reason }),
        onInvalidState: () => ctx.metrics.messagesRejected.inc({ where: 'gateway.satellite-state', code: 'SW_ERR_SCHEMA' }),
        shardCount: cfg.cluster.shardCount,
        httpMetrics: createHttpMetrics(ctx.metrics.registry),
        dependencies: () => probe.current(),
        catalogAge,
        catalogLoads: { names: ctx.names, hostId: ctx.hostId, maxBytes: cfg.catalog.maxBytes },
      });
      await app.listen({ host: cfg.http.host, port: cfg.http.port });
    } catch (err) {
      await stopAll();
      await app?.close().catch(() => undefined);
      throw err;
    }
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr !== null ? addr.port : cfg.http.port;
    log.info({ address: cfg.http.host, port }, 'gateway listening');
    if (prettyFor(1, cfg.logFormat)) {
      writeSync(1, startBanner({ host: cfg.http.host, port, mode: cfg.nats.url ? 'cluster' : 'embedded', nodeId: cfg.nodeId, apiKey, catalog: await catalogAge.view() }));
    }
    const running = app;
    return {
      health: () => ({ port, ...fanout.stats(), ws: wsStats(), groupIndexObjects: groups.size }),
      async stop() {
        // Stop taking requests first, then let go of the bus.
        await running.close().catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'gateway close failed'));
        await stopAll();
      },
    };
  },
};
