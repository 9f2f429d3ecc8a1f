/**
 * Protocol hygiene on the gateway (security review, findings 7 and 8), on
 * the real app (buildGatewayApp) over PostgreSQL in a fresh schema:
 *
 * - the HTTP parser's and the router's refusals (431, 414, 400 for a
 *   malformed request or URL) are application/problem+json with a stable
 *   SW_ERR_ code and repeat neither the URL nor a header; a JSON body with a
 *   prototype key is refused by name, not as "not valid JSON";
 * - websocket connections per client address are capped before the upgrade
 *   (429 problem), counted while handshakes are in flight, given back on
 *   close;
 * - STAC links come from the configured public base URL, or from a Host that
 *   is a bare host[:port], never from a forged Host with a path, userinfo or
 *   odd characters;
 * - API answers carry Cache-Control: no-store unless the route may be kept
 *   (STAC reads: public only with a configured base, never with credentials).
 *
 * Every refusal has a positive control beside it (a shorter parameter, valid
 * JSON, a well-formed Host, a freed slot), so each check is shown to be able
 * to fail.
 */
import { clientKey } from '../../actors/gateway/client-address.js';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import WebSocket from 'ws';
import { loadConfig } from '../../config/load.js';
import { buildGatewayApp } from '../../actors/gateway/app.js';
import { StateFanout } from '../../actors/gateway/fanout.js';
// Namespace imports: a missing export fails only the test that uses it.
import * as links from '../../actors/gateway/stac/links.js';
import type { Storage } from '../../actors/storage/index.js';
import { MemoryCache } from '../../actors/storage/memory-cache.js';
import { migrate } from '../../actors/storage/migrate.js';
import { upsertItem } from '../../actors/storage/stac.js';
import { testItem } from '../helpers/stac-app.js';
import { openTestPg, type TestBackend } from '../helpers/storage-backends.js';

const PUBLIC_BASE = 'https://starweather.example.org';
const MAX_PER_IP = 3;
/** Planted in every refused URL and header: it must never come back. */
const MARK = 'Zq9MARKER';

interface Gateway {
  app: FastifyInstance;
  port: number;
  base: string;
  fanout: StateFanout;
}

async function startGateway(storage: Storage, publicBaseUrl?: string): Promise<Gateway> {
  const fanout = new StateFanout({ maxBufferedBytes: 4 * 1024 * 1024, maxSkippedFrames: 10, groupsOf: () => undefined });
  const app = await buildGatewayApp({
    logger: pino({ level: 'silent' }),
    storage: async () => storage,
    nodeView: {
      health: async () => ({ status: 'ok' }),
      metrics: async () => ({ contentType: 'text/plain', body: '' }),
    },
    fanout,
    ws: { allowedOrigins: [], token: '', maxClients: 100, maxPerIp: MAX_PER_IP, heartbeatMs: 60_000, messagesPerSecond: 10 },
    rateLimit: { max: 100_000, windowMs: 60_000 },
    gatewayHealth: () => ({}),
    shardCount: 8,
    ...(publicBaseUrl !== undefined ? { publicBaseUrl } : {}),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  return { app, port, base: `http://127.0.0.1:${port}`, fanout };
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Bytes as they are written on the wire, answered by whatever the server writes before it closes. */
function rawHttp(port: number, text: string): Promise<Answer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sock = connect(port, '127.0.0.1', () => sock.write(text));
    sock.on('data', (b) => chunks.push(b));
    // The server closes after a refusal, possibly before reading all of a large request.
    sock.on('error', () => undefined);
    sock.on('close', () => {
      const all = Buffer.concat(chunks).toString('latin1');
      const split = all.indexOf('\r\n\r\n');
      const head = split < 0 ? all : all.slice(0, split);
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1] ?? 0), headers, body: split < 0 ? '' : all.slice(split + 4) });
    });
  });
}

