/**
 * Issue 14, parts 4 and 5, over REST on a real gateway host (the gateway
 * harness: fastify on a free port, PGlite, memory cache, embedded bus):
 * - passes with `horizonDeg=10`: rise and set against a brute-force scan
 *   written here (satellite.js propagate every second, each crossing
 *   refined by bisection to 1 ms), within 2 s; `visible=true` passes
 *   checked against the independent Sun and shadow of
 *   test/helpers/sun-oracle.ts; the masks the answer says it used;
 * - bad `horizonDeg` / `visible` values are 400 problems;
 * - a REST state from the hot cache is float64: it equals satellite.js's
 *   propagation of its element set at its `t` within 1e-6 km, and says
 *   `precision: "float64"`; a state from a bus frame says `float32`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ecfToLookAngles, eciToEcf, eciToGeodetic, gstime, propagate, twoline2satrec, type SatRec } from 'satellite.js';
import { startGatewayHarness, type GatewayHarness } from '../helpers/gateway-harness.js';
import { loadSnapshot } from '../../actors/tracker/snapshot.js';
import { createSatrec, elementSetFromTle } from '../../actors/tracker/element-set.js';
import { insertElementSet } from '../../actors/storage/element-sets.js';
import { upsertObject } from '../../actors/storage/catalog.js';
import { observerGeodetic, type Observer } from '../../actors/tracker/look-angles.js';
import { createStateBuffer, propagateBatch } from '../../actors/tracker/propagate.js';
import { shardOf } from '../../actors/runtime/sharding.js';
import { encodeTrackerFrame, encodeTrackerFrameF64 } from '../../protocol/frames/tracker-state.js';
import { oracleInShadow, oracleSunElevationDeg, oracleSunKm } from '../helpers/sun-oracle.js';
import { until } from '../helpers/cluster-fixtures.js';

const ISS = 25544;
const RAD = Math.PI / 180;
const DENVER: Observer = { latDeg: 39.74, lonDeg: -104.99, altKm: 1.609 };
const BERLIN: Observer = { latDeg: 52.52, lonDeg: 13.405, altKm: 0.034 };
const FROM = '2026-05-08T00:00:00Z';
const TO = '2026-05-10T00:00:00Z';
const RISE_SET_TOL_MS = 2000;
const STATE_TOL_KM = 1e-6;

let h: GatewayHarness;
let iss: SatRec;

before(async () => {
  // The brute-force oracles run on this process's loop, the gateway's too, for seconds at a time:
  // that is the test, not an overload, so the gateway does not shed on event-loop delay here.
  h = await startGatewayHarness({ count: 5, env: { STARWEATHER_SHED_EVENT_LOOP_DELAY_MS: '0' } });
  const rec = (await loadSnapshot()).records.find((r) => r.noradId === ISS);
  assert.ok(rec, 'the ISS in the snapshot');
  await upsertObject(h.storage.db, { noradId: ISS, name: rec.name, groups: ['stations'] });
  await insertElementSet(h.storage.db, { noradId: ISS, epoch: new Date(rec.epochMs), source: 'test:snapshot', format: 'tle', tleLine1: rec.line1, tleLine2: rec.line2 });
  iss = createSatrec(elementSetFromTle(rec)).satrec;
});
after(async () => {
  await h?.close();
});

async function get(path: string): Promise<{ status: number; type: string; body: any }> {
  const res = await fetch(h.base + path);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.json() };
}

function elevationDeg(satrec: SatRec, obs: Observer, tMs: number): number {
  const date = new Date(tMs);
  const pv = propagate(satrec, date);
  assert.ok(pv, 'propagates');
  return ecfToLookAngles(observerGeodetic(obs), eciToEcf(pv.position, gstime(date))).elevation / RAD;
}

/** Rise and set at `horizonDeg`: every second of the window, each crossing bisected to 1 ms. */
function bruteRiseSet(satrec: SatRec, obs: Observer, horizonDeg: number, fromMs: number, toMs: number): { riseMs: number; setMs: number }[] {
  const up = (t: number) => elevationDeg(satrec, obs, t) >= horizonDeg;
  const cross = (below: number, above: number): number => {
    let lo = below;
    let hi = above;
    while (Math.abs(hi - lo) > 1) {
      const mid = Math.round((lo + hi) / 2);
      if (up(mid)) hi = mid;
      else lo = mid;
    }
    return hi;
  };
  const out: { riseMs: number; setMs: number }[] = [];
  let prev = up(fromMs);
  assert.equal(prev, false, 'the window starts with the object down');
  let rise = 0;
  for (let t = fromMs + 1000; t <= toMs; t += 1000) {
    const cur = up(t);
    if (cur && !prev) rise = cross(t - 1000, t);
    if (!cur && prev) out.push({ riseMs: rise, setMs: cross(t, t - 1000) });
    prev = cur;
  }
  return out;
}

