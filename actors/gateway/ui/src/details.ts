/**
 * Search and the selected object's panel: GET /satellites?q= for search,
 * GET /satellites/{id} for its elements and QA flags, /passes for the next
 * passes over the observer, /track for the ground track drawn on the map.
 * The live position comes from the frames (the store), not from REST.
 */
import { ago, getJson, h, utc } from './api.js';
import type { TacticalMap } from './map.js';
import type { StateStore } from './state-store.js';

interface CatalogObject {
  noradId: number;
  name: string;
  intlDesignator: string | null;
  groups: string[];
  status: string;
}
interface SatelliteDetail {
  object: CatalogObject;
  elementSet: { epoch: string; source: string; format: string; omm: Record<string, unknown> | null; tleLine1: string | null; tleLine2: string | null } | null;
  state: { t: string; geodetic: { latDeg: number | null; lonDeg: number | null; altKm: number | null }; speedKmS?: number | null } | null;
  qa: { flags: string[]; flagBits: number; good: boolean; at: string } | null;
}
interface PassPoint {
  t: string;
  azimuthDeg: number;
  elevationDeg: number;
}
interface Passes {
  passes: Array<{ rise: PassPoint; culmination: PassPoint; set: PassPoint; maxElevationDeg: number; riseClipped: boolean; setClipped: boolean }>;
  sgp4Error: number;
}
interface Track {
  geometry: { coordinates: [number, number][][] };
}

const OBSERVER_KEY = 'starweather.observer';
/** Greenwich, until the operator sets their own. */
const DEFAULT_OBSERVER = { lat: 51.4779, lon: -0.0015 };

/**
 * Mean elements from a TLE's line 2, by column (the NORAD two-line format as
 * CelesTrak documents it, "FAQs: Two-Line Element Set Format"): inclination
 * 9–16, RAAN 18–25, eccentricity 27–33 (assumed leading decimal point),
 * argument of perigee 35–42, mean anomaly 44–51, mean motion 53–63.
 */
function tleElements(line2: string): Record<string, string> {
  const col = (a: number, b: number) => line2.slice(a - 1, b).trim();
  return {
    'Inclination (°)': col(9, 16),
    'RAAN (°)': col(18, 25),
    Eccentricity: `0.${col(27, 33)}`,
    'Arg. of perigee (°)': col(35, 42),
    'Mean anomaly (°)': col(44, 51),
    'Mean motion (rev/day)': col(53, 63),
  };
}

function ommElements(omm: Record<string, unknown>): Record<string, string> {
  const v = (k: string) => (omm[k] === undefined || omm[k] === null ? '—' : String(omm[k]));
  return {
    'Inclination (°)': v('INCLINATION'),
    'RAAN (°)': v('RA_OF_ASC_NODE'),
    Eccentricity: v('ECCENTRICITY'),
    'Arg. of perigee (°)': v('ARG_OF_PERICENTER'),
    'Mean anomaly (°)': v('MEAN_ANOMALY'),
    'Mean motion (rev/day)': v('MEAN_MOTION'),
    'B*': v('BSTAR'),
  };
}

function table(rows: Record<string, string | number>): HTMLTableElement {
  return h('table', { class: 'kv' }, ...Object.entries(rows).map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v))));
}

export class DetailsPanel {
  private current: number | null = null;
  private abort: AbortController | null = null;
  private readonly liveEl = h('div', { class: 'live', 'data-testid': 'live-state' });

  constructor(
    private readonly root: HTMLElement,
    private readonly map: TacticalMap,
    private readonly store: StateStore,
  ) {
    setInterval(() => this.renderLive(), 250);
    const obs = this.observer();
    map.observer = [obs.lon, obs.lat];
  }

  observer(): { lat: number; lon: number } {
    try {
      const o = JSON.parse(localStorage.getItem(OBSERVER_KEY) ?? 'null') as { lat: number; lon: number } | null;
      if (o && Number.isFinite(o.lat) && Number.isFinite(o.lon)) return o;
    } catch {
      // Unreadable: use the default.
    }
    return DEFAULT_OBSERVER;
  }

