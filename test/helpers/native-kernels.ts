/**
 * The native kernels for the kernel tests, or why they are absent. An
 * install without a C++ toolchain has no addon (native/build.mjs says so and
 * exits 0); the kernel tests then still hold the TypeScript kernels to their
 * independent oracles (satpy's vectors, hand-computed values, the profile
 * inversion) and skip the native-against-TS comparisons, with this reason.
 * config tile.nativeAddon (STARWEATHER_TILE_NATIVE_ADDON) names the addon
 * file as it does for a tile host; a path that does not exist hides it
 * (.ci/run's install check). CI separately requires the addon to have been
 * built, so a broken native build fails there instead of skipping.
 */
import { loadConfig } from '../../config/load.js';
import { kernelsNative, type Kernels } from '../../actors/tile/kernels/index.js';
import { ADDON_PATH, loadNativeAddon, type NativeAddon } from '../../actors/tile/kernels/native.js';
import { errorMessage } from '../../protocol/errors.js';

export const addonPath = loadConfig().tile.nativeAddon || ADDON_PATH;

let kernels: Kernels | null = null;
let addon: NativeAddon | null = null;
let why: string | false = false;
try {
  addon = loadNativeAddon(addonPath);
  kernels = kernelsNative(addonPath);
} catch (err) {
  why = `no native addon, TypeScript kernels only: ${errorMessage(err)}`;
}

/** The native kernels, or null when the addon is absent (then `skipNative` says why). */
export const nativeKernels = kernels;
export const nativeAddon = addon;
/** For `test(name, { skip: skipNative }, ...)`: false when the addon loaded. */
export const skipNative: string | false = why;

/** The native kernels; only called inside tests skipped when they are absent. */
export function native(): Kernels {
  if (kernels === null) throw new Error(`native kernels absent (${why}): this test should have been skipped`);
  return kernels;
}

export function rawAddon(): NativeAddon {
  if (addon === null) throw new Error(`native addon absent (${why}): this test should have been skipped`);
  return addon;
}
