/**
 * The synthetic scene model: what a geostationary imager's 10.3–10.4 µm
 * window band (ABI band 13 / AHI band 13) would see over a made-up but
 * physically plausible earth, together with the truth that produced it
 * (cloud mask, cloud type, cloud-top height). It feeds the file writers
 * (write-abi.ts, write-ahi.ts), the UNet's training set and the tests.
 *
 * Model, per pixel, bottom up:
 * - clear-sky BT: a zonal surface temperature (warm tropics, cold poles,
 *   summer hemisphere warmer), minus a water-vapour deficit that is largest
 *   in the moist tropics, plus a land/sea contrast and texture;
 * - low (0.6–2.8 km), mid (3.5–7 km) and high thin cirrus (8.5–11.5 km) decks
 *   from fractal noise thresholded to a latitude-dependent cover fraction
 *   (stratocumulus subtropical oceans, midlatitude frontal decks, tropical
 *   cirrus), soft-edged;
 * - deep convective cells: anvils (11.5–13.5 km) with overshooting tops up
 *   to 15.5 km, densest along the ITCZ;
 * - an optional tropical cyclone: a warm eye, a cold central dense overcast
 *   and spiral rain bands, centred where asked.
 * A cloud's top temperature is the atmosphere profile's temperature at its
 * top height (physics/atmosphere.ts, US Standard Atmosphere 1976). Above the
 * tropopause the profile is isothermal, yet convective tops that overshoot it
 * are colder than their surroundings (they keep cooling along the updraft's
 * lapse rate): there the model continues the top tropospheric lapse rate,
 * which is exactly what heightForTemperature(…, {coldRule: 'extrapolate'})
 * inverts (Griffin et al. 2016, JAMC 55, "Methods for estimating
 * overshooting top heights"). So an opaque cloud's BT inverts to its true
 * height; thin cirrus (emissivity < 1) reads warmer than its top, as it does
 * in real imagery.
 *
 * Everything is deterministic by `seed`; the noise lives in scan-angle space
 * so crops and resolutions of one seed agree. Work is done in strips of rows
 * so the full disk (5424²) needs only its output rasters in memory.
 */
import { scanToLonLat, type GeosParams } from '../../ingest/imagery-geo.js';
import { geometricToGeopotential, temperatureAtHeight, tropopause, US1976 } from '../physics/atmosphere.js';
import { ahiSceneGeo, columnTrig, lonLatToScan, rowLonLat, type AhiNavigation } from '../formats/geo.js';
import { CLOUD, type Instrument, type SceneGeo } from '../types.js';
import { addFbm, Rng, type AngleGrid } from './noise.js';
import { StarWeatherError } from '../../../protocol/errors.js';

/** Cloud type of the truth (an L2 cloud-type class can be trained on it). */
export const CLOUD_TYPE = { CLEAR: 0, LOW: 1, MID: 2, CIRRUS: 3, DEEP: 4, NODATA: 255 } as const;

export interface CycloneSpec {
  /** Eye centre, degrees. */
  lat: number;
  lon: number;
  eyeRadiusKm: number;
  /** BT of the eye (K): warm, e.g. 280 for a clear eye. */
  eyeTempK: number;
  /** BT of the central dense overcast around the eye (K), e.g. 195. */
  cloudTopTempK: number;
  /** Outer radius of the spiral bands, km. */
  radiusKm: number;
  /** Number of spiral bands (default 3). */
  arms?: number;
}

export interface SceneOptions {
  seed: number;
  width: number;
  height: number;
  /** Whose geometry: 'abi' (GOES-East, sweep x) or 'ahi' (Himawari-9, sweep y). Default 'abi'. */
  instrument?: Instrument;
  /** Sub-satellite longitude (default -75.2 for ABI, 140.7 for AHI). */
  lon0?: number;
  /**
   * Pixel step (rad). Default: the full disk's extent over `width` pixels
   * (ABI 5424 × 56 µrad, AHI 5500 × 2 km CFAC), i.e. a whole-disk image at
   * reduced resolution. Give 56e-6 for native 2 km pixels.
   */
  stepRad?: number;
  /** Scan angle (rad, north-up) of the image centre; default 0, 0 (the sub-satellite point). */
  centerX?: number;
  centerY?: number;
  /** Or centre the image on a place (degrees; wins over centerX/centerY); it must be in view of the satellite. */
  centerLat?: number;
  centerLon?: number;
  /** Nominal observation time (season and file times); default 2026-08-15T18:00Z. */
  time?: Date;
  cyclone?: CycloneSpec | null;
  /** Scales every cloud deck's cover fraction (0 = clear sky, default 1). */
  cloudiness?: number;
  /** Also return per-pixel lat/lon (extra 8 bytes per pixel). */
  latLon?: boolean;
  /** Also model a visible band (ABI band 2, 0.64 µm): reflectance factor with the sun where it is at `time`. */
  reflectance?: boolean;
}

