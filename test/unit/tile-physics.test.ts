/**
 * US Standard Atmosphere 1976: the layer model reproduces the standard's
 * independent 2 km table (PDAS), and heightForTemperature inverts it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  geometricToGeopotential,
  geopotentialToGeometric,
  heightForTemperature,
  makeProfile,
  readNumericCsv,
  temperatureAtHeight,
  tropopause,
  US1976,
} from '../../actors/tile/physics/atmosphere.js';
import { StarWeatherError } from '../../protocol/errors.js';

test('US1976 temperatures match the PDAS 2 km table to 0.01 K from −2 to 86 km', () => {
  const t = readNumericCsv('us1976_by_2km_pdas.csv');
  const z = t.z_geometric_m as number[];
  const tk = t.T_K as number[];
  assert.ok(z.length > 40);
  for (let i = 0; i < z.length; i++) {
    const got = temperatureAtHeight(z[i] as number);
    assert.ok(Math.abs(got - (tk[i] as number)) < 0.011, `z=${z[i]}: ${got} vs ${tk[i]}`);
  }
});

test('geopotential ↔ geometric round-trips and the tropopause is at 11 km geopotential, 216.65 K', () => {
  for (const z of [-1000, 0, 5000, 11019.13, 47000, 86000]) assert.ok(Math.abs(geopotentialToGeometric(geometricToGeopotential(z)) - z) < 1e-6);
  const tp = tropopause();
  assert.equal(tp.tempK, 216.65);
  assert.ok(Math.abs(tp.heightM - 11019.13) < 0.1, String(tp.heightM));
  assert.equal(US1976.tropopauseLayer, 1);
});

test('heightForTemperature inverts the troposphere exactly and follows the documented edge rules', () => {
  for (let z = 0; z <= 11000; z += 250) {
    const back = heightForTemperature(temperatureAtHeight(z));
    assert.ok(Math.abs(back - z) < 1e-6, `z=${z} → ${back}`);
  }
  assert.equal(heightForTemperature(288.15), 0);
  assert.equal(heightForTemperature(300), 0, 'warmer than the surface → surface');
  assert.ok(Number.isNaN(heightForTemperature(NaN)));
  const tp = tropopause();
  assert.equal(heightForTemperature(200, { coldRule: 'tropopause' }), tp.heightM, "colder than the tropopause → tropopause with 'tropopause'");
  // Extrapolating 6.5 K/km (the default): 16.65 K colder than the tropopause is 2561.5 m (geopotential) higher.
  const ext = heightForTemperature(200);
  assert.ok(Math.abs(ext - geopotentialToGeometric(11000 + 16.65 / 0.0065)) < 1e-6);
  assert.ok(ext > tp.heightM);
});

test('makeProfile refuses a discontinuous or upside-down profile with a StarWeatherError', () => {
  assert.throws(() => makeProfile('bad', [0, 10000], [288, 200], [-0.0065, 0]), (e: unknown) => e instanceof StarWeatherError && e.code === 'SW_ERR_INVALID_ARGUMENT');
  assert.throws(() => makeProfile('bad', [10000, 0], [288, 223], [-0.0065, 0]), StarWeatherError);
  assert.throws(() => makeProfile('bad', [0, 10000], [288, 298], [0.001, 0]), /troposphere/);
});

// ---- Dvorak / ADT ----
import { ADT, basinFor, ciFromT, ciToIntensity, KELVIN, tNumber } from '../../actors/tile/physics/dvorak.js';

test('ADT tables: the CI → wind/MSLP table matches the copied CSV row for row, and interpolates between rows', () => {
  const csv = readNumericCsv('adt_ci_wind_pressure.csv');
  const ci = csv.ci as number[];
  assert.equal(ci.length, ADT.ci_table.length);
  for (let i = 0; i < ci.length; i++) {
    const row = ADT.ci_table[i]!;
    assert.equal(row.ci, ci[i]);
    assert.deepEqual(ciToIntensity(row.ci, 'atlantic'), { vmaxKt: csv.vmax_kt![i], mslpHpa: csv.mslp_hpa_atlantic![i] });
    const p = ciToIntensity(row.ci, 'nw_pacific');
    assert.ok(Math.abs(p.mslpHpa - csv.mslp_hpa_nw_pacific![i]!) < 1e-9);
  }
  // Dvorak (1984) half-integer anchors: CI 4.0 = 65 kt / 987 hPa (Atlantic) / 976 hPa (NW Pacific); 6.5 = 127 kt.
  assert.deepEqual(ciToIntensity(4.0, 'atlantic'), { vmaxKt: 65, mslpHpa: 987 });
  assert.equal(ciToIntensity(4.0, 'nw_pacific').mslpHpa, 976);
  assert.equal(ciToIntensity(6.5, 'atlantic').vmaxKt, 127);
  const mid = ciToIntensity(4.05, 'atlantic');
  assert.ok(Math.abs(mid.vmaxKt - 66.2) < 1e-9 && Math.abs(mid.mslpHpa - 986.2) < 1e-9);
  assert.deepEqual(ciToIntensity(0.3, 'atlantic'), ciToIntensity(1, 'atlantic'), 'clamped to the table');
  assert.deepEqual(ciToIntensity(9.7, 'atlantic'), ciToIntensity(9, 'atlantic'));
});

test('T-number by the ADT regression, checked by hand for eye and CDO scenes', () => {
  const K = KELVIN;
  // Eye: cloud −75 °C → BD category 6 (−70 ≥ T > −76), frac 5/6; eye +15 °C; symmetry 2 K.
  // Atlantic: 5.75 + (5/6)(6.50 − 5.75) + 0.011·90 − 0.015·2 = 7.335 → 7.3
  assert.equal(tNumber({ scene: 'eye', eyeTempK: 15 + K, cloudTempK: -75 + K, cloudSymmetryK: 2, cdoSizeKm: 0, basin: 'atlantic' }), 7.3);
  // Pacific: 5.15 + (5/6)(5.50 − 5.15) + 0.015·90 − 0.015·2 = 6.7617 → 6.7
  assert.equal(tNumber({ scene: 'eye', eyeTempK: 15 + K, cloudTempK: -75 + K, cloudSymmetryK: 2, cdoSizeKm: 0, basin: 'nw_pacific' }), 6.7);
  // Pinhole eye: Teye := (15 + 9)/2 = 12 → 5.75 + 0.625 + 0.011·87 − 0.03 = 7.302 → 7.3; large eye: min(7.335 − 0.5, 6.5) = 6.5
  assert.equal(tNumber({ scene: 'eye', eyeTempK: 15 + K, cloudTempK: -75 + K, cloudSymmetryK: 2, cdoSizeKm: 0, basin: 'atlantic', eyeSize: 'pinhole' }), 7.3);
  assert.equal(tNumber({ scene: 'eye', eyeTempK: 15 + K, cloudTempK: -75 + K, cloudSymmetryK: 2, cdoSizeKm: 0, basin: 'atlantic', eyeSize: 'large' }), 6.5);
  // CDO: cloud −60 °C → category 4 (−54 ≥ T > −64), frac 0.6; size 300 km; symmetry 3 K.
  // Atlantic: 3.75 + 0.6·0.25 + 0.002·300 − 0.03·3 − 0.1 = 4.31 → 4.3
  assert.equal(tNumber({ scene: 'cdo', eyeTempK: null, cloudTempK: -60 + K, cloudSymmetryK: 3, cdoSizeKm: 300, basin: 'atlantic' }), 4.3);
  // A warm, ragged "CDO" is weak: +10 °C → category 1 (9 ≥ T > −30)... temperatures above the curve clamp to its warm end.
  const weak = tNumber({ scene: 'cdo', eyeTempK: null, cloudTempK: 40 + K, cloudSymmetryK: 0, cdoSizeKm: 0, basin: 'atlantic' });
  assert.equal(weak, 1.9, '30 °C (clamped): base 2.0 − 0.1');
  assert.equal(ciFromT(0.4), 1);
  assert.equal(ciFromT(9.6), 9);
  assert.throws(() => tNumber({ scene: 'eye', eyeTempK: null, cloudTempK: 200, cloudSymmetryK: 0, cdoSizeKm: 0, basin: 'atlantic' }), StarWeatherError);
  assert.throws(() => tNumber({ scene: 'cdo', eyeTempK: null, cloudTempK: NaN, cloudSymmetryK: 0, cdoSizeKm: 0, basin: 'atlantic' }), StarWeatherError);
});

test('basin: the NW Pacific is 100° E–180° north of the equator, everything else uses the Atlantic relations', () => {
  assert.equal(basinFor(18, 135), 'nw_pacific');
  assert.equal(basinFor(18, -179.5 + 360), 'atlantic');
  assert.equal(basinFor(18, 180), 'nw_pacific');
  assert.equal(basinFor(-15, 135), 'atlantic');
  assert.equal(basinFor(20, -60), 'atlantic');
  assert.equal(basinFor(15, -110), 'atlantic');
});

// ---- AFGL latitude/season profiles ----
import { AFGL1986, PROFILE_SET, profileFor, profileFromLevels, zoneProfileIndex } from '../../actors/tile/physics/atmosphere.js';

test('AFGL 1986 profiles reproduce their table at every level and have WMO tropopauses where the report puts them', () => {
  const c = readNumericCsv('afgl1986_temperature.csv');
  const z = c.z_km as number[];
  const expectTrop: Record<string, [number, number]> = {
    tropical: [17, 194.8],
    midlatitude_summer: [13, 215.8],
    midlatitude_winter: [10, 219.7],
    subarctic_summer: [10, 225.2],
    subarctic_winter: [9, 217.2],
  };
  for (const [zone, p] of Object.entries(AFGL1986)) {
    const t = c[zone] as number[];
    const first = zone === 'subarctic_winter' ? 1 : 0; // its 0–1 km surface inversion is cut off
    for (let i = first; i < z.length; i++) assert.ok(Math.abs(temperatureAtHeight((z[i] as number) * 1000, p) - (t[i] as number)) < 1e-9, `${zone} z=${z[i]}`);
    const tp = tropopause(p);
    const [zt, tt] = expectTrop[zone] as [number, number];
    assert.ok(Math.abs(tp.heightM - zt * 1000) < 1e-6 && tp.tempK === tt, `${zone}: ${tp.heightM} m ${tp.tempK} K`);
    // exact inversion through the troposphere
    for (let zz = first * 1000 + 137; zz < zt * 1000; zz += 137) assert.ok(Math.abs(heightForTemperature(temperatureAtHeight(zz, p), { profile: p }) - zz) < 1e-6, `${zone} ${zz}`);
  }
  assert.equal(heightForTemperature(260, { profile: AFGL1986.subarctic_winter }), 0, 'warmer than the inversion top (259.1 K at 1 km) → surface');
  assert.throws(() => profileFromLevels('x', [0, 1], [280, 270]), StarWeatherError);
});

test('profileFor picks the AFGL zone and season by latitude, hemisphere and month', () => {
  assert.equal(profileFor(10, 1), AFGL1986.tropical);
  assert.equal(profileFor(-25, 7), AFGL1986.tropical);
  assert.equal(profileFor(45, 7), AFGL1986.midlatitude_summer);
  assert.equal(profileFor(45, 1), AFGL1986.midlatitude_winter);
  assert.equal(profileFor(-45, 1), AFGL1986.midlatitude_summer);
  assert.equal(profileFor(-45, 7), AFGL1986.midlatitude_winter);
  assert.equal(profileFor(60, 6), AFGL1986.subarctic_summer);
  assert.equal(profileFor(-70, 6), AFGL1986.subarctic_winter);
  assert.throws(() => profileFor(95, 1), StarWeatherError);
  assert.throws(() => profileFor(10, 13), StarWeatherError);
  assert.equal(zoneProfileIndex(NaN, 1), 0, 'no latitude: US1976');
  assert.equal(PROFILE_SET[zoneProfileIndex(-45, 1)], AFGL1986.midlatitude_summer);
  // The same BT sits higher in the tropics: 220 K is ~12.5 km there, ~10 km in a midlatitude winter.
  assert.ok(heightForTemperature(220, { profile: profileFor(5, 3) }) > heightForTemperature(220, { profile: profileFor(45, 1) }) + 2000);
});
