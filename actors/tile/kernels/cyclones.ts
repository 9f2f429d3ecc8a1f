/**
 * L3 tropical-cyclone detection with a Dvorak/ADT-style intensity, TS
 * reference. Two steps; the first is the pixel work (the native kernel
 * mirrors it line for line), the second is table arithmetic shared by both
 * implementations:
 *
 * 1. measureCyclones: cold cloud shields are 8-connected regions with
 *    BT ≤ shieldK (−40 °C) covering ≥ minShieldAreaKm2. In each, candidate
 *    centres are its enclosed warm holes no larger than an eye
 *    (area-equivalent radius ≤ maxEyeRadiusKm; the hole's centroid; the 16
 *    largest such holes) and the
 *    shield's coldness-weighted centroid (a CDO centre). Around a centre the
 *    ADT measurements (Olander & Velden 2007; ring geometry of the ADT,
 *    as in its Unidata/IDV port): eye temperature = warmest pixel within
 *    24 km; 4 km rings from 24 to 136 km, each ring's warmest pixel, the
 *    coldest of those = the closed cold ring ("CW cloud"); cloud temperature =
 *    mean BT of the annulus max(28, cw−40)…max(108, cw+40) km; symmetry =
 *    mean |difference| of opposite 15° sector means over 24–136 km; CDO
 *    size = area-equivalent diameter of BT ≤ −30 °C within 216 km.
 *    An eye scene needs a closed cold ring (cw ≤ shieldK) and an eye at
 *    least eyeContrastK (35 K) warmer than the cloud, in a ring with
 *    symmetry ≤ maxEyeSymmetryK (5 K); the best such hole wins. Otherwise a
 *    CDO scene needs a closed cold ring, symmetry ≤ maxSymmetryK (5 K), a
 *    cold annulus (≤ maxCdoCloudK, −50 °C), a shield of one storm's size
 *    (minCdoShieldAreaKm2..maxCdoShieldAreaKm2, 100 000–500 000 km²) and a
 *    round one (second-moment roundness ≥ minRoundness, 0.8: a frontal band
 *    is point-symmetric too, but long). Centres must lie at
 *    minAbsLat..maxAbsLat (3–45°). One fix per shield at most.
 *    Single-image detection cannot tell a round mesoscale convective system
 *    from a CDO-only storm for sure. These thresholds are conservative and
 *    were tuned on full-disk synthetic scenes with hundreds of convective
 *    systems, where only the planted cyclone passes (ten 2048² seeds at 8 km
 *    and three 1024² ones); weak eyes (< 35 K contrast) and small CDO-only
 *    storms go undetected. A real deployment would seed centres from best-track
 *    positions, as ADT does.
 * 2. fixesFromMeasurements: T-number/CI/vmax/MSLP with physics/dvorak.ts.
 *
 * Distances use a local equirectangular projection around each centre from
 * the per-pixel latitude/longitude, so the kernel works on any raster
 * (full resolution or the downsampled merged scene).
 */
import type { CycloneFix } from '../types.js';
import { basinFor, ciFromT, ciToIntensity, tNumber, type Basin } from '../physics/dvorak.js';
import { checkArray, checkDims, checkNumber, invalid } from './validate.js';

export interface CycloneOptions {
  shieldK?: number;
  minShieldAreaKm2?: number;
  maxEyeRadiusKm?: number;
  eyeContrastK?: number;
  maxSymmetryK?: number;
  /** CDO scenes only: minimum √(λmin/λmax) of the cold shield's second moments (1 = round). */
  minRoundness?: number;
  /** CDO scenes only: the cloud annulus must be at least this cold (default −50 °C). */
  maxCdoCloudK?: number;
  /** Eye scenes: the cloud ring's symmetry must be within this (default 5 K). */
  maxEyeSymmetryK?: number;
  /** CDO scenes: a cold shield larger than this is a cluster or monsoon trough, not one CDO (default 500 000 km²). */
  maxCdoShieldAreaKm2?: number;
  /** CDO scenes: the cold shield must be at least this large (default 100 000 km²: single convective anvils stay below). */
  minCdoShieldAreaKm2?: number;
  minAbsLat?: number;
  maxAbsLat?: number;
  /** Force a basin; by default basinFor(lat, lon). */
  basin?: Basin;
}

