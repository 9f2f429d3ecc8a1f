/**
 * The /ws websocket on a real gateway host with real ws clients. States come
 * from real tracker frames: the harness propagates real element sets with
 * propagateBatch every second and publishes one encoded frame per shard on
 * the bus, as a tracker host does.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import WebSocket from 'ws';
import { STATE_STRIDE } from '../../protocol/frames/tracker-state.js';
import { Client, sleep, until } from '../helpers/ws-test-client.js';
import { createStateBuffer, propagateBatch, S_LAT_DEG, S_LON_DEG } from '../../actors/tracker/propagate.js';
import { startGatewayHarness, type GatewayHarness } from '../helpers/gateway-harness.js';
import { upsertObject } from '../../actors/storage/catalog.js';
import { CatalogChangedMessage } from '../../protocol/messages/catalog.js';

/** Ids whose propagation succeeds now (old element sets of low objects may have decayed in SGP4). */
function healthyIds(h: GatewayHarness, count: number): number[] {
  const objs = h.objects;
  const buf = createStateBuffer(objs.length);
  propagateBatch(objs.map((o) => o.satrec), objs.length, Date.now(), buf.state, buf.errors);
  return objs.filter((_, i) => buf.errors[i] === 0).slice(0, count).map((o) => o.noradId);
}

function gatewayHealth(h: GatewayHarness): Record<string, any> {
  return (h.host.info().services as Record<string, Record<string, any>>).gateway!;
}

