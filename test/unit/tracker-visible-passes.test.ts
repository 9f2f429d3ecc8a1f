/**
 * Visible passes against oracles written here, not the code's own formulas:
 * - the Sun from Meeus, "Astronomical Algorithms" (2nd ed., 1998), ch. 25
 *   (the low-accuracy solar coordinates, a different series from the
 *   Astronomical Almanac's that actors/tracker/sun.ts uses), held to Meeus's
 *   published example 25.a; sidereal time from Meeus eq. 12.4;
 * - the shadow as a segment–sphere intersection: the line from the
 *   satellite to the Sun's centre meets the Earth sphere or not;
 * - the satellite from satellite.js propagate(), scanned every second of
 *   the window and refined by bisection.
 * A visible part's start and end must agree within 2 s, plus, where the
 * twilight limit decides it, the time the Sun takes to move through the
 * two solar formulas' stated error (0.01°) at that moment.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ecfToLookAngles, eciToEcf, gstime, propagate, type SatRec } from 'satellite.js';
import { loadSnapshot } from '../../actors/tracker/snapshot.js';
import { createSatrec, elementSetFromTle } from '../../actors/tracker/element-set.js';
import { passSteps, predictPasses, STEP_EVALS } from '../../actors/tracker/passes.js';
import { observerGeodetic, type Observer } from '../../actors/tracker/look-angles.js';
import { AU_KM, sunElevationDeg, sunPositionKm } from '../../actors/tracker/sun.js';
import { jdOf, meeusSun, oracleInShadow, oracleSunElevationDeg, oracleSunKm } from '../helpers/sun-oracle.js';

const RAD = Math.PI / 180;
const DAY_MS = 86_400_000;
const BOUNDARY_TOL_S = 2;
const SOLAR_FORMULA_TOL_DEG = 0.01;

test('the Sun: Meeus example 25.a (published) for both the oracle and sun.ts, within 0.01°', () => {
  // 1992 October 13.0 TD: α = 198.38083°, δ = −7.78507°, R = 0.99766 AU (Meeus, Astronomical Algorithms, example 25.a).
  const tMs = Date.UTC(1992, 9, 13, 0, 0, 0);
  const m = meeusSun(jdOf(tMs));
  assert.ok(Math.abs(m.raDeg - 198.38083) < 1e-4, `oracle α ${m.raDeg}`);
  assert.ok(Math.abs(m.decDeg - -7.78507) < 1e-4, `oracle δ ${m.decDeg}`);
  assert.ok(Math.abs(m.rAu - 0.99766) < 1e-5, `oracle R ${m.rAu}`);
  const p = sunPositionKm(tMs);
  const ra = ((Math.atan2(p.y, p.x) / RAD) + 360) % 360;
  const dec = Math.asin(p.z / Math.hypot(p.x, p.y, p.z)) / RAD;
  assert.ok(Math.abs(ra - 198.38083) < SOLAR_FORMULA_TOL_DEG, `sun.ts α ${ra}`);
  assert.ok(Math.abs(dec - -7.78507) < SOLAR_FORMULA_TOL_DEG, `sun.ts δ ${dec}`);
  assert.ok(Math.abs(Math.hypot(p.x, p.y, p.z) / AU_KM - 0.99766) < 1e-4);
});

test('the Sun\'s elevation agrees with the hour-angle formula over a year, observers at all latitudes', () => {
  let worst = 0;
  for (let k = 0; k < 400; k++) {
    const tMs = Date.UTC(2026, 0, 1) + k * 0.9137 * DAY_MS;
    const obs: Observer = { latDeg: -89 + ((k * 37) % 179), lonDeg: -180 + ((k * 73) % 360), altKm: 0 };
    worst = Math.max(worst, Math.abs(sunElevationDeg(obs, tMs) - oracleSunElevationDeg(obs, tMs)));
  }
  // Two 0.01° formulas and two sidereal times (IAU-82 vs Meeus 12.4, identical to ~0.1″).
  assert.ok(worst < 2 * SOLAR_FORMULA_TOL_DEG, `worst difference ${worst}°`);
});

const snapshot = await loadSnapshot();
function satrecFor(noradId: number): SatRec {
  const rec = snapshot.records.find((r) => r.noradId === noradId);
  assert.ok(rec, `object ${noradId} in snapshot`);
  return createSatrec(elementSetFromTle(rec)).satrec;
}

type Why = 'horizon' | 'twilight' | 'shadow';
interface Oracle {
  visible: boolean;
  why: Why | null;
}

function oracleAt(satrec: SatRec, obs: Observer, horizonDeg: number, tMs: number): Oracle {
  const date = new Date(tMs);
  const pv = propagate(satrec, date);
  assert.ok(pv, 'propagates');
  const el = ecfToLookAngles(observerGeodetic(obs), eciToEcf(pv.position, gstime(date))).elevation / RAD;
  if (el < horizonDeg) return { visible: false, why: 'horizon' };
  if (oracleSunElevationDeg(obs, tMs) >= -6) return { visible: false, why: 'twilight' };
  if (oracleInShadow(pv.position, oracleSunKm(tMs))) return { visible: false, why: 'shadow' };
  return { visible: true, why: null };
}

interface Boundary {
  tMs: number;
  /** The condition that is false on the invisible side. */
  why: Why | 'window';
}

