/**
 * The latest processed imagery overlays (cloud-top height, else enhanced IR):
 * for each imagery source, the newest item of the imagery collection with a
 * rendered image asset (the tile pipeline adds PNG/WebP products with role
 * `visual` to processed scenes; an asset with role `overlay` wins).
 *
 * Products are rendered on the satellite's fixed grid, so each is reprojected
 * here onto the map's plate carrée over the item's bbox: for every output
 * pixel, lon/lat → scan angles (geos.ts, from the item's proj:wkt2) → image
 * pixel (proj:transform and proj:shape), nearest neighbour. An item without
 * a geostationary projection is assumed to be in plate carrée over its bbox.
 */
import { getJson } from './api.js';
import { lonLatToScan, parseGeosWkt2, scanToPixel } from './geos.js';

export interface Overlay {
  image: CanvasImageSource;
  /** [west, south, east, north], degrees; east may exceed 180 when the scene crosses the antimeridian. */
  bbox: [number, number, number, number];
  label: string;
}

interface Asset {
  href: string;
  type?: string;
  roles?: string[];
  title?: string;
  'proj:shape'?: number[];
}
interface Item {
  id: string;
  bbox?: number[];
  properties: Record<string, unknown>;
  assets: Record<string, Asset>;
}

const IMAGE = /^image\/(png|webp)$/;
/** Output resolution of a reprojected overlay (degrees per pixel) and its largest side. */
const DEG_PER_PX = 0.1;
const MAX_SIDE = 1400;

/** The rendered image of an item: role `overlay`, then cloud-top height, then enhanced IR, then any image; WebP before PNG (smaller). */
export function overlayAsset(item: Item): [string, Asset] | null {
  const images = Object.entries(item.assets ?? {}).filter(([, a]) => (a.type !== undefined && IMAGE.test(a.type)) || a.roles?.includes('overlay'));
  const rank = ([key, a]: [string, Asset]): number => {
    const name = `${key} ${a.title ?? ''}`;
    const kind = a.roles?.includes('overlay') ? 0 : /cloud.?top|cth/i.test(name) ? 1 : /\bir\b|infrared|enhanced/i.test(name) ? 2 : 3;
    return kind * 2 + (a.type === 'image/webp' ? 0 : 1);
  };
  return images.sort((x, y) => rank(x) - rank(y))[0] ?? null;
}

function loadImage(href: string): Promise<HTMLImageElement> {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`cannot load ${href}`));
    img.src = href;
  });
}

function pixelsOf(img: HTMLImageElement): ImageData {
  const c = document.createElement('canvas');
  c.width = img.naturalWidth;
  c.height = img.naturalHeight;
  const ctx = c.getContext('2d')!;
  ctx.drawImage(img, 0, 0);
  // Products are served by the gateway (same origin), so reading them back is allowed.
  return ctx.getImageData(0, 0, c.width, c.height);
}

/** The image resampled onto plate carrée over `bbox`; null when the item's projection cannot be used. */
function reproject(item: Item, asset: Asset, img: HTMLImageElement, bbox: [number, number, number, number]): HTMLCanvasElement | null {
  const p = typeof item.properties['proj:wkt2'] === 'string' ? parseGeosWkt2(item.properties['proj:wkt2']) : null;
  const transform = item.properties['proj:transform'];
  const shape = item.properties['proj:shape'];
  if (!p || !Array.isArray(transform) || transform.length < 6 || !Array.isArray(shape) || shape.length < 2) return null;
  const src = pixelsOf(img);
  const [w, s, e, n] = bbox;
  const width = Math.min(MAX_SIDE, Math.max(1, Math.round((e - w) / DEG_PER_PX)));
  const height = Math.min(MAX_SIDE, Math.max(1, Math.round((n - s) / DEG_PER_PX)));
  const out = document.createElement('canvas');
  out.width = width;
  out.height = height;
  const ctx = out.getContext('2d')!;
  const dst = ctx.createImageData(width, height);
  const scan = new Float64Array(2);
  const px = new Float64Array(2);
  const sw = src.width;
  const sh = src.height;
  for (let j = 0; j < height; j++) {
    const lat = n - ((j + 0.5) * (n - s)) / height;
    for (let i = 0; i < width; i++) {
      const lon = w + ((i + 0.5) * (e - w)) / width;
      if (!lonLatToScan(p, lon, lat, scan)) continue;
      scanToPixel(scan[0]!, scan[1]!, p, transform as number[], shape as number[], sw, sh, px);
      const c = Math.floor(px[0]!);
      const r = Math.floor(px[1]!);
      if (c < 0 || r < 0 || c >= sw || r >= sh) continue;
      const from = (r * sw + c) * 4;
      const to = (j * width + i) * 4;
      dst.data[to] = src.data[from]!;
      dst.data[to + 1] = src.data[from + 1]!;
      dst.data[to + 2] = src.data[from + 2]!;
      dst.data[to + 3] = src.data[from + 3]!;
    }
  }
  ctx.putImageData(dst, 0, 0);
  return out;
}

const cache = new Map<string, Overlay | null>();

/** The newest overlay per imagery source (at most a few), reprojected; [] when no processed scene has one. */
export async function latestOverlays(): Promise<Overlay[]> {
  // Search sorts by datetime, newest first (actors/storage/stac.ts).
  const r = await getJson<{ features: Item[] }>('/search?collections=imagery&limit=100');
  const newest = new Map<string, { item: Item; key: string; asset: Asset }>();
  for (const item of r.features) {
    const source = String(item.properties['starweather:source'] ?? item.properties.platform ?? 'imagery');
    if (newest.has(source)) continue;
    const found = overlayAsset(item);
    if (found && item.bbox && item.bbox.length >= 4) newest.set(source, { item, key: found[0], asset: found[1] });
  }
  const overlays: Overlay[] = [];
  for (const { item, key, asset } of newest.values()) {
    const cacheKey = `${item.id} ${asset.href}`;
    if (!cache.has(cacheKey)) {
      const b = item.bbox!;
      const [w, s, e, n] = b.length >= 6 ? [b[0]!, b[1]!, b[3]!, b[4]!] : [b[0]!, b[1]!, b[2]!, b[3]!];
      const bbox: [number, number, number, number] = [w, s, e < w ? e + 360 : e, n];
      const when = String(item.properties.datetime ?? item.properties.start_datetime ?? '');
      const label = `${asset.title ?? key} · ${item.id}${when ? ` · ${when.replace('T', ' ').slice(0, 16)}Z` : ''}`;
      try {
        const img = await loadImage(new URL(asset.href, location.href).href);
        const image = reproject(item, asset, img, bbox) ?? img;
        cache.set(cacheKey, { image, bbox, label });
      } catch {
        cache.set(cacheKey, null);
      }
    }
    const o = cache.get(cacheKey);
    if (o) overlays.push(o);
  }
  return overlays;
}
