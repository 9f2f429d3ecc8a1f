/**
 * One tile through L1 → L2 → L3: cut the tile (core plus halo) out of the
 * decoded scene, calibrate and QA it, segment clouds, invert cloud-top
 * temperature to height and find deep convection and overshooting tops;
 * then reduce the tile's core to its statistics and to small quantised
 * rasters the finalize step merges. Kernels run off the event loop (native
 * on the libuv pool, or the TS reference); `beat` is called between stages
 * so a long tile keeps its task's ack deadline. The JavaScript stages here
 * (limb geolocation, space masking, the reduction) work row by row and give
 * the event loop a turn every few milliseconds (TimeSlicer), so a tile never
 * holds the host's loop in one long stretch (issue 10).
 */
import { StarWeatherError } from '../../../protocol/errors.js';
import { TimeSlicer } from '../../runtime/time-slice.js';
import { pixelLonLat, pixelLonLatSliced } from '../formats/geo.js';
import { CLOUD, QA, type PixelRect, type QaCounts, type SceneBand, type TileSpec } from '../types.js';
import { cutRect } from './grid.js';
import type { CloudTopOptions } from '../kernels/index.js';
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
  ms: { cut: number; geo: number; l1: number; qa: number; l2: number; l3: number; reduce: number };
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
  /**
   * Temperature profile for cloud-top height: the US Standard Atmosphere 1976
   * everywhere (default), or the zonal/seasonal AFGL profile of each pixel's
   * latitude and the scan's month (physics/atmosphere.ts).
   */
  profile?: 'us1976' | 'zonal';
  segment(bt: Float32Array, width: number, height: number): Promise<Uint8Array>;
  /** Called after each stage with its name (ctx.heartbeat; the bench's stall probe). */
  beat?(stage: keyof TileStats['ms']): void;
  /** Paces the JS stages (default: a fresh TimeSlicer with the default slice); tests pass one to count its yields. */
  slicer?: TimeSlicer;
}

function emptyQa(): QaCounts {
  return { total: 0, valid: 0, fill: 0, dqf: 0, range: 0, isolated: 0, space: 0 };
}

/**
 * Does the rectangle lie wholly on the earth disk? The disk seen from
 * geostationary orbit is convex in scan-angle space (scan angles are linear
 * in column and row), so a rectangle whose every edge pixel has a
 * geolocation has one everywhere inside; only limb tiles need per-pixel
 * coordinates.
 */
export function onDisk(geo: SceneBand['geo'], rect: PixelRect): boolean {
  const { col0, row0, width, height } = rect;
  const edges: PixelRect[] = [
    { col0, row0, width, height: 1 },
    { col0, row0: row0 + height - 1, width, height: 1 },
    { col0, row0, width: 1, height },
    { col0: col0 + width - 1, row0, width: 1, height },
  ];
  for (const e of edges) {
    const { lat } = pixelLonLat(geo, e);
    for (let i = 0; i < lat.length; i++) if (lat[i] !== lat[i]) return false;
  }
  return true;
}

/**
 * cloudTop options for the profile choice. Zonal: limb tiles already have
 * per-pixel latitudes (NaN off the disk → US1976); an on-disk tile uses its
 * centre's latitude, one zone for the tile (a 512-px tile spans ~9° of
 * latitude at 2 km, small against the AFGL zones).
 */
function profileOptions(profile: 'us1976' | 'zonal', scene: SceneBand, halo: PixelRect, perPixelLat: Float32Array | null): CloudTopOptions {
  if (profile === 'us1976') return {};
  const month = scene.start.getUTCMonth() + 1;
  if (perPixelLat) return { latitude: perPixelLat, month };
  const { lat } = pixelLonLat(scene.geo, { col0: halo.col0 + (halo.width >> 1), row0: halo.row0 + (halo.height >> 1), width: 1, height: 1 });
  return Number.isFinite(lat[0]) ? { latitude: lat[0]!, month } : {};
}

