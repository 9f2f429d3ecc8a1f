/**
 * L1 calibration, QA, cloud top and convection kernels: the TS references
 * against independent calibration vectors (satpy's reader tests, values by
 * hand from the formulas), and the native addon against the references on
 * random inputs (skipped, saying why, when the addon is absent:
 * test/helpers/native-kernels.ts). Tolerances: calibrated values 1e-4 K (both store the same
 * double rounded to float32; only libm log may differ in the last bit),
 * cloud-top height 1e-2 m (float32 spacing at 16 km is 2e-3 m), masks and
 * QA bits exactly equal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kernelsTs, type Kernels } from '../../actors/tile/kernels/index.js';
import { native as nativeOnly, nativeKernels, rawAddon, skipNative } from '../helpers/native-kernels.js';
import { heightForTemperature, profileFor, temperatureAtHeight, tropopause, US1976 } from '../../actors/tile/physics/atmosphere.js';
import { CLOUD, QA, type Calibration } from '../../actors/tile/types.js';
import { StarWeatherError } from '../../protocol/errors.js';

// Without the addon (no C++ toolchain, or STARWEATHER_TILE_NATIVE_ADDON hidden) the TS
// kernels still meet every oracle here; the native comparisons are skipped, saying why.
const both: Kernels[] = [kernelsTs, ...(nativeKernels ? [nativeKernels] : [])];

/** Deterministic PRNG (mulberry32) so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function near(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number, e = expected[i] as number;
    if (Number.isNaN(e)) assert.ok(Number.isNaN(a), `${what}[${i}]: expected NaN, got ${a}`);
    else assert.ok(Math.abs(a - e) <= tol, `${what}[${i}]: ${a} vs ${e} (tol ${tol})`);
  }
}

// satpy test_abi_l1b.py (commit 52df5fe0, via shared/data/goes_abi/abi_l1b_reference.md)
const ABI_IR_SATPY: Calibration = { instrument: 'abi', kind: 'ir', scale: 0.5, offset: -1, fill: 1002, fk1: 13432.1, fk2: 1497.61, bc1: 0.09102, bc2: 0.99971 };
const ABI_IR_COUNTS = [102, 202, 302, 402, 502, 602, 702, 802, 902, 1002];
const ABI_IR_BT = [267.55572248, 305.15576503, 332.37383249, 354.73895301, 374.19710115, 391.68679226, 407.74064808, 422.69329105, 436.77021913, NaN];
const ABI_VIS_SATPY: Calibration = { instrument: 'abi', kind: 'vis', scale: 0.5, offset: -1, fill: 20, kappa0: (Math.PI * 0.99 * 0.99) / 2017 };
const ABI_VIS_COUNTS = [4, 6, 8, 10, 12, 14, 16, 18, 20, 22];
const ABI_VIS_PERCENT = [0.15265617, 0.30531234, 0.45796851, 0.61062468, 0.76328085, 0.91593702, 1.06859319, 1.22124936, NaN, 1.52656171];
// satpy test_ahi_hsd.py (commit fec44ef6, via shared/data/himawari_hsd/hsd_format.md)
const AHI_CONST = { lightSpeed: 299792458.0, planck: 6.62606957e-34, boltzmann: 1.3806488e-23 };
const AHI_IR_SATPY: Calibration = {
  instrument: 'ahi',
  kind: 'ir',
  gain: -0.0037,
  offset: 15.2,
  errorCount: 65535,
  outsideCount: 65534,
  wavelengthUm: 10.4073,
  c0: -0.116127314574,
  c1: 1.00099153832,
  c2: -1.76961091571e-6,
  ...AHI_CONST,
};
const AHI_VIS_SATPY: Calibration = { instrument: 'ahi', kind: 'vis', gain: -0.0037, offset: 15.2, errorCount: 65535, outsideCount: 65534, albedo: 0.0019255 };
const AHI_COUNTS = [0, 1000, 2000, 5000];

for (const k of both) {
  test(`${k.name}: ABI IR and VIS calibration reproduce satpy's vectors (fill masked)`, async () => {
    const ir = await k.calibrate(Uint16Array.from(ABI_IR_COUNTS), null, ABI_IR_SATPY);
    near(ir.values, ABI_IR_BT, 1e-4, 'abi ir');
    assert.equal(ir.qa[9], QA.FILL);
    assert.deepEqual([...ir.qa.subarray(0, 9)], new Array(9).fill(0));
    const vis = await k.calibrate(Uint16Array.from(ABI_VIS_COUNTS), null, ABI_VIS_SATPY);
    near(
      vis.values,
      ABI_VIS_PERCENT.map((p) => p / 100),
      1e-7,
      'abi vis',
    );
    assert.equal(vis.qa[8], QA.FILL);
  });

  test(`${k.name}: ABI band 13 by hand with GOES-16 coefficients, and DQF ≥ 2 masked`, async () => {
    // L = count·0.04572892 − 1.6443; BT = (1392.74 / ln(10803.3/L + 1) − 0.0755) / 0.99975
    // count 2000: L = 89.81354 → 290.26309 K; count 100: L = 2.928592 → 169.53703 K.
    const cal: Calibration = { instrument: 'abi', kind: 'ir', scale: 0.04572892, offset: -1.6443, fill: 4095, fk1: 10803.3, fk2: 1392.74, bc1: 0.0755, bc2: 0.99975 };
    const counts = Uint16Array.from([2000, 100, 2000, 2000, 2000, 2000, 4095, 20]);
    const dqf = Uint8Array.from([0, 0, 1, 2, 3, 4, 0, 0]);
    const r = await k.calibrate(counts, dqf, cal);
    near(r.values.subarray(0, 3), [290.26309, 169.53703, 290.26309], 1e-4, 'band 13');
    assert.deepEqual([...r.qa], [0, 0, 0, QA.DQF, QA.DQF, QA.DQF, QA.FILL, QA.RANGE], 'DQF 1 usable, ≥2 masked, fill, L ≤ 0 has no BT');
    for (const i of [3, 4, 5, 6, 7]) assert.ok(Number.isNaN(r.values[i] as number));
  });

  test(`${k.name}: AHI IR and VIS calibration reproduce satpy's vectors (error/outside counts masked)`, async () => {
    const ir = await k.calibrate(Uint16Array.from([...AHI_COUNTS, 65535, 65534]), null, AHI_IR_SATPY);
    near(ir.values, [330.978979, 310.524688, 285.845017, NaN, NaN, NaN], 1e-4, 'ahi ir');
    assert.deepEqual([...ir.qa], [0, 0, 0, QA.RANGE, QA.FILL, QA.FILL]);
    const vis = await k.calibrate(Uint16Array.from(AHI_COUNTS), null, AHI_VIS_SATPY);
    // satpy clips the negative radiance of count 5000 to 0; we keep the value and let QA mask it as out of range.
    near(vis.values, [0.0292676, 0.02214325, 0.0150189, -3.3 * 0.0019255], 1e-7, 'ahi vis');
    const qaCounts = await k.qaCheck(vis.values, vis.qa, 2, 2, 'vis');
    assert.equal(qaCounts.range, 1);
    assert.ok(Number.isNaN(vis.values[3] as number));
  });
}

function randomCal(mode: number): Calibration {
  if (mode === 0) return { instrument: 'abi', kind: 'ir', scale: 0.04572892, offset: -1.6443, fill: 4095, fk1: 10803.3, fk2: 1392.74, bc1: 0.0755, bc2: 0.99975 };
  if (mode === 1) return { instrument: 'abi', kind: 'vis', scale: 0.158592367, offset: -20.28991094, fill: 4095, kappa0: 0.0019 };
  if (mode === 2) return { ...(AHI_IR_SATPY as Extract<Calibration, { instrument: 'ahi'; kind: 'ir' }>), gain: -0.0037, offset: 60, errorCount: 16383, outsideCount: 16382 };
  return AHI_VIS_SATPY;
}

test('native calibrate equals the TS reference on random counts and DQF, all four modes (large enough for the native lookup table)', { skip: skipNative }, async () => {
  const r = rng(1);
  for (let mode = 0; mode < 4; mode++) {
    const n = 300_000;
    const max = mode < 2 ? 4096 : 16384;
    const counts = new Uint16Array(n);
    for (let i = 0; i < n; i++) counts[i] = Math.floor(r() * max);
    const dqf = new Uint8Array(n);
    for (let i = 0; i < n; i++) dqf[i] = r() < 0.05 ? [1, 2, 3, 4, 255][Math.floor(r() * 5)] as number : 0;
    const cal = randomCal(mode);
    const d = mode < 2 ? dqf : null;
    const a = await kernelsTs.calibrate(counts, d, cal);
    const b = await nativeOnly().calibrate(counts, d, cal);
    near(b.values, a.values, 1e-4, `mode ${mode}`);
    assert.deepEqual(b.qa, a.qa, `mode ${mode} qa`);
    // and a small input (the native per-pixel path, no table)
    const small = counts.subarray(0, 500);
    const c = await nativeOnly().calibrate(small, mode < 2 ? dqf.subarray(0, 500) : null, cal);
    near(c.values, a.values.subarray(0, 500), 1e-4, `mode ${mode} small`);
    assert.deepEqual(c.qa, a.qa.subarray(0, 500));
  }
});

function randomBtField(r: () => number, w: number, h: number): Float32Array {
  const bt = new Float32Array(w * h);
  for (let i = 0; i < bt.length; i++) {
    const u = r();
    bt[i] = u < 0.01 ? NaN : u < 0.02 ? (r() < 0.5 ? 100 : 400) : 200 + 100 * r();
  }
  // smooth-ish patches with spikes
  for (let k = 0; k < 200; k++) {
    const i = Math.floor(r() * bt.length);
    bt[i] = (bt[i] as number) + (r() < 0.5 ? -60 : 60);
  }
  return bt;
}

test('native qaCheck equals the TS reference on random rasters (range, spikes, off-disk), flags and counts', { skip: skipNative }, async () => {
  const r = rng(2);
  for (const [w, h] of [
    [257, 300],
    [64, 1],
    [1, 90],
  ] as const) {
    const bt = randomBtField(r, w, h);
    const lat = new Float32Array(w * h).map((_, i) => (i % w < 3 ? NaN : 10));
    const qa0 = new Uint8Array(w * h).map(() => (r() < 0.02 ? QA.FILL : 0));
    const va = bt.slice(), qa = qa0.slice();
    const vb = bt.slice(), qb = qa0.slice();
    const ca = await kernelsTs.qaCheck(va, qa, w, h, 'ir', { lat });
    const cb = await nativeOnly().qaCheck(vb, qb, w, h, 'ir', { lat });
    assert.deepEqual(cb, ca);
    assert.deepEqual(qb, qa);
    near(vb, va, 0, 'values');
    assert.equal(ca.total, w * h);
    if (w * h > 1000) assert.ok(ca.range > 0 && ca.isolated > 0 && ca.space > 0 && ca.fill > 0, JSON.stringify(ca));
  }
});

test('qaCheck flags an isolated spike but not a sharp cloud edge', async () => {
  for (const k of both) {
    const w = 9, h = 9;
    const v = new Float32Array(w * h).fill(290);
    for (let r = 0; r < h; r++) for (let c = 5; c < w; c++) v[r * w + c] = 220; // cloud edge at column 5
    v[2 * w + 2] = 250; // a spike 40 K colder than all its neighbours
    const qa = new Uint8Array(w * h);
    const counts = await k.qaCheck(v, qa, w, h, 'ir');
    assert.equal(counts.isolated, 1, k.name);
    assert.equal(qa[2 * w + 2], QA.ISOLATED);
    assert.ok(Number.isNaN(v[2 * w + 2] as number));
    assert.equal(counts.valid, w * h - 1);
  }
});

test('cloudTop with latitude/season profiles (several tropospheric layers: the native generic path) equals TS and the profile inversion', async () => {
  const r = rng(5);
  const n = 50_000;
  const bt = new Float32Array(n).map(() => 185 + 115 * r());
  const mask = new Uint8Array(n).fill(CLOUD.CLOUD);
  for (const [latitude, month] of [
    [8, 2],
    [47, 1],
    [-63, 1],
  ] as const) {
    const profile = profileFor(latitude, month);
    for (const coldRule of ['tropopause', 'extrapolate'] as const) {
      const a = await kernelsTs.cloudTop(bt, mask, { latitude, month, coldRule });
      if (nativeKernels) near((await nativeKernels.cloudTop(bt, mask, { latitude, month, coldRule })).cthM, a.cthM, 1e-2, `cth ${latitude}/${month}/${coldRule}`);
      for (let i = 0; i < n; i += 97) assert.ok(Math.abs((a.cthM[i] as number) - heightForTemperature(bt[i] as number, { profile, coldRule })) < 1e-2);
    }
  }
  await assert.rejects(kernelsTs.cloudTop(bt, mask, { latitude: 10 }), StarWeatherError);
  // One latitude per pixel, pole to pole (NaN: US1976), in both seasons.
  const lat = new Float32Array(n).map((_, i) => (i % 97 === 0 ? NaN : -90 + (180 * i) / n));
  for (const month of [1, 7]) {
    const a = await kernelsTs.cloudTop(bt, mask, { latitude: lat, month });
    if (nativeKernels) near((await nativeKernels.cloudTop(bt, mask, { latitude: lat, month })).cthM, a.cthM, 1e-2, `per-pixel latitude, month ${month}`);
    for (let i = 0; i < n; i += 89) {
      const la = lat[i] as number;
      const profile = Number.isNaN(la) ? US1976 : profileFor(la, month);
      assert.ok(Math.abs((a.cthM[i] as number) - heightForTemperature(bt[i] as number, { profile })) < 1e-2, `pixel ${i} lat ${la}`);
    }
  }
  for (const k of both) {
    await assert.rejects(k.cloudTop(bt, mask, { latitude: new Float32Array(3), month: 1 }), StarWeatherError);
    await assert.rejects(k.cloudTop(bt, mask, { latitude: lat, month: 13 }), StarWeatherError);
    await assert.rejects(k.cloudTop(bt, mask, { latitude: 10, month: 1, profile: US1976 }), StarWeatherError);
  }
});

test('cloudTop: native equals TS, CTT is the BT of cloudy pixels and CTH inverts the US1976 profile', async () => {
  const r = rng(3);
  const n = 200_000;
  const bt = new Float32Array(n);
  const mask = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    bt[i] = r() < 0.01 ? NaN : 180 + 120 * r();
    mask[i] = r() < 0.7 ? CLOUD.CLOUD : r() < 0.5 ? CLOUD.CLEAR : CLOUD.NODATA;
  }
  for (const coldRule of ['tropopause', 'extrapolate'] as const) {
    const a = await kernelsTs.cloudTop(bt, mask, { coldRule });
    if (nativeKernels) {
      const b = await nativeKernels.cloudTop(bt, mask, { coldRule });
      near(b.cttK, a.cttK, 0, 'ctt');
      near(b.cthM, a.cthM, 1e-2, 'cth');
    }
    const tp = tropopause();
    for (let i = 0; i < n; i++) {
      const t = bt[i] as number;
      if (mask[i] !== CLOUD.CLOUD || Number.isNaN(t)) {
        assert.ok(Number.isNaN(a.cthM[i] as number) && Number.isNaN(a.cttK[i] as number));
        continue;
      }
      assert.equal(a.cttK[i], t);
      const z = a.cthM[i] as number;
      assert.ok(Math.abs(z - heightForTemperature(t, { coldRule })) < 1e-2, `pixel ${i}`);
      if (t > tp.tempK && t < 288.15) assert.ok(Math.abs(temperatureAtHeight(z) - t) < 1e-3, `T(z(${t})) = ${temperatureAtHeight(z)}`);
      if (t <= tp.tempK && coldRule === 'tropopause') assert.ok(Math.abs(z - tp.heightM) < 1e-2);
    }
  }
});

/** A field with anvils and overshooting tops: cold discs with colder centres on a warm background. */
function stormField(r: () => number, w: number, h: number): Float32Array {
  const bt = new Float32Array(w * h);
  for (let i = 0; i < bt.length; i++) bt[i] = 280 + 10 * r();
  for (let s = 0; s < 12; s++) {
    const cr = r() * h, cc = r() * w, rad = 8 + 20 * r(), core = 1 + 3 * r();
    for (let y = Math.max(0, Math.floor(cr - rad)); y < Math.min(h, cr + rad); y++) {
      for (let x = Math.max(0, Math.floor(cc - rad)); x < Math.min(w, cc + rad); x++) {
        const d = Math.hypot(y - cr, x - cc);
        if (d > rad) continue;
        const i = y * w + x;
        bt[i] = d < core ? 200 - 5 * r() : Math.min(bt[i] as number, 218 + 4 * r());
      }
    }
  }
  return bt;
}

