/**
 * An actor host of one role as a real child process, for tests that need
 * hosts they can kill (not a test file): startHost with role SW_HOST_ROLE on
 * NATS, storage opened in the test's PostgreSQL schema (SW_HOST_SCHEMA).
 * Config comes from the environment as for a real host (NATS_URL,
 * DATABASE_URL, STARWEATHER_NAMESPACE, STARWEATHER_SHARD_COUNT,
 * STARWEATHER_TILE_SIZE, …). Host heartbeats and info go to the parent over
 * IPC; SIGTERM drains.
 */
import { loadConfig } from '../../config/load.js';
import { startHost } from '../../actors/host/host.js';
import { createLogger } from '../../actors/runtime/log.js';
import { openStorage, type Storage } from '../../actors/storage/index.js';
import { ROLES, type Role } from '../../protocol/messages/cluster.js';

const role = process.env.SW_HOST_ROLE as Role | undefined;
const hostId = process.env.SW_HOST_ID ?? `${role}-${process.pid}`;
const schema = process.env.SW_HOST_SCHEMA;
if (process.argv.length > 1 && process.env.NATS_URL && schema && role && ROLES.includes(role)) {
  const cfg = loadConfig();
  const logger = createLogger({ nodeId: cfg.nodeId, role, level: cfg.logLevel, destination: 2 }).child({ host: hostId });
  let storage: Promise<Storage> | null = null;
  const host = await startHost({
    config: cfg,
    role,
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
