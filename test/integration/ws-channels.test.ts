/**
 * The websocket's resume, alert and slow-client features on a real gateway
 * host with real ws clients and real tracker frames (the harness propagates
 * element sets and publishes encoded frames per shard, as a tracker does):
 * a reconnecting client resumes its subscription with the states changed
 * since its last seq; alerts raised on the bus reach alert subscribers and
 * are replayed from storage; GET /alerts lists them; an alert overtakes a
 * position frame queued for a client that is not reading.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { raiseAlert } from '../../actors/storage/alerts.js';
import { createStateBuffer, propagateBatch } from '../../actors/tracker/propagate.js';
import { AlertRaisedMessage, type AlertRaised } from '../../protocol/messages/satellite-state.js';
import { startGatewayHarness, type GatewayHarness } from '../helpers/gateway-harness.js';
import { Client, sleep, until } from '../helpers/ws-test-client.js';

function gatewayHealth(h: GatewayHarness): Record<string, any> {
  return (h.host.info().services as Record<string, Record<string, any>>).gateway!;
}

function healthyIds(h: GatewayHarness, count: number): number[] {
  const buf = createStateBuffer(h.objects.length);
  propagateBatch(h.objects.map((o) => o.satrec), h.objects.length, Date.now(), buf.state, buf.errors);
  return h.objects.filter((_, i) => buf.errors[i] === 0).slice(0, count).map((o) => o.noradId);
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

/** Store an alert and announce it on the bus, as the tracker does for a decay. */
async function raise(h: GatewayHarness, id: string, message: string): Promise<AlertRaised> {
  const raisedAt = new Date();
  await raiseAlert(h.storage.db, { id, kind: 'storm-warning', severity: 'critical', noradId: null, message, payload: { basin: 'WP' }, raisedAt });
  const wire: AlertRaised = { v: 1, id, kind: 'storm-warning', severity: 'critical', noradId: null, message, raisedAt: raisedAt.toISOString(), payload: { basin: 'WP' } };
  h.transport.publish(h.n.subjects.alerts, AlertRaisedMessage.encode(wire));
  return wire;
}

describe('websocket resume and alerts', () => {
  let h: GatewayHarness;
  const clients: Client[] = [];
  const client = (): Client => {
    const c = new Client(`ws://127.0.0.1:${h.port}/ws`);
    clients.push(c);
    return c;
  };
  // Distinct ticks, later than anything the clock would give, so each test's ticks are its own.
  let tick = Math.floor(Date.now() / 1000) * 1000 + 100_000;
  const nextTick = () => (tick += 1000);

  before(async () => {
    h = await startGatewayHarness({ count: 60 });
  });
  after(async () => {
    for (const c of clients) c.close();
    await h?.close();
  });

  test('a client that reconnects resumes: its subscription back, the states changed since its last seq, then every tick', { timeout: 30_000 }, async () => {
    const ids = healthyIds(h, 3);
    const a = client();
    await a.opened;
    const welcome = await a.next('welcome');
    assert.match(welcome.session, /^[A-Za-z0-9_-]{20,}$/);
    assert.ok(welcome.sessionTtlMs > 0);
    a.send({ type: 'subscribe', ids });
    await a.next('subscribed');
    const t1 = h.publishTick(nextTick());
    await until('tick 1', 10_000, () => a.frames.some((f) => f.tickMs === t1));
    const lastSeq = a.frames.find((f) => f.tickMs === t1)!.seq;
    assert.ok(lastSeq > 0, 'frames carry the flush seq');

    a.close();
    await until('session parked', 10_000, () => gatewayHealth(h).ws.sessionsParked >= 1);
    // Missed while disconnected.
    const t2 = h.publishTick(nextTick());
    await until('tick 2 flushed', 10_000, () => gatewayHealth(h).lastTickMs === t2);

    const b = client();
    await b.opened;
    const w2 = await b.next('welcome');
    assert.notEqual(w2.session, welcome.session);
    b.send({ type: 'resume', id: 'r1', session: welcome.session, lastSeq });
    const resumed = await b.next('resumed');
    assert.equal(resumed.id, 'r1');
    assert.equal(resumed.session, welcome.session);
    assert.equal(resumed.matched, 3);
    assert.ok(resumed.seq > lastSeq);
    await until('catch-up frame', 5000, () => b.frames.length >= 1);
    assert.equal(b.frames[0]!.tickMs, t2, 'the states changed since lastSeq: the missed tick');
    assert.deepEqual(sorted(b.frames[0]!.ids), sorted(ids));
    const t3 = h.publishTick(nextTick());
    await until('tick 3 after resume', 10_000, () => b.frames.some((f) => f.tickMs === t3));
    assert.deepEqual(sorted(b.frames.find((f) => f.tickMs === t3)!.ids), sorted(ids));

    // The session is b's now: parked no more, so a stale copy cannot be resumed twice.
    assert.equal(gatewayHealth(h).ws.sessionsParked, 0);
    // A half-open b: another connection naming the session takes it over, and b is closed.
    const c = client();
    await c.opened;
    await c.next('welcome');
    c.send({ type: 'resume', session: welcome.session });
    const taken = await c.next('resumed');
    assert.equal(taken.matched, 3, 'no lastSeq: every matching state');
    await until('old connection closed', 5000, () => b.closed !== null);
    assert.equal(b.closed!.code, 4000);
  });

  test('an unknown session is refused with SW_ERR_NOT_FOUND and the connection stays usable', { timeout: 20_000 }, async () => {
    const c = client();
    await c.opened;
    await c.next('welcome');
    c.send({ type: 'resume', session: 'AAAAAAAAAAAAAAAAAAAAAA', lastSeq: 5 });
    const err = await c.next('error');
    assert.equal(err.code, 'SW_ERR_NOT_FOUND');
    c.send({ type: 'resume', session: 'not a session!' });
    assert.equal((await c.next('error', 1 + c.json.indexOf(err))).code, 'SW_ERR_SCHEMA');
    await sleep(150);
    c.send({ type: 'subscribe', all: true });
    assert.ok((await c.next('subscribed')).matched > 0);
    assert.equal(c.closed, null);
  });

  test('alerts reach alert subscribers at once, are replayed to new subscribers from storage, and are listed by GET /alerts', { timeout: 30_000 }, async () => {
    const a = client();
    const none = client();
    await Promise.all([a.opened, none.opened]);
    a.send({ type: 'subscribe', alerts: true });
    none.send({ type: 'subscribe', all: true });
    await Promise.all([a.next('subscribed'), none.next('subscribed')]);
    const wire = await raise(h, 'storm:WP:2026-11-25T18', 'Typhoon warning, western Pacific');
    const got = await a.next('alert');
    assert.equal(got.replay, false);
    assert.deepEqual(got.alert, wire);
    // The same alert again on the bus (at-least-once) is not broadcast twice.
    h.transport.publish(h.n.subjects.alerts, AlertRaisedMessage.encode(wire));
    // A malformed alert is dropped.
    h.transport.publish(h.n.subjects.alerts, new TextEncoder().encode('{"v":1}'));
    await sleep(300);
    assert.equal(a.json.filter((m) => m.type === 'alert').length, 1);
    assert.equal(none.json.filter((m) => m.type === 'alert').length, 0, 'no alerts without the channel');

    const b = client();
    await b.opened;
    b.send({ type: 'subscribe', alerts: true, ids: healthyIds(h, 1) });
    await b.next('subscribed');
    const replay = await b.next('alert');
    assert.equal(replay.replay, true);
    assert.equal(replay.alert.id, wire.id);

    const r = await fetch(`${h.base}/alerts?limit=10`);
    assert.equal(r.status, 200);
    const body = (await r.json()) as { alerts: Array<AlertRaised & { acknowledgedAt: string | null }> };
    const listed = body.alerts.find((x) => x.id === wire.id);
    assert.ok(listed);
    assert.equal(listed.severity, 'critical');
    assert.equal(listed.acknowledgedAt, null);
    const bad = await fetch(`${h.base}/alerts?limit=0`);
    assert.equal(bad.status, 400);
    assert.match(String(bad.headers.get('content-type')), /problem\+json/);
  });
});

