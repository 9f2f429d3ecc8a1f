/**
 * Dead letters are terminal and visible (issue 11, defects 4 and 6), on real
 * NATS, PostgreSQL and Redis with tile hosts as child processes:
 *
 * - a handler that always fails ends in `failed` with the reason, shown by
 *   GET /tasks/{id}; once the handler is fixed, POST /tasks/{id}/retry (and
 *   `starweather tasks retry`) re-drives it to `done`; 401 without the key,
 *   404 for an unknown task, 409 for one that is not failed;
 * - MaxDeliver 2 exhausted by killing the host twice while the task runs
 *   ends in `failed` (the server's count), never stuck;
 * - the prefetch budget: a task exhausted without every delivery reaching a
 *   handler is re-driven once, one whose deliveries all started is not;
 * - the reconciler finalizes a scene whose tiles are all stored but whose
 *   finalize was never enqueued;
 * - the sweep never dead-letters what it did not observe delivered MaxDeliver
 *   times (a stored message without the server's advisory is requeued), and
 *   after kill -9 of a test-started nats-server right after acks, no acked
 *   message becomes a dead letter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Fastify from 'fastify';
import { pino } from 'pino';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { apiKeyAuth, requireApiKey } from '../../actors/gateway/auth.js';
import { useProblemDetails } from '../../actors/gateway/errors.js';
import { tasksPlugin } from '../../actors/gateway/tasks.js';
import { DeadLetterRelay, autoRedriveVerdict } from '../../actors/runtime/dead-letter-relay.js';
import { connectNats, type NatsTransport } from '../../actors/runtime/transport/nats.js';
import { sweepVerdict } from '../../actors/runtime/transport/nats-dead-letter.js';
import { enqueueTask } from '../../actors/runtime/worker.js';
import { listDeadLetters, markDeadLetterRedriven, openDeadLettersOf } from '../../actors/storage/dead-letters.js';
import type { Storage } from '../../actors/storage/index.js';
import { MemoryCache } from '../../actors/storage/memory-cache.js';
import { migrate } from '../../actors/storage/migrate.js';
import { openPg } from '../../actors/storage/pg.js';
import { RedisCache } from '../../actors/storage/redis-cache.js';
import { createTask, getTask, recordAttempt } from '../../actors/storage/tasks.js';
import { getTileScene } from '../../actors/storage/tile-results.js';
import { QUEUE_PRIORITY } from '../../protocol/names.js';
import { DEFAULT_TOPOLOGY } from '../../protocol/topology.js';
import { NATS_URL, deleteNamespace, enc, fastTopology, freshNames, waitFor } from '../integration/nats-fixtures.js';
import { startNatsServer } from '../helpers/nats-server.js';
import { dropSchema, PG_URL, randomSchema } from '../helpers/storage-backends.js';
import { sceneItem, stormScene, TileCluster, writeSceneFile } from '../helpers/tile-fixtures.js';

const REDIS_URL = process.env.SW_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const FIXTURE = fileURLToPath(new URL('../fixtures/dlq-handler.js', import.meta.url));
const CLI = fileURLToPath(new URL('../../supervisor/cli.js', import.meta.url));
const KEY = 'dlq-test-key-0123456789abcdef';
const run = promisify(execFile);
const silent = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The tasks API over HTTP on the cluster's storage (Redis shared with the hosts, as in production) and bus. */
async function tasksApi(cluster: TileCluster): Promise<{ url: string; close(): Promise<void>; storage: Storage }> {
  const cache = new RedisCache({ url: REDIS_URL, prefix: cluster.names.namespace });
  const storage = { ...cluster.storage, cache } as Storage;
  const app = Fastify({ logger: false });
  useProblemDetails(app, silent);
  app.decorate('requireApiKey', requireApiKey(apiKeyAuth(KEY)));
  await app.register(tasksPlugin, { storage: async () => storage, transport: cluster.transport });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url,
    storage,
    close: async () => {
      await app.close();
      await cache.close();
    },
  };
}

async function getJson(url: string): Promise<Record<string, unknown>> {
  const r = await fetch(url);
  return (await r.json()) as Record<string, unknown>;
}