/** Run one tile of `scene`; `reduce` is the stored rasters' reduction factor. */
export async function processTile(scene: SceneBand, tile: TileSpec, reduce: number, deps: TileDeps): Promise<TileOutput> {
  const { halo, core } = tile;
  if (core.col0 + core.width > scene.width || core.row0 + core.height > scene.height) {
    throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `tile ${tile.index} lies outside the ${scene.width}×${scene.height} scene`);
  }
  const w = halo.width;
  const h = halo.height;
  const t = { cut: 0, geo: 0, l1: 0, qa: 0, l2: 0, l3: 0, reduce: 0 };
  const slicer = deps.slicer ?? new TimeSlicer();
  let t0 = performance.now();
  const lap = (k: keyof typeof t): void => {
    const now = performance.now();
    t[k] = Math.round((t[k] + now - t0) * 10) / 10;
    t0 = now;
    deps.beat?.(k);
  };

  const counts = cutRect(scene.counts, scene.width, halo, (n) => new Uint16Array(n));
  const dqf = scene.dqf ? cutRect(scene.dqf, scene.width, halo, (n) => new Uint8Array(n)) : null;
  lap('cut');
  // Per-pixel coordinates only on the limb, where they decide which pixels are space.
  const space = onDisk(scene.geo, halo) ? null : (await pixelLonLatSliced(scene.geo, halo, slicer)).lat;
  lap('geo');

  // L1: counts → K (or reflectance) with the file's own coefficients; fill/DQF pixels masked.
  const { values, qa } = await deps.kernels.calibrate(counts, dqf, scene.calibration);
  lap('l1');
  if (space) {
    for (let r = 0; r < h; r++) {
      for (let i = r * w, e = i + w; i < e; i++) {
        if (space[i] !== space[i]) {
          qa[i] = qa[i]! | QA.SPACE;
          values[i] = NaN;
        }
      }
      if (slicer.due()) await slicer.pause();
    }
  }
  lap('geo');
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
    const top = await deps.kernels.cloudTop(values, cloud, profileOptions(deps.profile ?? 'us1976', scene, halo, space));
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

  const out = await summarise(scene, tile, reduce, values, qa, cloud, cth, deep, overshoot, scene.kind === 'ir', slicer);
  lap('reduce');
  out.stats.ms = t;
  return out;
}

/**
 * One pass over the core, block by block: the tile's statistics and its
 * rasters reduced by `f` — BT the mean of the valid pixels, CTH the mean
 * over the cloudy pixels that have one, the mask the majority of the valid
 * pixels (cloud wins a tie: a product should not hide a small storm).
 */
