/**
 * A tracker host as a real child process for the tracker chaos test (not a
 * test file): startHost with role tracker on NATS, with storage opened in the
 * test's fresh PostgreSQL schema (SW_TRACKER_SCHEMA). Config comes from the
 * environment as for a real host (NATS_URL, DATABASE_URL,
 * STARWEATHER_NAMESPACE, STARWEATHER_SHARD_COUNT, STARWEATHER_LEASE_MS, …).
 * Host heartbeats and info go to the parent over IPC; SIGTERM drains.
 */
import { loadConfig } from '../../config/load.js';
import { startHost } from '../../actors/host/host.js';
import { createLogger } from '../../actors/runtime/log.js';
import { openStorage, type Storage } from '../../actors/storage/index.js';

const hostId = process.env.SW_TRACKER_HOST_ID ?? `tracker-${process.pid}`;
const schema = process.env.SW_TRACKER_SCHEMA;
if (process.argv.length > 1 && process.env.NATS_URL && schema) {
  const cfg = loadConfig();
  const logger = createLogger({ nodeId: cfg.nodeId, role: 'tracker', level: cfg.logLevel, destination: 2 }).child({ host: hostId });
  let storage: Promise<Storage> | null = null;
  const host = await startHost({
    config: cfg,
    role: 'tracker',
    hostId,
    logger,
    send: (m) => {
      if (process.connected) process.send?.(m);
    },
    storage: () => (storage ??= openStorage(cfg, { schema })),
  });
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      void host.drain().then(async () => {
        await (await storage)?.close();
        process.exit(0);
      });
    });
  }
  process.on('disconnect', () => void host.drain().then(() => process.exit(0)));
}
