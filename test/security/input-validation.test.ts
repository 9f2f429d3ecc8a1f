/**
 * Input validation findings of the gateway security review: bad input is a
 * 400 problem+json with a stable code, never a 500, and never costs another
 * request its accepted data.
 *
 * - Group commit: an item that cannot be stored (nested past JSON.stringify's
 *   stack, or holding U+0000, which PostgreSQL refuses) fails alone; the
 *   other registrations of its batch commit. Checked on the batcher itself
 *   (the HTTP validation now stops such items earlier) and through a real
 *   gateway, on PostgreSQL.
 * - Non-finite numbers (ajv coerces `Infinity`, `1e400` in a query string),
 *   NUL bytes in text parameters, out-of-range paging tokens and over-deep
 *   search bodies are 400s.
 * - Item ids `.` and `..` are refused; the stored asset href is the
 *   normalised one the SSRF check parsed; `..foo.nc` inside the asset root
 *   is a file inside the root.
 *
 * Each refusal has a positive control beside it, so a check that refuses
 * everything fails too.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { HttpProblem } from '../../actors/gateway/errors.js';
import { checkAssetHref, isUnder, readAssetFile, type AssetPolicy } from '../../actors/gateway/ssrf.js';
import { RegistrationBatcher, type BatchResult } from '../../actors/gateway/stac/batcher.js';
import type { Database } from '../../actors/storage/db.js';
import type { StacDoc } from '../../actors/storage/stac.js';
import { startGatewayHarness, type GatewayHarness } from '../helpers/gateway-harness.js';
import { testItem } from '../helpers/stac-app.js';
import { PG_URL } from '../helpers/storage-backends.js';

/** `n` arrays nested in each other, as JSON text. */
const deepJson = (n: number): string => '['.repeat(n) + ']'.repeat(n);

/** A value nested `n` levels deep (JSON.stringify throws RangeError on it well before 10,000). */
function deepValue(n: number): unknown {
  let v: unknown = [];
  for (let i = 1; i < n; i++) v = [v];
  return v;
}

const isProblem400 = (err: unknown): boolean => err instanceof HttpProblem && err.status === 400;

/**
 * 30 valid registrations, one nested 10,000 deep and one holding U+0000,
 * registered in one tick (one batch) on `db` (its collections created): the
 * 30 are stored with their tasks, the two are refused with 400. On the
 * batcher itself: the gateway's validation now stops both kinds first.
 */
async function groupCommitIsolates(db: Database, tag: string): Promise<void> {
  const batcher = new RegistrationBatcher(async () => db);
  const plan = (doc: Record<string, unknown>) => ({ doc: { ...doc, collection: 'imagery' } as unknown as StacDoc, taskId: `stac:imagery:${String(doc.id)}`, queue: 'weather' as const });
  const valid = Array.from({ length: 30 }, (_, i) => testItem(`gc-${tag}-${i}`, { lon: i, lat: 0 }));
  const deep = testItem(`gc-${tag}-deep`, { lon: 0, lat: 0, props: { deep: deepValue(10_000) } });
  // Serialises fine; the database refuses it inside the batch's statement (22P05), so the batch must be split to find it.
  const nul = testItem(`gc-${tag}-nul`, { lon: 0, lat: 0, props: { title: 'a\u0000b' } });
  const all = [...valid.slice(0, 15), deep, ...valid.slice(15, 25), nul, ...valid.slice(25)];
  const settled = await Promise.allSettled(all.map((d) => batcher.register(plan(d))));
  assert.equal(batcher.stats().batches, 1, 'the test needs them in one batch');
  const byId = new Map(settled.map((s, n) => [all[n]!.id as string, s]));
  for (const d of valid) {
    const s = byId.get(d.id as string)!;
    assert.equal(s.status, 'fulfilled', `${String(d.id)}: ${s.status === 'rejected' ? String(s.reason) : ''}`);
    assert.deepEqual((s as PromiseFulfilledResult<BatchResult>).value, { conflict: false, created: true, status: 'queued' });
  }
  for (const bad of [deep, nul]) {
    const s = byId.get(bad.id as string)!;
    assert.equal(s.status, 'rejected', `${String(bad.id)} was stored`);
    assert.ok(isProblem400((s as PromiseRejectedResult).reason), `${String(bad.id)}: ${String((s as PromiseRejectedResult).reason)}`);
  }
  const stored = await db.query<{ id: string }>(`SELECT id FROM stac_items WHERE id LIKE $1`, [`gc-${tag}-%`]);
  assert.deepEqual(stored.rows.map((r) => r.id).sort(), valid.map((d) => d.id as string).sort());
  const tasks = await db.query<{ n: string }>(`SELECT count(*) AS n FROM tasks WHERE id LIKE $1`, [`stac:imagery:gc-${tag}-%`]);
  assert.equal(Number(tasks.rows[0]!.n), 30, 'a task row for each stored item, none for the refused ones');
}

