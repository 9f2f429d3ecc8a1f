/**
 * The native kernels (native/, built by `npm run build:native`): loading the
 * addon, and wrappers with the same signatures as the TS references. Each
 * wrapper validates its arguments with the reference's checks (so bad input
 * is a StarWeatherError before any native call), allocates the outputs,
 * and splits row-parallel kernels into bands that run concurrently on the
 * libuv pool; every band is one AsyncWorker working on the shared typed
 * arrays in place, writing disjoint rows.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { StarWeatherError } from '../../../protocol/errors.js';
import type { BandKind, Calibration, QaCounts } from '../types.js';
import { checkCalibrateArgs, type L1Result } from './calibrate.js';
import { checkQaArgs, type QaOptions } from './qa.js';
import { checkCloudTopArgs, type CloudTopOptions, type CloudTopResult } from './cloud-top.js';
import { checkConvectionArgs, type ConvectionOptions, type ConvectionResult } from './convection.js';
import { checkCycloneArgs, fixesFromMeasurements, unpackMeasurements, type CycloneEstimate, type CycloneOptions } from './cyclones.js';
import { COLD_RULE_CODE, PROFILE_SET } from '../physics/atmosphere.js';

/** The addon's exports (native/src/addon.cc); all return promises resolved on the JS thread. */
export interface NativeAddon {
  calibrate(counts: Uint16Array, dqf: Uint8Array | null, params: Float64Array, values: Float32Array, qa: Uint8Array, start: number, end: number): Promise<void>;
  qaFlags(values: Float32Array, qa: Uint8Array, lat: Float32Array | null, w: number, h: number, row0: number, row1: number, lo: number, hi: number, thr: number): Promise<Float64Array>;
  qaFinish(values: Float32Array, qa: Uint8Array, start: number, end: number): Promise<Float64Array>;
  cloudTop(bt: Float32Array, mask: Uint8Array, baseH: Float64Array, baseT: Float64Array, lapse: Float64Array, trop: number, coldRule: number, ctt: Float32Array, cth: Float32Array, start: number, end: number): Promise<void>;
  cloudTopZoned(bt: Float32Array, mask: Uint8Array, lat: Float32Array, month: number, baseH: Float64Array, baseT: Float64Array, lapse: Float64Array, offsets: Int32Array, trops: Int32Array, coldRule: number, ctt: Float32Array, cth: Float32Array, start: number, end: number): Promise<void>;
  convection(bt: Float32Array, mask: Uint8Array | null, w: number, h: number, row0: number, row1: number, params: Float64Array, offsets: Int32Array, deep: Uint8Array, ot: Uint8Array): Promise<Float64Array>;
  cyclones(bt: Float32Array, lat: Float32Array, lon: Float32Array, w: number, h: number, params: Float64Array): Promise<Float64Array>;
  /** Uninitialised arrays on the addon's recycled memory (pool.h); n ≥ 1. */
  allocF32(n: number): Float32Array;
  allocU8(n: number): Uint8Array;
  poolFreeBytes(): number;
  version: number;
}

/** Where `npm run build:native` puts the addon; config tile.nativeAddon names another file. */
export const ADDON_PATH = fileURLToPath(new URL('../../../../native/build/Release/starweather_kernels.node', import.meta.url));

const loaded = new Map<string, NativeAddon>();

/**
 * Loads the addon once per path (default: the build output); a missing or
 * broken build is a clear SW_ERR_CONFIG, which callers in 'auto' mode turn
 * into the TypeScript kernels (an install without a C++ toolchain has no
 * addon: native/build.mjs says so and exits 0).
 */