test('convection: native equals TS on random storm fields; overshooting tops found in cold anvils', async () => {
  const r = rng(4);
  const w = 300, h = 277;
  const bt = stormField(r, w, h);
  const mask = new Uint8Array(w * h).map((_, i) => ((bt[i] as number) < 260 ? CLOUD.CLOUD : CLOUD.CLEAR));
  for (const m of [mask, null]) {
    const a = await kernelsTs.convection(bt, m, w, h);
    if (nativeKernels) {
      const b = await nativeKernels.convection(bt, m, w, h);
      assert.deepEqual(b.counts, a.counts);
      assert.deepEqual(b.deepConvection, a.deepConvection);
      assert.deepEqual(b.overshoot, a.overshoot);
    }
    assert.ok(a.counts.overshootTops >= 3 && a.counts.overshoot >= a.counts.overshootTops && a.counts.deepConvection > a.counts.overshoot, JSON.stringify(a.counts));
  }
  // Non-default thresholds take the native generic paths (tops not limited to deep pixels; a threshold float32 cannot hold).
  for (const opts of nativeKernels ? [{ otMaxK: 220 }, { deepConvectionK: 215.3 }, { anvilRadiusPx: 7, minAnvilFraction: 0.25 }] : []) {
    const a = await kernelsTs.convection(bt, mask, w, h, opts);
    const b = await nativeKernels!.convection(bt, mask, w, h, opts);
    assert.deepEqual(b.counts, a.counts, JSON.stringify(opts));
    assert.deepEqual(b.deepConvection, a.deepConvection);
    assert.deepEqual(b.overshoot, a.overshoot);
  }
  // A uniform cold deck (no anvil contrast) has deep convection and no overshooting tops.
  const flat = new Float32Array(64 * 64).fill(210);
  for (const k of both) {
    const c = await k.convection(flat, null, 64, 64);
    assert.deepEqual(c.counts, { deepConvection: 64 * 64, overshoot: 0, overshootTops: 0 });
  }
});