test('passes with horizonDeg=10: rise and set within 2 s of a 1 s brute-force scan; the masks are in the answer', async () => {
  // Half a day: four passes above 10° over Denver, and half the brute force's 1 s steps of a whole day.
  const to = '2026-05-08T12:00:00Z';
  const q = `lat=${DENVER.latDeg}&lon=${DENVER.lonDeg}&alt=${DENVER.altKm}&from=${FROM}&to=${to}`;
  const r = await get(`/satellites/${ISS}/passes?${q}&horizonDeg=10`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.masks.horizonDeg, 10);
  assert.equal(r.body.masks.minElevationDeg, 0);
  assert.equal(r.body.masks.visible, false);
  const brute = bruteRiseSet(iss, DENVER, 10, Date.parse(FROM), Date.parse(to));
  assert.ok(brute.length >= 3, `passes above 10° in half a day: ${brute.length}`);
  assert.equal(r.body.passes.length, brute.length);
  r.body.passes.forEach((p: any, i: number) => {
    const dRise = Math.abs(Date.parse(p.rise.t) - brute[i]!.riseMs);
    const dSet = Math.abs(Date.parse(p.set.t) - brute[i]!.setMs);
    assert.ok(dRise <= RISE_SET_TOL_MS, `pass ${i} rise off by ${dRise} ms`);
    assert.ok(dSet <= RISE_SET_TOL_MS, `pass ${i} set off by ${dSet} ms`);
    assert.ok(Math.abs(p.rise.elevationDeg - 10) < 0.01 && Math.abs(p.set.elevationDeg - 10) < 0.01, 'rise and set at the mask');
    assert.ok(p.maxElevationDeg >= 10);
    assert.equal(p.visible, undefined, 'no visible parts unless asked');
  });
  // The default mask is the horizon: more passes, each rising earlier.
  const low = await get(`/satellites/${ISS}/passes?${q}`);
  assert.equal(low.body.masks.horizonDeg, 0);
  assert.ok(low.body.passes.length > r.body.passes.length);
});

test('passes with visible=true: each visible part is visible by an independent Sun and shadow, and the models are named', async () => {
  const q = `lat=${BERLIN.latDeg}&lon=${BERLIN.lonDeg}&alt=${BERLIN.altKm}&from=${FROM}&to=${TO}&horizonDeg=10&minEl=20`;
  const all = await get(`/satellites/${ISS}/passes?${q}`);
  const r = await get(`/satellites/${ISS}/passes?${q}&visible=true`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.masks.horizonDeg, 10);
  assert.equal(r.body.masks.minElevationDeg, 20);
  assert.equal(r.body.masks.visible.sunElevationBelowDeg, -6);
  assert.match(r.body.masks.visible.sunModel, /Astronomical Almanac/);
  assert.match(r.body.masks.visible.shadowModel, /Montenbruck/);
  assert.ok(r.body.passes.length >= 1 && r.body.passes.length < all.body.passes.length, `${r.body.passes.length} of ${all.body.passes.length} passes visible`);
  for (const p of r.body.passes) {
    assert.ok(p.maxElevationDeg >= 20);
    assert.ok(Array.isArray(p.visible) && p.visible.length >= 1);
    for (const v of p.visible) {
      const s = Date.parse(v.start.t);
      const e = Date.parse(v.end.t);
      assert.ok(Date.parse(p.rise.t) <= s && s < e && e <= Date.parse(p.set.t), 'inside its pass');
      // Away from its ends (the oracle's Sun differs by up to 0.01°), every second of the part is visible by the oracle.
      for (let t = s + 5000; t <= e - 5000; t += 1000) {
        const pv = propagate(iss, new Date(t));
        assert.ok(pv && elevationDeg(iss, BERLIN, t) >= 10);
        assert.ok(oracleSunElevationDeg(BERLIN, t) < -6, `dark at ${new Date(t).toISOString()}`);
        assert.ok(!oracleInShadow(pv.position, oracleSunKm(t)), `sunlit at ${new Date(t).toISOString()}`);
      }
    }
  }
  // A pass left out is not visible anywhere above the mask by the oracle (checked every 10 s).
  const kept = new Set(r.body.passes.map((p: any) => p.rise.t));
  for (const p of all.body.passes.filter((x: any) => !kept.has(x.rise.t))) {
    for (let t = Date.parse(p.rise.t) + 5000; t <= Date.parse(p.set.t) - 5000; t += 10_000) {
      const pv = propagate(iss, new Date(t));
      assert.ok(pv);
      assert.ok(oracleSunElevationDeg(BERLIN, t) >= -5.98 || oracleInShadow(pv.position, oracleSunKm(t)), `left-out pass visible at ${new Date(t).toISOString()}`);
    }
  }
});

