/**
 * The bulk export's element-set writers (actors/gateway/export-formats.ts),
 * held to the ingest's own readers and to hand-worked fields:
 * - every snapshot TLE, turned into CelesTrak OMM and written back as a TLE,
 *   parses (columns, checksums) to the same values as the original lines;
 * - the OMM is what validateOmm reads back field for field;
 * - the "decimal point assumed" fields against values worked by hand
 *   (CelesTrak's format notes: " 10270-3" is 0.10270e-3), rounding carried
 *   into the exponent, and out-of-range values refused, not written;
 * - an epoch that rounds to the next year is written in the next year;
 * - ids above 99999 have no TLE.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assumedDecimalField, ommFromTleRecord, ommEpochString, tleLinesFromOmm, csvField } from '../../actors/gateway/export-formats.js';
import { loadSnapshot } from '../../actors/tracker/snapshot.js';
import { parseTle } from '../../actors/tracker/tle.js';
import { validateOmm, type OmmRecord } from '../../actors/tracker/omm.js';

const FIELDS = ['noradId', 'classification', 'intlDesignator', 'epochYear', 'epochDay', 'ndotRevPerDay2', 'nddotRevPerDay3', 'bstar', 'ephemerisType', 'elementSetNo', 'inclinationDeg', 'raanDeg', 'eccentricity', 'argpDeg', 'meanAnomalyDeg', 'meanMotionRevPerDay', 'revNumber'] as const;

test('TLE → OMM → TLE: the written lines parse to the original values, for 3,000 snapshot objects', async () => {
  const records = (await loadSnapshot()).records.filter((r) => r.noradId <= 99_999).slice(0, 3000);
  assert.equal(records.length, 3000);
  for (const r of records) {
    const omm = ommFromTleRecord(r, r.name);
    const v = validateOmm(omm, 1);
    assert.ok(v.ok, `${r.noradId}: ${!v.ok && v.rejection.reason}`);
    // validateOmm reads every element back as written.
    assert.equal(v.value.meanMotionRevPerDay, r.meanMotionRevPerDay);
    assert.equal(v.value.eccentricity, r.eccentricity);
    assert.equal(v.value.bstar, r.bstar);
    assert.ok(Math.abs(v.value.epochMs - r.epochMs) < 0.001, `${r.noradId} epoch`);
    const w = tleLinesFromOmm(v.value);
    assert.ok(w.ok, `${r.noradId}: ${!w.ok && w.reason}`);
    const back = parseTle(r.name, w.value.line1, w.value.line2);
    assert.ok(back.ok, `${r.noradId}: ${!back.ok && back.rejection.reason}\n${w.value.line1}\n${w.value.line2}`);
    for (const f of FIELDS) assert.equal(back.value[f], r[f], `${r.noradId} ${f}:\n${r.line1}\n${w.value.line1}\n${r.line2}\n${w.value.line2}`);
  }
});

test('"decimal point assumed" fields: worked values, rounding carried into the exponent, out of range refused', () => {
  const table: Array<[number, string | undefined]> = [
    [0.1027e-3, ' 10270-3'],
    [-0.11606e-4, '-11606-4'],
    [0, ' 00000+0'],
    [0.5, ' 50000+0'],
    [1.5, ' 15000+1'],
    [0.999996, ' 10000+1'],
    [1e-10, ' 10000-9'],
    [1e-11, undefined],
    [1.2e9, undefined],
    [Number.NaN, undefined],
  ];
  for (const [v, want] of table) assert.equal(assumedDecimalField(v), want, String(v));
});

function omm(over: Partial<OmmRecord>): OmmRecord {
  const base = validateOmm(
    { OBJECT_NAME: 'X', OBJECT_ID: '1998-067A', EPOCH: '2026-05-07T12:00:00.000000', MEAN_MOTION: 15.5, ECCENTRICITY: 0.0006703, INCLINATION: 51.6416, RA_OF_ASC_NODE: 247.4627, ARG_OF_PERICENTER: 130.536, MEAN_ANOMALY: 325.0288, NORAD_CAT_ID: 25544, BSTAR: 0.0001027, MEAN_MOTION_DOT: 0.00016717, MEAN_MOTION_DDOT: 0, ELEMENT_SET_NO: 999, REV_AT_EPOCH: 12345 },
    1,
  );
  assert.ok(base.ok);
  return { ...base.value, ...over };
}

test('an epoch that rounds up to the next year is written in the next year', () => {
  // 0.1 ms before 2026: 365.99999999988 days into 2025, which 8 decimals round to day 1 of 2026.
  const epochMs = Date.UTC(2026, 0, 1) - 0.1;
  const w = tleLinesFromOmm(omm({ epochMs, epoch: ommEpochString(epochMs) }));
  assert.ok(w.ok);
  assert.equal(w.value.line1.slice(18, 32), '26001.00000000');
  const back = parseTle('X', w.value.line1, w.value.line2);
  assert.ok(back.ok);
  assert.equal(back.value.epochMs, Date.UTC(2026, 0, 1));
});

test('what a TLE cannot hold is refused with a reason, never written', () => {
  const big = tleLinesFromOmm(omm({ noradId: 100_000 }));
  assert.ok(!big.ok && /above 99999/.test(big.reason));
  const ndot = tleLinesFromOmm(omm({ meanMotionDot: 1.5 }));
  assert.ok(!ndot.ok && /MEAN_MOTION_DOT/.test(ndot.reason));
  const cls = tleLinesFromOmm(omm({ classification: 'X' }));
  assert.ok(!cls.ok && /classification/.test(cls.reason));
});

test('CSV fields are quoted as RFC 4180 says', () => {
  assert.equal(csvField('ISS (ZARYA)'), 'ISS (ZARYA)');
  assert.equal(csvField('A, B'), '"A, B"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField(0.0001027), '0.0001027');
});