/** One cyclone's measurements before the Dvorak step (also what the native kernel returns). */
export interface CycloneMeasurement {
  row: number;
  col: number;
  lat: number;
  lon: number;
  scene: 'eye' | 'cdo';
  eyeTempK: number | null;
  cwCloudTempK: number;
  cwRingKm: number;
  cloudTempK: number;
  symmetryK: number;
  cdoSizeKm: number;
  shieldAreaKm2: number;
  shieldRoundness: number;
}

export type CycloneEstimate = CycloneFix & { row: number; col: number; symmetryK: number; cdoSizeKm: number; shieldAreaKm2: number; shieldRoundness: number; basin: Basin };

/** Parameter vector order shared with native/src/cyclones.cc. */
export function cycloneParams(opts: CycloneOptions = {}): Float64Array {
  const k = 'cyclones';
  return Float64Array.of(
    checkNumber(k, 'shieldK', opts.shieldK ?? 233.15, 150, 320),
    checkNumber(k, 'minShieldAreaKm2', opts.minShieldAreaKm2 ?? 20_000, 0),
    checkNumber(k, 'maxEyeRadiusKm', opts.maxEyeRadiusKm ?? 60, 0),
    checkNumber(k, 'eyeContrastK', opts.eyeContrastK ?? 35, 0),
    checkNumber(k, 'maxSymmetryK', opts.maxSymmetryK ?? 5, 0),
    checkNumber(k, 'minAbsLat', opts.minAbsLat ?? 3, 0, 90),
    checkNumber(k, 'maxAbsLat', opts.maxAbsLat ?? 45, 0, 90),
    checkNumber(k, 'minRoundness', opts.minRoundness ?? 0.8, 0, 1),
    checkNumber(k, 'maxCdoCloudK', opts.maxCdoCloudK ?? 223.15, 150, 320),
    checkNumber(k, 'maxEyeSymmetryK', opts.maxEyeSymmetryK ?? 5, 0),
    checkNumber(k, 'maxCdoShieldAreaKm2', opts.maxCdoShieldAreaKm2 ?? 500_000, 0),
    checkNumber(k, 'minCdoShieldAreaKm2', opts.minCdoShieldAreaKm2 ?? 100_000, 0),
  );
}

export function checkCycloneArgs(bt: unknown, lat: unknown, lon: unknown, width: unknown, height: unknown, opts: CycloneOptions): Float64Array {
  const n = checkDims('cyclones', width, height);
  checkArray('cyclones', 'bt', bt, Float32Array, n);
  checkArray('cyclones', 'lat', lat, Float32Array, n);
  checkArray('cyclones', 'lon', lon, Float32Array, n);
  if (opts.basin !== undefined && opts.basin !== 'atlantic' && opts.basin !== 'nw_pacific') throw invalid('cyclones', `basin must be 'atlantic' or 'nw_pacific'`);
  return cycloneParams(opts);
}

export const MEASUREMENT_STRIDE = 13;
const KM_PER_DEG = 111.19492664; // mean earth radius 6371.0088 km
const EYE_R = 24;
const INNER_R = 24;
const OUTER_R = 136;
const RING_W = 4;
const N_RINGS = (OUTER_R - INNER_R) / RING_W;
const N_SECTORS = 24;
const WINDOW_R = OUTER_R + 80;
const CDO_K = 273.15 - 30;
const MAX_EYE_CANDIDATES = 16;

interface Ctx {
  bt: Float32Array;
  lat: Float32Array;
  lon: Float32Array;
  w: number;
  h: number;
}