test('bad arguments are a StarWeatherError (SW_ERR_INVALID_ARGUMENT) from both implementations, never a crash', async () => {
  const isBad = (e: unknown): boolean => e instanceof StarWeatherError && e.code === 'SW_ERR_INVALID_ARGUMENT';
  const cal = ABI_IR_SATPY;
  for (const k of both) {
    await assert.rejects(k.calibrate(new Float32Array(4) as unknown as Uint16Array, null, cal), isBad);
    await assert.rejects(k.calibrate(new Uint16Array(4), new Uint8Array(3), cal), isBad);
    await assert.rejects(k.calibrate(new Uint16Array(4), null, { ...cal, fk1: Number.NaN }), isBad);
    await assert.rejects(k.calibrate(new Uint16Array(4), null, { instrument: 'xyz' } as unknown as Calibration), isBad);
    await assert.rejects(k.qaCheck(new Float32Array(10), new Uint8Array(10), 3, 3, 'ir'), isBad);
    await assert.rejects(k.qaCheck(new Float32Array(9), new Uint8Array(9), 3, 3, 'uv' as 'ir'), isBad);
    await assert.rejects(k.qaCheck(new Float32Array(9), new Uint8Array(9), 3.5, 3, 'ir'), isBad);
    await assert.rejects(k.qaCheck(new Float32Array(9), new Uint8Array(9), 65536, 65536, 'ir'), isBad);
    await assert.rejects(k.cloudTop(new Float32Array(5), new Uint8Array(4)), isBad);
    await assert.rejects(k.cloudTop(new Float32Array(5), new Uint8Array(5), { coldRule: 'up' as 'tropopause' }), isBad);
    await assert.rejects(k.convection(new Float32Array(6), null, 2, 2), isBad);
    await assert.rejects(k.convection(new Float32Array(4), null, 2, 2, { anvilRadiusPx: -1 }), isBad);
    await assert.rejects(k.cyclones(new Float32Array(4), new Float32Array(4), new Float32Array(3), 2, 2), isBad);
    await assert.rejects(k.cyclones(new Float32Array(4), new Float32Array(4), new Float32Array(4), 2, 2, { shieldK: Number.NaN }), isBad);
  }
  // The addon checks again for callers that bypass the TS wrappers: a JS exception, not a crash.
  if (!nativeKernels) return;
  const addon = rawAddon();
  const f32 = new Float32Array(4), u8 = new Uint8Array(4);
  assert.throws(() => addon.calibrate(new Uint16Array(4), null, Float64Array.of(0, 1, 0, 4095, 1, 1, 0), f32, u8, 0, 4), RangeError);
  assert.throws(() => addon.calibrate(new Uint16Array(4), null, Float64Array.of(0, 1, 0, 4095, 1, 1, 0, 1), f32, u8, 0, 5), RangeError);
  assert.throws(() => addon.calibrate(f32 as unknown as Uint16Array, null, new Float64Array(8), f32, u8, 0, 4), TypeError);
  assert.throws(() => addon.qaFlags(f32, u8, null, 3, 3, 0, 3, 150, 350, 15), RangeError);
  assert.throws(() => (addon.qaFinish as unknown as () => void)(), TypeError);
  assert.throws(() => addon.convection(f32, null, 2, 2, 0, 3, new Float64Array(5), new Int32Array(32), u8, u8), RangeError);
  assert.throws(() => addon.cyclones(f32, f32, f32, 2, 2, new Float64Array(11)), RangeError);
  assert.throws(() => addon.convection(f32, null, 65536, 65536, 0, 1, new Float64Array(5), new Int32Array(32), u8, u8), RangeError);
  assert.throws(() => addon.convection(f32, null, 2, 2, 0, 2, new Float64Array(5), new Int32Array(32).fill(-(2 ** 31)), u8, u8), RangeError);
  assert.throws(() => addon.cloudTop(f32, u8, Float64Array.of(0, 1000), Float64Array.of(288, 281.5), Float64Array.of(0.001, 0), 1, 0, f32, f32, 0, 4), RangeError);
  const six = new Float64Array(12);
  assert.throws(() => addon.cloudTopZoned(f32, u8, f32, 1, six, six, six, Int32Array.of(0, 2, 4, 6, 8, 10, 13), new Int32Array(6).fill(1), 0, f32, f32, 0, 4), RangeError);
  assert.throws(() => addon.cloudTopZoned(f32, u8, f32, 1, six, six, six, Int32Array.of(0, 2, 4, 6, 8, 10, 12), new Int32Array(6).fill(1), 0, f32, f32, 0, 4), RangeError);
  assert.throws(() => addon.cloudTopZoned(f32, u8, new Float32Array(3), 1, six, six, six, Int32Array.of(0, 2, 4, 6, 8, 10, 12), new Int32Array(6).fill(1), 0, f32, f32, 0, 4), RangeError);
});

