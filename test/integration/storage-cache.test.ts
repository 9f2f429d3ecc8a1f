/**
 * The hot-state cache contract, run on Redis (127.0.0.1:6379, a random key
 * prefix deleted afterwards), on the in-memory cache, and on the memory
 * cache as a host thread sees it across the storage bridge
 * (actors/storage/thread-storage.ts): the same tests.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { HotCache } from '../../actors/storage/cache.js';
import { MemoryCache } from '../../actors/storage/memory-cache.js';
import { RedisCache } from '../../actors/storage/redis-cache.js';
import { StorageArgumentError } from '../../actors/storage/errors.js';
import { openStorage, type Storage } from '../../actors/storage/index.js';
import { openThreadStorage, storageThreadHandles } from '../../actors/storage/thread-storage.js';
import { loadConfig } from '../../config/load.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const KINDS: ReadonlyArray<{ name: string; open: () => Promise<HotCache> }> = [
  { name: 'memory', open: async () => new MemoryCache() },
  {
    name: 'memory across the storage bridge',
    open: async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'sw-cache-bridge-'));
      const cfg = loadConfig({ env: {}, overrides: { dataDir } });
      const owner: Storage = await openStorage(cfg);
      const launch = storageThreadHandles(owner);
      const view = await openThreadStorage(cfg, launch.handles);
      cleanups.push(async () => {
        await view.close();
        launch.release();
        await owner.close();
        rmSync(dataDir, { recursive: true, force: true });
      });
      return view.cache;
    },
  },
  {
    name: 'redis',
    open: async () => {
      const c = new RedisCache({ url: REDIS_URL, prefix: `t${randomBytes(6).toString('hex')}` });
      assert.equal(await c.waitReady(5000), true, 'Redis on 6379 is reachable');
      return c;
    },
  },
];

for (const { name, open } of KINDS) {
  describe(`hot cache on ${name}`, () => {
    let cache: HotCache;
    before(async () => {
      cache = await open();
    });
    after(async () => {
      await cache.clear();
      await cache.close();
    });

    test('latest state per satellite: set, overwrite, get, miss', async () => {
      assert.equal(await cache.getSatelliteState(25544), null);
      await cache.setSatelliteState(25544, { at: '2026-01-01T00:00:00Z', latDeg: 1 });
      await cache.setSatelliteState(25544, { at: '2026-01-01T00:00:01Z', latDeg: 2 });
      assert.deepEqual(await cache.getSatelliteState(25544), { at: '2026-01-01T00:00:01Z', latDeg: 2 });
      const copy = await cache.getSatelliteState<{ latDeg: number }>(25544);
      copy!.latDeg = 99;
      assert.equal((await cache.getSatelliteState<{ latDeg: number }>(25544))?.latDeg, 2, 'callers get copies');
    });

    test('many states in one round trip (pipelined writes, MGET reads), order kept', async () => {
      const entries = Array.from({ length: 300 }, (_, i) => [40000 + i, { i }] as const);
      await cache.setSatelliteStates(entries);
      const got = await cache.getSatelliteStates<{ i: number }>([40299, 1, 40000, 40150]);
      assert.deepEqual(got, [{ i: 299 }, null, { i: 0 }, { i: 150 }]);
      assert.deepEqual(await cache.getSatelliteStates([]), []);
    });

    test('latest frame per shard', async () => {
      await cache.setShardFrame(0, { seq: 1 });
      await cache.setShardFrame(0, { seq: 2 });
      await cache.setShardFrame(255, { seq: 7 });
      assert.deepEqual(await cache.getShardFrame(0), { seq: 2 });
      assert.deepEqual(await cache.getShardFrame(255), { seq: 7 });
      assert.equal(await cache.getShardFrame(17), null);
    });

    test('latest binary frame per shard: byte for byte, several shards per call, copies', async () => {
      assert.deepEqual(await cache.setShardFrameBytes([]), undefined);
      // Every byte value, including 0x00 and bytes that are not valid UTF-8.
      const a = new Uint8Array(512).map((_, i) => i & 0xff);
      const b = Uint8Array.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0x80]);
      const slab = new Uint8Array(a.length + b.length);
      slab.set(a);
      slab.set(b, a.length);
      // Views into one buffer at an offset: only the view's bytes are stored.
      await cache.setShardFrameBytes([[3, slab.subarray(0, a.length)], [65_535, slab.subarray(a.length)]]);
      assert.deepEqual(await cache.getShardFrameBytes(3), a);
      assert.deepEqual(await cache.getShardFrameBytes(65_535), b);
      slab.fill(7);
      assert.deepEqual(await cache.getShardFrameBytes(3), a, 'the caller may reuse its buffer');
      const got = (await cache.getShardFrameBytes(3))!;
      got.fill(9);
      assert.deepEqual(await cache.getShardFrameBytes(3), a, 'callers get copies');
      await cache.setShardFrameBytes([[3, b]]);
      assert.deepEqual(await cache.getShardFrameBytes(3), b, 'overwritten');
      assert.equal(await cache.getShardFrameBytes(4), null);
      await assert.rejects(cache.setShardFrameBytes([[65_536, b]]), StorageArgumentError);
      await assert.rejects(cache.getShardFrameBytes(-1), StorageArgumentError);
    });

    test('task status, single and pipelined, expires after its TTL', async () => {
      await cache.setTaskStatus('task-a', { state: 'l1' });
      await cache.setTaskStatuses([['task-b', { state: 'done' }], ['task-c', { state: 'failed' }]]);
      assert.deepEqual(await cache.getTaskStatus('task-a'), { state: 'l1' });
      assert.deepEqual(await cache.getTaskStatus('task-c'), { state: 'failed' });
      await cache.setTaskStatus('task-short', { state: 'queued' }, 150);
      assert.deepEqual(await cache.getTaskStatus('task-short'), { state: 'queued' });
      await sleep(400);
      assert.equal(await cache.getTaskStatus('task-short'), null);
    });

    test('bad ids are refused before reaching the backend', async () => {
      await assert.rejects(cache.setSatelliteState(0, {}), StorageArgumentError);
      await assert.rejects(cache.getShardFrame(-1), StorageArgumentError);
      await assert.rejects(cache.setTaskStatus('a b', {}), StorageArgumentError);
    });

    test('stats count hits, misses and writes; the backend is available', async () => {
      const s0 = cache.stats();
      await cache.getShardFrame(0);
      await cache.getShardFrame(9999);
      await cache.setShardFrame(1, { x: 1 });
      const s1 = cache.stats();
      assert.equal(s1.hits - s0.hits, 1);
      assert.equal(s1.misses - s0.misses, 1);
      assert.equal(s1.writes - s0.writes, 1);
      assert.equal(s1.available, true);
      assert.equal(s1.droppedWrites, 0);
    });

    test('refill hooks run (at registration when the backend is up)', async () => {
      let ran = 0;
      cache.onRefill(async (c) => {
        ran++;
        await c.setTaskStatus('refilled', { state: 'l2' });
      });
      const deadline = Date.now() + 5000;
      while (ran === 0 && Date.now() < deadline) await sleep(20);
      assert.equal(ran, 1);
      assert.deepEqual(await cache.getTaskStatus('refilled'), { state: 'l2' });
    });

    test('clear removes only this cache\'s keys', async () => {
      if (name === 'redis') {
        const other = new Redis(REDIS_URL);
        const foreign = `t${randomBytes(6).toString('hex')}:sat:1`;
        try {
          await other.set(foreign, '{}');
          await cache.clear();
          assert.equal(await other.get(foreign), '{}', 'other prefixes untouched');
        } finally {
          await other.del(foreign);
          await other.quit();
        }
      } else await cache.clear();
      assert.equal(await cache.getShardFrame(0), null);
      assert.equal(await cache.getSatelliteState(25544), null);
      assert.equal(await cache.getShardFrameBytes(3), null);
    });
  });
}