/** Local pixel size (km) at (r, c) from the neighbouring pixels' coordinates; null off disk. */
function spacing(x: Ctx, r: number, c: number): [number, number] | null {
  const i = r * x.w + c;
  const c2 = c + 1 < x.w ? c + 1 : c - 1;
  const r2 = r + 1 < x.h ? r + 1 : r - 1;
  if (c2 < 0 || r2 < 0) return null;
  const la = x.lat[i] as number, lo = x.lon[i] as number;
  const cosLat = Math.cos((la * Math.PI) / 180);
  const ja = r * x.w + c2, jb = r2 * x.w + c;
  const d = (j: number): number => {
    let dl = (x.lon[j] as number) - lo;
    if (dl > 180) dl -= 360;
    else if (dl < -180) dl += 360;
    const ex = dl * cosLat * KM_PER_DEG, ey = ((x.lat[j] as number) - la) * KM_PER_DEG;
    return Math.sqrt(ex * ex + ey * ey);
  };
  const dx = d(ja), dy = d(jb);
  if (!(dx > 0) || !(dy > 0)) return null;
  return [dx, dy];
}

interface RingStats {
  eyeTempK: number;
  cwCloudTempK: number;
  cwRingKm: number;
  cloudTempK: number;
  symmetryK: number;
  cdoSizeKm: number;
}

function ringStats(x: Ctx, r0: number, c0: number): RingStats | null {
  const i0 = r0 * x.w + c0;
  const lat0 = x.lat[i0] as number, lon0 = x.lon[i0] as number;
  if (Number.isNaN(lat0) || Number.isNaN(lon0)) return null;
  const sp = spacing(x, r0, c0);
  if (sp === null) return null;
  const cosLat = Math.cos((lat0 * Math.PI) / 180);
  const hc = Math.ceil(WINDOW_R / sp[0]) + 1, hr = Math.ceil(WINDOW_R / sp[1]) + 1;
  const ra = Math.max(0, r0 - hr), rb = Math.min(x.h - 1, r0 + hr);
  const ca = Math.max(0, c0 - hc), cb = Math.min(x.w - 1, c0 + hc);
  let eyeMax = -Infinity;
  const ringMax = new Float64Array(N_RINGS).fill(-Infinity);
  const secSum = new Float64Array(N_SECTORS), secN = new Float64Array(N_SECTORS);
  let cdoN = 0;
  for (let pass = 0; pass < 2; pass++) {
    let annSum = 0, annN = 0, annA = 0, annB = 0, cw = Infinity, cwRing = 0;
    if (pass === 1) {
      for (let j = 0; j < N_RINGS; j++) {
        const m = ringMax[j] as number;
        if (m > 160 && m < cw) {
          cw = m;
          cwRing = INNER_R + j * RING_W;
        }
      }
      if (cw === Infinity) return null;
      annA = Math.max(28, cwRing - 40);
      annB = Math.max(108, cwRing + 40);
    }
    for (let r = ra; r <= rb; r++) {
      for (let c = ca; c <= cb; c++) {
        const i = r * x.w + c;
        const t = x.bt[i] as number, la = x.lat[i] as number, lo = x.lon[i] as number;
        if (Number.isNaN(t) || Number.isNaN(la) || Number.isNaN(lo)) continue;
        let dl = lo - lon0;
        if (dl > 180) dl -= 360;
        else if (dl < -180) dl += 360;
        const ex = dl * cosLat * KM_PER_DEG, ey = (la - lat0) * KM_PER_DEG;
        const d = Math.sqrt(ex * ex + ey * ey);
        if (pass === 1) {
          if (d >= annA && d <= annB) {
            annSum += t;
            annN++;
          }
          continue;
        }
        if (d <= EYE_R && t > eyeMax) eyeMax = t;
        if (d >= INNER_R && d < OUTER_R) {
          const j = Math.floor((d - INNER_R) / RING_W);
          if (t > (ringMax[j] as number)) ringMax[j] = t;
        }
        if (d >= INNER_R && d <= OUTER_R) {
          let a = (Math.atan2(ey, ex) * 180) / Math.PI;
          if (a < 0) a += 360;
          let s = Math.floor(a / 15);
          if (s >= N_SECTORS) s = N_SECTORS - 1;
          secSum[s] = (secSum[s] as number) + t;
          secN[s] = (secN[s] as number) + 1;
        }
        if (d <= WINDOW_R && t <= CDO_K) cdoN++;
      }
    }
    if (pass === 1) {
      if (annN === 0) return null;
      let acc = 0, m = 0;
      for (let s = 0; s < N_SECTORS / 2; s++) {
        const na = secN[s] as number, nb = secN[s + N_SECTORS / 2] as number;
        if (na > 0 && nb > 0) {
          acc += Math.abs((secSum[s] as number) / na - (secSum[s + N_SECTORS / 2] as number) / nb);
          m++;
        }
      }
      if (m === 0) return null;
      return {
        eyeTempK: eyeMax === -Infinity ? NaN : eyeMax,
        cwCloudTempK: cw,
        cwRingKm: cwRing,
        cloudTempK: annSum / annN,
        symmetryK: acc / m,
        cdoSizeKm: 2 * Math.sqrt((cdoN * sp[0] * sp[1]) / Math.PI),
      };
    }
  }
  return null;
}

