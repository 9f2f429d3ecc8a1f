/**
 * Tropical-cyclone kernel on synthetic fields built here: an eye storm (warm
 * eye in a closed cold ring), a CDO storm (cold symmetric disc, no eye), a
 * frontal band and an equatorial cluster that must not be cyclones. Native
 * and TS agree on every measurement (1e-6 relative; the Dvorak step after
 * them is shared TS code; compared only when the addon is built).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kernelsTs } from '../../actors/tile/kernels/index.js';
import { nativeKernels } from '../helpers/native-kernels.js';
import type { CycloneEstimate } from '../../actors/tile/kernels/cyclones.js';

const KM_PER_DEG = 111.19492664;

interface Field {
  w: number;
  h: number;
  bt: Float32Array;
  lat: Float32Array;
  lon: Float32Array;
  /** km offsets of pixel (r, c) from the field's centre */
  km(r: number, c: number): [number, number];
}

/** A regular lat/lon grid of ~pxKm pixels centred on (lat0, lon0), background 295 K with small warm noise. */
function grid(lat0: number, lon0: number, w: number, h: number, pxKm: number): Field {
  const dLat = pxKm / KM_PER_DEG;
  const dLon = pxKm / (KM_PER_DEG * Math.cos((lat0 * Math.PI) / 180));
  const lat = new Float32Array(w * h), lon = new Float32Array(w * h), bt = new Float32Array(w * h);
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      const i = r * w + c;
      lat[i] = lat0 + ((h - 1) / 2 - r) * dLat; // row 0 is north
      lon[i] = lon0 + (c - (w - 1) / 2) * dLon;
      bt[i] = 295 + ((r * 31 + c * 17) % 7) * 0.3;
    }
  }
  return { w, h, bt, lat, lon, km: (r, c) => [(c - (w - 1) / 2) * pxKm, ((h - 1) / 2 - r) * pxKm] };
}

/** Paints a storm centred `offKm` from the grid centre: BT(d) from a radial profile. */
function paintStorm(f: Field, offKm: [number, number], profile: (dKm: number, angle: number) => number | null): void {
  for (let r = 0; r < f.h; r++) {
    for (let c = 0; c < f.w; c++) {
      const [x, y] = f.km(r, c);
      const dx = x - offKm[0], dy = y - offKm[1];
      const v = profile(Math.hypot(dx, dy), Math.atan2(dy, dx));
      if (v !== null) f.bt[r * f.w + c] = Math.min(f.bt[r * f.w + c] as number, v);
    }
  }
}

function ramp(d: number, d0: number, d1: number, t0: number, t1: number): number {
  return t0 + ((Math.min(Math.max(d, d0), d1) - d0) / (d1 - d0)) * (t1 - t0);
}

async function both(f: Field, opts = {}): Promise<CycloneEstimate[]> {
  const a = await kernelsTs.cyclones(f.bt, f.lat, f.lon, f.w, f.h, opts);
  // Without the addon (test/helpers/native-kernels.ts) the TS fixes are still checked by each test.
  if (!nativeKernels) return a;
  const b = await nativeKernels.cyclones(f.bt, f.lat, f.lon, f.w, f.h, opts);
  assert.equal(b.length, a.length, 'same number of fixes');
  for (let k = 0; k < a.length; k++) {
    const x = a[k] as CycloneEstimate, y = b[k] as CycloneEstimate;
    assert.equal(y.scene, x.scene);
    assert.equal(y.row, x.row);
    assert.equal(y.col, x.col);
    for (const key of ['lat', 'lon', 'cloudTempK', 'symmetryK', 'cdoSizeKm', 'shieldAreaKm2', 'tNumber', 'ci', 'vmaxKt', 'mslpHpa'] as const) {
      assert.ok(Math.abs(y[key] - x[key]) <= 1e-6 * Math.max(1, Math.abs(x[key])), `${key}: native ${y[key]} vs ts ${x[key]}`);
    }
    assert.equal(y.eyeTempK === null, x.eyeTempK === null);
  }
  return a;
}