test('a handler that always fails ends failed with the reason at /tasks/{id}; retry re-drives it to done once fixed (HTTP and CLI); 401/404/409', { timeout: 120_000 }, async () => {
  const flags = mkdtempSync(join(tmpdir(), 'sw-dlq-flags-'));
  const cluster = await TileCluster.create({ STARWEATHER_MAX_DELIVER: '2', STARWEATHER_ACK_WAIT_MS: '3000', REDIS_URL, STARWEATHER_EXTRA_HANDLERS: FIXTURE, FIXTURE_FLAG_DIR: flags });
  const api = await tasksApi(cluster);
  try {
    await cluster.start('tile-a');
    const submit = async (id: string) => {
      await createTask(cluster.db, { id, kind: 'test.flaky', priority: QUEUE_PRIORITY.weather });
      await enqueueTask(cluster.transport, { queue: 'weather', id, kind: 'test.flaky', payload: {} });
    };
    const t0 = Date.now();
    await submit('dlq-flaky-1');
    const failed = await waitFor('dlq-flaky-1 failed at /tasks/{id}', 60_000, async () => {
      const v = await getJson(`${api.url}/tasks/dlq-flaky-1`);
      return v.state === 'failed' ? v : null;
    }, 200);
    console.log(`# always-failing task: failed and visible ${Date.now() - t0} ms after enqueue (MaxDeliver 2)`);
    assert.match(String(failed.error), /dlq-flaky-1 is missing/, 'the reason is the handler error');
    assert.equal(failed.attempts, 2);
    assert.ok((failed.timestamps as Record<string, unknown>).failed, 'failed timestamp');
    const dls = await waitFor('the dead letter recorded', 10_000, async () => {
      const l = await openDeadLettersOf(cluster.db, 'dlq-flaky-1');
      return l.length === 1 ? l : null;
    });
    assert.equal(dls[0]!.deliveries, 2, 'the observed delivery count');
    assert.equal(dls[0]!.deliveriesFrom, 'delivery', 'counted from the delivery the handler held');
    assert.equal(dls[0]!.code, 'SW_ERR_HANDLER');

    // Auth, unknown, not failed.
    const post = (id: string, key?: string) => fetch(`${api.url}/tasks/${id}/retry`, { method: 'POST', headers: key ? { authorization: `Bearer ${key}` } : {} });
    assert.equal((await post('dlq-flaky-1')).status, 401, 'no key');
    assert.equal((await post('dlq-flaky-1', 'wrong-key-0123456789')).status, 401, 'wrong key');
    assert.equal((await getJson(`${api.url}/tasks/dlq-flaky-1`)).state, 'failed', 'a refused retry changes nothing');
    const unknown = await post('dlq-nope', KEY);
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { code: string }).code, 'SW_ERR_NOT_FOUND');
    await createTask(cluster.db, { id: 'dlq-queued-1', kind: 'test.flaky' });
    const notFailed = await post('dlq-queued-1', KEY);
    assert.equal(notFailed.status, 409);
    assert.equal(((await notFailed.json()) as { code: string }).code, 'SW_ERR_CONFLICT');

    // Fixed: the re-drive runs it to done, under a new message id, the task id unchanged.
    writeFileSync(join(flags, 'dlq-flaky-1'), '');
    const t1 = Date.now();
    const retried = await post('dlq-flaky-1', KEY);
    assert.equal(retried.status, 202);
    assert.equal(retried.headers.get('location'), '/tasks/dlq-flaky-1');
    const body = (await retried.json()) as Record<string, unknown>;
    assert.deepEqual(body.redriven, ['dlq-flaky-1#retry1']);
    assert.deepEqual(body.pending, [], 'on the queue');
    assert.ok(body.state === 'queued' || body.state === 'done', `reopened (or already done): ${String(body.state)}`);
    assert.equal(body.error, null);
    const done = await waitFor('dlq-flaky-1 done after the retry', 30_000, async () => {
      const v = await getJson(`${api.url}/tasks/dlq-flaky-1`);
      return v.state === 'done' ? v : null;
    }, 200);
    console.log(`# retry → done in ${Date.now() - t1} ms`);
    assert.equal(done.redrives, 1);
    assert.equal(done.attempts, 2, 'attempts never go down (the retry delivery is its own budget)');
    assert.equal((await post('dlq-flaky-1', KEY)).status, 409, 'a done task is not retried');
    assert.equal((await openDeadLettersOf(cluster.db, 'dlq-flaky-1')).length, 0, 'the dead letter is marked re-driven');

    // The CLI, against the same gateway.
    await submit('dlq-flaky-2');
    await waitFor('dlq-flaky-2 failed', 60_000, async () => (await getTask(cluster.db, 'dlq-flaky-2'))?.state === 'failed' && (await openDeadLettersOf(cluster.db, 'dlq-flaky-2')).length === 1, 200);
    writeFileSync(join(flags, 'dlq-flaky-2'), '');
    const env = { ...process.env, STARWEATHER_GATEWAY_URL: api.url, STARWEATHER_API_KEY: KEY, NATS_URL: '', DATABASE_URL: '', REDIS_URL: '' };
    const ok = await run(process.execPath, [CLI, 'tasks', 'retry', 'dlq-flaky-2'], { env });
    assert.match(ok.stdout, /task dlq-flaky-2 re-driven/);
    await waitFor('dlq-flaky-2 done after `starweather tasks retry`', 30_000, async () => (await getTask(cluster.db, 'dlq-flaky-2'))?.state === 'done', 200).catch(async (err) => {
      throw new Error(`${(err as Error).message}: ${JSON.stringify(await getTask(cluster.db, 'dlq-flaky-2'))}; dead letters ${JSON.stringify((await listDeadLetters(cluster.db)).map((d) => [d.msgId, d.redriveMsgId, d.reason]))}\n${cluster.hosts.get('tile-a')?.stderr.slice(-4000)}`);
    });
    const missing = await run(process.execPath, [CLI, 'tasks', 'retry', 'dlq-nope'], { env }).then(
      () => null,
      (err: { code?: number; stderr?: string }) => err,
    );
    assert.equal(missing?.code, 1);
    assert.match(String(missing?.stderr), /404 SW_ERR_NOT_FOUND/);
  } finally {
    await api.close().catch(() => undefined);
    await cluster.stop();
    rmSync(flags, { recursive: true, force: true });
  }
});