describe('websocket fanout', () => {
  let h: GatewayHarness;
  let stopTicking: () => void = () => {};
  const clients: Client[] = [];
  const client = (path = '/ws', opts: WebSocket.ClientOptions = {}): Client => {
    const c = new Client(`ws://127.0.0.1:${h.port}${path}`, opts);
    clients.push(c);
    return c;
  };

  before(async () => {
    h = await startGatewayHarness({ count: 200 });
    await until('group index loaded', 10_000, () => gatewayHealth(h).groupIndexObjects > 0);
  });
  after(async () => {
    stopTicking();
    for (const c of clients) c.close();
    await h?.close();
  });

  test('a client subscribed to 3 ids receives their states every second', { timeout: 30_000 }, async () => {
    const ids = healthyIds(h, 3);
    assert.equal(ids.length, 3);
    const c = client();
    await c.opened;
    const welcome = await c.next('welcome');
    assert.equal(welcome.frame, 'tracker-state-v1');
    c.send({ type: 'subscribe', id: 'a', ids });
    const sub = await c.next('subscribed');
    assert.equal(sub.id, 'a');
    stopTicking = h.startTicking(1000);
    await until('4 frames', 15_000, () => c.frames.length >= 4);
    stopTicking();
    const frames = c.frames.slice(0, 4);
    for (const f of frames) {
      assert.deepEqual([...f.ids].sort((a, b) => a - b), [...ids].sort((a, b) => a - b), 'exactly the subscribed ids');
      // The states are the real propagation for that tick (float32 on the wire).
      const buf = createStateBuffer(3);
      propagateBatch(ids.map((id) => h.byId.get(id)!.satrec), 3, f.tickMs, buf.state, buf.errors);
      ids.forEach((id, k) => {
        assert.ok(Math.abs(f.lat.get(id)! - buf.state[k * STATE_STRIDE + S_LAT_DEG]!) < 1e-4);
        assert.ok(Math.abs(f.lon.get(id)! - buf.state[k * STATE_STRIDE + S_LON_DEG]!) < 1e-4);
      });
    }
    // One frame per tick, ticks a second apart.
    for (let i = 1; i < frames.length; i++) assert.equal(frames[i]!.tickMs - frames[i - 1]!.tickMs, 1000);
  });

  test('a new subscriber gets a snapshot of the latest states at once', async () => {
    h.publishTick();
    await until('states known', 5000, () => gatewayHealth(h).objects >= h.objects.length);
    const ids = healthyIds(h, 5);
    const c = client();
    await c.opened;
    c.send({ type: 'subscribe', ids });
    const sub = await c.next('subscribed');
    assert.equal(sub.matched, 5);
    await until('snapshot frame', 5000, () => c.frames.length >= 1);
    assert.deepEqual([...c.frames[0]!.ids].sort((a, b) => a - b), [...ids].sort((a, b) => a - b));
  });

  test('bbox and group filters (and a bbox across the antimeridian)', { timeout: 30_000 }, async () => {
    const north = client();
    const dateline = client();
    const group = client();
    await Promise.all([north.opened, dateline.opened, group.opened]);
    north.send({ type: 'subscribe', bbox: [-180, 0, 180, 90] });
    dateline.send({ type: 'subscribe', bbox: [150, -90, -150, 90] });
    group.send({ type: 'subscribe', groups: ['testgroup'] });
    await Promise.all([north.next('subscribed'), dateline.next('subscribed'), group.next('subscribed')]);
    const start = [north.frames.length, dateline.frames.length, group.frames.length];
    const t = h.publishTick(Math.floor(Date.now() / 1000) * 1000 + 7000);
    const tickFrame = (c: Client, i: number) => c.frames.slice(start[i]!).find((f) => f.tickMs === t);
    await until('tick frames', 10_000, () => !!tickFrame(north, 0) && !!tickFrame(group, 2) && !!tickFrame(dateline, 1));

    const buf = createStateBuffer(h.objects.length);
    propagateBatch(h.objects.map((o) => o.satrec), h.objects.length, t, buf.state, buf.errors);
    const lat = (i: number) => buf.state[i * STATE_STRIDE + S_LAT_DEG]!;
    const lon = (i: number) => buf.state[i * STATE_STRIDE + S_LON_DEG]!;
    const sorted = (a: number[]) => [...a].sort((x, y) => x - y);
    // Float32 on the wire: leave out objects within 1e-3 degrees of an edge.
    const nearEdge = (i: number) => Math.abs(lat(i)) < 1e-3 || Math.abs(Math.abs(lon(i)) - 150) < 1e-3;
    const wantNorth = h.objects.filter((_, i) => buf.errors[i] === 0 && lat(i) >= 0 && !nearEdge(i)).map((o) => o.noradId);
    const gotNorth = tickFrame(north, 0)!.ids.filter((id) => !nearEdge(h.objects.findIndex((o) => o.noradId === id)));
    assert.deepEqual(sorted(gotNorth), sorted(wantNorth));
    assert.ok(wantNorth.length > 10 && wantNorth.length < h.objects.length - 10);

    const wantDateline = h.objects.filter((_, i) => buf.errors[i] === 0 && (lon(i) >= 150 || lon(i) <= -150) && !nearEdge(i)).map((o) => o.noradId);
    const gotDateline = tickFrame(dateline, 1)!.ids.filter((id) => !nearEdge(h.objects.findIndex((o) => o.noradId === id)));
    assert.deepEqual(sorted(gotDateline), sorted(wantDateline));
    for (const id of gotDateline) {
      const l = tickFrame(dateline, 1)!.lon.get(id)!;
      assert.ok(l >= 150 || l <= -150, `lon ${l}`);
    }

    const wantGroup = h.objects.filter((o) => o.groups.includes('testgroup')).map((o) => o.noradId);
    assert.deepEqual(sorted(tickFrame(group, 2)!.ids), sorted(wantGroup));
  });

  test('clients with the same subscription share one encoded frame per tick', { timeout: 20_000 }, async () => {
    const ids = healthyIds(h, 4);
    const a = client();
    const b = client();
    await Promise.all([a.opened, b.opened]);
    a.send({ type: 'subscribe', ids });
    b.send({ type: 'subscribe', ids: [...ids].reverse() });
    await Promise.all([a.next('subscribed'), b.next('subscribed')]);
    const before = gatewayHealth(h);
    const t = h.publishTick(Math.floor(Date.now() / 1000) * 1000 + 9000);
    await until('both got the tick', 10_000, () => a.frames.some((f) => f.tickMs === t) && b.frames.some((f) => f.tickMs === t));
    const fa = a.frames.find((f) => f.tickMs === t)!;
    const fb = b.frames.find((f) => f.tickMs === t)!;
    assert.ok(fa.bytes.equals(fb.bytes));
    const afterStats = gatewayHealth(h);
    // One encode per distinct subscription among connected clients, not per client.
    assert.ok(afterStats.encodes - before.encodes <= afterStats.subscriptionClasses, `${afterStats.encodes - before.encodes} encodes for ${afterStats.subscriptionClasses} classes`);
    assert.ok(afterStats.clients > afterStats.subscriptionClasses);
  });

  test('malformed messages get an error and the connection stays usable', { timeout: 20_000 }, async () => {
    const c = client();
    await c.opened;
    await c.next('welcome');
    const bad: unknown[] = [
      'not json',
      { type: 'subscribe', ids: [0] },
      { type: 'subscribe', ids: [1_000_000_000] },
      { type: 'subscribe', bbox: [1, 2] },
      { type: 'subscribe', bbox: [0, 100, 10, 20] },
      { type: 'subscribe', groups: ['a b'] },
      { type: 'subscribe', extra: true },
      { type: 'subscribe' },
      { type: 'launch' },
    ];
    for (const m of bad) {
      const from = c.json.length;
      c.send(m);
      const err = await c.next('error', from);
      assert.match(err.code, /^SW_ERR_/);
      assert.ok(err.message.length > 0);
      await sleep(120); // stay under the per-connection message rate
    }
    const from = c.json.length;
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    assert.equal((await c.next('error', from)).code, 'SW_ERR_DECODE');
    await sleep(120);
    const ids = healthyIds(h, 1);
    c.send({ type: 'subscribe', ids });
    await c.next('subscribed', from);
    const n0 = c.frames.length;
    const t = h.publishTick(Math.floor(Date.now() / 1000) * 1000 + 11_000);
    await until('frame after the errors', 10_000, () => c.frames.slice(n0).some((f) => f.tickMs === t));
    assert.equal(c.closed, null);
    // A malformed tracker frame on the bus is counted and dropped.
    const malformed = gatewayHealth(h).malformedFrames;
    h.transport.publish(h.n.subjects.trackerState(0), new Uint8Array([1, 2, 3, 4, 5]));
    await until('malformed frame counted', 5000, () => gatewayHealth(h).malformedFrames === malformed + 1);
  });

  test('group subscriptions follow catalog changes (catalog.changed reloads the id → groups index)', { timeout: 30_000 }, async () => {
    const [id] = healthyIds(h, 1);
    const obj = h.byId.get(id!)!;
    await upsertObject(h.storage.db, { noradId: obj.noradId, name: obj.name, groups: [...obj.groups, 'newgroup'] });
    h.transport.publish(h.n.subjects.catalogChanged, CatalogChangedMessage.encode({ v: 1, at: Date.now(), ids: [obj.noradId], full: false }));
    const c = client();
    await c.opened;
    await until('the object joins the group subscription', 20_000, async () => {
      const from = c.json.length;
      c.send({ type: 'subscribe', groups: ['newgroup'] });
      return (await c.next('subscribed', from)).matched === 1;
    });
    const n0 = c.frames.length;
    const t = h.publishTick(Math.floor(Date.now() / 1000) * 1000 + 13_000);
    await until('group frame', 10_000, () => c.frames.slice(n0).some((f) => f.tickMs === t));
    assert.deepEqual(c.frames.slice(n0).find((f) => f.tickMs === t)!.ids, [obj.noradId]);
  });

  test('a message over maxPayload closes that connection (1009); others are unaffected', { timeout: 20_000 }, async () => {
    const big = client();
    const other = client();
    await Promise.all([big.opened, other.opened]);
    big.send({ type: 'subscribe', groups: ['x'.repeat(200 * 1024)] });
    await until('closed', 10_000, () => big.closed !== null);
    assert.equal(big.closed!.code, 1009);
    other.send({ type: 'unsubscribe' });
    await other.next('subscribed');
    assert.equal(other.closed, null);
  });

  test('a message flood gets rate-limit errors, then the connection is closed', { timeout: 20_000 }, async () => {
    const c = client();
    await c.opened;
    for (let i = 0; i < 200 && c.ws.readyState === WebSocket.OPEN; i++) c.send({ type: 'unsubscribe' });
    await until('closed', 10_000, () => c.closed !== null);
    assert.equal(c.closed!.code, 1008);
    assert.ok(c.json.some((m) => m.code === 'SW_ERR_RATE_LIMITED'));
  });
});

