/**
 * Per-pixel latitude/longitude of a scene rectangle, from its SceneGeo.
 *
 * The geometry is imagery-geo.ts scanToLonLat (GOES-R PUG vol. 3 5.1.2.8.1
 * for sweep-x, CGMS LRIT/HRIT Global Spec. 4.4.4 for sweep-y); this module is
 * the same arithmetic laid out for a raster: the scan angles are linear in
 * column and row, so their sines and cosines are taken once per column and
 * once per row instead of per pixel, and nothing is allocated per pixel.
 * This runs on every tile (and on the whole disk in the generator), where
 * calling scanToLonLat per pixel would allocate an array for each one.
 * test/unit/tile-formats-geo.test.ts checks it against scanToLonLat.
 */
import type { GeosParams } from '../../ingest/imagery-geo.js';
import type { TimeSlicer } from '../../runtime/time-slice.js';
import type { PixelRect, SceneGeo } from '../types.js';

const DEG = 180 / Math.PI;

/** The AHI navigation of a scene: CGMS CFAC/LFAC (integers) and COFF/LOFF (f4, 1-based) that the HSD file will carry. */
export interface AhiNavigation {
  cfac: number;
  lfac: number;
  coff: number;
  loff: number;
}

/** SceneGeo of AHI pixels from CGMS navigation: column c = col + 1, line l = firstLine + row (LRIT/HRIT Global Spec. 4.4.4). */
export function ahiSceneGeo(nav: AhiNavigation, firstLine: number, params: GeosParams): SceneGeo {
  const sx = (65536 / nav.cfac) / DEG;
  const sy = (65536 / nav.lfac) / DEG;
  // CGMS line angles grow southwards; SceneGeo is north-up.
  return { params, x0: (1 - nav.coff) * sx, dx: sx, y0: -(firstLine - nav.loff) * sy, dy: -sy };
}

/**
 * Scan angles (rad, SceneGeo's north-up convention) at which the satellite
 * sees a geodetic lat/lon (degrees); null when the point is on the far side
 * of the earth. GOES-R PUG vol. 3 5.1.2.8.2 (sweep x) and CGMS LRIT/HRIT
 * Global Spec. 4.4.4 (sweep y; its south-positive line angle negated).
 */
export function lonLatToScan(latDeg: number, lonDeg: number, p: GeosParams): { x: number; y: number } | null {
  const { h, req, rpol } = p;
  const e2 = 1 - (rpol * rpol) / (req * req);
  const phi = latDeg / DEG;
  const phic = Math.atan(((rpol * rpol) / (req * req)) * Math.tan(phi));
  const rc = rpol / Math.sqrt(1 - e2 * Math.cos(phic) ** 2);
  const dl = (lonDeg - p.lon0) / DEG;
  const sx = h - rc * Math.cos(phic) * Math.cos(dl);
  const sy = -rc * Math.cos(phic) * Math.sin(dl);
  const sz = rc * Math.sin(phic);
  // The PUG's visibility test: the point faces away from the satellite.
  if (h * (h - sx) < sy * sy + ((req * req) / (rpol * rpol)) * sz * sz) return null;
  const rn = Math.sqrt(sx * sx + sy * sy + sz * sz);
  if (p.sweep === 'x') return { x: Math.asin(-sy / rn), y: Math.atan(sz / sx) };
  return { x: Math.atan(-sy / sx), y: Math.asin(sz / rn) };
}

export interface LatLonRaster {
  lat: Float32Array;
  lon: Float32Array;
}

/** Scan angles (rad, north-up) of the pixel centre at (col, row) of the scene. */
export function pixelScanAngles(geo: SceneGeo, col: number, row: number): [number, number] {
  return [geo.x0 + col * geo.dx, geo.y0 + row * geo.dy];
}

/** Latitude/longitude (degrees) of every pixel centre of `rect`, row-major; NaN where the line of sight misses the earth. */
export function pixelLonLat(geo: SceneGeo, rect: PixelRect): LatLonRaster {
  const { width, height } = rect;
  const lat = new Float32Array(width * height);
  const lon = new Float32Array(width * height);
  const cols = columnTrig(geo, rect.col0, width);
  for (let r = 0; r < height; r++) rowLonLat(geo, rect.col0, rect.row0 + r, width, lat, lon, r * width, cols);
  return { lat, lon };
}