export interface SyntheticScene {
  instrument: Instrument;
  platform: string;
  band: number;
  wavelengthUm: number;
  time: Date;
  seed: number;
  geo: SceneGeo;
  width: number;
  height: number;
  /** Band-13 brightness temperature (K); NaN off the earth disk. */
  btK: Float32Array;
  /** CLOUD.CLEAR / CLOUD.CLOUD / CLOUD.NODATA (off disk). */
  truthCloud: Uint8Array;
  /** CLOUD_TYPE per pixel. */
  truthType: Uint8Array;
  /** Cloud-top height (m, geometric) of the topmost cloud; NaN where clear or off disk. */
  truthCthM: Float32Array;
  cyclone: CycloneSpec | null;
  /**
   * Visible reflectance factor (0..~1.2; ABI's kappa0·L, so not divided by
   * the solar zenith cosine): 0 at night, NaN off disk. Only with
   * `reflectance: true`.
   */
  reflectance?: Float32Array;
  lat?: Float32Array;
  lon?: Float32Array;
}

const DEG = Math.PI / 180;
/** Nominal geometry (GOES-R PUG; goes_imager_projection of the real CDLs; JMA HSD block 3 via satpy). */
export const ABI_PARAMS: Omit<GeosParams, 'lon0'> = { sweep: 'x', h: 35786023 + 6378137, req: 6378137, rpol: 6356752.31414 };
export const AHI_PARAMS: Omit<GeosParams, 'lon0'> = { sweep: 'y', h: 42164000, req: 6378137, rpol: 6356752.3 };
/** ABI 2 km fixed-grid step (rad) and full-disk pixels. */
export const ABI_STEP_2KM = 56e-6;
export const ABI_FULL_DISK_2KM = 5424;
/** AHI 2 km full disk: CFAC = LFAC = 20466275 (pixels per 2^-16 degree), 5500 columns. */
export const AHI_CFAC_2KM = 20466275;
export const AHI_FULL_DISK_2KM = 5500;

// ---- geometry ---------------------------------------------------------------

function sceneGeometry(o: SceneOptions): { geo: SceneGeo; nav: AhiNavigation | null } {
  const instrument = o.instrument ?? 'abi';
  let cx = o.centerX ?? 0, cy = o.centerY ?? 0;
  if (o.centerLat !== undefined || o.centerLon !== undefined) {
    const params: GeosParams = instrument === 'abi' ? { ...ABI_PARAMS, lon0: o.lon0 ?? -75.2 } : { ...AHI_PARAMS, lon0: o.lon0 ?? 140.7 };
    const at = lonLatToScan(o.centerLat ?? 0, o.centerLon ?? params.lon0, params);
    if (!at) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `centre ${o.centerLat}, ${o.centerLon} is not in view of the satellite at ${params.lon0}°`);
    cx = at.x;
    cy = at.y;
  }
  if (instrument === 'abi') {
    const params: GeosParams = { ...ABI_PARAMS, lon0: o.lon0 ?? -75.2 };
    // f4-representable, as the file's x/y scale_factor/add_offset are floats: the reader then gets back the same numbers.
    const step = Math.fround(o.stepRad ?? (ABI_STEP_2KM * ABI_FULL_DISK_2KM) / o.width);
    const x0 = Math.fround(cx - ((o.width - 1) / 2) * step);
    const y0 = Math.fround(cy + ((o.height - 1) / 2) * step);
    return { geo: { params, x0, dx: step, y0, dy: -step }, nav: null };
  }
  const params: GeosParams = { ...AHI_PARAMS, lon0: o.lon0 ?? 140.7 };
  const fullStepDeg = (65536 / AHI_CFAC_2KM) * AHI_FULL_DISK_2KM;
  const stepDeg = o.stepRad !== undefined ? o.stepRad / DEG : fullStepDeg / o.width;
  const cfac = Math.round(65536 / stepDeg);
  const exactDeg = 65536 / cfac;
  // COFF/LOFF on the half-pixel grid: exact in f4 and the centre within half a pixel of what was asked.
  const coff = Math.round(2 * ((o.width + 1) / 2 - cx / DEG / exactDeg)) / 2;
  const loff = Math.round(2 * ((o.height + 1) / 2 + cy / DEG / exactDeg)) / 2;
  const nav = { cfac, lfac: cfac, coff, loff };
  return { geo: ahiSceneGeo(nav, 1, params), nav };
}

