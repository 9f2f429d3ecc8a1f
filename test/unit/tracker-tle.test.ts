/**
 * TLE/3LE parsing: the shipped 15,347-object CelesTrak snapshot parses with
 * zero rejects, each crafted defect is rejected with its own code, Alpha-5
 * catalog numbers decode per Space-Track's scheme, and garbage never throws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeCatalogNumber, encodeCatalogNumber, parseTle, parseTleText, tleChecksum } from '../../actors/tracker/tle.js';
import { SNAPSHOT_OBJECT_COUNT, SNAPSHOT_PATH, loadSnapshot } from '../../actors/tracker/snapshot.js';
import { countByCode } from '../../actors/tracker/rejection.js';
import { createSatrec, elementSetFromTle } from '../../actors/tracker/element-set.js';
import { propagateAt, S_ALT_KM, STATE_STRIDE, SGP4_OK } from '../../actors/tracker/propagate.js';

const ISS_NAME = 'ISS (ZARYA)';
const ISS_1 = '1 25544U 98067A   26127.42525608  .00005474  00000+0  10695-3 0  9993';
const ISS_2 = '2 25544  51.6306 141.8725 0007388  32.8924 327.2523 15.49130994565437';

/** Replaces columns [start, start+text.length) (0-based) and fixes the checksum unless told not to. */
function edit(line: string, start: number, text: string, fixChecksum = true): string {
  const s = line.slice(0, start) + text + line.slice(start + text.length);
  return fixChecksum ? s.slice(0, 68) + String(tleChecksum(s)) : s;
}

test(`the shipped snapshot parses to ${SNAPSHOT_OBJECT_COUNT} records with zero rejects`, async () => {
  const { records, rejects } = await loadSnapshot();
  assert.deepEqual(countByCode(rejects), {});
  assert.equal(records.length, SNAPSHOT_OBJECT_COUNT);
  assert.equal(new Set(records.map((r) => r.noradId)).size, SNAPSHOT_OBJECT_COUNT, 'catalog numbers are unique');
  assert.equal(records.filter((r) => r.name.startsWith('STARLINK')).length, 10318, 'README: 10,318 STARLINK');
  const iss = records.find((r) => r.noradId === 25544)!;
  assert.equal(iss.name, ISS_NAME);
  assert.equal(iss.epochYear, 2026);
  assert.equal(iss.classification, 'U');
  assert.equal(iss.intlDesignator, '98067A');
  assert.equal(iss.inclinationDeg, 51.6306);
  assert.equal(iss.eccentricity, 0.0007388);
  assert.equal(iss.meanMotionRevPerDay, 15.49130994);
  assert.equal(iss.revNumber, 56543);
  assert.ok(Math.abs(iss.bstar - 0.10695e-3) < 1e-18);
  assert.equal(iss.ndotRevPerDay2, 0.00005474);
  // 26127.42525608 = 2026-05-07 10:12:22.125 UTC
  assert.ok(Math.abs(iss.epochMs - (Date.UTC(2026, 4, 7) + 0.42525608 * 86_400_000)) < 1e-3);
  // The file is CRLF as CelesTrak serves it; the LF form parses the same.
  const lf = parseTleText(readFileSync(SNAPSHOT_PATH, 'utf8').replace(/\r\n/g, '\n'));
  assert.equal(lf.records.length, SNAPSHOT_OBJECT_COUNT);
});

