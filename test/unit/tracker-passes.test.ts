/**
 * Pass prediction against an independent brute force: satellite.js
 * propagate + eciToEcf + ecfToLookAngles at every whole second of the
 * window. Rise and set must agree within 2 s (issue 4), the maximum
 * elevation within 0.01°.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ecfToLookAngles, eciToEcf, gstime, propagate, type SatRec } from 'satellite.js';
import { loadSnapshot } from '../../actors/tracker/snapshot.js';
import { createSatrec, elementSetFromTle } from '../../actors/tracker/element-set.js';
import { predictPasses, type Pass } from '../../actors/tracker/passes.js';
import { observerGeodetic, type Observer } from '../../actors/tracker/look-angles.js';

const RISE_SET_TOL_S = 2;
const MAX_EL_TOL_DEG = 0.01;
const DAY_MS = 86_400_000;
const WINDOW_START = Date.UTC(2026, 4, 8, 0, 0, 0);

const BERLIN: Observer = { latDeg: 52.52, lonDeg: 13.405, altKm: 0.034 };
const SYDNEY: Observer = { latDeg: -33.87, lonDeg: 151.21, altKm: 0.058 };
const FAIRBANKS: Observer = { latDeg: 64.84, lonDeg: -147.72, altKm: 0.136 };
const DENVER: Observer = { latDeg: 39.74, lonDeg: -104.99, altKm: 1.609 };

const snapshot = await loadSnapshot();
function satrecFor(noradId: number): SatRec {
  const rec = snapshot.records.find((r) => r.noradId === noradId);
  assert.ok(rec, `object ${noradId} in snapshot`);
  return createSatrec(elementSetFromTle(rec)).satrec;
}

interface BrutePass {
  riseS: number; // first whole second at or above the mask (or 0 if up at start)
  setS: number; // last whole second at or above the mask
  maxEl: number;
  riseClipped: boolean;
  setClipped: boolean;
}

function bruteForce(satrec: SatRec, obs: Observer, startMs: number, seconds: number, horizonDeg: number): BrutePass[] {
  const gd = observerGeodetic(obs);
  const out: BrutePass[] = [];
  let cur: BrutePass | undefined;
  for (let s = 0; s <= seconds; s++) {
    const date = new Date(startMs + s * 1000);
    const pv = propagate(satrec, date);
    const el = pv ? (ecfToLookAngles(gd, eciToEcf(pv.position, gstime(date))).elevation * 180) / Math.PI : -90;
    if (el >= horizonDeg) {
      if (!cur) cur = { riseS: s, setS: s, maxEl: el, riseClipped: s === 0, setClipped: false };
      cur.setS = s;
      cur.maxEl = Math.max(cur.maxEl, el);
    } else if (cur) {
      out.push(cur);
      cur = undefined;
    }
  }
  if (cur) out.push({ ...cur, setClipped: true });
  return out;
}

const cases: { name: string; noradId: number; obs: Observer; days: number; horizonDeg: number; expect: 'some' | 'none' | 'always' }[] = [
  { name: 'ISS over Berlin', noradId: 25544, obs: BERLIN, days: 1, horizonDeg: 0, expect: 'some' },
  { name: 'ISS over Sydney, 10° mask', noradId: 25544, obs: SYDNEY, days: 1, horizonDeg: 10, expect: 'some' },
  { name: 'Meridian 7 (Molniya orbit) over Fairbanks', noradId: 40296, obs: FAIRBANKS, days: 2, horizonDeg: 0, expect: 'some' },
  { name: 'Meridian 7 (Molniya orbit) over Sydney', noradId: 40296, obs: SYDNEY, days: 2, horizonDeg: 0, expect: 'some' },
  { name: 'GOES 18 (GEO, 137°W) never rises over Berlin', noradId: 51850, obs: BERLIN, days: 1, horizonDeg: 0, expect: 'none' },
  { name: 'GOES 18 (GEO) always up over Denver', noradId: 51850, obs: DENVER, days: 1, horizonDeg: 0, expect: 'always' },
];

for (const c of cases) {
  test(`passes match 1 s brute force: ${c.name}`, () => {
    const satrec = satrecFor(c.noradId);
    const seconds = c.days * 86_400;
    const endMs = WINDOW_START + c.days * DAY_MS;
    const brute = bruteForce(satrec, c.obs, WINDOW_START, seconds, c.horizonDeg);
    const { passes, sgp4Error } = predictPasses(satrec, c.obs, WINDOW_START, endMs, { horizonDeg: c.horizonDeg });
    assert.equal(sgp4Error, 0);
    assert.equal(passes.length, brute.length, `pass count: predicted ${passes.length}, brute force ${brute.length}`);
    if (c.expect === 'none') assert.equal(passes.length, 0);
    if (c.expect === 'some') assert.ok(passes.length > 0);
    if (c.expect === 'always') {
      assert.equal(passes.length, 1);
      assert.ok(passes[0]!.riseClipped && passes[0]!.setClipped);
    }
    let worst = 0;
    passes.forEach((p: Pass, k) => {
      const b = brute[k]!;
      assert.equal(p.riseClipped, b.riseClipped);
      assert.equal(p.setClipped, b.setClipped);
      const riseS = (p.rise.tMs - WINDOW_START) / 1000;
      const setS = (p.set.tMs - WINDOW_START) / 1000;
      const dr = Math.abs(riseS - b.riseS);
      const ds = Math.abs(setS - b.setS);
      worst = Math.max(worst, dr, ds);
      assert.ok(dr <= RISE_SET_TOL_S, `pass ${k} rise ${riseS.toFixed(3)} s vs brute ${b.riseS} s`);
      assert.ok(ds <= RISE_SET_TOL_S, `pass ${k} set ${setS.toFixed(3)} s vs brute ${b.setS} s`);
      if (!p.riseClipped) assert.ok(Math.abs(p.rise.elevationDeg - c.horizonDeg) < 0.01, `rise elevation ${p.rise.elevationDeg}`);
      if (!p.setClipped) assert.ok(Math.abs(p.set.elevationDeg - c.horizonDeg) < 0.01, `set elevation ${p.set.elevationDeg}`);
      assert.ok(p.culmination.tMs >= p.rise.tMs && p.culmination.tMs <= p.set.tMs);
      assert.equal(p.maxElevationDeg, p.culmination.elevationDeg);
      assert.ok(p.maxElevationDeg >= b.maxEl - 1e-9, `max elevation ${p.maxElevationDeg} below brute ${b.maxEl}`);
      assert.ok(p.maxElevationDeg - b.maxEl <= MAX_EL_TOL_DEG, `max elevation ${p.maxElevationDeg} vs brute ${b.maxEl}`);
      for (const pt of [p.rise, p.culmination, p.set]) assert.ok(pt.azimuthDeg >= 0 && pt.azimuthDeg <= 360);
    });
    console.log(`# ${c.name}: ${passes.length} passes, worst rise/set difference ${worst.toFixed(3)} s`);
  });
}

test('min-elevation filter keeps only passes reaching it', () => {
  const satrec = satrecFor(25544);
  const all = predictPasses(satrec, BERLIN, WINDOW_START, WINDOW_START + DAY_MS).passes;
  const high = predictPasses(satrec, BERLIN, WINDOW_START, WINDOW_START + DAY_MS, { minMaxElevationDeg: 30 }).passes;
  assert.ok(all.length > high.length, `${all.length} passes, ${high.length} above 30°`);
  assert.deepEqual(
    high.map((p) => p.rise.tMs),
    all.filter((p) => p.maxElevationDeg >= 30).map((p) => p.rise.tMs),
  );
});

test('bad windows give no passes instead of throwing', () => {
  const satrec = satrecFor(25544);
  assert.deepEqual(predictPasses(satrec, BERLIN, WINDOW_START, WINDOW_START).passes, []);
  assert.deepEqual(predictPasses(satrec, BERLIN, WINDOW_START, WINDOW_START - 1).passes, []);
  assert.deepEqual(predictPasses(satrec, BERLIN, NaN, WINDOW_START).passes, []);
});