/** The navigation the generator used for an AHI scene (the writer puts it in block 3). */
export function ahiNavigationOf(scene: SyntheticScene): AhiNavigation {
  const g = scene.geo;
  const cfac = Math.round(65536 / (g.dx / DEG));
  const lfac = Math.round(65536 / (-g.dy / DEG));
  return { cfac, lfac, coff: 1 - g.x0 / g.dx, loff: 1 + g.y0 / -g.dy };
}

// ---- the profile ------------------------------------------------------------

/**
 * Cloud-top temperature at a geometric height: US1976 up to the tropopause,
 * the top tropospheric lapse rate continued above it (see the header).
 */
export function cloudTopTemperature(zM: number): number {
  const trop = tropopause(US1976);
  if (zM <= trop.heightM) return temperatureAtHeight(zM, US1976);
  const i = US1976.tropopauseLayer;
  return trop.tempK + (US1976.lapse[i - 1] as number) * (geometricToGeopotential(zM) - (US1976.baseH[i] as number));
}

/** Lookup table of cloudTopTemperature every 5 m from 0 to 20 km: the per-pixel profile evaluation of the full disk. */
const LUT_STEP = 5;
const LUT = ((): Float32Array => {
  const t = new Float32Array(20000 / LUT_STEP + 2);
  for (let i = 0; i < t.length; i++) t[i] = cloudTopTemperature(i * LUT_STEP);
  return t;
})();
function ctt(zM: number): number {
  const u = Math.min(Math.max(zM, 0), 20000) / LUT_STEP;
  const i = Math.floor(u);
  const a = LUT[i]!;
  return a + (LUT[i + 1]! - a) * (u - i);
}

/**
 * Inverse of cloudTopTemperature (monotone: the troposphere cools, and above
 * the tropopause the continued lapse rate does too): the height (m) whose
 * cloud top has temperature tK, 0 for the surface temperature or warmer. It
 * inverts the same table, so ctt(heightOfCloudTop(t)) = t.
 */
export function heightOfCloudTop(tK: number): number {
  if (Number.isNaN(tK)) return NaN;
  if (tK >= LUT[0]!) return 0;
  const last = LUT.length - 1;
  if (tK <= LUT[last]!) return last * LUT_STEP;
  let lo = 0, hi = last; // LUT[lo] > tK >= LUT[hi]
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (LUT[mid]! > tK) lo = mid;
    else hi = mid;
  }
  const a = LUT[lo]!, b = LUT[hi]!;
  return (lo + (a - tK) / (a - b)) * LUT_STEP;
}

// ---- climatology --------------------------------------------------------------

/** Clear-sky band-13 BT (K) at a latitude for ocean; `summer` ∈ [-1, 1] shifts warmth to the summer hemisphere. */
function clearSkyBt(latDeg: number, summer: number): number {
  const s = Math.sin((latDeg - 6 * summer) * DEG);
  const surface = 302 - 48 * s * s; // ~302 K at the thermal equator, ~254 K at 75°
  const c = Math.cos(latDeg * DEG);
  const wv = 5 * c * c; // moist tropics absorb more of the window band
  return surface - wv;
}

