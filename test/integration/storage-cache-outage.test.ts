/**
 * Redis stopped mid-run (R8's cache half): reads fall back to PostgreSQL,
 * writes are dropped and counted, no error reaches the caller; after Redis
 * comes back (empty), the refill hook rebuilds task status from PostgreSQL.
 * Uses its own redis-server on a free port: the shared 6379 is never touched.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { readTaskStatus, taskStatusRefill } from '../../actors/storage/hot-state.js';
import { migrate } from '../../actors/storage/migrate.js';
import { RedisCache } from '../../actors/storage/redis-cache.js';
import * as tasks from '../../actors/storage/tasks.js';
import { openTestPg, type TestBackend } from '../helpers/storage-backends.js';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await sleep(25);
  }
  return check();
}

function startRedis(port: number): ChildProcess {
  return spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
}

async function ping(port: number): Promise<boolean> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

test('Redis stopped mid-run: users see no error; the cache is refilled after Redis returns', async () => {
  const port = await freePort();
  let redis = startRedis(port);
  children.push(redis);
  assert.ok(await waitFor(() => ping(port), 10_000), 'test redis-server started');

  let b: TestBackend | undefined;
  let cache: RedisCache | undefined;
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown) => unhandled.push(err);
  process.on('unhandledRejection', onUnhandled);
  try {
    b = await openTestPg();
    await migrate(b.db);
    for (let i = 0; i < 20; i++) await tasks.createTask(b.db, { id: `task-${i}`, kind: 'render.tile' });
    await tasks.advanceTask(b.db, 'task-3', 'l2');

    const prefix = `t${randomBytes(6).toString('hex')}`;
    const errors: unknown[] = [];
    cache = new RedisCache({ url: `redis://127.0.0.1:${port}`, prefix, onError: (e) => errors.push(e), maxReconnectDelayMs: 200 });
    const c = cache;
    c.onRefill(taskStatusRefill(b.db));
    assert.equal(await c.waitReady(5000), true);
    assert.ok(await waitFor(() => c.stats().refills >= 1, 5000), 'initial refill ran');
    assert.equal((await c.getTaskStatus<{ state: string }>('task-3'))?.state, 'l2', 'warm from PostgreSQL');
    await c.setSatelliteState(25544, { latDeg: 1 });

    // Stop Redis mid-run.
    redis.kill('SIGKILL');
    assert.ok(await waitFor(() => !c.stats().available, 10_000), 'the cache notices Redis is gone');
    const before = c.stats();

    // Users keep working: reads fall back to PostgreSQL, writes are dropped, nothing throws.
    await tasks.createTask(b.db, { id: 'task-during-outage', kind: 'render.tile' });
    await tasks.advanceTask(b.db, 'task-during-outage', 'l1');
    const s = await readTaskStatus(c, b.db, 'task-3');
    assert.equal(s?.state, 'l2', 'served from PostgreSQL');
    assert.equal((await readTaskStatus(c, b.db, 'task-during-outage'))?.state, 'l1');
    assert.equal(await c.getSatelliteState(25544), null, 'a read is a miss, not an error');
    await c.setSatelliteState(25544, { latDeg: 2 });
    await c.setSatelliteStates([[1, { a: 1 }], [2, { a: 2 }]]);
    await c.setShardFrame(3, { seq: 1 });
    await c.setShardFrameBytes([[3, Uint8Array.from([1, 2, 3])]]);
    assert.equal(await c.getShardFrameBytes(3), null, 'a binary frame read is a miss, not an error');
    assert.deepEqual(await c.getSatelliteStates([1, 2]), [null, null]);
    const during = c.stats();
    assert.ok(during.droppedWrites - before.droppedWrites >= 4, `dropped writes counted (${during.droppedWrites - before.droppedWrites})`);
    assert.ok(during.failedReads - before.failedReads >= 4, 'failed reads counted');

    // Redis returns, empty (--save ''): the refill hook rebuilds task status from PostgreSQL.
    redis = startRedis(port);
    children.push(redis);
    assert.ok(await waitFor(() => c.stats().available && c.stats().refills >= 2, 15_000), 'reconnected and refilled');
    await c.refilling;
    const raw = new Redis({ port, host: '127.0.0.1' });
    try {
      const v = await raw.get(`${prefix}:task:task-during-outage`);
      assert.equal(JSON.parse(v ?? 'null')?.state, 'l1', 'a task created during the outage is in Redis after the refill');
      assert.equal(await raw.exists(`${prefix}:task:task-19`), 1);
    } finally {
      raw.disconnect();
    }
    await c.setSatelliteState(25544, { latDeg: 3 });
    assert.deepEqual(await c.getSatelliteState(25544), { latDeg: 3 }, 'writes land again');
    await c.setShardFrameBytes([[3, Uint8Array.from([0, 255, 0])]]);
    assert.deepEqual(await c.getShardFrameBytes(3), Uint8Array.from([0, 255, 0]), 'binary frames land again');
    assert.deepEqual(unhandled, [], 'no unhandled rejection');
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await cache?.clear().catch(() => {});
    await cache?.close();
    await b?.dispose();
    redis.kill('SIGKILL');
  }
});
