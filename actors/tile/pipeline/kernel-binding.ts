/**
 * Which kernels a tile host runs (config tile.kernels): the native addon
 * (libuv pool; the event loop stays free), the TypeScript reference, or
 * auto: native when the addon loads, else the reference, with a note for
 * /health so an operator sees that a host runs the slow path. The reference
 * runs on worker threads here (kernels/ts-thread.ts): synchronous on the
 * host's loop it would hold heartbeats and leases for hundreds of ms a tile.
 */
import { StarWeatherError, errorMessage } from '../../../protocol/errors.js';
import { kernelsNative } from '../kernels/index.js';
import { kernelsTsThreaded } from '../kernels/ts-thread.js';
import type { TileKernels } from './stages.js';

export async function loadTileKernels(mode: 'auto' | 'native' | 'ts'): Promise<{ kernels: TileKernels; note?: string }> {
  if (mode === 'ts') return { kernels: kernelsTsThreaded() };
  try {
    return { kernels: kernelsNative() };
  } catch (err) {
    if (mode === 'native') throw new StarWeatherError('SW_ERR_CONFIG', `native tile kernels unavailable: ${errorMessage(err)}`, { cause: err });
    return { kernels: kernelsTsThreaded(), note: `native tile kernels unavailable (${errorMessage(err).slice(0, 200)}); running the TypeScript reference kernels on worker threads (npm run build:native)` };
  }
}
