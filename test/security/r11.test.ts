/**
 * R11 (RELIABILITY.md): SSRF URL matrix against a canary server, a
 * traversal corpus against the asset file root, oversized bodies, bursts,
 * write keys, and websockets without a token or with a bad Origin.
 *
 * The canary is a real HTTP server on loopback that counts every request;
 * the attacks reach it only if the guard fails. Positive controls (the same
 * server reached with the test-only loopback flag, a file inside the root, a
 * right key, an allowed origin) prove each check can fail.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import WebSocket from 'ws';
import { HTTP_LIMITS } from '../../actors/gateway/app.js';
import { DEFAULT_BODY_LIMITS } from '../../actors/gateway/stac/transactions.js';
import { apiKeyAuth, requireApiKey } from '../../actors/gateway/auth.js';
import { useProblemDetails } from '../../actors/gateway/errors.js';
import { OPENAPI_CONTENT_TYPE } from '../../actors/gateway/openapi.js';
import { readAssetFile, safeFetch, type AssetPolicy } from '../../actors/gateway/ssrf.js';
import { startGatewayHarness, type GatewayHarness } from '../helpers/gateway-harness.js';

interface Canary {
  server: Server;
  port: number;
  hits: string[];
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return { server, port: typeof a === 'object' && a ? a.port : 0 };
}

const close = (s: Server): Promise<void> => new Promise((r) => { s.closeAllConnections(); s.close(() => r()); });

describe('R11 SSRF: safeFetch never reaches a loopback canary', () => {
  let canary: Canary;
  let redirector: { server: Server; port: number };
  const limits = { timeoutMs: 3000, maxBytes: 64 * 1024 };

  before(async () => {
    const hits: string[] = [];
    const c = await listen((req, res) => {
      hits.push(req.url ?? '');
      if (req.url === '/slow') return void setTimeout(() => res.end('late'), 5000).unref();
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        // No content-length: the cap must hold while streaming.
        for (let i = 0; i < 20; i++) res.write(Buffer.alloc(16 * 1024, 1));
        return void res.end();
      }
      if (req.url === '/range') {
        res.writeHead(206, { 'content-range': 'bytes 0-3/10', 'x-got-range': String(req.headers.range), 'x-got-host': String(req.headers.host) });
        return void res.end('0123');
      }
      res.end('canary');
    });
    canary = { ...c, hits };
    redirector = await listen((req, res) => {
      const to = req.url === '/to-metadata' ? 'http://169.254.169.254/latest/meta-data/' : `http://localhost:${canary.port}/via-redirect`;
      res.writeHead(302, { location: to });
      res.end();
    });
  });
  after(async () => {
    await close(canary.server);
    await close(redirector.server);
  });

  const listed = (): AssetPolicy => ({
    schemes: ['http', 'https'],
    // The canary's own names and literals are on the allow list: the address checks, not the list, must stop them.
    hosts: [`localhost:${canary.port}`, `127.0.0.1:${canary.port}`, `2130706433:${canary.port}`, `localhost:${redirector.port}`],
    fileRoot: '',
  });

  it('a listed host name that resolves to loopback is refused before any connection', async () => {
    const r = await safeFetch(`http://localhost:${canary.port}/by-name`, listed(), limits);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.code, 'private_address', JSON.stringify(r));
    assert.match(!r.ok ? r.reason : '', /localhost resolves to .*loopback/);
    assert.deepEqual(canary.hits, []);
  });

  it('literal loopback, private, link-local and mapped addresses in every encoding never connect', async () => {
    const p = canary.port;
    const attacks = [
      `http://127.0.0.1:${p}/lit`,
      `http://127.1:${p}/lit`,
      `http://2130706433:${p}/lit`,
      `http://0x7f000001:${p}/lit`,
      `http://0x7f.1:${p}/lit`,
      `http://0177.0.0.1:${p}/lit`,
      `http://[::1]:${p}/lit`,
      `http://[::ffff:127.0.0.1]:${p}/lit`,
      `http://[::ffff:7f00:1]:${p}/lit`,
      `http://0.0.0.0:${p}/lit`,
      `http://169.254.169.254/latest/meta-data/`,
      `http://[fd00:ec2::254]/latest/meta-data/`,
      `http://100.100.100.200/latest/meta-data/`,
      `http://10.0.0.1:${p}/lit`,
      `http://user:pw@localhost:${p}/userinfo`,
      `http://localhost:${p}@evil.example/userinfo`,
      `ftp://localhost:${p}/scheme`,
      `gopher://localhost:${p}/_scheme`,
      `file:///etc/passwd`,
      `http://localhost:${p + 1 === redirector.port ? p + 2 : p + 1}/port`,
    ];
    for (const href of attacks) {
      const r = await safeFetch(href, listed(), limits);
      assert.equal(r.ok, false, `${href} was fetched`);
      assert.equal(!r.ok && r.kind, 'blocked', `${href}: ${JSON.stringify(r)}`);
    }
    assert.deepEqual(canary.hits, []);
  });

  it('redirects are not followed, to the canary or to the metadata address', async () => {
    const p: AssetPolicy = { ...listed(), allowLoopbackForTests: true };
    for (const path of ['/to-canary', '/to-metadata']) {
      const r = await safeFetch(`http://localhost:${redirector.port}${path}`, p, limits);
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.code, 'redirect', JSON.stringify(r));
      assert.equal(!r.ok && r.status, 302);
    }
    assert.deepEqual(canary.hits, []);
  });

  it('positive control: with the test-only loopback flag the canary is reached, pinned, with Range', async () => {
    const p: AssetPolicy = { ...listed(), allowLoopbackForTests: true };
    const r = await safeFetch(`http://localhost:${canary.port}/range`, p, { ...limits, range: { start: 0, end: 3 } });
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.status, 206);
    assert.equal(r.body.toString(), '0123');
    assert.equal(r.headers['x-got-range'], 'bytes=0-3');
    assert.equal(r.headers['x-got-host'], `localhost:${canary.port}`, 'Host carries the name, not the pinned address');
    assert.match(r.address, /^(127\.0\.0\.1|::1)$/);
    assert.deepEqual(canary.hits, ['/range']);
    // The flag opens loopback only; the literal stays refused.
    const lit = await safeFetch(`http://127.0.0.1:${canary.port}/lit`, p, limits);
    assert.equal(!lit.ok && lit.code, 'literal_ip');
    canary.hits.length = 0;
  });

  it('privateHosts (a configured local S3 endpoint) is the only other way to loopback', async () => {
    const p: AssetPolicy = { ...listed(), privateHosts: [`localhost:${canary.port}`] };
    const r = await safeFetch(`http://localhost:${canary.port}/private-ok`, p, limits);
    assert.ok(r.ok, JSON.stringify(r));
    const other = await safeFetch(`http://localhost:${redirector.port}/x`, p, limits);
    assert.equal(!other.ok && other.code, 'private_address', 'another port of the same name stays refused');
    assert.deepEqual(canary.hits, ['/private-ok']);
    canary.hits.length = 0;
  });

  it('a timeout and the byte cap hold while the body streams', async () => {
    const p: AssetPolicy = { ...listed(), allowLoopbackForTests: true };
    const slow = await safeFetch(`http://localhost:${canary.port}/slow`, p, { timeoutMs: 300, maxBytes: 1024 });
    assert.equal(!slow.ok && slow.code, 'timeout', JSON.stringify(slow));
    const big = await safeFetch(`http://localhost:${canary.port}/big`, p, { timeoutMs: 3000, maxBytes: 100 * 1024 });
    assert.equal(!big.ok && big.code, 'too_large', JSON.stringify(big));
    canary.hits.length = 0;
  });
});

/** A self-signed certificate for `name` (openssl), as PEM key and cert. */
function selfSigned(dir: string, name: string): { key: string; cert: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`], { stdio: 'ignore' });
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
}

describe('R11 SSRF: https to the pinned address keeps SNI and certificate checks on the name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sw-r11-tls-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the server sees SNI and Host = the name; a certificate for another name fails', async () => {
    const good = selfSigned(dir, 'localhost');
    const other = selfSigned(dir, 'other.example');
    const seen: Array<{ sni: string | false | null; host: string | undefined }> = [];
    const server = createHttpsServer({ key: good.key, cert: good.cert }, (req, res) => {
      seen.push({ sni: (req.socket as TLSSocket).servername, host: req.headers.host });
      res.end('tls ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const policy: AssetPolicy = { schemes: ['https'], hosts: [`localhost:${port}`], fileRoot: '', allowLoopbackForTests: true };
      const limits = { timeoutMs: 3000, maxBytes: 1024 };
      const ok = await safeFetch(`https://localhost:${port}/tls`, policy, { ...limits, ca: good.cert });
      assert.ok(ok.ok, JSON.stringify(ok));
      assert.equal(ok.body.toString(), 'tls ok');
      assert.deepEqual([...seen], [{ sni: 'localhost', host: `localhost:${port}` }]);
      // The certificate names only DNS:localhost (no IP SAN), so the success above shows verification used the name.
      // A trusted certificate for another name fails the name check; nothing is served.
      const otherServer = createHttpsServer({ key: other.key, cert: other.cert }, (req, res) => {
        seen.push({ sni: (req.socket as TLSSocket).servername, host: req.headers.host });
        res.end('wrong server');
      });
      await new Promise<void>((r) => otherServer.listen(0, '127.0.0.1', r));
      const otherPort = (otherServer.address() as { port: number }).port;
      try {
        const bad = await safeFetch(`https://localhost:${otherPort}/tls`, { ...policy, hosts: [`localhost:${otherPort}`] }, { ...limits, ca: other.cert });
        assert.equal(!bad.ok && bad.code, 'network', JSON.stringify(bad));
        assert.match(!bad.ok ? bad.reason : '', /ALTNAME|does not match|not in the cert/i);
      } finally {
        otherServer.closeAllConnections();
        await new Promise<void>((r) => otherServer.close(() => r()));
      }
      const untrusted = await safeFetch(`https://localhost:${port}/tls`, policy, limits);
      assert.equal(!untrusted.ok && untrusted.code, 'network', 'a self-signed certificate is not trusted by default');
      assert.equal(seen.length, 1);
      // Without the test flag the name resolves to loopback and nothing connects.
      const blocked = await safeFetch(`https://localhost:${port}/tls`, { ...policy, allowLoopbackForTests: false }, { ...limits, ca: good.cert });
      assert.equal(!blocked.ok && blocked.code, 'private_address');
      assert.equal(seen.length, 1);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('R11 traversal: no file outside the asset root is read', () => {
  const base = mkdtempSync(join(tmpdir(), 'sw-r11-'));
  const root = join(base, 'assets');
  const SECRET = 'SECRET-OUTSIDE-THE-ROOT';
  before(() => {
    mkdirSync(join(root, 'goes19'), { recursive: true });
    writeFileSync(join(root, 'goes19', 'scene.nc'), 'inside');
    writeFileSync(join(base, 'secret.txt'), SECRET);
    mkdirSync(join(base, 'assets-sibling'));
    writeFileSync(join(base, 'assets-sibling', 'x.nc'), SECRET);
    // Links planted inside the root that lead out of it.
    symlinkSync(join(base, 'secret.txt'), join(root, 'link-to-secret.nc'));
    symlinkSync(base, join(root, 'link-dir'));
    symlinkSync('../secret.txt', join(root, 'goes19', 'relative-link.nc'));
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  const policy = (): AssetPolicy => ({ schemes: ['https'], hosts: [], fileRoot: root });
  const rootUrl = (): string => pathToFileURL(root).href;

  it('the corpus is refused and never returns the secret', async () => {
    const corpus = [
      pathToFileURL(join(base, 'secret.txt')).href,
      `${rootUrl()}/../secret.txt`,
      `${rootUrl()}/goes19/../../secret.txt`,
      `${rootUrl()}/%2e%2e/secret.txt`,
      `${rootUrl()}/%2E%2E/secret.txt`,
      `${rootUrl()}/.%2e/secret.txt`,
      `${rootUrl()}/goes19/%2e%2e%2f%2e%2e%2fsecret.txt`,
      `${rootUrl()}/..%2fsecret.txt`,
      `${rootUrl()}/..%5csecret.txt`,
      `${rootUrl()}-sibling/x.nc`,
      `${rootUrl()}/link-to-secret.nc`,
      `${rootUrl()}/link-dir/secret.txt`,
      `${rootUrl()}/goes19/relative-link.nc`,
      `${rootUrl()}/goes19/scene.nc%00.txt`,
      `file://localhost${join(base, 'secret.txt')}`,
      `file://evil.example${join(base, 'secret.txt')}`,
      rootUrl(),
      `${rootUrl()}/goes19`,
      'file:///etc/passwd',
      'file:///proc/self/environ',
      join(base, 'secret.txt'),
      '../secret.txt',
    ];
    for (const href of corpus) {
      const r = await readAssetFile(href, policy(), { maxBytes: 1024 });
      assert.ok(!r.ok, `${href} was read: ${r.ok ? r.body.toString() : ''}`);
    }
  });

  it('positive control: a file inside the root is read, in part with a range', async () => {
    const r = await readAssetFile(`${rootUrl()}/goes19/scene.nc`, policy(), { maxBytes: 1024 });
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.body.toString(), 'inside');
    const part = await readAssetFile(`${rootUrl()}/goes19/./x/../scene.nc`, policy(), { maxBytes: 1024, range: { start: 1, end: 3 } });
    assert.ok(part.ok, JSON.stringify(part));
    assert.equal(part.body.toString(), 'nsi');
    const capped = await readAssetFile(`${rootUrl()}/goes19/scene.nc`, policy(), { maxBytes: 3 });
    assert.equal(!capped.ok && capped.code, 'too_large');
  });
});

describe('R11 write key and body limits on a real fastify server', () => {
  const KEY = 'r11-test-key-0123456789abcdef';
  let app: FastifyInstance;
  let base: string;
  const writes: string[] = [];
  before(async () => {
    app = Fastify({ bodyLimit: HTTP_LIMITS.bodyLimitBytes });
    useProblemDetails(app, pino({ level: 'silent' }));
    app.decorate('requireApiKey', requireApiKey(apiKeyAuth(KEY)));
    // Shaped like the transaction route: the key checked on request, the item body limit.
    app.post('/collections/:cid/items', { onRequest: app.requireApiKey, bodyLimit: DEFAULT_BODY_LIMITS.item }, async (req, reply) => {
      writes.push(String((req.body as { id?: string }).id));
      return reply.code(202).send({ ok: true });
    });
    app.post('/search', async () => ({ type: 'FeatureCollection', features: [] }));
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(() => app.close());

  const post = (path: string, body: string, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${base}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });

  it('no key → 401 problem with WWW-Authenticate; wrong key → 401 invalid_token; right key → through', async () => {
    const none = await post('/collections/imagery/items', '{"id":"a"}');
    assert.equal(none.status, 401);
    assert.match(none.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="starweather"');
    assert.equal(((await none.json()) as { code: string }).code, 'SW_ERR_UNAUTHORIZED');

    for (const auth of [`Bearer ${KEY}x`, `Bearer ${KEY.slice(0, -1)}`, 'Bearer x']) {
      const wrong = await post('/collections/imagery/items', '{"id":"b"}', { authorization: auth });
      assert.equal(wrong.status, 401);
      assert.match(wrong.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
      assert.equal(((await wrong.json()) as { code: string }).code, 'SW_ERR_INVALID_TOKEN');
    }
    const basic = await post('/collections/imagery/items', '{"id":"c"}', { authorization: `Basic ${Buffer.from(`x:${KEY}`).toString('base64')}` });
    assert.equal(basic.status, 401, 'only the Bearer scheme carries the key');
    assert.deepEqual(writes, []);

    const ok = await post('/collections/imagery/items', '{"id":"d"}', { authorization: `Bearer ${KEY}` });
    assert.equal(ok.status, 202);
    assert.deepEqual(writes, ['d']);
  });

  it('oversized bodies → 413 problem+json; without a key the body is not even read (401)', async () => {
    const big = JSON.stringify({ id: 'big', pad: 'x'.repeat(DEFAULT_BODY_LIMITS.item) });
    const withKey = await post('/collections/imagery/items', big, { authorization: `Bearer ${KEY}` });
    assert.equal(withKey.status, 413);
    assert.match(withKey.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.equal(((await withKey.json()) as { code: string }).code, 'SW_ERR_TOO_LARGE');
    const noKey = await post('/collections/imagery/items', big);
    assert.equal(noKey.status, 401);
    // An item of 200 KiB is fine on the item route, and too large for a small-limit route.
    const mid = JSON.stringify({ id: 'mid', pad: 'x'.repeat(200 * 1024) });
    assert.equal((await post('/collections/imagery/items', mid, { authorization: `Bearer ${KEY}` })).status, 202);
    const small = await post('/search', mid);
    assert.equal(small.status, 413);
    assert.match(small.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.deepEqual(writes.filter((w) => w === 'big'), []);
  });
});

/** Resolves with the HTTP status of a refused upgrade, or 101 when the websocket opened. */
function wsStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => {
      resolve(101);
      ws.close();
    });
    ws.on('error', (err) => reject(err));
  });
}

describe('R11 on the gateway: websocket access, OpenAPI, bursts', () => {
  const TOKEN = 'r11-ws-token-abcdef0123456789';
  const API_KEY = 'r11-gateway-key-0123456789abcdef';
  const ORIGIN = 'https://dash.example';
  let h: GatewayHarness;
  before(async () => {
    h = await startGatewayHarness({
      count: 1,
      env: {
        STARWEATHER_WS_TOKEN: TOKEN,
        STARWEATHER_WS_ALLOWED_ORIGINS: ORIGIN,
        STARWEATHER_API_KEY: API_KEY,
        STARWEATHER_RATE_LIMIT_MAX: '60',
        STARWEATHER_RATE_LIMIT_WINDOW_MS: '60000',
      },
    });
  });
  after(() => h?.close());

  it('a websocket without a token, with a wrong one, or from a bad Origin is refused before the upgrade', async () => {
    const url = `ws://127.0.0.1:${h.port}/ws`;
    assert.equal(await wsStatus(url, { origin: ORIGIN }), 401, 'no token');
    assert.equal(await wsStatus(`${url}?token=wrong`, { origin: ORIGIN }), 401, 'wrong token');
    assert.equal(await wsStatus(url, { origin: ORIGIN, authorization: 'Bearer wrong' }), 401, 'wrong bearer');
    assert.equal(await wsStatus(`${url}?token=${TOKEN}`, { origin: 'https://evil.example' }), 403, 'bad origin');
    assert.equal(await wsStatus(`${url}?token=${TOKEN}`, { origin: 'null' }), 403, 'opaque origin');
    assert.equal(await wsStatus(`${url}?token=${TOKEN}`, { origin: ORIGIN }), 101, 'control: token and origin right');
    assert.equal(await wsStatus(url, { origin: ORIGIN, authorization: `Bearer ${TOKEN}` }), 101, 'control: bearer token');
  });

  it('GET /api serves the OpenAPI 3.0 document', async () => {
    const res = await fetch(`${h.base}/api`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), OPENAPI_CONTENT_TYPE);
    const doc = (await res.json()) as { openapi: string; info: { title: string }; paths: Record<string, unknown>; components: { securitySchemes: Record<string, unknown> } };
    assert.match(doc.openapi, /^3\.0\./);
    assert.equal(doc.info.title, 'StarWeather API');
    assert.ok(doc.paths['/satellites/{noradId}'] ?? doc.paths['/satellites/{id}'] ?? Object.keys(doc.paths).some((p) => p.startsWith('/satellites')), Object.keys(doc.paths).join(' '));
    // The websocket upgrade is documented as the HTTP GET it is (101), its messages by link (issue 16 part 7); never as a REST answer.
    const ws = (doc.paths['/ws'] as { get?: { responses: Record<string, unknown>; externalDocs?: { url: string } } } | undefined)?.get;
    assert.ok(ws?.responses['101'] && !ws.responses['200'], 'the websocket upgrade is documented as a 101');
    assert.ok(ws.externalDocs?.url, 'the websocket protocol is linked');
    assert.equal(doc.paths['/api'], undefined);
    assert.ok(doc.components.securitySchemes.bearerAuth);
    // Write operations carry the bearer requirement; reads do not.
    const ops = Object.entries(doc.paths as Record<string, Record<string, { security?: unknown[] }>>).flatMap(([path, methods]) => Object.entries(methods).map(([m, op]) => ({ path, m, secured: Array.isArray(op.security) && op.security.length > 0 })));
    const writes = ops.filter((o) => ['post', 'put', 'delete'].includes(o.m) && o.path.includes('/items'));
    assert.ok(writes.length >= 3, JSON.stringify(ops));
    assert.ok(writes.every((o) => o.secured), JSON.stringify(writes));
    assert.ok(ops.filter((o) => o.m === 'get').every((o) => !o.secured));
  });

  const item = (id: string, href: string): Record<string, unknown> => ({
    type: 'Feature',
    stac_version: '1.0.0',
    id,
    geometry: { type: 'Point', coordinates: [0, 0] },
    bbox: [0, 0, 0, 0],
    properties: { datetime: '2026-11-25T18:00:00Z' },
    links: [],
    assets: { data: { href, type: 'application/netcdf' } },
  });
  const postItem = (body: string, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${h.base}/collections/imagery/items`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });

  it('the transaction endpoint: no key 401, wrong key 401, oversized 413, SSRF href 400 naming why — and no task for any', async () => {
    const good = JSON.stringify(item('r11-auth', 'https://noaa-goes19.s3.amazonaws.com/ABI-L1b-RadF/x.nc'));
    const none = await postItem(good);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="starweather"');
    assert.match(none.headers.get('content-type') ?? '', /application\/problem\+json/);
    const wrong = await postItem(good, { authorization: 'Bearer not-the-key-0123456789' });
    assert.equal(wrong.status, 401);
    assert.match(wrong.headers.get('www-authenticate') ?? '', /invalid_token/);

    const huge = JSON.stringify({ ...item('r11-huge', 'https://noaa-goes19.s3.amazonaws.com/x.nc'), pad: 'x'.repeat(DEFAULT_BODY_LIMITS.itemCollection) });
    const big = await postItem(huge, { authorization: `Bearer ${API_KEY}` });
    assert.equal(big.status, 413);
    assert.match(big.headers.get('content-type') ?? '', /application\/problem\+json/);

    for (const [id, href, why] of [
      ['r11-meta', 'https://169.254.169.254/latest/meta-data/', /literal IP/],
      ['r11-loop', 'https://2130706433/x.nc', /literal IP/],
      ['r11-http', 'http://noaa-goes19.s3.amazonaws.com/x.nc', /scheme http/],
      ['r11-file', 'file:///etc/passwd', /file/],
      ['r11-host', 'https://evil.example/x.nc', /not on the asset allow list/],
    ] as const) {
      const res = await postItem(JSON.stringify(item(id, href)), { authorization: `Bearer ${API_KEY}` });
      assert.equal(res.status, 400, `${href}: ${res.status}`);
      const p = (await res.json()) as { detail: string };
      assert.match(p.detail, why, p.detail);
    }
    for (const id of ['r11-auth', 'r11-huge', 'r11-meta', 'r11-loop', 'r11-http', 'r11-file', 'r11-host']) {
      const t = await fetch(`${h.base}/tasks/${encodeURIComponent(`stac:imagery:${id}`)}`);
      assert.equal(t.status, 404, `a task exists for refused item ${id}`);
      await t.arrayBuffer();
    }
  });

  it('a connection that sends nothing, or half a request, is closed (connectionTimeout), not held forever', async () => {
    const closedAfter = (partial: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const t0 = Date.now();
        const sock = connect(h.port, '127.0.0.1', () => {
          if (partial) sock.write(partial);
        });
        const guard = setTimeout(() => {
          sock.destroy();
          reject(new Error('the gateway kept an idle connection open for 25 s'));
        }, 25_000);
        sock.on('data', () => {});
        sock.on('error', () => {});
        sock.on('close', () => {
          clearTimeout(guard);
          resolve(Date.now() - t0);
        });
      });
    const [idle, half] = await Promise.all([closedAfter(''), closedAfter('GET /api HTTP/1.1\r\nHost: x\r\n')]);
    assert.ok(idle >= HTTP_LIMITS.connectionTimeoutMs - 1000, `closed after ${idle} ms`);
    assert.ok(half >= HTTP_LIMITS.connectionTimeoutMs - 1000, `closed after ${half} ms`);
  });

  it('a burst above the rate limit gets 429 problem+json with Retry-After; /health stays exempt', async () => {
    const statuses: number[] = [];
    let limited: Response | null = null;
    for (let i = 0; i < 80; i++) {
      const res = await fetch(`${h.base}/api`);
      statuses.push(res.status);
      if (res.status === 429 && !limited) limited = res;
      else await res.arrayBuffer();
    }
    assert.ok(statuses.includes(429), statuses.join(','));
    assert.ok(statuses.filter((s) => s === 200).length <= 60);
    assert.match(limited!.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.ok(limited!.headers.get('retry-after'));
    assert.equal(((await limited!.json()) as { code: string }).code, 'SW_ERR_RATE_LIMITED');
    // /health is exempt from the limit (this harness has no supervisor, so it may answer 503, never 429).
    assert.notEqual((await fetch(`${h.base}/health`)).status, 429);
  });
});
