/**
 * The tile pipeline's task handlers, as one object the tile role's service
 * registers:
 *
 * Tiles and the finalize go on the scene's queue (high for a priority scene,
 * otherwise weather).
 *
 *   imagery.scene  (weather|high) read the item's files, cut the scene into
 *                  tiles, record the tiling, enqueue one imagery.tile per
 *                  tile; the scene task moves to l1
 *   imagery.tile   (weather|high) L1 → L2 → L3 on one tile, result stored
 *                  once; the host that stores the last one moves the scene
 *                  task to l2 and enqueues imagery.finalize
 *   imagery.finalize (weather|high) merge, cyclone detection (scene task → l3),
 *                  storm tracks, metrics, storm warnings, products, STAC assets and QA
 *                  summary; the scene task → done
 *   storm.warning  (high)         publish a stored warning on the alerts subject
 *
 * At-least-once everywhere: ids are deterministic, rows are keyed on their
 * natural keys, and a handler that finds its work already done goes on to
 * the next step instead of redoing it. A handler that fails on its last
 * delivery marks the scene task failed with the reason before the worker
 * dead-letters the task.
 */
import type { Logger } from 'pino';
import { AlertRaisedMessage } from '../../../protocol/messages/satellite-state.js';
import { IMAGERY_SCENE_KIND, type ImagerySceneTask } from '../../../protocol/messages/imagery.js';
import {
  IMAGERY_FINALIZE_KIND,
  IMAGERY_TILE_KIND,
  ImageryFinalizeTaskMessage,
  ImageryTileTaskMessage,
  STORM_WARNING_KIND,
  StormWarningTaskMessage,
  imageryFinalizeTaskId,
  imageryTileTaskId,
  stormWarningTaskId,
  type ImageryFinalizeTask,
  type ImageryTileTask,
  type StormWarningTask,
} from '../../../protocol/messages/tile.js';
import { StarWeatherError, errorCode, errorMessage } from '../../../protocol/errors.js';
import type { Names } from '../../../protocol/names.js';
import type { Transport } from '../../../protocol/transport.js';
import { enqueueTask, type TaskContext } from '../../runtime/worker.js';
import { raiseAlert } from '../../storage/alerts.js';
import type { Storage } from '../../storage/index.js';
import { getItem, upsertItem, type StacDoc } from '../../storage/stac.js';
import { getTask, recordAttempt, recordTaskStage } from '../../storage/tasks.js';
import { countTileResults, getTileScene, listTileResults, putProduct, putTileResult, putTileScene, sceneFileKey, type TileSceneRow } from '../../storage/tile-results.js';
import { ingestMetrics } from '../../storage/weather-metrics.js';
import { etagOf } from '../../storage/file-store.js';
import { TimeSlicer } from '../../runtime/time-slice.js';
import type { BandKind, SceneBand, SceneGeo } from '../types.js';
import { mergeScene } from './finalize-scene.js';
import { reduceFactor, tileGrid } from './grid.js';
import type { SceneStats, StoredTile } from './merge.js';
import { metricRows, stormWarnings, type TrackedCyclone } from './outputs.js';
import { trackFix } from './storm-tracks.js';
import { processTile, type TileStats } from './process-tile.js';
import { renderProducts, type RenderedProduct } from './render.js';
import type { SceneSource } from './scene-source.js';
import type { TileKernels } from './stages.js';

export interface TilePipelineSettings {
  tileSize: number;
  halo: number;
  productMaxPx: number;
  stormMinOvershoots: number;
  /** Scenes a cyclone track needs before it warns (config tile.stormTrackMinScenes). */
  stormTrackMinScenes: number;
  metricsRetentionMonths: number;
  /** Tiles computed at once in this process. */
  concurrency: number;
  /** Cloud-top height profile (config tile.profile). */
  profile: 'us1976' | 'zonal';
}

export interface TilePipelineDeps {
  storage: Storage;
  transport: Transport;
  names: Names;
  source: SceneSource;
  kernels: TileKernels;
  /** The L2 cloud mask (CloudSegmenter.segment), loaded on first use. */
  segment(bt: Float32Array, width: number, height: number): Promise<Uint8Array>;
  hostId: string;
  logger: Logger;
  settings: TilePipelineSettings;
}

