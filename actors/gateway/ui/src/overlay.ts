/**
 * The latest processed imagery overlay (cloud-top height or IR): the newest
 * item of the imagery collection that has a rendered image asset: role
 * `overlay`, or any PNG (the tile pipeline adds these to processed scenes).
 * The image is drawn over the item's bbox, which assumes the rendering is
 * in plate carrée (lon/lat linear) like the map.
 */
import { getJson } from './api.js';
import type { Overlay } from './map.js';

interface Asset {
  href: string;
  type?: string;
  roles?: string[];
  title?: string;
}
interface Item {
  id: string;
  bbox?: number[];
  properties: Record<string, unknown>;
  assets: Record<string, Asset>;
}

/** The rendered image of an item, preferring an explicit overlay role, then cloud-top height, then any PNG. */
export function overlayAsset(item: Item): [string, Asset] | null {
  const entries = Object.entries(item.assets ?? {});
  const png = (a: Asset) => a.type === 'image/png' || /\.png(\?|$)/i.test(a.href);
  return (
    entries.find(([, a]) => a.roles?.includes('overlay')) ??
    entries.find(([k, a]) => png(a) && /cth|cloud.?top/i.test(k + (a.title ?? ''))) ??
    entries.find(([, a]) => png(a)) ??
    null
  );
}

function loadImage(href: string): Promise<HTMLImageElement> {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`cannot load ${href}`));
    img.src = href;
  });
}

/** Newest overlay in the imagery collection, or null when no processed scene has one. */
export async function latestOverlay(current: Overlay | null): Promise<Overlay | null> {
  // Search sorts by datetime, newest first (actors/storage/stac.ts): the first items with a rendered asset win.
  const r = await getJson<{ features: Item[] }>('/search?collections=imagery&limit=100');
  for (const item of r.features) {
    const found = overlayAsset(item);
    const b = item.bbox;
    if (!found || !b || b.length < 4) continue;
    const [key, asset] = found;
    const href = new URL(asset.href, location.href).href;
    const when = String(item.properties.datetime ?? item.properties.start_datetime ?? '');
    const label = `${asset.title ?? key} · ${item.id}${when ? ` · ${when.replace('T', ' ').slice(0, 16)}Z` : ''}`;
    if (current && current.label === label) return current;
    const bbox: [number, number, number, number] = b.length >= 6 ? [b[0]!, b[1]!, b[3]!, b[4]!] : [b[0]!, b[1]!, b[2]!, b[3]!];
    return { image: await loadImage(href), bbox, label };
  }
  return null;
}
