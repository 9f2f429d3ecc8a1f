/**
 * L2 cloud segmentation: the project's UNet (actors/tile/model/, trained on
 * the synthetic generator's labelled scenes) run in onnxruntime-node with
 * overlap-tile inference.
 *
 * The ONNX graph takes band-13 brightness temperature in kelvin as it comes
 * from L1 (NaN = no data; the graph normalises and fills it itself, so the
 * training script is the one place that defines the input scaling) and gives
 * one cloud logit per pixel. Its model card (cloud-unet.json, written by the
 * same export) says how far the network sees, which sets the tile margin.
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { ClosedError, StarWeatherError } from '../../../protocol/errors.js';
import { CLOUD } from '../types.js';
import { fillWindow, planTiles, type TileWindow } from './tiling.js';

export const DEFAULT_MODEL_PATH = fileURLToPath(new URL('../../../../actors/tile/model/cloud-unet.onnx', import.meta.url));

/** What the export writes next to the .onnx (cloud-unet.json); the fields inference needs are checked on load. */
export interface ModelCard {
  format: 'starweather-cloud-unet';
  version: number;
  input: string;
  output: string;
  /** Window origins and sizes must be multiples of this (2^pooling levels). */
  align: number;
  /** Receptive-field radius (px): an output pixel depends on inputs at most this far away. */
  receptiveRadius: number;
  [key: string]: unknown;
}

export interface CloudSegmenterOptions {
  /** The .onnx file; its model card is the same path with .json. Default: the shipped model. */
  modelPath?: string;
  /** Intra-op threads; default os.availableParallelism(). */
  threads?: number;
  /** Core tile edge (px); default 512. Rounded to the model's alignment. */
  tileSize?: number;
  /** Windows per runtime call; default 1. */
  batchSize?: number;
}

/** A model file that is missing, unreadable, not ONNX, or not the cloud UNet. */
export class CloudModelError extends StarWeatherError {
  constructor(code: 'SW_ERR_NOT_FOUND' | 'SW_ERR_DECODE', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

function roundUp(v: number, m: number): number {
  return Math.ceil(v / m) * m;
}

async function readModelFile(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CloudModelError(missing ? 'SW_ERR_NOT_FOUND' : 'SW_ERR_DECODE', `cloud model ${what} ${path}: ${missing ? 'not found' : 'unreadable'}`, { cause: err });
  }
}

function parseCard(bytes: Buffer, path: string): ModelCard {
  let card: Partial<ModelCard>;
  try {
    card = JSON.parse(bytes.toString('utf8')) as Partial<ModelCard>;
  } catch (err) {
    throw new CloudModelError('SW_ERR_DECODE', `cloud model card ${path}: not JSON`, { cause: err });
  }
  const okInt = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min;
  if (card.format !== 'starweather-cloud-unet' || typeof card.input !== 'string' || typeof card.output !== 'string' || !okInt(card.align, 1) || !okInt(card.receptiveRadius, 0)) {
    throw new CloudModelError('SW_ERR_DECODE', `cloud model card ${path}: expected format starweather-cloud-unet with input, output, align and receptiveRadius`);
  }
  return card as ModelCard;
}

/** Runs the cloud UNet over a band-13 BT raster of any size. One instance per process; calls are serialised. */
export class CloudSegmenter {
  readonly card: ModelCard;
  readonly threads: number;
  readonly tileSize: number;
  readonly margin: number;
  readonly batchSize: number;
  #session: ort.InferenceSession | null;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(session: ort.InferenceSession, card: ModelCard, threads: number, tileSize: number, batchSize: number) {
    this.#session = session;
    this.card = card;
    this.threads = threads;
    this.tileSize = tileSize;
    // The smallest aligned margin that covers the receptive field: enough for stitched cores to equal a whole-scene run.
    this.margin = roundUp(card.receptiveRadius, card.align);
    this.batchSize = batchSize;
  }

