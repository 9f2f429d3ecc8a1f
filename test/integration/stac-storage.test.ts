/**
 * The storage functions the STAC API adds, on PostgreSQL and PGlite:
 * insertItemOnce / insertItemsOnce (inserted, same, conflict), createTasks,
 * keyset paging with ties and concurrent inserts (searchItemsPage), and the
 * task stage transitions with the hot cache (transitionTask,
 * recordTaskStage, readTaskView).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureDefaultCollections } from '../../actors/gateway/stac/collections.js';
import { MemoryCache } from '../../actors/storage/memory-cache.js';
import { migrate } from '../../actors/storage/migrate.js';
import { insertItemOnce, insertItemsOnce, searchItemsPage, type ItemCursor, type StacDoc } from '../../actors/storage/stac.js';
import { createTask, createTasks, readTaskView, recordTaskStage, transitionTask } from '../../actors/storage/tasks.js';
import { testItem } from '../helpers/stac-app.js';
import { BACKENDS, type TestBackend } from '../helpers/storage-backends.js';

const item = (id: string, o: Parameters<typeof testItem>[1]): StacDoc => testItem(id, o) as StacDoc;

for (const { name, open } of BACKENDS) {
  describe(`STAC storage additions (${name})`, () => {
    let b: TestBackend;
    before(async () => {
      b = await open();
      await migrate(b.db);
      await ensureDefaultCollections(b.db);
    });
    after(async () => {
      await b?.dispose();
    });

    test('insertItemOnce: inserted, then same (key order does not matter), then conflict', async () => {
      const a = item('once-1', { lon: 1, lat: 1 });
      assert.equal(await insertItemOnce(b.db, a), 'inserted');
      const reordered = Object.fromEntries(Object.entries(a).reverse()) as StacDoc;
      assert.equal(await insertItemOnce(b.db, reordered), 'same');
      assert.equal(await insertItemOnce(b.db, { ...a, properties: { datetime: '2020-01-01T00:00:00Z' } }), 'conflict');
    });

    test('insertItemsOnce: one statement for many, results in input order, a duplicate in the batch compared to its first copy', async () => {
      const x = item('many-1', { lon: 2, lat: 2 });
      const y = item('many-2', { lon: 3, lat: 3 });
      const r = await b.db.transaction((tx) =>
        insertItemsOnce(tx, [x, y, { ...x }, { ...y, properties: { datetime: '2020-01-01T00:00:00Z' } }, item('once-1', { lon: 1, lat: 1 })]),
      );
      assert.deepEqual(r, ['inserted', 'inserted', 'same', 'conflict', 'same']);
      assert.deepEqual(await insertItemsOnce(b.db, []), []);
    });

    test('createTasks: new and existing, with the current state, a duplicate id created once', async () => {
      assert.equal(await createTask(b.db, { id: 'ct-old', kind: 'imagery.scene' }), true);
      await transitionTask(b.db, 'ct-old', 'l2');
      const r = await createTasks(b.db, [
        { id: 'ct-new', kind: 'imagery.scene', item: 'imagery/x', priority: 2 },
        { id: 'ct-old', kind: 'imagery.scene' },
        { id: 'ct-new', kind: 'imagery.scene' },
      ]);
      assert.deepEqual(r, [
        { created: true, state: 'queued' },
        { created: false, state: 'l2' },
        { created: false, state: 'queued' },
      ]);
    });

    test('searchItemsPage: keyset pages over ties neither repeat nor skip, even with inserts between pages', async () => {
      // 25 items at the same instant (ties broken by id), 5 at other times.
      for (let i = 0; i < 25; i++) await insertItemOnce(b.db, item(`tie-${String(i).padStart(2, '0')}`, { lon: 50, lat: 50, datetime: '2025-06-01T00:00:00Z', collection: 'goes-west' }));
      for (let i = 0; i < 5; i++) await insertItemOnce(b.db, item(`other-${i}`, { lon: 50, lat: 50, datetime: `2025-06-0${i + 2}T00:00:00Z`, collection: 'goes-west' }));
      const seen: string[] = [];
      let after: ItemCursor | null = null;
      let pages = 0;
      do {
        const p = await searchItemsPage(b.db, { collections: ['goes-west'], limit: 4 }, after);
        seen.push(...p.items.map((d) => d.id));
        after = p.next;
        // An item inserted mid-paging that sorts before the cursor must not shift later pages.
        if (pages === 2) await insertItemOnce(b.db, item('late-newest', { lon: 50, lat: 50, datetime: '2025-07-01T00:00:00Z', collection: 'goes-west' }));
        pages++;
      } while (after && pages < 50);
      assert.equal(seen.length, 30);
      assert.equal(new Set(seen).size, 30);
      assert.deepEqual(seen.slice(0, 5), ['other-4', 'other-3', 'other-2', 'other-1', 'other-0'], 'newest first');
      assert.deepEqual(seen.slice(5), [...Array(25).keys()].map((i) => `tie-${String(i).padStart(2, '0')}`), 'ties in id order');
    });

    test('transitionTask / recordTaskStage / readTaskView: forward only, failed with its error, cache kept current', async () => {
      const cache = new MemoryCache();
      try {
        await createTask(b.db, { id: 'tv-1', kind: 'imagery.scene', item: 'imagery/a', priority: 2 });
        const v0 = await readTaskView(cache, b.db, 'tv-1');
        assert.equal(v0?.state, 'queued');
        assert.equal(typeof v0?.queuedAt, 'string');
        const v1 = await recordTaskStage(b.db, cache, 'tv-1', 'l1');
        assert.equal(v1?.state, 'l1');
        assert.equal((await readTaskView(cache, b.db, 'tv-1'))?.state, 'l1', 'the cache has the new view');
        await recordTaskStage(b.db, cache, 'tv-1', 'l3');
        const back = await recordTaskStage(b.db, cache, 'tv-1', 'l2');
        assert.equal(back?.state, 'l3', 'never backwards');
        assert.equal(back?.l2At, null, 'a skipped stage keeps no timestamp');
        await assert.rejects(transitionTask(b.db, 'tv-1', 'failed'), /needs the error/);
        const failed = await recordTaskStage(b.db, cache, 'tv-1', 'failed', { error: 'L3 kernel crashed' });
        assert.equal(failed?.state, 'failed');
        assert.equal(failed?.error, 'L3 kernel crashed');
        assert.equal(typeof failed?.failedAt, 'string');
        assert.equal((await recordTaskStage(b.db, cache, 'tv-1', 'done'))?.state, 'failed', 'a finished task stays finished');
        assert.equal(await recordTaskStage(b.db, cache, 'tv-missing', 'l1'), null);
        assert.equal(await readTaskView(cache, b.db, 'tv-missing'), null);
        // A short TaskStatus in the cache (the refill hook's shape) is upgraded from the database.
        await cache.setTaskStatus('tv-1', { id: 'tv-1', state: 'l1', attempts: 0, error: null, updatedAt: new Date().toISOString() });
        assert.equal((await readTaskView(cache, b.db, 'tv-1'))?.state, 'failed');
      } finally {
        await cache.close();
      }
    });
  });
}
