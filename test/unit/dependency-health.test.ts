/**
 * Issue 11 (defects 9, 10): database errors by kind, from real drivers
 * (node-postgres against a port nobody listens on, PGlite after close, a
 * bad query on the shared PostgreSQL), their 503 mapping, the dependency
 * probe on a PGlite that closes, and the queue drain watch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { pino } from 'pino';
import { unavailableDependency, useProblemDetails } from '../../actors/gateway/errors.js';
import { DependencyProbe } from '../../actors/runtime/dependency-probe.js';
import { dbErrorCounts, dbErrorKind, isDbUnavailable } from '../../actors/storage/db-errors.js';
import { MemoryCache } from '../../actors/storage/memory-cache.js';
import { openPg } from '../../actors/storage/pg.js';
import { openPglite } from '../../actors/storage/pglite.js';
import { QueueDrainWatch } from '../../supervisor/http.js';
import { freePort } from '../helpers/nats-server.js';
import { openTestPg } from '../helpers/storage-backends.js';

test('a refused PostgreSQL connection is kind connection (unavailable); a bad query is kind query', async () => {
  const before = dbErrorCounts();
  const port = await freePort();
  const refused = await openPg({ url: `postgres://nobody@127.0.0.1:${port}/none` }).then(
    () => null,
    (err: unknown) => err,
  );
  assert.ok(refused, 'openPg on a closed port fails');
  assert.equal(dbErrorKind(refused), 'connection');
  assert.equal(isDbUnavailable(refused), true);
  assert.match(unavailableDependency(refused) ?? '', /database is unavailable/);
  assert.ok(dbErrorCounts().connection > before.connection, 'counted');

  const b = await openTestPg();
  try {
    const bad = await b.db.query('SELEC 1').then(
      () => null,
      (err: unknown) => err,
    );
    assert.equal(dbErrorKind(bad), 'query');
    assert.equal(unavailableDependency(bad), null);
    assert.ok(dbErrorCounts().query > before.query);
  } finally {
    await b.dispose();
  }
});

test('a closed PGlite is kind closed; the probe reports the database down with the reason, then the cache is not listed (memory)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sw-dep-'));
  const db = await openPglite({ dataDir: dir });
  const cache = new MemoryCache();
  const probe = new DependencyProbe({ storage: async () => ({ db, cache }), dbTimeoutMs: 2000 });
  try {
    await probe.probe();
    assert.deepEqual(
      probe.current().map((d) => [d.name, d.kind, d.ok]),
      [['database', 'pglite', true]],
    );
    assert.deepEqual(probe.problems(), []);
    await db.close();
    const err = await db.query('SELECT 1').then(
      () => null,
      (e: unknown) => e,
    );
    assert.equal(dbErrorKind(err), 'closed');
    await probe.probe();
    const d = probe.current().find((x) => x.name === 'database')!;
    assert.equal(d.ok, false);
    assert.match(probe.problems()[0]!, /^database \(pglite\) unavailable for \d+ s: /);
  } finally {
    probe.stop();
    await cache.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('database unavailability is a 503 with Retry-After and a problem body, a query error stays a 500 without internals', async () => {
  const port = await freePort();
  const refused = await openPg({ url: `postgres://nobody@127.0.0.1:${port}/none` }).then(
    () => null,
    (err: unknown) => err,
  );
  const app = Fastify({ logger: false });
  useProblemDetails(app, pino({ level: 'silent' }));
  app.get('/down', async () => {
    throw refused;
  });
  app.get('/bug', async () => {
    throw new Error('column "x" does not exist');
  });
  try {
    const down = await app.inject('/down');
    assert.equal(down.statusCode, 503);
    assert.equal(down.headers['retry-after'], '5');
    assert.equal(down.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal(down.json().code, 'SW_ERR_UNAVAILABLE');
    assert.doesNotMatch(down.json().detail, /ECONNREFUSED|127\.0\.0\.1/);
    const bug = await app.inject('/bug');
    assert.equal(bug.statusCode, 500);
    assert.equal(bug.headers['retry-after'], undefined);
  } finally {
    await app.close();
  }
});

test('a queue whose depth does not go down for stallMs is not draining; one that goes down is', () => {
  const w = new QueueDrainWatch(10_000);
  const t0 = 1_000_000;
  w.sample(new Map([['tiles', 5], ['scenes', 3]]), t0);
  w.sample(new Map([['tiles', 7], ['scenes', 2]]), t0 + 6000);
  w.sample(new Map([['tiles', 9], ['scenes', 4]]), t0 + 12_000);
  assert.deepEqual(w.stalled(t0 + 12_000), [{ queue: 'tiles', depth: 9, stalledMs: 12_000 }], 'scenes went down at +6 s: not stalled yet');
  w.sample(new Map([['tiles', 0], ['scenes', 4]]), t0 + 17_000);
  assert.deepEqual(w.stalled(t0 + 17_000), [{ queue: 'scenes', depth: 4, stalledMs: 11_000 }], 'an empty queue is drained');
  assert.deepEqual(new QueueDrainWatch(0).stalled(t0), []);
});
