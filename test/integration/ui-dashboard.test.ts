/**
 * The dashboard end to end, in real headless Chromium (Debian's
 * /usr/bin/chromium driven by playwright-core) against a real node:
 * `starweather catalog load` writes a small real catalog (the first 200
 * objects of the shipped CelesTrak snapshot) into the embedded database,
 * then `starweather start` runs every role inline (tracker propagating at
 * 1 Hz, gateway serving /ui/, /ws, REST). The browser opens `/` (redirected
 * to /ui/) and checks: the map shows (basemap and objects drawn), objects
 * move between two screenshots (and between animation frames, not only at
 * each 1 Hz tick), selecting an object (search, and a click on the map)
 * shows its details, and mission control lists the running node.
 * Then the alerts panel (alerts of one kind folded into a row that expands,
 * the critical one first and styled apart), the filters (counts per choice
 * against the test's own regime classification of the loaded TLEs, the map
 * showing exactly the matching objects) and a phone-size layout (layout
 * boxes: map and bottom-sheet panel apart, TLE lines not clipped).
 * It saves the README screenshots: actors/gateway/ui/screenshot.png (map),
 * screenshot-alerts.png (alerts panel), screenshot-phone.png (390×844) and
 * screenshot-mission.png (mission control) when run with
 * STARWEATHER_UPDATE_SCREENSHOTS=1, else into a temp folder.
 *
 * Skipped only when /usr/bin/chromium is absent (.ci/run installs it).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import sharp from 'sharp';
import { loadConfig } from '../../config/load.js';
import { ensureDefaultCollections } from '../../actors/gateway/stac/collections.js';
import { footprint, scanToLonLat, type GeosParams } from '../../actors/ingest/imagery-geo.js';
import { etagOf, openStorage } from '../../actors/storage/index.js';
import { raiseAlert, raiseGroupAlert } from '../../actors/storage/alerts.js';
import { upsertItem } from '../../actors/storage/stac.js';
import { putProduct } from '../../actors/storage/tile-results.js';
import { cloudTopHeightRgba } from '../../actors/tile/pipeline/render.js';
import { CTH_NONE } from '../../actors/tile/pipeline/process-tile.js';
import { CLOUD } from '../../actors/tile/types.js';
import { cliHarness } from '../helpers/cli-harness.js';
import { freePort } from '../helpers/nats-server.js';
import { waitFor, type Spawned } from '../helpers/processes.js';
import { snapshotRecords } from '../helpers/tracker-seed.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `Debian chromium is not installed at ${CHROMIUM} (apt-get install -y chromium; .ci/run does this)`;
/** Launch flags for a quiet, offline, sandbox-less headless Chromium in a container. */
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
// The README screenshots are rewritten only on request (STARWEATHER_UPDATE_SCREENSHOTS=1), so a
// plain `npm test` leaves the working tree as it found it; otherwise they go to a temp folder.
const SHOT_DIR = process.env.STARWEATHER_UPDATE_SCREENSHOTS === '1' ? join(REPO, 'actors', 'gateway', 'ui') : mkdtempSync(join(tmpdir(), 'sw-ui-shots-'));
export const SCREENSHOT = join(SHOT_DIR, 'screenshot.png');
export const SCREENSHOT_MISSION = join(SHOT_DIR, 'screenshot-mission.png');
export const SCREENSHOT_PHONE = join(SHOT_DIR, 'screenshot-phone.png');
export const SCREENSHOT_ALERTS = join(SHOT_DIR, 'screenshot-alerts.png');
const OBJECTS = 200;
const ISS = 25544;

const OVERLAY_ITEM = 'OR_ABI-L1b-RadF-M6C13_G19_test-overlay';

/**
 * A processed GOES-East full-disk scene, as the tile pipeline leaves it: a
 * STAC item with the ingest's fixed-grid fields (GOES-R PUG vol. 3 5.1.2.8:
 * 5424² pixels of 56 µrad, GRS80, perspective height 35,786,023 m) and a
 * rendered product in the database (served by GET /products). The image is
 * the pipeline's cloud-top-height rendering (render.ts) of a synthetic field
 * (titled "test pattern"), space transparent. It lets the test check that the
 * overlay lands on the right part of the map after reprojection.
 */