  async select(id: number | null): Promise<void> {
    this.abort?.abort();
    this.current = id;
    this.map.selected = id;
    this.map.selectedLabel = '';
    this.map.setTrack([]);
    if (id === null) {
      this.root.replaceChildren(h('p', { class: 'hint' }, 'Click an object on the map or search by name or NORAD id.'));
      return;
    }
    const abort = new AbortController();
    this.abort = abort;
    this.root.replaceChildren(h('p', { class: 'hint' }, `Loading ${id}…`));
    try {
      const d = await getJson<SatelliteDetail>(`/satellites/${id}`, abort.signal);
      if (abort.signal.aborted) return;
      this.map.selectedLabel = d.object.name;
      this.render(d);
      void this.loadTrack(id, abort.signal);
      void this.loadPasses(id, abort.signal);
    } catch (err) {
      if (abort.signal.aborted) return;
      this.root.replaceChildren(h('p', { class: 'error' }, `Object ${id}: ${err instanceof Error ? err.message : String(err)}`));
    }
  }

  private render(d: SatelliteDetail): void {
    const o = d.object;
    const es = d.elementSet;
    const qa = d.qa;
    const qaEl = qa
      ? h(
          'div',
          { class: `qa ${qa.good ? 'good' : 'bad'}`, 'data-testid': 'qa' },
          qa.good && qa.flags.length === 0 ? 'QA: good, no flags' : `QA: ${qa.good ? 'usable' : 'not good'}${qa.flags.length ? ` — ${qa.flags.join(', ')}` : ''}`,
        )
      : h('div', { class: 'qa unknown', 'data-testid': 'qa' }, 'QA: no state yet');
    // The tracker's verdict (elements_expired, actors/tracker/qa.ts): the age alone does not say it, the limit depends on the orbit.
    const expiredEl =
      qa && qa.flags.includes('elements_expired') && es
        ? h('p', { class: 'error', 'data-testid': 'elements-expired' }, `These elements are ${ago(Date.now() - Date.parse(es.epoch))} old, past the age limit for this orbit: the position shown may be far (hundreds to thousands of km) from where the object is.`)
        : '';
    const elements = es ? (es.format === 'tle' && es.tleLine2 ? tleElements(es.tleLine2) : es.omm ? ommElements(es.omm) : {}) : {};
    const obs = this.observer();
    const latIn = h('input', { type: 'number', step: '0.0001', min: -90, max: 90, value: obs.lat, 'aria-label': 'observer latitude' });
    const lonIn = h('input', { type: 'number', step: '0.0001', min: -180, max: 180, value: obs.lon, 'aria-label': 'observer longitude' });
    const form = h('form', { class: 'observer' }, 'Observer ', latIn, lonIn, h('button', { type: 'submit' }, 'Passes'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const lat = Number(latIn.value);
      const lon = Number(lonIn.value);
      if (!(lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180)) return;
      localStorage.setItem(OBSERVER_KEY, JSON.stringify({ lat, lon }));
      this.map.observer = [lon, lat];
      const abort = this.abort;
      if (this.current !== null && abort) void this.loadPasses(this.current, abort.signal);
    });
    this.root.replaceChildren(
      h('h2', { 'data-testid': 'sat-name' }, o.name),
      h('div', { class: 'sub' }, `NORAD ${o.noradId}`, o.intlDesignator ? ` · ${o.intlDesignator}` : '', o.groups.length ? ` · ${o.groups.join(', ')}` : ''),
      this.liveEl,
      qaEl,
      h('h3', {}, 'Elements'),
      es
        ? h('div', { class: 'sub', 'data-testid': 'element-age' }, `epoch ${utc(es.epoch)} (${ago(Date.now() - Date.parse(es.epoch))} old) · ${es.format.toUpperCase()} · ${es.source}`)
        : h('p', { class: 'hint' }, 'No element set.'),
      expiredEl,
      table(elements),
      es?.tleLine1 && es.tleLine2 ? h('pre', { class: 'tle', 'data-testid': 'tle' }, `${es.tleLine1}\n${es.tleLine2}`) : '',
      h('h3', {}, 'Next passes'),
      form,
      h('div', { class: 'passes', 'data-testid': 'passes' }, h('p', { class: 'hint' }, 'Computing…')),
    );
    this.renderLive();
  }