/** The oracle's visible intervals: every second, each change refined by bisection to 1 ms. */
function bruteVisible(satrec: SatRec, obs: Observer, horizonDeg: number, startMs: number, endMs: number): { start: Boundary; end: Boundary }[] {
  const out: { start: Boundary; end: Boundary }[] = [];
  let prev = oracleAt(satrec, obs, horizonDeg, startMs);
  let open: Boundary | null = prev.visible ? { tMs: startMs, why: 'window' } : null;
  for (let t = startMs + 1000; t <= endMs; t += 1000) {
    const cur = oracleAt(satrec, obs, horizonDeg, t);
    if (cur.visible !== prev.visible) {
      let lo = t - 1000; // same visibility as prev
      let hi = t;
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (oracleAt(satrec, obs, horizonDeg, mid).visible === prev.visible) lo = mid;
        else hi = mid;
      }
      if (cur.visible) open = { tMs: hi, why: prev.why! };
      else {
        out.push({ start: open!, end: { tMs: lo, why: cur.why! } });
        open = null;
      }
    }
    prev = cur;
  }
  if (open) out.push({ start: open, end: { tMs: endMs, why: 'window' } });
  return out;
}

/** 2 s, plus the time the Sun's elevation takes to change by the formulas' error where twilight decides. */
function toleranceMs(obs: Observer, b: Boundary): number {
  if (b.why !== 'twilight') return BOUNDARY_TOL_S * 1000;
  const rateDegPerS = Math.abs(oracleSunElevationDeg(obs, b.tMs + 30_000) - oracleSunElevationDeg(obs, b.tMs - 30_000)) / 60;
  return BOUNDARY_TOL_S * 1000 + ((2 * SOLAR_FORMULA_TOL_DEG) / rateDegPerS) * 1000;
}

const BERLIN: Observer = { latDeg: 52.52, lonDeg: 13.405, altKm: 0.034 };
const DENVER: Observer = { latDeg: 39.74, lonDeg: -104.99, altKm: 1.609 };
const MADRID: Observer = { latDeg: 40.42, lonDeg: -3.7, altKm: 0.65 };
const WINDOW_START = Date.UTC(2026, 4, 8, 0, 0, 0);

const cases = [
  { name: 'ISS over Berlin in May', noradId: 25544, obs: BERLIN, horizonDeg: 0, days: 2 },
  { name: 'ISS over Denver, 10° mask', noradId: 25544, obs: DENVER, horizonDeg: 10, days: 2 },
  { name: 'ISS over Madrid (a pass that ends in morning twilight)', noradId: 25544, obs: MADRID, horizonDeg: 0, days: 2 },
];
/** Which condition decided the oracle's boundaries, over all cases. */
const reasons = new Set<string>();