/**
 * Shape of a pixel set from its moment sums: √(λmin/λmax) of the covariance
 * of its (x, y) in km (pixel sizes sx, sy), 1 for a disc, → 0 for a line.
 */
function roundness(n: number, sr: number, sc: number, srr: number, scc: number, src: number, sx: number, sy: number): number {
  const mr = sr / n, mc = sc / n;
  const vy = (srr / n - mr * mr) * sy * sy;
  const vx = (scc / n - mc * mc) * sx * sx;
  const cxy = (src / n - mr * mc) * sx * sy;
  const half = (vx + vy) / 2;
  const disc = Math.sqrt(Math.max(0, half * half - (vx * vy - cxy * cxy)));
  const lmax = half + disc, lmin = Math.max(0, half - disc);
  return lmax > 0 ? Math.sqrt(lmin / lmax) : 1;
}

/** Step 1 (pixel work): flat measurements, MEASUREMENT_STRIDE numbers per cyclone (see CycloneMeasurement). */
export function measureCyclonesFlat(bt: Float32Array, lat: Float32Array, lon: Float32Array, w: number, h: number, p: Float64Array): Float64Array {
  const shieldK = p[0] as number, minArea = p[1] as number, maxEyeR = p[2] as number, eyeContrast = p[3] as number;
  const maxSym = p[4] as number, minAbsLat = p[5] as number, maxAbsLat = p[6] as number, minRound = p[7] as number, maxCdoCloud = p[8] as number, maxEyeSym = p[9] as number, maxCdoArea = p[10] as number, minCdoArea = p[11] as number;
  const x: Ctx = { bt, lat, lon, w, h };
  const n = w * h;
  const labels = new Int32Array(n);
  const queue = new Int32Array(n);
  const out: number[] = [];
  let nextId = 0;
  for (let seed = 0; seed < n; seed++) {
    if (labels[seed] !== 0 || !((bt[seed] as number) <= shieldK)) continue;
    const id = ++nextId;
    // Breadth-first 8-connected labelling; neighbour order fixed (native matches it).
    let head = 0, tail = 0;
    queue[tail++] = seed;
    labels[seed] = id;
    let count = 0, wsum = 0, wr = 0, wc = 0, sr = 0, sc = 0, srr = 0, scc = 0, src = 0;
    let r0 = h, r1 = -1, c0 = w, c1 = -1;
    while (head < tail) {
      const i = queue[head++] as number;
      const r = Math.floor(i / w), c = i - r * w;
      const wt = shieldK - (bt[i] as number);
      count++;
      wsum += wt;
      wr += wt * r;
      wc += wt * c;
      sr += r;
      sc += c;
      srr += r * r;
      scc += c * c;
      src += r * c;
      if (r < r0) r0 = r;
      if (r > r1) r1 = r;
      if (c < c0) c0 = c;
      if (c > c1) c1 = c;
      for (let dr = -1; dr <= 1; dr++) {
        const rr = r + dr;
        if (rr < 0 || rr >= h) continue;
        for (let dc = -1; dc <= 1; dc++) {
          const cc = c + dc;
          if ((dr === 0 && dc === 0) || cc < 0 || cc >= w) continue;
          const j = rr * w + cc;
          if (labels[j] === 0 && (bt[j] as number) <= shieldK) {
            labels[j] = id;
            queue[tail++] = j;
          }
        }
      }
    }
    const cr = wsum > 0 ? Math.floor(wr / wsum + 0.5) : Math.floor(sr / count + 0.5);
    const cc = wsum > 0 ? Math.floor(wc / wsum + 0.5) : Math.floor(sc / count + 0.5);
    const spC = spacing(x, cr, cc);
    if (spC === null || Number.isNaN(lat[cr * w + cc] as number)) continue;
    const pxArea = spC[0] * spC[1];
    const area = count * pxArea;
    if (area < minArea) continue;
    const round = roundness(count, sr, sc, srr, scc, src, spC[0], spC[1]);
    // Holes: pixels of the bounding box not in the shield and not reachable from the box's border.
    const bw = c1 - c0 + 1, bh = r1 - r0 + 1;
    const mark = new Uint8Array(bw * bh);
    const lq = new Int32Array(bw * bh);
    let lt = 0;
    for (let r = 0; r < bh; r++) {
      for (let c = 0; c < bw; c++) {
        const k = r * bw + c;
        if (labels[(r + r0) * w + (c + c0)] === id) mark[k] = 1;
        else if (r === 0 || c === 0 || r === bh - 1 || c === bw - 1) {
          mark[k] = 2;
          lq[lt++] = k;
        }
      }
    }
    for (let lh = 0; lh < lt; ) {
      const k = lq[lh++] as number;
      const r = Math.floor(k / bw), c = k - r * bw;
      const nb = [r > 0 ? k - bw : -1, r < bh - 1 ? k + bw : -1, c > 0 ? k - 1 : -1, c < bw - 1 ? k + 1 : -1];
      for (const j of nb) {
        if (j >= 0 && mark[j] === 0) {
          mark[j] = 2;
          lq[lt++] = j;
        }
      }
    }
    const holes: Array<[number, number, number]> = [];
    for (let k0 = 0; k0 < bw * bh; k0++) {
      if (mark[k0] !== 0) continue;
      let hh = 0, ht = 0, hs = 0, hr = 0, hc = 0;
      lq[ht++] = k0;
      mark[k0] = 3;
      while (hh < ht) {
        const k = lq[hh++] as number;
        const r = Math.floor(k / bw), c = k - r * bw;
        hs++;
        hr += r;
        hc += c;
        const nb = [r > 0 ? k - bw : -1, r < bh - 1 ? k + bw : -1, c > 0 ? k - 1 : -1, c < bw - 1 ? k + 1 : -1];
        for (const j of nb) {
          if (j >= 0 && mark[j] === 0) {
            mark[j] = 3;
            lq[ht++] = j;
          }
        }
      }
      if (Math.sqrt((hs * pxArea) / Math.PI) <= maxEyeR) holes.push([r0 + Math.floor(hr / hs + 0.5), c0 + Math.floor(hc / hs + 0.5), hs]);
    }
    // Only the largest holes are eye candidates: a ragged shield can hold
    // thousands of one-pixel gaps, and each candidate costs a ring analysis
    // (Array.prototype.sort is stable, as the native std::stable_sort).
    holes.sort((a, b) => b[2] - a[2]);
    const cands: Array<[number, number, boolean]> = holes.slice(0, MAX_EYE_CANDIDATES).map(([r, c]) => [r, c, true]);
    cands.push([cr, cc, false]);
    let best: { r: number; c: number; s: RingStats; eye: boolean } | null = null;
    let bestContrast = -Infinity;
    for (const [r, c, isHole] of cands) {
      const s = ringStats(x, r, c);
      if (s === null || !(s.cwCloudTempK <= shieldK)) continue;
      if (isHole) {
        const contrast = s.eyeTempK - s.cloudTempK;
        if (contrast >= eyeContrast && s.symmetryK <= maxEyeSym && contrast > bestContrast) {
          bestContrast = contrast;
          best = { r, c, s, eye: true };
        }
      } else if (best === null && s.symmetryK <= maxSym && round >= minRound && s.cloudTempK <= maxCdoCloud && area <= maxCdoArea && area >= minCdoArea) best = { r, c, s, eye: false };
    }
    if (best === null) continue;
    const la = lat[best.r * w + best.c] as number;
    if (Math.abs(la) < minAbsLat || Math.abs(la) > maxAbsLat) continue;
    out.push(
      best.r,
      best.c,
      la,
      lon[best.r * w + best.c] as number,
      best.eye ? 1 : 0,
      best.eye ? best.s.eyeTempK : NaN,
      best.s.cwCloudTempK,
      best.s.cwRingKm,
      best.s.cloudTempK,
      best.s.symmetryK,
      best.s.cdoSizeKm,
      area,
      round,
    );
  }
  return Float64Array.from(out);
}

