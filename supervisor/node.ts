/**
 * One StarWeather node: the transport, a supervisor with one actor host per
 * role, cluster status, and /health + /metrics. With NATS each host is a
 * forked process; with the embedded bus (no NATS_URL) each host runs on a
 * worker thread of this process (supervisor.embeddedHosts `thread`, the
 * default), with the bus, PGlite and the memory cache owned by the main
 * thread and bridged to the hosts over MessagePorts, or inline on the main
 * loop (`inline`).
 *
 * On a node with the gateway role the supervisor binds no port: the gateway
 * service serves /health and /metrics on http.port, showing this
 * supervisor's view (called directly inline, asked over IPC when forked).
 * Any other node serves them itself on http.nodePort.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Registry } from 'prom-client';
import type { Config } from '../config/load.js';
import { ConfigError, errorMessage } from '../protocol/errors.js';
import { names } from '../protocol/names.js';
import type { Role } from '../protocol/messages/cluster.js';
import type { Transport } from '../protocol/transport.js';
import { createLogger, type Logger } from '../actors/runtime/log.js';
import { createTransport } from '../actors/runtime/transport/index.js';
import { startHost } from '../actors/host/host.js';
import { startLiveness, type LivenessWatch } from '../actors/runtime/liveness.js';
import { openStorage, type Storage } from '../actors/storage/index.js';
import { storageThreadHandles } from '../actors/storage/thread-storage.js';
import { serveTransport } from '../actors/runtime/transport/thread-bridge.js';
import { buryExitedHosts } from './burial.js';
import type { ChildSpec, InlineChild, ThreadLaunch } from './child-spec.js';
import { Supervisor } from './supervisor.js';
import { ClusterStatusReporter } from './cluster-status.js';
import { startNodeServer, supervisorHealth, type NodeHealthSource, type NodeServer } from './http.js';
import { registerProcessMetrics } from './process-metrics.js';
import { kernelsInUse } from '../actors/tile/kernels/index.js';

/** Start order; stop is the reverse, so the gateway stops taking requests first. */
export const ROLE_ORDER: readonly Role[] = ['tracker', 'worker', 'tile', 'ingest', 'gateway'];

export const HOST_ENTRY = join(dirname(fileURLToPath(import.meta.url)), '..', 'actors', 'host', 'main.js');
export const THREAD_HOST_ENTRY = join(dirname(fileURLToPath(import.meta.url)), '..', 'actors', 'host', 'thread-main.js');

export type NodeMode = 'process' | 'inline' | 'thread';

/** The mode a node's config asks for: forked hosts on NATS; threads (or inline) on the embedded bus. */
export function nodeMode(cfg: Config): NodeMode {
  if (cfg.nats.url) return 'process';
  return cfg.supervisor.embeddedHosts;
}

export interface NodeOptions {
  config: Config;
  /**
   * process: fork a host per role (NATS); thread: a worker thread per role
   * (embedded bus, bridged); inline: run hosts on this loop (embedded bus).
   */
  mode: NodeMode;
  logger?: Logger;
  /** Install SIGTERM/SIGINT handlers that drain (default true). */
  handleSignals?: boolean;
  /**
   * Run a liveness thread that ends this process when its event loop makes no
   * progress for supervisor.hangTimeoutMs (actors/runtime/liveness.ts). The
   * CLI sets it: nobody above a node can restart it but its process manager.
   * Default false, so a test that embeds a node is never killed by it.
   */
  selfWatch?: boolean;
}

export interface RunningNode {
  supervisor: Supervisor;
  transport: Transport;
  status: ClusterStatusReporter;
  /** The supervisor's own /health + /metrics server; null on a gateway node (the gateway serves them). */
  http: NodeServer | null;
  /** The node view served on /health and /metrics. */
  health: NodeHealthSource;
  /** Drain everything; resolves with the exit code. */
  stop(): Promise<number>;
  /** Exit code once the node has stopped (requested stop or escalation). */
  readonly done: Promise<number>;
}

export interface ChildStarters {
  inline: (role: Role, hostId: string, send: (m: unknown) => void) => Promise<InlineChild>;
  thread: (role: Role) => Promise<ThreadLaunch>;
}

export function childSpecs(cfg: Config, mode: NodeMode, starters: ChildStarters): ChildSpec[] {
  const roles = ROLE_ORDER.filter((r) => cfg.roles.includes(r));
  const start = (role: Role): ChildSpec['start'] => {
    if (mode === 'process') return { mode: 'process', module: HOST_ENTRY };
    if (mode === 'thread') return { mode: 'thread', module: THREAD_HOST_ENTRY, launch: () => starters.thread(role) };
    return { mode: 'inline', run: (ctx) => starters.inline(role, ctx.hostId, ctx.send) };
  };
  // Child ids: the role, then role-2, role-3 … for further hosts of it.
  // Several tracker hosts split the node's shards (rendezvous hashing, as
  // between nodes) and tick in parallel, on as many cores.
  const hosts = roles.flatMap((role) => {
    const n = role === 'tracker' ? cfg.supervisor.trackerHosts : 1;
    return Array.from({ length: n }, (_, i) => ({ role, id: i === 0 ? role : `${role}-${i + 1}` }));
  });
  return hosts.map(
    ({ role, id }): ChildSpec => ({
      id,
      role,
      restart: 'permanent',
      shutdownTimeoutMs: cfg.supervisor.shutdownTimeoutMs,
      start: start(role),
    }),
  );
}

