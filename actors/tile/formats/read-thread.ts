/**
 * readScene on a worker thread. Decoding is synchronous WASM and JS (h5wasm
 * for ABI netCDF4, the bzip2 and HSD readers for AHI): 0.4 s for a full
 * disk on an idle 2-core box and several times that under load, which on the
 * host's loop would stall heartbeats, lease renewals and acks (issue 10). The
 * thread is started per scene and ends with it: a scene is decoded once per
 * process (SceneSource keeps it), and h5wasm's memory goes with the thread.
 * The result and its errors are readScene's (ImageryFormatError, SW_ERR_DECODE).
 *
 * The files reach the thread through shared memory, filled in slices: posting
 * a 25 MB full-disk file would copy it in one stretch of the loop (40-60 ms
 * measured under load, mostly page faults), and the caller's buffers must
 * stay usable (they may be the file store's), so they are not transferred.
 */
import { TimeSlicer } from '../../runtime/time-slice.js';
import { ThreadClient } from '../thread-rpc.js';
import type { SceneBand } from '../types.js';
import type { SceneFile } from './index.js';

/** Bytes copied between two looks at the clock (well under a millisecond). */
const COPY_STEP = 1 << 20;

/** `bytes` in a SharedArrayBuffer, copied a step at a time with turns for the loop. */
async function shared(bytes: Uint8Array, slicer: TimeSlicer): Promise<Uint8Array> {
  const out = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
  for (let at = 0; at < bytes.byteLength; at += COPY_STEP) {
    out.set(bytes.subarray(at, Math.min(bytes.byteLength, at + COPY_STEP)), at);
    if (slicer.due()) await slicer.pause();
  }
  return out;
}

export async function readSceneOffLoop(files: ReadonlyArray<SceneFile>): Promise<SceneBand> {
  const slicer = new TimeSlicer();
  const sent: SceneFile[] = [];
  for (const f of files) sent.push({ name: f.name, bytes: await shared(f.bytes, slicer) });
  const client = new ThreadClient(new URL('./read-worker.js', import.meta.url), 'scene decoder');
  try {
    return await client.call<SceneBand>('read', sent);
  } finally {
    await client.close();
  }
}