test('native kernels run off the event loop: timers keep firing while a large calibration runs', { skip: skipNative }, async () => {
  const n = 8_000_000;
  const counts = new Uint16Array(n).map((_, i) => i % 4095);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  try {
    const jobs = [];
    for (let j = 0; j < 4; j++) jobs.push(nativeOnly().calibrate(counts, null, randomCal(0)));
    const first = jobs[0] as Promise<unknown>;
    let settled = false;
    void first.then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false, 'the promise is pending after the call returned');
    await Promise.all(jobs);
  } finally {
    clearInterval(timer);
  }
  assert.ok(ticks >= 1, `timer ticks while native work ran: ${ticks}`);
});

test('the raw addon survives random argument soup: every call throws or settles, the process stays up', { skip: skipNative }, async () => {
  const addon = rawAddon() as unknown as Record<string, (...a: unknown[]) => unknown>;
  const r = rng(9);
  const pool: Array<() => unknown> = [
    () => null,
    () => undefined,
    () => 'x',
    () => ({}),
    () => [1, 2],
    () => Math.floor(r() * 8) - 2,
    () => r() * 1e12,
    () => NaN,
    () => new Float32Array(Math.floor(r() * 9)),
    () => new Float64Array(Math.floor(r() * 13)),
    () => new Uint8Array(Math.floor(r() * 9)),
    () => new Uint16Array(Math.floor(r() * 9)),
    () => new Int32Array(32),
    () => new Float32Array(4).subarray(1),
  ];
  let threw = 0, settled = 0;
  for (const name of ['calibrate', 'qaFlags', 'qaFinish', 'cloudTop', 'cloudTopZoned', 'convection', 'cyclones']) {
    const fn = addon[name] as (...a: unknown[]) => unknown;
    for (let k = 0; k < 150; k++) {
      const args = Array.from({ length: Math.floor(r() * 12) }, () => (pool[Math.floor(r() * pool.length)] as () => unknown)());
      try {
        const p = fn(...args);
        await Promise.resolve(p).catch(() => undefined);
        settled++;
      } catch (e) {
        assert.ok(e instanceof TypeError || e instanceof RangeError, `${name}: ${String(e)}`);
        threw++;
      }
    }
  }
  assert.equal(threw + settled, 1050);
  assert.ok(threw > 800, `most random calls are refused (${threw})`);
});
