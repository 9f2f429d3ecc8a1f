/**
 * Which kernels a tile host runs (config tile.kernels): the native addon
 * (libuv pool; the event loop stays free), the TypeScript reference, or
 * auto: native when the addon loads, else the reference, with a note the
 * tile host logs once, so an operator sees that it runs the slow path (an
 * install without a C++ toolchain has no addon: native/build.mjs). The reference
 * runs on worker threads here (kernels/ts-thread.ts): synchronous on the
 * host's loop it would hold heartbeats and leases for hundreds of ms a tile.
 * kernels/index.ts kernelsInUse() makes the same choice for /health (`kernels`).
 */
import { StarWeatherError, errorMessage } from '../../../protocol/errors.js';
import { kernelsNative } from '../kernels/index.js';
import { ADDON_PATH } from '../kernels/native.js';
import { kernelsTsThreaded } from '../kernels/ts-thread.js';
import type { TileKernels } from './stages.js';

export async function loadTileKernels(mode: 'auto' | 'native' | 'ts', addonPath: string = ADDON_PATH): Promise<{ kernels: TileKernels; note?: string }> {
  if (mode === 'ts') return { kernels: kernelsTsThreaded() };
  try {
    return { kernels: kernelsNative(addonPath) };
  } catch (err) {
    if (mode === 'native') throw new StarWeatherError('SW_ERR_CONFIG', `native tile kernels unavailable: ${errorMessage(err)}`, { cause: err });
    return { kernels: kernelsTsThreaded(), note: `native tile kernels unavailable (${errorMessage(err).slice(0, 200)}); running the TypeScript reference kernels on worker threads (npm run build:native)` };
  }
}
