/**
 * Issue 11, defects 7–10: the gateway through outages of its dependencies,
 * on real servers this test starts and stops itself (never the machine's
 * shared ones): its own redis-server, postgres and nats-server on free
 * loopback ports.
 *
 * - Redis down: /health says degraded with the reason, and ok after it is
 *   back; dropped cache writes are counted in sw_cache_dropped_writes_total.
 * - PostgreSQL down: a database route answers 503 with Retry-After and a
 *   problem body; /satellites/{id} still answers from the gateway's memory
 *   (latest states off the bus, the objects it read lately) and says which
 *   fields are missing; /health says degraded.
 * - NATS down: a STAC POST answers 503 with Retry-After (not a dropped
 *   connection) within the 10 s socket timeout; after NATS returns the
 *   client's retry succeeds; websocket clients are not dropped across the
 *   reconnect (the backlog of ticks arrives at once).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { HTTP_LIMITS } from '../../actors/gateway/app.js';
import type { NodeView } from '../../actors/host/services.js';
import { startGatewayHarness, type GatewayHarness } from '../helpers/gateway-harness.js';
import { freePort, startNatsServer } from '../helpers/nats-server.js';
import { waitFor } from '../helpers/processes.js';
import { TEST_API_KEY, testItem } from '../helpers/stac-app.js';
import { Client, sleep } from '../helpers/ws-test-client.js';

const okNodeView: NodeView = {
  health: async () => ({ status: 'ok' as const, problems: [] }),
  metrics: async () => ({ contentType: 'text/plain', body: '' }),
};

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

// ---- servers this test owns ----------------------------------------------

function startRedis(port: number): ChildProcess {
  const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  children.push(p);
  return p;
}

async function redisUp(port: number): Promise<boolean> {
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

const PG_BIN = '/usr/lib/postgresql/15/bin';

/** A throw-away PostgreSQL cluster (trust auth, loopback only), run as the postgres user. */
class OwnPostgres {
  readonly dir: string;
  proc: ChildProcess | null = null;
  constructor(readonly port: number) {
    this.dir = mkdtempSync(join(tmpdir(), 'sw-pg-'));
    chmodSync(this.dir, 0o777);
    const init = spawnSync('runuser', ['-u', 'postgres', '--', `${PG_BIN}/initdb`, '-D', join(this.dir, 'data'), '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'], { encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  }
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }
  async start(): Promise<void> {
    this.proc = spawn('runuser', ['-u', 'postgres', '--', `${PG_BIN}/postgres`, '-D', join(this.dir, 'data'), '-p', String(this.port), '-h', '127.0.0.1', '-k', this.dir, '-c', 'fsync=off'], { stdio: 'ignore' });
    children.push(this.proc);
    const ok = await waitFor(() => spawnSync(`${PG_BIN}/pg_isready`, ['-h', '127.0.0.1', '-p', String(this.port)]).status === 0, 20_000, 100);
    if (!ok) throw new Error('test postgres did not start');
  }
  /** Stop at once (the postmaster and its backends), as a crash would. */
  async stop(): Promise<void> {
    spawnSync('runuser', ['-u', 'postgres', '--', `${PG_BIN}/pg_ctl`, '-D', join(this.dir, 'data'), 'stop', '-m', 'immediate', '-w'], { stdio: 'ignore' });
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) await new Promise((r) => p.once('exit', r));
    this.proc = null;
  }
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---- helpers ---------------------------------------------------------------

const json = (r: Response): Promise<any> => r.json();

async function health(h: GatewayHarness): Promise<{ status: number; body: any }> {
  const r = await fetch(`${h.base}/health`);
  return { status: r.status, body: await json(r) };
}

/** The host's metrics as its supervisor would collect them (the IPC `metrics` command). */
async function hostMetrics(h: GatewayHarness, sent: unknown[]): Promise<Map<string, number>> {
  const requestId = Math.floor(Math.random() * 1e9);
  h.host.command({ type: 'metrics', requestId } as never);
  let reply: any;
  await waitFor(() => (reply = sent.find((m: any) => m?.type === 'metrics' && m.requestId === requestId)) !== undefined, 5000, 20);
  assert.ok(reply, 'the host answered the metrics command');
  const out = new Map<string, number>();
  for (const metric of reply.metrics as Array<{ name: string; values: Array<{ value: number; labels: Record<string, string> }> }>) {
    for (const v of metric.values) {
      const kind = v.labels.kind ? `{kind=${v.labels.kind}}` : '';
      out.set(`${metric.name}${kind}`, (out.get(`${metric.name}${kind}`) ?? 0) + v.value);
    }
  }
  return out;
}

// ---- tests -----------------------------------------------------------------

test('Redis down: /health degraded with the reason, ok after; dropped cache writes are counted', { timeout: 90_000 }, async () => {
  const port = await freePort();
  let redis = startRedis(port);
  assert.ok(await waitFor(() => redisUp(port), 10_000, 50), 'test redis-server started');
  const sent: unknown[] = [];
  const h = await startGatewayHarness({ count: 20, env: { REDIS_URL: `redis://127.0.0.1:${port}` }, nodeView: okNodeView, send: (m) => sent.push(m) });
  try {
    assert.ok(await waitFor(async () => (await health(h)).status === 200, 10_000, 100), 'healthy with Redis up');
    const m0 = await hostMetrics(h, sent);
    assert.equal(m0.get('sw_cache_available'), 1);
    const dropped0 = m0.get('sw_cache_dropped_writes_total') ?? 0;

    redis.kill('SIGKILL');
    await new Promise((r) => redis.once('exit', r));
    const downAt = Date.now();
    let seen: any = null;
    assert.ok(
      await waitFor(async () => {
        const r = await health(h);
        seen = r.body;
        return r.status === 503 && r.body.status === 'degraded';
      }, 10_000, 100),
      `degraded while Redis is down: ${JSON.stringify(seen)}`,
    );
    console.log(`Redis down: /health degraded after ${Date.now() - downAt} ms: ${seen.problems.join('; ')}`);
    assert.ok(seen.problems.some((p: string) => /^cache \(redis\) unavailable/.test(p)), seen.problems.join('; '));
    assert.equal(seen.dependencies.find((d: any) => d.name === 'cache')?.ok, false);
    // A cache write while Redis is down is dropped (never an error to the caller) and counted.
    await h.storage.cache.setSatelliteStates([
      [25544, { v: 1 }],
      [20580, { v: 1 }],
      [43013, { v: 1 }],
    ]);
    const m1 = await hostMetrics(h, sent);
    assert.equal(m1.get('sw_cache_available'), 0);
    assert.ok((m1.get('sw_cache_dropped_writes_total') ?? 0) >= dropped0 + 3, `dropped writes counted: ${m1.get('sw_cache_dropped_writes_total')}`);

    redis = startRedis(port);
    assert.ok(await waitFor(() => redisUp(port), 10_000, 50));
    const upAt = Date.now();
    assert.ok(await waitFor(async () => (await health(h)).status === 200, 15_000, 100), 'ok again once Redis is back');
    console.log(`Redis back: /health ok after ${Date.now() - upAt} ms`);
    assert.equal((await health(h)).body.status, 'ok');
  } finally {
    await h.close();
    redis.kill('SIGKILL');
  }
});

test('PostgreSQL down: 503 + Retry-After on a database route; /satellites/{id} answers from memory; /health degraded', { timeout: 120_000 }, async () => {
  const pg = new OwnPostgres(await freePort());
  await pg.start();
  const sent: unknown[] = [];
  const h = await startGatewayHarness({ count: 30, env: { DATABASE_URL: pg.url }, nodeView: okNodeView, send: (m) => sent.push(m) });
  const stopTicking = h.startTicking(1000);
  try {
    const [seen, unseen] = [h.objects[0]!.noradId, h.objects[1]!.noradId];
    // Read once (the gateway keeps what it read); wait until both are on the bus.
    await waitFor(async () => {
      const r = await fetch(`${h.base}/satellites/${seen}`);
      return r.status === 200 && (await json(r)).state !== null;
    }, 15_000, 200);
    assert.ok(await waitFor(async () => (await health(h)).status === 200, 10_000, 100));

    await pg.stop();
    const downAt = Date.now();

    const t0 = Date.now();
    const list = await fetch(`${h.base}/satellites?q=a`);
    const listMs = Date.now() - t0;
    const listBody = await json(list);
    console.log(`PostgreSQL down: GET /satellites answered ${list.status} in ${listMs} ms, Retry-After ${list.headers.get('retry-after')}: ${listBody.detail}`);
    assert.equal(list.status, 503);
    assert.equal(list.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.equal(listBody.code, 'SW_ERR_UNAVAILABLE');
    assert.ok(Number(list.headers.get('retry-after')) > 0, 'Retry-After');
    assert.doesNotMatch(listBody.detail, /ECONNREFUSED|sql:/, 'no internals leaked');

    const a = await fetch(`${h.base}/satellites/${seen}`);
    const aBody = await json(a);
    assert.equal(a.status, 200, JSON.stringify(aBody));
    assert.equal(aBody.object.noradId, seen);
    assert.ok(aBody.elementSet, 'the element set read before the outage');
    assert.ok(aBody.state && aBody.state.noradId === seen && typeof aBody.state.epoch === 'string', 'a full state from memory');
    assert.deepEqual(aBody.degraded.missing, []);

    const b = await fetch(`${h.base}/satellites/${unseen}`);
    const bBody = await json(b);
    assert.equal(b.status, 200, JSON.stringify(bBody));
    assert.equal(bBody.object, null);
    assert.equal(bBody.state.noradId, unseen, 'the latest state off the bus');
    assert.deepEqual(bBody.degraded.missing, ['object', 'elementSet', 'state.epoch', 'state.elementSetSource']);
    console.log(`/satellites/${unseen} during the outage: state at ${bBody.state.t}, missing ${bBody.degraded.missing.join(', ')}`);

    // Not tracked, never read: nothing held, so 503.
    const none = await fetch(`${h.base}/satellites/999999998`);
    assert.equal(none.status, 503);
    assert.ok(Number(none.headers.get('retry-after')) > 0);

    let hb: any = null;
    assert.ok(
      await waitFor(async () => {
        const r = await health(h);
        hb = r.body;
        return r.status === 503 && r.body.problems.some((p: string) => /^database \(pg\) unavailable/.test(p));
      }, 10_000, 100),
      JSON.stringify(hb),
    );
    console.log(`PostgreSQL down: /health degraded after ${Date.now() - downAt} ms: ${hb.problems.join('; ')}`);
    const m = await hostMetrics(h, sent);
    assert.ok((m.get('sw_db_errors_total{kind=connection}') ?? 0) > 0, `database errors by kind: ${[...m].filter(([k]) => k.startsWith('sw_db')).join(' ')}`);

    await pg.start();
    assert.ok(await waitFor(async () => (await health(h)).status === 200, 20_000, 200), 'ok again once PostgreSQL is back');
    const back = await fetch(`${h.base}/satellites/${unseen}`);
    const backBody = await json(back);
    assert.equal(back.status, 200);
    assert.equal(backBody.degraded, undefined);
    assert.equal(backBody.object.noradId, unseen);
  } finally {
    stopTicking();
    await h.close();
    await pg.destroy();
  }
});

test('NATS down: a POST answers 503 + Retry-After within the socket timeout; no websocket client is dropped across the reconnect', { timeout: 120_000 }, async () => {
  const nats = await startNatsServer();
  const h = await startGatewayHarness({ count: 200, env: { NATS_URL: nats.url, STARWEATHER_API_KEY: TEST_API_KEY }, nodeView: okNodeView });
  const stopTicking = h.startTicking(1000);
  const clients = Array.from({ length: 8 }, () => new Client(`ws://127.0.0.1:${h.port}/ws`));
  try {
    await Promise.all(clients.map((c) => c.opened));
    clients.forEach((c, i) => c.send(i % 2 ? { type: 'subscribe', all: true } : { type: 'subscribe', ids: h.objects.slice(0, 5).map((x) => x.noradId) }));
    await waitFor(() => clients.every((c) => c.frames.length >= 2), 15_000, 100);

    const post = (id: string) =>
      fetch(`${h.base}/collections/imagery/items`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(testItem(id, { lon: 10, lat: 10 })),
      });
    const ok = await post('before-outage');
    assert.ok(ok.status >= 200 && ok.status < 300, `POST with NATS up: ${ok.status} ${await ok.text()}`);

    await nats.kill();
    const t0 = Date.now();
    let res: Response | null = null;
    let dropped: unknown = null;
    try {
      res = await post('during-outage');
    } catch (err) {
      dropped = err;
    }
    const ms = Date.now() - t0;
    assert.equal(dropped, null, `the connection was dropped after ${ms} ms: ${String(dropped)}`);
    const body = await json(res!);
    console.log(`NATS down: POST answered ${res!.status} in ${ms} ms (socket timeout ${HTTP_LIMITS.connectionTimeoutMs} ms), Retry-After ${res!.headers.get('retry-after')}: ${body.detail}`);
    assert.equal(res!.status, 503);
    assert.equal(body.code, 'SW_ERR_UNAVAILABLE');
    assert.ok(Number(res!.headers.get('retry-after')) > 0);
    assert.ok(ms < HTTP_LIMITS.connectionTimeoutMs, `answered within the socket timeout (${ms} ms)`);
    const hd = await health(h);
    assert.ok(hd.body.problems.some((p: string) => /^transport \(nats\) unavailable/.test(p)), JSON.stringify(hd.body.problems));

    await sleep(1500);
    await nats.restart();
    const framesBefore = clients.map((c) => c.frames.length);
    // The client's retry after the outage: the item is there, the task is enqueued again (de-duplicated).
    let retried: Response | null = null;
    await waitFor(async () => {
      retried = await post('during-outage').catch(() => null);
      return retried !== null && retried.status < 500;
    }, 30_000, 500);
    assert.ok(retried && (retried as Response).status < 300, `retry after NATS is back: ${(retried as Response | null)?.status}`);
    assert.ok(await waitFor(() => clients.every((c, i) => c.frames.length >= framesBefore[i]! + 5), 20_000, 100), 'frames flow again');
    const slow = clients.filter((c) => c.closed !== null);
    console.log(`websocket clients across the NATS outage: ${clients.length - slow.length}/${clients.length} connected; frames ${clients.map((c) => c.frames.length).join('/')}`);
    assert.equal(slow.length, 0, `clients closed: ${slow.map((c) => JSON.stringify(c.closed)).join(', ')}`);
    const ticks = clients[1]!.frames.map((f) => f.tickMs);
    console.log(`an all-objects client's ticks (s, relative to the outage): ${ticks.map((t) => ((t - t0) / 1000).toFixed(0)).join(' ')}`);
    for (let i = 1; i < ticks.length; i++) assert.ok(ticks[i]! >= ticks[i - 1]!, 'ticks never go backwards');
  } finally {
    stopTicking();
    for (const c of clients) c.close();
    await h.close();
    await nats.stop();
  }
});
