/**
 * The cloud UNet on its own worker thread: the same CloudSegmenter (same
 * model, options and onnxruntime session settings, so the same masks bit for
 * bit), but onnxruntime-node's session.run — a synchronous call of ~0.2 s
 * per 640² window on 2 cores, more under load — runs off the host's event
 * loop, which keeps heartbeats, lease renewals and acks on time (issue 10).
 * What stays on the loop is one copy of the tile's BT (~1 MB, ~0.3 ms).
 */
import { StarWeatherError } from '../../../protocol/errors.js';
import { ThreadClient } from '../thread-rpc.js';
import type { CloudSegmenterOptions, ModelCard } from './unet.js';

interface Info {
  card: ModelCard;
  threads: number;
  tileSize: number;
  margin: number;
  batchSize: number;
}

export class ThreadedCloudSegmenter {
  readonly card: ModelCard;
  readonly threads: number;
  readonly tileSize: number;
  readonly margin: number;
  readonly batchSize: number;
  private readonly client: ThreadClient;

  private constructor(client: ThreadClient, info: Info) {
    this.client = client;
    this.card = info.card;
    this.threads = info.threads;
    this.tileSize = info.tileSize;
    this.margin = info.margin;
    this.batchSize = info.batchSize;
  }

  /** Starts the thread and loads the model there; a model that does not load rejects as CloudSegmenter.load does (same code). */
  static async load(opts: CloudSegmenterOptions = {}): Promise<ThreadedCloudSegmenter> {
    const client = new ThreadClient(new URL('./unet-worker.js', import.meta.url), 'cloud model', opts);
    try {
      return new ThreadedCloudSegmenter(client, await client.call<Info>('info', null));
    } catch (err) {
      await client.close();
      throw err;
    }
  }

  /** The worker thread has exited (a crash): its owner loads a new one. */
  get dead(): boolean {
    return this.client.dead !== null;
  }

  /** Cloud mask (CLOUD.*) for a row-major BT raster in K, as CloudSegmenter.segment. */
  segment(btK: Float32Array, width: number, height: number): Promise<Uint8Array> {
    if (!(btK instanceof Float32Array)) {
      return Promise.reject(new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `BT raster must be a Float32Array of ${width}×${height} = ${width * height} values`));
    }
    // A copy moves to the thread: the caller keeps using its raster (L3 reads it), and it may be a view on the native pool.
    const bt = btK.slice();
    return this.client.call<Uint8Array>('segment', { bt, width, height }, [bt.buffer as ArrayBuffer]);
  }

  async close(): Promise<void> {
    if (!this.client.dead) await this.client.call('close', null).catch(() => undefined);
    await this.client.close();
  }
}
