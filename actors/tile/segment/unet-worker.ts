/**
 * Worker-thread side of ThreadedCloudSegmenter (unet-thread.ts): holds one
 * CloudSegmenter and runs its segment() here, so onnxruntime-node's
 * synchronous session.run never holds the host's event loop.
 */
import { workerData } from 'node:worker_threads';
import { serve } from '../thread-rpc.js';
import { CloudSegmenter, type CloudSegmenterOptions } from './unet.js';

const model = CloudSegmenter.load(workerData as CloudSegmenterOptions);
// A failed load is reported by the 'info' call; nothing else waits on it.
model.catch(() => undefined);

serve({
  async info() {
    const m = await model;
    return { value: { card: m.card, threads: m.threads, tileSize: m.tileSize, margin: m.margin, batchSize: m.batchSize } };
  },
  async segment(args: { bt: Float32Array; width: number; height: number }) {
    const mask = await (await model).segment(args.bt, args.width, args.height);
    return { value: mask, transfer: [mask.buffer as ArrayBuffer] };
  },
  async close() {
    await (await model.catch(() => null))?.close();
    return { value: null };
  },
});
