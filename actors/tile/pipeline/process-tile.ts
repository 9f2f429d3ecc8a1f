/**
 * One tile through L1 → L2 → L3: cut the tile (core plus halo) out of the
 * decoded scene, calibrate and QA it, segment clouds, invert cloud-top
 * temperature to height and find deep convection and overshooting tops;
 * then reduce the tile's core to its statistics and to small quantised
 * rasters the finalize step merges. Kernels run off the event loop (native
 * on the libuv pool, or the TS reference); `beat` is called between stages
 * so a long tile keeps its task's ack deadline.
 */
import { StarWeatherError } from '../../../protocol/errors.js';
import { pixelLonLat } from '../formats/geo.js';
import { CLOUD, QA, type PixelRect, type QaCounts, type SceneBand, type TileSpec } from '../types.js';
import { cutRect } from './grid.js';
import type { TileKernels } from './stages.js';

/** Cloud-top height histogram: 500 m bins from 0 to 20 km (the last bin takes everything above). */
export const CTH_BIN_M = 500;
export const CTH_BINS = 40;
/** Quantisation of the stored rasters (tile-results.ts). */
export const BT_SCALE = 100;
export const CTH_NONE = 65535;

export interface TileStats {
  index: number;
  core: PixelRect;
  qa: QaCounts;
  /** Pixels with a value (not masked). */
  valid: number;
  cloudy: number;
  /** Cloudy pixels with a cloud-top height. */
  cthCount: number;
  cthSumM: number;
  cthMaxM: number | null;
  cthHist: number[];
  btMinK: number | null;
  btMinLat: number | null;
  btMinLon: number | null;
  deepConvection: number;
  overshootingTops: number;
  /** Mean position of the overshooting-top pixels (null when none). */
  overshootLat: number | null;
  overshootLon: number | null;
  /** Milliseconds per stage, for the bench and logs. */
  ms: { cut: number; l1: number; qa: number; l2: number; l3: number; reduce: number };
}

export interface TileOutput {
  stats: TileStats;
  /** Core reduced by `reduce`: BT in centikelvin (0 none), CTH in metres (65535 none), CLOUD.*. */
  bt: Uint16Array;
  cth: Uint16Array;
  cloud: Uint8Array;
  width: number;
  height: number;
}

export interface TileDeps {
  kernels: TileKernels;
  segment(bt: Float32Array, width: number, height: number): Promise<Uint8Array>;
  /** Called between stages (ctx.heartbeat). */
  beat?(): void;
}

function emptyQa(): QaCounts {
  return { total: 0, valid: 0, fill: 0, dqf: 0, range: 0, isolated: 0, space: 0 };
}

/** Run one tile of `scene`; `reduce` is the stored rasters' reduction factor. */
export async function processTile(scene: SceneBand, tile: TileSpec, reduce: number, deps: TileDeps): Promise<TileOutput> {
  const { halo, core } = tile;
  if (core.col0 + core.width > scene.width || core.row0 + core.height > scene.height) {
    throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `tile ${tile.index} lies outside the ${scene.width}×${scene.height} scene`);
  }
  const w = halo.width;
  const h = halo.height;
  const t = { cut: 0, l1: 0, qa: 0, l2: 0, l3: 0, reduce: 0 };
  let t0 = performance.now();
  const lap = (k: keyof typeof t): void => {
    const now = performance.now();
    t[k] = Math.round((now - t0) * 10) / 10;
    t0 = now;
    deps.beat?.();
  };

  const counts = cutRect(scene.counts, scene.width, halo, (n) => new Uint16Array(n));
  const dqf = scene.dqf ? cutRect(scene.dqf, scene.width, halo, (n) => new Uint8Array(n)) : null;
  const { lat, lon } = pixelLonLat(scene.geo, halo);
  lap('cut');

  // L1: counts → K (or reflectance) with the file's own coefficients; fill/DQF pixels masked.
  const { values, qa } = await deps.kernels.calibrate(counts, dqf, scene.calibration);
  // Off the disk: no geolocation, no value.
  for (let i = 0; i < values.length; i++) {
    if (lat[i] !== lat[i]) {
      qa[i] = qa[i]! | QA.SPACE;
      values[i] = NaN;
    }
  }
  lap('l1');
  // Imagery QA: impossible values masked, isolated outliers flagged (and masked).
  await deps.kernels.qaCheck(values, qa, w, h, scene.kind);
  lap('qa');

  const n = w * h;
  let cloud: Uint8Array;
  let cth: Float32Array | null = null;
  let overshoot: Uint8Array | null = null;
  let deep: Uint8Array | null = null;
  if (scene.kind === 'ir') {
    // L2: the UNet cloud mask (NaN → NODATA).
    cloud = await deps.segment(values, w, h);
    lap('l2');
    // L3: cloud-top temperature and height by inverting the profile; deep convection and overshooting tops.
    // The US Standard Atmosphere 1976 profile (the kernels' default).
    const top = await deps.kernels.cloudTop(values, cloud);
    cth = top.cthM;
    const conv = await deps.kernels.convection(values, cloud, w, h);
    overshoot = conv.overshoot;
    deep = conv.deepConvection;
    lap('l3');
  } else {
    // The cloud model and the physics are for the IR window; a visible band gets L1 and QA only.
    cloud = new Uint8Array(n).fill(CLOUD.NODATA);
    lap('l2');
    lap('l3');
  }

  const stats = coreStats(tile, values, qa, cloud, cth, deep, overshoot, lat, lon, scene.kind === 'ir');
  const reduced = reduceCore(tile, reduce, values, cloud, cth, scene.kind === 'ir');
  lap('reduce');
  stats.ms = t;
  return { stats, ...reduced };
}

