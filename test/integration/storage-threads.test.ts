/**
 * The storage of an embedded node as its role hosts on worker threads see
 * it (actors/storage/thread-storage.ts): one PGlite, one memory cache and
 * one file store, owned by the main thread, used from real worker threads
 * (test/fixtures/storage-thread.ts). What a thread writes is checked by
 * reading it back directly on the owner, and the other way round.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Worker, type MessagePort } from 'node:worker_threads';
import { openStorage, type Storage } from '../../actors/storage/index.js';
import { storageThreadHandles, type StorageThreadLaunch } from '../../actors/storage/thread-storage.js';
import { loadConfig, type Config } from '../../config/load.js';

let dataDir: string;
let cfg: Config;
let owner: Storage;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'sw-store-threads-'));
  // A small file cap, so a file over it is cheap to make.
  cfg = loadConfig({ env: {}, overrides: { dataDir, 'storage.tileCacheMaxBytes': 1_048_576 } });
  owner = await openStorage(cfg);
  await owner.db.query('CREATE TABLE sw_thread_probe (k text PRIMARY KEY)');
});

after(async () => {
  await owner.close();
  rmSync(dataDir, { recursive: true, force: true });
});

interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  isBuffer?: boolean;
  error?: { name: string; code: string | null; message: string };
}

interface StorageThread {
  worker: Worker;
  launch: StorageThreadLaunch;
  call(m: Record<string, unknown>): Promise<Reply>;
  stop(): Promise<void>;
}

async function storageThread(): Promise<StorageThread> {
  const launch = storageThreadHandles(owner);
  const worker = new Worker(new URL('../fixtures/storage-thread.js', import.meta.url), {
    workerData: { config: cfg, handles: launch.handles },
    transferList: launch.transferList,
  });
  const waiting = new Map<number, (r: Reply) => void>();
  let nextId = 1;
  await new Promise<void>((resolve, reject) => {
    worker.on('message', (m: Reply & { ready?: boolean }) => {
      if (m.ready) resolve();
      waiting.get(m.id)?.(m);
      waiting.delete(m.id);
    });
    worker.once('error', reject);
  });
  return {
    worker,
    launch,
    call: (m) =>
      new Promise<Reply>((resolve) => {
        const id = nextId++;
        waiting.set(id, resolve);
        worker.postMessage({ ...m, id });
      }),
    stop: async () => {
      await worker.terminate();
      launch.release();
    },
  };
}

async function keys(): Promise<string[]> {
  return (await owner.db.query<{ k: string }>('SELECT k FROM sw_thread_probe ORDER BY k')).rows.map((r) => r.k);
}

test("a host thread's statements and COPY land in the node's one embedded database; SQL errors come back as storage errors", async () => {
  const t = await storageThread();
  try {
    assert.deepEqual(await t.call({ target: 'db', method: 'query', args: ['INSERT INTO sw_thread_probe (k) VALUES ($1)', ['a']] }), { id: 1, ok: true, value: { rows: [], rowCount: 1 }, isBuffer: false });
    const copied = await t.call({ target: 'db', method: 'copyRows', args: ['sw_thread_probe', ['k'], [['b'], ['c\twith tab']]] });
    assert.equal(copied.value, 2);
    assert.deepEqual(await keys(), ['a', 'b', 'c\twith tab'], 'the owner reads what the thread wrote');
    await owner.db.query('INSERT INTO sw_thread_probe (k) VALUES ($1)', ['d']);
    const read = await t.call({ target: 'db', method: 'query', args: ['SELECT count(*)::int AS n FROM sw_thread_probe', []] });
    assert.deepEqual((read.value as { rows: unknown[] }).rows, [{ n: 4 }], 'the thread reads what the owner wrote');
    const dup = await t.call({ target: 'db', method: 'query', args: ['INSERT INTO sw_thread_probe (k) VALUES ($1)', ['a']] });
    assert.equal(dup.ok, false);
    assert.equal(dup.error?.code, 'SW_ERR_STORAGE');
    assert.match(dup.error!.message, /duplicate key/);
  } finally {
    await t.stop();
    await owner.db.query('DELETE FROM sw_thread_probe');
  }
});

test("the memory cache and the file store are the owner's: each side reads what the other wrote, bytes as bytes", async () => {
  const t = await storageThread();
  try {
    const state = { at: '2026-12-07T00:00:00Z', latDeg: 51.6, lonDeg: -0.1 };
    assert.equal((await t.call({ target: 'cache', method: 'setSatelliteState', args: [25544, state] })).ok, true);
    assert.deepEqual(await owner.cache.getSatelliteState(25544), state);
    const frame = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);
    await owner.cache.setShardFrameBytes([[12, frame]]);
    assert.deepEqual((await t.call({ target: 'cache', method: 'getShardFrameBytes', args: [12] })).value, frame);
    assert.equal((await t.call({ target: 'cache', method: 'getTaskStatus', args: ['nope'] })).value, null);

    const png = Uint8Array.from({ length: 5000 }, (_, i) => (i * 13) & 0xff);
    const put = await t.call({ target: 'files', method: 'put', args: ['tiles/3/1/2.png', png] });
    assert.equal(put.ok, true);
    const mine = await owner.files.get('tiles/3/1/2.png');
    assert.ok(mine && Buffer.compare(mine.data, Buffer.from(png)) === 0, 'the owner reads the bytes the thread put');
    assert.deepEqual(put.value, { etag: mine.etag, size: 5000 });
    await owner.files.put('tiles/3/1/3.png', 'owner');
    const got = await t.call({ target: 'files', method: 'get', args: ['tiles/3/1/3.png'] });
    assert.equal(got.isBuffer, true, 'a Buffer, as FileStore.get answers');
    assert.equal(Buffer.from((got.value as { data: Uint8Array }).data).toString(), 'owner');
    assert.deepEqual((await t.call({ target: 'files', method: 'head', args: ['tiles/3/1/3.png'] })).value, await owner.files.head('tiles/3/1/3.png'));
    assert.equal((await t.call({ target: 'files', method: 'delete', args: ['tiles/3/1/3.png'] })).value, true);
    assert.equal(await owner.files.get('tiles/3/1/3.png'), null);
    // stats() is synchronous on the thread: it answers the owner's counters as of the last reply.
    assert.deepEqual((await t.call({ target: 'files', method: 'stats', args: [] })).value, owner.files.stats());
    const maint = await t.call({ target: 'maintenance', method: 'runOnce', args: [] });
    assert.deepEqual(maint.value, { created: [], dropped: [] }, "the owner's partitions already exist");
  } finally {
    await t.stop();
  }
});

test('errors keep their classes across the bridge (a refused argument is the caller\'s error, not a dropped write)', async () => {
  const t = await storageThread();
  try {
    const bad = await t.call({ target: 'cache', method: 'setSatelliteState', args: [0, {}] });
    assert.deepEqual([bad.ok, bad.error?.name, bad.error?.code], [false, 'StorageArgumentError', 'SW_ERR_INVALID_ARGUMENT']);
    const trav = await t.call({ target: 'files', method: 'get', args: ['../../etc/passwd'] });
    assert.deepEqual([trav.ok, trav.error?.name, trav.error?.code], [false, 'PathTraversalError', 'SW_ERR_PATH_TRAVERSAL']);
    const big = await t.call({ target: 'files', method: 'put', args: ['x.bin', new Uint8Array(cfg.storage.tileCacheMaxBytes + 1)] });
    assert.deepEqual([big.ok, big.error?.name], [false, 'StorageArgumentError']);
    const stats = await t.call({ target: 'cache', method: 'stats', args: [] });
    assert.equal((stats.value as { droppedWrites: number }).droppedWrites, 0);
  } finally {
    await t.stop();
  }
});

test('a host thread terminated inside a transaction does not hold the database: its transaction is rolled back', async () => {
  const t = await storageThread();
  assert.equal((await t.call({ op: 'hold' })).ok, true);
  // PGlite runs one transaction at a time: while the thread's is open, the owner's waits.
  let ownerDone = false;
  const ownerTx = owner.db
    .transaction(async (tx) => {
      await tx.query('INSERT INTO sw_thread_probe (k) VALUES ($1)', ['after']);
    })
    .then(() => (ownerDone = true));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(ownerDone, false, "the owner's transaction waits for the thread's");
  // Terminated as the supervisor terminates a hung host; release() is not called yet:
  // the closed port alone must free the database.
  await t.worker.terminate();
  await ownerTx;
  assert.deepEqual(await keys(), ['after'], "the thread's uncommitted row is gone, the owner's committed");
  t.launch.release();
  t.launch.release();
  await owner.db.query('DELETE FROM sw_thread_probe');
});

test('a malformed call on the storage port is answered with a schema error, and the port keeps serving', async () => {
  const launch = storageThreadHandles(owner);
  const port = launch.handles.service as MessagePort;
  const replies: Array<{ id: number; ok: boolean; error?: { code: string | null; message: string } }> = [];
  port.on('message', (m: (typeof replies)[number]) => replies.push(m));
  try {
    port.postMessage({ id: 7, target: 'cache', method: 'close', args: [] });
    port.postMessage({ id: 8, target: 'db', method: 'query', args: ['DROP TABLE sw_thread_probe'] });
    port.postMessage({ id: 9, target: 'files', method: 'head', args: ['tiles/none.png'] });
    const deadline = Date.now() + 5000;
    while (replies.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    replies.sort((a, b) => a.id - b.id);
    assert.deepEqual(replies.map((r) => [r.id, r.ok, r.error?.code ?? null]), [
      [7, false, 'SW_ERR_SCHEMA'],
      [8, false, 'SW_ERR_SCHEMA'],
      [9, true, null],
    ]);
    assert.match(replies[0]!.error!.message, /no bridged method "close"/);
    assert.equal(owner.cache.stats().available, true, "the owner's cache was not closed");
    assert.deepEqual(await keys(), [], 'the table is still there');
  } finally {
    port.close();
    launch.release();
  }
});
