/**
 * Geostationary fixed-grid geometry for overlays, in the convention of the
 * STAC items' projection fields (actors/ingest/imagery-item.ts): `proj:wkt2`
 * names a "Geostationary Satellite (Sweep X|Y)" conversion (ISO 19162 WKT2),
 * and `proj:transform` maps pixel corners to fixed-grid metres, x east and
 * y north, metres = scan angle (rad) × satellite height above the ellipsoid,
 * as PROJ's `geos` projection defines them.
 *
 * lonLatToScan is PROJ's ellipsoidal geos forward (src/projections/geos.cpp,
 * read for understanding): geocentric latitude, the vector from the
 * satellite, the visibility test, then the two sweep orders. Pure maths, no
 * DOM: shared by the browser and a Node unit test.
 */

export interface GeosProjection {
  sweep: 'x' | 'y';
  /** Sub-satellite longitude, degrees. */
  lon0: number;
  /** Satellite height above the ellipsoid (perspective point height), m. */
  height: number;
  /** Semi-major and semi-minor axes, m. */
  a: number;
  b: number;
}

const num = (s: string | undefined): number => (s === undefined ? NaN : Number(s));

/** The geostationary parameters of a WKT2 string; null when it is not a geostationary CRS. */
export function parseGeosWkt2(wkt: string): GeosProjection | null {
  const method = /METHOD\["Geostationary Satellite \(Sweep ([XY])\)"/i.exec(wkt);
  const ellipsoid = /ELLIPSOID\["[^"]*",\s*([-+\d.eE]+),\s*([-+\d.eE]+)/.exec(wkt);
  const lon0 = /PARAMETER\["Longitude of natural origin",\s*([-+\d.eE]+)/.exec(wkt);
  const height = /PARAMETER\["Satellite Height",\s*([-+\d.eE]+)/.exec(wkt);
  if (!method || !ellipsoid || !lon0 || !height) return null;
  const a = num(ellipsoid[1]);
  const invf = num(ellipsoid[2]);
  const p: GeosProjection = {
    sweep: method[1]!.toLowerCase() === 'x' ? 'x' : 'y',
    lon0: num(lon0[1]),
    height: num(height[1]),
    a,
    b: invf === 0 ? a : a * (1 - 1 / invf),
  };
  return [p.lon0, p.height, p.a, p.b].every(Number.isFinite) && p.a > 0 && p.b > 0 && p.height > 0 ? p : null;
}

const RAD = Math.PI / 180;

/**
 * Scan angles (rad; x east, y north) at which the satellite sees lon/lat
 * (degrees), written to `out`; false when the point is not visible.
 */
export function lonLatToScan(p: GeosProjection, lonDeg: number, latDeg: number, out: Float64Array): boolean {
  // Normalised by the semi-major axis, as PROJ does.
  const rp = p.b / p.a;
  const rg = 1 + p.height / p.a;
  const lam = (lonDeg - p.lon0) * RAD;
  const phi = Math.atan(rp * rp * Math.tan(latDeg * RAD));
  const r = rp / Math.hypot(rp * Math.cos(phi), Math.sin(phi));
  const vx = r * Math.cos(lam) * Math.cos(phi);
  const vy = r * Math.sin(lam) * Math.cos(phi);
  const vz = r * Math.sin(phi);
  // Behind the limb: the line of sight meets the ellipsoid first elsewhere.
  if ((rg - vx) * vx - vy * vy - (vz * vz) / (rp * rp) < 0) return false;
  const tmp = rg - vx;
  if (p.sweep === 'x') {
    out[0] = Math.atan(vy / Math.hypot(vz, tmp));
    out[1] = Math.atan(vz / tmp);
  } else {
    out[0] = Math.atan(vy / tmp);
    out[1] = Math.atan(vz / Math.hypot(vy, tmp));
  }
  return true;
}

/**
 * Pixel (column, row; fractional, 0 at the image's top-left corner) of an
 * image of `width`×`height` covering the item's grid (`proj:shape` rows ×
 * columns, `proj:transform` [a, b, c, d, e, f]: X = a·col + b·row + c,
 * Y = d·col + e·row + f) at scan angles x, y. A reduced rendering covers the
 * same extent with fewer pixels.
 */
export function scanToPixel(x: number, y: number, p: GeosProjection, transform: readonly number[], shape: readonly number[], width: number, height: number, out: Float64Array): void {
  const [ta, tb, tc, td, te, tf] = transform as [number, number, number, number, number, number];
  const X = x * p.height - tc;
  const Y = y * p.height - tf;
  const det = ta * te - tb * td;
  const col = (te * X - tb * Y) / det;
  const row = (ta * Y - td * X) / det;
  out[0] = (col * width) / shape[1]!;
  out[1] = (row * height) / shape[0]!;
}