describe('websocket backpressure', () => {
  test('a client that stops reading does not hold up the others and is disconnected at the bound', { timeout: 90_000 }, async () => {
    // ~3,000 objects: 144 kB per tick, ten ticks a second, so the paused
    // client's socket buffers fill within seconds. Heartbeats are slowed so
    // the disconnect seen is the backpressure bound, not a missed ping.
    const h = await startGatewayHarness({ count: 20, publishCount: 3000, env: { STARWEATHER_WS_MAX_BUFFERED_BYTES: '262144', STARWEATHER_WS_MAX_SKIPPED_FRAMES: '5', STARWEATHER_WS_HEARTBEAT_MS: '120000' } });
    const clients: Client[] = [];
    let stop = () => {};
    try {
      const slow = new Client(`ws://127.0.0.1:${h.port}/ws`);
      const fast = new Client(`ws://127.0.0.1:${h.port}/ws`);
      clients.push(slow, fast);
      await Promise.all([slow.opened, fast.opened]);
      slow.send({ type: 'subscribe', all: true });
      fast.send({ type: 'subscribe', all: true });
      await Promise.all([slow.next('subscribed'), fast.next('subscribed')]);
      // Stop reading: the kernel buffers fill, then the server's send buffer.
      (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      stop = h.startTicking(100);
      await until('slow client disconnected', 60_000, () => gatewayHealth(h).slowDisconnects >= 1);
      const st = gatewayHealth(h);
      assert.ok(st.skippedFrames >= 5, `skipped ${st.skippedFrames}`);
      assert.equal(st.clients, 1, 'only the fast client is left');
      // The fast client kept receiving the ticks meanwhile, and keeps receiving them.
      const got = fast.frames.length;
      assert.ok(got >= 10, `fast client frames: ${got}`);
      await until('fast client still served', 10_000, () => fast.frames.length >= got + 5);
      assert.equal(fast.closed, null);
    } finally {
      stop();
      for (const c of clients) c.close();
      await h.close();
    }
  });
});

describe('websocket access control', () => {
  let h: GatewayHarness;
  before(async () => {
    h = await startGatewayHarness({ count: 5, env: { STARWEATHER_WS_ALLOWED_ORIGINS: 'https://ok.example,http://localhost:3000', STARWEATHER_WS_TOKEN: 's3cret-token', STARWEATHER_WS_HEARTBEAT_MS: '300' } });
  });
  after(async () => {
    await h?.close();
  });

  test('a bad Origin is refused before the upgrade (403 problem)', async () => {
    const c = new Client(`ws://127.0.0.1:${h.port}/ws?token=s3cret-token`, { origin: 'https://evil.example' });
    await assert.rejects(c.opened, (e: { status?: number }) => e.status === 403);
    // The refusal is a plain HTTP problem answer to the upgrade request.
    const r = await new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
      const req = httpRequest({
        host: '127.0.0.1',
        port: h.port,
        path: '/ws?token=s3cret-token',
        headers: { origin: 'https://evil.example', connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
      });
      req.on('upgrade', () => reject(new Error('upgraded despite a bad Origin')));
      req.on('error', reject);
      req.end();
    });
    assert.equal(r.status, 403);
    assert.match(r.type, /problem\+json/);
    assert.equal((JSON.parse(r.body) as { code: string }).code, 'SW_ERR_FORBIDDEN_ORIGIN');
  });

  test('a missing or wrong token is refused (401); an allowed Origin with the token connects', async () => {
    const none = new Client(`ws://127.0.0.1:${h.port}/ws`, { origin: 'https://ok.example' });
    await assert.rejects(none.opened, (e: { status?: number }) => e.status === 401);
    const wrong = new Client(`ws://127.0.0.1:${h.port}/ws?token=nope`, { origin: 'https://ok.example' });
    await assert.rejects(wrong.opened, (e: { status?: number }) => e.status === 401);
    const ok = new Client(`ws://127.0.0.1:${h.port}/ws`, { origin: 'https://ok.example', headers: { authorization: 'Bearer s3cret-token' } });
    await ok.opened;
    await ok.next('welcome');
    ok.close();
  });

  test('heartbeats arrive; a client that answers no ping is dropped', { timeout: 20_000 }, async () => {
    const opts = { origin: 'https://ok.example', headers: { authorization: 'Bearer s3cret-token' } };
    const live = new Client(`ws://127.0.0.1:${h.port}/ws`, opts);
    const mute = new Client(`ws://127.0.0.1:${h.port}/ws`, { ...opts, autoPong: false });
    await Promise.all([live.opened, mute.opened]);
    await until('mute client dropped', 10_000, () => mute.closed !== null);
    const beats = live.json.filter((m) => m.type === 'heartbeat');
    assert.ok(beats.length >= 2, `heartbeats: ${beats.length}`);
    assert.equal(typeof beats[0].serverTime, 'number');
    assert.equal(live.closed, null);
    live.close();
  });
});
