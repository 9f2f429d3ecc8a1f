/**
 * Tracker and gateway together, as `starweather start` runs them inline: a
 * real tracker host (W1's service) propagates the catalog in the database
 * (TLE objects plus OMM-only objects numbered 123456 and 999999999), and
 * the gateway serves its states over REST (hot cache) and /ws (frames).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { propagate } from 'satellite.js';
import { startHost, type RunningHost } from '../../actors/host/host.js';
import { NINE_DIGIT_ID, SIX_DIGIT_ID, startGatewayHarness, type GatewayHarness } from '../helpers/gateway-harness.js';
import { Client, until } from '../helpers/ws-test-client.js';
import { readSatelliteState } from '../../actors/tracker/state-cache.js';

let h: GatewayHarness;
let tracker: RunningHost;

before(async () => {
  h = await startGatewayHarness({ count: 100 });
  tracker = await startHost({
    config: h.cfg,
    role: 'tracker',
    hostId: `trk-${h.n.namespace}`,
    logger: pino({ level: 'silent' }),
    send: () => {},
    transport: h.transport,
    storage: async () => h.storage,
  });
});
after(async () => {
  await tracker?.drain().catch(() => undefined);
  await h?.close();
});

test('6- and 9-digit OMM objects: tracker state over REST and over /ws at 1 Hz', { timeout: 60_000 }, async () => {
  for (const id of [SIX_DIGIT_ID, NINE_DIGIT_ID]) {
    let body: any = null;
    await until(`state of ${id} in REST`, 30_000, async () => {
      body = await (await fetch(`${h.base}/satellites/${id}`)).json();
      // The bus frame may reach the gateway before the cache write lands: then a float32 state, from the bus; wait for the cache's.
      return body.state !== null && body.state.precision === 'float64';
    });
    assert.equal(body.state.noradId, id);
    assert.ok(Number.isFinite(body.state.geodetic.latDeg));
    // Full precision from a real tracker (issue 14, part 5): float64, satellite.js's propagation at the state's t within 1e-6 km.
    assert.equal(body.state.precision, 'float64');
    const pv = propagate(h.byId.get(id)!.satrec, new Date(body.state.t));
    assert.ok(pv);
    const want = [pv.position.x, pv.position.y, pv.position.z];
    for (let k = 0; k < 3; k++) assert.ok(Math.abs(body.state.teme.r[k] - want[k]!) <= 1e-6, `r[${k}] off by ${Math.abs(body.state.teme.r[k] - want[k]!)} km`);
    // The tracker's shard frame is in the hot cache (REST's first source, before the bus fallback).
    const cached = await readSatelliteState(h.storage.cache, h.cfg.cluster.shardCount, id);
    assert.ok(cached, `state of ${id} in the hot cache`);
    assert.equal(cached.noradId, id);
    assert.ok(Array.isArray(body.qa.flags));
  }
  const c = new Client(`ws://127.0.0.1:${h.port}/ws`);
  try {
    await c.opened;
    c.send({ type: 'subscribe', ids: [SIX_DIGIT_ID, NINE_DIGIT_ID] });
    await c.next('subscribed');
    await until('3 frames', 15_000, () => c.frames.length >= 3);
    // The snapshot first, then one frame per tick, a second apart.
    const ticks = c.frames.slice(1, 3);
    for (const f of ticks) assert.deepEqual([...f.ids].sort((a, b) => a - b), [SIX_DIGIT_ID, NINE_DIGIT_ID]);
    assert.equal(ticks[1]!.tickMs - ticks[0]!.tickMs, 1000);
    // The 9-digit id survives the u32 on the wire.
    assert.ok(Number.isFinite(ticks[1]!.lat.get(NINE_DIGIT_ID)!));
  } finally {
    c.close();
  }
});