/** A database of its own on the local PostgreSQL, for a gateway whose storage takes a URL (not a schema). */
async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `sw_iv_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string): Promise<void> => {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return { url: url.href, drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

describe('the gateway refuses bad input with 400 problem+json', () => {
  const API_KEY = 'iv-gateway-key-0123456789abcdef';
  let h: GatewayHarness;
  let db: { url: string; drop(): Promise<void> };
  before(async () => {
    // PostgreSQL, where the NUL byte was refused with a 500; it also starts in a fraction of PGlite's time.
    db = await freshDatabase();
    h = await startGatewayHarness({ count: 1, env: { DATABASE_URL: db.url, STARWEATHER_API_KEY: API_KEY, STARWEATHER_RATE_LIMIT_MAX: '100000' } });
  });
  after(async () => {
    await h?.close();
    await db?.drop();
  });

  const write = (method: string, path: string, body: string): Promise<Response> =>
    fetch(`${h.base}${path}`, { method, body, headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` } });
  const postItem = (body: string): Promise<Response> => write('POST', '/collections/imagery/items', body);
  const item = (id: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ ...testItem(id, { lon: 10, lat: 10 }), ...extra });

  /** Asserts a 400 problem+json and returns its detail. */
  async function expect400(res: Response, what: string): Promise<string> {
    const text = await res.text();
    assert.equal(res.status, 400, `${what}: ${res.status} ${text.slice(0, 300)}`);
    assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/, what);
    const p = JSON.parse(text) as { code: string; detail: string };
    assert.equal(p.code, 'SW_ERR_INVALID_ARGUMENT', what);
    return p.detail;
  }

  it('group commit: 30 valid registrations, one nested 10,000 deep and one holding U+0000, in one batch: 30 stored, 2 refused with 400', () => groupCommitIsolates(h.storage.db, 'gc'));

  it('30 concurrent valid POSTs and one nested 10,000 deep: 30 × 202, the deep one alone 400', async () => {
    const poison = JSON.stringify(item('iv-poison')).replace('"datetime"', `"deep":${deepJson(10_000)},"datetime"`);
    const valid = Array.from({ length: 30 }, (_, i) => JSON.stringify(item(`iv-ok-${i}`)));
    const answers = await Promise.all([...valid.slice(0, 20).map(postItem), postItem(poison), ...valid.slice(20).map(postItem)]);
    const poisonRes = answers.splice(20, 1)[0]!;
    const statuses = await Promise.all(answers.map(async (r) => `${r.status}${r.status === 202 ? '' : ` ${(await r.text()).slice(0, 200)}`}`));
    assert.deepEqual(statuses, Array(30).fill('202'));
    assert.match(await expect400(poisonRes, 'deep item'), /properties\.deep.*nested deeper than 64 levels/);
    for (let i = 0; i < 30; i++) assert.equal((await fetch(`${h.base}/collections/imagery/items/iv-ok-${i}`)).status, 200);
    assert.equal((await fetch(`${h.base}/collections/imagery/items/iv-poison`)).status, 404);
    assert.equal((await fetch(`${h.base}/tasks/${encodeURIComponent('stac:imagery:iv-poison')}`)).status, 404);
  });

  it('a deep item by PUT, a U+0000 string, an out-of-range number, and a U+0000 item inside an ItemCollection: 400', async () => {
    assert.match(await expect400(await write('PUT', '/collections/imagery/items/iv-ok-0', JSON.stringify(item('iv-ok-0')).replace('"datetime"', `"deep":${deepJson(10_000)},"datetime"`)), 'deep PUT'), /nested deeper/);
    assert.match(await expect400(await postItem(JSON.stringify(item('iv-nul', { properties: { datetime: '2026-01-01T00:00:00Z', title: 'a\u0000b' } }))), 'NUL string'), /properties\.title.*NUL/);
    // JSON.parse reads 1e400 as Infinity, which would be stored as null.
    assert.match(await expect400(await postItem(JSON.stringify(item('iv-inf')).replace('"datetime"', '"gsd":1e400,"datetime"')), 'overflowing number'), /properties\.gsd.*not finite/);
    const bulk = { type: 'FeatureCollection', features: [item('iv-bulk-a'), item('iv-bulk-b', { properties: { datetime: '2026-01-01T00:00:00Z', 'a\u0000': 1 } })] };
    assert.match(await expect400(await postItem(JSON.stringify(bulk)), 'NUL key in bulk'), /features\.1\..*NUL/);
    assert.equal((await fetch(`${h.base}/collections/imagery/items/iv-bulk-a`)).status, 404, 'an ItemCollection stays all or nothing');
    // Control: 64 levels is within the limit.
    const ok = await postItem(JSON.stringify(item('iv-depth-ok')).replace('"datetime"', `"deep":${deepJson(62)},"datetime"`));
    assert.equal(ok.status, 202, await ok.text());
  });

  it('GET /satellites with a NUL byte in q, or an integer parameter of Infinity: 400; control: a plain q is 200', async () => {
    assert.match(await expect400(await fetch(`${h.base}/satellites?q=a%00b`), 'q NUL'), /querystring parameter q: .*NUL/);
    // ajv's integer check lets a coerced Infinity through as well (Infinity % 1 is NaN, not 0).
    for (const q of ['limit=Infinity', 'id=1e400']) assert.match(await expect400(await fetch(`${h.base}/satellites?${q}`), q), /must be a finite number/);
    const ok = await fetch(`${h.base}/satellites?q=${encodeURIComponent(h.objects[0]!.name.slice(0, 4))}`);
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { count: number }).count >= 1, true);
  });

  it('passes with lat, lon, alt or minEl of Infinity, -Infinity or 1e400: 400; control: finite values are 200', async () => {
    const id = h.objects[0]!.noradId;
    for (const [param, value] of [
      ['lat', 'Infinity'],
      ['lat', '-Infinity'],
      ['lat', '1e400'],
      ['lon', '1e400'],
      ['alt', 'Infinity'],
      ['minEl', '-1e400'],
    ] as const) {
      const q = new URLSearchParams({ lat: '10', lon: '20', [param]: value });
      assert.match(await expect400(await fetch(`${h.base}/satellites/${id}/passes?${q}`), `${param}=${value}`), new RegExp(`querystring parameter ${param}: must be a finite number`));
    }
    const ok = await fetch(`${h.base}/satellites/${id}/passes?lat=10&lon=20`);
    assert.equal(ok.status, 200);
    assert.deepEqual(((await ok.json()) as { observer: unknown }).observer, { latDeg: 10, lonDeg: 20, altKm: 0 });
  });

  it('every route refuses a non-finite number parameter, not only the satellite routes: GET /alerts?limit=Infinity is 400; control: limit=5 is 200', async () => {
    assert.match(await expect400(await fetch(`${h.base}/alerts?limit=Infinity`), 'alerts limit'), /querystring parameter limit: must be a finite number/);
    assert.equal((await fetch(`${h.base}/alerts?limit=5`)).status, 200);
  });

  it('a paging token holding 1e308 (or a fraction): 400 on GET /search, POST /search and the items route; control: an issued token pages', async () => {
    const token = (dt: unknown): string => Buffer.from(JSON.stringify([dt, 'imagery', 'iv-ok-0'])).toString('base64url');
    for (const dt of [1e308, -1e308, 8.64e15 + 1, 1.5]) {
      await expect400(await fetch(`${h.base}/search?token=${token(dt)}`), `GET /search token ${dt}`);
      await expect400(await fetch(`${h.base}/collections/imagery/items?token=${token(dt)}`), `items token ${dt}`);
      await expect400(await fetch(`${h.base}/search`, { method: 'POST', body: JSON.stringify({ token: token(dt) }), headers: { 'content-type': 'application/json' } }), `POST /search token ${dt}`);
    }
    const first = (await (await fetch(`${h.base}/search?limit=1`)).json()) as { links: Array<{ rel: string; href: string }> };
    const next = first.links.find((l) => l.rel === 'next');
    assert.ok(next, 'a next link');
    assert.equal((await fetch(next.href)).status, 200);
  });

  it('a search body or intersects nested past the limit: 400; control: a next link echoes a shallow POST body', async () => {
    const deepGeom = `{"type":"Point","coordinates":[10,10],"x":${deepJson(10_000)}}`;
    for (const body of [`{"limit":1,"intersects":${deepGeom}}`, `{"limit":${deepJson(10_000)}}`]) {
      assert.match(await expect400(await fetch(`${h.base}/search`, { method: 'POST', body, headers: { 'content-type': 'application/json' } }), body.slice(0, 40)), /nested deeper than 64 levels/);
    }
    // 100 levels fit in a URL (10,000 would be a 431 for the header size).
    const get = await fetch(`${h.base}/search?intersects=${encodeURIComponent(`{"type":"Point","coordinates":[10,10],"x":${deepJson(100)}}`)}`);
    assert.match(await expect400(get, 'GET intersects'), /intersects: .*nested deeper than 64 levels/);
    const ok = await fetch(`${h.base}/search`, { method: 'POST', body: JSON.stringify({ limit: 1, intersects: { type: 'Point', coordinates: [10, 10] } }), headers: { 'content-type': 'application/json' } });
    assert.equal(ok.status, 200);
    const page = (await ok.json()) as { links: Array<{ rel: string; body?: { intersects?: unknown } }> };
    assert.deepEqual(page.links.find((l) => l.rel === 'next')?.body?.intersects, { type: 'Point', coordinates: [10, 10] });
  });

  it('item ids "." and "..": 400; control: ids with dots are fine', async () => {
    for (const id of ['.', '..']) assert.match(await expect400(await postItem(JSON.stringify(item(id))), `id ${id}`), /item id must not be/);
    for (const id of ['...', '.hidden', 'a..b']) {
      const r = await postItem(JSON.stringify(item(id)));
      assert.equal(r.status, 202, `${id}: ${await r.text()}`);
    }
  });

  it('an asset href is stored as the URL the SSRF check parsed, not as sent', async () => {
    const raw = 'https://noaa-goes19.s3.amazonaws.com\\@evil.com/x.nc';
    const checked = new URL(raw).href;
    assert.equal(new URL(raw).hostname, 'noaa-goes19.s3.amazonaws.com', 'the premise: WHATWG reads the allowed host');
    const r = await postItem(JSON.stringify(item('iv-backslash', { assets: { data: { href: raw, type: 'application/netcdf' } } })));
    assert.equal(r.status, 202, await r.text());
    const stored = (await (await fetch(`${h.base}/collections/imagery/items/iv-backslash`)).json()) as { assets: { data: { href: string } } };
    assert.equal(stored.assets.data.href, checked);
    assert.ok(!stored.assets.data.href.includes('\\'));
    // An identical re-POST is still the same item (idempotent), not a conflict with its normalised copy.
    const again = await postItem(JSON.stringify(item('iv-backslash', { assets: { data: { href: raw, type: 'application/netcdf' } } })));
    assert.equal(again.status, 202, await again.text());
  });
});