  static async load(opts: CloudSegmenterOptions = {}): Promise<CloudSegmenter> {
    const modelPath = opts.modelPath ?? DEFAULT_MODEL_PATH;
    const cardPath = modelPath.replace(/\.onnx$/, '') + '.json';
    const threads = opts.threads ?? availableParallelism();
    const batchSize = opts.batchSize ?? 1;
    if (!Number.isInteger(threads) || threads < 1) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `threads must be a positive integer, got ${threads}`);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `batchSize must be a positive integer, got ${batchSize}`);
    const modelBytes = await readModelFile(modelPath, 'file');
    const card = parseCard(await readModelFile(cardPath, 'card'), cardPath);
    const tileSize = roundUp(opts.tileSize ?? 512, card.align);
    if (!(tileSize >= card.align)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `tileSize must be positive, got ${opts.tileSize}`);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(modelBytes, {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        // No busy-waiting between runs: the node's other actors share these cores (costs ~5% of UNet speed).
        extra: { session: { intra_op: { allow_spinning: '0' } } },
      });
    } catch (err) {
      throw new CloudModelError('SW_ERR_DECODE', `cloud model ${modelPath}: not a loadable ONNX model (${(err as Error).message})`, { cause: err });
    }
    if (!session.inputNames.includes(card.input) || !session.outputNames.includes(card.output)) {
      await session.release();
      throw new CloudModelError(
        'SW_ERR_DECODE',
        `cloud model ${modelPath}: graph has inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}], card expects ${card.input} → ${card.output}`,
      );
    }
    return new CloudSegmenter(session, card, threads, tileSize, batchSize);
  }

  /** Cloud mask (CLOUD.*) for a row-major BT raster in K; NaN pixels are CLOUD.NODATA. */
  async segment(btK: Float32Array, width: number, height: number): Promise<Uint8Array> {
    const logits = await this.logits(btK, width, height);
    const mask = new Uint8Array(width * height);
    for (let i = 0; i < mask.length; i++) {
      const b = btK[i]!;
      mask[i] = b !== b ? CLOUD.NODATA : logits[i]! > 0 ? CLOUD.CLOUD : CLOUD.CLEAR;
    }
    return mask;
  }

  /**
   * Per-pixel cloud logits (> 0 ⇔ cloud probability > 0.5), stitched from
   * overlapping windows. `tileSize` ≥ the scene gives one whole-scene run.
   */
  logits(btK: Float32Array, width: number, height: number): Promise<Float32Array> {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
      return Promise.reject(new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `scene size must be positive integers, got ${width}×${height}`));
    }
    if (!(btK instanceof Float32Array) || btK.length !== width * height) {
      return Promise.reject(new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `BT raster must be a Float32Array of ${width}×${height} = ${width * height} values, got ${btK?.length}`));
    }
    // One run at a time: the session already uses every thread we gave it.
    const run = this.#queue.then(() => this.#logits(btK, width, height));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #logits(btK: Float32Array, width: number, height: number): Promise<Float32Array> {
    const windows = planTiles(width, height, { core: this.tileSize, margin: this.margin, align: this.card.align });
    const out = new Float32Array(width * height);
    const first = windows[0]!;
    const winPx = first.width * first.height;
    for (let i = 0; i < windows.length; i += this.batchSize) {
      const session = this.#session;
      if (session === null) throw new ClosedError('cloud segmenter');
      const batch = windows.slice(i, i + this.batchSize);
      const input = new Float32Array(batch.length * winPx);
      batch.forEach((w, k) => fillWindow(btK, width, height, w, input, k * winPx));
      const feeds = { [this.card.input]: new ort.Tensor('float32', input, [batch.length, 1, first.height, first.width]) };
      const result = await session.run(feeds);
      const logit = result[this.card.output]!.data as Float32Array;
      batch.forEach((w, k) => stitchCore(logit, k * winPx, w, out, width));
      // onnxruntime-node runs a session on the calling thread; yield between
      // windows so a long scene does not starve heartbeats and acks.
      await new Promise((r) => setImmediate(r));
    }
    return out;
  }

  async close(): Promise<void> {
    const session = this.#session;
    this.#session = null;
    await this.#queue;
    await session?.release();
  }
}

function stitchCore(logit: Float32Array, offset: number, w: TileWindow, out: Float32Array, width: number): void {
  const dx = w.coreCol0 - w.col0;
  const dy = w.coreRow0 - w.row0;
  for (let y = 0; y < w.coreHeight; y++) {
    const s = offset + (dy + y) * w.width + dx;
    out.set(logit.subarray(s, s + w.coreWidth), (w.coreRow0 + y) * width + w.coreCol0);
  }
}
