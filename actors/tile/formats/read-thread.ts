/**
 * readScene on a worker thread. Decoding is synchronous WASM and JS (h5wasm
 * for ABI netCDF4, the bzip2 and HSD readers for AHI): 0.4 s for a full
 * disk on an idle 2-core box and several times that under load, which on the
 * host's loop would stall heartbeats, lease renewals and acks (issue 10). The
 * thread is started per scene and ends with it: a scene is decoded once per
 * process (SceneSource keeps it), and h5wasm's memory goes with the thread.
 * The result and its errors are readScene's (ImageryFormatError, SW_ERR_DECODE).
 */
import { ThreadClient } from '../thread-rpc.js';
import type { SceneBand } from '../types.js';
import type { SceneFile } from './index.js';

export async function readSceneOffLoop(files: ReadonlyArray<SceneFile>): Promise<SceneBand> {
  const client = new ThreadClient(new URL('./read-worker.js', import.meta.url), 'scene decoder');
  try {
    // Copied to the thread (the caller's buffers may be cached or pooled): a memcpy, milliseconds for the largest file.
    return await client.call<SceneBand>('read', files.map((f) => ({ name: f.name, bytes: f.bytes })));
  } finally {
    await client.close();
  }
}
