/**
 * bench:fanout's gateway process: the gateway role's host (startHost, what
 * `starweather start --role gateway` runs) on NATS, with embedded storage in
 * a temp dir. Forked by bench/fanout.ts with IPC and --expose-gc; answers
 * `stats` with its CPU time, RSS after a full GC, and the gateway's health
 * (fanout counters). Configured entirely by environment (STARWEATHER_*).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../config/load.js';
import { startHost } from '../actors/host/host.js';
import { createTransport } from '../actors/runtime/transport/index.js';
import { openStorage } from '../actors/storage/index.js';

const dir = mkdtempSync(join(tmpdir(), 'sw-bench-gw-'));
const cfg = loadConfig({ env: { ...process.env, STARWEATHER_DATA_DIR: dir, STARWEATHER_LOG_LEVEL: 'warn' } as Record<string, string> });
const logger = pino({ level: 'warn' }, pino.destination(2));
const transport = await createTransport(cfg, {});
const storage = await openStorage(cfg);
const host = await startHost({
  config: cfg,
  role: 'gateway',
  hostId: `bench-gw-${process.pid}`,
  logger,
  send: () => {},
  transport,
  storage: async () => storage,
  nodeView: {
    health: async () => ({}) as never,
    metrics: async () => ({ contentType: 'text/plain', body: '' }),
  },
});
const gc = (globalThis as { gc?: () => void }).gc;

process.on('message', (m: { type: string }) => {
  if (m.type === 'stats') {
    if (gc) {
      gc();
      gc();
    }
    const services = host.info().services as Record<string, unknown>;
    process.send!({ type: 'stats', at: Date.now(), cpu: process.cpuUsage(), rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed, gateway: services.gateway });
  } else if (m.type === 'stop') {
    void (async () => {
      await host.drain().catch(() => undefined);
      await storage.close().catch(() => undefined);
      await transport.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    })();
  }
});
process.send!({ type: 'ready', port: cfg.http.port });
