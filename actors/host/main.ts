#!/usr/bin/env node
/**
 * Entry point of a forked actor host. The supervisor passes the role and
 * host id in the environment (HOST_ENV); the config is loaded the same way
 * as in the supervisor (defaults → file → env). Heartbeats and info go to the
 * supervisor over IPC; a `drain` command, SIGTERM or SIGINT drains and exits
 * 0; losing the IPC channel (the supervisor died) drains too, so no host
 * outlives its supervisor. An uncaught error is logged and exits 1 so the
 * supervisor restarts the host.
 *
 * Inline mode (embedded transport) imports `startHost` from here instead.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../config/load.js';
import { ConfigError, errorMessage } from '../../protocol/errors.js';
import { ROLES, type Role } from '../../protocol/messages/cluster.js';
import { createLogger } from '../runtime/log.js';
import { HOST_ENV, SupervisorCommandMessage } from '../../protocol/messages/host-ipc.js';
import { startHost } from './host.js';
import { startLiveness } from '../runtime/liveness.js';

export { startHost, type HostOptions, type RunningHost } from './host.js';

export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  // argv (for running a host by hand) wins over the environment the supervisor sets.
  let args: { role?: string | undefined; 'host-id'?: string | undefined };
  try {
    args = parseArgs({ args: argv, strict: true, options: { role: { type: 'string' }, 'host-id': { type: 'string' } } }).values;
  } catch (err) {
    process.stderr.write(`actor host: ${errorMessage(err)} (usage: main.js [--role <role>] [--host-id <id>])\n`);
    return 2;
  }
  const role = (args.role ?? process.env[HOST_ENV.role]) as Role | undefined;
  if (!role || !ROLES.includes(role)) {
    process.stderr.write(`actor host: --role or ${HOST_ENV.role} must be one of ${ROLES.join(', ')} (got ${JSON.stringify(role)})\n`);
    return 2;
  }
  let cfg;
  try {
    cfg = loadConfig();
  } catch (err) {
    process.stderr.write(`actor host: ${err instanceof ConfigError ? err.message : errorMessage(err)}\n`);
    return 2;
  }
  const hostId = args['host-id'] || process.env[HOST_ENV.hostId] || `${cfg.nodeId}-${role}-${process.pid}`.replace(/[^-\w]/g, '_');
  const log = createLogger({ nodeId: cfg.nodeId, role, level: cfg.logLevel, destination: 1, format: cfg.logFormat }).child({ host: hostId });

  const crash = (kind: string) => (err: unknown) => {
    log.fatal({ err }, kind);
    process.exit(1);
  };
  process.on('uncaughtException', crash('uncaught exception'));
  process.on('unhandledRejection', crash('unhandled rejection'));

  const send = (m: unknown): void => {
    if (!process.connected) return;
    try {
      process.send!(m);
    } catch (err) {
      log.debug({ err }, 'IPC send failed');
    }
  };
  // Beats for the supervisor from a thread that runs while this host's
  // JavaScript is busy (actors/runtime/liveness.ts); started first, so a host
  // stuck while connecting or provisioning is seen too.
  const beatFd = Number(process.env[HOST_ENV.beatFd]);
  if (process.send && Number.isInteger(beatFd) && beatFd > 2) {
    startLiveness({ beatMs: Math.min(1000, cfg.cluster.heartbeatMs), beatFd, label: `${role} host ${hostId}` });
  }
  const host = await startHost({ config: cfg, role, hostId, logger: log, send });

  process.on('message', (raw: unknown) => {
    if (SupervisorCommandMessage.check(raw)) host.command(raw);
    else log.warn({ type: typeof raw }, 'invalid supervisor command ignored');
  });
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => void host.drain());
  if (process.send) {
    process.on('disconnect', () => {
      log.warn('supervisor gone (IPC closed): draining');
      void host.drain();
    });
    if (!process.connected) void host.drain();
  }
  return host.exited;
}

function isEntry(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntry()) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`actor host failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
