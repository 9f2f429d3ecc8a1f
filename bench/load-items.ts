/** bench:load's STAC items (not a benchmark by itself): what the driver POSTs and the large items it searches for. */

/** A STAC item whose data asset is `assetHref` (processing it runs the whole pipeline on that file). */
export function benchItem(id: string, i: number, collection: string, assetHref: string, extraProperties: Record<string, unknown> = {}): Record<string, unknown> {
  const lon = -170 + (i % 340);
  const lat = -80 + (Math.floor(i / 340) % 160);
  const dt = new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString().replace('.000Z', 'Z');
  return {
    type: 'Feature',
    stac_version: '1.0.0',
    id,
    collection,
    geometry: { type: 'Polygon', coordinates: [[[lon, lat], [lon + 1, lat], [lon + 1, lat + 1], [lon, lat + 1], [lon, lat]]] },
    bbox: [lon, lat, lon + 1, lat + 1],
    properties: { datetime: dt, platform: 'GOES-19', instruments: ['ABI'], ...extraProperties },
    links: [{ rel: 'collection', href: `http://127.0.0.1/collections/${collection}`, type: 'application/json' }],
    assets: { data: { href: assetHref, type: 'application/netcdf', roles: ['data'] } },
  };
}

/**
 * A valid item whose JSON is close to `targetBytes` (the single-item cap is
 * 1 MiB): the bulk is an array of sample numbers in its properties, so the
 * gateway parses, stores and serialises real JSON numbers, not one string.
 */
export function largeItem(id: string, i: number, collection: string, assetHref: string, targetBytes: number): Record<string, unknown> {
  const base = JSON.stringify(benchItem(id, i, collection, assetHref, { 'bench:samples': [] })).length;
  const samples: number[] = [];
  let size = base;
  let x = i + 1;
  while (size < targetBytes - 32) {
    // A fixed LCG: the same items on every run.
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const v = Math.round((x / 2 ** 31) * 1e9) / 1e4;
    size += String(v).length + 1;
    samples.push(v);
  }
  return benchItem(id, i, collection, assetHref, { 'bench:samples': samples });
}
