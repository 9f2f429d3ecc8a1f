/**
 * The dashboard's motion model (actors/gateway/ui/src/state-store.ts): frames
 * decoded with the protocol decoder feed the store; positions interpolate
 * between an object's last two ticks, the short way across the antimeridian,
 * with bounded extrapolation; repeated or old ticks are ignored and objects
 * absent from frames are dropped after a while.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeTrackerFrame, encodeTrackerFrame, STATE_STRIDE } from '../../protocol/frames/tracker-state.js';
import { positionAt, StateStore } from '../../actors/gateway/ui/src/state-store.js';

/** One frame with objects at the given lon/lat (other values arbitrary but finite). */
function frame(tickMs: number, objs: Array<[id: number, lon: number, lat: number]>) {
  const values = new Float64Array(objs.length * STATE_STRIDE);
  objs.forEach(([, lon, lat], i) => {
    values.set([7000, 0, 0, 0, 7.5, 0, lat, lon, 500, 7.6], i * STATE_STRIDE);
  });
  const bytes = encodeTrackerFrame(0, tickMs, { ids: new Uint32Array(objs.map((o) => o[0])), flags: new Uint32Array(objs.length), values, count: objs.length });
  return decodeTrackerFrame(bytes);
}

test('positions interpolate between the last two ticks; display time runs one tick behind the newest frame', () => {
  const s = new StateStore();
  const f1 = frame(10_000, [[1, 10, 0]]);
  s.ingest(f1.tickMs, f1.columns, 0);
  const f2 = frame(11_000, [[1, 11, 2]]);
  s.ingest(f2.tickMs, f2.columns, 1000);
  const o = s.objects.get(1)!;
  const out = new Float64Array(3);
  // At the arrival of the 11 s frame the map shows 10 s, and 11 s one second later.
  assert.equal(s.displayTime(1000), 10_000);
  assert.equal(s.displayTime(2000), 11_000);
  positionAt(o, s.displayTime(1500)!, out);
  assert.ok(Math.abs(out[0]! - 10.5) < 1e-5 && Math.abs(out[1]! - 1) < 1e-5, `${out[0]}, ${out[1]}`);
  assert.ok(Math.abs(out[2]! - 500) < 1e-3);
  // A late frame: extrapolation is bounded to half a tick.
  positionAt(o, 20_000, out);
  assert.ok(Math.abs(out[0]! - 11.5) < 1e-5, `${out[0]}`);
  positionAt(o, 0, out);
  assert.ok(Math.abs(out[0]! - 10) < 1e-5);
});

test('crossing the antimeridian interpolates the short way round', () => {
  const s = new StateStore();
  const a = frame(1000, [[7, 179.5, 0]]);
  const b = frame(2000, [[7, -179.5, 0]]);
  s.ingest(a.tickMs, a.columns, 0);
  s.ingest(b.tickMs, b.columns, 1);
  const out = new Float64Array(3);
  positionAt(s.objects.get(7)!, 1250, out);
  assert.ok(Math.abs(out[0]! - 179.75) < 1e-4, `${out[0]}`);
  positionAt(s.objects.get(7)!, 1750, out);
  assert.ok(Math.abs(out[0]! - -179.75) < 1e-4, `${out[0]}`);
});

test('a repeated or older tick (a snapshot after a reconnect) does not move an object; absent objects are dropped', () => {
  const s = new StateStore();
  const a = frame(1000, [[1, 0, 0], [2, 50, 50]]);
  const b = frame(2000, [[1, 1, 0], [2, 51, 50]]);
  s.ingest(a.tickMs, a.columns, 0);
  s.ingest(b.tickMs, b.columns, 1);
  const again = frame(2000, [[1, 5, 5]]);
  s.ingest(again.tickMs, again.columns, 2);
  const old = frame(1500, [[1, 9, 9]]);
  s.ingest(old.tickMs, old.columns, 3);
  assert.equal(s.objects.get(1)!.lon1, 1);
  assert.equal(s.objects.get(1)!.lon0, 0);
  // Object 2 stops appearing; after 15 s of frames without it, it is gone.
  for (let t = 3000; t <= 17_000; t += 1000) {
    const f = frame(t, [[1, t / 1000, 0]]);
    s.ingest(f.tickMs, f.columns, t);
  }
  assert.ok(s.objects.has(2));
  const f = frame(18_000, [[1, 18, 0]]);
  s.ingest(f.tickMs, f.columns, 18_000);
  assert.equal(s.objects.has(2), false);
  assert.equal(s.objects.size, 1);
  // A state with non-finite coordinates (an SGP4 failure) is not placed on the map.
  const bad = frame(20_000, [[3, NaN, NaN]]);
  s.ingest(bad.tickMs, bad.columns, 20_000);
  assert.equal(s.objects.has(3), false);
});
