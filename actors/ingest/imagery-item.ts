/**
 * STAC Items for scenes, from the parsed key and the header: times, platform,
 * instrument, band, the fixed-grid projection (proj:*), and the footprint and
 * bbox computed from the projection and clamped to the visible disk.
 */
import type { AbiHeader, AhiHeader } from './imagery-header.js';
import { ImageryFormatError } from './imagery-header.js';
import type { GoesKey, HimawariKey, SourceSpec } from './imagery-keys.js';
import { ahiFootprint, footprint } from './imagery-geo.js';

export type StacItem = Record<string, unknown> & { id: string };

export const STAC_EXTENSIONS = [
  'https://stac-extensions.github.io/eo/v1.1.0/schema.json',
  'https://stac-extensions.github.io/projection/v1.1.0/schema.json',
];

/** ABI band centres (µm, GOES-R PUG); AHI band centres (µm, JMA). */
const ABI_NAMES: Record<number, string> = { 1: 'blue', 2: 'red', 3: 'veggie', 4: 'cirrus', 5: 'snow-ice', 6: 'cloud-particle-size', 7: 'shortwave-window', 8: 'upper-level-water-vapor', 9: 'mid-level-water-vapor', 10: 'lower-level-water-vapor', 11: 'cloud-top-phase', 12: 'ozone', 13: 'clean-longwave-window', 14: 'longwave-window', 15: 'dirty-longwave-window', 16: 'co2-longwave' };

function geosWkt2(name: string, lon0: number, perspectiveHeight: number, a: number, b: number, sweep: 'x' | 'y'): string {
  const invf = a / (a - b);
  const method = sweep === 'x' ? 'Geostationary Satellite (Sweep X)' : 'Geostationary Satellite (Sweep Y)';
  return `PROJCRS["${name}",BASEGEOGCRS["unknown",DATUM["unknown",ELLIPSOID["unknown",${a},${invf.toFixed(9)},LENGTHUNIT["metre",1]]],PRIMEM["Greenwich",0,ANGLEUNIT["degree",0.0174532925199433]]],CONVERSION["unknown",METHOD["${method}"],PARAMETER["Longitude of natural origin",${lon0},ANGLEUNIT["degree",0.0174532925199433]],PARAMETER["Satellite Height",${perspectiveHeight},LENGTHUNIT["metre",1]],PARAMETER["False easting",0,LENGTHUNIT["metre",1]],PARAMETER["False northing",0,LENGTHUNIT["metre",1]]],CS[Cartesian,2],AXIS["(E)",east,ORDER[1],LENGTHUNIT["metre",1]],AXIS["(N)",north,ORDER[2],LENGTHUNIT["metre",1]]]`;
}

/** An item that names its collection must link to it (STAC 1.0.0 item schema). */
function collectionLinks(href: string): Array<Record<string, string>> {
  return [{ rel: 'collection', href, type: 'application/json' }];
}

export interface AssetLink {
  href: string;
  size?: number;
}

export function goesItem(src: SourceSpec, key: GoesKey, h: AbiHeader, asset: AssetLink, collectionHref = '/collections/imagery'): StacItem {
  if (h.bandId !== key.band) throw new ImageryFormatError(`file name says band ${key.band}, header band_id ${h.bandId}`);
  const p = h.projection;
  const H = p.perspectivePointHeight + p.semiMajorAxis;
  const hx = Math.abs(h.dx) / 2, hy = Math.abs(h.dy) / 2;
  const rect = { xmin: Math.min(h.x0, h.x1) - hx, xmax: Math.max(h.x0, h.x1) + hx, ymin: Math.min(h.y0, h.y1) - hy, ymax: Math.max(h.y0, h.y1) + hy };
  const fp = footprint(rect, { sweep: p.sweep === 'y' ? 'y' : 'x', h: H, req: p.semiMajorAxis, rpol: p.semiMinorAxis, lon0: p.lon0 });
  const sectorName = key.sector === 'F' ? 'full-disk' : key.sector === 'C' ? 'conus' : `mesoscale-${key.sector.slice(1)}`;
  // Fixed-grid metres = scan angle × perspective point height; the transform maps pixel corners.
  const hp = p.perspectivePointHeight;
  const transform = [h.dx * hp, 0, (h.x0 - h.dx / 2) * hp, 0, h.dy * hp, (h.y0 - h.dy / 2) * hp];
  return {
    type: 'Feature',
    stac_version: '1.0.0',
    stac_extensions: STAC_EXTENSIONS,
    id: key.itemId,
    collection: 'imagery',
    geometry: fp.geometry,
    bbox: fp.bbox,
    properties: {
      // The scan start (time_coverage_start), as satpy's start_time and the file name's s… field: inside its own interval by construction.
      datetime: h.start.toISOString(),
      start_datetime: h.start.toISOString(),
      end_datetime: h.end.toISOString(),
      platform: key.platform,
      instruments: ['abi'],
      constellation: 'goes',
      'eo:bands': [{ name: `C${String(key.band).padStart(2, '0')}`, common_name: ABI_NAMES[key.band], center_wavelength: Math.round(h.wavelength * 1000) / 1000 }],
      'proj:epsg': null,
      'proj:wkt2': geosWkt2(`${key.platform} ABI fixed grid`, p.lon0, hp, p.semiMajorAxis, p.semiMinorAxis, p.sweep === 'y' ? 'y' : 'x'),
      'proj:shape': h.shape,
      'proj:transform': transform.map((v) => Math.round(v * 1000) / 1000),
      'starweather:source': src.name,
      'starweather:product': key.product,
      'starweather:sector': sectorName,
      'starweather:scan_mode': key.mode,
      'starweather:band': key.band,
    },
    links: collectionLinks(collectionHref),
    assets: {
      data: { href: asset.href, type: 'application/netcdf', title: key.file, roles: ['data'], ...(asset.size !== undefined ? { 'file:size': asset.size } : {}) },
    },
  };
}

