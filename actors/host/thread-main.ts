/**
 * Entry point of an actor host on a worker thread: the embedded default's
 * hosts (issue 10). Each role gets an event loop of its own, so one role's
 * CPU work (a tile stage, a catalog parse, a fanout flush) never delays
 * another role's heartbeats, lease renewals or HTTP answers, while the bus,
 * PGlite and the memory cache stay single-owner in the main thread and are
 * reached over MessagePorts (actors/runtime/transport/thread-bridge.ts,
 * actors/storage/thread-storage.ts).
 *
 * It speaks to its supervisor as a forked host does over IPC (heartbeats,
 * info, metrics and node-view requests up; commands down), on the parent
 * port. Liveness is a counter in shared memory this thread's loop moves
 * every THREAD_PROGRESS_MS; the supervisor reads it from its own thread and
 * terminates the thread when it stops moving for the hang timeout.
 */
import { readlinkSync } from 'node:fs';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../../config/load.js';
import { errorMessage } from '../../protocol/errors.js';
import { ROLES, type Role } from '../../protocol/messages/cluster.js';
import { SupervisorCommandMessage, THREAD_PROGRESS_MS, type ThreadHostData } from '../../protocol/messages/host-ipc.js';
import { createLogger } from '../runtime/log.js';
import { ThreadTransport } from '../runtime/transport/thread-client.js';
import { openThreadStorage, type StorageThreadHandles } from '../storage/thread-storage.js';
import type { Storage } from '../storage/index.js';
import { startHost } from './host.js';

function osThreadId(): number | null {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return null; // not Linux
  }
}

async function main(data: ThreadHostData): Promise<number> {
  // First, so a host stuck while loading or joining is seen too.
  const progress = new Int32Array(data.progress);
  const ticker = setInterval(() => Atomics.add(progress, 0, 1), THREAD_PROGRESS_MS);
  ticker.unref();

  const role = data.role as Role;
  if (!ROLES.includes(role)) throw new Error(`thread host: unknown role ${JSON.stringify(data.role)}`);
  const cfg = data.config as Config;
  const log = createLogger({ nodeId: cfg.nodeId, role, level: cfg.logLevel, destination: 1, format: cfg.logFormat }).child({ host: data.hostId, thread: true });
  // The OS thread id, so `top -H` / `ps -L` figures can be told apart by role.
  log.info({ tid: osThreadId() }, 'host thread started');
  const port = parentPort!;

  const crash = (kind: string) => (err: unknown) => {
    log.fatal({ err }, kind);
    process.exit(1);
  };
  process.on('uncaughtException', crash('uncaught exception'));
  process.on('unhandledRejection', crash('unhandled rejection'));

  const transport = new ThreadTransport(data.transportPort);
  let opened = null as Promise<Storage> | null;
  const storage = (): Promise<Storage> => {
    opened ??= openThreadStorage(cfg, data.storage as StorageThreadHandles, { onError: (err) => log.warn({ err: errorMessage(err) }, 'storage background error') });
    return opened;
  };
  const send = (m: unknown): void => {
    try {
      port.postMessage(m);
    } catch (err) {
      log.debug({ err }, 'message to supervisor failed');
    }
  };
  const host = await startHost({ config: cfg, role, hostId: data.hostId, logger: log, send, transport, storage });
  port.on('message', (raw: unknown) => {
    if (SupervisorCommandMessage.check(raw)) host.command(raw);
    else log.warn({ type: typeof raw }, 'invalid supervisor command ignored');
  });
  const code = await host.exited;
  // The host leaves shared handles open; they are this thread's own here.
  if (opened) await (await opened.catch(() => null))?.close().catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'storage close failed'));
  await transport.close().catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'transport close failed'));
  clearInterval(ticker);
  return code;
}

if (!isMainThread && parentPort) {
  main(workerData as ThreadHostData).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`actor host thread failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
