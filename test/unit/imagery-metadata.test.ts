/**
 * Item metadata from generated (real-format) ABI and AHI files: times, band,
 * wavelength, platform, fixed-grid projection fields, and footprints/bboxes
 * from the geostationary projection clamped to the visible disk. Corrupt and
 * truncated files give ImageryFormatError with a reason.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { abiFileName, writeAbiFile } from '../helpers/abi-file.js';
import { himawariSegmentFile, hsdSegmentBytes } from '../helpers/himawari-file.js';
import { HeaderIncompleteError, ImageryFormatError, readAbiHeader, readAhiHeader } from '../../actors/ingest/imagery-header.js';
import { goesItem, himawariItem } from '../../actors/ingest/imagery-item.js';
import { SOURCES, parseGoesKey, parseHimawariKey, type GoesKey, type HimawariKey } from '../../actors/ingest/imagery-keys.js';
import { ahiScanAngles, scanToLonLat } from '../../actors/ingest/imagery-geo.js';
import { validateItem } from '../../actors/gateway/stac/validate.js';

const dir = await mkdtemp(join(tmpdir(), 'sw-imgmeta-'));
after(() => rm(dir, { recursive: true, force: true }));

async function abi(sector: 'F' | 'C', lon0 = -75.2): Promise<{ bytes: Uint8Array; key: GoesKey; name: string }> {
  const start = new Date('2026-11-25T17:00:20.5Z');
  const name = abiFileName({ sector, start });
  await writeAbiFile(join(dir, name), { sector, start, lon0 });
  const parsed = parseGoesKey(name);
  assert.ok(parsed.ok && parsed.value.kind === 'goes');
  return { bytes: await readFile(join(dir, name)), key: parsed.value as GoesKey, name };
}

const near = (a: number, b: number, tol: number, what: string): void => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} ± ${tol}`);

test('ABI full disk, GOES-East at -75.2°: datetime, band 13 / 10.3 µm, bbox about [-156, -81, 6, 81]', async () => {
  const { bytes, key } = await abi('F');
  const h = await readAbiHeader(bytes, bytes.byteLength);
  assert.equal(h.bandId, 13);
  near(h.wavelength, 10.33, 0.01, 'band_wavelength');
  assert.equal(h.start.toISOString(), '2026-11-25T17:00:20.500Z');
  assert.equal(h.platformId, 'G19');
  const item = goesItem(SOURCES['goes-east'], key, h, { href: 'https://s3.amazonaws.com/noaa-goes19/x.nc', size: bytes.byteLength });
  const p = item.properties as Record<string, unknown>;
  assert.equal(p.datetime, '2026-11-25T17:00:20.500Z', 'the scan start (time_coverage_start)');
  assert.equal(p.start_datetime, '2026-11-25T17:00:20.500Z');
  assert.equal(p.end_datetime, '2026-11-25T17:10:10.500Z');
  assert.equal(p.platform, 'goes-19');
  assert.deepEqual(p.instruments, ['abi']);
  assert.equal(p.constellation, 'goes');
  const band = (p['eo:bands'] as Array<{ name: string; center_wavelength: number }>)[0]!;
  assert.equal(band.name, 'C13');
  near(band.center_wavelength, 10.3, 0.05, 'center_wavelength');
  assert.equal(p['proj:epsg'], null);
  assert.deepEqual(p['proj:shape'], [32, 32]);
  assert.match(String(p['proj:wkt2']), /Geostationary Satellite \(Sweep X\)/);
  const [w, s, e, n] = item.bbox as number[];
  near(w!, -156.3, 1, 'west');
  near(s!, -81.3, 0.5, 'south');
  near(e!, 6.1, 1, 'east');
  near(n!, 81.3, 0.5, 'north');
  assert.equal((item.geometry as { type: string }).type, 'Polygon');
  const ring = (item.geometry as { coordinates: number[][][] }).coordinates[0]!;
  assert.deepEqual(ring[0], ring[ring.length - 1], 'closed ring');
  assert.equal((item.assets as Record<string, { type: string }>).data!.type, 'application/netcdf');
  assert.deepEqual(validateItem(item), [], 'a valid STAC 1.0.0 item');
});

test('ABI CONUS sector: bbox of the continental US view from -75.2°', async () => {
  const { bytes, key } = await abi('C');
  const h = await readAbiHeader(bytes, bytes.byteLength);
  const item = goesItem(SOURCES['goes-east'], key, h, { href: 'https://s3.amazonaws.com/noaa-goes19/c.nc' });
  const [w, s, e, n] = item.bbox as number[];
  // The real GOES-East CONUS sector spans roughly 152°W–53°W, 14°N–57°N.
  assert.ok(w! > -160 && w! < -145, `west ${w}`);
  assert.ok(e! > -60 && e! < -45, `east ${e}`);
  assert.ok(s! > 10 && s! < 20, `south ${s}`);
  assert.ok(n! > 50 && n! < 60, `north ${n}`);
  assert.equal((item.properties as Record<string, unknown>)['starweather:sector'], 'conus');
});

test('ABI: a prefix that stops inside the header asks for more; corrupt and truncated files are format errors', async () => {
  const { bytes } = await abi('F');
  await assert.rejects(readAbiHeader(bytes.subarray(0, 3000), bytes.byteLength), HeaderIncompleteError);
  await assert.rejects(readAbiHeader(bytes.subarray(0, 3000), 3000), (err: unknown) => err instanceof ImageryFormatError && /truncated file/.test((err as Error).message));
  await assert.rejects(readAbiHeader(new Uint8Array(4096).fill(7), 4096), (err: unknown) => err instanceof ImageryFormatError && /HDF5 signature/.test((err as Error).message));
  const damaged = Uint8Array.from(bytes);
  damaged.fill(0xff, 600, 4000);
  await assert.rejects(readAbiHeader(damaged, damaged.byteLength), ImageryFormatError);
});

test('ABI: HDF5 keeps part of its metadata at the end of the file; head + tail of a sparse copy suffice', async () => {
  const start = new Date('2026-11-25T17:00:20.5Z');
  const path = join(dir, 'big-' + abiFileName({ sector: 'F', start }));
  await writeAbiFile(path, { sector: 'F', start, size: 1000 });
  const b = await readFile(path);
  const n = 65536;
  assert.ok(b.byteLength > 3 * n, `file of ${b.byteLength} bytes`);
  await assert.rejects(readAbiHeader(b.subarray(0, n), b.byteLength), HeaderIncompleteError);
  const h = await readAbiHeader(b.subarray(0, n), b.byteLength, b.subarray(b.byteLength - n));
  assert.equal(h.bandId, 13);
  assert.deepEqual(h.shape, [1000, 1000]);
  assert.equal(h.start.toISOString(), '2026-11-25T17:00:20.500Z');
});

test('geostationary navigation: sub-satellite point and limb', () => {
  const p = { sweep: 'x' as const, h: 42164160, req: 6378137, rpol: 6356752.31414, lon0: -75.2 };
  const c = scanToLonLat(0, 0, p)!;
  near(c[0], -75.2, 1e-9, 'nadir lon');
  near(c[1], 0, 1e-9, 'nadir lat');
  assert.equal(scanToLonLat(0.16, 0, p), null, 'beyond the limb');
  // GOES-R PUG 5.1.2.8.1 worked example: x = -0.024052 rad, y = 0.095340 rad, lon0 -75 → 33.846162° N, 84.690932° W.
  const ex = scanToLonLat(-0.024052, 0.09534, { ...p, h: 35786023 + 6378137, lon0: -75 })!;
  near(ex[1], 33.846162, 1e-4, 'PUG example latitude');
  near(ex[0], -84.690932, 1e-4, 'PUG example longitude');
});

test('AHI segment header blocks 1–11 after bz2; a full-disk item crosses the antimeridian', () => {
  const time = new Date('2026-11-25T17:00:00Z');
  const segs: Array<{ key: HimawariKey; href: string }> = [];
  let header = null;
  for (let s = 1; s <= 10; s++) {
    const name = `HS_H09_20261125_1700_B13_FLDK_R20_S${String(s).padStart(2, '0')}10.DAT.bz2`;
    const k = parseHimawariKey(name);
    assert.ok(k.ok && k.value.kind === 'himawari');
    segs.push({ key: k.value as HimawariKey, href: `https://s3.amazonaws.com/noaa-himawari9/AHI-L1b-FLDK/2026/11/25/1700/${name}` });
    if (s === 1) header = readAhiHeader(himawariSegmentFile({ time, segment: 1 }), true);
  }
  const h = header!;
  assert.equal(h.satellite, 'Himawari-9');
  assert.equal(h.band, 13);
  near(h.centralWavelength, 10.4073, 1e-9, 'central_wave_length');
  assert.equal(h.segment, 1);
  assert.equal(h.totalSegments, 10);
  near(h.subLon, 140.7, 1e-9, 'sub_lon');
  const item = himawariItem(SOURCES['himawari-9'], segs, h, 1);
  assert.equal(item.id, 'HS_H09_20261125_1700_B13_FLDK_R20');
  const [w, s, e, n] = item.bbox as number[];
  near(w!, 140.7 - 81.3, 1, 'west');
  near(e!, 140.7 + 81.3 - 360, 1, 'east (past the antimeridian)');
  near(s!, -81.3, 0.5, 'south');
  near(n!, 81.3, 0.5, 'north');
  assert.equal((item.geometry as { type: string }).type, 'MultiPolygon');
  for (const poly of (item.geometry as { coordinates: number[][][][] }).coordinates) for (const [lon, lat] of poly[0]!) assert.ok(lon! >= -180 && lon! <= 180 && lat! >= -90 && lat! <= 90);
  assert.equal(Object.keys(item.assets as object).length, 10);
  const p = item.properties as Record<string, unknown>;
  assert.equal(p.platform, 'himawari-9');
  assert.deepEqual(p.instruments, ['ahi']);
  // Segment 1's observation start (himawari-file.ts: slot + 20 s), not the 17:00 slot that precedes the scan.
  assert.equal(p.datetime, '2026-11-25T17:00:20.000Z');
  assert.deepEqual(validateItem(item), [], 'a valid STAC 1.0.0 item');
});

test('AHI navigation: the satpy segment-8 extent and the CGMS column/line scaling', () => {
  // satpy test: segment 8 of 10, COFF=LOFF=5500.5, 11000×1100 lines, CFAC=LFAC=40932549 →
  // area_extent y from -3300000 to -2200000 m (h = 35785863 m): scan angle = metres / h.
  const nav = { cfac: 40932549, lfac: 40932549, coff: 5500.5, loff: 5500.5 };
  const [, yTop] = ahiScanAngles(1, 7700 + 0.5, nav);
  const [, yBottom] = ahiScanAngles(1, 8800 + 0.5, nav);
  near(yTop * 35785863, 2200000.014, 50, 'top edge (CGMS y grows south)');
  near(yBottom * 35785863, 3300000.021, 50, 'bottom edge');
});

test('AHI: corrupt bz2, wrong block layout, and a short prefix', () => {
  const time = new Date('2026-11-25T17:00:00Z');
  const good = himawariSegmentFile({ time, segment: 2 });
  const corrupt = Uint8Array.from(good);
  corrupt.fill(0x55, 40, 200);
  assert.throws(() => readAhiHeader(corrupt, true), ImageryFormatError);
  const raw = hsdSegmentBytes({ time, segment: 2 });
  const wrongLen = Uint8Array.from(raw);
  new DataView(wrongLen.buffer).setUint16(282 + 1, 51, true); // block 2 length 51
  assert.throws(() => readAhiHeader(wrongLen, true), /block 2 length 51/);
  assert.throws(() => readAhiHeader(raw.subarray(0, 500), true), /truncated HSD file/);
  assert.throws(() => readAhiHeader(raw.subarray(0, 500), false), HeaderIncompleteError);
  assert.throws(() => readAhiHeader(new Uint8Array([1, 2, 3]), true), ImageryFormatError);
  const notHimawari = Uint8Array.from(raw);
  notHimawari.set([0x4d, 0x54, 0x53, 0x41, 0x54], 6); // satellite "MTSAT"
  assert.throws(() => readAhiHeader(notHimawari, true), /not Himawari/);
});
