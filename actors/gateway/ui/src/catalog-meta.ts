/**
 * What the filters need to know about each object and the position frames
 * do not carry: its name and catalog groups (GET /satellites, a page of up
 * to 1000 at a time) and its orbit regime (from the mean motion and
 * eccentricity of its newest element set, GET /catalog.tle, classified by
 * the tracker's own rule, actors/tracker/orbit-regime.ts, so the map and the
 * tracker's element-age limits agree on what LEO, MEO, GEO and HEO are).
 * Loaded once when the page opens and again every few minutes (a catalog
 * load changes groups and elements).
 */
import { getJson } from './api.js';
import type { ObjectMeta } from './filters.js';
import { tleRegime } from './tle-regime.js';


interface SearchPage {
  items: Array<{ noradId: number; name: string; groups: string[] }>;
  next: string | null;
}

/** Pages of GET /satellites are bounded (gateway rate limit 600/min by default): stop well before a runaway. */
const MAX_PAGES = 200;

/** NORAD id from TLE columns 3–7 (Alpha-5 ids above 99999 are not exported as TLE, so digits only). */
function tleId(line: string): number {
  const id = Number(line.slice(2, 7));
  return Number.isInteger(id) && id > 0 ? id : NaN;
}

export async function loadCatalogMeta(): Promise<Map<number, ObjectMeta>> {
  const meta = new Map<number, ObjectMeta>();
  let path: string | null = '/satellites?limit=1000';
  for (let pages = 0; path && pages < MAX_PAGES; pages++) {
    const page: SearchPage = await getJson<SearchPage>(path);
    for (const o of page.items) meta.set(o.noradId, { name: o.name, groups: o.groups, regime: null });
    path = page.next;
  }
  try {
    const res = await fetch('/catalog.tle', { headers: { accept: 'text/plain' } });
    if (res.ok) {
      const lines = (await res.text()).split(/\r?\n/);
      for (const line of lines) {
        if (!line.startsWith('2 ')) continue;
        const m = meta.get(tleId(line));
        if (m) m.regime = tleRegime(line);
      }
    }
  } catch {
    // Regimes stay unknown: the regime filter then matches nothing it cannot classify.
  }
  return meta;
}