async function seedOverlay(env: Record<string, string | undefined>): Promise<void> {
  const cfg = loadConfig({ env: Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string> });
  const storage = await openStorage(cfg);
  try {
    await ensureDefaultCollections(storage.db);
    const [a, b, hp, lon0] = [6378137, 6356752.31414, 35786023, -75.2];
    const geos: GeosParams = { sweep: 'x', h: hp + a, req: a, rpol: b, lon0 };
    const n = 5424;
    const dx = 56e-6;
    const x0 = -0.151844;
    const y0 = 0.151844;
    const size = 678; // the rendering, reduced 8×
    // A synthetic cloud-top-height field (test pattern): a deep-convection band near the equator, wavy frontal
    // bands at mid-latitudes, scattered low cloud; rendered by the tile pipeline's own product renderer.
    const m = { width: size, height: size, bt: new Uint16Array(size * size), cth: new Uint16Array(size * size).fill(CTH_NONE), cloud: new Uint8Array(size * size).fill(CLOUD.NODATA) };
    for (let r = 0; r < size; r++) {
      for (let c = 0; c < size; c++) {
        const ll = scanToLonLat(x0 - dx / 2 + ((c + 0.5) * n * dx) / size, y0 + dx / 2 - ((r + 0.5) * n * dx) / size, geos);
        if (!ll) continue;
        const i = r * size + c;
        const [lon, lat] = ll;
        const itcz = Math.exp(-(((lat - 4) / 6) ** 2)) * (1 + 0.25 * Math.sin(lon / 4) * Math.sin(lat / 3));
        const front = Math.abs(Math.abs(lat) - 45 - 6 * Math.sin((lon * Math.PI) / 25));
        const scattered = Math.sin(lon * 1.3) * Math.sin(lat * 1.7) > 0.8;
        m.cloud[i] = CLOUD.CLEAR;
        if (itcz > 0.45) m.cth[i] = Math.round(9000 + 6000 * Math.min(1, itcz));
        else if (front < 4) m.cth[i] = Math.round(9000 - 1000 * front + 1500 * Math.sin(lon / 5));
        else if (scattered) m.cth[i] = 2000;
        if (m.cth[i] !== CTH_NONE) m.cloud[i] = CLOUD.CLOUD;
      }
    }
    const png = await sharp(cloudTopHeightRgba(m), { raw: { width: size, height: size, channels: 4 } }).png().toBuffer();
    await putProduct(storage.db, { collection: 'imagery', itemId: OVERLAY_ITEM, name: 'cloud-top-height.png', mediaType: 'image/png', data: png, etag: etagOf(png) });
    const fp = footprint({ xmin: x0 - dx / 2, xmax: -x0 + dx / 2, ymin: -y0 - dx / 2, ymax: y0 + dx / 2 }, geos);
    const now = new Date(Math.floor(Date.now() / 600_000) * 600_000).toISOString();
    await upsertItem(storage.db, {
      type: 'Feature',
      stac_version: '1.0.0',
      id: OVERLAY_ITEM,
      collection: 'imagery',
      geometry: fp.geometry,
      bbox: fp.bbox,
      properties: {
        datetime: now,
        platform: 'GOES-19',
        'starweather:source': 'goes-east',
        'proj:epsg': null,
        'proj:wkt2': `PROJCRS["GOES-19 ABI fixed grid",BASEGEOGCRS["unknown",DATUM["unknown",ELLIPSOID["unknown",${a},${(a / (a - b)).toFixed(9)},LENGTHUNIT["metre",1]]],PRIMEM["Greenwich",0,ANGLEUNIT["degree",0.0174532925199433]]],CONVERSION["unknown",METHOD["Geostationary Satellite (Sweep X)"],PARAMETER["Longitude of natural origin",${lon0},ANGLEUNIT["degree",0.0174532925199433]],PARAMETER["Satellite Height",${hp},LENGTHUNIT["metre",1]],PARAMETER["False easting",0,LENGTHUNIT["metre",1]],PARAMETER["False northing",0,LENGTHUNIT["metre",1]]],CS[Cartesian,2],AXIS["(E)",east,ORDER[1],LENGTHUNIT["metre",1]],AXIS["(N)",north,ORDER[2],LENGTHUNIT["metre",1]]]`,
        'proj:shape': [n, n],
        'proj:transform': [dx * hp, 0, (x0 - dx / 2) * hp, 0, -dx * hp, (y0 + dx / 2) * hp],
      },
      links: [],
      assets: {
        data: { href: 'https://noaa-goes19.s3.amazonaws.com/ABI-L1b-RadF/test.nc', type: 'application/netcdf', roles: ['data'] },
        'cloud-top-height': { href: `/products/imagery/${OVERLAY_ITEM}/cloud-top-height.png`, type: 'image/png', title: 'Cloud-top height (test pattern)', roles: ['visual'], 'proj:shape': [size, size] },
      },
    });
    // Two alerts for the alerts panel: a storm warning and an object's QA notice.
    await raiseAlert(storage.db, { id: 'test-storm-1', kind: 'storm.warning', severity: 'warning', noradId: null, message: 'Deep convection, overshooting tops (test alert)', payload: {}, raisedAt: new Date(Date.now() - 120_000) });
    await raiseAlert(storage.db, { id: 'test-qa-25544', kind: 'tracker.qa', severity: 'info', noradId: ISS, message: 'ISS (ZARYA): element set older than 30 days (test alert)', payload: {}, raisedAt: new Date(Date.now() - 60_000) });
    // For the grouping: DECAYS per-object decay alerts (one row), the tracker's grouped stale-decay alert
    // over STALE objects (a row that expands to them), and a critical cyclone warning, the oldest alert
    // of all, that must still come first.
    for (const [k, id] of DECAY_IDS.entries()) {
      await raiseAlert(storage.db, { id: `test-decay-${id}`, kind: 'decay', severity: 'warning', noradId: id, message: `NORAD ${id} decayed (test alert)`, payload: {}, raisedAt: new Date(Date.now() - 90_000 - k * 1000) });
    }
    await raiseGroupAlert(storage.db, { id: 'test-decay-stale', kind: 'decay-stale-elements', severity: 'warning', noradIds: [...STALE_IDS], messageTemplate: '{count} objects predicted decayed from elements older than 1 days (test alert)', payload: {}, raisedAt: new Date(Date.now() - 100_000) });
    await raiseAlert(storage.db, { id: 'test-cyclone-1', kind: 'storm.tropical-cyclone', severity: 'critical', noradId: null, message: 'tropical cyclone at 15.00, -60.00: 90 kt (test alert)', payload: {}, raisedAt: new Date(Date.now() - 600_000) });
  } finally {
    await storage.close();
  }
}

