/**
 * STAC interoperability (issue 16 part 8), on a real fastify app with the
 * STAC plugin over PGlite and over PostgreSQL (the embedded bus):
 *  - an item's navigation links are the server's: an item with `collection`
 *    and no collection link, or with no links at all, is accepted (POST and
 *    PUT), stored without navigation links and served with the server's;
 *    everything else is still validated;
 *  - application/geo+json bodies are taken wherever application/json is;
 *  - the sort extension on GET and POST /search and on the items route:
 *    sorted multi-page searches checked against an order computed here from
 *    the items this test inserted, 400 for what cannot be sorted;
 *  - numberMatched, and its bound (countItemsUpTo).
 * CORS is in test/integration/cors.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { countItemsUpTo, getItem } from '../../actors/storage/stac.js';
import type { Transport } from '../../protocol/transport.js';
import { embeddedBus, type ClusterBus } from '../helpers/cluster-fixtures.js';
import { startStacApp, testItem, TEST_API_KEY, type StacApp } from '../helpers/stac-app.js';
import { openTestPg, openTestPglite, type TestBackend } from '../helpers/storage-backends.js';

const JSON_AUTH = { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' };
const GEO_AUTH = { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/geo+json' };

async function http(method: string, url: string, body?: unknown, headers: Record<string, string> = JSON_AUTH): Promise<{ status: number; json: any; headers: Headers }> {
  const r = await fetch(url, { method, headers, ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}) });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null, headers: r.headers };
}

interface Link {
  rel: string;
  href: string;
  method?: string;
  body?: Record<string, unknown>;
}

const BACKENDS: Array<[string, () => Promise<TestBackend>]> = [
  ['PGlite', openTestPglite],
  ['PostgreSQL', () => openTestPg()],
];

for (const [backendName, openBackend] of BACKENDS) describe(`STAC interoperability (${backendName})`, () => {
  let backend: TestBackend;
  let bus: ClusterBus;
  let transport: Transport;
  let s: StacApp;
  before(async () => {
    backend = await openBackend();
    bus = await embeddedBus();
    transport = await bus.connect();
    s = await startStacApp(backend.db, transport);
  });
  after(async () => {
    await s?.close();
    await bus?.cleanup();
    await backend?.dispose();
  });

  describe('links are the server\'s', () => {
    test('an item with collection and no collection link is accepted, stored with its own links only, served with the server\'s', async () => {
      const item = testItem('nolink-1', { lon: 10, lat: 10 });
      // A link of the client's own (kept) and a stale self link on another host (the server's to write).
      item.links = [
        { rel: 'license', href: 'https://example.org/license.html', type: 'text/html' },
        { rel: 'self', href: 'https://old-server.example/collections/imagery/items/nolink-1' },
      ];
      const r = await http('POST', `${s.base}/collections/imagery/items`, item);
      assert.equal(r.status, 202, JSON.stringify(r.json));
      const stored = await getItem(backend.db, 'imagery', 'nolink-1');
      assert.deepEqual(stored?.links, [{ rel: 'license', href: 'https://example.org/license.html', type: 'text/html' }], 'navigation links are not stored');
      assert.equal(stored?.collection, 'imagery');
      const served = await http('GET', `${s.base}/collections/imagery/items/nolink-1`, undefined, {});
      assert.equal(served.status, 200);
      const links = served.json.links as Link[];
      const rel = (r: string): string[] => links.filter((l) => l.rel === r).map((l) => l.href);
      assert.deepEqual(rel('self'), [`${s.base}/collections/imagery/items/nolink-1`]);
      assert.deepEqual(rel('collection'), [`${s.base}/collections/imagery`]);
      assert.deepEqual(rel('parent'), [`${s.base}/collections/imagery`]);
      assert.deepEqual(rel('root'), [`${s.base}/`]);
      assert.deepEqual(rel('license'), ['https://example.org/license.html']);
      // The identical body again is the same registration (idempotent), not a conflict.
      const again = await http('POST', `${s.base}/collections/imagery/items`, item);
      assert.equal(again.status, 202);
      assert.equal(again.json.created, false);
    });

    test('an item with no links member, and one without collection but with a collection link, are accepted', async () => {
      const bare = testItem('nolink-2', { lon: 11, lat: 10 });
      delete bare.links;
      const r1 = await http('POST', `${s.base}/collections/imagery/items`, bare);
      assert.equal(r1.status, 202, JSON.stringify(r1.json));
      assert.deepEqual((await getItem(backend.db, 'imagery', 'nolink-2'))?.links, []);
      const noField = testItem('nolink-3', { lon: 12, lat: 10 });
      delete noField.collection;
      const r2 = await http('POST', `${s.base}/collections/imagery/items`, noField);
      assert.equal(r2.status, 202, JSON.stringify(r2.json));
      const stored = await getItem(backend.db, 'imagery', 'nolink-3');
      assert.equal(stored?.collection, 'imagery', 'the path\'s collection is written');
      assert.deepEqual(stored?.links, []);
      // In an ItemCollection too.
      const bulk = [testItem('nolink-4', { lon: 13, lat: 10 }), testItem('nolink-5', { lon: 14, lat: 10 })].map((i) => ({ ...i, links: [] }));
      const r3 = await http('POST', `${s.base}/collections/imagery/items`, { type: 'FeatureCollection', features: bulk });
      assert.equal(r3.status, 202, JSON.stringify(r3.json));
    });

    test('PUT of an item without a collection link is accepted and answered with the server\'s links', async () => {
      const item = testItem('nolink-1', { lon: 10, lat: 10, props: { platform: 'goes-19' } });
      item.links = [];
      const r = await http('PUT', `${s.base}/collections/imagery/items/nolink-1`, item);
      assert.ok(r.status === 200 || r.status === 202, `${r.status} ${JSON.stringify(r.json)}`);
      const stored = await getItem(backend.db, 'imagery', 'nolink-1');
      assert.equal((stored?.properties as Record<string, unknown>).platform, 'goes-19');
      assert.deepEqual(stored?.links, []);
      if (r.status === 200) assert.ok((r.json.links as Link[]).some((l) => l.rel === 'collection' && l.href === `${s.base}/collections/imagery`));
    });

    const stillRefused: Array<[string, (d: Record<string, unknown>) => void, string]> = [
      ['an own link without href', (d) => (d.links = [{ rel: 'license' }]), 'links.0.href'],
      ['a collection that is not a string', (d) => (d.collection = 5), 'collection'],
      ['links that are not an array', (d) => (d.links = 'none'), 'links'],
      ['a datetime that is not RFC 3339', (d) => ((d.properties as Record<string, unknown>).datetime = 'soon'), 'properties.datetime'],
    ];
    for (const [what, breakIt, field] of stillRefused) {
      test(`still refused: ${what} (400 naming ${field})`, async () => {
        const d = testItem('refused-1', { lon: 20, lat: 20 });
        breakIt(d);
        const r = await http('POST', `${s.base}/collections/imagery/items`, d);
        assert.equal(r.status, 400);
        assert.match(r.headers.get('content-type') ?? '', /application\/problem\+json/);
        assert.ok(String(r.json.detail).includes(field), `${field} in ${r.json.detail}`);
      });
    }

    test('an item naming another collection than its path is still refused', async () => {
      const d = { ...testItem('refused-2', { lon: 20, lat: 20, collection: 'goes-east' }), links: [] };
      const r = await http('POST', `${s.base}/collections/imagery/items`, d);
      assert.equal(r.status, 400);
      assert.match(r.json.detail, /collection/);
    });
  });

  describe('application/geo+json', () => {
    test('an item POSTed and a search POSTed as application/geo+json are taken', async () => {
      const r = await http('POST', `${s.base}/collections/imagery/items`, testItem('geojson-1', { lon: 30, lat: 0 }), GEO_AUTH);
      assert.equal(r.status, 202, JSON.stringify(r.json));
      const withCharset = await http('POST', `${s.base}/search`, { ids: ['geojson-1'] }, { 'content-type': 'application/geo+json; charset=utf-8' });
      assert.equal(withCharset.status, 200, JSON.stringify(withCharset.json));
      assert.deepEqual(withCharset.json.features.map((f: { id: string }) => f.id), ['geojson-1']);
    });

    test('the same parser: malformed geo+json and __proto__ keys are 400 problems; other types stay 415', async () => {
      const bad = await http('POST', `${s.base}/search`, '{"ids": [', { 'content-type': 'application/geo+json' });
      assert.equal(bad.status, 400);
      assert.match(bad.headers.get('content-type') ?? '', /problem\+json/);
      const proto = await http('POST', `${s.base}/search`, '{"__proto__": {"x": 1}}', { 'content-type': 'application/geo+json' });
      assert.equal(proto.status, 400);
      assert.equal(proto.json.code, 'SW_ERR_FORBIDDEN_KEY');
      const text = await http('POST', `${s.base}/search`, '<search/>', { 'content-type': 'application/xml' });
      assert.equal(text.status, 415, JSON.stringify(text.json));
    });
  });

  describe('sort extension and numberMatched', () => {
    /** The sort test's items: two collections, times with ties, one time range, ids that tie across collections. */
    const TIMES = ['2026-03-01T00:00:00Z', '2026-03-01T00:10:00Z', '2026-03-01T00:20:00Z'];
    const items: Array<{ id: string; collection: string; time: number; end: number; doc: Record<string, unknown> }> = [];
    for (let n = 0; n < 17; n++) {
      const collection = n % 2 === 0 ? 'goes-east' : 'himawari-9';
      // Ids repeat across the two collections (n and n + 9 differ in parity), so id alone does not order them.
      const id = `srt${String(n % 9).padStart(2, '0')}`;
      const datetime = TIMES[(n * 7) % 3]!;
      const doc = testItem(id, { lon: 140, lat: -30 + n, collection, datetime });
      items.push({ id, collection, time: Date.parse(datetime), end: Date.parse(datetime), doc });
    }
    // A range item: it sorts by its start time.
    const range = testItem('srtrange', { lon: 140, lat: 0, collection: 'goes-east', start: '2026-03-01T00:05:00Z', end: '2026-03-01T00:30:00Z' });
    items.push({ id: 'srtrange', collection: 'goes-east', time: Date.parse('2026-03-01T00:05:00Z'), end: Date.parse('2026-03-01T00:30:00Z'), doc: range });

    before(async () => {
      for (const collection of ['goes-east', 'himawari-9']) {
        const features = items.filter((i) => i.collection === collection).map((i) => i.doc);
        const r = await http('POST', `${s.base}/collections/${collection}/items`, { type: 'FeatureCollection', features });
        assert.equal(r.status, 202, JSON.stringify(r.json));
      }
    });

    type Key = { field: 'datetime' | 'collection' | 'id'; dir: 1 | -1 };
    /** The expected order, computed from the inserted items: the keys, then collection and id ascending. */
    function expected(keys: Key[]): string[] {
      const all: Key[] = [...keys];
      for (const f of ['collection', 'id'] as const) if (!all.some((k) => k.field === f)) all.push({ field: f, dir: 1 });
      const value = (i: (typeof items)[number], f: Key['field']): number | string => (f === 'datetime' ? i.time : f === 'collection' ? i.collection : i.id);
      return [...items]
        .sort((a, b) => {
          for (const k of all) {
            const x = value(a, k.field);
            const y = value(b, k.field);
            if (x !== y) return (x < y ? -1 : 1) * k.dir;
          }
          return 0;
        })
        .map((i) => `${i.collection}/${i.id}`);
    }

    async function pagesGet(url: string): Promise<{ ids: string[]; pages: number; matched: unknown[] }> {
      const ids: string[] = [];
      const matched: unknown[] = [];
      let next: string | undefined = url;
      let pages = 0;
      while (next && pages < 50) {
        const r = await http('GET', next, undefined, {});
        assert.equal(r.status, 200, JSON.stringify(r.json));
        pages++;
        matched.push(r.json.numberMatched);
        ids.push(...(r.json.features as Array<{ id: string; collection: string }>).map((f) => `${f.collection}/${f.id}`));
        next = (r.json.links as Link[]).find((l) => l.rel === 'next')?.href;
      }
      return { ids, pages, matched };
    }

    async function pagesPost(body: Record<string, unknown>): Promise<{ ids: string[]; pages: number }> {
      const ids: string[] = [];
      let next: Record<string, unknown> | undefined = body;
      let pages = 0;
      while (next && pages < 50) {
        const r = await http('POST', `${s.base}/search`, next, { 'content-type': 'application/json' });
        assert.equal(r.status, 200, JSON.stringify(r.json));
        pages++;
        assert.equal(r.json.numberMatched, items.length);
        ids.push(...(r.json.features as Array<{ id: string; collection: string }>).map((f) => `${f.collection}/${f.id}`));
        const link = (r.json.links as Link[]).find((l) => l.rel === 'next');
        if (link) assert.equal(link.method, 'POST');
        next = link?.body;
      }
      return { ids, pages };
    }

    const CASES: Array<{ get: string; post: Array<{ field: string; direction: string }>; keys: Key[] }> = [
      { get: '-properties.datetime,+id', post: [{ field: 'properties.datetime', direction: 'desc' }, { field: 'id', direction: 'asc' }], keys: [{ field: 'datetime', dir: -1 }, { field: 'id', dir: 1 }] },
      { get: 'properties.datetime', post: [{ field: 'properties.datetime', direction: 'asc' }], keys: [{ field: 'datetime', dir: 1 }] },
      { get: 'collection,-id', post: [{ field: 'collection', direction: 'asc' }, { field: 'id', direction: 'desc' }], keys: [{ field: 'collection', dir: 1 }, { field: 'id', dir: -1 }] },
      { get: '-id,-properties.datetime,-collection', post: [{ field: 'id', direction: 'desc' }, { field: 'datetime', direction: 'desc' }, { field: 'collection', direction: 'desc' }], keys: [{ field: 'id', dir: -1 }, { field: 'datetime', dir: -1 }, { field: 'collection', dir: -1 }] },
    ];

    for (const c of CASES) {
      test(`GET /search?sortby=${c.get}: pages of 4 give the order computed from the inserted items`, async () => {
        const url = `${s.base}/search?collections=goes-east,himawari-9&limit=4&sortby=${encodeURIComponent(c.get)}`;
        const got = await pagesGet(url);
        assert.deepEqual(got.ids, expected(c.keys));
        assert.equal(got.pages, Math.ceil(items.length / 4));
        assert.deepEqual(got.matched, new Array(got.pages).fill(items.length), 'numberMatched on every page');
      });
      test(`POST /search sortby ${JSON.stringify(c.post)}: pages of 5 (next link bodies) give the same order`, async () => {
        const got = await pagesPost({ collections: ['goes-east', 'himawari-9'], limit: 5, sortby: c.post });
        assert.deepEqual(got.ids, expected(c.keys));
        assert.equal(got.pages, Math.ceil(items.length / 5));
      });
    }

    test('a `+` sent unescaped in a query string (read as a space) is ascending', async () => {
      const got = await pagesGet(`${s.base}/search?collections=goes-east,himawari-9&limit=7&sortby=-properties.datetime,+id`);
      assert.deepEqual(got.ids, expected([{ field: 'datetime', dir: -1 }, { field: 'id', dir: 1 }]));
    });

    test('no sortby: newest first, as before (default order unchanged)', async () => {
      const got = await pagesGet(`${s.base}/search?collections=goes-east,himawari-9&limit=6`);
      assert.deepEqual(got.ids, expected([{ field: 'datetime', dir: -1 }]));
    });

    test('GET /collections/{id}/items takes sortby too', async () => {
      const got = await pagesGet(`${s.base}/collections/himawari-9/items?limit=2&sortby=-id`);
      const want = expected([{ field: 'id', dir: -1 }]).filter((k) => k.startsWith('himawari-9/'));
      assert.deepEqual(got.ids, want);
    });

    test('numberMatched counts the whole filtered search; the count is bounded', async () => {
      // STAC datetime intervals select items whose time span meets the interval: here, those ending at or after its start.
      const inGoesEast = items.filter((i) => i.collection === 'goes-east' && i.end >= Date.parse(TIMES[1]!)).length;
      const r = await http('GET', `${s.base}/search?collections=goes-east&datetime=${TIMES[1]}/..&limit=1`, undefined, {});
      assert.equal(r.json.numberMatched, inGoesEast);
      assert.equal(r.json.numberReturned, 1);
      const search = { collections: ['goes-east', 'himawari-9'] };
      assert.equal(await countItemsUpTo(backend.db, search, items.length), items.length);
      assert.equal(await countItemsUpTo(backend.db, search, items.length - 1), null, 'more than the bound: not counted');
    });

    test('the conformance classes of the sort extension are declared', async () => {
      for (const path of ['/', '/conformance']) {
        const r = await http('GET', `${s.base}${path}`, undefined, {});
        assert.ok(r.json.conformsTo.includes('https://api.stacspec.org/v1.0.0/item-search#sort'), path);
        assert.ok(r.json.conformsTo.includes('https://api.stacspec.org/v1.0.0/ogcapi-features#sort'), path);
      }
    });

    const BAD: Array<[string, string, unknown]> = [
      ['GET, a field that is not sortable', 'GET', 'properties.eo:cloud_cover'],
      ['GET, a field given twice', 'GET', 'id,-id'],
      ['GET, an empty field', 'GET', 'id,,collection'],
      ['POST, a field that is not sortable', 'POST', [{ field: 'geometry', direction: 'asc' }]],
      ['POST, a direction that is neither asc nor desc', 'POST', [{ field: 'id', direction: 'up' }]],
      ['POST, not a list', 'POST', { field: 'id' }],
    ];
    for (const [what, method, sortby] of BAD) {
      test(`sortby refused with a 400 problem: ${what}`, async () => {
        const r =
          method === 'GET'
            ? await http('GET', `${s.base}/search?sortby=${encodeURIComponent(String(sortby))}`, undefined, {})
            : await http('POST', `${s.base}/search`, { sortby }, { 'content-type': 'application/json' });
        assert.equal(r.status, 400);
        assert.match(r.headers.get('content-type') ?? '', /application\/problem\+json/);
        assert.equal(r.json.code, 'SW_ERR_INVALID_ARGUMENT');
        assert.match(r.json.detail, /sortby/);
      });
    }
  });
});
