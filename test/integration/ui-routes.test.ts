/**
 * The dashboard's HTTP side on a real gateway (the gateway role's host on
 * the embedded bus, PGlite): the built files under /ui/ with their caching
 * headers (hashed assets immutable, index.html revalidated, ETag → 304),
 * the browser redirect from the STAC landing page `/` (JSON clients keep
 * the landing page), and GET /ingest/status from the ingest's own tables.
 * Needs the build (`npm run build` runs build:ui).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { recordIngestRun } from '../../actors/storage/ingest-runs.js';
import { recordIngested } from '../../actors/ingest/imagery-registry.js';
import { upsertCollection, upsertItem } from '../../actors/storage/stac.js';
import { CONTENT_SECURITY_POLICY, DEFAULT_UI_DIR, IMMUTABLE, prefersHtml, REVALIDATE } from '../../actors/gateway/ui-routes.js';
import { OPENAPI_PATH } from '../../actors/gateway/openapi.js';
import { startGatewayHarness, type GatewayHarness } from '../helpers/gateway-harness.js';

const CHROME_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';
let h: GatewayHarness;

before(async () => {
  assert.ok(existsSync(join(DEFAULT_UI_DIR, 'index.html')), `the dashboard is not built in ${DEFAULT_UI_DIR}: run npm run build`);
  h = await startGatewayHarness({ count: 20 });
});
after(async () => {
  await h?.close();
});

test('Accept negotiation: browsers prefer HTML, curl, STAC clients and JSON-first lists do not', () => {
  assert.equal(prefersHtml(CHROME_ACCEPT), true);
  assert.equal(prefersHtml('text/html'), true);
  assert.equal(prefersHtml(undefined), false);
  assert.equal(prefersHtml('*/*'), false);
  assert.equal(prefersHtml('application/json'), false);
  assert.equal(prefersHtml('application/json, text/html;q=0.5'), false);
  assert.equal(prefersHtml('text/html;q=0.5, application/geo+json'), false);
  assert.equal(prefersHtml('text/html;q=0'), false);
});

test('/ redirects a browser to /ui/ and still answers the STAC landing page to JSON clients', async () => {
  const browser = await fetch(`${h.base}/`, { headers: { accept: CHROME_ACCEPT }, redirect: 'manual' });
  assert.equal(browser.status, 302);
  assert.equal(browser.headers.get('location'), '/ui/');
  assert.match(browser.headers.get('vary') ?? '', /accept/i);
  for (const accept of ['application/json', '*/*', '']) {
    const r = await fetch(`${h.base}/`, { headers: accept ? { accept } : {}, redirect: 'manual' });
    assert.equal(r.status, 200, `accept ${accept || '(none)'}`);
    const body = (await r.json()) as { type: string; links: unknown[] };
    assert.equal(body.type, 'Catalog');
    assert.match(r.headers.get('vary') ?? '', /accept/i);
  }
  // Only `/`: other STAC routes answer JSON whatever Accept says.
  const conf = await fetch(`${h.base}/conformance`, { headers: { accept: CHROME_ACCEPT }, redirect: 'manual' });
  assert.equal(conf.status, 200);
  const slash = await fetch(`${h.base}/ui`, { redirect: 'manual' });
  assert.equal(slash.status, 301);
  assert.equal(slash.headers.get('location'), '/ui/');
});

