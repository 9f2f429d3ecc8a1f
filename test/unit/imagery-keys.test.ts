/** Official file-name patterns and listing prefixes of the NOAA buckets. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { goesTime, parseGoesKey, parseHimawariKey, prefixFor, prefixesToPoll } from '../../actors/ingest/imagery-keys.js';

test('GOES ABI L1b key: product, sector, mode, band, satellite, times; item id without the creation time', () => {
  const r = parseGoesKey('ABI-L1b-RadF/2026/329/17/OR_ABI-L1b-RadF-M6C13_G19_s20263291700205_e20263291709513_c20263291709570.nc');
  assert.ok(r.ok);
  const k = r.value;
  assert.equal(k.kind, 'goes');
  if (k.kind !== 'goes') return;
  assert.equal(k.product, 'ABI-L1b-RadF');
  assert.equal(k.sector, 'F');
  assert.equal(k.mode, 6);
  assert.equal(k.band, 13);
  assert.equal(k.platform, 'goes-19');
  assert.equal(k.start.toISOString(), '2026-11-25T17:00:20.500Z');
  assert.equal(k.end.toISOString(), '2026-11-25T17:09:51.300Z');
  assert.equal(k.created.toISOString(), '2026-11-25T17:09:57.000Z');
  assert.equal(k.itemId, 'OR_ABI-L1b-RadF-M6C13_G19_s20263291700205_e20263291709513');
  const c = parseGoesKey('OR_ABI-L1b-RadC-M3C13_G16_s20170590337505_e20170590340278_c20170590340316.nc');
  assert.ok(c.ok && c.value.kind === 'goes' && c.value.sector === 'C' && c.value.platform === 'goes-16');
  const m = parseGoesKey('OR_ABI-L1b-RadM1-M6C02_G18_s20263291700255_e20263291700313_c20263291700349.nc');
  assert.ok(m.ok && m.value.kind === 'goes' && m.value.sector === 'M1' && m.value.band === 2);
});

test('GOES keys that do not match are reasons, not exceptions', () => {
  for (const bad of [
    'OR_ABI-L1b-RadF-M6C13_G19_garbage.nc',
    'OR_ABI-L2-CMIPF-M6C13_G19_s20263291700205_e20263291709513_c20263291709570.nc',
    'OR_ABI-L1b-RadF-M6C17_G19_s20263291700205_e20263291709513_c20263291709570.nc',
    'OR_ABI-L1b-RadF-M6C13_G15_s20263291700205_e20263291709513_c20263291709570.nc',
    'OR_ABI-L1b-RadF-M6C13_G19_s20263671700205_e20263671709513_c20263671709570.nc',
    'OR_ABI-L1b-RadF-M6C13_G19_s20263291709513_e20263291700205_c20263291709570.nc',
    '',
  ]) {
    const r = parseGoesKey(bad);
    assert.equal(r.ok, false, bad);
    if (!r.ok) assert.ok(r.reason.length > 0);
  }
  assert.equal(goesTime('20243661200000')?.toISOString(), '2024-12-31T12:00:00.000Z', 'day 366 of a leap year');
  assert.equal(goesTime('20253661200000'), null, 'day 366 of a common year');
});

test('Himawari HSD key: segment of total, band, resolution; the item id names the scene, not the segment', () => {
  const r = parseHimawariKey('AHI-L1b-FLDK/2026/11/25/1700/HS_H09_20261125_1700_B13_FLDK_R20_S0310.DAT.bz2');
  assert.ok(r.ok);
  const k = r.value;
  if (k.kind !== 'himawari') return assert.fail('kind');
  assert.equal(k.platform, 'himawari-9');
  assert.equal(k.time.toISOString(), '2026-11-25T17:00:00.000Z');
  assert.equal(k.band, 13);
  assert.equal(k.resolutionKm, 2);
  assert.equal(k.segment, 3);
  assert.equal(k.segments, 10);
  assert.equal(k.compressed, true);
  assert.equal(k.itemId, 'HS_H09_20261125_1700_B13_FLDK_R20');
  const seg10 = parseHimawariKey('HS_H09_20261125_1700_B13_FLDK_R20_S1010.DAT.bz2');
  assert.ok(seg10.ok && seg10.value.itemId === k.itemId);
  for (const bad of ['HS_H09_20261125_1700_B13_FLDK_R20_S1110.DAT.bz2', 'HS_H09_20261325_1700_B13_FLDK_R20_S0110.DAT.bz2', 'HS_H07_20261125_1700_B13_FLDK_R20_S0110.DAT.bz2', 'HS_H09_20261125_1700_B13_FLDK_R30_S0110.DAT.bz2', 'HS_H09_20261125_1700_B13_FLDK_R20_S0110.nc']) {
    assert.equal(parseHimawariKey(bad).ok, false, bad);
  }
});

test('listing prefixes: GOES by product/year/day-of-year/hour, Himawari by product/year/month/day/HHM0', () => {
  const t = new Date('2026-11-25T17:27:00Z');
  assert.equal(prefixFor('abi', 'ABI-L1b-RadF', t), 'ABI-L1b-RadF/2026/329/17/');
  assert.equal(prefixFor('ahi', 'AHI-L1b-FLDK', t), 'AHI-L1b-FLDK/2026/11/25/1720/');
  assert.deepEqual(prefixesToPoll('abi', 'ABI-L1b-RadC', t, 3_600_000), ['ABI-L1b-RadC/2026/329/16/', 'ABI-L1b-RadC/2026/329/17/']);
  const h = prefixesToPoll('ahi', 'AHI-L1b-FLDK', t, 3_600_000);
  assert.equal(h.length, 7);
  assert.equal(h[0], 'AHI-L1b-FLDK/2026/11/25/1620/');
  assert.equal(h[6], 'AHI-L1b-FLDK/2026/11/25/1720/');
  // Across midnight and the new year.
  assert.deepEqual(prefixesToPoll('abi', 'ABI-L1b-RadF', new Date('2027-01-01T00:05:00Z'), 3_600_000), ['ABI-L1b-RadF/2026/365/23/', 'ABI-L1b-RadF/2027/001/00/']);
});