  private renderLive(): void {
    if (this.current === null) return;
    const o = this.store.objects.get(this.current);
    if (!o) {
      this.liveEl.textContent = 'No live state from the tracker yet.';
      return;
    }
    this.liveEl.replaceChildren(
      table({
        Latitude: `${o.lat1.toFixed(3)}°`,
        Longitude: `${o.lon1.toFixed(3)}°`,
        Altitude: `${o.alt1.toFixed(1)} km`,
        Speed: `${o.speed.toFixed(3)} km/s`,
        'Tick (UTC)': utc(o.t1),
      }),
    );
  }

  private async loadTrack(id: number, signal: AbortSignal): Promise<void> {
    const from = new Date(Date.now() - 30 * 60_000).toISOString();
    const to = new Date(Date.now() + 100 * 60_000).toISOString();
    try {
      const t = await getJson<Track>(`/satellites/${id}/track?from=${from}&to=${to}&stepS=30`, signal);
      if (!signal.aborted) this.map.setTrack(t.geometry.coordinates);
    } catch {
      // No track (no element set): the panel says so already.
    }
  }

  private async loadPasses(id: number, signal: AbortSignal): Promise<void> {
    const el = () => this.root.querySelector<HTMLElement>('[data-testid=passes]');
    const obs = this.observer();
    try {
      const p = await getJson<Passes>(`/satellites/${id}/passes?lat=${obs.lat}&lon=${obs.lon}&minEl=10`, signal);
      if (signal.aborted) return;
      const rows = p.passes.slice(0, 6).map((x) =>
        h('tr', {}, h('td', {}, utc(x.rise.t).slice(5, 16)), h('td', {}, `${x.maxElevationDeg.toFixed(0)}°`), h('td', {}, utc(x.set.t).slice(11, 16)), h('td', {}, `${Math.round(x.rise.azimuthDeg)}°→${Math.round(x.set.azimuthDeg)}°`)),
      );
      el()?.replaceChildren(
        rows.length
          ? h('table', { class: 'grid' }, h('tr', {}, h('th', {}, 'Rise (UTC)'), h('th', {}, 'Max el.'), h('th', {}, 'Set'), h('th', {}, 'Az')), ...rows)
          : h('p', { class: 'hint' }, 'No pass above 10° in the next 24 h.'),
      );
    } catch (err) {
      if (!signal.aborted) el()?.replaceChildren(h('p', { class: 'error' }, `Passes: ${err instanceof Error ? err.message : String(err)}`));
    }
  }
}

/** The search box: catalog search by name or id, results as a clickable list. */
export function searchBox(input: HTMLInputElement, list: HTMLElement, select: (id: number) => void): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let abort: AbortController | null = null;
  const run = async (): Promise<void> => {
    const q = input.value.trim();
    abort?.abort();
    if (q.length === 0) {
      list.replaceChildren();
      return;
    }
    abort = new AbortController();
    try {
      const r = await getJson<{ items: CatalogObject[] }>(`/satellites?q=${encodeURIComponent(q.slice(0, 100))}&limit=20`, abort.signal);
      list.replaceChildren(
        ...(r.items.length
          ? r.items.map((o) => {
              const li = h('li', { 'data-id': o.noradId }, h('span', {}, o.name), h('span', { class: 'id' }, String(o.noradId)));
              li.addEventListener('click', () => {
                list.replaceChildren();
                select(o.noradId);
              });
              return li;
            })
          : [h('li', { class: 'hint' }, 'No match')]),
      );
    } catch (err) {
      if (!(err instanceof DOMException && err.name === 'AbortError')) list.replaceChildren(h('li', { class: 'error' }, String(err instanceof Error ? err.message : err)));
    }
  };
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => void run(), 200);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      clearTimeout(timer);
      void run();
    }
  });
}
