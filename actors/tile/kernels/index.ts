/**
 * The tile kernels behind one interface, in two implementations that agree
 * within the tolerances test/unit/tile-kernels*.test.ts states:
 * `kernelsTs` (the plain TypeScript references, synchronous work wrapped in
 * promises) and `kernelsNative()` (the C++ addon on the libuv pool; throws
 * SW_ERR_CONFIG when the addon is not built or does not load).
 * `loadKernels('auto')` prefers native and falls back to TS; an install
 * without a C++ toolchain has no addon and runs TS (native/build.mjs).
 */
import type { BandKind, Calibration, QaCounts } from '../types.js';
import { calibrate, type L1Result } from './calibrate.js';
import { qaCheck, type QaOptions } from './qa.js';
import { cloudTop, type CloudTopOptions, type CloudTopResult } from './cloud-top.js';
import { convection, type ConvectionOptions, type ConvectionResult } from './convection.js';
import { cyclones, type CycloneEstimate, type CycloneOptions } from './cyclones.js';
import { ADDON_PATH, loadNativeAddon, nativeKernelsFrom } from './native.js';
import { errorMessage } from '../../../protocol/errors.js';

export interface Kernels {
  readonly name: 'ts' | 'native';
  /** L1: counts → BT (K) or reflectance, NaN + QA bits where masked. */
  calibrate(counts: Uint16Array, dqf: Uint8Array | null, cal: Calibration): Promise<L1Result>;
  /** QA: masks (NaN) and flags `values`/`qa` IN PLACE; returns the counts. */
  qaCheck(values: Float32Array, qa: Uint8Array, width: number, height: number, kind: BandKind, opts?: QaOptions): Promise<QaCounts>;
  /** L3: cloud-top temperature and height (profile inversion) for CLOUD pixels. */
  cloudTop(bt: Float32Array, cloudMask: Uint8Array, opts?: CloudTopOptions): Promise<CloudTopResult>;
  /** L3: deep convection and overshooting-top masks and counts. */
  convection(bt: Float32Array, cloudMask: Uint8Array | null, width: number, height: number, opts?: ConvectionOptions): Promise<ConvectionResult>;
  /** L3: tropical cyclones with Dvorak/ADT-style intensity. */
  cyclones(bt: Float32Array, lat: Float32Array, lon: Float32Array, width: number, height: number, opts?: CycloneOptions): Promise<CycloneEstimate[]>;
}

/** The TS references. Promise-returning for the shared interface; the work itself runs on the calling thread. */
export const kernelsTs: Kernels = {
  name: 'ts',
  calibrate: async (counts, dqf, cal) => calibrate(counts, dqf, cal),
  qaCheck: async (values, qa, width, height, kind, opts) => qaCheck(values, qa, width, height, kind, opts),
  cloudTop: async (bt, cloudMask, opts) => cloudTop(bt, cloudMask, opts),
  convection: async (bt, cloudMask, width, height, opts) => convection(bt, cloudMask, width, height, opts),
  cyclones: async (bt, lat, lon, width, height, opts) => cyclones(bt, lat, lon, width, height, opts),
};

const natives = new Map<string, Kernels>();

/**
 * The native kernels from the addon at `addonPath` (default: the build
 * output, ADDON_PATH); throws StarWeatherError SW_ERR_CONFIG if it is
 * missing or does not load.
 */
export function kernelsNative(addonPath: string = ADDON_PATH): Kernels {
  let k = natives.get(addonPath);
  if (k === undefined) {
    k = nativeKernelsFrom(loadNativeAddon(addonPath));
    natives.set(addonPath, k);
  }
  return k;
}

/** 'auto': native when it loads, else the TS references. */
export function loadKernels(which: 'native' | 'ts' | 'auto' = 'auto', addonPath: string = ADDON_PATH): Kernels {
  if (which === 'ts') return kernelsTs;
  if (which === 'native') return kernelsNative(addonPath);
  try {
    return kernelsNative(addonPath);
  } catch {
    return kernelsTs;
  }
}

/** Which kernels a tile host runs with this configuration, and why not native when it does not (GET /health `kernels`). */
export interface KernelsInUse {
  /** config tile.kernels */
  mode: 'auto' | 'native' | 'ts';
  /** native: the C++ addon; typescript: the reference kernels (worker threads on a tile host); none: native required but absent, the tile host does not start. */
  running: 'native' | 'typescript' | 'none';
  /** Why not native (absent when native runs, or when mode ts chose the reference). */
  reason?: string;
}

/** The tile hosts' choice (pipeline/kernel-binding.ts makes the same one): tries to load the addon unless mode is ts. */
export function kernelsInUse(mode: 'auto' | 'native' | 'ts', addonPath: string = ADDON_PATH): KernelsInUse {
  if (mode === 'ts') return { mode, running: 'typescript' };
  try {
    kernelsNative(addonPath);
    return { mode, running: 'native' };
  } catch (err) {
    return { mode, running: mode === 'native' ? 'none' : 'typescript', reason: errorMessage(err) };
  }
}

export type { L1Result } from './calibrate.js';
export type { QaOptions } from './qa.js';
export type { CloudTopOptions, CloudTopResult } from './cloud-top.js';
export type { ConvectionOptions, ConvectionResult, ConvectionCounts } from './convection.js';
export type { CycloneEstimate, CycloneMeasurement, CycloneOptions } from './cyclones.js';
