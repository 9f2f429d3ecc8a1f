/**
 * The tile kernels behind one interface, in two implementations that agree
 * within the tolerances test/unit/tile-kernels*.test.ts states:
 * `kernelsTs` (the plain TypeScript references, synchronous work wrapped in
 * promises) and `kernelsNative()` (the C++ addon on the libuv pool; throws
 * SW_ERR_CONFIG when the addon is not built). `loadKernels('auto')` prefers
 * native and falls back to TS.
 */
import type { BandKind, Calibration, QaCounts } from '../types.js';
import { calibrate, type L1Result } from './calibrate.js';
import { qaCheck, type QaOptions } from './qa.js';
import { cloudTop, type CloudTopOptions, type CloudTopResult } from './cloud-top.js';
import { convection, type ConvectionOptions, type ConvectionResult } from './convection.js';
import { cyclones, type CycloneEstimate, type CycloneOptions } from './cyclones.js';
import { loadNativeAddon, nativeKernelsFrom } from './native.js';

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

let native: Kernels | null = null;

/** The native kernels; throws StarWeatherError SW_ERR_CONFIG if the addon is missing or does not load. */
export function kernelsNative(): Kernels {
  if (native === null) native = nativeKernelsFrom(loadNativeAddon());
  return native;
}

/** 'auto': native when it loads, else the TS references. */
export function loadKernels(which: 'native' | 'ts' | 'auto' = 'auto'): Kernels {
  if (which === 'ts') return kernelsTs;
  if (which === 'native') return kernelsNative();
  try {
    return kernelsNative();
  } catch {
    return kernelsTs;
  }
}

export type { L1Result } from './calibrate.js';
export type { QaOptions } from './qa.js';
export type { CloudTopOptions, CloudTopResult } from './cloud-top.js';
export type { ConvectionOptions, ConvectionResult, ConvectionCounts } from './convection.js';
export type { CycloneEstimate, CycloneMeasurement, CycloneOptions } from './cyclones.js';