export function loadNativeAddon(path: string = ADDON_PATH): NativeAddon {
  const hit = loaded.get(path);
  if (hit !== undefined) return hit;
  if (!existsSync(path)) throw new StarWeatherError('SW_ERR_CONFIG', `native kernels are not built (${path} missing): run \`npm run build:native\` (needs python3, make and a C++17 compiler)`);
  let addon: NativeAddon;
  try {
    addon = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (err) {
    throw new StarWeatherError('SW_ERR_CONFIG', `native kernels failed to load from ${path}: ${(err as Error).message}`, { cause: err });
  }
  loaded.set(path, addon);
  return addon;
}

/** Bands for a raster of `rows` rows: at most one per core (and the default libuv pool of 4), at least 64 rows each. */
export function bandRows(rows: number, minRows = 64): Array<[number, number]> {
  const k = Math.max(1, Math.min(availableParallelism(), Number(process.env.UV_THREADPOOL_SIZE ?? 4) || 4, Math.floor(rows / minRows)));
  const out: Array<[number, number]> = [];
  for (let b = 0; b < k; b++) out.push([Math.floor((b * rows) / k), Math.floor(((b + 1) * rows) / k)]);
  return out;
}

/** A native error (the C++ side's own checks) re-thrown as the project's error. */
async function call<T>(kernel: string, p: () => Promise<T>): Promise<T> {
  try {
    return await p();
  } catch (err) {
    if (err instanceof StarWeatherError) throw err;
    throw new StarWeatherError(err instanceof TypeError || err instanceof RangeError ? 'SW_ERR_INVALID_ARGUMENT' : 'SW_ERR_HANDLER', `native ${kernel}: ${(err as Error).message}`, { cause: err });
  }
}

// Pixel ranges for element-wise kernels: the same bands, in pixels.
function pixelBands(n: number): Array<[number, number]> {
  return bandRows(n, 16_384);
}

/**
 * Output arrays the kernel overwrites entirely (every element, every path):
 * raster-sized ones come from the addon's pool of recycled blocks (native/
 * src/pool.h: no page faults, zeroing or munmap per tile once warm), small
 * ones from V8 without the zero fill. Arrays a kernel writes sparsely stay
 * zero-filled.
 */
const POOLED_MIN = 16_384;
function uninitF32(addon: NativeAddon, n: number): Float32Array {
  if (n >= POOLED_MIN) return addon.allocF32(n);
  const b = Buffer.allocUnsafeSlow(n * 4);
  return new Float32Array(b.buffer, b.byteOffset, n);
}
function uninitU8(addon: NativeAddon, n: number): Uint8Array {
  if (n >= POOLED_MIN) return addon.allocU8(n);
  const b = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

/** PROFILE_SET concatenated for the native per-pixel kernel (built once). */
let flatSet: { baseH: Float64Array; baseT: Float64Array; lapse: Float64Array; offsets: Int32Array; trops: Int32Array } | null = null;
function flatProfileSet() {
  if (flatSet !== null) return flatSet;
  const total = PROFILE_SET.reduce((n, p) => n + p.baseH.length, 0);
  const baseH = new Float64Array(total), baseT = new Float64Array(total), lapse = new Float64Array(total);
  const offsets = new Int32Array(PROFILE_SET.length + 1), trops = new Int32Array(PROFILE_SET.length);
  let o = 0;
  PROFILE_SET.forEach((p, k) => {
    offsets[k] = o;
    trops[k] = p.tropopauseLayer;
    baseH.set(p.baseH, o);
    baseT.set(p.baseT, o);
    lapse.set(p.lapse, o);
    o += p.baseH.length;
  });
  offsets[PROFILE_SET.length] = o;
  flatSet = { baseH, baseT, lapse, offsets, trops };
  return flatSet;
}

export function nativeKernelsFrom(addon: NativeAddon) {
  return {
    name: 'native' as const,
    async calibrate(counts: Uint16Array, dqf: Uint8Array | null, cal: Calibration): Promise<L1Result> {
      const p = checkCalibrateArgs(counts, dqf, cal);
      const values = uninitF32(addon, counts.length);
      const qa = uninitU8(addon, counts.length);
      await call('calibrate', () => Promise.all(pixelBands(counts.length).map(([a, b]) => addon.calibrate(counts, dqf, p, values, qa, a, b))));
      return { values, qa };
    },
    async qaCheck(values: Float32Array, qa: Uint8Array, width: number, height: number, kind: BandKind, opts: QaOptions = {}): Promise<QaCounts> {
      const { lo, hi, threshold, lat } = checkQaArgs(values, qa, width, height, kind, opts);
      // Each band flags its rows and masks all but the rows next to another
      // band, which the neighbouring band's flags read concurrently; those
      // (two rows per boundary) are masked once every band is done.
      const bands = bandRows(height);
      const parts = await call('qaCheck', () => Promise.all(bands.map(([a, b]) => addon.qaFlags(values, qa, lat, width, height, a, b, lo, hi, threshold))));
      if (bands.length > 1) {
        const edges = bands.slice(1).map(([a]) => addon.qaFinish(values, qa, (a - 1) * width, (a + 1) * width));
        parts.push(...(await call('qaCheck', () => Promise.all(edges))));
      }
      const s = (k: number): number => parts.reduce((acc, p) => acc + (p[k] as number), 0);
      return { total: values.length, valid: s(5), fill: s(0), dqf: s(1), range: s(2), isolated: s(3), space: s(4) };
    },
    async cloudTop(bt: Float32Array, cloudMask: Uint8Array, opts: CloudTopOptions = {}): Promise<CloudTopResult> {
      const { profile, latitude, month, coldRule } = checkCloudTopArgs(bt, cloudMask, opts);
      const cttK = uninitF32(addon, bt.length);
      const cthM = uninitF32(addon, bt.length);
      const rule = COLD_RULE_CODE[coldRule];
      await call('cloudTop', () =>
        Promise.all(
          pixelBands(bt.length).map(([a, b]) => {
            if (profile !== null) return addon.cloudTop(bt, cloudMask, profile.baseH, profile.baseT, profile.lapse, profile.tropopauseLayer, rule, cttK, cthM, a, b);
            const set = flatProfileSet();
            return addon.cloudTopZoned(bt, cloudMask, latitude as Float32Array, month, set.baseH, set.baseT, set.lapse, set.offsets, set.trops, rule, cttK, cthM, a, b);
          }),
        ),
      );
      return { cttK, cthM };
    },
    async convection(bt: Float32Array, cloudMask: Uint8Array | null, width: number, height: number, opts: ConvectionOptions = {}): Promise<ConvectionResult> {
      const p = checkConvectionArgs(bt, cloudMask, width, height, opts);
      const deepConvection = uninitU8(addon, bt.length); // every pixel written (kernels.cc convection)
      const overshoot = new Uint8Array(bt.length);
      const params = Float64Array.of(p.deepConvectionK, p.otMaxK, p.anvilMaxK, p.otMinDiffK, p.minAnvil);
      const parts = await call('convection', () =>
        Promise.all(bandRows(height).map(([a, b]) => addon.convection(bt, cloudMask, width, height, a, b, params, p.offsets, deepConvection, overshoot))),
      );
      const s = (k: number): number => parts.reduce((acc, q) => acc + (q[k] as number), 0);
      return { deepConvection, overshoot, counts: { deepConvection: s(0), overshoot: s(1), overshootTops: s(2) } };
    },
    async cyclones(bt: Float32Array, lat: Float32Array, lon: Float32Array, width: number, height: number, opts: CycloneOptions = {}): Promise<CycloneEstimate[]> {
      const p = checkCycloneArgs(bt, lat, lon, width, height, opts);
      const flat = await call('cyclones', () => addon.cyclones(bt, lat, lon, width, height, p));
      return fixesFromMeasurements(unpackMeasurements(flat), opts);
    },
  };
}
