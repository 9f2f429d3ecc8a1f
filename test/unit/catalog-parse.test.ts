/**
 * Catalog parsing for ingest (pure): format sniffing, designators, the stored
 * OMM shape, SGP4-initialisation rejects, Alpha-5 and 9-digit ids, and the
 * GP URL. Table-driven where the cases are data.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { designatorFromTle, ommObject, parseCatalogText, sniffFormat } from '../../actors/ingest/catalog-parse.js';
import { gpUrl } from '../../actors/ingest/catalog-fetch.js';
import { snapshotDateOf } from '../../actors/ingest/catalog-actor.js';
import { validateOmm } from '../../actors/tracker/omm.js';
import { tleChecksum } from '../../actors/tracker/tle.js';
import { SNAPSHOT_FILE, SNAPSHOT_PATH } from '../../actors/tracker/snapshot.js';
import { ommRecord } from '../integration/catalog-fixtures.js';

test('sniffFormat: by extension, then by content', () => {
  const cases: Array<[string, string, string]> = [
    ['[{"NORAD_CAT_ID":1}]', 'x.txt', 'json'],
    ['  {"NORAD_CAT_ID":1}', '', 'json'],
    ['OBJECT_NAME,OBJECT_ID,NORAD_CAT_ID\nA,B,1', '', 'csv'],
    ['anything', 'cat.csv', 'csv'],
    ['anything', 'cat.JSON', 'json'],
    ['1 25544U 98067A ...\n2 25544 ...', '', 'tle'],
    ['ISS (ZARYA)\n1 25544U ...', '', '3le'],
  ];
  for (const [text, file, want] of cases) assert.equal(sniffFormat(text, file), want, `${JSON.stringify(text.slice(0, 20))} ${file}`);
});

test('designatorFromTle: TLE columns 10-17 to the OMM form', () => {
  const cases: Array<[string, string | null]> = [
    ['98067A', '1998-067A'],
    ['26001ABC', '2026-001ABC'],
    ['57001B', '1957-001B'],
    ['', null],
    ['weird', 'weird'],
  ];
  for (const [field, want] of cases) assert.equal(designatorFromTle(field), want, field);
});

test('the stored OMM object validates back to the same record', () => {
  const first = validateOmm(ommRecord(987654321), 1);
  assert.ok(first.ok);
  const again = validateOmm(ommObject(first.value), 1);
  assert.ok(again.ok);
  assert.deepEqual(again.value, first.value);
});

test('records that parse but cannot initialise SGP4 are rejected as SGP4_INIT with their position', () => {
  const doc = [ommRecord(100000), ommRecord(100001, { MEAN_MOTION: 16.5, ECCENTRICITY: 0.5, MEAN_ANOMALY: 0 }), ommRecord(100002, { ECCENTRICITY: 0.99 })];
  const r = parseCatalogText(JSON.stringify(doc), 'json');
  assert.deepEqual(r.records.map((x) => x.noradId), [100000]);
  assert.deepEqual(r.rejects.map((x) => [x.code, x.line, x.noradId]), [['SGP4_INIT', 2, 100001], ['SGP4_INIT', 3, 100002]]);
  assert.equal(r.total, 3);
});

test('Alpha-5 TLE catalog numbers become 6-digit ids; OMM keeps 9-digit ids', () => {
  // The ISS lines from the snapshot, renumbered to Alpha-5 "A0001" (= 100001) with fixed checksums.
  const lines = readFileSync(SNAPSHOT_PATH, 'utf8').split(/\r?\n/);
  const i = lines.findIndex((l) => l.startsWith('1 25544'));
  const fix = (l: string): string => l.slice(0, 68) + String(tleChecksum(l));
  const l1 = fix(lines[i]!.replace('25544', 'A0001'));
  const l2 = fix(lines[i + 1]!.replace('25544', 'A0001'));
  const r = parseCatalogText(`ALPHA5 TEST\n${l1}\n${l2}\n`, '3le');
  assert.deepEqual(r.rejects, []);
  assert.equal(r.records[0]?.noradId, 100001);
  assert.equal(r.records[0]?.name, 'ALPHA5 TEST');
  const o = parseCatalogText(JSON.stringify([ommRecord(999_999_999), ommRecord(123456)]), 'json');
  assert.deepEqual(o.records.map((x) => x.noradId), [999_999_999, 123456]);
});

test('the shipped snapshot parses with zero rejects', () => {
  const r = parseCatalogText(readFileSync(SNAPSHOT_PATH, 'utf8'), '3le');
  assert.equal(r.rejects.length, 0);
  assert.equal(r.records.length, 15347);
  assert.equal(snapshotDateOf(SNAPSHOT_FILE), '2026-05-07');
});

test('gpUrl sets GROUP and FORMAT and keeps the endpoint', () => {
  assert.equal(gpUrl('https://celestrak.org/NORAD/elements/gp.php', 'active', 'json'), 'https://celestrak.org/NORAD/elements/gp.php?GROUP=active&FORMAT=json');
  assert.equal(gpUrl('http://127.0.0.1:9/gp.php?GROUP=x&k=1', 'gps-ops', '3le'), 'http://127.0.0.1:9/gp.php?GROUP=gps-ops&k=1&FORMAT=3le');
});
