/**
 * Geostationary fixed-grid geometry: scan angles → latitude/longitude, and a
 * scene's footprint polygon and bbox clamped to the visible earth disk.
 *
 * GOES ABI: sweep-x (GOES-R PUG vol. 3, 5.1.2.8.1), x/y scan angles in rad
 * from the file's x/y variables and `goes_imager_projection`.
 * Himawari AHI: the CGMS normalised geostationary projection (sweep-y),
 * column/line → scan angle by CFAC/LFAC/COFF/LOFF (LRIT/HRIT Global Spec. 4.4.4).
 */

export interface GeosParams {
  /** 'x' for GOES (PUG), 'y' for CGMS / Himawari. */
  sweep: 'x' | 'y';
  /** Satellite distance from the earth's centre, m. */
  h: number;
  /** Equatorial and polar radii, m. */
  req: number;
  rpol: number;
  /** Sub-satellite longitude, degrees. */
  lon0: number;
}

export type LonLat = [number, number];

const DEG = 180 / Math.PI;

/** Latitude/longitude (degrees) seen at scan angles x, y (rad); null when the ray misses the earth. */
export function scanToLonLat(x: number, y: number, p: GeosParams): LonLat | null {
  const { h, req, rpol } = p;
  const e2 = (req * req) / (rpol * rpol);
  if (p.sweep === 'x') {
    const a = Math.sin(x) ** 2 + Math.cos(x) ** 2 * (Math.cos(y) ** 2 + e2 * Math.sin(y) ** 2);
    const b = -2 * h * Math.cos(x) * Math.cos(y);
    const c = h * h - req * req;
    const disc = b * b - 4 * a * c;
    if (disc < 0) return null;
    const rs = (-b - Math.sqrt(disc)) / (2 * a);
    const sx = rs * Math.cos(x) * Math.cos(y);
    const sy = -rs * Math.sin(x);
    const sz = rs * Math.cos(x) * Math.sin(y);
    const lat = Math.atan((e2 * sz) / Math.sqrt((h - sx) ** 2 + sy * sy)) * DEG;
    const lon = p.lon0 - Math.atan(sy / (h - sx)) * DEG;
    return [normLon(lon), lat];
  }
  const cosy = Math.cos(y), siny = Math.sin(y), cosx = Math.cos(x);
  const k = cosy * cosy + e2 * siny * siny;
  const disc = (h * cosx * cosy) ** 2 - k * (h * h - req * req);
  if (disc < 0) return null;
  const sn = (h * cosx * cosy - Math.sqrt(disc)) / k;
  const s1 = h - sn * cosx * cosy;
  const s2 = sn * Math.sin(x) * cosy;
  const s3 = -sn * siny;
  const lat = Math.atan((e2 * s3) / Math.sqrt(s1 * s1 + s2 * s2)) * DEG;
  const lon = p.lon0 + Math.atan(s2 / s1) * DEG;
  return [normLon(lon), lat];
}

function normLon(lon: number): number {
  let l = ((lon + 180) % 360 + 360) % 360 - 180;
  if (l === -180 && lon > 0) l = 180;
  return l;
}

/**
 * The point where the ray from the sub-satellite direction towards (x, y)
 * leaves the earth: (x, y) itself when it sees the earth, else the limb along
 * that direction (bisection on the scale factor, to 1e-9 of the angle).
 */
export function clampToDisk(x: number, y: number, p: GeosParams): LonLat {
  const direct = scanToLonLat(x, y, p);
  if (direct) return direct;
  let lo = 0, hi = 1;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (scanToLonLat(x * mid, y * mid, p)) lo = mid;
    else hi = mid;
  }
  return scanToLonLat(x * lo, y * lo, p)!;
}

/** A rectangle in scan-angle space (rad), edges of the outer pixels. */
export interface ScanRect {
  xmin: number;
  xmax: number;
  ymin: number;
  ymax: number;
}

export interface Footprint {
  geometry: { type: 'Polygon'; coordinates: LonLat[][] } | { type: 'MultiPolygon'; coordinates: LonLat[][][] };
  /** [west, south, east, north]; west > east when the footprint crosses the antimeridian (STAC). */
  bbox: [number, number, number, number];
}

/**
 * Footprint of a scan rectangle: its boundary sampled `perEdge` times per
 * side, each sample clamped to the visible disk, as a counter-clockwise ring.
 * A ring that crosses the antimeridian is split into a MultiPolygon.
 */
export function footprint(rect: ScanRect, p: GeosParams, perEdge = 64): Footprint {
  return footprintWith(rect, (x, y) => clampToDisk(x, y, p), perEdge);
}

function dedupe(pts: LonLat[]): LonLat[] {
  const out: LonLat[] = [];
  for (const q of pts) {
    const last = out[out.length - 1];
    if (!last || last[0] !== q[0] || last[1] !== q[1]) out.push(q);
  }
  return out;
}

/** Unwrap longitudes along the ring so consecutive points differ by < 180°. */
function unwrap(pts: LonLat[]): LonLat[] {
  const out: LonLat[] = [];
  let prev: number | null = null;
  for (const [lon, lat] of pts) {
    let l = lon;
    if (prev !== null) {
      while (l - prev > 180) l -= 360;
      while (l - prev < -180) l += 360;
    }
    out.push([l, lat]);
    prev = l;
  }
  return out;
}

