/**
 * An actor host: one role's share of the work on one node. It connects the
 * transport, provisions, joins membership, runs a TaskWorker for roles that
 * consume work queues (when it has handlers for them) and competes for the
 * shard leases of entity roles. It reports liveness and load to its
 * supervisor every heartbeatMs, and drains on request: stop taking work,
 * finish or hand back in-flight tasks, give back leases, leave membership,
 * exit 0.
 *
 * The same code runs in a forked child (main.ts, IPC) and inline in the
 * supervisor's process (embedded transport): `send` is the only difference.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { TSchema } from '@sinclair/typebox';
import type { Config } from '../../config/load.js';
import { errorMessage } from '../../protocol/errors.js';
import type { HostHeartbeat, Role } from '../../protocol/messages/cluster.js';
import type { QueueName } from '../../protocol/names.js';
import type { Subscription, Transport } from '../../protocol/transport.js';
import { createMetrics, type Metrics } from '../runtime/metrics.js';
import { Membership } from '../runtime/membership.js';
import { PeerPresence } from '../runtime/presence.js';
import { LeaseManager } from '../runtime/lease.js';
import { ShardManager, type ShardManagerOptions } from '../runtime/sharding.js';
import { TaskWorker, type TaskHandler } from '../runtime/worker.js';
import { createTransport } from '../runtime/transport/index.js';
import { type HostInfo, type NodeViewAnswer, type NodeViewRequest, type SupervisorCommand } from '../../protocol/messages/host-ipc.js';
import { loadHandlerPlugins } from './plugins.js';
import { roleSpec } from './roles.js';
import type { HostContext, NodeView, RunningService } from './services.js';
import { names as protocolNames } from '../../protocol/names.js';
import { openStorage, type Storage } from '../storage/index.js';
import { registerStorageMetrics } from '../storage/storage-metrics.js';

/** A cached supervisor health report younger than this is served as is; older ones are refreshed in the background. */
const HEALTH_FRESH_MS = 250;
/** Older than this, a /health request waits for a new report. */
const HEALTH_STALE_MS = 2000;

export interface HostOptions {
  config: Config;
  role: Role;
  hostId: string;
  logger: Logger;
  /** Every message a forked host sends its supervisor (heartbeat, info, metrics). */
  send(message: unknown): void;
  /**
   * A transport shared with the supervisor (inline mode, embedded bus). The
   * host then neither provisions nor closes it. Without it the host opens,
   * provisions and closes its own (createTransport).
   */
  transport?: Transport;
  /**
   * Storage shared with the supervisor (inline mode: PGlite allows one
   * opener per data directory). Without it the host opens its own on first
   * use and closes it when it stops.
   */
  storage?: () => Promise<Storage>;
  /**
   * The node's supervisor view, called directly (inline mode). Without it a
   * host asks its supervisor over IPC (a `node-view` request through `send`).
   */
  nodeView?: NodeView;
  /** How long an IPC node-view request waits for the supervisor (default 5000 ms). */
  nodeViewTimeoutMs?: number;
}

export interface RunningHost {
  readonly hostId: string;
  readonly role: Role;
  info(): HostInfo;
  command(cmd: SupervisorCommand): void;
  /** Stop taking work, settle in-flight work, leave; resolves when stopped. Idempotent. */
  drain(): Promise<void>;
  /** Stop at once without draining (inline stand-in for SIGKILL); unacked work is redelivered. */
  kill(): void;
  /** Exit code once stopped: 0 after a drain, non-zero after kill or a fatal error. */
  readonly exited: Promise<number>;
}