/**
 * pixelLonLat row by row, giving the event loop a turn whenever `slicer`'s
 * budget is used: the same rows (rowLonLat), so the same values, but a
 * whole-scene raster (1356² at the product scale: ~0.1 s) or a limb tile
 * does not hold the loop in one stretch.
 */
export async function pixelLonLatSliced(geo: SceneGeo, rect: PixelRect, slicer: TimeSlicer): Promise<LatLonRaster> {
  const { width, height } = rect;
  const lat = new Float32Array(width * height);
  const lon = new Float32Array(width * height);
  const cols = columnTrig(geo, rect.col0, width);
  for (let r = 0; r < height; r++) {
    rowLonLat(geo, rect.col0, rect.row0 + r, width, lat, lon, r * width, cols);
    if (slicer.due()) await slicer.pause();
  }
  return { lat, lon };
}

/** cos and sin of the x scan angle of `width` columns from col0, shared by every row of a rectangle. */
export interface ColumnTrig {
  col0: number;
  cos: Float64Array;
  sin: Float64Array;
}

export function columnTrig(geo: SceneGeo, col0: number, width: number): ColumnTrig {
  const cos = new Float64Array(width), sin = new Float64Array(width);
  for (let i = 0; i < width; i++) {
    const x = geo.x0 + (col0 + i) * geo.dx;
    cos[i] = Math.cos(x);
    sin[i] = Math.sin(x);
  }
  return { col0, cos, sin };
}

/**
 * One row of `width` pixels from column col0 of scene row `row`, written into
 * lat/lon at `at`. Exposed so a caller can walk a large scene row by row
 * without holding whole-scene coordinate rasters; pass `cols` (columnTrig of
 * the same col0 and width) to reuse the column sines and cosines across rows.
 */
export function rowLonLat(geo: SceneGeo, col0: number, row: number, width: number, lat: Float32Array, lon: Float32Array, at: number, cols?: ColumnTrig): void {
  const trig = cols && cols.col0 === col0 && cols.cos.length >= width ? cols : columnTrig(geo, col0, width);
  const cosX = trig.cos, sinX = trig.sin;
  const { h, req, rpol, lon0 } = geo.params;
  const e2 = (req * req) / (rpol * rpol);
  const c = h * h - req * req;
  const yNorth = geo.y0 + row * geo.dy;
  if (geo.params.sweep === 'x') {
    const cy = Math.cos(yNorth), sy = Math.sin(yNorth);
    const k = cy * cy + e2 * sy * sy;
    for (let i = 0; i < width; i++) {
      const cx = cosX[i]!, sx = sinX[i]!;
      const a = sx * sx + cx * cx * k;
      const b = -2 * h * cx * cy;
      const disc = b * b - 4 * a * c;
      if (disc < 0) {
        lat[at + i] = NaN;
        lon[at + i] = NaN;
        continue;
      }
      const rs = (-b - Math.sqrt(disc)) / (2 * a);
      const px = rs * cx * cy;
      const py = -rs * sx;
      const pz = rs * cx * sy;
      const hx = h - px;
      lat[at + i] = Math.atan((e2 * pz) / Math.sqrt(hx * hx + py * py)) * DEG;
      lon[at + i] = normLon(lon0 - Math.atan(py / hx) * DEG);
    }
    return;
  }
  // CGMS sweep-y: its line angle grows southwards, SceneGeo's y northwards.
  const yc = -yNorth;
  const cy = Math.cos(yc), sy = Math.sin(yc);
  const k = cy * cy + e2 * sy * sy;
  for (let i = 0; i < width; i++) {
    const cx = cosX[i]!;
    const hcc = h * cx * cy;
    const disc = hcc * hcc - k * c;
    if (disc < 0) {
      lat[at + i] = NaN;
      lon[at + i] = NaN;
      continue;
    }
    const sn = (hcc - Math.sqrt(disc)) / k;
    const s1 = h - sn * cx * cy;
    const s2 = sn * sinX[i]! * cy;
    const s3 = -sn * sy;
    lat[at + i] = Math.atan((e2 * s3) / Math.sqrt(s1 * s1 + s2 * s2)) * DEG;
    lon[at + i] = normLon(lon0 + Math.atan(s2 / s1) * DEG);
  }
}

function normLon(l: number): number {
  if (l >= -180 && l <= 180) return l;
  return ((((l + 180) % 360) + 360) % 360) - 180;
}
