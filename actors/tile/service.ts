/**
 * The tile role's service: builds the tile pipeline (scene source, kernels,
 * cloud model) for this host and registers its four task handlers
 * (pipeline/tasks.ts) before the host's worker starts consuming the weather
 * and high queues. The cloud model is loaded on the first tile, so a host
 * without it still starts (and says so in /health) and its tiles fail with a
 * clear reason instead of the host crash-looping.
 *
 * It also runs the dead-letter relay (runtime/dead-letter-relay.ts: every dead
 * letter recorded, its scene failed or, for a task a dying host only held,
 * re-driven once) and the finalize reconciler (pipeline/reconcile.ts).
 */
import { availableParallelism } from 'node:os';
import { errorMessage } from '../../protocol/errors.js';
import { ImagerySceneTaskMessage, IMAGERY_SCENE_KIND } from '../../protocol/messages/imagery.js';
import {
  IMAGERY_FINALIZE_KIND,
  IMAGERY_TILE_KIND,
  ImageryFinalizeTaskMessage,
  ImageryTileTaskMessage,
  STORM_WARNING_KIND,
  StormWarningTaskMessage,
} from '../../protocol/messages/tile.js';
import { imageryFetchPolicy } from '../ingest/imagery-fetch.js';
import type { HostContext, RoleService, RunningService } from '../host/services.js';
import type { ThreadedCloudSegmenter } from './segment/unet-thread.js';

export const tileService: RoleService = {
  name: 'tile',
  async start(ctx: HostContext): Promise<RunningService> {
    const cfg = ctx.config;
    // Loaded here, not at import: every role's host imports roles.ts, and only tile hosts need onnxruntime, sharp and h5wasm.
    const [{ loadTileKernels }, { SceneSource }, { TilePipeline }, { ThreadedCloudSegmenter }, { FinalizeReconciler }, { DeadLetterRelay }] = await Promise.all([
      import('./pipeline/kernel-binding.js'),
      import('./pipeline/scene-source.js'),
      import('./pipeline/tasks.js'),
      import('./segment/unet-thread.js'),
      import('./pipeline/reconcile.js'),
      import('../runtime/dead-letter-relay.js'),
    ]);
    const storage = await ctx.storage();
    const { kernels, note } = await loadTileKernels(cfg.tile.kernels, cfg.tile.nativeAddon || undefined);
    // The one line a person sees when the addon could not be built or loaded; /health says it as `kernels` (supervisor/node.ts).
    if (note) ctx.logger.warn({ component: 'tile' }, note);
    const cpus = availableParallelism();
    let segmenter: Promise<ThreadedCloudSegmenter> | null = null;
    let modelError: string | null = null;
    let haloChecked = false;
    const segment = async (bt: Float32Array, width: number, height: number): Promise<Uint8Array> => {
      // One model window per tile (core + halo): the UNet runs once per tile, on
      // its own worker thread (onnxruntime-node's run is synchronous: ~0.2 s a tile).
      segmenter ??= ThreadedCloudSegmenter.load({ ...(cfg.tile.modelPath ? { modelPath: cfg.tile.modelPath } : {}), threads: cpus, tileSize: cfg.tile.size + 2 * cfg.tile.halo });
      const loading = segmenter;
      let s: ThreadedCloudSegmenter;
      try {
        s = await loading;
      } catch (err) {
        // Not cached as a failure: a model put in place later is picked up by the next tile.
        if (segmenter === loading) segmenter = null;
        modelError = errorMessage(err);
        throw err;
      }
      modelError = null;
      if (!haloChecked) {
        haloChecked = true;
        // Tiles then see mirrored pixels inside the model's reach at their edges: results differ slightly from a whole-scene run.
        if (s.card.receptiveRadius > cfg.tile.halo) ctx.note(`STARWEATHER_TILE_HALO ${cfg.tile.halo} is below the cloud model's receptive radius (${s.card.receptiveRadius} px): L2 can differ at tile seams`);
      }
      try {
        return await s.segment(bt, width, height);
      } finally {
        // A crashed model thread is replaced on the next tile (this one fails and is retried).
        if (s.dead && segmenter === loading) {
          segmenter = null;
          void s.close();
        }
      }
    };
    const source = new SceneSource({
      // The ingest's policy: the asset policy plus the configured S3 endpoint's buckets.
      policy: imageryFetchPolicy(cfg),
      files: storage.files,
      maxBytes: cfg.tile.sceneMaxBytes,
      fetchTimeoutMs: cfg.assets.fetchTimeoutMs,
      cacheScenes: cfg.tile.sceneCache,
    });
    const pipeline = new TilePipeline({
      storage,
      transport: ctx.transport,
      names: ctx.names,
      source,
      kernels,
      segment,
      hostId: ctx.hostId,
      logger: ctx.logger,
      settings: {
        tileSize: cfg.tile.size,
        halo: cfg.tile.halo,
        productMaxPx: cfg.tile.productMaxPx,
        stormMinOvershoots: cfg.tile.stormMinOvershoots,
        stormTrackMinScenes: cfg.tile.stormTrackMinScenes,
        metricsRetentionMonths: cfg.storage.metricsRetentionMonths,
        concurrency: cfg.tile.concurrency > 0 ? cfg.tile.concurrency : cpus,
        profile: cfg.tile.profile,
      },
    });
    ctx.registerTask(IMAGERY_SCENE_KIND, { payload: ImagerySceneTaskMessage, handle: (p, t) => pipeline.scene(p, t) });
    ctx.registerTask(IMAGERY_TILE_KIND, { payload: ImageryTileTaskMessage, handle: (p, t) => pipeline.tile(p, t) });
    ctx.registerTask(IMAGERY_FINALIZE_KIND, { payload: ImageryFinalizeTaskMessage, handle: (p, t) => pipeline.finalize(p, t) });
    ctx.registerTask(STORM_WARNING_KIND, { payload: StormWarningTaskMessage, handle: (p, t) => pipeline.stormWarning(p, t) });
    const relay = new DeadLetterRelay({
      transport: ctx.transport,
      storage,
      logger: ctx.logger.child({ component: 'dead-letter-relay' }),
      // A tile or finalize that dies fails its scene's task (the task users see).
      ownerOf: (task) => {
        if (task.kind !== IMAGERY_TILE_KIND && task.kind !== IMAGERY_FINALIZE_KIND) return null;
        const scene = (task.payload as { sceneTaskId?: unknown } | null)?.sceneTaskId;
        return typeof scene === 'string' ? scene : null;
      },
    });
    await relay.start();
    const reconciler = new FinalizeReconciler({
      storage,
      transport: ctx.transport,
      logger: ctx.logger.child({ component: 'finalize-reconciler' }),
      intervalMs: cfg.tile.reconcileIntervalMs,
      idleMs: cfg.tile.reconcileIdleMs,
    });
    reconciler.start();
    return {
      health: () => ({ tile: { kernels: kernels.name, ...pipeline.stats, reconciledFinalizes: reconciler.enqueued, deadLetters: { ...relay.stats }, ...(modelError ? { modelError } : {}) } }),
      async stop() {
        await reconciler.stop();
        await relay.stop().catch(() => undefined);
        const s = segmenter;
        segmenter = null;
        if (s) await s.then((m) => m.close()).catch(() => undefined);
      },
    };
  },
};