/** An HTTP request with headers fetch would not send as given (Host). */
function http(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => {
        const h: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h[k] = Array.isArray(v) ? v.join(', ') : v;
        resolve({ status: res.statusCode ?? 0, headers: h, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

function assertProblem(a: Answer, status: number, code: string, what: string): { detail?: string } {
  assert.equal(a.status, status, `${what}: ${a.status} ${a.body.slice(0, 300)}`);
  assert.match(a.headers['content-type'] ?? '', /^application\/problem\+json/, `${what}: ${a.headers['content-type']}`);
  const p = JSON.parse(a.body) as { status: number; code: string; detail?: string; type: string; title: string };
  assert.equal(p.status, status, what);
  assert.equal(p.code, code, `${what}: ${a.body.slice(0, 300)}`);
  assert.equal(p.type, 'about:blank');
  assert.ok(p.title, what);
  assert.ok(!a.body.includes(MARK), `${what} echoed the request: ${a.body.slice(0, 300)}`);
  return p;
}

describe('protocol hygiene on the gateway', () => {
  let backend: TestBackend;
  let cache: MemoryCache;
  let gw: Gateway;
  let pub: Gateway;

  before(async () => {
    backend = await openTestPg();
    await migrate(backend.db);
    cache = new MemoryCache();
    const storage = { db: backend.db, cache } as unknown as Storage;
    gw = await startGateway(storage);
    pub = await startGateway(storage, PUBLIC_BASE);
    // Two items in one collection, so a page of one has a next link.
    for (const id of ['ph-a', 'ph-b']) await upsertItem(backend.db, testItem(id, { lon: 10, lat: 10 }) as { id: string });
  });
  after(async () => {
    for (const g of [gw, pub]) {
      if (!g) continue;
      await g.app.close();
      g.fanout.close();
    }
    await cache?.close();
    await backend?.dispose();
  });

  describe('refusals before any route are problem details that repeat nothing', () => {
    it('a request line over the parser limit: 431 problem, no URL in it', async () => {
      const a = await rawHttp(gw.port, `GET /collections/${MARK}${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
      assertProblem(a, 431, 'SW_ERR_HEADERS_TOO_LARGE', 'long URL');
      assert.equal(a.headers['cache-control'], 'no-store');
    });

    it('a header over the parser limit: 431 problem, no header value in it', async () => {
      const a = await rawHttp(gw.port, `GET /collections HTTP/1.1\r\nHost: x\r\nX-Big: ${MARK}${'b'.repeat(20_000)}\r\n\r\n`);
      assertProblem(a, 431, 'SW_ERR_HEADERS_TOO_LARGE', 'big header');
    });

    it('bytes that are not HTTP, and a broken header line: 400 problem naming the parser rule', async () => {
      const garbage = assertProblem(await rawHttp(gw.port, `HELLO ${MARK}\r\n\r\n`), 400, 'SW_ERR_BAD_REQUEST', 'garbage');
      assert.match(garbage.detail ?? '', /not valid HTTP\/1\.1 \(HPE_[A-Z_]+\)/);
      assertProblem(await rawHttp(gw.port, `GET /collections HTTP/1.1\r\nHost: x\r\nBad ${MARK}: y\r\n\r\n`), 400, 'SW_ERR_BAD_REQUEST', 'header name with a space');
    });

    it('a path that does not percent-decode: 400 SW_ERR_BAD_URL, the path not repeated', async () => {
      const a = await rawHttp(gw.port, `GET /collections/%c0${MARK}%3Cscript%3E HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assertProblem(a, 400, 'SW_ERR_BAD_URL', 'bad percent-encoding');
      assert.ok(!a.body.includes('%c0') && !a.body.toLowerCase().includes('script'), a.body);
    });

    it('a path parameter over the router limit: 414 problem; up to the id schemas\' 200 characters the schema decides', async () => {
      const long = await http(gw.port, 'GET', `/tasks/${MARK}${'a'.repeat(300)}`);
      assertProblem(long, 414, 'SW_ERR_URI_TOO_LONG', 'long parameter');
      assert.equal(long.headers['cache-control'], 'no-store');
      // Control: 150 characters is within the task id schema (200), so the route runs: an unknown task, not a 414.
      const within = await http(gw.port, 'GET', `/tasks/${'a'.repeat(150)}`);
      assert.equal(within.status, 404, within.body);
      // Over the schema's 200 but under the router's limit: the schema names the parameter.
      const schema = await http(gw.port, 'GET', `/tasks/${'a'.repeat(220)}`);
      assert.equal(schema.status, 400, schema.body);
      assert.match((JSON.parse(schema.body) as { detail: string }).detail, /id/);
    });

    it('a JSON body with __proto__ or constructor.prototype, at any depth or escaped: 400 naming the rule', async () => {
      const post = (body: string): Promise<Answer> => http(gw.port, 'POST', '/search', { 'content-type': 'application/json' }, body);
      for (const body of [
        '{"__proto__": {"polluted": true}}',
        '{"limit": 1, "intersects": {"type": "Point", "coordinates": [0, 0], "__proto__": {"polluted": true}}}',
        '{"constructor": {"prototype": {"polluted": true}}}',
        '{"ids": [{"constructor": {"prototype": {"polluted": true}}}]}',
        '{"\\u005f_proto__": {"polluted": true}}',
      ]) {
        const p = assertProblem(await post(body), 400, 'SW_ERR_FORBIDDEN_KEY', body);
        assert.match(p.detail ?? '', /__proto__.*constructor.*prototype/, body);
        assert.doesNotMatch(p.detail ?? '', /not valid JSON/, body);
      }
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      // Controls: broken JSON is still "not valid JSON"; `constructor` without `prototype` passes the parser (and reaches the route); clean JSON is served.
      const broken = assertProblem(await post('{"limit": '), 400, 'SW_ERR_INVALID_ARGUMENT', 'broken JSON');
      assert.match(broken.detail ?? '', /not valid JSON/);
      const ctor = await post('{"constructor": "x"}');
      assert.notEqual((JSON.parse(ctor.body) as { code?: string }).code, 'SW_ERR_FORBIDDEN_KEY', ctor.body);
      assert.doesNotMatch(ctor.body, /not valid JSON/);
      const ok = await post('{"limit": 1}');
      assert.equal(ok.status, 200, ok.body);
    });
  });

  describe('websocket connections per client address', () => {
    interface Upgrade {
      status: number;
      ws?: WebSocket;
      type?: string;
      body?: string;
    }
    const upgrade = (port: number): Promise<Upgrade> =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
        ws.on('open', () => resolve({ status: 101, ws }));
        ws.on('unexpected-response', (_req, res) => {
          const chunks: Buffer[] = [];
          res.on('data', (b: Buffer) => chunks.push(b));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body: Buffer.concat(chunks).toString('utf8') }));
        });
        ws.on('error', reject);
      });
    const closed = (ws: WebSocket): Promise<void> =>
      new Promise((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        ws.once('close', () => resolve());
        ws.terminate();
      });
    /** Opens once the server has seen an earlier close (it counts the TCP close, which may land just after the client's). */
    const openWhenFree = async (port: number): Promise<Upgrade> => {
      for (let i = 0; i < 200; i++) {
        const u = await upgrade(port);
        if (u.status !== 429) return u;
        await new Promise((r) => setTimeout(r, 10));
      }
      return upgrade(port);
    };

    it('concurrent upgrades from one address: exactly the cap opens, the rest get a 429 problem', async () => {
      const all = await Promise.all(Array.from({ length: MAX_PER_IP + 5 }, () => upgrade(gw.port)));
      try {
        const open = all.filter((u) => u.status === 101);
        const refused = all.filter((u) => u.status !== 101);
        assert.equal(open.length, MAX_PER_IP, all.map((u) => u.status).join(','));
        for (const r of refused) {
          assert.equal(r.status, 429);
          assert.match(r.type ?? '', /^application\/problem\+json/);
          const p = JSON.parse(r.body ?? '{}') as { code: string; detail: string };
          assert.equal(p.code, 'SW_ERR_TOO_MANY_CONNECTIONS');
          assert.match(p.detail, new RegExp(`at most ${MAX_PER_IP} websocket connections`));
        }
        // A closed connection gives its slot back, and only one.
        await closed(open[0]!.ws!);
        const again = await openWhenFree(gw.port);
        assert.equal(again.status, 101);
        assert.equal((await upgrade(gw.port)).status, 429, 'the cap holds after the slot was reused');
        await closed(again.ws!);
      } finally {
        await Promise.all(all.filter((u) => u.ws).map((u) => closed(u.ws!)));
      }
    });

    it('plain GETs of /ws and failed handshakes hold no slot', async () => {
      for (let i = 0; i < MAX_PER_IP + 2; i++) {
        const plain = await http(gw.port, 'GET', '/ws');
        assert.equal(plain.status, 404);
        // An upgrade ws refuses after the checks (no Sec-WebSocket-Key): the connection closes and the slot must come back.
        const bad = await rawHttp(gw.port, 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n');
        assert.equal(bad.status, 400, JSON.stringify(bad));
      }
      const opened: Upgrade[] = [];
      try {
        for (let i = 0; i < MAX_PER_IP; i++) opened.push(await openWhenFree(gw.port));
        assert.deepEqual(
          opened.map((u) => u.status),
          Array.from({ length: MAX_PER_IP }, () => 101),
        );
      } finally {
        await Promise.all(opened.filter((u) => u.ws).map((u) => closed(u.ws!)));
      }
    });

    it('the cap counts an IPv6 client by its /64 and a mapped IPv4 client as IPv4', () => {
      const key = clientKey;
      assert.equal(key('2001:db8:1:2::1'), key('2001:db8:1:2:ffff:eeee:dddd:cccc'));
      assert.equal(key('2001:db8:1:2::1'), key('2001:0DB8:0001:0002::9'));
      assert.notEqual(key('2001:db8:1:2::1'), key('2001:db8:1:3::1'));
      assert.equal(key('::ffff:192.0.2.7'), '192.0.2.7');
      assert.equal(key('192.0.2.7'), '192.0.2.7');
      assert.notEqual(key('192.0.2.7'), key('192.0.2.8'));
      assert.equal(key('::1'), key('::2'), 'loopback shares ::/64');
      assert.equal(key('64:ff9b::192.0.2.7'), key('64:ff9b::198.51.100.1'));
      assert.equal(key('fe80::1%eth0'), key('fe80::2'));
    });
  });

  describe('STAC links are not taken from a forged Host', () => {
    const hrefsOf = (body: string): string[] => {
      const out: string[] = [];
      JSON.parse(body, (k, v: unknown) => {
        if (k === 'href' && typeof v === 'string') out.push(v);
        return v;
      });
      return out;
    };
    const ownHrefs = (body: string): string[] => hrefsOf(body).filter((h) => !h.startsWith('https://noaa-') && !h.startsWith('https://example.com/'));

    it('with a public base URL, every link uses it whatever Host says (self, root, parent, next, GET and POST)', async () => {
      const host = { host: 'evil.example' };
      for (const path of ['/', '/collections', '/collections/imagery', '/collections/imagery/items?limit=1', '/collections/imagery/items/ph-a', '/search?limit=1']) {
        const a = await http(pub.port, 'GET', path, host);
        assert.equal(a.status, 200, `${path}: ${a.body.slice(0, 200)}`);
        const hrefs = ownHrefs(a.body);
        assert.ok(hrefs.length > 0, path);
        for (const h of hrefs) assert.ok(h.startsWith(`${PUBLIC_BASE}/`), `${path}: ${h}`);
      }
      const page = await http(pub.port, 'GET', '/collections/imagery/items?limit=1', host);
      const next = (JSON.parse(page.body) as { links: Array<{ rel: string; href: string }> }).links.find((l) => l.rel === 'next');
      assert.ok(next && next.href.startsWith(`${PUBLIC_BASE}/collections/imagery/items?`), JSON.stringify(next));
      const post = await http(pub.port, 'POST', '/search', { ...host, 'content-type': 'application/json' }, '{"limit": 1}');
      assert.equal(post.status, 200, post.body);
      assert.ok(ownHrefs(post.body).every((h) => h.startsWith(`${PUBLIC_BASE}/`)), post.body.slice(0, 500));
      assert.ok(!post.body.includes('evil.example'));
    });

    it('without one, a Host with a path, userinfo, a bad port or odd characters gives way to the local address', async () => {
      const local = `http://127.0.0.1:${gw.port}/`;
      for (const host of ['evil.example/x?y=', 'user@evil.example', 'evil.example:99999', 'evil.example:80:80', 'evil.example"><b', 'evil example', '[::1', '[zz::1]:80', `${'a'.repeat(64)}.example`, 'evil.example#f', 'evil.example\\x']) {
        const a = await http(gw.port, 'GET', '/collections', { host });
        assert.equal(a.status, 200, `${host}: ${a.body.slice(0, 200)}`);
        for (const h of ownHrefs(a.body)) assert.ok(h.startsWith(local), `Host ${host}: ${h}`);
      }
      // Controls: a bare host[:port] is what a client reached the gateway by, and is kept (lower-cased).
      for (const [host, root] of [
        ['Gateway.Example:8080', 'http://gateway.example:8080/'],
        ['[::1]:8080', 'http://[::1]:8080/'],
        ['10.1.2.3', 'http://10.1.2.3/'],
        ['star_weather', 'http://star_weather/'],
      ] as const) {
        const a = await http(gw.port, 'GET', '/collections', { host });
        for (const h of ownHrefs(a.body)) assert.ok(h.startsWith(root), `Host ${host}: ${h}`);
      }
    });

    it('an absolute-form request target does not carry its origin into a self link', async () => {
      for (const g of [pub, gw]) {
        const a = await rawHttp(g.port, 'GET http://evil.example/search?limit=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
        assert.equal(a.status, 200, a.body.slice(0, 300));
        // The body may be chunked: its hrefs are read from the raw text.
        assert.ok(!a.body.includes('evil.example'), a.body.slice(0, 500));
        assert.match(a.body, new RegExp(`"rel":"self","href":"${g === pub ? PUBLIC_BASE : 'http://127.0.0.1'}/search\\?limit=1"`));
      }
    });

    it('wellFormedHost: a host name or IP and an optional port, nothing else', () => {
      const ok = links.wellFormedHost;
      for (const h of ['example.org', 'example.org:443', 'localhost', '127.0.0.1:8080', '[::1]', '[2001:db8::1]:8443', 'a-b.c_d.example']) assert.equal(ok(h), true, h);
      for (const h of ['', 'example.org/', 'u@example.org', 'example.org:', 'example.org:65536', ':80', '-a.example', 'a..example', '[::1', '[g::1]', 'exa mple.org', 'example.org?', `${'a'.repeat(250)}.${'b'.repeat(10)}`]) assert.equal(ok(h), false, h);
    });
  });

  describe('Cache-Control on API answers', () => {
    it('STAC reads may be kept briefly: public only with a configured base, never with credentials', async () => {
      const read = await http(pub.port, 'GET', '/collections/imagery');
      assert.equal(read.headers['cache-control'], `public, max-age=${links.STAC_READ_MAX_AGE_S}`);
      assert.match(read.headers['cache-control'] ?? '', /^public, max-age=\d+$/);
      const item = await http(pub.port, 'GET', '/collections/imagery/items/ph-a');
      assert.equal(item.headers['cache-control'], read.headers['cache-control']);
      // Links from the client's own Host: its own cache only.
      assert.match((await http(gw.port, 'GET', '/collections')).headers['cache-control'] ?? '', /^private, max-age=\d+$/);
      assert.equal((await http(pub.port, 'GET', '/collections', { authorization: 'Bearer x' })).headers['cache-control'], 'no-store');
      // An error answer of a read route is not kept.
      const missing = await http(pub.port, 'GET', '/collections/nope');
      assert.equal(missing.status, 404);
      assert.equal(missing.headers['cache-control'], 'no-store');
    });

    it('writes, searches by POST, live state and health are no-store; routes with their own policy keep it', async () => {
      const post = await http(pub.port, 'POST', '/search', { 'content-type': 'application/json' }, '{"limit": 1}');
      assert.equal(post.status, 200);
      assert.equal(post.headers['cache-control'], 'no-store');
      const sats = await http(pub.port, 'GET', '/satellites?limit=1');
      assert.equal(sats.status, 200, sats.body);
      assert.equal(sats.headers['cache-control'], 'no-store');
      assert.equal((await http(pub.port, 'GET', '/health')).headers['cache-control'], 'no-store');
      const write = await http(pub.port, 'POST', '/collections/imagery/items', { 'content-type': 'application/json' }, '{}');
      assert.ok(write.status >= 400, write.body);
      assert.equal(write.headers['cache-control'], 'no-store');
      // The OpenAPI document sets its own.
      assert.equal((await http(pub.port, 'GET', '/api')).headers['cache-control'], 'public, max-age=60');
    });
  });
});

describe('configuration: gateway.publicBaseUrl and gateway.wsMaxPerIp', () => {
  const load = (env: Record<string, string>) => loadConfig({ env: { STARWEATHER_DATA_DIR: '/tmp', ...env } });

  it('a base URL is kept without its trailing slash; one with userinfo, a query, a fragment or another scheme is refused', () => {
    assert.equal(load({}).gateway.publicBaseUrl, '');
    assert.equal(load({ STARWEATHER_PUBLIC_BASE_URL: 'https://starweather.example.org/' }).gateway.publicBaseUrl, 'https://starweather.example.org');
    assert.equal(load({ STARWEATHER_PUBLIC_BASE_URL: 'https://example.org/sw/' }).gateway.publicBaseUrl, 'https://example.org/sw');
    for (const bad of ['https://user:pw@example.org', 'https://example.org/?a=1', 'https://example.org/?', 'https://example.org/#top', 'ftp://example.org', 'not a url']) {
      assert.throws(() => load({ STARWEATHER_PUBLIC_BASE_URL: bad }), (err: Error & { code?: string }) => err.code === 'SW_ERR_CONFIG', bad);
    }
  });

  it('the per-address websocket cap defaults to 50 and must be at least 1', () => {
    assert.equal(load({}).gateway.wsMaxPerIp, 50);
    assert.equal(load({ STARWEATHER_WS_MAX_PER_IP: '7' }).gateway.wsMaxPerIp, 7);
    assert.throws(() => load({ STARWEATHER_WS_MAX_PER_IP: '0' }), /wsMaxPerIp/);
  });
});