for (const c of cases) {
  test(`visible passes match a 1 s brute-force scan of independent sun and shadow: ${c.name}`, () => {
    const satrec = satrecFor(c.noradId);
    const endMs = WINDOW_START + c.days * DAY_MS;
    const brute = bruteVisible(satrec, c.obs, c.horizonDeg, WINDOW_START, endMs);
    const { passes } = predictPasses(satrec, c.obs, WINDOW_START, endMs, { horizonDeg: c.horizonDeg, visible: true });
    const parts = passes.flatMap((p) => {
      assert.ok(p.visible && p.visible.length > 0, 'a visible pass lists its visible parts');
      for (const v of p.visible) assert.ok(v.start.tMs >= p.rise.tMs && v.end.tMs <= p.set.tMs && v.start.tMs < v.end.tMs, 'visible part inside its pass');
      return p.visible;
    });
    assert.ok(brute.length >= 2, `the case has visible passes (${brute.length})`);
    assert.equal(parts.length, brute.length, `visible parts: predicted ${parts.length}, brute force ${brute.length}`);
    brute.forEach((b, i) => {
      const p = parts[i]!;
      reasons.add(b.start.why).add(b.end.why);
      const ds = Math.abs(p.start.tMs - b.start.tMs);
      const de = Math.abs(p.end.tMs - b.end.tMs);
      assert.ok(ds <= toleranceMs(c.obs, b.start), `part ${i} start (${b.start.why}) off by ${ds} ms`);
      assert.ok(de <= toleranceMs(c.obs, b.end), `part ${i} end (${b.end.why}) off by ${de} ms`);
    });
    // Every visible part reported is visible in the middle by the oracle, too.
    for (const p of parts) assert.ok(oracleAt(satrec, c.obs, c.horizonDeg, (p.start.tMs + p.end.tMs) / 2).visible);
  });
}

test('the cases cover boundaries decided by each condition: horizon, twilight, shadow', () => {
  for (const why of ['horizon', 'twilight', 'shadow']) assert.ok(reasons.has(why), `a boundary decided by ${why} (seen: ${[...reasons]})`);
});

test('visible=false keeps every pass; visible=true keeps a subset with the same rise and set', () => {
  const satrec = satrecFor(25544);
  const endMs = WINDOW_START + DAY_MS;
  const all = predictPasses(satrec, BERLIN, WINDOW_START, endMs).passes;
  const vis = predictPasses(satrec, BERLIN, WINDOW_START, endMs, { visible: true }).passes;
  assert.ok(vis.length > 0 && vis.length < all.length, `${vis.length} of ${all.length}`);
  for (const v of vis) {
    const same = all.find((a) => a.rise.tMs === v.rise.tMs);
    assert.ok(same && same.set.tMs === v.set.tMs && same.visible === undefined);
  }
});

test('the search is steps: a 14-day window of an object always up yields every few dozen samples, with the same answer', () => {
  const satrec = satrecFor(51850); // GOES 18, always up over Denver: one pass the whole window, visibility sampled across it
  const endMs = WINDOW_START + 14 * DAY_MS;
  const steps = passSteps(satrec, DENVER, WINDOW_START, endMs, { visible: true });
  let yields = 0;
  let r = steps.next();
  for (; !r.done; r = steps.next()) yields++;
  const samples = (14 * DAY_MS) / 60_000;
  // Elevation samples and visibility samples (one a minute over the whole pass) each yield every STEP_EVALS.
  assert.ok(yields >= (2 * samples) / STEP_EVALS, `${yields} yields for ${2 * samples} samples`);
  assert.deepEqual(r.value, predictPasses(satrec, DENVER, WINDOW_START, endMs, { visible: true }));
  assert.equal(r.value.passes.length, 1);
  // In May a GEO object is outside its eclipse seasons (around the equinoxes): sunlit all night, one visible part a night.
  assert.ok(r.value.passes[0]!.visible!.length >= 13, `visible parts: ${r.value.passes[0]!.visible!.length}`);
});