const harness = cliHarness('sw-ui-');
let node: Spawned | undefined;
let base = '';
let profile = '';
let context: BrowserContext | undefined;
let page: Page;
/** Ids of the loaded objects by orbit regime, from their TLEs (Space-Track's LEO: mean motion > 11.25 rev/day, e ≤ 0.25). */
const leoIds = new Set<number>();
const otherIds = new Set<number>();
const pageErrors: string[] = [];
/** Loaded objects with a seeded per-object decay alert, and those in the seeded grouped stale-decay alert. */
const DECAY_IDS: number[] = [];
const STALE_IDS: number[] = [];
type Regime = 'leo' | 'meo' | 'geo' | 'heo';
/** Each loaded object's regime and name, from its TLE (filled in before()). */
const regimeOf = new Map<number, Regime>();
const nameOf = new Map<number, string>();
/**
 * The test's own regime rule, from Space-Track's orbit-type definitions as the tracker states them
 * (HEO e > 0.25; LEO mean motion > 11.25 rev/day; GEO 0.9..1.1 rev/day, the tracker's widened band;
 * everything else MEO), applied to the mean motion and eccentricity read from line 2's columns here.
 */
function oracleRegime(line2: string): Regime {
  const e = Number(`0.${line2.substring(26, 33)}`);
  const n = Number(line2.substring(52, 63));
  if (e > 0.25) return 'heo';
  if (n > 11.25) return 'leo';
  if (n >= 0.9 && n <= 1.1) return 'geo';
  return 'meo';
}

before(async () => {
  if (skip) return;
  const port = await freePort();
  const env = harness.env({
    STARWEATHER_PORT: String(port),
    STARWEATHER_NODE_PORT: String(await freePort()),
    // No internet in tests: the catalog comes from the file below, no imagery is polled.
    STARWEATHER_CATALOG_ENABLED: 'false',
    STARWEATHER_IMAGERY_SOURCES: 'none',
    STARWEATHER_STATUS_INTERVAL_MS: '1000',
    // The snapshot's elements are months old on the test's date: LEO ones are kept live (a limit of 100 years),
    // every other regime's are past a 1-day limit, so both the live and the dimmed drawing show.
    STARWEATHER_MAX_ELEMENT_AGE_DAYS_LEO: '36500',
    STARWEATHER_MAX_ELEMENT_AGE_DAYS_MEO: '1',
    STARWEATHER_MAX_ELEMENT_AGE_DAYS_GEO: '1',
    STARWEATHER_MAX_ELEMENT_AGE_DAYS_HEO: '1',
  });
  const records = await snapshotRecords(OBJECTS);
  for (const r of records) {
    (r.eccentricity <= 0.25 && r.meanMotionRevPerDay > 11.25 ? leoIds : otherIds).add(r.noradId);
    regimeOf.set(r.noradId, oracleRegime(r.line2));
    nameOf.set(r.noradId, r.name);
  }
  const file = join(env.STARWEATHER_DATA_DIR!, 'small-catalog.3le');
  writeFileSync(file, records.map((r) => `${r.name}\n${r.line1}\n${r.line2}\n`).join(''));
  const load = harness.run(['catalog', 'load', file, '--format', '3le', '--group', 'active'], env);
  const loaded = await load.exited;
  assert.equal(loaded.code, 0, `catalog load failed: ${load.stdout()}\n${load.stderr()}`);
  DECAY_IDS.push(...records.slice(10, 15).map((r) => r.noradId));
  STALE_IDS.push(...records.slice(20, 23).map((r) => r.noradId));
  await seedOverlay(env);

  node = harness.run(['start'], env);
  base = `http://127.0.0.1:${port}`;
  let last = '';
  const healthy = await waitFor(async () => {
    if (node!.proc.exitCode !== null) return true;
    try {
      // The tracker and the gateway are what the dashboard needs; another role restarting makes /health 503, not this test fail.
      const r = await fetch(`${base}/health`);
      last = await r.text();
      const hosts = (JSON.parse(last) as { hosts: Array<{ role: string; state: string }> }).hosts;
      return ['tracker', 'gateway'].every((role) => hosts.some((x) => x.role === role && x.state === 'running'));
    } catch {
      return false;
    }
  }, 60_000, 250);
  assert.ok(healthy && node.proc.exitCode === null, `node not healthy: ${node.stderr()}\n${last}`);

  profile = mkdtempSync(join(tmpdir(), 'sw-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1440, height: 860 },
    offline: false,
  });
  page = context.pages()[0] ?? (await context.newPage());
  // Nothing may come from outside the gateway (no CDN): any other request fails the test.
  const foreign: string[] = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(base) || url.startsWith(base.replace('http', 'ws'))) return route.continue();
    foreign.push(url);
    return route.abort();
  });
  (globalThis as { foreignRequests?: string[] }).foreignRequests = foreign;
  // Script errors, CSP violations and failed loads all reach the console as errors.
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(m.text());
  });
  page.on('pageerror', (err) => pageErrors.push(String(err)));
});

after(async () => {
  await context?.close().catch(() => undefined);
  if (profile) rmSync(profile, { recursive: true, force: true });
  if (process.env.STARWEATHER_UPDATE_SCREENSHOTS !== '1') rmSync(SHOT_DIR, { recursive: true, force: true });
  if (node && node.proc.exitCode === null) {
    node.proc.kill('SIGTERM');
    await Promise.race([node.exited, new Promise((r) => setTimeout(r, 10_000))]);
  }
});

/** For failure messages: whether the node is still up, and the end of its log. */
const nodeState = (): string =>
  node ? `node ${node.proc.exitCode === null && node.proc.signalCode === null ? 'running' : `exited ${node.proc.exitCode ?? node.proc.signalCode}`}; stderr tail: ${node.stderr().slice(-1500)}; stdout tail: ${node.stdout().slice(-2500)}` : 'no node';