describe('alert priority', () => {
  test('an alert overtakes the position frame queued for a client that is not reading', { timeout: 90_000 }, async () => {
    // 3,000 objects (144 kB a frame) at 20 ticks a second fill the paused
    // client's socket buffers within seconds; skips are not disconnects here.
    const h = await startGatewayHarness({
      count: 20,
      publishCount: 3000,
      env: { STARWEATHER_WS_MAX_BUFFERED_BYTES: String(256 * 1024 * 1024), STARWEATHER_WS_MAX_SKIPPED_FRAMES: '10000', STARWEATHER_WS_HEARTBEAT_MS: '120000' },
    });
    const c = new Client(`ws://127.0.0.1:${h.port}/ws`);
    try {
      await c.opened;
      c.send({ type: 'subscribe', all: true, alerts: true });
      await c.next('subscribed');
      (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      let t = Math.floor(Date.now() / 1000) * 1000 + 1_000_000;
      let lastTick = 0;
      const skippedBefore = gatewayHealth(h).skippedFrames;
      const end = Date.now() + 60_000;
      // Until frames pile up behind the stuck socket: each new one replaces the queued one (a skip).
      while (gatewayHealth(h).skippedFrames < skippedBefore + 3 && Date.now() < end) {
        lastTick = h.publishTick((t += 1000));
        await sleep(50);
      }
      assert.ok(gatewayHealth(h).skippedFrames >= skippedBefore + 3, 'frames never queued up');
      await until('last tick flushed', 5000, () => gatewayHealth(h).lastTickMs === lastTick);
      const wire = await raise(h, 'storm:AL:priority', 'Hurricane warning');
      await sleep(200);
      (c.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      await until('alert and last frame received', 30_000, () => c.frames.some((f) => f.tickMs === lastTick) && c.json.some((m) => m.type === 'alert'));
      const alertAt = c.arrivals.findIndex((x) => x.kind === 'json' && x.type === 'alert');
      const frameAt = c.arrivals.findIndex((x) => x.kind === 'frame' && x.tickMs === lastTick);
      assert.ok(alertAt < frameAt, `alert at ${alertAt}, queued frame of tick ${lastTick} at ${frameAt}`);
      assert.equal((c.arrivals[alertAt] as { msg: { alert: AlertRaised } }).msg.alert.id, wire.id);
      assert.equal(c.closed, null);
      assert.equal(gatewayHealth(h).slowDisconnects, 0);
    } finally {
      c.close();
      await h.close();
    }
  });
});
