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
 * It saves the README screenshots: actors/gateway/ui/screenshot.png (map)
 * and actors/gateway/ui/screenshot-mission.png (mission control) when run
 * with STARWEATHER_UPDATE_SCREENSHOTS=1, else into a temp folder.
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
import { raiseAlert } from '../../actors/storage/alerts.js';
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
  for (const r of records) (r.eccentricity <= 0.25 && r.meanMotionRevPerDay > 11.25 ? leoIds : otherIds).add(r.noradId);
  const file = join(env.STARWEATHER_DATA_DIR!, 'small-catalog.3le');
  writeFileSync(file, records.map((r) => `${r.name}\n${r.line1}\n${r.line2}\n`).join(''));
  const load = harness.run(['catalog', 'load', file, '--format', '3le', '--group', 'active'], env);
  const loaded = await load.exited;
  assert.equal(loaded.code, 0, `catalog load failed: ${load.stdout()}\n${load.stderr()}`);
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
  starweather: { objects(): number; positions(): Pos[]; trackPoints(): number; project(lon: number, lat: number): [number, number]; dropConnection(): void; stats(): { frames: number } };
};
declare const document: {
  querySelector(selector: string): { textContent: string | null; width: number; height: number; getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } } | null;
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
  // The alerts panel: both stored alerts, newest first; the badge counts the open warning (not the info).
  const alerts = await page.locator('#alerts li.alert').allTextContents();
  assert.equal(alerts.length, 2, JSON.stringify(alerts));
  assert.match(alerts[0]!, /tracker\.qa.*ISS \(ZARYA\)/);
  assert.match(alerts[1]!, /warning.*storm\.warning.*Deep convection/);
  assert.equal(await page.locator('#alert-count').textContent(), '1');
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