type Pos = { id: number; lon: number; lat: number; altKm: number; x: number; y: number };
// The callbacks given to page.evaluate/waitForFunction run in the page (playwright serializes them);
// the Node tsconfig has no DOM types, so the little they touch is declared here (the dashboard's
// test hooks are window.starweather, actors/gateway/ui/src/main.ts).
declare const window: {
  starweather: { objects(): number; positions(): Pos[]; trackPoints(): number; project(lon: number, lat: number): [number, number]; dropConnection(): void; stats(): { frames: number }; select(id: number): void };
};
declare function getComputedStyle(el: unknown): { backgroundColor: string; borderLeftWidth: string; borderLeftColor: string; paddingTop: string; paddingBottom: string; lineHeight: string };
declare const document: {
  querySelector(selector: string): { textContent: string | null; dataset?: Record<string, string>; width: number; height: number; getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } } | null;
  querySelectorAll(selector: string): { length: number };
};
const positions = (): Promise<Pos[]> => page.evaluate(() => window.starweather.positions());

test('the page loads from / (redirected to /ui/) and shows the world map with the tracked objects', { skip, timeout: 60_000 }, async () => {
  const res = await page.goto(`${base}/`);
  assert.equal(res?.status(), 200);
  assert.match(page.url(), /\/ui\/$/);
  assert.equal(await page.title(), 'StarWeather');
  await page.waitForFunction((n) => window.starweather?.objects() >= n, OBJECTS * 0.9, { timeout: 30_000 });
  // Read the canvas: basemap land and ocean colours (map.ts) and object dots are all drawn.
  const px = await page.evaluate(() => {
    const c = document.querySelector('#map')!;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const near = (i: number, r: number, g: number, b: number) => Math.abs(d[i]! - r) + Math.abs(d[i + 1]! - g) + Math.abs(d[i + 2]! - b) < 6;
    let land = 0;
    let ocean = 0;
    let dots = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (near(i, 0x1f, 0x3a, 0x4d)) land++;
      else if (near(i, 0x0f, 0x22, 0x36)) ocean++;
      // Object dots are the only bright pixels (the basemap's brightest, borders over land, stay below 140 in every channel).
      else if (Math.max(d[i]!, d[i + 1]!, d[i + 2]!) > 180) dots++;
    }
    return { total: d.length / 4, land, ocean, dots, width: c.width, height: c.height };
  });
  assert.ok(px.width > 600 && px.height > 300, `canvas ${px.width}×${px.height}`);
  assert.ok(px.land / px.total > 0.05, `land drawn: ${JSON.stringify(px)}`);
  assert.ok(px.ocean / px.total > 0.2, `ocean drawn: ${JSON.stringify(px)}`);
  assert.ok(px.dots >= leoIds.size * 0.9, `live objects drawn: ${JSON.stringify(px)}`);
  // At each object's own position: live (LEO) objects are bright dots; objects whose elements are past
  // their limit are drawn dimmed (not bright, but not the bare basemap either).
  const at = await page.evaluate(() => {
    const c = document.querySelector('#map')!;
    const ctx = c.getContext('2d');
    return window.starweather.positions().map((p) => ({ id: p.id, rgb: Array.from(ctx.getImageData(Math.round(p.x), Math.round(p.y), 1, 1).data).slice(0, 3) }));
  });
  const bright = (rgb: number[]) => Math.max(...rgb) > 180;
  const bare = (rgb: number[]) => [[0x1f, 0x3a, 0x4d], [0x0f, 0x22, 0x36]].some((c) => Math.abs(rgb[0]! - c[0]!) + Math.abs(rgb[1]! - c[1]!) + Math.abs(rgb[2]! - c[2]!) < 6);
  const live = at.filter((a) => leoIds.has(a.id));
  const dimmed = at.filter((a) => otherIds.has(a.id));
  assert.ok(live.length >= leoIds.size * 0.9 && dimmed.length >= otherIds.size * 0.9, `positions of both kinds: ${live.length} live, ${dimmed.length} expired`);
  assert.ok(live.filter((a) => bright(a.rgb)).length >= live.length * 0.9, `live objects bright: ${JSON.stringify(live.slice(0, 5))}`);
  // A dimmed dot may lie under a live one (live ones are drawn last): most, not all, are dim.
  const dim = dimmed.filter((a) => !bright(a.rgb) && !bare(a.rgb));
  assert.ok(dim.length >= dimmed.length * 0.8, `expired objects dimmed: ${dim.length} of ${dimmed.length}; e.g. ${JSON.stringify(dimmed.slice(0, 5))}`);
  // The processed scene's overlay, reprojected: the equatorial band shows over South America (inside the
  // GOES-East disk), the map is untouched outside the disk (Africa east of 20°E is past the limb).
  await page.waitForFunction((id) => (document.querySelector('#overlay-info')?.textContent ?? '').includes(id), OVERLAY_ITEM, { timeout: 20_000 });
  const tint = await page.evaluate(() => {
    const c = document.querySelector('#map')!;
    const at = (lon: number, lat: number) => {
      const [x, y] = window.starweather.project(lon, lat);
      return Array.from(c.getContext('2d').getImageData(Math.round(x), Math.round(y), 1, 1).data);
    };
    return { band: at(-60, 4), outside: at(30, 4) };
  });
  // 65 % of the ramp's 12–15 km colours (yellow to orange) over the land colour (31, 58, 77): red high, blue low.
  assert.ok(tint.band[0]! > 150 && tint.band[2]! < 90, `overlay over South America: ${tint.band}`);
  assert.ok(tint.outside[0]! < 80, `no overlay past the limb: ${tint.outside}`);
  const onMap = (await positions()).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  assert.ok(onMap.length >= OBJECTS * 0.9, `${onMap.length} objects positioned`);
  await page.waitForSelector('#status.ok', { timeout: 5_000 });
});

