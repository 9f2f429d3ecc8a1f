/**
 * CelesTrak's rules against a local gp.php (requests counted at the server):
 * a 403 is "not modified" and is not retried; any other non-200 ends the
 * cycle with no further request; the last good catalog stays; a stalled or
 * garbage body fails the cycle cleanly; a group downloaded less than the
 * minimum interval ago is not asked for again.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openTestPglite, type TestBackend } from '../helpers/storage-backends.js';
import { migrate } from '../../actors/storage/migrate.js';
import { listIngestRuns } from '../../actors/storage/ingest-runs.js';
import { runCatalogCycle } from '../../actors/ingest/catalog-actor.js';
import type { IngestDeps } from '../../actors/ingest/catalog-ingest.js';
import { catalogConfig, ommRecord, silentLogger, startGpServer, type GpServer } from './catalog-fixtures.js';

describe('CelesTrak rules', { timeout: 120_000 }, () => {
  let gp: GpServer;
  let b: TestBackend;
  const good = JSON.stringify([ommRecord(25544), ommRecord(123456)]);
  const deps = (): IngestDeps => ({ db: b.db, logger: silentLogger(), hostId: 'test' });
  // snapshotFallback off: these cases are about the last good catalog, not the offline start.
  const cfg = (over: Record<string, unknown> = {}) => catalogConfig({ 'catalog.url': gp.url, 'catalog.groups': 'active,stations', 'catalog.snapshotFallback': 'false', ...over });
  const cycle = (over: Record<string, unknown> = {}) => {
    const c = cfg(over);
    return runCatalogCycle({ config: c, deps, groups: c.catalog.groups, stillLeader: () => true, snapshotPath: '/nonexistent' });
  };
  const sets = async () => Number((await b.db.query<{ n: string }>('SELECT count(*) AS n FROM element_sets')).rows[0]!.n);

  before(async () => {
    gp = await startGpServer(() => ({ status: 200, body: good }));
    b = await openTestPglite();
    await migrate(b.db);
  });
  after(async () => {
    await gp.close();
    await b.dispose();
  });

  test('a good cycle: one request per group, in order', async () => {
    const reports = await cycle();
    assert.deepEqual(gp.requests.map((r) => [r.group, r.format]), [['active', 'json'], ['stations', 'json']]);
    assert.deepEqual(reports.map((r) => r.outcome), ['ok', 'ok']);
    assert.equal(await sets(), 2);
  });

  test('403: recorded as not modified, the cycle stops, nothing is retried, the catalog stays', async () => {
    gp.requests.length = 0;
    gp.answer = () => ({ status: 403, body: 'GP data has not updated since your last successful download' });
    const reports = await cycle();
    assert.equal(gp.requests.length, 1);
    assert.deepEqual(reports.map((r) => [r.outcome, r.httpStatus]), [['not_modified', 403]]);
    const [last] = await listIngestRuns(b.db, { kind: 'catalog', limit: 1 });
    assert.equal(last?.outcome, 'not_modified');
    assert.equal(last?.httpStatus, 403);
    assert.equal(await sets(), 2);
  });

  for (const status of [500, 404, 429, 302]) {
    test(`${status}: the cycle stops with zero further requests and the last good catalog stays`, async () => {
      gp.requests.length = 0;
      gp.answer = () => ({ status, body: 'no' });
      const reports = await cycle();
      assert.equal(gp.requests.length, 1, 'no retry, no second group');
      assert.equal(reports.length, 1);
      assert.equal(reports[0]!.outcome, 'http_error');
      assert.equal(reports[0]!.httpStatus, status);
      assert.equal(await sets(), 2);
    });
  }

  test('a stalled body times out and fails the cycle cleanly', async () => {
    gp.requests.length = 0;
    gp.answer = () => ({ stall: true });
    const t0 = Date.now();
    const reports = await cycle({ 'catalog.timeoutMs': 500 });
    assert.ok(Date.now() - t0 < 10_000);
    assert.equal(gp.requests.length, 1);
    assert.equal(reports[0]!.outcome, 'failed');
    assert.match(reports[0]!.message, /timed out/);
    assert.equal(await sets(), 2);
  });

  test('garbage bodies: not UTF-8, not JSON, an HTML page, over the byte cap: the cycle fails, nothing is written', async () => {
    const cases: Array<[string, () => { status: number; body: string | Buffer }, Record<string, unknown>, RegExp]> = [
      ['binary', () => ({ status: 200, body: Buffer.from([0xff, 0xfe, 0x00, 0xc3]) }), {}, /UTF-8/],
      ['truncated JSON', () => ({ status: 200, body: good.slice(0, 50) }), {}, /no valid record/],
      ['HTML', () => ({ status: 200, body: '<html><body>maintenance</body></html>' }), {}, /no valid record/],
      ['too large', () => ({ status: 200, body: good }), { 'catalog.maxBytes': 1024 }, /cap/],
    ];
    for (const [what, answer, over, reason] of cases) {
      gp.requests.length = 0;
      gp.answer = what === 'too large' ? () => ({ status: 200, body: good.repeat(10) }) : answer;
      const reports = await cycle(over);
      assert.equal(gp.requests.length, 1, `${what}: one request, the cycle stops`);
      assert.equal(reports.length, 1, what);
      assert.equal(reports[0]!.outcome, 'failed', what);
      assert.match(reports[0]!.message, reason, what);
      assert.equal(await sets(), 2, what);
    }
  });

  test('a group answered less than the minimum interval ago is skipped without a request', async () => {
    gp.requests.length = 0;
    gp.answer = () => ({ status: 200, body: good });
    const reports = await cycle({ 'catalog.minRefetchMs': 3_600_000 });
    assert.equal(gp.requests.length, 0);
    assert.deepEqual(reports.map((r) => r.outcome), ['skipped', 'skipped']);
  });
});
