/**
 * Scene times come from the file's own time attributes, in both readers (the
 * ingest's header reader → STAC item, and the tile pipeline's scene reader):
 * ABI from the global attributes time_coverage_start/_end (what satpy's
 * start_time/end_time and NOAA's file names use), not from time_bounds;
 * AHI from HSD block 1's observation_start_time/_end_time (MJD), not from the
 * nominal HHMM slot. An item's datetime lies inside its own
 * start_datetime..end_datetime.
 *
 * Oracles are published values, not this code's output: the real GOES-16
 * CONUS CDL (time_coverage_start "2017-02-28T03:37:50.5Z", end
 * "2017-02-28T03:40:28.9Z", file s20170590337505) and the MJD pair of satpy's
 * HSD test file (58413.12523839 → 2018-10-22 03:00:20.596896, 58413.12562439
 * → 03:00:53.947296; ../shared/data/himawari_hsd/hsd_format.md).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { abiFileName, goesStamp, writeAbiFile } from '../helpers/abi-file.js';
import { himawariFileName, himawariSegmentFile, hsdSegmentBytes } from '../helpers/himawari-file.js';
import { ImageryFormatError, readAbiHeader, readAhiHeader } from '../../actors/ingest/imagery-header.js';
import { goesItem, himawariItem, type HimawariSegmentRef } from '../../actors/ingest/imagery-item.js';
import { SOURCES, parseGoesKey, parseHimawariKey, type GoesKey, type HimawariKey } from '../../actors/ingest/imagery-keys.js';
import { readAbiScene, readAhiScene } from '../../actors/tile/formats/index.js';

const dir = await mkdtemp(join(tmpdir(), 'sw-scene-times-'));
after(() => rm(dir, { recursive: true, force: true }));

/** Inside [start, end], both ends included. */
function assertInside(p: Record<string, unknown>): void {
  const t = Date.parse(String(p.datetime)), s = Date.parse(String(p.start_datetime)), e = Date.parse(String(p.end_datetime));
  assert.ok(s <= t && t <= e, `datetime ${String(p.datetime)} inside ${String(p.start_datetime)}..${String(p.end_datetime)}`);
}

// ---- ABI -----------------------------------------------------------------

const CDL_START = '2017-02-28T03:37:50.5Z';
const CDL_END = '2017-02-28T03:40:28.9Z';

test('ABI: start and end are time_coverage_start/_end (real CDL values), not time_bounds, in the header, the item and the tile reader', async () => {
  const start = new Date('2017-02-28T03:37:50.500Z');
  // The real file's name: its s… field is the coverage start (oracle for the name convention, independent of the reader).
  assert.equal(goesStamp(start), '20170590337505');
  // time_bounds written seconds away from the attributes: a reader that used them would be caught.
  const bounds: [Date, Date] = [new Date('2017-02-28T03:37:47.000Z'), new Date('2017-02-28T03:40:31.000Z')];
  const o = { sector: 'C' as const, satellite: 'G16', start, durationS: 158.4, band: 13, timeCoverage: { start: CDL_START, end: CDL_END }, timeBounds: bounds };
  const name = abiFileName(o);
  assert.match(name, /_G16_s20170590337505_e20170590340289_/);
  const path = join(dir, name);
  await writeAbiFile(path, o);
  const bytes = await readFile(path);

  const h = await readAbiHeader(bytes, bytes.byteLength);
  assert.equal(h.start.toISOString(), '2017-02-28T03:37:50.500Z');
  assert.equal(h.end.toISOString(), '2017-02-28T03:40:28.900Z');

  const key = parseGoesKey(name);
  assert.ok(key.ok && key.value.kind === 'goes');
  const item = goesItem(SOURCES['goes-east'], key.value as GoesKey, h, { href: 'https://s3.amazonaws.com/noaa-goes16/c.nc' });
  const p = item.properties as Record<string, unknown>;
  assert.equal(p.start_datetime, '2017-02-28T03:37:50.500Z');
  assert.equal(p.end_datetime, '2017-02-28T03:40:28.900Z');
  assert.equal(p.datetime, '2017-02-28T03:37:50.500Z', 'datetime is the scan start, as the file name and satpy have it');
  assertInside(p);

  const scene = await readAbiScene(path);
  assert.equal(scene.start.toISOString(), '2017-02-28T03:37:50.500Z');
  assert.equal(scene.end.toISOString(), '2017-02-28T03:40:28.900Z');
});

test('ABI: the header read from a prefix (as ingest does) gives the same coverage times', async () => {
  const start = new Date('2026-11-25T17:00:20.500Z');
  const o = { sector: 'F' as const, start, size: 1000, timeCoverage: { start: '2026-11-25T17:00:20.5Z', end: '2026-11-25T17:09:51.3Z' }, timeBounds: [new Date(start.getTime() - 4000), new Date(start.getTime() + 600_000)] as [Date, Date] };
  const path = join(dir, 'prefix-' + abiFileName(o));
  await writeAbiFile(path, o);
  const b = await readFile(path);
  const n = 65536;
  assert.ok(b.byteLength > 2 * n, `a file (${b.byteLength} bytes) larger than head + tail`);
  const h = await readAbiHeader(b.subarray(0, n), b.byteLength, b.subarray(b.byteLength - n));
  assert.equal(h.start.toISOString(), '2026-11-25T17:00:20.500Z');
  assert.equal(h.end.toISOString(), '2026-11-25T17:09:51.300Z');
});