test('an eye storm at 20° N, 60° W: found at the eye, eye scene, CI in the expected band', async () => {
  const f = grid(20, -60, 300, 300, 4);
  const eyeAt: [number, number] = [40, -24];
  // eye 15 km at 288 K (+14.85 °C), closed ring at 198 K (−75.15 °C) to 180 km, warming to the background by 260 km
  paintStorm(f, eyeAt, (d) => (d < 15 ? 288 : d <= 180 ? 198 : d < 260 ? ramp(d, 180, 260, 198, 295) : null));
  const fixes = await both(f);
  assert.equal(fixes.length, 1, JSON.stringify(fixes));
  const fix = fixes[0] as CycloneEstimate;
  assert.equal(fix.scene, 'eye');
  assert.equal(fix.basin, 'atlantic');
  // position within one pixel (4 km) of the painted eye
  const [x, y] = f.km(fix.row, fix.col);
  assert.ok(Math.hypot(x - eyeAt[0], y - eyeAt[1]) <= 4 * Math.SQRT2, `fix at ${x},${y} km`);
  assert.ok(Math.abs(fix.eyeTempK! - 288) < 0.01);
  assert.ok(Math.abs(fix.cloudTempK - 198) < 0.01);
  // ADT Atlantic eye regression by hand: −75.15 °C is BD category 6 (−70…−76), frac 0.858 →
  // 5.75 + 0.858·0.75 + 0.011·(14.85 + 75.15) − 0.015·sym(≈0) = 7.38 → T 7.3
  assert.ok(fix.ci >= 7.0 && fix.ci <= 7.5, `CI ${fix.ci}`);
  assert.equal(fix.tNumber, 7.3);
  assert.ok(fix.vmaxKt >= 140 && fix.vmaxKt <= 155, `vmax ${fix.vmaxKt}`);
  assert.ok(fix.mslpHpa >= 906 && fix.mslpHpa <= 921, `mslp ${fix.mslpHpa}`);
});

test('a CDO storm (cold symmetric shield, no eye) is a CDO scene with a weaker CI; the NW Pacific basin is picked by position', async () => {
  const f = grid(18, 135, 240, 240, 4);
  paintStorm(f, [0, 0], (d) => (d <= 180 ? 215 : d < 260 ? ramp(d, 180, 260, 215, 295) : null));
  const fixes = await both(f);
  assert.equal(fixes.length, 1);
  const fix = fixes[0] as CycloneEstimate;
  assert.equal(fix.scene, 'cdo');
  assert.equal(fix.eyeTempK, null);
  assert.equal(fix.basin, 'nw_pacific');
  const [x, y] = f.km(fix.row, fix.col);
  assert.ok(Math.hypot(x, y) <= 8, `centre ${x},${y} km`);
  // −58.15 °C: BD category 4, Pacific cloud base 3.40 + 0.415·0.15 + 0.001·cdoSize(≈420 km) − 0.1 ≈ 3.8
  assert.ok(fix.cdoSizeKm > 380 && fix.cdoSizeKm < 440, `cdo ${fix.cdoSizeKm}`);
  assert.ok(fix.ci >= 3.5 && fix.ci <= 4.2, `CI ${fix.ci}`);
});

test('a frontal band, a small cluster and an equatorial storm are not cyclones', async () => {
  const f = grid(25, -40, 300, 300, 4);
  // a 500 km × 60 km cold band (asymmetric: no closed ring)
  paintStorm(f, [0, 100], (_d, _a) => null);
  for (let r = 0; r < f.h; r++) {
    for (let c = 0; c < f.w; c++) {
      const [x, y] = f.km(r, c);
      if (Math.abs(y - 150) < 30 && Math.abs(x) < 250) f.bt[r * f.w + c] = 205;
    }
  }
  // a symmetric but small cluster (≈ 3 800 km², under the 20 000 km² shield minimum)
  paintStorm(f, [-300, -300], (d) => (d < 35 ? 200 : null));
  assert.deepEqual(await both(f), []);
  const eq = grid(0.5, -30, 240, 240, 4);
  paintStorm(eq, [0, 0], (d) => (d < 15 ? 288 : d <= 180 ? 198 : d < 260 ? ramp(d, 180, 260, 198, 295) : null));
  assert.deepEqual(await both(eq), [], 'no cyclone within 3° of the equator');
  assert.equal((await both(eq, { minAbsLat: 0 })).length, 1, 'found once the latitude limit is lifted');
});

