/**
 * Spawns throw-away nats-server processes for fault tests: a single server or
 * a loopback cluster, each with JetStream on its own temp store dir, on free
 * ports. A server can be killed (SIGKILL by default) and restarted on the
 * same port and store, which is what the restart and cluster tests need.
 *
 * Every process started here is also killed when the test process exits, so
 * a failing test cannot leave a server behind.
 *
 *   const s = await startNatsServer();           // s.url, s.kill(), s.restart(), s.stop()
 *   const c = await startNatsCluster(3);         // c.urls, c.servers[i].kill(), c.stop()
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { get as httpGet } from 'node:http';

export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

export interface NatsServerOptions {
  /** Client port; a free one when omitted. */
  port?: number;
  /** HTTP monitoring port (healthz); a free one when omitted. */
  monitorPort?: number;
  /** JetStream store dir; a fresh temp dir (removed by stop()) when omitted. */
  storeDir?: string;
  /** server_name; required by JetStream in a cluster. */
  serverName?: string;
  /** Cluster membership: this server's route port and every route to dial. */
  cluster?: { name: string; port: number; routes: number[] };
  /** How long start()/restart() wait for the server to be ready (default 15 s). */
  readyTimeoutMs?: number;
  /**
   * Wait for /healthz to report JetStream ready, not only for the client
   * port (default true for a single server; a cluster waits as a whole).
   */
  waitHealthy?: boolean;
  /** Lines appended to the server's config file (authorization, tls, …). */
  extraConfig?: string;
}

export interface NatsServer {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly monitorPort: number;
  readonly clusterPort: number | null;
  readonly storeDir: string;
  readonly logFile: string;
  /** Pid of the running process, or null while it is down. */
  readonly pid: number | null;
  readonly running: boolean;
  /** Send `signal` (default SIGKILL) and wait for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start again on the same port, config and store (after kill()). */
  restart(): Promise<void>;
  /** Resolves when the client port accepts connections (and, if asked, healthz is ok). */
  waitReady(opts?: { timeoutMs?: number; healthy?: boolean }): Promise<void>;
  /** GET /healthz: true when the server reports ok (JetStream current). */
  healthy(): Promise<boolean>;
  /** Kill (SIGTERM, then SIGKILL after 5 s) and remove the temp dirs. Idempotent. */
  stop(): Promise<void>;
}

export interface NatsCluster {
  readonly urls: string[];
  readonly servers: NatsServer[];
  /** Resolves when every running server reports healthz ok. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous on purpose: 'exit' handlers cannot await.
  process.on('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** A port that was free a moment ago (bind to 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('no port'));
        return;
      }
      const { port } = addr;
      srv.close(() => resolve(port));
    });
  });
}

/** Distinct free ports (a port returned twice would make two servers collide). */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = tcpConnect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
    sock.setTimeout(1000, () => done(false));
  });
}

