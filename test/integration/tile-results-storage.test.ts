/**
 * Tile pipeline storage (migration 004, actors/storage/tile-results.ts) on
 * both backends: a tile result is stored once however often it is written,
 * rasters read back bit for bit, a new fingerprint resets the scene, a stale
 * tile cannot land in it, and products are replaced only when their bytes
 * change.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { migrate } from '../../actors/storage/migrate.js';
import {
  countTileResults, getProduct, getTileScene, listTileResults, productEtag, putProduct, putTileResult, putTileScene, sceneFileKey, type TileSceneRow,
} from '../../actors/storage/tile-results.js';
import { etagOf, keyPath } from '../../actors/storage/file-store.js';
import { BACKENDS } from '../helpers/storage-backends.js';

const scene = (fingerprint: string): TileSceneRow => ({
  taskId: 'stac:imagery:scene-1', collection: 'imagery', itemId: 'scene-1', fingerprint,
  width: 1000, height: 600, tileSize: 512, halo: 16, tileCount: 4, reduce: 1, scene: { platform: 'goes-19', band: 13 },
});

function result(index: number, fingerprint: string, seed: number) {
  const n = 16;
  return {
    taskId: 'stac:imagery:scene-1', index, fingerprint, stats: { index, valid: n, seed },
    bt: Uint16Array.from({ length: n }, (_, i) => 20000 + seed * 100 + i),
    cth: Uint16Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 65535 : 1000 * i)),
    cloud: Uint8Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 1 : i === 5 ? 255 : 0)),
    host: `h${seed}`, delivery: 1,
  };
}

for (const backend of BACKENDS) {
  test(`tile results on ${backend.name}: once per tile, exact rasters, reset on new files, stale refused, products`, { timeout: 60_000 }, async () => {
    const b = await backend.open();
    try {
      await migrate(b.db);
      const a = 'aaaaaaaaaaaaaaaa', c = 'cccccccccccccccc';
      assert.deepEqual(await putTileScene(b.db, scene(a)), { row: scene(a), reset: false });
      // A replay keeps the row and says so.
      assert.equal((await putTileScene(b.db, scene(a))).reset, false);
      assert.equal(await putTileResult(b.db, result(0, a, 1)), true);
      // The same tile again (a redelivery, or a second host that also ran it): nothing stored.
      assert.equal(await putTileResult(b.db, result(0, a, 2)), false);
      assert.equal(await putTileResult(b.db, result(3, a, 3)), true);
      assert.equal(await countTileResults(b.db, 'stac:imagery:scene-1', a), 2);
      const rows = await listTileResults(b.db, 'stac:imagery:scene-1', a);
      assert.deepEqual(rows.map((r) => r.index), [0, 3]);
      const want = result(0, a, 1);
      assert.deepEqual([...rows[0]!.bt], [...want.bt]);
      assert.deepEqual([...rows[0]!.cth], [...want.cth]);
      assert.deepEqual([...rows[0]!.cloud], [...want.cloud]);
      assert.equal(rows[0]!.host, 'h1', 'the first write wins');
      assert.deepEqual(rows[0]!.stats, { index: 0, valid: 16, seed: 1 });

      // The item now names other files: the row is replaced and its tiles dropped.
      const reset = await b.db.transaction((tx) => putTileScene(tx, scene(c)));
      assert.equal(reset.reset, true);
      assert.equal((await getTileScene(b.db, 'stac:imagery:scene-1'))?.fingerprint, c);
      assert.equal(await countTileResults(b.db, 'stac:imagery:scene-1', a), 0);
      // A tile computed from the old files arrives late: refused.
      assert.equal(await putTileResult(b.db, result(1, a, 4)), false);
      assert.equal(await putTileResult(b.db, result(1, c, 5)), true);
      assert.equal(await countTileResults(b.db, 'stac:imagery:scene-1', c), 1);
      // No scene row at all: refused too.
      assert.equal(await putTileResult(b.db, { ...result(0, a, 6), taskId: 'stac:imagery:nope' }), false);

      const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
      const p = { collection: 'imagery', itemId: 'scene-1', name: 'enhanced-ir.png', mediaType: 'image/png', data: png, etag: etagOf(png) };
      assert.equal(await putProduct(b.db, p), true);
      assert.equal(await putProduct(b.db, p), false, 'same bytes: no write');
      const got = await getProduct(b.db, 'imagery', 'scene-1', 'enhanced-ir.png');
      assert.deepEqual([...got!.data], [...png]);
      assert.equal(got!.mediaType, 'image/png');
      const png2 = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 9]);
      assert.equal(await putProduct(b.db, { ...p, data: png2, etag: etagOf(png2) }), true, 'new bytes replace');
      assert.equal(await productEtag(b.db, 'imagery', 'scene-1', 'enhanced-ir.png'), etagOf(png2));
      assert.equal(await getProduct(b.db, 'imagery', 'scene-1', 'other.png'), null);
      await assert.rejects(putProduct(b.db, { ...p, name: '../x.png' }), /product name/);
    } finally {
      await b.dispose();
    }
  });
}

test('file-store keys of scene files are safe for any STAC id', () => {
  const k = sceneFileKey('products', 'imagery', 'OR_ABI:scene:1', 'enhanced-ir.png');
  assert.match(k, /^products\/[0-9a-f]{32}\/enhanced-ir\.png$/);
  assert.doesNotThrow(() => keyPath('/tmp/root', k));
  assert.notEqual(sceneFileKey('sources', 'a', 'b:c', 'data'), sceneFileKey('sources', 'a:b', 'c', 'data'));
  // An asset key that is not a safe file name is replaced by its digest.
  assert.match(sceneFileKey('sources', 'imagery', 'x', 'seg ment/01'), /^sources\/[0-9a-f]{32}\/[0-9a-f]{32}$/);
});
