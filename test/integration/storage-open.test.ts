/**
 * openStorage picks its backends from config: embedded PGlite + memory cache
 * by default (data survives a restart; one process per data directory), or
 * PostgreSQL + Redis when their URLs are set.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../config/load.js';
import { openStorage, StorageError, tasks, partitions, weatherMetrics, MIGRATIONS } from '../../actors/storage/index.js';
import { dropSchema, PG_URL, randomSchema } from '../helpers/storage-backends.js';

test('embedded default: PGlite under dataDir, memory cache, tiles dir; data survives a restart; one process per directory', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sw-data-'));
  try {
    const cfg = loadConfig({ env: {}, overrides: { dataDir } });
    assert.equal(cfg.database.url, '');
    const s1 = await openStorage(cfg);
    try {
      assert.equal(s1.db.backend, 'pglite');
      assert.equal(s1.cache.kind, 'memory');
      assert.deepEqual(s1.migration.applied, MIGRATIONS.map((m) => m.version));
      assert.equal(s1.files.root.endsWith(join('tiles')), true);
      assert.equal(await tasks.createTask(s1.db, { id: 'survivor', kind: 'k' }), true);
      const r = await weatherMetrics.ingestMetrics(s1.db, [{ observedAt: new Date(), satellite: 'goes-18', product: 'ctp', cellId: 1, value: 1 }]);
      assert.equal(r.inserted, 1);
      const months = (await partitions.listPartitions(s1.db)).length;
      assert.ok(months >= cfg.storage.partitionsAheadMonths + 1, 'current and coming months exist at start');
      await s1.files.put('t/1.png', 'png');
      // A second process on the same directory would corrupt it: refused while the first holds it.
      await assert.rejects(openStorage(cfg), (err: unknown) => err instanceof StorageError && /in use by process/.test(err.message));
    } finally {
      await s1.close();
    }
    assert.ok(existsSync(join(dataDir, 'pglite')));
    // The database and the cached products are this user's alone (issue 16 part 5).
    const mode = (p: string) => statSync(p).mode & 0o777;
    assert.equal(mode(join(dataDir, 'pglite')), 0o700, 'database dir created 0700');
    assert.equal(mode(s1.files.root), 0o700, 'file store root created 0700');
    assert.equal(mode(join(s1.files.root, 't')), 0o700, 'file store subdir created 0700');
    // A database dir left 0755 by an earlier version is tightened at the next open.
    chmodSync(join(dataDir, 'pglite'), 0o755);

    const s2 = await openStorage(cfg);
    try {
      assert.equal(mode(join(dataDir, 'pglite')), 0o700, 'existing 0755 database dir tightened');
      assert.deepEqual(s2.migration.applied, [], 'already migrated');
      assert.equal((await tasks.getTask(s2.db, 'survivor'))?.kind, 'k', 'the task survived the restart');
      const since = new Date(Date.now() - 86_400_000);
      assert.equal((await weatherMetrics.summarizeMetrics(s2.db, { from: since, to: new Date(Date.now() + 60_000) })).count, 1);
      assert.equal((await s2.files.get('t/1.png'))?.data.toString(), 'png', 'tiles survive too');
    } finally {
      await s2.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('cluster mode: DATABASE_URL and REDIS_URL select PostgreSQL and Redis', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sw-data-'));
  const schema = randomSchema();
  try {
    const cfg = loadConfig({
      env: {},
      overrides: { dataDir, 'database.url': PG_URL, 'redis.url': 'redis://127.0.0.1:6379', namespace: `t${schema.slice(2)}`, 'storage.tileCacheDir': join(dataDir, 'elsewhere') },
    });
    const s = await openStorage(cfg, { schema });
    try {
      assert.equal(s.db.backend, 'pg');
      assert.equal(s.db.schema, schema);
      assert.equal(s.cache.kind, 'redis');
      assert.deepEqual(s.migration.applied, MIGRATIONS.map((m) => m.version));
      assert.ok(s.files.root.endsWith('elsewhere'));
      await tasks.createTask(s.db, { id: 'c1', kind: 'k' });
      await s.cache.setTaskStatus('c1', { state: 'queued' });
      assert.deepEqual(await s.cache.getTaskStatus('c1'), { state: 'queued' });
      await s.cache.clear();
    } finally {
      await s.close();
    }
  } finally {
    await dropSchema(schema);
    rmSync(dataDir, { recursive: true, force: true });
  }
});