export async function startHost(options: HostOptions): Promise<RunningHost> {
  const { config: cfg, role, hostId } = options;
  const log = options.logger;
  const spec = roleSpec(role);
  const ownsTransport = !options.transport;
  // createTransport provisions (create, then read back and verify) before returning.
  const transport =
    options.transport ??
    (await createTransport(cfg, {
      name: `starweather ${role} ${hostId}`,
      onError: (err, context) => log.warn({ err, context }, 'transport background error'),
    }));
  const cleanups: Array<() => Promise<void> | void> = [];
  let connected = true;
  const statusSub: Subscription = transport.onStatus((s) => {
    if (s.type === 'connected' || s.type === 'reconnected') connected = true;
    else if (s.type === 'disconnected' || s.type === 'reconnecting') connected = false;
    log.info({ transport: s }, 'transport status');
  });
  cleanups.push(() => statusSub.unsubscribe());
  if (ownsTransport) cleanups.push(() => transport.close());

  const metrics: Metrics = createMetrics({ defaultLabels: { node: cfg.nodeId, role, host: hostId } });
  cleanups.push(() => metrics.close());

  const notes: string[] = [];
  const handlers = new Map<string, TaskHandler<TSchema>>(Object.entries(spec.handlers));
  let worker: TaskWorker | null = null;
  let membership: Membership | null = null;
  const shardManagers = new Map<string, ShardManager>();
  const services: Array<{ name: string; running: RunningService }> = [];
  let draining = false;
  let drainPromise: Promise<void> | null = null;
  let heartbeatTimer: NodeJS.Timeout | null = null;
  let depthTimer: NodeJS.Timeout | null = null;
  const queueDepths: Partial<Record<QueueName, number>> = {};
  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (resolveExit = resolve));

  // Node view over IPC: requests by id, answered by a `node-view` command.
  let nodeViewRequestId = 0;
  const nodeViewWaiters = new Map<number, (a: NodeViewAnswer) => void>();
  const askSupervisor = (want: NodeViewRequest['want']): Promise<NodeViewAnswer> =>
    new Promise((resolve, reject) => {
      const requestId = ++nodeViewRequestId;
      const timer = setTimeout(() => {
        nodeViewWaiters.delete(requestId);
        reject(new Error(`supervisor did not answer a ${want} request within ${options.nodeViewTimeoutMs ?? 5000} ms`));
      }, options.nodeViewTimeoutMs ?? 5000);
      nodeViewWaiters.set(requestId, (a) => {
        clearTimeout(timer);
        nodeViewWaiters.delete(requestId);
        if (a.error !== undefined) reject(new Error(a.error));
        else resolve(a);
      });
      const req: NodeViewRequest = { v: 1, type: 'node-view', requestId, want };
      options.send(req);
    });
  // The supervisor's health report, kept fresh in the background: /health is
  // answered from here without an IPC round trip through two loaded loops
  // (a report at most HEALTH_FRESH_MS old; older than HEALTH_STALE_MS, a
  // request waits for a new one).
  let healthCache: { at: number; value: { status: 'ok' | 'degraded' } & Record<string, unknown> } | null = null;
  let healthAsking: Promise<{ status: 'ok' | 'degraded' } & Record<string, unknown>> | null = null;
  const askHealth = (): Promise<{ status: 'ok' | 'degraded' } & Record<string, unknown>> => {
    healthAsking ??= (async () => {
      try {
        const a = await askSupervisor('health');
        if (!a.health || (a.health.status !== 'ok' && a.health.status !== 'degraded')) throw new Error('supervisor sent no health report');
        const value = a.health as { status: 'ok' | 'degraded' } & Record<string, unknown>;
        healthCache = { at: performance.now(), value };
        return value;
      } finally {
        healthAsking = null;
      }
    })();
    return healthAsking;
  };
  const nodeView: NodeView = options.nodeView ?? {
    async health() {
      const age = healthCache ? performance.now() - healthCache.at : Infinity;
      if (healthCache && age < HEALTH_STALE_MS) {
        if (age > HEALTH_FRESH_MS) void askHealth().catch(() => undefined);
        return healthCache.value;
      }
      return askHealth();
    },
    async metrics() {
      const a = await askSupervisor('metrics');
      if (!a.metrics) throw new Error('supervisor sent no metrics');
      return a.metrics;
    },
  };

  const info = (): HostInfo => ({
    v: 1,
    type: 'info',
    hostId,
    role,
    pid: process.pid,
    transport: transport.kind,
    connected,
    queues: worker ? [...spec.queues] : [],
    handlers: [...handlers.keys()].sort(),
    entityKinds: [...spec.entityKinds],
    shards: Object.fromEntries([...shardManagers].map(([kind, m]) => [kind, m.ownedShards().length])),
    draining,
    notes: [...notes],
    services: Object.fromEntries(services.map((s) => [s.name, s.running.health?.() ?? {}])),
  });
  let lastInfoKey = '';
  const sendInfo = (): void => {
    const current = info();
    lastInfoKey = JSON.stringify(current);
    options.send(current);
  };

  const runCleanups = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch (err) {
        log.warn({ err }, 'cleanup step failed');
      }
    }
  };

  try {
    if (spec.queues.length > 0 && cfg.plugins.handlers.length > 0) {
      await loadHandlerPlugins(
        cfg.plugins.handlers,
        {
          task: (kind, handler) => {
            if (handlers.has(kind)) throw new Error(`task kind ${kind} is already registered`);
            handlers.set(kind, handler as unknown as TaskHandler<TSchema>);
          },
        },
        { role, hostId, nodeId: cfg.nodeId, config: cfg, logger: log, transport },
      );
    } else if (cfg.plugins.handlers.length > 0) {
      notes.push(`role ${role} consumes no work queues: handler plugins not loaded here`);
    }

    // Answer presence probes before joining, and until after leaving (cleanups
    // run in reverse): a peer that sees our record always finds us present.
    const presenceAnswer = transport.answerPresence(protocolNames(cfg.namespace).subjects.hostPresence(hostId));
    cleanups.push(() => presenceAnswer.unsubscribe());
    membership = new Membership({
      bucket: await transport.kv('members'),
      role,
      hostId,
      nodeId: cfg.nodeId,
      heartbeatMs: cfg.cluster.heartbeatMs,
      memberTtlMs: cfg.cluster.memberTtlMs,
      logger: log,
      metrics,
    });
    await membership.join();
    const joined = membership;
    cleanups.push(() => joined.leave());
    if (cfg.cluster.presenceConfirmMs > 0) {
      const presence = new PeerPresence({ transport, names: protocolNames(cfg.namespace), membership: joined, confirmMs: cfg.cluster.presenceConfirmMs, logger: log, metrics });
      await presence.start();
      cleanups.push(() => presence.stop());
    }

    const leaseBucket = await transport.kv('leases');
    const hostLeases = new LeaseManager({ bucket: leaseBucket, holder: hostId, leaseMs: cfg.cluster.leaseMs, logger: log, metrics });
    const newShardManager = (kind: string, callbacks: Pick<ShardManagerOptions, 'onAcquire' | 'onRelease'>): ShardManager => {
      const manager = new ShardManager({ kind, shardCount: cfg.cluster.shardCount, membership: joined, leases: hostLeases, leaseBucket, logger: log, metrics, outageGraceMs: cfg.cluster.leaseOutageGraceMs, ...callbacks });
      shardManagers.set(kind, manager);
      cleanups.push(() => manager.stop());
      return manager;
    };
    for (const kind of spec.shardKinds) {
      await newShardManager(kind, {}).start();
      if (!spec.entityKinds.includes(kind)) {
        notes.push(`no entity behaviour registered for ${kind}: shards are leased but no entities activate`);
      }
    }

    // Services start after membership (they may take leases) and before the
    // worker (they may register task handlers).
    let ownStorage: Promise<Storage> | null = null;
    const openedStorage =
      options.storage ??
      ((): Promise<Storage> => {
        if (!ownStorage) {
          const opened = openStorage(cfg, { onError: (err) => log.warn({ err: errorMessage(err) }, 'storage background error') });
          ownStorage = opened;
          cleanups.push(async () => (await opened).close());
        }
        return ownStorage;
      });
    // The cache and database metrics of every host that uses storage (issue 11: dropped cache writes were invisible).
    let storageInUse: Storage | null = null;
    const storage = async (): Promise<Storage> => (storageInUse = await openedStorage());
    // Inline hosts share one storage: one of them (the gateway's) reports it, so the node's sums stay true.
    if (!options.storage || role === 'gateway') registerStorageMetrics(metrics.registry, () => storageInUse?.cache ?? null);
    let servicesStarting = true;
    const ctx: HostContext = {
      config: cfg,
      role,
      hostId,
      logger: log,
      transport,
      names: protocolNames(cfg.namespace),
      metrics,
      membership: joined,
      leases: hostLeases,
      storage,
      shardManager: async (kind, callbacks) => newShardManager(kind, callbacks),
      registerTask: (kind, handler) => {
        if (!servicesStarting) throw new Error(`task kind ${kind} registered after the worker started`);
        if (handlers.has(kind)) throw new Error(`task kind ${kind} is already registered`);
        handlers.set(kind, handler as unknown as TaskHandler<TSchema>);
      },
      note: (text) => notes.push(text),
      nodeView,
    };
    for (const svc of spec.services) {
      const running = await svc.start(ctx);
      services.push({ name: svc.name, running });
      cleanups.push(() => running.stop());
    }
    servicesStarting = false;

    if (spec.queues.length > 0) {
      if (handlers.size === 0) {
        // Consuming without handlers would only bounce tasks (and dead-letter
        // them on their last delivery): leave them queued for a host that can run them.
        notes.push(`no task handlers registered for role ${role}: not consuming the ${spec.queues.join(', ')} queues`);
      } else {
        worker = new TaskWorker({
          transport,
          logger: log,
          metrics,
          concurrency: cfg.work.concurrency,
          prefetch: cfg.work.prefetch,
          retryDelayMs: cfg.work.retryDelayMs,
          ackWaitMs: cfg.work.ackWaitMs,
          queues: [...spec.queues],
          shedLagMs: cfg.work.shedLagMs,
          transientMaxDelayMs: cfg.work.transientMaxDelayMs,
          transientGiveUpMs: cfg.work.transientGiveUpMs,
        });
        for (const [kind, h] of handlers) worker.register(kind, h);
      }
    }

    if (spec.queues.length === 0 && spec.shardKinds.length === 0 && handlers.size === 0 && spec.services.length === 0) {
      notes.push(`nothing is registered for role ${role} yet (${spec.summary}): this host only keeps its membership record`);
    }

    if (worker) {
      await worker.start();
      const w = worker;
      // The drain path stops the worker itself; this covers a failed start later on.
      cleanups.push(() => w.drain(0));
    }
  } catch (err) {
    log.error({ err }, 'host failed to start');
    await runCleanups();
    throw err;
  }

  const heartbeat = (): void => {
    const stats = worker?.stats();
    const hb: HostHeartbeat = {
      v: 1,
      type: 'heartbeat',
      hostId,
      // Actors really activated by this host's services.
      actors: services.reduce((n, s) => n + (s.running.actors?.() ?? 0), 0),
      // Parked tasks (held through a dependency outage) are in flight too.
      inFlight: stats ? stats.inFlight + stats.buffered + stats.parked : 0,
      eventLoopP99Ms: Math.round(metrics.eventLoop.p99Seconds() * 1000 * 100) / 100,
      queueDepths: { ...queueDepths },
    };
    options.send(hb);
    // Info changes rarely (shards won or lost, transport state): resend it
    // only when it differs from what the supervisor last got.
    const current = info();
    const key = JSON.stringify(current);
    if (key !== lastInfoKey) {
      lastInfoKey = key;
      options.send(current);
    }
  };
  // Heartbeats never wait on the bus: they report that this process's event
  // loop turns. Queue depths are refreshed beside them, one refresh at a time.
  let refreshing = false;
  const refreshDepths = async (): Promise<void> => {
    if (refreshing || !worker) return;
    refreshing = true;
    try {
      for (const q of spec.queues) queueDepths[q] = (await transport.queueStats(q)).depth;
    } catch (err) {
      log.debug({ err: errorMessage(err) }, 'queue stats unavailable');
    } finally {
      refreshing = false;
    }
  };
  heartbeatTimer = setInterval(heartbeat, cfg.cluster.heartbeatMs);
  depthTimer = setInterval(() => void refreshDepths(), Math.max(cfg.cluster.heartbeatMs, 1000));
  depthTimer.unref();
  sendInfo();
  heartbeat();
  log.info({ queues: worker ? spec.queues : [], handlers: [...handlers.keys()], shardKinds: spec.shardKinds, transport: transport.kind, notes }, 'host started');

  const stopTimers = (): void => {
    if (heartbeatTimer) clearInterval(heartbeatTimer);
    if (depthTimer) clearInterval(depthTimer);
    heartbeatTimer = depthTimer = null;
  };

  const drain = (): Promise<void> => {
    drainPromise ??= (async () => {
      draining = true;
      log.info('draining');
      sendInfo();
      // Finish within the supervisor's shutdown timeout, with a margin for leaving.
      const budgetMs = Math.max(100, Math.floor(cfg.supervisor.shutdownTimeoutMs * 0.7));
      let code = 0;
      try {
        await membership?.drain();
        if (worker) await worker.drain(budgetMs);
      } catch (err) {
        log.error({ err }, 'drain failed');
        code = 1;
      }
      stopTimers();
      await runCleanups();
      log.info({ code, stats: worker?.stats() }, 'host stopped');
      resolveExit(code);
    })();
    return drainPromise;
  };

  return {
    hostId,
    role,
    info,
    command(cmd) {
      if (cmd.type === 'drain') void drain();
      else if (cmd.type === 'node-view') nodeViewWaiters.get(cmd.requestId)?.(cmd);
      else if (cmd.type === 'metrics') {
        void metrics.registry.getMetricsAsJSON().then(
          (m) => options.send({ v: 1, type: 'metrics', requestId: cmd.requestId, metrics: m }),
          (err) => log.warn({ err }, 'metrics collection failed'),
        );
      }
    },
    drain,
    kill() {
      if (drainPromise) return;
      drainPromise = (async () => {
        stopTimers();
        // No drain: close what we hold so a shared bus redelivers our work.
        if (worker) await worker.drain(0).catch(() => undefined);
        await runCleanups();
        resolveExit(137);
      })();
    },
    exited,
  };
}