async function summarise(
  scene: SceneBand, tile: TileSpec, f: number, values: Float32Array, qa: Uint8Array, cloud: Uint8Array, cth: Float32Array | null,
  deep: Uint8Array | null, overshoot: Uint8Array | null, ir: boolean, slicer: TimeSlicer,
): Promise<TileOutput> {
  const { core, halo } = tile;
  const q = emptyQa();
  const hist = new Array<number>(CTH_BINS).fill(0);
  let valid = 0, cloudy = 0, cthCount = 0, cthSum = 0, cthMax = -Infinity, btMin = Infinity, btMinAt = -1;
  let deepN = 0, ovN = 0, ovRow = 0, ovCol = 0;
  const CLOUDY = CLOUD.CLOUD;
  const width = Math.ceil(core.width / f);
  const height = Math.ceil(core.height / f);
  const btOut = new Uint16Array(width * height);
  const cthOut = new Uint16Array(width * height).fill(CTH_NONE);
  const mask = new Uint8Array(width * height).fill(CLOUD.NODATA);
  const scale = ir ? BT_SCALE : 10_000;
  const dc = core.col0 - halo.col0;
  const dr = core.row0 - halo.row0;
  const hw = halo.width;
  for (let ry = 0; ry < height; ry++) {
    const r1 = Math.min(core.height, (ry + 1) * f);
    for (let rx = 0; rx < width; rx++) {
      let nv = 0, sv = 0, nc = 0, nz = 0, sz = 0;
      const c1 = Math.min(core.width, (rx + 1) * f);
      for (let r = ry * f; r < r1; r++) {
        const base = (r + dr) * hw + dc;
        for (let c = rx * f; c < c1; c++) {
          const i = base + c;
          const flags = qa[i]!;
          if (flags !== 0) {
            if (flags & QA.SPACE) q.space++;
            if (flags & QA.FILL) q.fill++;
            if (flags & QA.DQF) q.dqf++;
            if (flags & QA.RANGE) q.range++;
            if (flags & QA.ISOLATED) q.isolated++;
          }
          const v = values[i]!;
          if (v !== v) continue;
          nv++;
          sv += v;
          if (v < btMin) {
            btMin = v;
            btMinAt = i;
          }
          if (deep !== null && deep[i] !== 0) deepN++;
          if (overshoot !== null && overshoot[i] !== 0) {
            ovN++;
            ovRow += r;
            ovCol += c;
          }
          if (cloud[i] !== CLOUDY) continue;
          nc++;
          const z = cth !== null ? cth[i]! : NaN;
          if (z !== z) continue;
          nz++;
          sz += z;
          if (z > cthMax) cthMax = z;
          hist[Math.min(CTH_BINS - 1, Math.max(0, Math.floor(z / CTH_BIN_M)))]!++;
        }
      }
      if (nv === 0) continue;
      const o = ry * width + rx;
      valid += nv;
      cloudy += nc;
      cthCount += nz;
      cthSum += sz;
      // Reflectance is stored ×10 000 in the same 16 bits (0..1.2 → 0..12 000).
      btOut[o] = Math.max(1, Math.min(65535, Math.round((sv / nv) * scale)));
      if (ir) mask[o] = nc * 2 >= nv ? CLOUD.CLOUD : CLOUD.CLEAR;
      if (nz > 0) cthOut[o] = Math.max(0, Math.min(65534, Math.round(sz / nz)));
    }
    // Between block rows: every accumulator above carries over, so the result is the one-pass result.
    if (slicer.due()) await slicer.pause();
  }
  q.total = core.width * core.height;
  q.valid = valid;
  // Positions of the coldest pixel and of the overshooting tops' centroid, from their scene pixel.
  const where = (row: number, col: number): [number, number] => {
    const { lat, lon } = pixelLonLat(scene.geo, { col0: Math.round(col), row0: Math.round(row), width: 1, height: 1 });
    return [lat[0]!, lon[0]!];
  };
  const coldest = ir && btMinAt >= 0 ? where(halo.row0 + Math.floor(btMinAt / hw), halo.col0 + (btMinAt % hw)) : null;
  const ovAt = ovN > 0 ? where(core.row0 + ovRow / ovN, core.col0 + ovCol / ovN) : null;
  const num = (v: number | undefined): number | null => (v === undefined || v !== v ? null : v);
  const stats: TileStats = {
    index: tile.index,
    core,
    qa: q,
    valid,
    cloudy,
    cthCount,
    cthSumM: cthSum,
    cthMaxM: cthCount > 0 ? cthMax : null,
    cthHist: hist,
    btMinK: ir && btMinAt >= 0 ? btMin : null,
    btMinLat: num(coldest?.[0]),
    btMinLon: num(coldest?.[1]),
    deepConvection: deepN,
    overshootingTops: ovN,
    overshootLat: num(ovAt?.[0]),
    overshootLon: num(ovAt?.[1]),
    ms: { cut: 0, geo: 0, l1: 0, qa: 0, l2: 0, l3: 0, reduce: 0 },
  };
  return { stats, bt: btOut, cth: cthOut, cloud: mask, width, height };
}