function healthz(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpGet({ host: '127.0.0.1', port, path: '/healthz', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

function configText(o: {
  name: string;
  port: number;
  monitorPort: number;
  storeDir: string;
  cluster?: { name: string; port: number; routes: number[] };
  extra?: string | undefined;
}): string {
  const lines = [
    `server_name: ${JSON.stringify(o.name)}`,
    `listen: "127.0.0.1:${o.port}"`,
    `http: "127.0.0.1:${o.monitorPort}"`,
    `jetstream {`,
    `  store_dir: ${JSON.stringify(o.storeDir)}`,
    // Small limits: tests never need much, and a 2-core CI box has little disk.
    `  max_memory_store: 268435456`,
    `  max_file_store: 2147483648`,
    `}`,
  ];
  if (o.cluster) {
    const routes = o.cluster.routes.map((p) => `    "nats-route://127.0.0.1:${p}"`).join('\n');
    lines.push(
      `cluster {`,
      `  name: ${JSON.stringify(o.cluster.name)}`,
      `  listen: "127.0.0.1:${o.cluster.port}"`,
      `  routes: [`,
      routes,
      `  ]`,
      `}`,
    );
  }
  if (o.extra) lines.push(o.extra);
  return lines.join('\n') + '\n';
}

class ServerProcess implements NatsServer {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly monitorPort: number;
  readonly clusterPort: number | null;
  readonly storeDir: string;
  readonly logFile: string;
  private readonly configFile: string;
  private readonly workDir: string;
  private readonly ownsStore: boolean;
  private readonly readyTimeoutMs: number;
  private readonly waitHealthyDefault: boolean;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(o: {
    name: string;
    port: number;
    monitorPort: number;
    storeDir: string | undefined;
    cluster?: { name: string; port: number; routes: number[] };
    readyTimeoutMs: number;
    waitHealthy: boolean;
    extraConfig?: string | undefined;
  }) {
    this.name = o.name;
    this.port = o.port;
    this.monitorPort = o.monitorPort;
    this.url = `nats://127.0.0.1:${o.port}`;
    this.clusterPort = o.cluster?.port ?? null;
    this.workDir = mkdtempSync(join(tmpdir(), `sw-nats-${o.name}-`));
    this.ownsStore = o.storeDir === undefined;
    this.storeDir = o.storeDir ?? join(this.workDir, 'store');
    mkdirSync(this.storeDir, { recursive: true });
    this.logFile = join(this.workDir, 'server.log');
    this.configFile = join(this.workDir, 'server.conf');
    this.readyTimeoutMs = o.readyTimeoutMs;
    this.waitHealthyDefault = o.waitHealthy;
    writeFileSync(
      this.configFile,
      configText({ name: o.name, port: o.port, monitorPort: o.monitorPort, storeDir: this.storeDir, cluster: o.cluster, extra: o.extraConfig }),
    );
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  get running(): boolean {
    return this.child !== null;
  }

  spawn(): void {
    if (this.stopped) throw new Error(`nats-server ${this.name} was stopped`);
    if (this.child) throw new Error(`nats-server ${this.name} is already running (pid ${this.child.pid})`);
    installExitHook();
    const child = spawn(NATS_SERVER_BIN, ['-c', this.configFile, '-l', this.logFile], { stdio: 'ignore' });
    this.child = child;
    live.add(child);
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        live.delete(child);
        if (this.child === child) this.child = null;
        resolve();
      });
      child.once('error', () => {
        live.delete(child);
        if (this.child === child) this.child = null;
        resolve();
      });
    });
  }

  async waitReady(opts: { timeoutMs?: number; healthy?: boolean } = {}): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? this.readyTimeoutMs;
    const wantHealthy = opts.healthy ?? this.waitHealthyDefault;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.child) throw new Error(`nats-server ${this.name} exited during start (log: ${this.logFile})`);
      if ((await canConnect(this.port)) && (!wantHealthy || (await healthz(this.monitorPort)))) return;
      await sleep(100);
    }
    throw new Error(`nats-server ${this.name} not ready on port ${this.port} after ${timeoutMs} ms (log: ${this.logFile})`);
  }

  healthy(): Promise<boolean> {
    return healthz(this.monitorPort);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill(signal);
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') return;
    await this.exited;
  }

  async restart(): Promise<void> {
    if (this.child) await this.kill('SIGKILL');
    this.spawn();
    await this.waitReady();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const child = this.child;
    if (child) {
      child.kill('SIGCONT'); // a SIGSTOPped server would never see SIGTERM
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(timer);
    }
    if (this.ownsStore) rmSync(this.workDir, { recursive: true, force: true });
    else rmSync(this.configFile, { force: true });
  }
}

/** One nats-server with JetStream on loopback. */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServer> {
  const [port, monitorPort] = [opts.port ?? (await freePort()), opts.monitorPort ?? (await freePort())];
  const server = new ServerProcess({
    name: opts.serverName ?? `sw-${port}`,
    port,
    monitorPort,
    storeDir: opts.storeDir,
    cluster: opts.cluster,
    readyTimeoutMs: opts.readyTimeoutMs ?? 15_000,
    waitHealthy: opts.waitHealthy ?? opts.cluster === undefined,
    extraConfig: opts.extraConfig,
  });
  server.spawn();
  try {
    await server.waitReady();
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

/**
 * A `size`-node cluster on loopback: full-mesh routes, JetStream on every
 * node with its own store dir. Resolves once every node reports healthz ok,
 * which in 2.9 includes having a JetStream meta leader.
 */
export async function startNatsCluster(size = 3, opts: { readyTimeoutMs?: number } = {}): Promise<NatsCluster> {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`cluster size must be a positive integer (got ${size})`);
  const ports = await freePorts(size * 3);
  const clusterName = `swtest${ports[0]}`;
  const clusterPorts = ports.slice(size, size * 2);
  const servers: ServerProcess[] = [];
  for (let i = 0; i < size; i++) {
    servers.push(
      new ServerProcess({
        name: `n${i + 1}-${ports[i]}`,
        port: ports[i]!,
        monitorPort: ports[size * 2 + i]!,
        storeDir: undefined,
        cluster: { name: clusterName, port: clusterPorts[i]!, routes: clusterPorts.filter((_, j) => j !== i) },
        readyTimeoutMs: opts.readyTimeoutMs ?? 30_000,
        waitHealthy: false,
      }),
    );
  }
  const cluster: NatsCluster = {
    urls: servers.map((s) => s.url),
    servers,
    async waitHealthy(timeoutMs = opts.readyTimeoutMs ?? 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const running = servers.filter((s) => s.running);
        const ok = await Promise.all(running.map((s) => s.healthy()));
        if (running.length > 0 && ok.every(Boolean)) return;
        if (Date.now() > deadline) {
          throw new Error(`cluster not healthy after ${timeoutMs} ms (logs: ${servers.map((s) => s.logFile).join(', ')})`);
        }
        await sleep(200);
      }
    },
    async stop() {
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
  try {
    for (const s of servers) s.spawn();
    await Promise.all(servers.map((s) => s.waitReady({ healthy: false })));
    await cluster.waitHealthy();
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
