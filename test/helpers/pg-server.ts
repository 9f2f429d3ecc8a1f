/**
 * A throw-away PostgreSQL server for fault tests (not a test file): initdb
 * into a temp dir, `pg_ctl start` on a free loopback port, stop and start it
 * again on the same data dir, remove it at the end. The machine's shared
 * server on 5432 is never touched.
 *
 * PostgreSQL refuses to run as root, so when the tests run as root the data
 * dir is chowned to the `postgres` user and every pg_ctl/initdb call goes
 * through `runuser -u postgres`.
 *
 *   const pgs = await startPgServer();   // pgs.url('mydb'), pgs.stop(), pgs.start(), pgs.remove()
 */
import { execFile } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './nats-server.js';

const run = promisify(execFile);

export const PG_BIN = process.env.SW_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface PgServer {
  readonly port: number;
  readonly dataDir: string;
  readonly running: boolean;
  /** postgres://postgres@127.0.0.1:<port>/<db> */
  url(db?: string): string;
  /** `pg_ctl stop -m <mode>` (default fast: active sessions are terminated with 57P01). */
  stop(mode?: 'smart' | 'fast' | 'immediate'): Promise<void>;
  /** `pg_ctl start` on the same data dir and port; resolves once it accepts queries. */
  start(): Promise<void>;
  /** Stop (immediate) and delete the data dir. */
  remove(): Promise<void>;
}

const started = new Set<PgServer>();
process.once('exit', () => {
  // Last resort: a failing test must not leave a postgres behind. SIGQUIT
  // is PostgreSQL's immediate shutdown.
  for (const s of started) {
    if (!s.running) continue;
    try {
      const pid = Number(readFileSync(join(s.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (pid > 0) process.kill(pid, 'SIGQUIT');
    } catch {
      // gone already
    }
  }
});

function asRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

async function pgTool(tool: string, args: string[], timeoutMs = 60_000): Promise<{ stdout: string; stderr: string }> {
  const bin = join(PG_BIN, tool);
  const [cmd, argv] = asRoot() ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  return run(cmd, argv, { timeout: timeoutMs, cwd: tmpdir() });
}

async function acceptsQueries(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  c.on('error', () => {});
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function startPgServer(opts: { port?: number } = {}): Promise<PgServer> {
  const port = opts.port ?? (await freePort());
  const root = mkdtempSync(join(tmpdir(), 'sw-pg-'));
  const dataDir = join(root, 'data');
  const logFile = join(root, 'server.log');
  if (asRoot()) {
    // runuser needs the parent dir traversable and writable by postgres.
    const { uid, gid } = await postgresIds();
    chownSync(root, uid, gid);
  }
  await pgTool('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], 120_000);
  let running = false;
  const server: PgServer = {
    port,
    dataDir,
    get running() {
      return running;
    },
    url: (db = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${db}`,
    async stop(mode = 'fast') {
      if (!running) return;
      await pgTool('pg_ctl', ['stop', '-D', dataDir, '-m', mode, '-w', '-t', '60']);
      running = false;
    },
    async start() {
      if (running) return;
      const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${root} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100`;
      await pgTool('pg_ctl', ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', options]);
      running = true;
      const deadline = Date.now() + 30_000;
      while (!(await acceptsQueries(server.url()))) {
        if (Date.now() > deadline) throw new Error(`PostgreSQL on ${port} did not accept queries within 30 s (log: ${logFile})`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async remove() {
      started.delete(server);
      if (running) await server.stop('immediate').catch(() => undefined);
      rmSync(root, { recursive: true, force: true });
    },
  };
  started.add(server);
  await server.start();
  return server;
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}
