/**
 * catalog.searchObjects (name substring, id, group, keyset paging) and
 * catalog.groupMemberships on both backends (PostgreSQL 15 and PGlite).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as catalog from '../../actors/storage/catalog.js';
import { migrate } from '../../actors/storage/migrate.js';
import { StorageArgumentError } from '../../actors/storage/errors.js';
import { BACKENDS, type TestBackend } from '../helpers/storage-backends.js';

const OBJECTS: catalog.CatalogObjectInput[] = [
  { noradId: 5, name: 'VANGUARD 1', groups: ['active'] },
  { noradId: 25544, name: 'ISS (ZARYA)', groups: ['active', 'stations'] },
  { noradId: 48274, name: 'CSS (TIANHE)', groups: ['stations'] },
  { noradId: 44713, name: 'STARLINK-1007', groups: ['active', 'starlink'] },
  { noradId: 44714, name: 'STARLINK-1008', groups: ['active', 'starlink'] },
  { noradId: 123_456, name: 'OMM ONLY 100%_SURE', groups: [] },
  { noradId: 999_999_999, name: 'NINE DIGITS', groups: ['active'] },
];

for (const { name, open } of BACKENDS) {
  describe(`catalog search on ${name}`, () => {
    let b: TestBackend;
    before(async () => {
      b = await open();
      await migrate(b.db);
      for (const o of OBJECTS) await catalog.upsertObject(b.db, o);
    });
    after(async () => {
      await b?.dispose();
    });
    const ids = (p: catalog.ObjectPage) => p.items.map((o) => o.noradId);

    test('by name (case-insensitive substring; LIKE wildcards are literal)', async () => {
      assert.deepEqual(ids(await catalog.searchObjects(b.db, { text: 'starlink' })), [44713, 44714]);
      assert.deepEqual(ids(await catalog.searchObjects(b.db, { text: 'Zarya' })), [25544]);
      assert.deepEqual(ids(await catalog.searchObjects(b.db, { text: '%' })), [123_456]);
      assert.deepEqual(ids(await catalog.searchObjects(b.db, { text: '0%_' })), [123_456]);
      assert.deepEqual(ids(await catalog.searchObjects(b.db, { text: '_' })), [123_456]);
      // All digits: the id matches too (and names containing the digits).
      assert.deepEqual(ids(await catalog.searchObjects(b.db, { text: '999999999' })), [999_999_999]);
      assert.deepEqual(ids(await catalog.searchObjects(b.db, { text: '1007' })), [44713]);
    });

    test('by id and by group, AND-ed', async () => {
      assert.deepEqual(ids(await catalog.searchObjects(b.db, { noradId: 123_456 })), [123_456]);
      assert.deepEqual(ids(await catalog.searchObjects(b.db, { group: 'stations' })), [25544, 48274]);
      assert.deepEqual(ids(await catalog.searchObjects(b.db, { group: 'stations', text: 'iss' })), [25544]);
      assert.deepEqual(ids(await catalog.searchObjects(b.db, { group: 'nope' })), []);
    });

    test('keyset paging visits every row once, in id order', async () => {
      const seen: number[] = [];
      let after: number | undefined;
      let pages = 0;
      for (;;) {
        const p: catalog.ObjectPage = await catalog.searchObjects(b.db, { limit: 3, ...(after !== undefined ? { afterId: after } : {}) });
        seen.push(...ids(p));
        pages += 1;
        if (p.nextAfterId === null) break;
        after = p.nextAfterId;
      }
      assert.deepEqual(seen, OBJECTS.map((o) => o.noradId).sort((x, y) => x - y));
      assert.equal(pages, 3);
      const exact = await catalog.searchObjects(b.db, { limit: 7 });
      assert.equal(exact.nextAfterId, null, 'no next page when the page is exactly full');
    });

    test('bad arguments are refused', async () => {
      await assert.rejects(catalog.searchObjects(b.db, { limit: 0 }), StorageArgumentError);
      await assert.rejects(catalog.searchObjects(b.db, { limit: 1001 }), StorageArgumentError);
      await assert.rejects(catalog.searchObjects(b.db, { noradId: 1_000_000_000 }), StorageArgumentError);
      await assert.rejects(catalog.searchObjects(b.db, { afterId: -1 }), StorageArgumentError);
      await assert.rejects(catalog.searchObjects(b.db, { text: 'x'.repeat(201) }), StorageArgumentError);
    });

    test('groupMemberships lists objects with groups', async () => {
      const m = await catalog.groupMemberships(b.db);
      assert.deepEqual(
        m,
        OBJECTS.filter((o) => (o.groups ?? []).length > 0)
          .sort((x, y) => x.noradId - y.noradId)
          .map((o) => ({ noradId: o.noradId, groups: [...o.groups!].sort() })),
      );
    });
  });
}
