/** The imagery ingest's memory (imagery_ingested) on PGlite and PostgreSQL: first record wins, lookups by id. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS } from '../helpers/storage-backends.js';
import { migrate } from '../../actors/storage/migrate.js';
import { handledIds, listIngested, recordIngested } from '../../actors/ingest/imagery-registry.js';

for (const { name, open } of BACKENDS) {
  test(`imagery_ingested on ${name}`, async () => {
    const b = await open();
    try {
      await migrate(b.db);
      assert.deepEqual(await handledIds(b.db, []), new Set());
      assert.equal(await recordIngested(b.db, { itemId: 'scene-a', source: 'goes-east', outcome: 'registered', reason: '', httpStatus: 202, taskId: 'stac:imagery:scene-a', objects: ['https://s3.amazonaws.com/noaa-goes19/a.nc'] }), true);
      assert.equal(await recordIngested(b.db, { itemId: 'scene-b', source: 'himawari-9', outcome: 'rejected', reason: 'x'.repeat(5000), httpStatus: 400, taskId: null, objects: [] }), true);
      assert.equal(await recordIngested(b.db, { itemId: 'scene-a', source: 'goes-east', outcome: 'rejected', reason: 'late', httpStatus: 409, taskId: null, objects: [] }), false, 'the first record stays');
      assert.deepEqual(await handledIds(b.db, ['scene-a', 'scene-b', 'scene-c']), new Set(['scene-a', 'scene-b']));
      const rows = await listIngested(b.db);
      const a = rows.find((r) => r.itemId === 'scene-a')!;
      assert.equal(a.outcome, 'registered');
      assert.equal(a.taskId, 'stac:imagery:scene-a');
      assert.deepEqual(a.objects, ['https://s3.amazonaws.com/noaa-goes19/a.nc']);
      assert.equal(rows.find((r) => r.itemId === 'scene-b')!.reason.length, 2000, 'reasons are capped');
    } finally {
      await b.dispose();
    }
  });
}
