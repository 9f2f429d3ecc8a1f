/**
 * The StarWeather dashboard: tactical map (live objects, search, details,
 * overlay, alerts) and mission control (cluster, ingest), wired together.
 * Everything comes from the gateway that served the page; nothing from the
 * internet.
 */
import { h, poll, utc } from './api.js';
import { AlertsPanel } from './alerts.js';
import { loadCatalogMeta } from './catalog-meta.js';
import { FilterPanel } from './filter-panel.js';
import { ObjectFilter } from './filters.js';
import { DetailsPanel, searchBox } from './details.js';
import { LiveConnection } from './live.js';
import { LEGEND, TacticalMap } from './map.js';
import { loadCluster, loadIngest, renderCluster } from './mission.js';
import { latestOverlays } from './overlay.js';
import { StateStore } from './state-store.js';
import './style.css';

const $ = <T extends HTMLElement>(sel: string): T => {
  const el = document.querySelector<T>(sel);
  if (!el) throw new Error(`dashboard markup lacks ${sel}`);
  return el;
};

const store = new StateStore();
const map = new TacticalMap($<HTMLCanvasElement>('#map'), store);
const details = new DetailsPanel($('#details'), map, store);
const select = (id: number | null): void => {
  void details.select(id);
};
map.onSelect = select;
searchBox($<HTMLInputElement>('#search'), $('#results'), select);
const alerts = new AlertsPanel($('#alerts'), $('#alert-count'), select);
void alerts.load();

const filter = new ObjectFilter();
const renderFilters = (): void => filterPanel.render(filter.counts(store.objects.values()));
const filterPanel = new FilterPanel($('#filters'), filter, () => {
  // No filter: no per-object test in the map's draw loop.
  map.filter = filter.active ? filter.matches : null;
  renderFilters();
});
// Names, groups and regimes: once now, then every 10 minutes (a catalog load changes them).
poll(async () => {
  try {
    const meta = await loadCatalogMeta();
    filter.meta = meta;
    map.regimeOf = (id) => meta.get(id)?.regime;
    renderFilters();
  } catch {
    // The filters that need no metadata (QA) still work; the next poll tries again.
  }
}, 600_000);

$('#legend').replaceChildren(
  ...LEGEND.map(([label, colour]) => {
    const swatch = h('i');
    // Through CSSOM, not a style attribute: the page's CSP allows no inline styles.
    swatch.style.background = colour;
    return h('span', {}, swatch, label);
  }),
);

// On a phone the panel is a bottom sheet (style.css): its handle trades map height for panel height.
const sheetToggle = $<HTMLButtonElement>('#sheet-toggle');
sheetToggle.addEventListener('click', () => {
  const open = $('#view-map').classList.toggle('sheet-open');
  sheetToggle.setAttribute('aria-expanded', String(open));
  sheetToggle.textContent = open ? 'Show more of the map' : 'Show more of the panel';
});

// Views: #map (default) and #mission, switched by the tabs (and the URL hash, so a view can be linked).
const views = { map: $('#view-map'), mission: $('#view-mission') };
const view = (): 'map' | 'mission' => (location.hash === '#mission' ? 'mission' : 'map');
const showView = (): void => {
  const v = view();
  views.map.hidden = v !== 'map';
  views.mission.hidden = v !== 'mission';
  for (const tab of document.querySelectorAll<HTMLAnchorElement>('nav a')) tab.classList.toggle('active', tab.hash === `#${v}`);
  if (v === 'mission') {
    clusterPoll.now();
    ingestPoll.now();
  }
};
window.addEventListener('hashchange', showView);

const clusterEl = $('#cluster');
const ingestEl = $('#ingest');
let clusterPushedAt = 0;
// The websocket's cluster channel pushes the view every few seconds; REST fills in before the first push and when the channel is off.
const clusterPoll = poll(async () => {
  if (Date.now() - clusterPushedAt > 10_000) await loadCluster(clusterEl);
}, 5_000, () => view() === 'mission');
const ingestPoll = poll(() => loadIngest(ingestEl), 10_000, () => view() === 'mission');

const statusEl = $('#status');
const live = new LiveConnection(store, {
  onAlert: (m) => alerts.add(m.alert),
  onCluster: (v) => {
    clusterPushedAt = Date.now();
    renderCluster(clusterEl, v);
  },
  onStatus: (text, ok) => {
    statusEl.textContent = text;
    statusEl.className = ok ? 'ok' : 'bad';
  },
});
live.start();

const overlayEl = $('#overlay-info');
const overlayToggle = $<HTMLInputElement>('#overlay-toggle');
overlayToggle.addEventListener('change', () => (map.showOverlay = overlayToggle.checked));
poll(async () => {
  try {
    map.overlays = await latestOverlays();
    overlayEl.textContent = map.overlays.length ? map.overlays.map((o) => o.label).join(' | ') : 'no processed scene yet';
  } catch (err) {
    overlayEl.textContent = `overlay unavailable: ${err instanceof Error ? err.message : String(err)}`;
  }
}, 60_000);

const clock = $('#clock');
const counts = $('#counts');
setInterval(() => {
  clock.textContent = utc(Date.now());
  counts.textContent = `${store.objects.size.toLocaleString('en')} objects${store.lastTickMs ? ` · tick ${utc(store.lastTickMs).slice(11)}` : ''}`;
}, 500);
// Counts per filter choice follow the objects (QA flags change, objects come and go) once a second.
setInterval(renderFilters, 1_000);

showView();

/**
 * Hooks for the end-to-end test and for debugging from the console: what is
 * on the map and where, without reading pixels; select; drop the connection.
 */
declare global {
  interface Window {
    starweather: {
      objects(): number;
      positions(): ReadonlyArray<{ id: number; lon: number; lat: number; altKm: number; x: number; y: number }>;
      select(id: number): void;
      /** Points of the selected object's ground track drawn on the map. */
      trackPoints(): number;
      /** Drop the websocket as a network failure would: the page reconnects and resumes its session. */
      dropConnection(): void;
      /** Canvas CSS-pixel position of a lon/lat on the map now. */
      project(lon: number, lat: number): [number, number];
      stats(): { frames: number; bytes: number; lastTickMs: number | null };
    };
  }
}
window.starweather = {
  objects: () => store.objects.size,
  positions: () => map.screenObjects().map(({ id, lon, lat, altKm, x, y }) => ({ id, lon, lat, altKm, x, y })),
  select: (id) => select(id),
  trackPoints: () => map.track.reduce((n, line) => n + line.length, 0),
  project: (lon, lat) => map.project(lon, lat),
  dropConnection: () => live.drop(),
  stats: () => ({ frames: live.framesReceived, bytes: live.bytesReceived, lastTickMs: store.lastTickMs }),
};