function coreStats(
  tile: TileSpec, values: Float32Array, qa: Uint8Array, cloud: Uint8Array, cth: Float32Array | null, deep: Uint8Array | null,
  overshoot: Uint8Array | null, lat: Float32Array, lon: Float32Array, ir: boolean,
): TileStats {
  const { core, halo } = tile;
  const q = emptyQa();
  const hist = new Array<number>(CTH_BINS).fill(0);
  let valid = 0, cloudy = 0, cthCount = 0, cthSum = 0, cthMax = -Infinity, btMin = Infinity, btMinAt = -1;
  let deepN = 0, ovN = 0, ovLat = 0, ovLon = 0;
  const dc = core.col0 - halo.col0;
  const dr = core.row0 - halo.row0;
  for (let r = 0; r < core.height; r++) {
    const base = (r + dr) * halo.width + dc;
    for (let c = 0; c < core.width; c++) {
      const i = base + c;
      const f = qa[i]!;
      q.total++;
      if (f & QA.SPACE) q.space++;
      if (f & QA.FILL) q.fill++;
      if (f & QA.DQF) q.dqf++;
      if (f & QA.RANGE) q.range++;
      if (f & QA.ISOLATED) q.isolated++;
      const v = values[i]!;
      if (v !== v) continue;
      valid++;
      if (ir && v < btMin) {
        btMin = v;
        btMinAt = i;
      }
      if (cloud[i] === CLOUD.CLOUD) {
        cloudy++;
        const z = cth ? cth[i]! : NaN;
        if (z === z) {
          cthCount++;
          cthSum += z;
          if (z > cthMax) cthMax = z;
          hist[Math.min(CTH_BINS - 1, Math.max(0, Math.floor(z / CTH_BIN_M)))]!++;
        }
      }
      if (deep && deep[i]) deepN++;
      if (overshoot && overshoot[i]) {
        ovN++;
        ovLat += lat[i]!;
        ovLon += lon[i]!;
      }
    }
  }
  q.valid = valid;
  return {
    index: tile.index,
    core,
    qa: q,
    valid,
    cloudy,
    cthCount,
    cthSumM: cthSum,
    cthMaxM: cthCount > 0 ? cthMax : null,
    cthHist: hist,
    btMinK: btMinAt >= 0 ? btMin : null,
    btMinLat: btMinAt >= 0 ? lat[btMinAt]! : null,
    btMinLon: btMinAt >= 0 ? lon[btMinAt]! : null,
    deepConvection: deepN,
    overshootingTops: ovN,
    overshootLat: ovN > 0 ? ovLat / ovN : null,
    overshootLon: ovN > 0 ? ovLon / ovN : null,
    ms: { cut: 0, l1: 0, qa: 0, l2: 0, l3: 0, reduce: 0 },
  };
}

/**
 * Box-average the core by `f`: BT is the mean of the valid pixels, CTH the
 * mean over the cloudy pixels that have one, the mask the majority of the
 * valid pixels (cloud wins a tie: a product should not hide a small storm).
 */
function reduceCore(tile: TileSpec, f: number, values: Float32Array, cloud: Uint8Array, cth: Float32Array | null, ir: boolean): Omit<TileOutput, 'stats'> {
  const { core, halo } = tile;
  const width = Math.ceil(core.width / f);
  const height = Math.ceil(core.height / f);
  const bt = new Uint16Array(width * height);
  const cthOut = new Uint16Array(width * height).fill(CTH_NONE);
  const mask = new Uint8Array(width * height).fill(CLOUD.NODATA);
  const dc = core.col0 - halo.col0;
  const dr = core.row0 - halo.row0;
  for (let ry = 0; ry < height; ry++) {
    for (let rx = 0; rx < width; rx++) {
      let nv = 0, sv = 0, nc = 0, nz = 0, sz = 0;
      const r1 = Math.min(core.height, (ry + 1) * f);
      const c1 = Math.min(core.width, (rx + 1) * f);
      for (let r = ry * f; r < r1; r++) {
        const base = (r + dr) * halo.width + dc;
        for (let c = rx * f; c < c1; c++) {
          const i = base + c;
          const v = values[i]!;
          if (v !== v) continue;
          nv++;
          sv += v;
          if (cloud[i] === CLOUD.CLOUD) {
            nc++;
            const z = cth ? cth[i]! : NaN;
            if (z === z) {
              nz++;
              sz += z;
            }
          }
        }
      }
      const o = ry * width + rx;
      if (nv === 0) continue;
      // Reflectance is stored ×10 000 in the same 16 bits (0..1.2 → 0..12 000).
      bt[o] = Math.max(1, Math.min(65535, Math.round((sv / nv) * (ir ? BT_SCALE : 10_000))));
      if (ir) mask[o] = nc * 2 >= nv ? CLOUD.CLOUD : CLOUD.CLEAR;
      if (nz > 0) cthOut[o] = Math.max(0, Math.min(65534, Math.round(sz / nz)));
    }
  }
  return { bt, cth: cthOut, cloud: mask, width, height };
}
