/**
 * The OpenAPI document the gateway serves at /api (issue 16 part 7):
 * - it is a valid OpenAPI 3.0 document (@seriousme/openapi-schema-validator,
 *   the published OpenAPI 3.0 JSON schema, an implementation independent of
 *   @fastify/swagger that wrote it);
 * - every operation has an operationId (unique, camelCase), a summary, a
 *   tag, a 2xx answer, and its error answers as the one shared problem
 *   schema; the document has servers, and /ws links the websocket protocol;
 * - every documented answer matches a real one: real requests against a
 *   real gateway (gateway-harness.ts: the gateway role's host, seeded
 *   catalog, embedded bus) cover a success and an error of every operation,
 *   and each answer's status must be documented for its operation, its
 *   media type listed for that status, and its body valid against the
 *   documented schema (ajv, reading the schemas out of the served document
 *   itself, `nullable` included), or empty where none is documented.
 */
import { trackFix } from '../../actors/tile/pipeline/storm-tracks.js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { Ajv, type ValidateFunction } from 'ajv';
import formatsModule from 'ajv-formats';
import { Validator } from '@seriousme/openapi-schema-validator';
import { startGatewayHarness, type GatewayHarness } from '../helpers/gateway-harness.js';
import { testItem } from '../helpers/stac-app.js';
import type { HealthReport } from '../../supervisor/http.js';
import { failTask } from '../../actors/storage/tasks.js';
import { recordDeadLetter } from '../../actors/storage/dead-letters.js';
import { putProduct } from '../../actors/storage/tile-results.js';
import { loadSnapshot } from '../../actors/tracker/snapshot.js';

// ajv-formats is CommonJS with a default export; NodeNext sees the module object.
const addFormats = ((formatsModule as unknown as { default?: unknown }).default ?? formatsModule) as (a: Ajv) => Ajv;

const KEY = 'openapi-test-key-0123456789abcdef';
const JSON_TYPES = new Set(['application/json', 'application/geo+json', 'application/problem+json', 'application/vnd.oai.openapi+json']);

type Responses = Record<string, { description: string; content?: Record<string, { schema: unknown }> }>;
interface Operation {
  operationId?: string;
  summary?: string;
  tags?: string[];
  responses: Responses;
  externalDocs?: { url: string };
}
interface Doc {
  openapi: string;
  servers?: Array<{ url: string }>;
  tags?: Array<{ name: string }>;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
}

/** JSON Pointer escaping (RFC 6901). */
const esc = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');

interface Sample {
  method: string;
  /** The OpenAPI path template of the operation this request is for. */
  op: string;
  path: string;
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

describe('OpenAPI document (GET /api)', () => {
  let h: GatewayHarness;
  let doc: Doc;
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  // OpenAPI's binary strings (images) are bytes, not checked as JSON.
  ajv.addFormat('binary', true);
  const compiled = new Map<string, ValidateFunction>();
  /** method + template → the kinds of answer seen: 'ok' (2xx/101/304) and 'error'. */
  const seen = new Map<string, Set<string>>();
  let degraded = false;

  const report = (): HealthReport => ({
    status: degraded ? 'degraded' : 'ok',
    nodeId: 'openapi-test',
    roles: ['gateway'],
    transport: { kind: 'embedded', connected: true },
    hosts: [],
    problems: degraded ? ['tracker host down'] : [],
    slowHosts: [],
    dependencies: [],
    stalledQueues: [],
    invalidIpcMessages: 0,
    kernels: null,
    at: Date.now(),
  });

  before(async () => {
    h = await startGatewayHarness({
      count: 5,
      // No shedding: a loaded CI machine's start-up delay would answer 503 for the samples that expect a success.
      env: { STARWEATHER_API_KEY: KEY, STARWEATHER_RATE_LIMIT_MAX: '100000', STARWEATHER_SHED_EVENT_LOOP_DELAY_MS: '0' },
      nodeView: {
        health: async () => report() as unknown as { status: 'ok' | 'degraded' } & Record<string, unknown>,
        metrics: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: '# HELP sw_up 1 while up\n# TYPE sw_up gauge\nsw_up 1\n' }),
      },
    });
    const r = await fetch(`${h.base}/api`);
    assert.equal(r.status, 200);
    doc = (await r.json()) as Doc;
    ajv.addSchema(doc as unknown as object, 'openapi.json');
  });
  after(async () => {
    await h?.close();
  });