test('/ui/: index.html revalidated, hashed assets immutable, ETag answers 304, unknown files 404', async () => {
  const index = await fetch(`${h.base}/ui/`);
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-type') ?? '', /^text\/html/);
  assert.equal(index.headers.get('cache-control'), REVALIDATE);
  assert.equal(index.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
  const etag = index.headers.get('etag');
  assert.match(etag ?? '', /^"[A-Za-z0-9_-]+"$/);
  const html = await index.text();
  const js = /src="(main-[A-Z0-9]{8}\.js)"/.exec(html)?.[1];
  const css = /href="(main-[A-Z0-9]{8}\.css)"/.exec(html)?.[1];
  assert.ok(js && css, `index.html names hashed assets: ${html}`);
  // No CDN: every script and stylesheet is local.
  assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//);

  const again = await fetch(`${h.base}/ui/`, { headers: { 'if-none-match': etag! } });
  assert.equal(again.status, 304);
  assert.equal(await again.text(), '');

  const asset = await fetch(`${h.base}/ui/${js}`);
  assert.equal(asset.status, 200);
  assert.match(asset.headers.get('content-type') ?? '', /^text\/javascript/);
  assert.equal(asset.headers.get('cache-control'), IMMUTABLE);
  const body = await asset.text();
  assert.ok(body.length > 10_000, 'the bundle carries its libraries and the basemap');
  assert.doesNotMatch(body, /https?:\/\/(cdn|unpkg|cdnjs|fonts\.googleapis)/);
  const style = await fetch(`${h.base}/ui/${css}`);
  assert.equal(style.status, 200);
  assert.match(style.headers.get('content-type') ?? '', /^text\/css/);
  assert.equal(style.headers.get('cache-control'), IMMUTABLE);

  const missing = await fetch(`${h.base}/ui/nope-${Date.now()}.js`);
  assert.equal(missing.status, 404);
  assert.match(missing.headers.get('content-type') ?? '', /problem\+json/);
  const traversal = await fetch(`${h.base}/ui/..%2f..%2fpackage.json`);
  assert.equal(traversal.status, 404);
});

test('GET /ingest/status: catalog age and last scene per source, from ingest_runs and imagery_ingested', async () => {
  const empty = (await (await fetch(`${h.base}/ingest/status`)).json()) as any;
  assert.equal(empty.catalog.objects, 22, 'the harness seeds 20 snapshot objects and 2 OMM-only ones');
  assert.equal(empty.catalog.lastLoaded, null);
  assert.equal(empty.catalog.ageS, null);
  assert.deepEqual(empty.imagery, []);

  const db = h.storage.db;
  const loadedAt = new Date(Date.now() - 3_600_000);
  await recordIngestRun(db, {
    kind: 'catalog', group: 'active', source: 'snapshot:celestrak-active-2026-05-07.tle', format: '3le', outcome: 'ok',
    records: 20, accepted: 20, snapshotDate: '2026-05-07', startedAt: new Date(loadedAt.getTime() - 2000), finishedAt: loadedAt,
  });
  // A later failed run is the last run, but the catalog's age is still from the last load.
  await recordIngestRun(db, {
    kind: 'catalog', group: 'active', source: 'https://celestrak.org/NORAD/elements/gp.php?GROUP=active&FORMAT=json', outcome: 'failed',
    message: 'connect ECONNREFUSED', startedAt: new Date(Date.now() - 60_000), finishedAt: new Date(Date.now() - 59_000),
  });
  await upsertCollection(db, { type: 'Collection', stac_version: '1.0.0', id: 'imagery', description: 'test', license: 'proprietary', extent: { spatial: { bbox: [[-180, -90, 180, 90]] }, temporal: { interval: [[null, null]] } }, links: [] });
  const sceneTime = '2026-05-07T12:00:20.000Z';
  await upsertItem(db, {
    type: 'Feature', stac_version: '1.0.0', id: 'goes19-abi-c13-20261271200', collection: 'imagery',
    geometry: { type: 'Polygon', coordinates: [[[-150, -60], [-10, -60], [-10, 60], [-150, 60], [-150, -60]]] }, bbox: [-150, -60, -10, 60],
    properties: { datetime: sceneTime }, assets: { data: { href: 'https://noaa-goes19.s3.amazonaws.com/x.nc' } }, links: [],
  });
  await recordIngested(db, { itemId: 'goes19-abi-c13-20261271150', source: 'goes-east', outcome: 'registered', reason: '', httpStatus: 201, taskId: 't1', objects: [] });
  await new Promise((r) => setTimeout(r, 20));
  await recordIngested(db, { itemId: 'goes19-abi-c13-20261271200', source: 'goes-east', outcome: 'registered', reason: '', httpStatus: 201, taskId: 't2', objects: [] });
  await recordIngested(db, { itemId: 'himawari9-b13-202605071200', source: 'himawari', outcome: 'rejected', reason: 'unreadable header', httpStatus: 400, taskId: null, objects: [] });

  const r = await fetch(`${h.base}/ingest/status`);
  assert.equal(r.status, 200);
  // Documented in the OpenAPI document; the dashboard's static files are not API operations.
  const doc = (await (await fetch(`${h.base}${OPENAPI_PATH}`)).json()) as { paths: Record<string, unknown> };
  assert.ok(doc.paths['/ingest/status'], 'GET /ingest/status in the OpenAPI document');
  assert.deepEqual(Object.keys(doc.paths).filter((p) => p.startsWith('/ui')), []);
  assert.equal(r.headers.get('cache-control'), 'no-store');
  const s = (await r.json()) as any;
  assert.equal(s.catalog.lastRun.outcome, 'failed');
  assert.equal(s.catalog.lastLoaded.outcome, 'ok');
  assert.equal(s.catalog.lastLoaded.snapshotDate, '2026-05-07');
  assert.ok(s.catalog.ageS >= 3599 && s.catalog.ageS < 3700, `age ${s.catalog.ageS}`);
  const bySource = new Map<string, any>(s.imagery.map((x: any) => [x.source, x]));
  assert.deepEqual([...bySource.keys()].sort(), ['goes-east', 'himawari']);
  const goes = bySource.get('goes-east');
  assert.equal(goes.registered, 2);
  assert.equal(goes.rejected, 0);
  assert.equal(goes.lastScene.itemId, 'goes19-abi-c13-20261271200');
  assert.equal(goes.lastScene.sceneTime, sceneTime);
  assert.equal(goes.lastScene.href, '/collections/imagery/items/goes19-abi-c13-20261271200');
  const hima = bySource.get('himawari');
  assert.equal(hima.rejected, 1);
  assert.equal(hima.lastScene.outcome, 'rejected');
  assert.equal(hima.lastScene.reason, 'unreadable header');
  assert.equal(hima.lastScene.sceneTime, null);
  assert.equal(hima.lastScene.href, null);
});
