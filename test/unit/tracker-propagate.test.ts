/**
 * The batch propagation path against satellite.js's own functions: the same
 * SGP4 state bit for bit, geodetic coordinates equal to eciToGeodetic's
 * (which iterates 20 times; ours stops at convergence), per-slot error codes
 * and NaN states for failures, empty slots marked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eciToGeodetic, gstime, propagate, sgp4 } from 'satellite.js';
import { loadSnapshot } from '../../actors/tracker/snapshot.js';
import { createSatrec, elementSetFromTle } from '../../actors/tracker/element-set.js';
import { parseTle } from '../../actors/tracker/tle.js';
import {
  createStateBuffer,
  EMPTY_SLOT,
  julianDate,
  propagateBatch,
  S_ALT_KM,
  S_LAT_DEG,
  S_LON_DEG,
  S_SPEED_KM_PER_S,
  S_X_KM,
  SGP4_OK,
  STATE_STRIDE,
} from '../../actors/tracker/propagate.js';

const LAT_LON_TOL_DEG = 1e-9;
const ALT_TOL_KM = 1e-6;
/** Against propagate(satrec, Date): satellite.js builds the Julian date from calendar fields, we from Unix ms; their difference is < 1e-9 day (≈ 80 µs ≈ 0.6 m in LEO). */
const VIA_DATE_TOL_KM = 1e-3;

const snapshot = await loadSnapshot();

test('batch = satellite.js sgp4 + eciToGeodetic for 2,000 snapshot objects', () => {
  const recs = snapshot.records.filter((_, i) => i % 7 === 0).slice(0, 2000);
  const satrecs = recs.map((r) => createSatrec(elementSetFromTle(r)).satrec);
  const buf = createStateBuffer(satrecs.length);
  const tMs = Date.UTC(2026, 4, 8, 12, 0, 0);
  const ok = propagateBatch(satrecs, satrecs.length, tMs, buf.state, buf.errors);
  assert.equal(ok, satrecs.length);
  const jd = julianDate(tMs);
  const gmst = gstime(jd);
  let worstLat = 0;
  let worstAlt = 0;
  let worstDate = 0;
  satrecs.forEach((s, i) => {
    const o = i * STATE_STRIDE;
    const pv = sgp4(s, (jd - s.jdsatepoch) * 1440);
    assert.ok(pv);
    assert.equal(buf.state[o + S_X_KM], pv.position.x);
    assert.equal(buf.state[o + S_X_KM + 1], pv.position.y);
    assert.equal(buf.state[o + S_X_KM + 2], pv.position.z);
    assert.equal(buf.state[o + 3], pv.velocity.x);
    assert.ok(Math.abs(buf.state[o + S_SPEED_KM_PER_S]! - Math.hypot(pv.velocity.x, pv.velocity.y, pv.velocity.z)) < 1e-12);
    const gd = eciToGeodetic(pv.position, gmst);
    const dLat = Math.abs(buf.state[o + S_LAT_DEG]! - (gd.latitude * 180) / Math.PI);
    let dLon = Math.abs(buf.state[o + S_LON_DEG]! - (gd.longitude * 180) / Math.PI);
    if (dLon > 180) dLon = 360 - dLon;
    const dAlt = Math.abs(buf.state[o + S_ALT_KM]! - gd.height);
    worstLat = Math.max(worstLat, dLat, dLon);
    worstAlt = Math.max(worstAlt, dAlt);
    assert.ok(dLat <= LAT_LON_TOL_DEG && dLon <= LAT_LON_TOL_DEG, `${recs[i]!.noradId}: lat/lon off by ${dLat}, ${dLon} deg`);
    assert.ok(dAlt <= ALT_TOL_KM, `${recs[i]!.noradId}: altitude off by ${dAlt} km`);
    const viaDate = propagate(s, new Date(tMs));
    assert.ok(viaDate);
    const d = Math.hypot(viaDate.position.x - pv.position.x, viaDate.position.y - pv.position.y, viaDate.position.z - pv.position.z);
    worstDate = Math.max(worstDate, d);
    assert.ok(d < VIA_DATE_TOL_KM, `${recs[i]!.noradId}: ${d} km from propagate(Date)`);
  });
  console.log(`# geodetic worst lat/lon ${worstLat.toExponential(2)} deg, alt ${worstAlt.toExponential(2)} km; vs propagate(Date) ${worstDate.toExponential(2)} km`);
});

test('failed and empty slots carry their code and NaN; the others are unaffected', () => {
  // Vallado's 33333 case: SGP4 error 4 (semi-latus rectum < 0) shortly after epoch.
  const bad = parseTle(
    'ERR4',
    '1 33333U 05037B   05333.02012661  .25992681  00000-0  24476-3 0  1534',
    '2 33333  96.4736 157.9986 9950000 244.0492 110.6523  4.00004038 10708',
    1,
    { verification: true },
  );
  assert.ok(bad.ok);
  const badSat = createSatrec(elementSetFromTle(bad.value)).satrec;
  const good = createSatrec(elementSetFromTle(snapshot.records[0]!)).satrec;
  const buf = createStateBuffer(3);
  const tMs = (badSat.jdsatepoch - 2440587.5) * 86_400_000 + 30 * 60_000; // 30 min after its epoch
  const ok = propagateBatch([good, badSat, undefined], 3, tMs, buf.state, buf.errors);
  assert.equal(ok, 1);
  assert.equal(buf.errors[0], SGP4_OK);
  assert.notEqual(buf.errors[1], SGP4_OK);
  assert.ok([1, 2, 3, 4, 6].includes(buf.errors[1]!), `code ${buf.errors[1]}`);
  assert.equal(buf.errors[2], EMPTY_SLOT);
  for (let k = 0; k < STATE_STRIDE; k++) {
    assert.ok(Number.isNaN(buf.state[STATE_STRIDE + k]!));
    assert.ok(Number.isNaN(buf.state[2 * STATE_STRIDE + k]!));
    assert.ok(Number.isFinite(buf.state[k]!));
  }
});