test('MaxDeliver 2 exhausted by killing the host twice while the task runs: failed with the server count, never stuck', { timeout: 120_000 }, async () => {
  const logDir = mkdtempSync(join(tmpdir(), 'sw-dlq-log-'));
  const log = join(logDir, 'tasks.log');
  writeFileSync(log, '');
  const cluster = await TileCluster.create({ STARWEATHER_MAX_DELIVER: '2', STARWEATHER_ACK_WAIT_MS: '2000', STARWEATHER_EXTRA_HANDLERS: FIXTURE, FIXTURE_TASK_LOG: log });
  const started = (delivery: number, pid: number) => readFileSync(log, 'utf8').split('\n').includes(`start dlq-hang-1 ${pid} ${delivery}`);
  try {
    await createTask(cluster.db, { id: 'dlq-hang-1', kind: 'test.hang', priority: QUEUE_PRIORITY.weather });
    const a = await cluster.start('tile-a');
    await enqueueTask(cluster.transport, { queue: 'weather', id: 'dlq-hang-1', kind: 'test.hang', payload: {} });
    await waitFor('tile-a runs the task', 20_000, () => started(1, a.proc.pid!));
    cluster.kill('tile-a');
    const b = await cluster.start('tile-b');
    await waitFor('tile-b runs it again after AckWait', 20_000, () => started(2, b.proc.pid!));
    cluster.kill('tile-b');
    const killedAt = Date.now();
    await cluster.start('tile-c');
    const t = await waitFor('the task failed', 60_000, async () => {
      const row = await getTask(cluster.db, 'dlq-hang-1');
      return row?.state === 'failed' ? row : null;
    }, 200);
    console.log(`# exhausted by 2 kills: failed ${Date.now() - killedAt} ms after the second kill (AckWait 2 s)`);
    assert.match(String(t.error), /after 2 deliveries \(the server's count\): SW_ERR_TIMEOUT/);
    assert.equal(t.attempts, 2, 'both deliveries started a handler');
    const [dl] = await listDeadLetters(cluster.db);
    assert.equal(dl?.deliveries, 2);
    assert.equal(dl?.deliveriesFrom, 'advisory');
    assert.equal(dl?.redrivenAt, null, 'every delivery started: no automatic re-drive');
    assert.equal((await cluster.transport.queueStats('weather')).depth, 0, 'nothing left on the queue');
    assert.equal(readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('start dlq-hang-1')).length, 2, 'no third delivery');
  } finally {
    await cluster.stop();
    rmSync(logDir, { recursive: true, force: true });
  }
});

test('prefetch budget: a task exhausted by a host that only held it is re-driven once; one whose deliveries all started fails', { timeout: 60_000 }, async () => {
  assert.equal(autoRedriveVerdict({ code: 'SW_ERR_TIMEOUT', deliveries: 2, deliveriesFrom: 'advisory', taskId: 'x', msgId: 'x' }, 0), true);
  assert.equal(autoRedriveVerdict({ code: 'SW_ERR_TIMEOUT', deliveries: 2, deliveriesFrom: 'advisory', taskId: 'x', msgId: 'x' }, 2), false);
  assert.equal(autoRedriveVerdict({ code: 'SW_ERR_TIMEOUT', deliveries: 2, deliveriesFrom: 'advisory', taskId: 'x', msgId: 'x#auto' }, 0), false, 'once');
  assert.equal(autoRedriveVerdict({ code: 'SW_ERR_HANDLER', deliveries: 2, deliveriesFrom: 'delivery', taskId: 'x', msgId: 'x' }, 0), false, 'a handler gave up');
  const n = freshNames();
  const schema = randomSchema();
  const db = await openPg({ url: PG_URL, schema, max: 4 });
  let t: NatsTransport | null = null;
  let relay: DeadLetterRelay | null = null;
  try {
    await migrate(db);
    const storage = { db, cache: new MemoryCache() } as unknown as Storage;
    t = await connectNats({ servers: NATS_URL, names: n, topology: fastTopology({ ackWaitMs: 500, maxDeliver: 2 }) });
    await t.provision();
    relay = new DeadLetterRelay({ transport: t, storage, logger: silent });
    await relay.start();
    for (const id of ['held-1', 'ran-1']) {
      await createTask(db, { id, kind: 'test.held', priority: QUEUE_PRIORITY.weather });
      await enqueueTask(t, { queue: 'weather', id, kind: 'test.held', payload: {} });
    }
    const seen: string[] = [];
    // A host that takes deliveries and never settles them; for ran-1 its handler starts (and notes the attempt), for held-1 never.
    const c = await t.consume('weather', { prefetch: 2 }, async (m) => {
      seen.push(`${m.msgId}:${m.deliveryCount}`);
      if (m.msgId.startsWith('ran-1')) await recordAttempt(db, 'ran-1', m.deliveryCount);
    });
    const ran = await waitFor('ran-1 failed', 20_000, async () => {
      const r = await getTask(db, 'ran-1');
      return r?.state === 'failed' ? r : null;
    });
    assert.match(String(ran.error), /ran-1 after 2 deliveries/);
    const held = await waitFor('held-1 re-driven once, then failed', 30_000, async () => {
      const r = await getTask(db, 'held-1');
      return r?.state === 'failed' ? r : null;
    });
    await c.stop();
    assert.match(String(held.error), /held-1 \(held-1#auto\) after 2 deliveries/);
    assert.deepEqual(seen.filter((s) => s.startsWith('held-1')).sort(), ['held-1#auto:1', 'held-1#auto:2', 'held-1:1', 'held-1:2']);
    assert.deepEqual(seen.filter((s) => s.startsWith('ran-1')).sort(), ['ran-1:1', 'ran-1:2'], 'ran-1 was not re-driven');
    const dls = await listDeadLetters(db);
    assert.equal(dls.length, 3);
    assert.equal(dls.find((d) => d.msgId === 'held-1')?.redriveMsgId, 'held-1#auto');
    assert.equal(relay.stats.autoRedriven, 1);
    // A re-drive committed but never enqueued (the process died in between) is enqueued by the relay's check, once.
    const ranDl = dls.find((d) => d.msgId === 'ran-1')!;
    assert.equal(await markDeadLetterRedriven(db, ranDl.dedupeKey, 'ran-1#retry1'), true);
    const before = (await t.queueStats('weather')).depth;
    assert.equal(await relay.enqueuePending(0), 1);
    assert.equal((await t.queueStats('weather')).depth, before + 1, 'ran-1#retry1 is on the queue');
    assert.equal(await relay.enqueuePending(0), 0, 'confirmed: not enqueued again');
  } finally {
    await relay?.stop().catch(() => undefined);
    await t?.close().catch(() => undefined);
    await deleteNamespace(NATS_URL, n);
    await db.close();
    await dropSchema(schema);
  }
});

test('the reconciler finalizes a scene whose tiles are all stored but whose finalize was never enqueued', { timeout: 150_000 }, async () => {
  const cluster = await TileCluster.create({
    STARWEATHER_TILE_SIZE: '256',
    STARWEATHER_TILE_CONCURRENCY: '1',
    STARWEATHER_TILE_RECONCILE_INTERVAL_MS: '500',
    STARWEATHER_TILE_RECONCILE_IDLE_MS: '1000',
  });
  try {
    mkdirSync(cluster.assetsDir(), { recursive: true });
    const scene = stormScene(512, 5);
    const path = await writeSceneFile(cluster.assetsDir(), 'OR_ABI-L1b-RadM1-M6C13_G19_recon.nc', scene);
    await cluster.start('tile-a');
    // A real run first: real tile results to strand a copy of.
    const first = await cluster.submit(sceneItem('recon-a', cluster.fileHref(path), scene.time));
    assert.equal((await cluster.finished(first, 90_000)).state, 'done');
    const tiling = (await getTileScene(cluster.db, first))!;
    // The stranded scene: the same files under another item, every tile stored, the task at l1, and no finalize ever enqueued
    // (the state a host leaves when it dies between storing the last tile and the enqueue).
    const item = sceneItem('recon-b', cluster.fileHref(path), scene.time);
    const { upsertItem } = await import('../../actors/storage/stac.js');
    await upsertItem(cluster.db, item);
    const taskId = 'stac:imagery:recon-b';
    await createTask(cluster.db, { id: taskId, kind: 'imagery.scene', item: 'imagery/recon-b', priority: QUEUE_PRIORITY.weather });
    await cluster.db.query(
      `INSERT INTO tile_scenes (task_id, collection_id, item_id, fingerprint, width, height, tile_size, halo, tile_count, reduce, scene)
       SELECT $2, collection_id, 'recon-b', fingerprint, width, height, tile_size, halo, tile_count, reduce, scene FROM tile_scenes WHERE task_id = $1`,
      [first, taskId],
    );
    await cluster.db.query(
      `INSERT INTO tile_results (task_id, tile_index, fingerprint, stats, bt, cth, cloud, host, delivery)
       SELECT $2, tile_index, fingerprint, stats, bt, cth, cloud, host, delivery FROM tile_results WHERE task_id = $1`,
      [first, taskId],
    );
    await cluster.db.query(`UPDATE tasks SET state = 'l1', l1_at = now(), updated_at = now() - interval '1 minute' WHERE id = $1`, [taskId]);
    const t0 = Date.now();
    const done = await cluster.finished(taskId, 60_000);
    console.log(`# stranded scene (${tiling.tileCount} tiles stored, no finalize) done ${Date.now() - t0} ms after it was left`);
    assert.equal(done.state, 'done', `failed: ${done.error}`);
    assert.ok(done.l2At && done.l3At && done.doneAt, 'l2 → l3 → done recorded');
    // Metric rows are keyed on (satellite, product, cell, time): the copy's are recon-a's. Its products and item assets are its own.
    const { rows } = await cluster.db.query<{ n: string }>(`SELECT count(*) AS n FROM tile_products WHERE collection_id = 'imagery' AND item_id = 'recon-b'`);
    assert.ok(Number(rows[0]!.n) > 0, 'the finalize rendered the products');
  } finally {
    await cluster.stop();
  }
});

test('the sweep dead-letters only what the server counted: an exhausted message without its stored advisory is requeued', { timeout: 60_000 }, async () => {
  assert.equal(sweepVerdict(undefined, 2), 'requeue', 'no observation: never a dead letter');
  assert.equal(sweepVerdict({ streamSeq: 1, deliveries: 1 }, 2), 'requeue');
  assert.equal(sweepVerdict({ streamSeq: 1, deliveries: 2 }, 2), 'dead-letter');
  const n = freshNames();
  const { t } = await (async () => {
    const tr = await connectNats({ servers: NATS_URL, names: n, topology: fastTopology({ ackWaitMs: 500, maxDeliver: 2 }) });
    await tr.provision();
    return { t: tr };
  })();
  const nc = await connect({ servers: NATS_URL });
  try {
    await t.enqueue('weather', 'orphan-2', enc(JSON.stringify({ id: 'orphan-2', kind: 'goes.l2' })));
    // Exhaust it with a raw client while no transport consumes (nobody hears the live advisory) …
    const consumer = await jetstream(nc).consumers.get(n.streams.work('weather'), n.consumers.work('weather'));
    assert.equal((await consumer.next({ expires: 2000 }))?.info.deliveryCount, 1);
    assert.equal((await consumer.next({ expires: 2000 }))?.info.deliveryCount, 2);
    await sleep(700);
    assert.equal(await consumer.next({ expires: 1000 }), null, 'exhausted');
    // … and take away the server's stored word for it: what is left looks exactly like an acked message NATS 2.9 kept.
    const jsm = await jetstreamManager(nc);
    await waitFor('the advisory was stored', 5000, async () => (await jsm.streams.info(n.streams.advisories)).state.messages >= 1);
    await jsm.streams.purge(n.streams.advisories);
    const handled: string[] = [];
    const c = await t.consume('weather', { prefetch: 1 }, async (m) => {
      handled.push(`${m.msgId}:${m.deliveryCount}`);
      await m.ack();
    });
    await waitFor('the sweep requeued it and it ran again', 30_000, () => handled.some((h) => h.startsWith('orphan-2~rq')));
    await c.stop();
    assert.equal(await t.deadLetterCount(), 0, 'not dead-lettered without an observed count');
    assert.equal((await jsm.streams.info(n.streams.work('weather'))).state.messages, 0, 'acked after the requeue: gone');
  } finally {
    await nc.close();
    await t.close();
    await deleteNamespace(NATS_URL, n);
  }
});

test('kill -9 of a test-started nats-server right after acks: no acked message becomes a dead letter', { timeout: 120_000 }, async () => {
  const server = await startNatsServer();
  const n = freshNames();
  let t: NatsTransport | null = null;
  try {
    const settings = { ...DEFAULT_TOPOLOGY, ackWaitMs: 1000, maxDeliver: 2, deadLetterMaxAgeMs: 3600_000 };
    let kept = 0;
    const TRIALS = 4;
    for (let trial = 0; trial < TRIALS; trial++) {
      t = await connectNats({ servers: server.url, names: n, topology: settings, enqueueTimeoutMs: 20_000 });
      await t.provision();
      const ids = Array.from({ length: 200 }, (_, i) => `ack-${trial}-${i}`);
      for (let i = 0; i < ids.length; i += 50) await Promise.all(ids.slice(i, i + 50).map((id) => t!.enqueue('weather', id, enc(JSON.stringify({ id, kind: 'k' })))));
      const acked = new Set<string>();
      const c = await t.consume('weather', { prefetch: 64 }, async (m) => {
        await m.ack();
        acked.add(m.msgId);
      });
      await waitFor('all acked', 30_000, () => acked.size === ids.length);
      // Right after the last confirmed ack: kill -9 and restart on the same store.
      await server.kill('SIGKILL');
      await c.stop().catch(() => undefined);
      await t.close().catch(() => undefined);
      await server.restart();
      t = await connectNats({ servers: server.url, names: n, topology: settings, enqueueTimeoutMs: 20_000 });
      const nc = await connect({ servers: server.url });
      const jsm = await jetstreamManager(nc);
      const stored = (await jsm.streams.info(n.streams.work('weather'))).state.messages;
      await nc.close();
      kept += stored;
      // The sweep, as a consumer finding the queue idle would run it.
      const moved = await t.sweepExhausted('weather');
      assert.equal(moved, 0, 'nothing acked is dead-lettered');
      assert.equal(await t.deadLetterCount(), 0);
      // Whatever was kept comes back as a requeue and is simply acked again.
      const again: string[] = [];
      const c2 = await t.consume('weather', { prefetch: 64 }, async (m) => {
        again.push(m.msgId);
        await m.ack();
      });
      await waitFor('queue drained', 20_000, async () => (await t!.queueStats('weather')).depth === 0);
      await c2.stop();
      assert.ok(again.every((id) => /^ack-\d+-\d+(~rq\d+)?$/.test(id)), `only our acked tasks came back: ${again.join(',')}`);
      await t.close();
      t = null;
    }
    console.log(`# kill -9 after acks: ${kept} acked message(s) kept by the server over ${TRIALS} trials; 0 dead-lettered`);
  } finally {
    await t?.close().catch(() => undefined);
    await server.stop();
  }
});