/** Roles whose hosts open the database (tracker state, catalog, STAC, tiles). */
export const STORAGE_ROLES: readonly Role[] = ['tracker', 'tile', 'ingest', 'gateway'];

/**
 * Forked hosts cannot share the embedded database: PGlite allows one opener
 * per data directory. A node that forks more than one storage role needs a
 * shared PostgreSQL (DATABASE_URL); say so before anything starts.
 */
export function checkStorageLayout(cfg: Config, mode: NodeMode): void {
  if (mode !== 'process' || cfg.database.url) return;
  const using = STORAGE_ROLES.filter((r) => cfg.roles.includes(r));
  const trackers = cfg.roles.includes('tracker') ? cfg.supervisor.trackerHosts : 0;
  if (using.length > 1 || trackers > 1) {
    const what = using.map((r) => (r === 'tracker' && trackers > 1 ? `${trackers} tracker hosts` : r)).join(', ');
    throw new ConfigError(
      'database.url (DATABASE_URL)',
      `cluster mode forks one process per host, and ${what} each open the database: set DATABASE_URL to a PostgreSQL server (the embedded database allows one process)`,
    );
  }
}

export async function startNode(o: NodeOptions): Promise<RunningNode> {
  const cfg = o.config;
  checkStorageLayout(cfg, o.mode);
  const log = o.logger ?? createLogger({ nodeId: cfg.nodeId, role: 'supervisor', level: cfg.logLevel, destination: 1, format: cfg.logFormat });
  const selfWatch: LivenessWatch | null = o.selfWatch
    ? startLiveness({ beatMs: Math.min(1000, cfg.cluster.heartbeatMs), selfHangTimeoutMs: cfg.supervisor.hangTimeoutMs, startupGraceMs: cfg.supervisor.startupTimeoutMs, label: `node ${cfg.nodeId}` })
    : null;
  const registry = new Registry();
  registry.setDefaultLabels({ node: cfg.nodeId });
  const stopProcessMetrics = registerProcessMetrics(registry);

  const transport = await createTransport(cfg, {
    name: `starweather supervisor ${cfg.nodeId}`,
    onError: (err, context) => log.warn({ err, context }, 'transport background error'),
  });
  let connected = true;
  transport.onStatus((s) => {
    if (s.type === 'connected' || s.type === 'reconnected') connected = true;
    else if (s.type === 'disconnected' || s.type === 'reconnecting') connected = false;
    log.info({ transport: s }, 'transport status');
  });

  // Inline hosts share one storage: PGlite allows a single opener per data
  // directory, and one pool per process is enough for PostgreSQL too.
  let sharedStorage: Promise<Storage> | null = null;
  const storage = (): Promise<Storage> => {
    sharedStorage ??= openStorage(cfg, { onError: (err) => log.warn({ err: errorMessage(err) }, 'storage background error') });
    return sharedStorage;
  };

  // Set below, before any host starts; inline hosts read the node view directly.
  let healthSource: NodeHealthSource | null = null;
  const inlineNodeView = {
    health: async () => {
      if (!healthSource) throw new Error('node view not ready');
      return healthSource.health() as unknown as { status: 'ok' | 'degraded' } & Record<string, unknown>;
    },
    metrics: async () => {
      if (!healthSource) throw new Error('node view not ready');
      return healthSource.metrics();
    },
  };

  const inline = async (role: Role, hostId: string, send: (m: unknown) => void): Promise<InlineChild> => {
    const host = await startHost({
      config: cfg,
      role,
      hostId,
      send,
      transport,
      storage,
      nodeView: inlineNodeView,
      logger: createLogger({ nodeId: cfg.nodeId, role, level: cfg.logLevel, destination: 1, format: cfg.logFormat }).child({ host: hostId }),
    });
    return { command: (c) => host.command(c), kill: () => host.kill(), exited: host.exited };
  };

  // A thread host's bus and storage: fresh ports per incarnation, served by
  // this thread; release() drops whatever the incarnation held (its
  // subscriptions, consumers, unsettled work, open transaction).
  const thread = async (role: Role): Promise<ThreadLaunch> => {
    const releases: Array<() => void> = [];
    const release = (): void => {
      for (const r of releases.splice(0).reverse()) {
        try {
          r();
        } catch (err) {
          log.warn({ err: errorMessage(err), childRole: role }, 'releasing a host thread\'s ports failed');
        }
      }
    };
    try {
      const bus = new MessageChannel();
      const server = serveTransport(transport, bus.port1, { onError: (err, context) => log.warn({ err: errorMessage(err), context, childRole: role }, 'bus bridge error') });
      releases.push(() => {
        void server.close().catch(() => undefined);
        bus.port1.close();
      });
      const transferList: MessagePort[] = [bus.port2];
      let storageHandles: unknown = null;
      if (STORAGE_ROLES.includes(role)) {
        const h = storageThreadHandles(await storage(), { onError: (err) => log.warn({ err: errorMessage(err), childRole: role }, 'storage bridge error') });
        releases.push(() => h.release());
        storageHandles = h.handles;
        transferList.push(...h.transferList);
      }
      return { workerData: { config: cfg, transportPort: bus.port2, storage: storageHandles }, transferList, release };
    } catch (err) {
      release();
      throw err;
    }
  };

  const supervisor = new Supervisor({
    nodeId: cfg.nodeId,
    children: childSpecs(cfg, o.mode, { inline, thread }),
    maxRestarts: cfg.supervisor.maxRestarts,
    restartWindowMs: cfg.supervisor.restartWindowMs,
    backoff: { baseMs: cfg.supervisor.backoffBaseMs, maxMs: cfg.supervisor.backoffMaxMs, jitter: 'full' },
    hangTimeoutMs: cfg.supervisor.hangTimeoutMs,
    heartbeatTimeoutMs: cfg.supervisor.heartbeatTimeoutMs,
    slowLagMs: cfg.supervisor.slowLagMs,
    startupTimeoutMs: cfg.supervisor.startupTimeoutMs,
    logger: log,
    registry,
  });

  const burials = buryExitedHosts(supervisor, transport, log);

  const status = new ClusterStatusReporter({
    transport,
    names: names(cfg.namespace),
    nodeId: cfg.nodeId,
    roles: ROLE_ORDER.filter((r) => cfg.roles.includes(r)),
    hosts: () => supervisor.status(),
    intervalMs: cfg.supervisor.statusIntervalMs,
    logger: log,
  });

  const source = supervisorHealth({
    supervisor,
    nodeId: cfg.nodeId,
    roles: ROLE_ORDER.filter((r) => cfg.roles.includes(r)),
    transport: () => ({ kind: transport.kind, connected }),
    staleHeartbeatMs: cfg.supervisor.hangTimeoutMs,
    registry,
    queueStallMs: cfg.supervisor.queueStallMs,
    // Same install, config and loader as this node's tile hosts, so the same answer (an install without a compiler has no addon: typescript).
    ...(cfg.roles.includes('tile') ? { kernels: kernelsInUse(cfg.tile.kernels, cfg.tile.nativeAddon || undefined) } : {}),
  });
  healthSource = source;
  supervisor.setNodeView(async (want) => (want === 'health' ? { health: source.health() as unknown as Record<string, unknown> } : { metrics: await source.metrics() }));

  // The gateway host binds http.port and serves the node view there.
  let http: NodeServer | null = null;
  if (!cfg.roles.includes('gateway')) {
    try {
      http = await startNodeServer({ host: cfg.http.host, port: cfg.http.nodePort, logger: log, source });
    } catch (err) {
      await transport.close().catch(() => undefined);
      await selfWatch?.stop();
      throw err;
    }
    log.info({ address: cfg.http.host, port: http.port, roles: cfg.roles, mode: o.mode, transport: transport.kind, namespace: cfg.namespace }, 'node listening');
  } else {
    log.info({ address: cfg.http.host, port: cfg.http.port, roles: cfg.roles, mode: o.mode, transport: transport.kind, namespace: cfg.namespace }, 'node starting; the gateway host serves /health and /metrics');
  }

  let finishing: Promise<number> | null = null;
  const finish = (): Promise<number> => {
    finishing ??= (async () => {
      const outcome = await supervisor.done;
      await burials();
      status.stop();
      // One last status so peers see our hosts stopped, not just silent.
      await status.publish().catch(() => undefined);
      await http?.close().catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'http close failed'));
      await transport.close().catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'transport close failed'));
      if (sharedStorage) await (await sharedStorage.catch(() => null))?.close().catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'storage close failed'));
      source.close();
      stopProcessMetrics();
      log.info({ outcome }, 'node stopped');
      await selfWatch?.stop();
      return outcome.code;
    })();
    return finishing;
  };

  if (o.handleSignals ?? true) {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals): void => {
      signals += 1;
      if (signals === 1) log.info({ signal: sig }, 'draining node');
      else log.warn({ signal: sig }, 'already draining; children are being stopped in reverse order');
      void supervisor.stop();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }

  status.start();
  try {
    await supervisor.start();
  } catch (err) {
    log.error({ err }, 'supervisor failed to start');
    void supervisor.stop();
  }
  selfWatch?.started();
  const done = finish();
  return {
    supervisor,
    transport,
    status,
    http,
    health: source,
    stop: async () => {
      await supervisor.stop();
      return done;
    },
    done,
  };
}
