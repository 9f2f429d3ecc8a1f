/**
 * The STAC API as the gateway role serves it (app.ts registration, the
 * host's transport and storage, S2's key check and SSRF policy from config):
 * landing page with the service-desc link to the served OpenAPI document, a
 * registration with the configured key answered 202 and enqueued on the
 * host's bus, the task readable, and writes refused without the key.
 * CORS with allowed origins (STARWEATHER_CORS_ALLOWED_ORIGINS, issue 15 part 9
 * and issue 16 part 8) on the same gateway: a listed origin gets its Origin
 * echoed on REST, STAC and error answers and its preflight answered; any
 * other origin gets no Access-Control-* header and no preflight (the
 * unconfigured default is in cors.test.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGatewayHarness, type GatewayHarness } from '../helpers/gateway-harness.js';
import { testItem } from '../helpers/stac-app.js';

const KEY = 'gateway-test-key-0123456789';
const ALLOWED = 'https://maps.example.org';
const ALSO_ALLOWED = 'http://localhost:5173';
const OTHER = 'https://evil.example';

/** Every Access-Control-* header of an answer. */
function acHeaders(h: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  h.forEach((v, k) => {
    if (k.startsWith('access-control-')) out[k] = v;
  });
  return out;
}

const preflight = (url: string, origin: string, method = 'POST', headers = 'authorization,content-type'): Promise<Response> =>
  fetch(url, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers } });


describe('STAC API on the gateway role', () => {
  let h: GatewayHarness;
  before(async () => {
    // Origins configured with a trailing slash and upper case: matched as browsers send Origin.
    h = await startGatewayHarness({ count: 5, env: { STARWEATHER_API_KEY: KEY, STARWEATHER_CORS_ALLOWED_ORIGINS: `${ALLOWED.toUpperCase()}/,${ALSO_ALLOWED}` } });
  });
  after(async () => {
    await h?.close();
  });

  test('landing page links the served OpenAPI document and declares oas30', async () => {
    const land = (await (await fetch(`${h.base}/`)).json()) as { conformsTo: string[]; links: Array<{ rel: string; href: string }> };
    assert.ok(land.conformsTo.includes('http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30'));
    const desc = land.links.find((l) => l.rel === 'service-desc');
    assert.ok(desc, 'service-desc link');
    const api = await fetch(desc.href);
    assert.equal(api.status, 200);
    const doc = (await api.json()) as { openapi: string; paths: Record<string, unknown> };
    assert.match(doc.openapi, /^3\./);
    assert.ok(doc.paths['/search'] && doc.paths['/collections/{collectionId}/items'], 'STAC routes are in the OpenAPI document');
  });

  test('POST with the configured key → 202 and one message on the host bus; without the key → 401', async () => {
    const item = testItem('gw-item-1', { lon: -75, lat: 0 });
    const before = (await h.transport.queueStats('weather')).depth;
    const denied = await fetch(`${h.base}/collections/imagery/items`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(item) });
    assert.equal(denied.status, 401);
    const r = await fetch(`${h.base}/collections/imagery/items`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, body: JSON.stringify(item) });
    assert.equal(r.status, 202);
    const loc = r.headers.get('location');
    assert.equal(loc, '/tasks/stac%3Aimagery%3Agw-item-1');
    assert.equal((await h.transport.queueStats('weather')).depth - before, 1);
    const task = (await (await fetch(`${h.base}${loc}`)).json()) as { state: string; collection: string };
    assert.equal(task.state, 'queued');
    assert.equal(task.collection, 'imagery');
    const search = (await (await fetch(`${h.base}/search?ids=gw-item-1`)).json()) as { features: Array<{ id: string }> };
    assert.deepEqual(search.features.map((f) => f.id), ['gw-item-1']);
  });

  test('an allowed origin gets its origin echoed on STAC and REST reads, with Vary: Origin and the exposed headers', async () => {
    for (const path of ['/search?limit=1', '/collections', '/satellites?limit=1', '/health']) {
      for (const origin of [ALLOWED, ALSO_ALLOWED]) {
        const r = await fetch(`${h.base}${path}`, { headers: { origin } });
        await r.arrayBuffer();
        assert.equal(r.headers.get('access-control-allow-origin'), origin, `${path} ${origin}`);
        assert.match(r.headers.get('vary') ?? '', /origin/i, path);
        assert.match(r.headers.get('access-control-expose-headers') ?? '', /Location/);
        assert.equal(r.headers.get('access-control-allow-credentials'), null, 'no credentials mode');
      }
    }
  });

  test('another origin, and a request without Origin, get no Access-Control-* header', async () => {
    for (const headers of [{ origin: OTHER }, { origin: 'https://maps.example.org.evil.example' }, {} as Record<string, string>]) {
      const r = await fetch(`${h.base}/search?limit=1`, { headers });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
      assert.deepEqual(acHeaders(r.headers), {}, JSON.stringify(headers));
    }
  });

  test('a preflight from an allowed origin is answered 204 with the methods, headers and max-age', async () => {
    for (const path of ['/search', '/collections/imagery/items', '/collections/imagery/items/x']) {
      const r = await preflight(`${h.base}${path}`, ALLOWED, path.endsWith('/x') ? 'PUT' : 'POST');
      assert.equal(r.status, 204, path);
      const ac = acHeaders(r.headers);
      assert.equal(ac['access-control-allow-origin'], ALLOWED);
      for (const m of ['GET', 'POST', 'PUT', 'DELETE']) assert.ok(ac['access-control-allow-methods']?.split(/,\s*/).includes(m), `${m} in ${ac['access-control-allow-methods']}`);
      const allowedHeaders = (ac['access-control-allow-headers'] ?? '').toLowerCase().split(/,\s*/);
      assert.ok(allowedHeaders.includes('authorization') && allowedHeaders.includes('content-type'), ac['access-control-allow-headers']);
      assert.equal(ac['access-control-max-age'], '600');
    }
  });

  test('a preflight from another origin gets no Access-Control-* header (the 404 of no CORS)', async () => {
    const r = await preflight(`${h.base}/search`, OTHER);
    assert.equal(r.status, 404);
    assert.match(r.headers.get('content-type') ?? '', /application\/problem\+json/);
    await r.arrayBuffer();
    assert.deepEqual(acHeaders(r.headers), {});
  });

  test('errors carry the headers too (a page can read the problem): 401 without the key, 400 for a bad search', async () => {
    const denied = await fetch(`${h.base}/collections/imagery/items`, { method: 'POST', headers: { origin: ALLOWED, 'content-type': 'application/json' }, body: JSON.stringify(testItem('cors-1', { lon: 0, lat: 0 })) });
    assert.equal(denied.status, 401);
    assert.equal(denied.headers.get('access-control-allow-origin'), ALLOWED);
    await denied.arrayBuffer().catch(() => undefined);
    const bad = await fetch(`${h.base}/search?sortby=geometry`, { headers: { origin: ALLOWED } });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get('access-control-allow-origin'), ALLOWED);
    await bad.arrayBuffer();
  });

  test('a cross-origin write with the key works and its Location is exposed', async () => {
    const r = await fetch(`${h.base}/collections/imagery/items`, {
      method: 'POST',
      headers: { origin: ALLOWED, 'content-type': 'application/geo+json', authorization: `Bearer ${KEY}` },
      body: JSON.stringify(testItem('cors-2', { lon: 0, lat: 0 })),
    });
    assert.equal(r.status, 202, await r.text());
    assert.equal(r.headers.get('access-control-allow-origin'), ALLOWED);
    assert.ok(r.headers.get('location'));
  });
});