export interface HimawariSegmentRef {
  key: HimawariKey;
  href: string;
  size?: number;
}

/**
 * One item for the segments of one band and time. `header` is that of the
 * first present segment (its observation start is the item's start and
 * datetime), `end` the observation end of the last one; the footprint covers the lines of the present
 * segments (first of the lowest to last of the highest).
 */
export function himawariItem(src: SourceSpec, segments: readonly HimawariSegmentRef[], header: AhiHeader, headerSegment: number, collectionHref = '/collections/imagery', end: Date = header.end): StacItem {
  const first = segments[0]!.key;
  if (header.band !== first.band) throw new ImageryFormatError(`file name says band ${first.band}, header band ${header.band}`);
  const sorted = [...segments].sort((a, b) => a.key.segment - b.key.segment);
  const linesPerSegment = header.lines;
  // Block 7's first line is for the header's segment; others follow the convention 1 + (seq-1)·lines.
  const firstLineOf = (seg: number): number => header.firstLine + (seg - headerSegment) * linesPerSegment;
  const lo = sorted[0]!.key.segment, hi = sorted[sorted.length - 1]!.key.segment;
  const fp = ahiFootprint(header.columns, firstLineOf(lo), firstLineOf(hi) + linesPerSegment - 1, header, {
    h: header.distanceFromEarthCenter * 1000,
    req: header.earthEquatorialRadius * 1000,
    rpol: header.earthPolarRadius * 1000,
    lon0: header.subLon,
  });
  const present = sorted.map((s) => s.key.segment);
  const missing: number[] = [];
  for (let s = 1; s <= first.segments; s++) if (!present.includes(s)) missing.push(s);
  const hp = header.distanceFromEarthCenter * 1000 - header.earthEquatorialRadius * 1000;
  // Pixel size in metres at the sub-satellite point: (2^16 / CFAC) degrees of scan angle × perspective height.
  const dx = ((65536 / header.cfac) * Math.PI / 180) * hp;
  const dy = ((65536 / header.lfac) * Math.PI / 180) * hp;
  const assets: Record<string, unknown> = {};
  for (const s of sorted) {
    assets[`segment-${String(s.key.segment).padStart(2, '0')}`] = {
      href: s.href,
      type: 'application/octet-stream',
      title: s.key.file,
      roles: ['data'],
      ...(s.size !== undefined ? { 'file:size': s.size } : {}),
    };
  }
  return {
    type: 'Feature',
    stac_version: '1.0.0',
    stac_extensions: STAC_EXTENSIONS,
    id: first.itemId,
    collection: 'imagery',
    geometry: fp.geometry,
    bbox: fp.bbox,
    properties: {
      // The observation start (HSD block 1), not the nominal HHMM slot of the name: the
      // slot precedes the scan (03:00 slot, observation from 03:00:20, hsd_format.md), so
      // it would lie outside start_datetime..end_datetime. The slot stays in the item id.
      datetime: header.start.toISOString(),
      start_datetime: header.start.toISOString(),
      end_datetime: (end > header.end ? end : header.end).toISOString(),
      platform: first.platform,
      instruments: ['ahi'],
      constellation: 'himawari',
      'eo:bands': [{ name: `B${String(first.band).padStart(2, '0')}`, center_wavelength: Math.round(header.centralWavelength * 10000) / 10000 }],
      'proj:epsg': null,
      'proj:wkt2': geosWkt2(`${first.platform} AHI normalized geostationary projection`, header.subLon, hp, header.earthEquatorialRadius * 1000, header.earthPolarRadius * 1000, 'y'),
      'proj:shape': [linesPerSegment * (hi - lo + 1), header.columns],
      'proj:transform': [dx, 0, -(header.coff - 0.5) * dx, 0, -dy, (header.loff - firstLineOf(lo) + 0.5) * dy].map((v) => Math.round(v * 1000) / 1000),
      'starweather:source': src.name,
      'starweather:product': 'AHI-L1b-FLDK',
      'starweather:band': first.band,
      'starweather:segments': present,
      'starweather:segments_missing': missing,
    },
    links: collectionLinks(collectionHref),
    assets,
  };
}
