/**
 * Which kernels a tile host runs (config tile.kernels): the native addon
 * (libuv pool; the event loop stays free), the TypeScript reference, or
 * auto: native when the addon loads, else the reference, with a note for
 * /health so an operator sees that a host runs the slow path.
 */
import { StarWeatherError, errorMessage } from '../../../protocol/errors.js';
import { kernelsNative, kernelsTs } from '../kernels/index.js';
import type { TileKernels } from './stages.js';

export async function loadTileKernels(mode: 'auto' | 'native' | 'ts'): Promise<{ kernels: TileKernels; note?: string }> {
  if (mode === 'ts') return { kernels: kernelsTs };
  try {
    return { kernels: kernelsNative() };
  } catch (err) {
    if (mode === 'native') throw new StarWeatherError('SW_ERR_CONFIG', `native tile kernels unavailable: ${errorMessage(err)}`, { cause: err });
    return { kernels: kernelsTs, note: `native tile kernels unavailable (${errorMessage(err).slice(0, 200)}); running the TypeScript reference kernels (npm run build:native)` };
  }
}