function ringFootprint(pts: LonLat[]): Footprint {
  const u = unwrap(pts);
  let west = Infinity, east = -Infinity, south = Infinity, north = -Infinity;
  for (const [lo, la] of u) {
    west = Math.min(west, lo); east = Math.max(east, lo);
    south = Math.min(south, la); north = Math.max(north, la);
  }
  // Shift so the unwrapped ring's west edge lies in [-180, 180).
  const shift = west < -180 ? 360 : west >= 180 ? -360 : 0;
  const ring = u.map(([lo, la]) => [lo + shift, la] as LonLat);
  west += shift; east += shift;
  const r6 = (v: number): number => Math.round(v * 1e6) / 1e6;
  if (east <= 180) {
    const closed = [...ring, ring[0]!];
    return { geometry: { type: 'Polygon', coordinates: [closed] }, bbox: [r6(west), r6(south), r6(east), r6(north)] };
  }
  // Crosses the antimeridian: clip the ring at 180 into a west-of part and an east-of part (shifted back).
  const left = clipLon(ring, -Infinity, 180);
  const right = clipLon(ring, 180, Infinity).map(([lo, la]) => [r6(lo - 360), la] as LonLat);
  const polys: LonLat[][][] = [];
  for (const part of [left, right]) if (part.length >= 3) polys.push([[...part, part[0]!]]);
  return { geometry: { type: 'MultiPolygon', coordinates: polys }, bbox: [r6(west), r6(south), r6(east - 360), r6(north)] };
}

/** Sutherland–Hodgman clip of a ring to lo ≤ lon ≤ hi. */
function clipLon(ring: LonLat[], lo: number, hi: number): LonLat[] {
  const clipEdge = (pts: LonLat[], inside: (p: LonLat) => boolean, edge: number): LonLat[] => {
    const out: LonLat[] = [];
    for (let i = 0; i < pts.length; i++) {
      const cur = pts[i]!, prev = pts[(i + pts.length - 1) % pts.length]!;
      const cross = (): LonLat => {
        const t = (edge - prev[0]) / (cur[0] - prev[0]);
        return [edge, prev[1] + t * (cur[1] - prev[1])];
      };
      if (inside(cur)) {
        if (!inside(prev)) out.push(cross());
        out.push(cur);
      } else if (inside(prev)) out.push(cross());
    }
    return out;
  };
  let out = ring;
  if (Number.isFinite(hi)) out = clipEdge(out, (p) => p[0] <= hi, hi);
  if (Number.isFinite(lo)) out = clipEdge(out, (p) => p[0] >= lo, lo);
  return out;
}

// ---- AHI (CGMS) column/line ↔ scan angle ------------------------------------

export interface AhiNav {
  cfac: number;
  lfac: number;
  coff: number;
  loff: number;
}

/** Scan angles (rad) of column c, line l (1-based, pixel centres) by the CGMS scaling function. */
export function ahiScanAngles(c: number, l: number, nav: AhiNav): [number, number] {
  const x = ((c - nav.coff) * 65536) / nav.cfac; // degrees
  const y = ((l - nav.loff) * 65536) / nav.lfac;
  return [x / DEG, y / DEG];
}

/**
 * The scan rectangle of columns 1..columns and lines first..last, in north-up
 * angles: CGMS y grows southwards with the line number, so it is negated here
 * and negated back before scanToLonLat.
 */
export function ahiScanRect(columns: number, firstLine: number, lastLine: number, nav: AhiNav): ScanRect {
  const [x0] = ahiScanAngles(0.5, 1, nav);
  const [x1] = ahiScanAngles(columns + 0.5, 1, nav);
  const [, yTop] = ahiScanAngles(1, firstLine - 0.5, nav);
  const [, yBottom] = ahiScanAngles(1, lastLine + 0.5, nav);
  return { xmin: x0, xmax: x1, ymin: -yBottom, ymax: -yTop };
}

/** Footprint of a full-width Himawari line range (CGMS y grows southwards, footprint sampling is north-up). */
export function ahiFootprint(columns: number, firstLine: number, lastLine: number, nav: AhiNav, p: Omit<GeosParams, 'sweep'>, perEdge = 64): Footprint {
  const cgms: GeosParams = { ...p, sweep: 'y' };
  return footprintWith(ahiScanRect(columns, firstLine, lastLine, nav), (x, y) => clampToDisk(x, -y, cgms), perEdge);
}

/**
 * Boundary of a scan rectangle sampled `perEdge` times per side, counter-
 * clockwise in lon/lat (south edge west→east, east edge up, north edge back,
 * west edge down), each sample clamped to the visible disk.
 */
function footprintWith(rect: ScanRect, at: (x: number, y: number) => LonLat, perEdge: number): Footprint {
  const pts: LonLat[] = [];
  const { xmin, xmax, ymin, ymax } = rect;
  for (let i = 0; i < perEdge; i++) pts.push(at(xmin + ((xmax - xmin) * i) / perEdge, ymin));
  for (let i = 0; i < perEdge; i++) pts.push(at(xmax, ymin + ((ymax - ymin) * i) / perEdge));
  for (let i = 0; i < perEdge; i++) pts.push(at(xmax - ((xmax - xmin) * i) / perEdge, ymax));
  for (let i = 0; i < perEdge; i++) pts.push(at(xmin, ymax - ((ymax - ymin) * i) / perEdge));
  const round = (v: number): number => Math.round(v * 1e6) / 1e6;
  return ringFootprint(dedupe(pts.map(([lo, la]) => [round(lo), round(la)] as LonLat)));
}
