/**
 * STAC API on a real fastify app: schema validation of the STAC example
 * items, search (bbox, intersects, datetime instants and intervals, ids,
 * collections, GET and POST paging), transactions (202 + task, idempotent
 * re-POST, 409, PUT, DELETE, bulk, 401, asset href refusal) and the 202 flow
 * through a TaskWorker to done. Runs on the embedded bus + PGlite and on
 * NATS + PostgreSQL (fresh namespace and schema).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { validateItem } from '../../actors/gateway/stac/validate.js';
import { createMetrics } from '../../actors/runtime/metrics.js';
import { TaskWorker } from '../../actors/runtime/worker.js';
import { recordTaskStage, countTasksByState } from '../../actors/storage/tasks.js';
import { ImagerySceneTaskMessage } from '../../protocol/messages/imagery.js';
import type { Transport } from '../../protocol/transport.js';
import { embeddedBus, natsBus, type ClusterBus } from '../helpers/cluster-fixtures.js';
import { startStacApp, testItem, TEST_API_KEY, type StacApp } from '../helpers/stac-app.js';
import { openTestPg, openTestPglite, type TestBackend } from '../helpers/storage-backends.js';
import { waitFor } from './nats-fixtures.js';

const EXAMPLES = '/work/shared/data/stac/stac-spec-v1.0.0/examples';

function example(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(`${EXAMPLES}/${name}.json`, 'utf8')) as Record<string, unknown>;
}

describe('STAC Item schema validation (shipped schemas, no network)', () => {
  for (const name of ['core-item', 'simple-item', 'extended-item']) {
    test(`accepts the STAC example ${name}`, () => {
      assert.deepEqual(validateItem(example(name)), []);
    });
  }
  test('extended-item declares stac_extensions: validated against core only (extensions are not fetched)', () => {
    const ext = example('extended-item');
    assert.ok(Array.isArray(ext.stac_extensions) && ext.stac_extensions.length > 0);
    // An extension-only field with a nonsense value still passes core: its schema was never compiled.
    const props = ext.properties as Record<string, unknown>;
    assert.deepEqual(validateItem({ ...ext, properties: { ...props, 'eo:cloud_cover': 'not a number' } }), []);
  });
  const broken: Array<[string, (d: Record<string, unknown>) => void, string]> = [
    ['a datetime that is not RFC 3339', (d) => ((d.properties as Record<string, unknown>).datetime = 'yesterday'), 'properties.datetime'],
    ['no assets', (d) => delete d.assets, 'assets'],
    ['a polygon ring of one position', (d) => (d.geometry = { type: 'Polygon', coordinates: [[[1, 2]]] }), 'geometry.coordinates.0'],
    ['a wrong stac_version', (d) => (d.stac_version = '0.9.0'), 'stac_version'],
    ['an asset without href', (d) => ((d.assets as Record<string, Record<string, unknown>>)['visual'] = { type: 'image/tiff' }), 'assets.visual.href'],
    ['a link without rel', (d) => (d.links = [{ href: 'https://x.example/' }, ...(d.links as unknown[])]), 'links.0.rel'],
  ];
  for (const [what, breakIt, field] of broken) {
    test(`rejects ${what}, naming ${field}`, () => {
      const d = example('core-item');
      breakIt(d);
      const errs = validateItem(d);
      assert.ok(errs.length > 0, 'must be rejected');
      assert.equal(errs[0]!.field, field, JSON.stringify(errs));
    });
  }
});

interface Setup {
  name: string;
  backend: () => Promise<TestBackend>;
  bus: () => Promise<ClusterBus>;
}

const SETUPS: Setup[] = [
  { name: 'embedded bus + PGlite', backend: openTestPglite, bus: embeddedBus },
  { name: 'NATS + PostgreSQL', backend: () => openTestPg(), bus: () => natsBus() },
];

const auth = { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' };

async function http(method: string, url: string, body?: unknown, headers: Record<string, string> = auth): Promise<{ status: number; json: any; headers: Headers }> {
  const r = await fetch(url, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null, headers: r.headers };
}

describe('STAC transactions: an enqueue that fails is a 503, and the retry is safe', () => {
  test('rows written, enqueue refused → 503; the retry (another gateway) enqueues once and reuses the task', async () => {
    const backend = await openTestPglite();
    const busA = await embeddedBus();
    const busB = await embeddedBus();
    const a = await startStacApp(backend.db, await busA.connect());
    try {
      // Gateway A's bus goes away between the database write and the enqueue.
      await busA.cleanup();
      const item = testItem('retry-1', { lon: 5, lat: 5 });
      const r1 = await http('POST', `${a.base}/collections/imagery/items`, item);
      assert.equal(r1.status, 503);
      assert.match(r1.headers.get('content-type') ?? '', /problem\+json/);
      const rows = await backend.db.query<{ state: string }>(`SELECT state FROM tasks WHERE id = 'stac:imagery:retry-1'`);
      assert.deepEqual(rows.rows.map((x) => x.state), ['queued'], 'the task row was committed before the enqueue');
      await a.close();
      // The client retries against a gateway whose bus works.
      const tb = await busB.connect();
      const b = await startStacApp(backend.db, tb);
      try {
        const r2 = await http('POST', `${b.base}/collections/imagery/items`, item);
        assert.equal(r2.status, 202);
        assert.equal(r2.json.taskId, 'stac:imagery:retry-1');
        assert.equal(r2.json.created, false);
        const r3 = await http('POST', `${b.base}/collections/imagery/items`, item);
        assert.equal(r3.status, 202);
        assert.equal((await tb.queueStats('weather')).depth, 1, 'one message: the second retry was de-duplicated');
      } finally {
        await b.close();
      }
    } finally {
      await a.close().catch(() => undefined);
      await busB.cleanup();
      await backend.dispose();
    }
  });
});

for (const setup of SETUPS) {
  describe(`STAC API (${setup.name})`, () => {
    let backend: TestBackend;
    let bus: ClusterBus;
    let transport: Transport;
    let s: StacApp;
    before(async () => {
      backend = await setup.backend();
      bus = await setup.bus();
      transport = await bus.connect();
      s = await startStacApp(backend.db, transport);
    });
    after(async () => {
      await s?.close();
      await bus?.cleanup();
      await backend?.dispose();
    });

    test('landing page, conformance and collections follow the spec', async () => {
      const land = await http('GET', `${s.base}/`, undefined, {});
      assert.equal(land.status, 200);
      assert.equal(land.json.stac_version, '1.0.0');
      assert.equal(land.json.type, 'Catalog');
      assert.ok(land.json.conformsTo.includes('https://api.stacspec.org/v1.0.0/core'));
      assert.ok(land.json.conformsTo.includes('https://api.stacspec.org/v1.0.0/item-search'));
      const rels = land.json.links.map((l: { rel: string }) => l.rel);
      for (const rel of ['self', 'root', 'conformance', 'data', 'search', 'child']) assert.ok(rels.includes(rel), `landing page link ${rel}`);
      const searches = land.json.links.filter((l: { rel: string }) => l.rel === 'search').map((l: { method: string }) => l.method).sort();
      assert.deepEqual(searches, ['GET', 'POST']);
      const conf = await http('GET', `${s.base}/conformance`, undefined, {});
      assert.deepEqual(conf.json.conformsTo, land.json.conformsTo);
      const cols = await http('GET', `${s.base}/collections`, undefined, {});
      assert.ok(cols.json.collections.some((c: { id: string }) => c.id === 'imagery'));
      const one = await http('GET', `${s.base}/collections/imagery`, undefined, {});
      assert.equal(one.json.id, 'imagery');
      assert.ok(one.json.links.some((l: { rel: string; href: string }) => l.rel === 'items' && l.href.endsWith('/collections/imagery/items')));
      assert.equal((await http('GET', `${s.base}/collections/nope`, undefined, {})).status, 404);
    });

    test('writes need the API key; a bad item is a 400 naming the field; an off-policy asset href is a 400', async () => {
      const item = testItem('auth-check', { lon: 0, lat: 0 });
      const noKey = await http('POST', `${s.base}/collections/imagery/items`, item, { 'content-type': 'application/json' });
      assert.equal(noKey.status, 401);
      const bad = await http('POST', `${s.base}/collections/imagery/items`, { ...item, properties: { datetime: 'soon' } });
      assert.equal(bad.status, 400);
      assert.match(bad.headers.get('content-type') ?? '', /problem\+json/);
      assert.match(bad.json.detail, /properties\.datetime/);
      assert.equal(bad.json.errors[0].name, 'properties.datetime');
      assert.equal(bad.json.errors[0].in, 'body');
      const ssrf = await http('POST', `${s.base}/collections/imagery/items`, { ...item, assets: { data: { href: 'http://169.254.169.254/latest/meta-data' } } });
      assert.equal(ssrf.status, 400);
      assert.match(ssrf.json.detail, /assets\.data\.href/);
      const wrongColl = await http('POST', `${s.base}/collections/goes-east/items`, item);
      assert.equal(wrongColl.status, 400);
      assert.match(wrongColl.json.detail, /collection/);
      assert.equal((await http('GET', `${s.base}/collections/imagery/items/auth-check`, undefined, {})).status, 404, 'nothing was stored');
    });

    test('search returns exactly the right items (bbox, intersects, datetime, ids, collections, paging)', async () => {
      // A grid of 30 items in collection goes-east: lon -100..-55 step 5 (10 columns), 3 hours apart per row.
      const features: Record<string, unknown>[] = [];
      for (let i = 0; i < 30; i++) {
        const lon = -100 + (i % 10) * 5;
        const lat = -10 + Math.floor(i / 10) * 10;
        const dt = new Date(Date.UTC(2026, 2, 1, i, 0, 0)).toISOString().replace('.000Z', 'Z');
        features.push(testItem(`s-${String(i).padStart(2, '0')}`, { lon, lat, datetime: dt, collection: 'goes-east' }));
      }
      // An item with an interval (start/end) rather than an instant.
      features.push(testItem('s-interval', { lon: 120, lat: 0, start: '2026-03-05T00:00:00Z', end: '2026-03-06T00:00:00Z', collection: 'goes-east' }));
      const bulk = await http('POST', `${s.base}/collections/goes-east/items`, { type: 'FeatureCollection', features });
      assert.equal(bulk.status, 202, JSON.stringify(bulk.json));
      assert.equal(bulk.json.tasks.length, 31);

      const ids = (r: { json: { features: Array<{ id: string }> } }): string[] => r.json.features.map((f) => f.id).sort();
      const expect = (pred: (i: number) => boolean): string[] => [...Array(30).keys()].filter(pred).map((i) => `s-${String(i).padStart(2, '0')}`).sort();
      const get = (q: string) => http('GET', `${s.base}/search?${q}&limit=1000`, undefined, {});

      // bbox: columns lon -100 and -95 (±1°), rows lat -10 and 0.
      let r = await get('collections=goes-east&bbox=-101,-11,-94.5,1');
      assert.deepEqual(ids(r), expect((i) => i % 10 <= 1 && Math.floor(i / 10) <= 1));
      // intersects (POST): a triangle touching only the item at lon -70, lat 10 (i = 26).
      r = await http('POST', `${s.base}/search`, { collections: ['goes-east'], intersects: { type: 'Polygon', coordinates: [[[-70.5, 10.5], [-69.8, 10.5], [-70.5, 9.8], [-70.5, 10.5]]] }, limit: 100 });
      assert.deepEqual(ids(r), ['s-26']);
      // intersects with a point
      r = await http('POST', `${s.base}/search`, { intersects: { type: 'Point', coordinates: [-85, 0] } });
      assert.deepEqual(ids(r), ['s-13']);
      // datetime instant
      r = await get('collections=goes-east&datetime=2026-03-01T05:00:00Z');
      assert.deepEqual(ids(r), ['s-05']);
      // closed interval (both ends inclusive)
      r = await get('collections=goes-east&datetime=2026-03-01T03:00:00Z/2026-03-01T06:00:00Z');
      assert.deepEqual(ids(r), expect((i) => i >= 3 && i <= 6));
      // open start, open end
      r = await get('collections=goes-east&datetime=../2026-03-01T02:00:00Z');
      assert.deepEqual(ids(r), expect((i) => i <= 2));
      r = await get('collections=goes-east&datetime=2026-03-01T27:00:00Z/..');
      assert.equal(r.status, 400, 'hour 27 is not a date-time');
      r = await get('collections=goes-east&datetime=2026-03-02T03:00:00Z/..');
      assert.deepEqual(ids(r), [...expect((i) => i >= 27), 's-interval'].sort());
      // an interval item matches an instant inside it
      r = await get('collections=goes-east&datetime=2026-03-05T12:00:00Z');
      assert.deepEqual(ids(r), ['s-interval']);
      // ids
      r = await get('ids=s-01,s-17,missing');
      assert.deepEqual(ids(r), ['s-01', 's-17']);
      // collections: none of these are in imagery
      r = await get('collections=imagery&ids=s-01');
      assert.deepEqual(ids(r), []);
      // per-collection items with bbox and datetime
      r = await http('GET', `${s.base}/collections/goes-east/items?bbox=-101,-11,-94.5,1&datetime=2026-03-01T00:00:00Z/2026-03-01T00:30:00Z`, undefined, {});
      assert.deepEqual(ids(r), ['s-00']);
      // validation: bad bbox, both bbox and intersects, open both sides, unknown parameter
      for (const q of ['bbox=1,2,3', 'bbox=0,10,1,5', 'datetime=../..', 'limit=0', 'token=garbage!']) {
        const bad = await get(q);
        assert.equal(bad.status, 400, q);
        assert.match(bad.headers.get('content-type') ?? '', /problem\+json/);
      }
      const both = await http('POST', `${s.base}/search`, { bbox: [0, 0, 1, 1], intersects: { type: 'Point', coordinates: [0, 0] } });
      assert.equal(both.status, 400);
      assert.match(both.json.detail, /bbox and intersects/);
      const unknown = await http('POST', `${s.base}/search`, { sortby: 'x' });
      assert.match(unknown.json.detail, /sortby/);

      // GET paging through next links: every item exactly once, in order.
      const seen: string[] = [];
      let url: string | null = `${s.base}/search?collections=goes-east&limit=7`;
      let pages = 0;
      while (url) {
        const p = await http('GET', url, undefined, {});
        assert.equal(p.status, 200);
        assert.ok(p.json.features.length <= 7);
        seen.push(...p.json.features.map((f: { id: string }) => f.id));
        url = p.json.links.find((l: { rel: string }) => l.rel === 'next')?.href ?? null;
        assert.ok(++pages < 20, 'paging must end');
      }
      assert.equal(seen.length, 31);
      assert.equal(new Set(seen).size, 31, 'no duplicates across pages');
      // POST paging: the next link carries method POST and the body with the token.
      const postSeen: string[] = [];
      let body: Record<string, unknown> | null = { collections: ['goes-east'], limit: 4, datetime: '2026-03-01T00:00:00Z/2026-03-01T12:00:00Z' };
      while (body) {
        const p = await http('POST', `${s.base}/search`, body);
        postSeen.push(...p.json.features.map((f: { id: string }) => f.id));
        const next = p.json.links.find((l: { rel: string }) => l.rel === 'next');
        if (next) assert.equal(next.method, 'POST');
        body = next ? next.body : null;
      }
      assert.deepEqual([...postSeen].sort(), expect((i) => i <= 12));
      assert.equal(new Set(postSeen).size, postSeen.length);
      // An item read back has the navigation links.
      const one = await http('GET', `${s.base}/collections/goes-east/items/s-03`, undefined, {});
      assert.equal(one.status, 200);
      assert.equal(one.json.collection, 'goes-east');
      for (const rel of ['self', 'parent', 'collection', 'root']) assert.ok(one.json.links.some((l: { rel: string }) => l.rel === rel), rel);
    });

    test('202 flow: POST, a worker advances the task L1 → L2 → L3 → done, GET /tasks/{id} says done', async () => {
      const seenStages: string[] = [];
      const worker = new TaskWorker({ transport, logger: pino({ level: 'silent' }), metrics: createMetrics(), concurrency: 2, prefetch: 4, retryDelayMs: 100, ackWaitMs: 5000 });
      worker.register('imagery.scene', {
        payload: ImagerySceneTaskMessage,
        async handle(p, ctx) {
          for (const stage of ['l1', 'l2', 'l3', 'done'] as const) {
            const v = await recordTaskStage(s.storage.db, s.storage.cache, ctx.task.id, stage);
            seenStages.push(`${p.itemId}:${v?.state}`);
          }
        },
      });
      const item = testItem('flow-1', { lon: 10, lat: 10 });
      const r = await http('POST', `${s.base}/collections/imagery/items`, item);
      assert.equal(r.status, 202, JSON.stringify(r.json));
      assert.equal(r.json.taskId, 'stac:imagery:flow-1');
      assert.equal(r.json.status, 'queued');
      assert.equal(r.headers.get('location'), '/tasks/stac%3Aimagery%3Aflow-1');
      const before = await http('GET', `${s.base}${r.headers.get('location')}`, undefined, {});
      assert.equal(before.json.state, 'queued');
      // The bulk items of the search test are on the weather queue too; this worker takes them all.
      await worker.start();
      try {
        const done = await waitFor('task done', 15_000, async () => {
          const t = await http('GET', `${s.base}/tasks/stac:imagery:flow-1`, undefined, {});
          return t.json.state === 'done' ? t.json : null;
        });
        assert.equal(done.collection, 'imagery');
        assert.equal(done.item, 'flow-1');
        assert.equal(done.priority, 'weather');
        for (const k of ['queued', 'L1', 'L2', 'L3', 'done']) assert.equal(typeof done.timestamps[k], 'string', `timestamp ${k}`);
        assert.equal(done.timestamps.failed, null);
        assert.ok(seenStages.includes('flow-1:done'));
      } finally {
        await worker.drain(5000);
      }
      assert.equal((await http('GET', `${s.base}/tasks/stac:imagery:nope`, undefined, {})).status, 404);
    });

    test('idempotent re-POST (one task in the queue and in the DB), 409 on conflict, high priority, PUT and DELETE', async () => {
      const item = testItem('idem-1', { lon: 20, lat: 20, props: { 'starweather:priority': 'high' } });
      const before = await transport.queueStats('high');
      const a = await http('POST', `${s.base}/collections/imagery/items`, item);
      const b = await http('POST', `${s.base}/collections/imagery/items`, { ...item });
      assert.equal(a.status, 202);
      assert.equal(b.status, 202);
      assert.equal(a.json.taskId, b.json.taskId);
      assert.equal(a.json.queue, 'high');
      assert.equal(a.json.created, true);
      assert.equal(b.json.created, false);
      const afterStats = await transport.queueStats('high');
      assert.equal(afterStats.depth - before.depth, 1, 'one message on the high queue');
      const rows = await s.storage.db.query<{ n: string }>(`SELECT count(*) AS n FROM tasks WHERE id = 'stac:imagery:idem-1'`);
      assert.equal(Number(rows.rows[0]!.n), 1);
      // Same id, different content.
      const c = await http('POST', `${s.base}/collections/imagery/items`, { ...item, properties: { datetime: '2026-02-02T00:00:00Z' } });
      assert.equal(c.status, 409);
      assert.match(c.headers.get('content-type') ?? '', /problem\+json/);
      // PUT replaces it (task still queued: 202 with the same task).
      const put = await http('PUT', `${s.base}/collections/imagery/items/idem-1`, { ...item, properties: { datetime: '2026-02-02T00:00:00Z' } });
      assert.equal(put.status, 202);
      assert.equal(put.json.taskId, 'stac:imagery:idem-1');
      const got = await http('GET', `${s.base}/collections/imagery/items/idem-1`, undefined, {});
      assert.equal(got.json.properties.datetime, '2026-02-02T00:00:00Z');
      assert.equal((await http('PUT', `${s.base}/collections/imagery/items/other`, { ...item, id: 'other' })).status, 404);
      assert.equal((await http('PUT', `${s.base}/collections/imagery/items/idem-1`, { ...item, id: 'other' })).status, 400);
      // DELETE
      assert.equal((await http('DELETE', `${s.base}/collections/imagery/items/idem-1`, undefined, { authorization: auth.authorization })).status, 204);
      assert.equal((await http('GET', `${s.base}/collections/imagery/items/idem-1`, undefined, {})).status, 404);
      assert.equal((await http('DELETE', `${s.base}/collections/imagery/items/idem-1`, undefined, { authorization: auth.authorization })).status, 404);
      assert.equal((await http('DELETE', `${s.base}/collections/imagery/items/idem-1`, undefined, {})).status, 401);
      // A bulk ItemCollection with one conflicting item is refused whole: 409, nothing stored, no task.
      await http('POST', `${s.base}/collections/imagery/items`, testItem('bulk-keep', { lon: 30, lat: 30 }));
      const bulk = await http('POST', `${s.base}/collections/imagery/items`, {
        type: 'FeatureCollection',
        features: [testItem('bulk-new-1', { lon: 31, lat: 31 }), testItem('bulk-keep', { lon: 32, lat: 32 }), testItem('bulk-new-2', { lon: 33, lat: 33 })],
      });
      assert.equal(bulk.status, 409);
      assert.match(bulk.json.detail, /bulk-keep/);
      assert.equal((await http('GET', `${s.base}/collections/imagery/items/bulk-new-1`, undefined, {})).status, 404);
      assert.equal((await http('GET', `${s.base}/tasks/stac:imagery:bulk-new-2`, undefined, {})).status, 404);
      const badBulk = await http('POST', `${s.base}/collections/imagery/items`, { type: 'FeatureCollection', features: [testItem('bulk-x', { lon: 1, lat: 1 }), { type: 'Feature' }] });
      assert.equal(badBulk.status, 400);
      assert.match(badBulk.json.detail, /features\.1\./);
      const counts = await countTasksByState(s.storage.db);
      assert.ok(counts.queued >= 1);
    });
  });
}