test('objects move between two screenshots, smoothly between the 1 Hz frames', { skip, timeout: 30_000 }, async () => {
  const map = page.locator('#map');
  const a = await positions();
  const shotA = await map.screenshot();
  await page.waitForTimeout(2_000);
  const b = await positions();
  const shotB = await map.screenshot();
  assert.ok(!shotA.equals(shotB), `the two map screenshots are identical (${nodeState()})`);

  const before = new Map(a.map((p) => [p.id, p]));
  const moves: Array<{ id: number; deg: number; altKm: number }> = [];
  for (const p of b) {
    const q = before.get(p.id);
    if (!q) continue;
    let dLon = Math.abs(p.lon - q.lon);
    if (dLon > 180) dLon = 360 - dLon;
    moves.push({ id: p.id, deg: Math.hypot(dLon * Math.cos((p.lat * Math.PI) / 180), p.lat - q.lat), altKm: p.altKm });
  }
  assert.ok(moves.length >= OBJECTS * 0.9, `${moves.length} objects in both samples`);
  // Every object moves (geostationary ones least: their sub-satellite points drift slowly but do drift in float32 frames).
  const moved = moves.filter((m) => m.deg > 0).length;
  assert.ok(moved / moves.length > 0.9, `${moved} of ${moves.length} objects moved in 2 s (${nodeState()})`);
  // LEO ground tracks run at ~0.04–0.07°/s (one revolution in 90–130 min): in 2 s a small step, not a jump.
  const leo = moves.filter((m) => m.altKm > 150 && m.altKm < 2000).sort((x, y) => x.deg - y.deg);
  assert.ok(leo.length >= 20, `${leo.length} LEO objects`);
  const median = leo[Math.floor(leo.length / 2)]!.deg;
  assert.ok(median > 0.05 && median < 0.3, `median LEO move in 2 s: ${median}°`);

  // Interpolated: sampled 8 times within ~1.2 s, a LEO object shows more positions than the 1–2 frames that arrived.
  const leoId = leo[leo.length - 1]!.id;
  const seen = new Set<string>();
  for (let i = 0; i < 8; i++) {
    const p = (await positions()).find((x) => x.id === leoId)!;
    seen.add(`${p.lon.toFixed(5)},${p.lat.toFixed(5)}`);
    await page.waitForTimeout(150);
  }
  assert.ok(seen.size >= 5, `object ${leoId}: ${seen.size} distinct positions in 8 samples (${nodeState()})`);
});

test('a dropped websocket reconnects, resumes its session and keeps the objects moving', { skip, timeout: 30_000 }, async () => {
  await page.evaluate(() => window.starweather.dropConnection());
  await page.waitForFunction(() => document.querySelector('#status')?.textContent === 'connected (resumed)', undefined, { timeout: 15_000 });
  const frames = await page.evaluate(() => window.starweather.stats().frames);
  const a = new Map((await positions()).map((p) => [p.id, p.lon]));
  await page.waitForFunction((f) => window.starweather.stats().frames >= f + 2, frames, { timeout: 10_000 });
  const b = await positions();
  const moved = b.filter((p) => a.has(p.id) && a.get(p.id) !== p.lon).length;
  assert.ok(moved > OBJECTS * 0.5, `${moved} objects moved after the resume (${nodeState()})`);
});

