/**
 * Running the real `starweather` CLI from tests: the built entry point, an
 * environment with no services unless given and small timings, and cleanup
 * of every process and data directory the file started (registered with
 * node:test's `after` for the calling file).
 */
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAlive, spawnNode, type Spawned } from './processes.js';

export const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'supervisor', 'cli.js');

export interface CliHarness {
  /** Env for a CLI run: no services, a fresh data dir, quiet logs, fast timings; `extra` wins. */
  env(extra: Record<string, string>): Record<string, string | undefined>;
  /** Spawn `node dist/supervisor/cli.js …args`, killed at the end of the file. */
  run(args: string[], env: Record<string, string | undefined>): Spawned;
  /** Forked host pids to SIGKILL at the end if still alive. */
  readonly pids: Set<number>;
}

export function cliHarness(prefix: string, defaults: Record<string, string> = {}): CliHarness {
  const running: Spawned[] = [];
  const dirs: string[] = [];
  const pids = new Set<number>();
  after(() => {
    for (const s of running) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  return {
    pids,
    env(extra) {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dir);
      return {
        NATS_URL: undefined,
        DATABASE_URL: undefined,
        REDIS_URL: undefined,
        STARWEATHER_CONFIG: undefined,
        STARWEATHER_ROLES: undefined,
        STARWEATHER_HOST: '127.0.0.1',
        STARWEATHER_DATA_DIR: dir,
        STARWEATHER_LOG_LEVEL: 'warn',
        STARWEATHER_HEARTBEAT_MS: '200',
        STARWEATHER_MEMBER_TTL_MS: '2000',
        STARWEATHER_STATUS_INTERVAL_MS: '500',
        STARWEATHER_SHUTDOWN_TIMEOUT_MS: '5000',
        ...defaults,
        ...extra,
      };
    },
    run(args, env) {
      const s = spawnNode([CLI, ...args], env);
      running.push(s);
      return s;
    },
  };
}