describe('asset root: traversal is decided on path segments', () => {
  const base = mkdtempSync(join(tmpdir(), 'sw-iv-'));
  const root = join(base, 'assets');
  before(() => {
    mkdirSync(join(root, 'goes19'), { recursive: true });
    writeFileSync(join(root, '..foo.nc'), 'dotdot-name');
    writeFileSync(join(root, 'goes19', '..bar.nc'), 'nested');
    writeFileSync(join(base, 'secret.txt'), 'SECRET');
  });
  after(() => rmSync(base, { recursive: true, force: true }));
  const policy: AssetPolicy = { schemes: ['https'], hosts: [], fileRoot: root };
  const url = (rel: string): string => `${pathToFileURL(root).href}/${rel}`;

  it('files whose names begin with .. inside the root are accepted and read', async () => {
    assert.equal(isUnder(root, join(root, '..foo.nc')), true);
    for (const [rel, body] of [['..foo.nc', 'dotdot-name'], ['goes19/..bar.nc', 'nested']] as const) {
      assert.equal(checkAssetHref(url(rel), policy).ok, true, rel);
      const r = await readAssetFile(url(rel), policy, { maxBytes: 1024 });
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.body.toString(), body);
    }
  });

  it('control: .. as a segment still leaves the root and is refused', async () => {
    assert.equal(isUnder(root, base), false);
    assert.equal(isUnder(root, join(base, 'secret.txt')), false);
    assert.equal(isUnder(root, `${root}-sibling`), false);
    for (const rel of ['../secret.txt', 'goes19/../../secret.txt', '%2e%2e/secret.txt']) {
      const r = await readAssetFile(url(rel), policy, { maxBytes: 1024 });
      assert.ok(!r.ok, `${rel} was read`);
    }
  });
});