/** Cover fractions of the low, mid and cirrus decks and the deep-convection density at a latitude (ocean). */
function cover(latDeg: number, summer: number): { low: number; mid: number; high: number; deep: number } {
  const a = Math.abs(latDeg);
  const g = (mu: number, sd: number): number => Math.exp(-0.5 * ((latDeg - mu) / sd) ** 2);
  const itcz = 6 * summer + 4;
  const subtropics = g(22, 8) + g(-22, 8);
  const midlat = g(50, 12) + g(-50, 12);
  return {
    low: 0.2 + 0.35 * subtropics + 0.3 * midlat + (a > 65 ? 0.2 : 0),
    mid: 0.06 + 0.35 * midlat + (a > 65 ? 0.15 : 0),
    high: 0.08 + 0.25 * g(itcz, 8) + 0.25 * midlat,
    deep: g(itcz, 7) + 0.15 * g(itcz, 20),
  };
}

/**
 * Threshold for a fractal field (≈ normal, mean 0.5, sd FBM_SD) so that the
 * fraction `f` of pixels exceeds it: 0.5 + sd·Φ⁻¹(1 − f), Φ⁻¹ by the
 * logistic approximation (good to a few % of cover, plenty here).
 */
const FBM_SD = 0.105;
function threshold(f: number): number {
  const p = Math.min(Math.max(f, 1e-3), 1 - 1e-3);
  return 0.5 + FBM_SD * (Math.log((1 - p) / p) / 1.702);
}

/** The latitude-only parts of the model tabulated every 0.05° (they were a third of the per-pixel time). */
function zonalTables(summer: number, cloudiness: number): {
  at(lat: number): number;
  clear: Float32Array; land: Float32Array; low: Float32Array; lowLand: Float32Array; mid: Float32Array; high: Float32Array;
} {
  const n = 3601;
  const t = { clear: new Float32Array(n), land: new Float32Array(n), low: new Float32Array(n), lowLand: new Float32Array(n), mid: new Float32Array(n), high: new Float32Array(n) };
  for (let i = 0; i < n; i++) {
    const lat = i / 20 - 90;
    const cv = cover(lat, summer);
    t.clear[i] = clearSkyBt(lat, summer);
    // Land is warmer than the sea by day in the tropics, about even toward the poles; it has fewer low decks.
    t.land[i] = 4 * Math.cos(lat * DEG) ** 2 - 1.5;
    t.low[i] = threshold(cv.low * cloudiness);
    t.lowLand[i] = threshold(cv.low * 0.6 * cloudiness);
    t.mid[i] = threshold(cv.mid * cloudiness);
    t.high[i] = threshold(cv.high * cloudiness);
  }
  return { ...t, at: (lat: number) => Math.round((lat + 90) * 20) };
}

// ---- convective cells ----------------------------------------------------------

interface Cell {
  col: number;
  row: number;
  /** Anvil radius and overshooting-core radius, pixels. */
  anvilPx: number;
  corePx: number;
  anvilTopM: number;
  coreTopM: number;
  /** Anvils are sheared downwind: elongation along the direction (cos, sin). */
  cos: number;
  sin: number;
  stretch: number;
}

function kmPerPixel(geo: SceneGeo): number {
  return (Math.abs(geo.dx) * (geo.params.h - geo.params.req)) / 1000;
}

function makeCells(o: SceneOptions, geo: SceneGeo, summer: number, rng: Rng, cyclone: CycloneSpec | null): Cell[] {
  const km = kmPerPixel(geo);
  const areaKm2 = o.width * o.height * km * km;
  // About one deep convective system per 150 000 km² of ITCZ (full disk: a few hundred cells at most).
  const tries = Math.min(20000, Math.round((areaKm2 / 150000) * (o.cloudiness ?? 1)));
  const cells: Cell[] = [];
  for (let t = 0; t < tries; t++) {
    const col = rng.next() * o.width, row = rng.next() * o.height;
    const ll = scanToLonLat(geo.x0 + col * geo.dx, (geo.y0 + row * geo.dy) * (geo.params.sweep === 'y' ? -1 : 1), geo.params);
    const u = rng.next(), anvilKm = rng.range(25, 140), coreKm = rng.range(3, 9), anvilTop = rng.range(11500, 13500), over = rng.range(600, 2000);
    const dir = rng.range(0, Math.PI), stretch = rng.range(1, 2.2);
    if (!ll) continue;
    if (u > cover(ll[1], summer).deep) continue;
    if (cyclone && distanceKm(ll[1], ll[0], cyclone.lat, cyclone.lon) < cyclone.radiusKm * 1.3) continue;
    cells.push({ col, row, anvilPx: anvilKm / km, corePx: Math.max(coreKm / km, 0.6), anvilTopM: anvilTop, coreTopM: Math.min(anvilTop + over, 15500), cos: Math.cos(dir), sin: Math.sin(dir), stretch });
  }
  return cells;
}

function distanceKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const dLat = (lat2 - lat1) * DEG;
  let dLon = lon2 - lon1;
  if (dLon > 180) dLon -= 360;
  if (dLon < -180) dLon += 360;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * DEG) * Math.cos(lat2 * DEG) * Math.sin((dLon * DEG) / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.min(1, Math.sqrt(a)));
}

// ---- the scene --------------------------------------------------------------------

const STRIP = 64;

export function generateScene(o: SceneOptions): SyntheticScene {
  if (!Number.isInteger(o.width) || !Number.isInteger(o.height) || o.width < 1 || o.height < 1 || o.width > 32767 || o.height > 32767) {
    throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `scene size ${o.width}×${o.height} must be whole pixels in 1..32767`);
  }
  if (!Number.isFinite(o.seed)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'seed must be a finite number');
  if (o.stepRad !== undefined && !(o.stepRad > 1e-7 && o.stepRad < 1e-2)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `stepRad ${o.stepRad} out of range`);
  const cyc = o.cyclone ?? null;
  if (cyc) {
    if (!(cyc.eyeRadiusKm > 0 && cyc.radiusKm > cyc.eyeRadiusKm * 2)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'cyclone radiusKm must exceed twice eyeRadiusKm > 0');
    if (!(cyc.cloudTopTempK > 150 && cyc.cloudTopTempK < cyc.eyeTempK && cyc.eyeTempK < 320)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'cyclone needs 150 K < cloudTopTempK < eyeTempK < 320 K');
    if (Math.abs(cyc.lat) > 60) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'cyclone latitude beyond ±60°');
  }
  const instrument = o.instrument ?? 'abi';
  const { geo } = sceneGeometry(o);
  const { width: W, height: H } = o;
  const time = o.time ?? new Date(Date.UTC(2026, 7, 15, 18, 0, 0));
  // +1 at the northern summer solstice, -1 at the southern one.
  const doy = (time.getTime() - Date.UTC(time.getUTCFullYear(), 0, 1)) / 86_400_000;
  const summer = Math.cos(((doy - 172) / 365.25) * 2 * Math.PI);
  const cloudiness = o.cloudiness ?? 1;
  const seed = Math.floor(o.seed) | 0;
  const rng = new Rng(seed);
  const cells = cloudiness > 0 ? makeCells(o, geo, summer, rng, cyc) : [];
  const noiseRng = new Rng(seed ^ 0x5bd1e995);

  const btK = new Float32Array(W * H);
  const truthCloud = new Uint8Array(W * H);
  const truthType = new Uint8Array(W * H);
  const truthCthM = new Float32Array(W * H);
  const lat = o.latLon ? new Float32Array(W * H) : null;
  const refl = o.reflectance ? new Float32Array(W * H) : null;
  const sun = solarGeometry(time);
  const lon = o.latLon ? new Float32Array(W * H) : null;

  // Spatial scales in scan angle: 1 km at nadir ≈ 1/35786 rad.
  const KM = 1 / 35786;
  const n = STRIP * W;
  const f = {
    land: new Float32Array(n),
    sfc: new Float32Array(n),
    low: new Float32Array(n),
    lowZ: new Float32Array(n),
    mid: new Float32Array(n),
    midZ: new Float32Array(n),
    high: new Float32Array(n),
    highZ: new Float32Array(n),
    edge: new Float32Array(n),
  };
  const sLat = new Float32Array(n), sLon = new Float32Array(n);
  const deepZ = new Float32Array(n);
  const deepA = new Float32Array(n);
  const trig = columnTrig(geo, 0, W);
  const zonal = zonalTables(summer, cloudiness);

  for (let r0 = 0; r0 < H; r0 += STRIP) {
    const rows = Math.min(STRIP, H - r0);
    const m = rows * W;
    const g: AngleGrid = { width: W, height: rows, x0: geo.x0, dx: geo.dx, y0: geo.y0 + r0 * geo.dy, dy: geo.dy };
    for (const a of Object.values(f)) a.fill(0, 0, m);
    const view = <T extends Float32Array>(a: T): T => a.subarray(0, m) as T;
    addFbm(view(f.land), g, seed, 1, 2500 * KM, 5);
    addFbm(view(f.sfc), g, seed, 2, 400 * KM, 6);
    // Octaves down to ~2–4 km, so native-resolution scenes get broken cloud edges (skipped at coarser pixels).
    addFbm(view(f.low), g, seed, 3, 900 * KM, 9, 0.58);
    addFbm(view(f.lowZ), g, seed, 4, 600 * KM, 3);
    addFbm(view(f.mid), g, seed, 5, 1500 * KM, 9, 0.52);
    addFbm(view(f.midZ), g, seed, 6, 800 * KM, 3);
    addFbm(view(f.high), g, seed, 7, 1800 * KM, 10, 0.6);
    addFbm(view(f.highZ), g, seed, 8, 1000 * KM, 3);
    addFbm(view(f.edge), g, seed, 9, 120 * KM, 4, 0.6);
    for (let r = 0; r < rows; r++) rowLonLat(geo, 0, r0 + r, W, sLat, sLon, r * W, trig);

    // Deep convection: the highest top of the cells over each pixel, and its (soft-edged) cover.
    deepZ.fill(0, 0, m);
    deepA.fill(0, 0, m);
    for (const c of cells) {
      const reach = c.anvilPx * c.stretch * 1.4 + 2;
      if (c.row + reach < r0 || c.row - reach >= r0 + rows) continue;
      const ra = Math.max(r0, Math.floor(c.row - reach)), rb = Math.min(r0 + rows - 1, Math.ceil(c.row + reach));
      const ca = Math.max(0, Math.floor(c.col - reach)), cb = Math.min(W - 1, Math.ceil(c.col + reach));
      for (let r = ra; r <= rb; r++) {
        const dy = r + 0.5 - c.row;
        for (let col = ca; col <= cb; col++) {
          const k = (r - r0) * W + col;
          const dx = col + 0.5 - c.col;
          const d = Math.sqrt(dx * dx + dy * dy);
          const along = (dx * c.cos + dy * c.sin) / c.stretch, across = -dx * c.sin + dy * c.cos;
          const ds = Math.sqrt(along * along + across * across);
          // Ragged anvil edge: the radius is modulated by the edge noise.
          const rr = ds / (c.anvilPx * (0.75 + 0.7 * (f.edge[k]! - 0.5) * 2));
          if (rr >= 1.15) continue;
          const alpha = rr <= 0.95 ? 1 : (1.15 - rr) / 0.2;
          let z = c.anvilTopM - 900 * rr * rr;
          const q = d / c.corePx;
          if (q < 1.5) z = Math.max(z, c.coreTopM - (c.coreTopM - c.anvilTopM) * (q * q) / 2.25);
          if (z > deepZ[k]!) deepZ[k] = z;
          if (alpha > deepA[k]!) deepA[k] = alpha;
        }
      }
    }

    for (let r = 0; r < rows; r++) {
      for (let col = 0; col < W; col++) {
        const k = r * W + col;
        const out = (r0 + r) * W + col;
        const la = sLat[k]!, lo = sLon[k]!;
        if (lat && lon) {
          lat[out] = la;
          lon[out] = lo;
        }
        if (Number.isNaN(la)) {
          btK[out] = NaN;
          if (refl) refl[out] = NaN;
          truthCloud[out] = CLOUD.NODATA;
          truthType[out] = CLOUD_TYPE.NODATA;
          truthCthM[out] = NaN;
          continue;
        }
        const isLand = f.land[k]! > 0.56;
        const zi = zonal.at(la);
        let t = zonal.clear[zi]! + (f.sfc[k]! - 0.5) * 6 + (isLand ? zonal.land[zi]! : 0);
        let top = NaN;
        let type: number = CLOUD_TYPE.CLEAR;
        // Visible: the scene's bidirectional reflectance, composited like the BT (sea dark, land brighter, clouds bright).
        let rho = refl ? (isLand ? 0.14 : 0.05) + (f.sfc[k]! - 0.5) * 0.04 : 0;
        if (cloudiness > 0) {
          // Low deck
          const aLow = soft(f.low[k]!, (isLand ? zonal.lowLand[zi]! : zonal.low[zi]!));
          if (aLow > 0) {
            const z = 600 + 2200 * clamp01((f.lowZ[k]! - 0.3) / 0.4);
            t += (ctt(z) - t) * aLow;
            rho += (0.45 + 0.25 * f.lowZ[k]! - rho) * aLow;
            if (aLow >= 0.5) {
              top = z;
              type = CLOUD_TYPE.LOW;
            }
          }
          // Mid deck
          const aMid = soft(f.mid[k]!, zonal.mid[zi]!);
          if (aMid > 0) {
            const z = 3500 + 3500 * clamp01((f.midZ[k]! - 0.3) / 0.4);
            t += (ctt(z) - t) * aMid;
            rho += (0.6 - rho) * aMid;
            if (aMid >= 0.5) {
              top = z;
              type = CLOUD_TYPE.MID;
            }
          }
          // Deep convection (opaque)
          const aDeep = deepA[k]!;
          if (aDeep > 0) {
            const z = deepZ[k]!;
            t += (ctt(z) - t) * aDeep;
            rho += (0.9 - rho) * aDeep;
            if (aDeep >= 0.5) {
              top = z;
              type = CLOUD_TYPE.DEEP;
            }
          }
          // Thin cirrus: emissivity from its optical depth, which grows into the deck.
          const th = zonal.high[zi]!;
          const vHigh = f.high[k]!;
          if (vHigh > th - 0.02) {
            const tau = Math.max(0, (vHigh - th + 0.02) * 30);
            const eps = (1 - Math.exp(-tau)) * 0.98;
            const z = 8500 + 3000 * clamp01((f.highZ[k]! - 0.3) / 0.4);
            if (!(type === CLOUD_TYPE.DEEP && z < top)) {
              t += (ctt(z) - t) * eps;
              rho += (0.6 - rho) * eps * 0.6;
              // Detectable in the window band once it takes a fifth of the way to its own temperature.
              if (eps >= 0.2) {
                top = z;
                type = CLOUD_TYPE.CIRRUS;
              }
            }
          }
        }
        if (cyc) {
          const res = cycloneAt(cyc, la, lo, f.edge[k]!, t);
          if (res) {
            t = res.t;
            rho += (0.88 - rho) * res.cover;
            if (res.cloud) {
              top = heightOfCloudTop(res.top);
              type = CLOUD_TYPE.DEEP;
            } else if (res.eye) {
              top = NaN;
              type = CLOUD_TYPE.CLEAR;
            }
          }
        }
        // Detector noise, NEdT ≈ 0.1 K at 300 K (ABI band 13 spec; GOES-R PUG).
        t += noiseRng.normal() * 0.1;
        btK[out] = t;
        if (refl) refl[out] = rho * Math.max(0, sun.cosZenith(la, lo));
        truthType[out] = type;
        truthCloud[out] = type === CLOUD_TYPE.CLEAR ? CLOUD.CLEAR : CLOUD.CLOUD;
        truthCthM[out] = type === CLOUD_TYPE.CLEAR ? NaN : top;
      }
    }
  }
  const scene: SyntheticScene = {
    instrument,
    platform: instrument === 'abi' ? 'goes-19' : 'himawari-9',
    band: 13,
    wavelengthUm: instrument === 'abi' ? 10.33 : 10.4073,
    time,
    seed: o.seed,
    geo,
    width: W,
    height: H,
    btK,
    truthCloud,
    truthType,
    truthCthM,
    cyclone: cyc,
  };
  if (refl) scene.reflectance = refl;
  if (lat && lon) {
    scene.lat = lat;
    scene.lon = lon;
  }
  return scene;
}