test('bad horizonDeg and visible values are 400 problems naming the parameter', async () => {
  const base = `/satellites/${ISS}/passes?lat=10&lon=20`;
  for (const bad of ['horizonDeg=-1', 'horizonDeg=90', 'horizonDeg=NaN', 'horizonDeg=Infinity', 'horizonDeg=1e400', 'horizonDeg=ten', 'horizonDeg=', 'visible=maybe', 'visible=2']) {
    const r = await get(`${base}&${bad}`);
    assert.equal(r.status, 400, `${bad}: ${JSON.stringify(r.body)}`);
    assert.match(r.type, /^application\/problem\+json/, bad);
    assert.match(r.body.code, /^SW_ERR_/);
    assert.match(r.body.detail, bad.startsWith('visible') ? /visible/ : /horizonDeg/, `${bad}: ${r.body.detail}`);
  }
});

test('a REST state from the hot cache is float64: the propagation of its element set at its t within 1e-6 km', async () => {
  const obj = h.objects[0]!;
  const tMs = Date.parse('2026-05-08T12:34:56.000Z');
  // What a tracker writes to the cache: its shard's version-2 frame of the tick's float64 states.
  const shard = shardOf(String(obj.noradId), h.cfg.cluster.shardCount);
  const buf = createStateBuffer(1);
  assert.equal(propagateBatch([obj.satrec], 1, tMs, buf.state, buf.errors), 1);
  const cols = { ids: Uint32Array.from([obj.noradId]), flags: new Uint32Array(1), values: buf.state, count: 1 };
  await h.storage.cache.setShardFrameBytes([[shard, encodeTrackerFrameF64(shard, tMs, cols)]]);
  const r = await get(`/satellites/${obj.noradId}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const st = r.body.state;
  assert.equal(st.precision, 'float64');
  assert.equal(st.t, '2026-05-08T12:34:56.000Z');
  // The oracle: satellite.js at the state's own t, from the element set the answer names.
  assert.ok(r.body.elementSet.tleLine1 && r.body.elementSet.tleLine2, 'a TLE element set');
  const es = twoline2satrec(r.body.elementSet.tleLine1, r.body.elementSet.tleLine2);
  const date = new Date(st.t);
  const pv = propagate(es, date);
  assert.ok(pv);
  const want = [pv.position.x, pv.position.y, pv.position.z];
  const wantV = [pv.velocity.x, pv.velocity.y, pv.velocity.z];
  for (let k = 0; k < 3; k++) {
    assert.ok(Math.abs(st.teme.r[k] - want[k]!) <= STATE_TOL_KM, `r[${k}] off by ${Math.abs(st.teme.r[k] - want[k]!)} km`);
    assert.ok(Math.abs(st.teme.v[k] - wantV[k]!) <= STATE_TOL_KM, `v[${k}] off by ${Math.abs(st.teme.v[k] - wantV[k]!)} km/s`);
  }
  const gd = eciToGeodetic(pv.position, gstime(date));
  assert.ok(Math.abs(st.geodetic.altKm - gd.height) <= STATE_TOL_KM, `altitude off by ${Math.abs(st.geodetic.altKm - gd.height)} km`);
  assert.ok(Math.abs(st.geodetic.latDeg - gd.latitude / RAD) <= 1e-8, 'latitude');
  assert.ok(Math.abs(st.geodetic.lonDeg - gd.longitude / RAD) <= 1e-8, 'longitude');
  // float32 would have been visibly off: the test can tell the two apart.
  assert.ok(want.some((x, k) => Math.abs(Math.fround(x) - want[k]!) > 10 * STATE_TOL_KM), 'float32 rounding exceeds the tolerance here');
});

test('a state only a bus frame had says float32', async () => {
  const obj = h.objects[2]!;
  // No cached frame for this shard: the gateway answers from the bus frame it fanned out.
  const shard = shardOf(String(obj.noradId), h.cfg.cluster.shardCount);
  await h.storage.cache.setShardFrameBytes([[shard, encodeTrackerFrame(shard, 0, { ids: new Uint32Array(0), flags: new Uint32Array(0), values: new Float64Array(0), count: 0 })]]);
  const tMs = h.publishTick();
  await until('the bus state reaches the gateway', 5000, async () => (await get(`/satellites/${obj.noradId}`)).body.state?.t === new Date(tMs).toISOString());
  const st = (await get(`/satellites/${obj.noradId}`)).body.state;
  assert.equal(st.precision, 'float32');
  const pv = propagate(obj.satrec, new Date(tMs));
  assert.ok(pv);
  assert.equal(st.teme.r[0], Math.fround(pv.position.x));
});