  const operations = (): Array<[string, string, Operation]> => Object.entries(doc.paths).flatMap(([p, ops]) => Object.entries(ops).map(([m, op]) => [m, p, op] as [string, string, Operation]));

  test('validates as OpenAPI 3.0 and has servers, tags and the problem schema', async () => {
    const result = await new Validator().validate(doc as unknown as Parameters<Validator["validate"]>[0]);
    assert.equal(result.valid, true, JSON.stringify(result.errors)?.slice(0, 2000));
    assert.match(doc.openapi, /^3\.0\./);
    assert.ok(doc.servers && doc.servers.length > 0, 'servers');
    const problem = doc.components.schemas.Problem as { required?: string[] };
    assert.deepEqual([...(problem.required ?? [])].sort(), ['code', 'status', 'title', 'type']);
  });

  test('every operation: unique camelCase operationId, summary, known tag, a 2xx, and problem+json errors', () => {
    const ids = new Set<string>();
    const tagNames = new Set((doc.tags ?? []).map((t) => t.name));
    assert.ok(operations().length >= 25, `${operations().length} operations`);
    for (const [m, p, op] of operations()) {
      const where = `${m.toUpperCase()} ${p}`;
      assert.match(op.operationId ?? '', /^[a-z][A-Za-z0-9]*$/, `${where} operationId`);
      assert.ok(!ids.has(op.operationId!), `${where}: operationId ${op.operationId} is not unique`);
      ids.add(op.operationId!);
      assert.ok(op.summary && op.summary.length > 0, `${where} summary`);
      assert.ok(op.tags && op.tags.length > 0, `${where} tags`);
      for (const t of op.tags) if (!tagNames.has(t)) assert.fail(`${where}: tag ${t} is not described in the document's tags`);
      const statuses = Object.keys(op.responses);
      assert.ok(statuses.some((s) => /^(2\d\d|101)$/.test(s)), `${where}: no success answer (${statuses})`);
      for (const s of ['400', '503', 'default']) assert.ok(op.responses[s], `${where}: no ${s}`);
      for (const [s, r] of Object.entries(op.responses)) {
        if (!(s === 'default' || Number(s) >= 400)) continue;
        // An error answer has the shared problem schema, or (the websocket plugin's plain-GET 404) no body at all.
        if (!r.content) continue;
        const problem = r.content['application/problem+json'];
        assert.ok(problem, `${where} ${s}: no application/problem+json`);
        assert.deepEqual(problem.schema, { $ref: '#/components/schemas/Problem' }, `${where} ${s}`);
      }
      // A success with a body must say what the body is (swagger's placeholder for a route without one is a 200 without content).
      for (const [s, r] of Object.entries(op.responses)) if (/^2\d\d$/.test(s) && s !== '204' && !r.content) assert.fail(`${where}: ${s} without a documented body`);
    }
    const ws = doc.paths['/ws']?.get;
    assert.ok(ws, '/ws is in the document');
    assert.ok(ws.responses['101'], '/ws documents its 101');
    assert.match(ws.externalDocs?.url ?? '', /^\/api\/protocol\.md#websocket-api-gateway-ws$/);
  });

  test('the websocket protocol the document links is served and has the linked section', async () => {
    const r = await fetch(`${h.base}${doc.paths['/ws']!.get!.externalDocs!.url.split('#')[0]}`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/markdown/);
    const text = await r.text();
    // GitHub's anchor of the heading "Websocket API (gateway `/ws`)".
    assert.match(text, /^## Websocket API \(gateway `\/ws`\)$/m);
    assert.match(text, /### `ws\.client` v1/);
  });

  /** Send one sample and hold its answer to the document. */
  async function check(s: Sample): Promise<{ status: number; headers: Headers; body: Buffer }> {
    const res = await fetch(`${h.base}${s.path}`, { method: s.method, headers: s.headers ?? {}, ...(s.body !== undefined ? { body: s.body } : {}) });
    const body = Buffer.from(await res.arrayBuffer());
    const where = `${s.method} ${s.path} → ${res.status}`;
    assert.equal(res.status, s.status, `${where}: ${body.toString('utf8').slice(0, 300)}`);
    const op = doc.paths[s.op]?.[s.method.toLowerCase()];
    assert.ok(op, `${s.method} ${s.op} is in the document`);
    const key = res.status >= 400 && !op.responses[String(res.status)] ? 'default' : String(res.status);
    const documented = op.responses[key];
    assert.ok(documented, `${where}: status not documented for ${s.method} ${s.op}`);
    const kinds = seen.get(`${s.method.toLowerCase()} ${s.op}`) ?? new Set<string>();
    kinds.add(res.status >= 400 ? 'error' : 'ok');
    seen.set(`${s.method.toLowerCase()} ${s.op}`, kinds);
    if (!documented.content) {
      assert.equal(body.length, 0, `${where}: documented without a body, answered ${body.length} bytes`);
      return { status: res.status, headers: res.headers, body };
    }
    const media = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    assert.ok(documented.content[media], `${where}: media type ${media} not documented (${Object.keys(documented.content).join(', ')})`);
    const pointer = `openapi.json#/paths/${esc(s.op)}/${s.method.toLowerCase()}/responses/${key}/content/${esc(media)}/schema`;
    let validate = compiled.get(pointer);
    if (!validate) {
      validate = ajv.compile({ $ref: pointer });
      compiled.set(pointer, validate);
    }
    const value: unknown = JSON_TYPES.has(media) ? JSON.parse(body.toString('utf8')) : body.toString('latin1');
    assert.ok(validate(value), `${where}: body does not match the documented schema: ${ajv.errorsText(validate.errors)}\n${body.toString('utf8').slice(0, 400)}`);
    return { status: res.status, headers: res.headers, body };
  }

  const auth = { authorization: `Bearer ${KEY}` };
  const jsonAuth = { ...auth, 'content-type': 'application/json' };
  const NUL = '?x=%00';

  test('REST: health, metrics, satellites, alerts, cluster, ingest status', async () => {
    const id = h.objects[0]!.noradId;
    h.publishTick();
    await check({ method: 'GET', op: '/health', path: '/health', status: 200 });
    degraded = true;
    await check({ method: 'GET', op: '/health', path: '/health', status: 503 });
    degraded = false;
    await check({ method: 'GET', op: '/health', path: `/health${NUL}`, status: 400 });
    await check({ method: 'GET', op: '/metrics', path: '/metrics', status: 200 });
    await check({ method: 'GET', op: '/metrics', path: `/metrics${NUL}`, status: 400 });
    await check({ method: 'GET', op: '/satellites', path: '/satellites?limit=2', status: 200 });
    await check({ method: 'GET', op: '/satellites', path: '/satellites?limit=0', status: 400 });
    await check({ method: 'GET', op: '/satellites/{id}', path: `/satellites/${id}`, status: 200 });
    await check({ method: 'GET', op: '/satellites/{id}', path: '/satellites/999999998', status: 404 });
    await check({ method: 'GET', op: '/satellites/{id}', path: `/satellites/${'9'.repeat(300)}`, status: 414 });
    await check({ method: 'GET', op: '/satellites/{id}/track', path: `/satellites/${id}/track?stepS=600`, status: 200 });
    await check({ method: 'GET', op: '/satellites/{id}/track', path: `/satellites/${id}/track?stepS=0`, status: 400 });
    await check({ method: 'GET', op: '/satellites/{id}/passes', path: `/satellites/${id}/passes?lat=52&lon=4&visible=true`, status: 200 });
    await check({ method: 'GET', op: '/satellites/{id}/passes', path: `/satellites/${id}/passes?lat=52`, status: 400 });
    await check({ method: 'GET', op: '/alerts', path: '/alerts?limit=5', status: 200 });
    await check({ method: 'GET', op: '/alerts', path: '/alerts?limit=0', status: 400 });
    // A storm track as the tile pipeline's finalize stores it.
    const storm = await trackFix(h.storage.db, { collection: 'imagery', itemId: 'oa-storm', platform: 'goes-19', observedAt: new Date('2026-08-15T18:00:00Z') }, { lat: 18, lon: -60, eyeTempK: null, cloudTempK: 210, scene: 'cdo', tNumber: 3.5, ci: 3.5, vmaxKt: 55, mslpHpa: 994 });
    await check({ method: 'GET', op: '/storms', path: '/storms?limit=5', status: 200 });
    await check({ method: 'GET', op: '/storms', path: '/storms?limit=0', status: 400 });
    await check({ method: 'GET', op: '/storms/{id}', path: `/storms/${storm.track.id}`, status: 200 });
    await check({ method: 'GET', op: '/storms/{id}', path: '/storms/TC-nope', status: 404 });
    await check({ method: 'GET', op: '/storms/{id}', path: `/storms/${'x'.repeat(300)}`, status: 414 });
    await check({ method: 'GET', op: '/cluster', path: '/cluster', status: 200 });
    await check({ method: 'GET', op: '/cluster', path: `/cluster${NUL}`, status: 400 });
    await check({ method: 'GET', op: '/ingest/status', path: '/ingest/status', status: 200 });
    await check({ method: 'GET', op: '/ingest/status', path: `/ingest/status${NUL}`, status: 400 });
  });

  test('exports: CZML, positions and the catalog files', async () => {
    for (const p of ['/czml', '/positions.geojson', '/catalog.json', '/catalog.csv', '/catalog.tle', '/catalog.3le']) {
      if (!doc.paths[p]) continue;
      await check({ method: 'GET', op: p, path: `${p}?group=testgroup`, status: 200 });
      await check({ method: 'GET', op: p, path: `${p}${NUL}`, status: 400 });
    }
  });

  test('STAC reads, transactions, tasks and products', async () => {
    const itemId = `oa-${randomBytes(4).toString('hex')}`;
    const item = testItem(itemId, { lon: -75, lat: 0 });
    await check({ method: 'GET', op: '/', path: '/', status: 200, headers: { accept: 'application/json' } });
    await check({ method: 'GET', op: '/', path: `/${NUL}`, status: 400, headers: { accept: 'application/json' } });
    await check({ method: 'GET', op: '/conformance', path: '/conformance', status: 200 });
    await check({ method: 'GET', op: '/conformance', path: `/conformance${NUL}`, status: 400 });
    await check({ method: 'GET', op: '/collections', path: '/collections', status: 200 });
    await check({ method: 'GET', op: '/collections', path: `/collections${NUL}`, status: 400 });
    await check({ method: 'GET', op: '/collections/{collectionId}', path: '/collections/imagery', status: 200 });
    await check({ method: 'GET', op: '/collections/{collectionId}', path: '/collections/nope', status: 404 });

    // Writes: refused without the key, accepted with it, a conflicting repeat refused.
    const items = '/collections/{collectionId}/items';
    await check({ method: 'POST', op: items, path: '/collections/imagery/items', status: 401, headers: { 'content-type': 'application/json' }, body: JSON.stringify(item) });
    const created = await check({ method: 'POST', op: items, path: '/collections/imagery/items', status: 202, headers: jsonAuth, body: JSON.stringify(item) });
    const taskId = (JSON.parse(created.body.toString('utf8')) as { taskId: string }).taskId;
    const changed = { ...item, properties: { ...(item.properties as object), 'sw:test': 1 } };
    await check({ method: 'POST', op: items, path: '/collections/imagery/items', status: 409, headers: jsonAuth, body: JSON.stringify(changed) });
    await check({ method: 'POST', op: items, path: '/collections/imagery/items', status: 415, headers: { ...auth, 'content-type': 'application/xml' }, body: '<item/>' });
    const bulk = { type: 'FeatureCollection', features: [testItem(`${itemId}-b1`, { lon: 10, lat: 10 }), testItem(`${itemId}-b2`, { lon: 11, lat: 11 })] };
    await check({ method: 'POST', op: items, path: '/collections/imagery/items', status: 202, headers: { ...auth, 'content-type': 'application/geo+json' }, body: JSON.stringify(bulk) });
    await check({ method: 'GET', op: items, path: '/collections/imagery/items?limit=2', status: 200 });
    await check({ method: 'GET', op: items, path: '/collections/nope/items', status: 404 });
    const one = '/collections/{collectionId}/items/{itemId}';
    await check({ method: 'GET', op: one, path: `/collections/imagery/items/${itemId}`, status: 200 });
    await check({ method: 'GET', op: one, path: '/collections/imagery/items/nope', status: 404 });
    await check({ method: 'PUT', op: one, path: `/collections/imagery/items/${itemId}`, status: 202, headers: jsonAuth, body: JSON.stringify(changed) });
    await check({ method: 'PUT', op: one, path: '/collections/imagery/items/nope', status: 400, headers: jsonAuth, body: JSON.stringify(changed) });
    await check({ method: 'GET', op: '/search', path: `/search?ids=${itemId}`, status: 200 });
    await check({ method: 'GET', op: '/search', path: '/search?bbox=1,2', status: 400 });
    await check({ method: 'POST', op: '/search', path: '/search', status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ collections: ['imagery'], limit: 1 }) });
    await check({ method: 'POST', op: '/search', path: '/search', status: 400, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ limit: 'many' }) });

    // The task of that registration; a retry of a task that is not failed is a conflict, of a failed one with its dead letter a re-drive.
    const task = `/tasks/${encodeURIComponent(taskId)}`;
    await check({ method: 'GET', op: '/tasks/{id}', path: task, status: 200 });
    await check({ method: 'GET', op: '/tasks/{id}', path: '/tasks/nope', status: 404 });
    await check({ method: 'POST', op: '/tasks/{id}/retry', path: `${task}/retry`, status: 401 });
    await check({ method: 'POST', op: '/tasks/{id}/retry', path: `${task}/retry`, status: 409, headers: auth });
    await failTask(h.storage.db, taskId, 'failed for the test');
    await recordDeadLetter(h.storage.db, {
      v: 1,
      queue: 'weather',
      taskId,
      kind: 'imagery.scene',
      code: 'SW_ERR_TEST',
      reason: 'failed for the test',
      deliveries: 5,
      failedAt: new Date().toISOString(),
      original: Buffer.from('{}').toString('base64'),
    });
    await check({ method: 'POST', op: '/tasks/{id}/retry', path: `${task}/retry`, status: 202, headers: auth });

    await check({ method: 'DELETE', op: one, path: `/collections/imagery/items/${itemId}-b2`, status: 401 });
    await check({ method: 'DELETE', op: one, path: `/collections/imagery/items/${itemId}-b2`, status: 204, headers: auth });

    // A product of that item (a 1x1 PNG's bytes stand for a rendered one: the route serves stored bytes as they are).
    const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');
    await putProduct(h.storage.db, { collection: 'imagery', itemId, name: 'enhanced-ir.png', mediaType: 'image/png', data: png, etag: '"oa-test-etag"' });
    const product = '/products/{collection}/{item}/{name}';
    const got = await check({ method: 'GET', op: product, path: `/products/imagery/${itemId}/enhanced-ir.png`, status: 200 });
    assert.deepEqual(got.body, png);
    await check({ method: 'GET', op: product, path: `/products/imagery/${itemId}/enhanced-ir.png`, status: 304, headers: { 'if-none-match': '"oa-test-etag"' } });
    await check({ method: 'GET', op: product, path: `/products/imagery/${itemId}/cloud-top.png`, status: 404 });
  });

  test('catalog loads: 202 with its status, the status, 401 and 404', async () => {
    const r = (await loadSnapshot()).records[0]!;
    const tle = `${r.name}\n${r.line1}\n${r.line2}\n`;
    await check({ method: 'POST', op: '/catalog/loads', path: '/catalog/loads', status: 401, headers: { 'content-type': 'text/plain' }, body: tle });
    const started = await check({ method: 'POST', op: '/catalog/loads', path: '/catalog/loads?source=openapi-test', status: 202, headers: { ...auth, 'content-type': 'text/plain' }, body: tle });
    const location = started.headers.get('location')!;
    for (let i = 0; i < 50; i++) {
      const v = (await (await fetch(`${h.base}${location}`)).json()) as { state: string };
      if (v.state !== 'running') break;
      await new Promise((res) => setTimeout(res, 50));
    }
    await check({ method: 'GET', op: '/catalog/loads/{id}', path: location, status: 200 });
    await check({ method: 'GET', op: '/catalog/loads/{id}', path: '/catalog/loads/0000000000000000', status: 404 });
  });

  test('/ws: the upgrade is answered 101, a plain GET 404 without a body', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${h.base}/ws`, { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': randomBytes(16).toString('base64') } });
      req.on('upgrade', (res, socket) => {
        socket.destroy();
        resolve(res.statusCode ?? 0);
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 101);
    assert.ok(doc.paths['/ws']!.get!.responses['101']);
    seen.set('get /ws', new Set(['ok']));
    await check({ method: 'GET', op: '/ws', path: '/ws', status: 404 });
  });

  test('every operation in the document was sampled with a success and an error', () => {
    const missing: string[] = [];
    for (const [m, p] of operations()) {
      const kinds = seen.get(`${m} ${p}`);
      if (!kinds?.has('ok') || !kinds.has('error')) missing.push(`${m.toUpperCase()} ${p} (${[...(kinds ?? [])].join(', ') || 'none'})`);
    }
    assert.deepEqual(missing, []);
  });
});
