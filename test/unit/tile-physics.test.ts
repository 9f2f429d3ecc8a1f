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
  assert.equal(heightForTemperature(200), tp.heightM, 'colder than the tropopause → tropopause by default');
  // Extrapolating 6.5 K/km: 16.65 K colder than the tropopause is 2561.5 m (geopotential) higher.
  const ext = heightForTemperature(200, { coldRule: 'extrapolate' });
  assert.ok(Math.abs(ext - geopotentialToGeometric(11000 + 16.65 / 0.0065)) < 1e-6);
  assert.ok(ext > tp.heightM);
});

test('makeProfile refuses a discontinuous or upside-down profile with a StarWeatherError', () => {
  assert.throws(() => makeProfile('bad', [0, 10000], [288, 200], [-0.0065, 0]), (e: unknown) => e instanceof StarWeatherError && e.code === 'SW_ERR_INVALID_ARGUMENT');
  assert.throws(() => makeProfile('bad', [10000, 0], [288, 223], [-0.0065, 0]), StarWeatherError);
  assert.throws(() => makeProfile('bad', [0, 10000], [288, 298], [0.001, 0]), /troposphere/);
});