test('selecting an object (search, or a click on the map) shows its elements, QA flags, passes and ground track', { skip, timeout: 45_000 }, async () => {
  await page.fill('#search', 'ISS (ZARYA)');
  await page.click(`#results li[data-id="${ISS}"]`, { timeout: 10_000 });
  await page.waitForFunction(() => document.querySelector('[data-testid=sat-name]')?.textContent === 'ISS (ZARYA)', undefined, { timeout: 10_000 });
  const details = page.locator('#details');
  assert.match((await details.textContent()) ?? '', /NORAD 25544/);
  assert.match((await page.locator('[data-testid=qa]').textContent()) ?? '', /^QA: /);
  assert.match((await page.locator('[data-testid=tle]').textContent()) ?? '', /^1 25544U/);
  assert.match((await details.textContent()) ?? '', /Inclination \(°\)\s*51\.\d+/);
  assert.match((await page.locator('[data-testid=live-state]').textContent()) ?? '', /Latitude-?\d+\.\d+°/);
  // Passes for the observer: a table of passes, or the statement that none reaches 10° (both from the API).
  await page.waitForFunction(() => !/Computing/.test(document.querySelector('[data-testid=passes]')?.textContent ?? 'Computing'), undefined, { timeout: 15_000 });
  assert.match((await page.locator('[data-testid=passes]').textContent()) ?? '', /Rise \(UTC\)|No pass above 10°/);
  await page.waitForFunction(() => window.starweather.trackPoints() > 100, undefined, { timeout: 10_000 });
  // The alerts panel: the critical alert first although it is the oldest, then the storm warning, then rows
  // newest first: the QA notice, the folded decays, the grouped stale decays. The badge counts every open
  // alert that is not info (each folded alert counts): the storm warning, the decays, the stale group, the cyclone.
  await page.waitForFunction(() => document.querySelectorAll('#alerts > li.alert').length === 5, undefined, { timeout: 10_000 });
  const alerts = await page.locator('#alerts > li.alert').allTextContents();
  assert.equal(alerts.length, 5, JSON.stringify(alerts));
  assert.match(alerts[0]!, /critical.*storm\.tropical-cyclone.*tropical cyclone/);
  assert.match(alerts[1]!, /warning.*storm\.warning.*Deep convection/);
  assert.match(alerts[2]!, /tracker\.qa.*ISS \(ZARYA\)/);
  assert.match(alerts[3]!, new RegExp(`decay.*${DECAY_IDS.length} objects decayed`));
  assert.match(alerts[4]!, new RegExp(`decay-stale-elements.*${STALE_IDS.length} objects predicted decayed`));
  assert.equal(await page.locator('#alert-count').textContent(), String(1 + DECAY_IDS.length + 1 + 1));
  await page.waitForTimeout(300);
  await page.screenshot({ path: SCREENSHOT });

  // A click on the map selects the object drawn there: pick one with no neighbour within 15 px.
  const box = (await page.locator('#map').boundingBox())!;
  const ps = (await positions()).filter((p) => p.id !== ISS && p.x > 20 && p.y > 20 && p.x < box.width - 20 && p.y < box.height - 60);
  const lonely = ps.find((p) => ps.every((q) => q === p || Math.hypot(q.x - p.x, q.y - p.y) > 15));
  assert.ok(lonely, 'an isolated object to click');
  const expected = ((await (await fetch(`${base}/satellites/${lonely.id}`)).json()) as { object: { name: string } }).object.name;
  await page.mouse.click(box.x + lonely.x, box.y + lonely.y);
  await page.waitForFunction((name) => document.querySelector('[data-testid=sat-name]')?.textContent === name, expected, { timeout: 10_000 });
  assert.match((await details.textContent()) ?? '', new RegExp(`NORAD ${lonely.id}`));
  // An alert about an object selects it.
  await page.locator('#alerts li.alert.clickable').first().click();
  await page.waitForFunction(() => document.querySelector('[data-testid=sat-name]')?.textContent === 'ISS (ZARYA)', undefined, { timeout: 10_000 });
});

test('alerts of one kind fold into one row that expands; critical alerts, then storm warnings, stand out and come first', { skip, timeout: 30_000 }, async () => {
  const rows = page.locator('#alerts > li.alert');
  const decay = page.locator('#alerts > li.alert[data-kind="decay"]');
  assert.equal(await decay.count(), 1, 'one row for every decay alert');
  assert.equal(await decay.getAttribute('data-count'), String(DECAY_IDS.length));
  assert.equal(await decay.getAttribute('aria-expanded'), 'false');
  assert.equal(await decay.locator('ul.members li').count(), 0, 'folded until clicked');
  await decay.click();
  await page.waitForFunction(() => document.querySelectorAll('#alerts li[data-kind="decay"] ul.members li').length > 0, undefined, { timeout: 5_000 });
  const listed = (await decay.locator('ul.members li').evaluateAll((els) => els.map((e) => Number((e as unknown as { dataset: { id: string } }).dataset.id)))).sort((a, b) => a - b);
  assert.deepEqual(listed, [...DECAY_IDS].sort((a, b) => a - b));
  assert.equal(await decay.getAttribute('aria-expanded'), 'true');
  // A listed object selects it.
  const target = DECAY_IDS[0]!;
  await decay.locator(`ul.members li[data-id="${target}"]`).click();
  await page.waitForFunction((name) => document.querySelector('[data-testid=sat-name]')?.textContent === name, nameOf.get(target), { timeout: 10_000 });
  assert.equal(await decay.getAttribute('aria-expanded'), 'true', 'a click on a listed object leaves the row open');
  // The grouped stale-decay alert expands to the objects it stands for.
  const stale = page.locator('#alerts > li.alert[data-kind="decay-stale-elements"]');
  assert.equal(await stale.getAttribute('data-count'), String(STALE_IDS.length));
  await stale.locator('.kind').click();
  await page.waitForFunction((n) => document.querySelectorAll('#alerts li[data-kind="decay-stale-elements"] ul.members li').length === n, STALE_IDS.length, { timeout: 5_000 });
  const staleListed = (await stale.locator('ul.members li').evaluateAll((els) => els.map((e) => Number((e as unknown as { dataset: { id: string } }).dataset.id)))).sort((a, b) => a - b);
  assert.deepEqual(staleListed, [...STALE_IDS].sort((a, b) => a - b));
  await page.locator('#alerts').evaluate((el) => { (el as unknown as { scrollTop: number }).scrollTop = 0; });
  await page.locator('#alerts').screenshot({ path: SCREENSHOT_ALERTS });
  // Folding again.
  await decay.locator('.kind').click();
  await page.waitForFunction(() => document.querySelectorAll('#alerts li[data-kind="decay"] ul.members li').length === 0, undefined, { timeout: 5_000 });
  // The critical alert is first and drawn differently from a warning (edge width and background).
  assert.match((await rows.first().getAttribute('class')) ?? '', /\bcritical\b/);
  const style = (sel: string) => page.locator(sel).evaluate((el) => { const s = getComputedStyle(el); return { bg: s.backgroundColor, edge: s.borderLeftWidth, colour: s.borderLeftColor }; });
  const critical = await style('#alerts > li.alert.critical');
  const warning = await style('#alerts > li.alert.warning[data-kind="storm.warning"]');
  assert.notEqual(critical.bg, warning.bg, `critical background ${critical.bg} vs warning ${warning.bg}`);
  assert.ok(parseFloat(critical.edge) > parseFloat(warning.edge), `critical edge ${critical.edge} vs warning ${warning.edge}`);
  assert.notEqual(critical.colour, warning.colour);
  // The storm warning stands out from a plain warning too (it is second, before newer alerts).
  assert.equal(await rows.nth(1).getAttribute('data-kind'), 'storm.warning');
  const plain = await style('#alerts > li.alert.warning[data-kind="decay"]');
  assert.notEqual(warning.bg, plain.bg, `storm warning background ${warning.bg} vs plain warning ${plain.bg}`);
});