test('ABI: missing, malformed, impossible or reversed coverage times are format errors that name the attribute', async () => {
  const start = new Date('2026-11-25T17:00:20.500Z');
  const cases: Array<[string, { start: string; end: string }, RegExp]> = [
    ['empty', { start: '', end: '2026-11-25T17:09:51.3Z' }, /time_coverage_start is missing/],
    ['no Z (local time)', { start: '2026-11-25T17:00:20.5', end: '2026-11-25T17:09:51.3Z' }, /time_coverage_start .* is not an ISO 8601 UTC time/],
    ['30 February', { start: '2026-02-30T17:00:20.5Z', end: '2026-11-25T17:09:51.3Z' }, /time_coverage_start .* is not a calendar time/],
    ['end before start', { start: '2026-11-25T17:09:51.3Z', end: '2026-11-25T17:00:20.5Z' }, /time_coverage_end .* is before time_coverage_start/],
  ];
  for (const [label, timeCoverage, reason] of cases) {
    const path = join(dir, `bad-${label.replace(/\W+/g, '-')}.nc`);
    await writeAbiFile(path, { sector: 'F', start, timeCoverage });
    const bytes = await readFile(path);
    await assert.rejects(readAbiHeader(bytes, bytes.byteLength), (err: unknown) => err instanceof ImageryFormatError && reason.test(err.message), label);
    await assert.rejects(readAbiScene(path), (err: unknown) => err instanceof ImageryFormatError && reason.test(err.message), `${label} (tile reader)`);
  }
});

// ---- AHI -----------------------------------------------------------------

test('AHI: block 1 observation_start_time/_end_time (satpy test MJDs) read to the published instants by both readers', () => {
  const raw = hsdSegmentBytes({ time: new Date('2018-10-22T03:00:00Z'), segment: 1, segments: 1 });
  // Block 1 starts the file; observation start/end are <f8 MJD at offsets 46 and 54 (hsd_format.md, block 1 table).
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  dv.setFloat64(46, 58413.12523839, true);
  dv.setFloat64(54, 58413.12562439, true);
  const h = readAhiHeader(raw, true);
  // Published: 03:00:20.596896 and 03:00:53.947296, to the millisecond a Date holds.
  assert.equal(h.start.toISOString(), '2018-10-22T03:00:20.597Z');
  assert.equal(h.end.toISOString(), '2018-10-22T03:00:53.947Z');
  const scene = readAhiScene([raw]);
  assert.equal(scene.start.toISOString(), '2018-10-22T03:00:20.597Z');
  assert.equal(scene.end.toISOString(), '2018-10-22T03:00:53.947Z');
});

test('AHI: the item spans the first present segment\'s observation start to the last one\'s end, with datetime inside (not the nominal slot)', () => {
  const slot = new Date('2026-11-25T17:10:00Z');
  // Known observation windows per segment (written into block 1 by the helper): segment s from slot + 21.25 s + 59 s·(s−1), 58.5 s long.
  const window = (s: number): { start: Date; end: Date } => {
    const start = new Date(slot.getTime() + 21_250 + (s - 1) * 59_000);
    return { start, end: new Date(start.getTime() + 58_500) };
  };
  for (const present of [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [3, 4, 5, 9]]) {
    const refs: HimawariSegmentRef[] = [];
    const raws: Uint8Array[] = [];
    for (const s of present) {
      const o = { time: slot, segment: s, ...window(s) };
      const k = parseHimawariKey(himawariFileName(o));
      assert.ok(k.ok && k.value.kind === 'himawari');
      refs.push({ key: k.value as HimawariKey, href: `https://s3.amazonaws.com/noaa-himawari9/${himawariFileName(o)}` });
      raws.push(himawariSegmentFile(o));
    }
    // As the ingest does: the header of the first present segment, the end of the last.
    const first = readAhiHeader(raws[0]!, true);
    const last = readAhiHeader(raws[raws.length - 1]!, true);
    const lo = present[0]!, hi = present[present.length - 1]!;
    assert.equal(first.start.toISOString(), window(lo).start.toISOString());
    assert.equal(last.end.toISOString(), window(hi).end.toISOString());
    const item = himawariItem(SOURCES['himawari-9'], refs, first, first.segment, '/collections/imagery', last.end);
    const p = item.properties as Record<string, unknown>;
    assert.equal(p.start_datetime, window(lo).start.toISOString(), `segments ${present.join(',')}`);
    assert.equal(p.end_datetime, window(hi).end.toISOString());
    assert.equal(p.datetime, window(lo).start.toISOString(), 'datetime is the observation start');
    assert.notEqual(p.datetime, slot.toISOString(), 'not the nominal slot, which precedes the scan');
    assertInside(p);

    // Only contiguous runs can be read as one band; each run's times are its own segments' extremes.
    let k = 1;
    while (k < present.length && present[k] === present[k - 1]! + 1) k++;
    const run = present.slice(0, k);
    const scene = readAhiScene(run.map((s) => raws[present.indexOf(s)]!));
    assert.equal(scene.start.toISOString(), window(run[0]!).start.toISOString());
    assert.equal(scene.end.toISOString(), window(run[run.length - 1]!).end.toISOString());
  }
});