const bad: { name: string; l1: string; l2: string; code: string; opts?: { verification?: boolean } }[] = [
  { name: 'line 1 checksum', l1: edit(ISS_1, 68, '4', false), l2: ISS_2, code: 'TLE_CHECKSUM' },
  { name: 'line 2 checksum', l1: ISS_1, l2: edit(ISS_2, 68, '0', false), code: 'TLE_CHECKSUM' },
  { name: 'digit changed, checksum not updated', l1: ISS_1, l2: edit(ISS_2, 9, '2', false), code: 'TLE_CHECKSUM' },
  { name: 'line 1 too short', l1: ISS_1.slice(0, 60), l2: ISS_2, code: 'TLE_LINE_LENGTH' },
  { name: 'line 2 too long', l1: ISS_1, l2: ISS_2 + '  123', code: 'TLE_LINE_LENGTH' },
  { name: 'line number swapped', l1: edit(ISS_1, 0, '3'), l2: ISS_2, code: 'TLE_LINE_NUMBER' },
  { name: 'field shifted one column (no blank at column 9)', l1: edit(ISS_1, 7, 'UU'), l2: ISS_2, code: 'TLE_FORMAT' },
  { name: 'decimal point moved in inclination', l1: ISS_1, l2: edit(ISS_2, 8, ' 516.306'), code: 'TLE_FORMAT' },
  { name: 'letter in mean motion', l1: ISS_1, l2: edit(ISS_2, 52, '15.4913099x'), code: 'TLE_FORMAT' },
  { name: 'bstar exponent missing', l1: edit(ISS_1, 53, ' 106950 '), l2: ISS_2, code: 'TLE_FORMAT' },
  { name: 'eccentricity with a decimal point', l1: ISS_1, l2: edit(ISS_2, 26, '.000738'), code: 'TLE_FORMAT' },
  { name: 'classification X', l1: edit(ISS_1, 7, 'X'), l2: ISS_2, code: 'TLE_FORMAT' },
  { name: 'catalog numbers differ between lines', l1: ISS_1, l2: edit(ISS_2, 2, '25545'), code: 'TLE_CATNUM_MISMATCH' },
  { name: 'catalog number 00000', l1: edit(ISS_1, 2, '00000'), l2: edit(ISS_2, 2, '00000'), code: 'TLE_CATNUM' },
  { name: 'Alpha-5 with skipped letter I', l1: edit(ISS_1, 2, 'I0000'), l2: edit(ISS_2, 2, 'I0000'), code: 'TLE_CATNUM' },
  { name: 'Alpha-5 with skipped letter O', l1: edit(ISS_1, 2, 'O1234'), l2: edit(ISS_2, 2, 'O1234'), code: 'TLE_CATNUM' },
  { name: 'epoch day 0', l1: edit(ISS_1, 20, '000.42525608'), l2: ISS_2, code: 'TLE_EPOCH' },
  { name: 'epoch day 366 in 2026 (not leap)', l1: edit(ISS_1, 20, '366.42525608'), l2: ISS_2, code: 'TLE_EPOCH' },
  { name: 'inclination 181°', l1: ISS_1, l2: edit(ISS_2, 8, '181.6306'), code: 'TLE_RANGE' },
  { name: 'RAAN 400°', l1: ISS_1, l2: edit(ISS_2, 17, '400.8725'), code: 'TLE_RANGE' },
  { name: 'mean motion 0', l1: ISS_1, l2: edit(ISS_2, 52, ' 0.00000000'), code: 'TLE_RANGE' },
];

for (const b of bad) {
  test(`rejects ${b.name} with ${b.code}`, () => {
    const r = parseTle(ISS_NAME, b.l1, b.l2, 10, b.opts);
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.rejection.code, b.code, r.rejection.reason);
    assert.ok(r.rejection.reason.length > 10);
    assert.ok(r.rejection.line === 10 || r.rejection.line === 11);
  });
}

test('the unedited ISS lines parse (the crafted cases differ only by their defect)', () => {
  assert.equal(parseTle(ISS_NAME, ISS_1, ISS_2).ok, true);
  assert.equal(parseTle(ISS_NAME, edit(ISS_1, 20, '365.42525608'), ISS_2).ok, true, 'day 365 is valid');
  assert.equal(parseTle(ISS_NAME, edit(ISS_1, 18, '24366.42525608'), ISS_2).ok, true, 'day 366 of leap year 2024');
});

