/**
 * The synthetic scene model: deterministic by seed, realistic band-13 BT
 * ranges per cloud type, warm tropics / cold poles, off-disk pixels masked,
 * opaque cloud tops consistent with the US1976 profile (they invert to their
 * true height with heightForTemperature's 'extrapolate' rule), and a
 * cyclone's warm eye at the chosen place inside a cold overcast.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLOUD_TYPE, cloudTopTemperature, generateScene, heightOfCloudTop, type SyntheticScene } from '../../actors/tile/synthetic/scene.js';
import { heightForTemperature, temperatureAtHeight, tropopause } from '../../actors/tile/physics/atmosphere.js';
import { CLOUD } from '../../actors/tile/types.js';
import { scanToLonLat } from '../../actors/ingest/imagery-geo.js';

const cyclone = { lat: 18, lon: -60, eyeRadiusKm: 20, eyeTempK: 285, cloudTopTempK: 195, radiusKm: 500 };
const disk = generateScene({ seed: 11, width: 384, height: 384, latLon: true, cyclone });
// Native 2 km pixels around the cyclone (scan angles of its centre from the full disk's lat/lon).
function centreOf(s: SyntheticScene, lat: number, lon: number): { col: number; row: number } {
  let best = Infinity, at = { col: 0, row: 0 };
  for (let i = 0; i < s.width * s.height; i++) {
    const d = (s.lat![i]! - lat) ** 2 + (s.lon![i]! - lon) ** 2;
    if (d < best) {
      best = d;
      at = { col: i % s.width, row: Math.floor(i / s.width) };
    }
  }
  return at;
}

test('same seed, same scene; another seed, another scene', () => {
  const a = generateScene({ seed: 5, width: 96, height: 64, stepRad: 56e-6 * 8 });
  const b = generateScene({ seed: 5, width: 96, height: 64, stepRad: 56e-6 * 8 });
  const c = generateScene({ seed: 6, width: 96, height: 64, stepRad: 56e-6 * 8 });
  assert.deepEqual(a.btK, b.btK);
  assert.deepEqual(a.truthCloud, b.truthCloud);
  assert.deepEqual(a.truthCthM, b.truthCthM);
  assert.notDeepEqual(a.btK, c.btK);
});

test('off-disk pixels are NaN / NODATA, the sub-satellite pixel is on the disk', () => {
  assert.ok(Number.isNaN(disk.btK[0]!));
  assert.equal(disk.truthCloud[0], CLOUD.NODATA);
  assert.equal(disk.truthType[0], CLOUD_TYPE.NODATA);
  assert.ok(Number.isNaN(disk.truthCthM[0]!));
  const mid = 192 * 384 + 192;
  assert.ok(Number.isFinite(disk.btK[mid]!));
  assert.ok(Math.abs(disk.lat![mid]!) < 0.5 && Math.abs(disk.lon![mid]! - -75.2) < 0.5);
  let nan = 0;
  for (let i = 0; i < disk.btK.length; i++) {
    const off = Number.isNaN(disk.btK[i]!);
    assert.equal(off, disk.truthCloud[i] === CLOUD.NODATA);
    if (off) nan++;
  }
  // The disk fills π/4 of its square less a little (its rim is at 0.1519 rad of the 0.1519 rad half-width).
  assert.ok(nan / disk.btK.length > 0.2 && nan / disk.btK.length < 0.25, `off-disk fraction ${nan / disk.btK.length}`);
});

test('BT by cloud type falls in realistic band-13 ranges; cloud fraction is earth-like', () => {
  const byType = new Map<number, number[]>();
  let n = 0, cloudy = 0;
  for (let i = 0; i < disk.btK.length; i++) {
    const t = disk.truthType[i]!;
    if (t === CLOUD_TYPE.NODATA) continue;
    n++;
    if (disk.truthCloud[i] === CLOUD.CLOUD) cloudy++;
    const arr = byType.get(t) ?? [];
    arr.push(disk.btK[i]!);
    byType.set(t, arr);
  }
  const median = (t: number): number => {
    const a = (byType.get(t) ?? []).sort((x, y) => x - y);
    assert.ok(a.length > 100, `type ${t} has ${a.length} pixels`);
    return a[Math.floor(a.length / 2)]!;
  };
  assert.ok(cloudy / n > 0.4 && cloudy / n < 0.85, `cloud fraction ${cloudy / n}`);
  const clear = median(CLOUD_TYPE.CLEAR), low = median(CLOUD_TYPE.LOW), mid = median(CLOUD_TYPE.MID), ci = median(CLOUD_TYPE.CIRRUS), deep = median(CLOUD_TYPE.DEEP);
  assert.ok(clear > 280 && clear < 305, `clear ${clear}`);
  assert.ok(low > 268 && low < 287, `low ${low}`);
  assert.ok(mid > 240 && mid < 268, `mid ${mid}`);
  assert.ok(ci > 210 && ci < 250, `cirrus ${ci}`);
  assert.ok(deep > 188 && deep < 222, `deep ${deep}`);
  for (const [, a] of byType) for (const v of a) assert.ok(v > 180 && v < 320, `BT ${v}`);
});

test('clear sky is warm in the tropics and colder toward the poles', () => {
  const sum = { trop: 0, nt: 0, pole: 0, np: 0 };
  for (let i = 0; i < disk.btK.length; i++) {
    if (disk.truthType[i] !== CLOUD_TYPE.CLEAR) continue;
    const la = Math.abs(disk.lat![i]!);
    if (la < 15) (sum.trop += disk.btK[i]!), sum.nt++;
    if (la > 55) (sum.pole += disk.btK[i]!), sum.np++;
  }
  const trop = sum.trop / sum.nt, pole = sum.pole / sum.np;
  assert.ok(trop > 290 && trop < 302, `tropics ${trop}`);
  assert.ok(trop - pole > 15, `tropics ${trop} vs poles ${pole}`);
});

test('cloud-top temperature is US1976 below the tropopause and inverts to the height above it', () => {
  const trop = tropopause();
  for (let z = 0; z <= 15500; z += 250) {
    const t = cloudTopTemperature(z);
    if (z <= trop.heightM) assert.ok(Math.abs(t - temperatureAtHeight(z)) < 1e-9);
    else assert.ok(t < trop.tempK);
    assert.ok(Math.abs(heightForTemperature(t, { coldRule: 'extrapolate' }) - z) < 0.5, `z ${z}`);
    assert.ok(Math.abs(heightOfCloudTop(t) - z) < 1, `inverse at z ${z}`);
  }
});

test('opaque deep-convection tops invert to their true height', () => {
  let n = 0, good = 0;
  for (let i = 0; i < disk.btK.length; i++) {
    if (disk.truthType[i] !== CLOUD_TYPE.DEEP) continue;
    n++;
    const z = heightForTemperature(disk.btK[i]!, { coldRule: 'extrapolate' });
    if (Math.abs(z - disk.truthCthM[i]!) < 150) good++;
  }
  // Soft anvil edges and cirrus above some anvils make a few pixels disagree; the cores must not.
  assert.ok(n > 500 && good / n > 0.8, `${good}/${n}`);
});

test('the cyclone sits where asked: warm eye, cold overcast around it', () => {
  const step = 56e-6;
  // Centre a native-resolution scene on the cyclone: scan angles of the chosen lat/lon by search on the coarse disk.
  const c = centreOf(disk, cyclone.lat, cyclone.lon);
  const x = disk.geo.x0 + c.col * disk.geo.dx, y = disk.geo.y0 + c.row * disk.geo.dy;
  const s = generateScene({ seed: 11, width: 640, height: 640, stepRad: step, centerX: x, centerY: y, latLon: true, cyclone });
  let warm = -Infinity, at = -1;
  for (let i = 0; i < s.btK.length; i++) {
    const d = Math.hypot((s.lat![i]! - cyclone.lat) * 111.2, (s.lon![i]! - cyclone.lon) * 111.2 * Math.cos((cyclone.lat * Math.PI) / 180));
    if (d < 100 && s.btK[i]! > warm) {
      warm = s.btK[i]!;
      at = i;
    }
  }
  const ll = scanToLonLat(s.geo.x0 + (at % 640) * s.geo.dx, s.geo.y0 + Math.floor(at / 640) * s.geo.dy, s.geo.params)!;
  const dKm = Math.hypot((ll[1] - cyclone.lat) * 111.2, (ll[0] - cyclone.lon) * 111.2 * Math.cos((cyclone.lat * Math.PI) / 180));
  assert.ok(dKm < cyclone.eyeRadiusKm, `warmest pixel ${dKm.toFixed(1)} km from the chosen eye`);
  assert.ok(Math.abs(warm - cyclone.eyeTempK) < 1, `eye ${warm}`);
  assert.equal(s.truthCloud[at], CLOUD.CLEAR);
  // The ring 40–100 km out is the cold overcast, all cloud.
  let ring = 0, cold = 0, sumT = 0;
  for (let i = 0; i < s.btK.length; i++) {
    const d = Math.hypot((s.lat![i]! - cyclone.lat) * 111.2, (s.lon![i]! - cyclone.lon) * 111.2 * Math.cos((cyclone.lat * Math.PI) / 180));
    if (d > 40 && d < 100) {
      ring++;
      sumT += s.btK[i]!;
      if (s.truthCloud[i] === CLOUD.CLOUD && s.btK[i]! < cyclone.cloudTopTempK + 6) cold++;
    }
  }
  assert.ok(ring > 1000 && cold / ring > 0.95, `${cold}/${ring}`);
  assert.ok(Math.abs(sumT / ring - cyclone.cloudTopTempK) < 4, `ring mean ${sumT / ring}`);
});

test('bad options are refused with a reason', () => {
  assert.throws(() => generateScene({ seed: 1, width: 0, height: 10 }), /scene size/);
  assert.throws(() => generateScene({ seed: 1, width: 10, height: 10, cyclone: { ...cyclone, cloudTopTempK: 290 } }), /cyclone/);
});

test('the visible band: bright clouds, dark sea, nothing at night, NaN off the disk', () => {
  const day = generateScene({ seed: 11, width: 160, height: 160, reflectance: true, time: new Date('2026-08-15T16:30:00Z') });
  const night = generateScene({ seed: 11, width: 160, height: 160, reflectance: true, time: new Date('2026-08-15T04:30:00Z') });
  // The thermal band does not depend on the visible one.
  assert.deepEqual(day.btK, generateScene({ seed: 11, width: 160, height: 160, time: new Date('2026-08-15T16:30:00Z') }).btK);
  const med = (a: number[]): number => a.sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  const deep: number[] = [], clear: number[] = [];
  let nightMax = 0;
  for (let i = 0; i < day.btK.length; i++) {
    assert.equal(Number.isNaN(day.reflectance![i]!), Number.isNaN(day.btK[i]!));
    if (Number.isNaN(day.btK[i]!)) continue;
    const r = day.reflectance![i]!;
    assert.ok(r >= 0 && r <= 1.2, `reflectance ${r}`);
    // Near the sub-satellite point the sun is high at 16:30 UTC (about 11:30 local at 75° W).
    const x = i % 160, y = Math.floor(i / 160);
    if (Math.abs(x - 80) < 30 && Math.abs(y - 80) < 30) {
      if (day.truthType[i] === CLOUD_TYPE.DEEP) deep.push(r);
      if (day.truthType[i] === CLOUD_TYPE.CLEAR) clear.push(r);
    }
    if (Math.abs(x - 80) < 30 && Math.abs(y - 80) < 30) nightMax = Math.max(nightMax, night.reflectance![i]!);
  }
  assert.ok(med(deep) > 0.6, `deep convection ${med(deep)}`);
  assert.ok(med(clear) < 0.15, `clear ${med(clear)}`);
  assert.equal(nightMax, 0);
});