test('two storms in one field give two fixes, each at its own eye', async () => {
  const f = grid(15, -50, 400, 240, 4);
  const eye: (d: number) => number | null = (d) => (d < 12 ? 285 : d <= 150 ? 205 : d < 220 ? ramp(d, 150, 220, 205, 295) : null);
  paintStorm(f, [-380, 0], eye);
  paintStorm(f, [380, 0], eye);
  const fixes = await both(f);
  assert.equal(fixes.length, 2);
  for (const fix of fixes) assert.equal(fix.scene, 'eye');
  const xs = fixes.map((fx) => f.km(fx.row, fx.col)[0]).sort((a, b) => a - b);
  assert.ok(Math.abs((xs[0] as number) + 380) <= 6 && Math.abs((xs[1] as number) - 380) <= 6, JSON.stringify(xs));
});

test("helper A's synthetic full disk (1024², ~11 km pixels, hundreds of convective systems) with a planted cyclone: exactly that one is found", async () => {
  const { generateScene } = await import('../../actors/tile/synthetic/scene.js');
  for (const seed of [3, 4]) {
    const s = generateScene({ seed, width: 1024, height: 1024, latLon: true, cyclone: { lat: 18, lon: -60, eyeRadiusKm: 30, eyeTempK: 285, cloudTopTempK: 195, radiusKm: 500 } });
    const f: Field = { w: 1024, h: 1024, bt: s.btK, lat: s.lat as Float32Array, lon: s.lon as Float32Array, km: () => [0, 0] };
    const fixes = await both(f);
    assert.equal(fixes.length, 1, `seed ${seed}: ${JSON.stringify(fixes.map((x) => [x.scene, x.lat, x.lon]))}`);
    const fix = fixes[0] as CycloneEstimate;
    assert.equal(fix.scene, 'eye');
    const dKm = Math.hypot((fix.lat - 18) * KM_PER_DEG, (fix.lon + 60) * KM_PER_DEG * Math.cos((18 * Math.PI) / 180));
    assert.ok(dKm < 25, `seed ${seed}: fix ${dKm.toFixed(1)} km from the planted eye`);
    // cloud ≈ 196.5 K (−76.7 °C, BD category 7), eye ≈ 285 K: 6.5 + 0.16·0.75 + 0.011·88.6 − 0.015·sym ≈ 7.58
    assert.ok(fix.ci >= 7.0 && fix.ci <= 8.0, `seed ${seed}: CI ${fix.ci}`);
    assert.ok(fix.vmaxKt >= 140, `seed ${seed}: vmax ${fix.vmaxKt}`);
  }
});

test('a ragged shield full of one-pixel gaps: the eye (the largest hole) is still found, and only the largest holes are analysed', async () => {
  const f = grid(20, -60, 300, 300, 4);
  paintStorm(f, [0, 0], (d) => (d < 15 ? 288 : d <= 180 ? 198 : d < 260 ? ramp(d, 180, 260, 198, 295) : null));
  let gaps = 0;
  for (let r = 60; r < 240; r += 9) {
    for (let c = 60; c < 240; c += 11) {
      const [x, y] = f.km(r, c);
      if (Math.hypot(x, y) > 40 && Math.hypot(x, y) < 170) {
        f.bt[r * f.w + c] = 240; // a warm one-pixel gap in the overcast
        gaps++;
      }
    }
  }
  assert.ok(gaps > 30, `${gaps} gaps`); // more than the 16 holes analysed
  const fixes = await both(f);
  assert.equal(fixes.length, 1);
  const fix = fixes[0] as CycloneEstimate;
  assert.equal(fix.scene, 'eye');
  const [x, y] = f.km(fix.row, fix.col);
  assert.ok(Math.hypot(x, y) <= 6, `fix at ${x},${y}`);
});