/** Scene facts kept in tile_scenes.scene (JSON), so the finalize does not re-read the file. */
interface SceneFacts {
  instrument: string;
  platform: string;
  band: number;
  kind: BandKind;
  wavelengthUm: number;
  start: string;
  end: string;
  geo: SceneGeo;
}

export interface TilePipelineStats {
  scenes: number;
  tiles: number;
  finalized: number;
  warnings: number;
}

/** Bounds the CPU-heavy part (a tile's kernels and UNet) of the tasks a host runs at once. */
class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly max: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

export class TilePipeline {
  readonly stats: TilePipelineStats = { scenes: 0, tiles: 0, finalized: 0, warnings: 0 };
  private readonly d: TilePipelineDeps;
  private readonly limiter: Limiter;

  constructor(deps: TilePipelineDeps) {
    this.d = deps;
    this.limiter = new Limiter(Math.max(1, deps.settings.concurrency));
  }

  // ---- imagery.scene ------------------------------------------------------

  async scene(p: ImagerySceneTask, ctx: TaskContext): Promise<void> {
    const { db, cache } = this.d.storage;
    const sceneTaskId = ctx.task.id;
    await recordAttempt(db, sceneTaskId, ctx.deliveryCount);
    try {
      const item = await this.item(p.collection, p.itemId);
      const { fingerprint, band } = await this.d.source.load(p.collection, item);
      ctx.heartbeat();
      const { tileSize, halo, productMaxPx } = this.d.settings;
      const tiles = tileGrid(band.width, band.height, tileSize, halo);
      const row: TileSceneRow = {
        taskId: sceneTaskId,
        collection: p.collection,
        itemId: p.itemId,
        fingerprint,
        width: band.width,
        height: band.height,
        tileSize,
        halo,
        tileCount: tiles.length,
        reduce: reduceFactor(band.width, band.height, tileSize, productMaxPx),
        scene: sceneFacts(band) as unknown as Record<string, unknown>,
      };
      const task = await getTask(db, sceneTaskId);
      const existing = await getTileScene(db, sceneTaskId);
      if (task?.state === 'done' && existing?.fingerprint === fingerprint) {
        ctx.log.info({ item: p.itemId }, 'scene already processed from these files; nothing to do');
        return;
      }
      const { row: stored, reset } = await db.transaction((tx) => putTileScene(tx, row));
      if (reset) ctx.log.info({ item: p.itemId, fingerprint }, 'item names new files: its earlier tile results were dropped');
      // l1 before the tiles go out: a fast tile host may move the task to l2 before this handler returns.
      await recordTaskStage(db, cache, sceneTaskId, 'l1');
      // A priority scene's tiles stay on the high queue; every other scene's go to weather.
      const queue = workQueue(ctx);
      // Enqueue from the stored row: a replay keeps the tiling it started with.
      const payloads = tileGrid(stored.width, stored.height, stored.tileSize, stored.halo).map((t) => t.index);
      for (let i = 0; i < payloads.length; i += 64) {
        await Promise.all(
          payloads.slice(i, i + 64).map((index) =>
            enqueueTask(this.d.transport, {
              queue,
              id: imageryTileTaskId(p.collection, p.itemId, stored.fingerprint, index),
              kind: IMAGERY_TILE_KIND,
              payload: { v: 1, sceneTaskId, collection: p.collection, itemId: p.itemId, fingerprint: stored.fingerprint, index },
              payloadType: ImageryTileTaskMessage,
            }),
          ),
        );
        ctx.heartbeat();
      }
      // Every tile may already be stored (a replay): the finalize would otherwise never be enqueued.
      await this.finalizeWhenComplete(stored, ctx);
      this.stats.scenes++;
      ctx.log.info({ item: p.itemId, width: stored.width, height: stored.height, tiles: stored.tileCount, reduce: stored.reduce }, 'scene tiled');
    } catch (err) {
      await this.failed(ctx, sceneTaskId, 'scene', err);
      throw err;
    }
  }

  // ---- imagery.tile -------------------------------------------------------

