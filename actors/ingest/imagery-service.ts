/**
 * The imagery ingest's role service: one ImageryIngest per ingest host; they
 * elect one leader by lease. No sources and no directory: nothing to run.
 */
import type { HostContext, RoleService, RunningService } from '../host/services.js';
import { ImageryIngest } from './imagery-actor.js';
import { imageryMetrics } from './imagery-metrics.js';
import { isUnder } from '../gateway/ssrf.js';
import { resolve } from 'node:path';

export const imageryIngestService: RoleService = {
  name: 'imagery',
  async start(ctx: HostContext): Promise<RunningService> {
    const cfg = ctx.config.imagery;
    if (cfg.sources.length === 0 && !cfg.dir) {
      ctx.note('imagery ingest idle (STARWEATHER_IMAGERY_SOURCES empty, no STARWEATHER_IMAGERY_DIR)');
      return { stop: async () => undefined };
    }
    if (cfg.dir && (!ctx.config.assets.fileRoot || !isUnder(resolve(ctx.config.assets.fileRoot), resolve(cfg.dir)))) {
      // The gateway accepts file: hrefs only under the asset root; items from this directory would be refused.
      ctx.note(`STARWEATHER_IMAGERY_DIR ${cfg.dir} is not under STARWEATHER_ASSET_FILE_ROOT; the gateway will refuse its file: hrefs`);
    }
    const storage = await ctx.storage();
    const ingest = new ImageryIngest({
      config: ctx.config,
      db: storage.db,
      leases: ctx.leases,
      logger: ctx.logger.child({ actor: 'imagery-ingest' }),
      hostId: ctx.hostId,
      metrics: imageryMetrics(ctx.metrics.registry),
    });
    ingest.start();
    return {
      actors: () => (ingest.isLeader ? 1 : 0),
      health: () => ({ imagery: ingest.health() }),
      stop: () => ingest.stop(),
    };
  },
};
