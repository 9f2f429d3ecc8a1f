/**
 * A catalog sent to a running node (issue 16 part 6): POST /catalog/loads
 * on a real gateway host, and `starweather catalog load` as a real process
 * beside it, which finds the node on its port and goes through it instead
 * of opening the node's locked embedded database.
 *
 * Oracle: the catalog text is built here from snapshot records the
 * harness did not seed, with records broken on purpose; what must be
 * accepted, rejected and stored follows from how the test built it.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGatewayHarness, type GatewayHarness } from '../helpers/gateway-harness.js';
import { spawnNode } from '../helpers/processes.js';
import { loadSnapshot } from '../../actors/tracker/snapshot.js';
import { getObject } from '../../actors/storage/catalog.js';
import { CatalogChangedMessage } from '../../protocol/messages/catalog.js';
import type { TleRecord } from '../../actors/tracker/tle.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'supervisor', 'cli.js');

function threeLine(rs: readonly TleRecord[]): string {
  return rs.map((r) => `${r.name}\n${r.line1}\n${r.line2}`).join('\n') + '\n';
}

/** Line 2 of a TLE with its checksum digit changed: a record every TLE reader must refuse. */
function badChecksum(r: TleRecord): TleRecord {
  const last = Number(r.line2.at(-1));
  return { ...r, line2: r.line2.slice(0, -1) + String((last + 1) % 10) };
}

async function until<T>(f: () => Promise<T | null>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('catalog loads through a running node', { timeout: 90_000 }, () => {
  let h: GatewayHarness;
  let key: string;
  let records: TleRecord[];
  const heard = new Set<number>();
  before(async () => {
    // Shedding off: on a loaded CI machine the gateway would answer 503 for its own loop delay, not for anything under test.
    h = await startGatewayHarness({ count: 5, env: { STARWEATHER_SHED_EVENT_LOOP_DELAY_MS: '0' } });
    key = readFileSync(join(h.cfg.dataDir, 'api-key'), 'utf8').trim();
    records = (await loadSnapshot()).records.slice(1000, 1080);
    h.transport.subscribe(h.n.subjects.catalogChanged, (m) => {
      for (const id of CatalogChangedMessage.decode(m.data).ids) heard.add(id);
    });
    await h.transport.flush();
  });
  after(async () => h?.close());

  const post = (body: string, query = '', auth = true, type = 'text/plain'): Promise<Response> =>
    fetch(`${h.base}/catalog/loads${query}`, { method: 'POST', headers: { 'content-type': type, ...(auth ? { authorization: `Bearer ${key}` } : {}) }, body });

  test('refusals: no key 401, empty body 400, unknown format 400, unknown load 404; each a problem body', async () => {
    const cases: Array<[Promise<Response>, number, string]> = [
      [post(threeLine(records.slice(0, 2)), '', false), 401, 'SW_ERR_UNAUTHORIZED'],
      [post('   \n'), 400, 'SW_ERR_INVALID_ARGUMENT'],
      [post(threeLine(records.slice(0, 2)), '?format=xml'), 400, 'SW_ERR_INVALID_ARGUMENT'],
      [fetch(`${h.base}/catalog/loads/0123456789abcdef`), 404, 'SW_ERR_NOT_FOUND'],
    ];
    for (const [res, status, code] of cases) {
      const r = await res;
      const body = (await r.json()) as { code: string };
      assert.equal(r.status, status, JSON.stringify(body));
      assert.match(r.headers.get('content-type') ?? '', /application\/problem\+json/);
      assert.equal(body.code, code);
    }
  });

  test('POST: 202 + Location; the load ends done with the counts the test built; objects stored; trackers told', async () => {
    const good = records.slice(0, 40);
    const bad = [badChecksum(records[40]!), badChecksum(records[41]!)];
    const res = await post(threeLine([...good.slice(0, 20), ...bad, ...good.slice(20)]), '?group=uploaded&source=mine.txt');
    assert.equal(res.status, 202, await res.clone().text());
    const location = res.headers.get('location')!;
    assert.match(location, /^\/catalog\/loads\/[a-f0-9]{16}$/);
    const view = await until(async () => {
      const v = (await (await fetch(`${h.base}${location}`)).json()) as { state: string; report: Record<string, unknown> | null; progress: { phase: string }; format: string };
      return v.state === 'running' ? null : v;
    }, 30_000);
    assert.equal(view.state, 'done');
    assert.equal(view.format, '3le');
    assert.equal(view.progress.phase, 'done');
    assert.equal(view.report!.accepted, 40);
    assert.equal(view.report!.rejected, 2);
    assert.equal(view.report!.objectsNew, 40);
    for (const r of good) {
      const o = await getObject(h.storage.db, r.noradId);
      assert.ok(o, `object ${r.noradId} stored`);
      assert.ok(o.groups.includes('uploaded'), `object ${r.noradId} in the group`);
    }
    for (const r of bad) assert.equal(await getObject(h.storage.db, r.noradId), null, `object ${r.noradId} (bad checksum) not stored`);
    await until(async () => (good.every((r) => heard.has(r.noradId)) ? true : null), 5_000);
  });

  test('`starweather catalog load` beside the node goes through it and prints progress and the report', async () => {
    const file = join(h.cfg.dataDir, 'more.3le');
    const more = records.slice(50, 80);
    writeFileSync(file, threeLine(more));
    const cli = spawnNode([CLI, 'catalog', 'load', file], {
      NATS_URL: undefined,
      DATABASE_URL: undefined,
      REDIS_URL: undefined,
      STARWEATHER_CONFIG: undefined,
      STARWEATHER_API_KEY: undefined,
      STARWEATHER_GATEWAY_URL: undefined,
      STARWEATHER_DATA_DIR: h.cfg.dataDir,
      STARWEATHER_PORT: String(h.port),
      STARWEATHER_LOG_LEVEL: 'warn',
    });
    const { code } = await cli.exited;
    assert.equal(code, 0, `stdout: ${cli.stdout()}\nstderr: ${cli.stderr()}`);
    assert.match(cli.stdout(), /loaded through the node at http:\/\/127\.0\.0\.1:\d+/);
    assert.match(cli.stdout(), /file: ok: 30 records, 30 accepted, 0 rejected/);
    // Not a terminal: plain progress lines, not carriage-return rewrites.
    assert.match(cli.stderr(), /^catalog load: /m);
    assert.doesNotMatch(cli.stderr(), /\r/);
    for (const r of more) assert.ok(await getObject(h.storage.db, r.noradId), `object ${r.noradId} stored by the node`);
  });
});
