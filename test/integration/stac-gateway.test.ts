/**
 * The STAC API as the gateway role serves it (app.ts registration, the
 * host's transport and storage, S2's key check and SSRF policy from config):
 * landing page with the service-desc link to the served OpenAPI document, a
 * registration with the configured key answered 202 and enqueued on the
 * host's bus, the task readable, and writes refused without the key.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGatewayHarness, type GatewayHarness } from '../helpers/gateway-harness.js';
import { testItem } from '../helpers/stac-app.js';

const KEY = 'gateway-test-key-0123456789';

describe('STAC API on the gateway role', () => {
  let h: GatewayHarness;
  before(async () => {
    h = await startGatewayHarness({ count: 5, env: { STARWEATHER_API_KEY: KEY } });
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
});
