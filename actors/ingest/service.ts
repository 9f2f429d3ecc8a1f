/**
 * The ingest role's service: the catalog ingest singleton today (imagery
 * ingest joins it here, in its own files). Each part starts on every ingest
 * host; parts that must run once per cluster elect themselves by lease.
 */
import { errorMessage } from '../../protocol/errors.js';
import type { HostContext, RoleService, RunningService } from '../host/services.js';
import { CatalogIngest } from './catalog-actor.js';
import { catalogMetrics } from './catalog-metrics.js';

async function startCatalog(ctx: HostContext): Promise<RunningService> {
  if (!ctx.config.catalog.enabled) {
    ctx.note('catalog ingest disabled (STARWEATHER_CATALOG_ENABLED=false)');
    return { stop: async () => undefined };
  }
  const storage = await ctx.storage();
  const ingest = new CatalogIngest({
    config: ctx.config,
    db: storage.db,
    transport: ctx.transport,
    names: ctx.names,
    leases: ctx.leases,
    logger: ctx.logger.child({ actor: 'catalog-ingest' }),
    metrics: catalogMetrics(ctx.metrics.registry),
    hostId: ctx.hostId,
    onMalformed: (err) => ctx.metrics.messagesRejected.inc({ where: 'catalog.refresh', code: (err as { code?: string }).code ?? 'SW_ERR_DECODE' }),
  });
  ingest.start();
  return {
    actors: () => (ingest.isLeader ? 1 : 0),
    health: () => ingest.health(),
    stop: () => ingest.stop(),
  };
}

export const ingestService: RoleService = {
  name: 'ingest',
  async start(ctx: HostContext): Promise<RunningService> {
    const parts: Array<[string, RunningService]> = [];
    try {
      parts.push(['catalog', await startCatalog(ctx)]);
    } catch (err) {
      for (const [, p] of parts.reverse()) await p.stop().catch(() => undefined);
      throw new Error(`ingest service failed to start: ${errorMessage(err)}`, { cause: err });
    }
    return {
      actors: () => parts.reduce((n, [, p]) => n + (p.actors?.() ?? 0), 0),
      health: () => Object.fromEntries(parts.map(([name, p]) => [name, p.health?.() ?? {}])),
      async stop() {
        for (const [, p] of [...parts].reverse()) await p.stop();
      },
    };
  },
};