test('filters by group, orbit regime, name pattern and QA state: counts per choice, and the map shows only matching objects', { skip, timeout: 45_000 }, async () => {
  const shownIds = async () => new Set((await positions()).map((p) => p.id));
  const optionCount = async (sel: string, value: string) => Number(await page.locator(`${sel} option[value="${value}"]`).getAttribute('data-count'));
  const waitShown = (n: number) => page.waitForFunction((k) => window.starweather.positions().length === k && document.querySelector('#filter-summary')?.dataset?.shown === String(k), n, { timeout: 10_000 });
  // Names, groups and regimes load from the REST API after the page opens.
  await page.waitForFunction(() => document.querySelectorAll('#filter-regime option').length === 5 && Number(document.querySelector('#filter-regime option[value="leo"]')?.dataset?.count) > 0, undefined, { timeout: 20_000 });
  const all = await shownIds();
  assert.ok(all.size >= OBJECTS * 0.9, `${all.size} objects on the map before filtering`);
  const expected = (keep: (id: number) => boolean) => [...all].filter(keep).sort((a, b) => a - b);
  // Regime counts against the test's own classification of the loaded TLEs.
  const byRegime = Object.fromEntries((['leo', 'meo', 'geo', 'heo'] as const).map((r) => [r, expected((id) => regimeOf.get(id) === r)]));
  for (const r of ['leo', 'meo', 'geo', 'heo'] as const) assert.equal(await optionCount('#filter-regime', r), byRegime[r]!.length, `${r} count`);
  assert.ok(byRegime['geo']!.length > 0 && byRegime['leo']!.length > 0, JSON.stringify(Object.fromEntries(Object.entries(byRegime).map(([k, v]) => [k, v.length]))));
  await page.selectOption('#filter-regime', 'geo');
  await waitShown(byRegime['geo']!.length);
  assert.deepEqual([...(await shownIds())].sort((a, b) => a - b), byRegime['geo']);
  // QA state, with GEO chosen: the run gives every regime but LEO a 1-day element age limit, so every GEO object's elements are expired.
  assert.equal(await optionCount('#filter-qa', 'expired'), byRegime['geo']!.length);
  assert.equal(await optionCount('#filter-qa', 'good'), 0);
  await page.selectOption('#filter-regime', '');
  // Without a regime: expired elements = every object not in LEO.
  const notLeo = expected((id) => regimeOf.get(id) !== 'leo');
  assert.equal(await optionCount('#filter-qa', 'expired'), notLeo.length);
  await page.selectOption('#filter-qa', 'expired');
  await waitShown(notLeo.length);
  assert.deepEqual([...(await shownIds())].sort((a, b) => a - b), notLeo);
  await page.selectOption('#filter-qa', '');
  // Name pattern: the commonest first word of the loaded names, as a prefix pattern, and as a substring.
  const words = new Map<string, number>();
  for (const id of all) { const w = nameOf.get(id)!.split(/[\s(-]/)[0]!; words.set(w, (words.get(w) ?? 0) + 1); }
  const word = [...words].sort((a, b) => b[1] - a[1])[0]![0];
  const prefixed = expected((id) => nameOf.get(id)!.toUpperCase().startsWith(word.toUpperCase()));
  await page.fill('#filter-name', `${word.toLowerCase()}*`);
  await waitShown(prefixed.length);
  assert.deepEqual([...(await shownIds())].sort((a, b) => a - b), prefixed);
  // Name and regime together: the regime counts are those of the named objects.
  for (const r of ['leo', 'meo', 'geo', 'heo'] as const) assert.equal(await optionCount('#filter-regime', r), prefixed.filter((id) => regimeOf.get(id) === r).length, `${word}* in ${r}`);
  await page.fill('#filter-name', '');
  // Group: every object was loaded into `active`.
  assert.equal(await optionCount('#filter-group', 'active'), all.size);
  await page.selectOption('#filter-group', 'active');
  await waitShown(all.size);
  await page.selectOption('#filter-group', '');
  // The header gives one object count, the status no second one.
  assert.doesNotMatch((await page.locator('#status').textContent()) ?? '', /\d/);
});

test('on a phone-size screen the panel is a bottom sheet: map and panel do not overlap and the map keeps a usable height', { skip, timeout: 30_000 }, async () => {
  type Box = { x: number; y: number; width: number; height: number };
  const overlap = (a: Box, b: Box) => a.x < b.x + b.width - 0.5 && b.x < a.x + a.width - 0.5 && a.y < b.y + b.height - 0.5 && b.y < a.y + a.height - 0.5;
  const inside = (a: Box, b: Box) => a.x >= b.x - 0.5 && a.y >= b.y - 0.5 && a.x + a.width <= b.x + b.width + 0.5 && a.y + a.height <= b.y + b.height + 0.5;
  try {
    await page.evaluate(() => window.starweather.select(25544));
    await page.waitForFunction(() => document.querySelector('[data-testid=sat-name]')?.textContent === 'ISS (ZARYA)', undefined, { timeout: 10_000 });
    for (const [width, height] of [[390, 844], [360, 640]] as const) {
      await page.setViewportSize({ width, height });
      await page.waitForTimeout(200);
      const box = async (sel: string) => (await page.locator(sel).boundingBox()) ?? assert.fail(`${sel} not shown at ${width}×${height}`);
      const [map, panel, header, legend, overlay] = await Promise.all(['#map', '#view-map > aside', 'body > header', '#legend', 'label.overlay'].map(box));
      const at = `${width}×${height}: map ${JSON.stringify(map)}, panel ${JSON.stringify(panel)}`;
      assert.ok(!overlap(map!, panel!), `map and panel overlap at ${at}`);
      assert.ok(!overlap(map!, header!), `map under the header at ${at}`);
      assert.ok(map!.height >= 200 && map!.width >= width - 1, `map too small at ${at}`);
      assert.ok(panel!.height >= 150 && panel!.width >= width - 1 && panel!.y + panel!.height <= height + 0.5, `panel at ${at}`);
      assert.ok(inside(legend!, map!) && inside(overlay!, map!) && !overlap(legend!, overlay!), `legend ${JSON.stringify(legend)} and overlay label ${JSON.stringify(overlay)} inside the map, apart, at ${at}`);
      // Nothing wider than the screen, and the TLE lines are wrapped, not clipped.
      assert.ok((await page.evaluate(() => (document as unknown as { documentElement: { scrollWidth: number } }).documentElement.scrollWidth)) <= width, `page wider than ${width}`);
      const tle = await page.locator('[data-testid=tle]').evaluate((el) => {
        const s = getComputedStyle(el);
        return { scroll: el.scrollWidth, client: el.clientWidth, lines: (el.clientHeight - parseFloat(s.paddingTop) - parseFloat(s.paddingBottom)) / parseFloat(s.lineHeight) };
      });
      assert.ok(tle.scroll <= tle.client, `TLE clipped: ${JSON.stringify(tle)}`);
      // Down to 360 px the font fits each TLE line on one line (two lines in all, none wrapped).
      assert.ok(Math.round(tle.lines) === 2, `TLE as two unwrapped lines: ${JSON.stringify(tle)}`);
      // Objects are drawn on the small map.
      const onMap = (await positions()).filter((p) => p.x >= 0 && p.x <= map!.width && p.y >= 0 && p.y <= map!.height);
      assert.ok(onMap.length >= OBJECTS * 0.8, `${onMap.length} objects on the ${width}px map`);
    }
    // The sheet's handle gives the panel more room; the map keeps a usable part and still does not overlap.
    await page.setViewportSize({ width: 390, height: 844 });
    const before = (await page.locator('#view-map > aside').boundingBox())!;
    await page.click('#sheet-toggle');
    await page.waitForTimeout(200);
    const [map, panel] = [(await page.locator('#map').boundingBox())!, (await page.locator('#view-map > aside').boundingBox())!];
    assert.ok(panel.height > before.height + 100, `sheet opened: ${before.height} → ${panel.height}`);
    assert.ok(!overlap(map, panel) && map.height >= 150, `open sheet: map ${JSON.stringify(map)}, panel ${JSON.stringify(panel)}`);
    await page.click('#sheet-toggle');
    await page.screenshot({ path: SCREENSHOT_PHONE });
  } finally {
    await page.setViewportSize({ width: 1440, height: 860 });
  }
});

test('mission control lists the running node with its roles, hosts and ingest status', { skip, timeout: 30_000 }, async () => {
  const health = (await (await fetch(`${base}/health`).catch((err) => assert.fail(`${err} (${nodeState()})`))).json()) as { nodeId: string; roles: string[]; hosts: unknown[] };
  await page.click('nav a[href="#mission"]');
  const nodeEl = page.locator(`[data-testid=node][data-node-id="${health.nodeId}"]`);
  await nodeEl.waitFor({ timeout: 15_000 });
  const text = (await nodeEl.textContent()) ?? '';
  for (const role of health.roles) assert.match(text, new RegExp(role), `role ${role} listed`);
  // Every host of the node is listed (a header row plus one per host), the tracker and the gateway as running.
  await page.waitForFunction((id) => document.querySelectorAll(`[data-node-id="${id}"] tr`).length === 6, health.nodeId, { timeout: 15_000 });
  const running = await page.locator(`[data-node-id="${health.nodeId}"] tr.state-running td:nth-child(2)`).allTextContents();
  for (const role of ['tracker', 'gateway']) assert.ok(running.includes(role), `${role} running in ${JSON.stringify(running)}`);
  assert.equal(await page.locator('[data-testid=total-nodes] .value').textContent(), '1');

  const status = (await (await fetch(`${base}/ingest/status`)).json()) as { catalog: { objects: number } };
  assert.equal(status.catalog.objects, OBJECTS);
  await page.waitForFunction((n) => document.querySelector('[data-testid=catalog-objects] .value')?.textContent === String(n), OBJECTS, { timeout: 15_000 });
  assert.notEqual(await page.locator('[data-testid=catalog-age] .value').textContent(), 'never loaded');
  await page.screenshot({ path: SCREENSHOT_MISSION });
  const foreign = (globalThis as { foreignRequests?: string[] }).foreignRequests ?? [];
  assert.deepEqual(foreign, [], 'the dashboard asked for nothing outside the gateway');
  assert.deepEqual(pageErrors, [], 'no script error, CSP violation or failed load in the page');
});