export function unpackMeasurements(flat: Float64Array): CycloneMeasurement[] {
  const out: CycloneMeasurement[] = [];
  for (let k = 0; k + MEASUREMENT_STRIDE <= flat.length; k += MEASUREMENT_STRIDE) {
    const f = (o: number): number => flat[k + o] as number;
    out.push({
      row: f(0),
      col: f(1),
      lat: f(2),
      lon: f(3),
      scene: f(4) === 1 ? 'eye' : 'cdo',
      eyeTempK: f(4) === 1 ? f(5) : null,
      cwCloudTempK: f(6),
      cwRingKm: f(7),
      cloudTempK: f(8),
      symmetryK: f(9),
      cdoSizeKm: f(10),
      shieldAreaKm2: f(11),
      shieldRoundness: f(12),
    });
  }
  return out;
}

/** Step 2: Dvorak/ADT T-number → CI → vmax/MSLP for each measured cyclone. */
export function fixesFromMeasurements(ms: CycloneMeasurement[], opts: CycloneOptions = {}): CycloneEstimate[] {
  return ms.map((m) => {
    const basin = opts.basin ?? basinFor(m.lat, m.lon);
    const t = tNumber({ scene: m.scene, eyeTempK: m.eyeTempK, cloudTempK: m.cloudTempK, cloudSymmetryK: m.symmetryK, cdoSizeKm: m.cdoSizeKm, basin });
    const ci = ciFromT(t);
    const { vmaxKt, mslpHpa } = ciToIntensity(ci, basin);
    return {
      lat: m.lat,
      lon: m.lon,
      eyeTempK: m.eyeTempK,
      cloudTempK: m.cloudTempK,
      scene: m.scene,
      tNumber: t,
      ci,
      vmaxKt,
      mslpHpa,
      row: m.row,
      col: m.col,
      symmetryK: m.symmetryK,
      cdoSizeKm: m.cdoSizeKm,
      shieldAreaKm2: m.shieldAreaKm2,
      shieldRoundness: m.shieldRoundness,
      basin,
    };
  });
}

export function cyclones(bt: Float32Array, lat: Float32Array, lon: Float32Array, width: number, height: number, opts: CycloneOptions = {}): CycloneEstimate[] {
  const p = checkCycloneArgs(bt, lat, lon, width, height, opts);
  return fixesFromMeasurements(unpackMeasurements(measureCyclonesFlat(bt, lat, lon, width, height, p)), opts);
}
