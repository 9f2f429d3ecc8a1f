/**
 * Worker-thread side of readSceneOffLoop (read-thread.ts): one scene decode
 * (h5wasm for ABI netCDF4, bzip2 + HSD for AHI), the rasters moved back.
 */
import { serve } from '../thread-rpc.js';
import { readScene, type SceneFile } from './index.js';

serve({
  async read(files: SceneFile[]) {
    // Private copies of the shared bytes (on this thread): the readers may hand views to APIs that refuse shared memory (TextDecoder).
    const band = await readScene(files.map((f) => ({ name: f.name, bytes: new Uint8Array(f.bytes) })));
    const transfer = [band.counts.buffer as ArrayBuffer];
    if (band.dqf && band.dqf.buffer !== band.counts.buffer) transfer.push(band.dqf.buffer as ArrayBuffer);
    return { value: band, transfer };
  },
});