/**
 * Solar zenith cosine at a place for one instant: declination and equation of
 * time by the NOAA low-accuracy formulas (Spencer 1971 series, ~0.1°), plenty
 * for a synthetic visible band.
 */
function solarGeometry(time: Date): { cosZenith(latDeg: number, lonDeg: number): number } {
  const doy = (time.getTime() - Date.UTC(time.getUTCFullYear(), 0, 1)) / 86_400_000;
  const g = (2 * Math.PI * doy) / 365;
  const decl = 0.006918 - 0.399912 * Math.cos(g) + 0.070257 * Math.sin(g) - 0.006758 * Math.cos(2 * g) + 0.000907 * Math.sin(2 * g) - 0.002697 * Math.cos(3 * g) + 0.00148 * Math.sin(3 * g);
  const eqtMin = 229.18 * (0.000075 + 0.001868 * Math.cos(g) - 0.032077 * Math.sin(g) - 0.014615 * Math.cos(2 * g) - 0.040849 * Math.sin(2 * g));
  const utcMin = (time.getTime() % 86_400_000) / 60_000;
  const sd = Math.sin(decl), cd = Math.cos(decl);
  return {
    cosZenith(latDeg: number, lonDeg: number): number {
      const ha = ((utcMin + eqtMin + 4 * lonDeg) / 4 - 180) * DEG;
      const phi = latDeg * DEG;
      return Math.sin(phi) * sd + Math.cos(phi) * cd * Math.cos(ha);
    },
  };
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** Soft cloud edge: cover rises from 0 to 1 over 0.03 of field value above the threshold (partly filled edge pixels). */
function soft(v: number, th: number): number {
  const a = (v - th) / 0.03 + 0.5;
  return a <= 0 ? 0 : a >= 1 ? 1 : a;
}

/**
 * The cyclone's contribution at a pixel: eye (warm), central dense overcast
 * (cold, slowly warming outward), then logarithmic spiral bands that warm and
 * thin with radius, turning cyclonically (anticlockwise inward in the north).
 */
function cycloneAt(c: CycloneSpec, la: number, lo: number, edgeNoise: number, below: number): { t: number; top: number; cloud: boolean; eye: boolean; cover: number } | null {
  if (Math.abs(la - c.lat) * 111.2 > c.radiusKm * 1.05) return null;
  const r = distanceKm(la, lo, c.lat, c.lon);
  if (r > c.radiusKm) return null;
  const eyeEdge = c.eyeRadiusKm;
  if (r < eyeEdge) {
    // The eye wall slopes outward: the last 25 % of the eye radius blends to the overcast.
    const w = clamp01((r / eyeEdge - 0.75) / 0.25);
    const t = c.eyeTempK + (c.cloudTopTempK - c.eyeTempK) * w * w;
    // A warm eye is the sea surface or low cloud seen through a clear eye; a cold "eye" (< 265 K) is cloud-filled.
    const cloud = t < (c.eyeTempK + c.cloudTopTempK) / 2 || t < 265;
    return { t, top: t, cloud, eye: !cloud, cover: w * w };
  }
  const cdo = Math.min(Math.max(3 * c.eyeRadiusKm, 0.3 * c.radiusKm, 150), 0.7 * c.radiusKm);
  let dLon = lo - c.lon;
  if (dLon > 180) dLon -= 360;
  if (dLon < -180) dLon += 360;
  const east = dLon * Math.cos(c.lat * DEG), north = la - c.lat;
  const theta = Math.atan2(north, east);
  if (r < cdo) {
    const u = (r - eyeEdge) / (cdo - eyeEdge);
    const t = c.cloudTopTempK + 7 * u * u + (edgeNoise - 0.5) * 3;
    return { t, top: t, cloud: true, eye: false, cover: 1 };
  }
  const arms = c.arms ?? 3;
  const hemi = c.lat >= 0 ? 1 : -1;
  const pitch = Math.tan(18 * DEG);
  const phase = arms * (theta + (hemi * Math.log(r / cdo)) / pitch) + (edgeNoise - 0.5) * 2.5;
  const w = 1 - (r - cdo) / (c.radiusKm - cdo);
  const band = 0.5 + 0.5 * Math.cos(phase);
  const a = clamp01((band * (0.55 + 0.45 * w) - 0.45) / 0.12);
  if (a <= 0) return null;
  const tBand = c.cloudTopTempK + 12 + (1 - w) * 40;
  const t = below + (tBand - below) * a;
  return { t, top: tBand, cloud: a >= 0.5, eye: false, cover: a };
}