  async tile(p: ImageryTileTask, ctx: TaskContext): Promise<void> {
    const { db } = this.d.storage;
    try {
      const scene = await getTileScene(db, p.sceneTaskId);
      if (!scene) throw new StarWeatherError('SW_ERR_NOT_FOUND', `scene ${p.sceneTaskId} has no tiling recorded`);
      if (scene.fingerprint !== p.fingerprint) {
        ctx.log.info({ tile: p.index }, 'stale tile: the scene was re-registered with other files; dropped');
        return;
      }
      if (p.index >= scene.tileCount) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `tile ${p.index} of a ${scene.tileCount}-tile scene`);
      const stored = await db.query('SELECT 1 FROM tile_results WHERE task_id = $1 AND tile_index = $2', [p.sceneTaskId, p.index]);
      if (stored.rowCount === 0) {
        const item = await this.item(p.collection, p.itemId);
        const { fingerprint, band } = await this.d.source.load(p.collection, item);
        if (fingerprint !== p.fingerprint) {
          ctx.log.info({ tile: p.index }, 'stale tile: the item names other files now; dropped');
          return;
        }
        const spec = tileGrid(scene.width, scene.height, scene.tileSize, scene.halo)[p.index]!;
        const out = await this.limiter.run(() => processTile(band, spec, scene.reduce, { kernels: this.d.kernels, segment: this.d.segment, profile: this.d.settings.profile, beat: () => ctx.heartbeat() }));
        const fresh = await putTileResult(db, {
          taskId: p.sceneTaskId,
          index: p.index,
          fingerprint: p.fingerprint,
          stats: out.stats as unknown as Record<string, unknown>,
          bt: out.bt,
          cth: out.cth,
          cloud: out.cloud,
          host: this.d.hostId,
          delivery: ctx.deliveryCount,
        });
        this.stats.tiles++;
        ctx.log.debug({ tile: p.index, fresh, ms: out.stats.ms }, 'tile processed');
      }
      await this.finalizeWhenComplete(scene, ctx);
    } catch (err) {
      await this.failed(ctx, p.sceneTaskId, `tile ${p.index}`, err);
      throw err;
    }
  }

  /**
   * Called after every stored tile (its own commit is visible to its own
   * count), so of two hosts storing the last two tiles at once at least the
   * later one counts them all; both may enqueue, and the deterministic id
   * makes that one task.
   */
  private async finalizeWhenComplete(scene: TileSceneRow, ctx: TaskContext): Promise<void> {
    const { db, cache } = this.d.storage;
    const n = await countTileResults(db, scene.taskId, scene.fingerprint);
    if (n < scene.tileCount) return;
    await recordTaskStage(db, cache, scene.taskId, 'l2');
    await enqueueTask(this.d.transport, {
      queue: workQueue(ctx),
      id: imageryFinalizeTaskId(scene.collection, scene.itemId, scene.fingerprint),
      kind: IMAGERY_FINALIZE_KIND,
      payload: { v: 1, sceneTaskId: scene.taskId, collection: scene.collection, itemId: scene.itemId, fingerprint: scene.fingerprint },
      payloadType: ImageryFinalizeTaskMessage,
    });
    ctx.log.debug({ scene: scene.taskId }, 'all tiles stored; finalize enqueued');
  }

  // ---- imagery.finalize ---------------------------------------------------

  async finalize(p: ImageryFinalizeTask, ctx: TaskContext): Promise<void> {
    const { db, cache, files } = this.d.storage;
    try {
      const scene = await getTileScene(db, p.sceneTaskId);
      if (!scene) throw new StarWeatherError('SW_ERR_NOT_FOUND', `scene ${p.sceneTaskId} has no tiling recorded`);
      if (scene.fingerprint !== p.fingerprint) {
        ctx.log.info('stale finalize: the scene was re-registered with other files; dropped');
        return;
      }
      const facts = scene.scene as unknown as SceneFacts;
      const rows = await listTileResults(db, p.sceneTaskId, p.fingerprint);
      if (rows.length < scene.tileCount) throw new StarWeatherError('SW_ERR_NOT_FOUND', `finalize: ${rows.length} of ${scene.tileCount} tile results stored`);
      const tiles: StoredTile[] = rows.map((r) => ({ index: r.index, stats: r.stats as unknown as TileStats, bt: r.bt, cth: r.cth, cloud: r.cloud }));
      // One slicer for the whole finalize: its JS steps share the budget between turns of the loop.
      const slicer = new TimeSlicer();
      // Merge, and the scene-level L3: cyclones need the whole storm, which no single tile holds.
      const { merged, stats, cyclones } = await mergeScene(
        { width: scene.width, height: scene.height, reduce: scene.reduce, kind: facts.kind, geo: facts.geo, tiles },
        (bt, lat, lon, w, h) => this.limiter.run(() => this.d.kernels.cyclones(bt, lat, lon, w, h)),
        { slicer, lap: () => ctx.heartbeat() },
      );
      await recordTaskStage(db, cache, p.sceneTaskId, 'l3');
      ctx.heartbeat();

      const observedAt = new Date(facts.start);
      const tileStats = tiles.map((t) => t.stats);
      const metrics = metricRows(
        { observedAt, satellite: facts.platform, band: facts.band, tileSize: scene.tileSize, taskId: p.sceneTaskId, stormMinOvershoots: this.d.settings.stormMinOvershoots },
        tileStats,
        stats,
        cyclones,
      );
      const ingest = await ingestMetrics(db, metrics, { retentionMonths: this.d.settings.metricsRetentionMonths });
      if (ingest.rejected > 0) ctx.log.warn({ rejected: ingest.rejected, reasons: ingest.reasons }, 'some metric rows were refused');

      // Each fix joins its storm track (one transaction per fix; see storm-tracks.ts for why that is race-free).
      const tracked: TrackedCyclone[] = [];
      for (const c of cyclones) {
        const r = await trackFix(db, { collection: p.collection, itemId: p.itemId, platform: facts.platform, observedAt }, c);
        tracked.push({ fix: c, trackId: r.track.id, trackScenes: r.track.scenes, finalT: r.fix.finalT, ci: r.fix.ci, vmaxKt: r.fix.vmaxKt, mslpHpa: r.fix.mslpHpa });
      }
      ctx.heartbeat();
      const warnings = stormWarnings(p.collection, p.itemId, facts.platform, observedAt, tileStats, tracked, this.d.settings.stormMinOvershoots, this.d.settings.stormTrackMinScenes);
      for (const w of warnings) {
        const raisedAt = observedAt;
        await raiseAlert(db, { id: w.id, kind: w.kind, severity: w.severity, message: w.message, payload: w.payload, raisedAt });
        await enqueueTask(this.d.transport, {
          queue: 'high',
          id: stormWarningTaskId(w.id),
          kind: STORM_WARNING_KIND,
          payload: { v: 1, alertId: w.id, kind: w.kind, severity: w.severity, message: w.message, raisedAt: raisedAt.toISOString(), payload: w.payload },
          payloadType: StormWarningTaskMessage,
        });
      }

      const products = facts.kind === 'ir' ? await renderProducts(merged, slicer) : [];
      for (const prod of products) {
        const etag = etagOf(prod.data);
        await putProduct(db, { collection: p.collection, itemId: p.itemId, name: prod.name, mediaType: prod.mediaType, data: prod.data, etag });
        // The file store is this node's cache of the database copy; a failed write only costs a later read.
        await files.put(sceneFileKey('products', p.collection, p.itemId, prod.name), prod.data).catch((err) => ctx.log.warn({ err: errorMessage(err) }, 'product not cached'));
      }
      ctx.heartbeat();
      await this.updateItem(p.collection, p.itemId, scene, stats, products, cyclones.length, warnings.length);
      await recordTaskStage(db, cache, p.sceneTaskId, 'done');
      this.stats.finalized++;
      this.stats.warnings += warnings.length;
      ctx.log.info({ item: p.itemId, tiles: scene.tileCount, metrics: ingest.inserted, warnings: warnings.length, cyclones: cyclones.length, products: products.length }, 'scene done');
    } catch (err) {
      await this.failed(ctx, p.sceneTaskId, 'finalize', err);
      throw err;
    }
  }

  /** The item gets its product assets and the QA summary; a replay writes the same JSON (upsertItem then changes nothing). */
  private async updateItem(collection: string, itemId: string, scene: TileSceneRow, stats: SceneStats, products: readonly RenderedProduct[], cyclones: number, warnings: number): Promise<void> {
    const { db } = this.d.storage;
    const item = await this.item(collection, itemId);
    const assets = { ...((item.assets ?? {}) as Record<string, unknown>) };
    for (const prod of products) {
      assets[prod.asset] = {
        href: productHref(collection, itemId, prod.name),
        type: prod.mediaType,
        title: prod.title,
        roles: ['visual'],
        'proj:shape': [prod.height, prod.width],
      };
    }
    const qa = stats.qa;
    const properties = {
      ...((item.properties ?? {}) as Record<string, unknown>),
      'starweather:qa': {
        total: qa.total,
        valid: qa.valid,
        fill: qa.fill,
        dqf: qa.dqf,
        range: qa.range,
        isolated: qa.isolated,
        space: qa.space,
        validFraction: qa.total - qa.space > 0 ? round(qa.valid / (qa.total - qa.space), 6) : null,
      },
      'starweather:tiles': { count: scene.tileCount, size: scene.tileSize, halo: scene.halo, reduce: scene.reduce },
      'starweather:summary': {
        cloudFraction: stats.cloudFraction === null ? null : round(stats.cloudFraction, 6),
        cthMeanM: stats.cthMeanM === null ? null : Math.round(stats.cthMeanM),
        cthP90M: stats.cthP90M,
        cthMaxM: stats.cthMaxM === null ? null : Math.round(stats.cthMaxM),
        btMinK: stats.btMinK === null ? null : round(stats.btMinK, 2),
        deepConvectionPx: stats.deepConvection,
        overshootingTopsPx: stats.overshootingTops,
        cyclones,
        stormWarnings: warnings,
      },
    };
    await upsertItem(db, { ...item, properties, assets });
  }

  // ---- storm.warning ------------------------------------------------------

  async stormWarning(p: StormWarningTask, ctx: TaskContext): Promise<void> {
    const msg = AlertRaisedMessage.encode({ v: 1, id: p.alertId, kind: p.kind, severity: p.severity, noradId: null, message: p.message, raisedAt: p.raisedAt, payload: p.payload });
    this.d.transport.publish(this.d.names.subjects.alerts, msg);
    // Acked only once the server has it: a crash before the flush redelivers, and subscribers de-duplicate on the id.
    await this.d.transport.flush();
    ctx.log.info({ alert: p.alertId, severity: p.severity }, 'storm warning published');
  }

  // ---- shared -------------------------------------------------------------

  private async item(collection: string, itemId: string): Promise<StacDoc> {
    const item = await getItem(this.d.storage.db, collection, itemId);
    if (!item) throw new StarWeatherError('SW_ERR_NOT_FOUND', `STAC item ${collection}/${itemId} not found`);
    return item;
  }

  /** On the last delivery the scene task is failed with the reason; before that, the attempt is noted. */
  private async failed(ctx: TaskContext, sceneTaskId: string, step: string, err: unknown): Promise<void> {
    const reason = `${step}: ${errorCode(err)}: ${errorMessage(err)}`;
    const { db, cache } = this.d.storage;
    try {
      if (ctx.task.id === sceneTaskId) await recordAttempt(db, sceneTaskId, ctx.deliveryCount, reason);
      // Only when the worker gives up on it: a transient failure (a dependency
      // down) is retried without spending a delivery, on the last one too.
      if (ctx.isFinal(err)) await recordTaskStage(db, cache, sceneTaskId, 'failed', { error: reason });
    } catch (e) {
      ctx.log.warn({ err: errorMessage(e) }, 'could not record the failure on the scene task');
    }
  }
}

/** Where the gateway serves a product (actors/gateway/products.ts); a root-relative href, resolved against the gateway that serves the item. */
export function productHref(collection: string, itemId: string, name: string): string {
  return `/products/${encodeURIComponent(collection)}/${encodeURIComponent(itemId)}/${name}`;
}

/** Tiles and the finalize follow their scene: high for a priority scene, weather otherwise. */
function workQueue(ctx: TaskContext): 'high' | 'weather' {
  return ctx.task.queue === 'high' ? 'high' : 'weather';
}

function sceneFacts(b: SceneBand): SceneFacts {
  return { instrument: b.instrument, platform: b.platform, band: b.band, kind: b.kind, wavelengthUm: b.wavelengthUm, start: b.start.toISOString(), end: b.end.toISOString(), geo: b.geo };
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export const TILE_TASK_KINDS = [IMAGERY_SCENE_KIND, IMAGERY_TILE_KIND, IMAGERY_FINALIZE_KIND, STORM_WARNING_KIND] as const;