test('Alpha-5 catalog numbers (Space-Track): table', () => {
  const table: [string, number][] = [
    ['00005', 5],
    ['    5', 5],
    ['25544', 25544],
    ['99999', 99999],
    ['A0000', 100000],
    ['A0001', 100001],
    ['H9999', 179999],
    ['J0000', 180000], // I skipped
    ['N9999', 229999],
    ['P0000', 230000], // O skipped
    ['Z9999', 339999],
  ];
  for (const [field, id] of table) {
    assert.equal(decodeCatalogNumber(field), id, field);
    if (!field.startsWith(' ')) assert.equal(encodeCatalogNumber(id), field, String(id));
  }
  for (const f of ['I0000', 'O0000', 'a0000', 'AA000', '1234', '123456', 'A 000']) assert.ok(Number.isNaN(decodeCatalogNumber(f)), f);
  assert.equal(encodeCatalogNumber(340000), undefined, 'above Alpha-5: OMM only');
});

test('an Alpha-5 TLE parses, keeps its id and propagates', () => {
  const l1 = edit(ISS_1, 2, 'T0042');
  const l2 = edit(ISS_2, 2, 'T0042');
  const r = parseTle('ALPHA5 TEST', l1, l2);
  assert.ok(r.ok, r.ok ? '' : r.rejection.reason);
  assert.equal(r.value.noradId, 270042);
  assert.equal(r.value.catalogField, 'T0042');
  const es = elementSetFromTle(r.value);
  assert.equal(es.noradId, 270042);
  const { satrec, initError } = createSatrec(es);
  assert.equal(initError, SGP4_OK);
  const out = new Float64Array(STATE_STRIDE);
  assert.equal(propagateAt(satrec, es.epochMs + 3_600_000, out), SGP4_OK);
  assert.ok(out[S_ALT_KM]! > 350 && out[S_ALT_KM]! < 450, `ISS-like altitude ${out[S_ALT_KM]}`);
});

test('a file with good and bad records keeps the good ones and reports each bad one with its line', () => {
  const text = [
    '0 ISS (ZARYA)', ISS_1, ISS_2, // 3LE with "0 " name prefix (Space-Track)
    'BROKEN', edit(ISS_1, 68, '0', false), ISS_2, // checksum, lines 5-6
    ISS_1, ISS_2, // bare 2LE, lines 7-8
    '2 25544  51.6306 141.8725 0007388  32.8924 327.2523 15.49130994565437', // orphan line 2, line 9
    'NAME WITHOUT LINES', // line 10
    'LAST', ISS_1, ISS_2,
  ].join('\r\n');
  const { records, rejects } = parseTleText(text);
  assert.deepEqual(records.map((r) => r.name), ['ISS (ZARYA)', '', 'LAST']);
  assert.deepEqual(
    rejects.map((r) => [r.code, r.line]),
    [
      ['TLE_CHECKSUM', 5],
      ['TLE_ORPHAN_LINE', 9],
      ['TLE_ORPHAN_LINE', 10],
    ],
  );
});

test('garbage never throws: random text, binary, truncations', () => {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const inputs = ['', '\n\n\n', '1 ', '2 ', '1 \n2 ', ISS_1.slice(0, 30) + '\n' + ISS_2.slice(0, 30), '\u0000\u0001\uffff'];
  for (let k = 0; k < 200; k++) {
    const chars = Array.from({ length: 150 }, () => (rnd() < 0.1 ? '\n' : String.fromCharCode(32 + Math.floor(rnd() * 95))));
    inputs.push(chars.join(''));
    // mutate one character of a good record
    const pos = Math.floor(rnd() * 140);
    const good = `${ISS_NAME}\n${ISS_1}\n${ISS_2}`;
    inputs.push(good.slice(0, pos) + String.fromCharCode(32 + Math.floor(rnd() * 95)) + good.slice(pos + 1));
  }
  for (const s of inputs) {
    const r = parseTleText(s);
    for (const rec of r.records) assert.ok(Number.isInteger(rec.noradId) && rec.noradId > 0);
    for (const rej of r.rejects) assert.ok(typeof rej.code === 'string' && rej.line >= 1);
  }
});
