/**
 * Issue 15 part 8, the exports, on a real gateway host (the gateway harness:
 * fastify on a free port, PGlite, memory cache, embedded bus). Every answer
 * is held to an oracle written here, not to the code's own output:
 * - CZML: the packet structure of the CZML spec, and positions equal to
 *   satellite.js's SGP4 of the stored lines rotated Earth-fixed with a
 *   GMST (IAU 1982, Vallado 2013 eq. 3-47) and a rotation written here;
 * - GeoJSON positions: satellite.js's geodetic position at the state's
 *   time; the group and bbox filters against a filter of the whole
 *   collection; a state from the hot cache says float64;
 * - bulk catalog: TLE lines through satellite.js twoline2satrec with their
 *   checksums computed here, 3LE names, OMM JSON through the ingest's parser
 *   and json2satrec (positions equal to the TLE's), CSV through a CSV
 *   parser written here and the ingest's parser; an OMM written as a TLE
 *   propagates within the TLE's rounding of the OMM;
 * - bad parameters: 400 problems.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eciToGeodetic, gstime, json2satrec, propagate, twoline2satrec, type SatRec } from 'satellite.js';
import { startGatewayHarness, ommFromTle, NINE_DIGIT_ID, SIX_DIGIT_ID, type GatewayHarness } from '../helpers/gateway-harness.js';
import { loadSnapshot } from '../../actors/tracker/snapshot.js';
import type { TleRecord } from '../../actors/tracker/tle.js';
import { parseTleText } from '../../actors/tracker/tle.js';
import { parseCatalogText } from '../../actors/ingest/catalog-parse.js';
import { upsertObject } from '../../actors/storage/catalog.js';
import { insertElementSet } from '../../actors/storage/element-sets.js';
import { createStateBuffer, propagateBatch } from '../../actors/tracker/propagate.js';
import { shardOf } from '../../actors/runtime/sharding.js';
import { encodeTrackerFrameF64 } from '../../protocol/frames/tracker-state.js';
import { until } from '../helpers/cluster-fixtures.js';

const ISS = 25544;
const RAD = Math.PI / 180;
const FROM = '2026-05-08T00:00:00.000Z';
/** Seeded objects: the snapshot's first 110 (the ISS among them) and the harness's two OMM-only ones. */
const COUNT = 110;
/** An object stored as OMM only, with a five-digit id: the TLE export writes its lines. */
const OMM_TLE_ID = 99_001;

let h: GatewayHarness;
let snapshot: TleRecord[];
const lines = new Map<number, TleRecord>();

before(async () => {
  // The oracles run on this process's loop, the gateway's too: that is the test, not an overload.
  h = await startGatewayHarness({ count: COUNT, env: { STARWEATHER_SHED_EVENT_LOOP_DELAY_MS: '0' } });
  snapshot = (await loadSnapshot()).records;
  for (const r of snapshot.slice(0, COUNT)) lines.set(r.noradId, r);
  const src = snapshot[COUNT + 5]!;
  await upsertObject(h.storage.db, { noradId: OMM_TLE_ID, name: 'OMM AS TLE', groups: ['omm-tle'] });
  await insertElementSet(h.storage.db, { noradId: OMM_TLE_ID, epoch: new Date(Math.floor(src.epochMs)), source: 'test:omm', format: 'omm', omm: { ...ommFromTle(src, OMM_TLE_ID, 'OMM AS TLE'), MEAN_MOTION_DOT: src.ndotRevPerDay2, MEAN_MOTION_DDOT: src.nddotRevPerDay3 } });
});
after(async () => {
  await h?.close();
});

async function get(path: string): Promise<{ status: number; type: string; headers: Headers; text: string }> {
  const res = await fetch(h.base + path);
  return { status: res.status, type: res.headers.get('content-type') ?? '', headers: res.headers, text: await res.text() };
}

/** Greenwich mean sidereal angle, IAU 1982 (Vallado 2013, eq. 3-47), radians: the test's own. */
function gmstIau82(tMs: number): number {
  const tut1 = (tMs / 86_400_000 + 2_440_587.5 - 2_451_545.0) / 36_525;
  const s = 67_310.54841 + (876_600 * 3600 + 8_640_184.812866) * tut1 + 0.093104 * tut1 ** 2 - 6.2e-6 * tut1 ** 3;
  return ((((s % 86_400) + 86_400) % 86_400) / 240) * RAD;
}

/** TEME (km) → Earth-fixed (m) at tMs: a rotation about z by −GMST. */
function temeToFixedM(p: { x: number; y: number; z: number }, tMs: number): [number, number, number] {
  const g = gmstIau82(tMs);
  return [(p.x * Math.cos(g) + p.y * Math.sin(g)) * 1000, (-p.x * Math.sin(g) + p.y * Math.cos(g)) * 1000, p.z * 1000];
}

function sgp4(satrec: SatRec, tMs: number): { x: number; y: number; z: number } {
  const pv = propagate(satrec, new Date(tMs));
  assert.ok(pv, 'satellite.js propagates');
  return pv.position;
}

/** Modulo-10 checksum of columns 1-68 (digits their value, '-' one), as CelesTrak documents it. */
function checksum(line: string): number {
  let s = 0;
  for (const c of line.slice(0, 68)) s += c === '-' ? 1 : c >= '0' && c <= '9' ? Number(c) : 0;
  return s % 10;
}

/** RFC 4180 records: quoted fields with doubled quotes, CRLF between records. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let f = '';
  let q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (q) {
      if (c === '"' && text[i + 1] === '"') {
        f += '"';
        i++;
      } else if (c === '"') q = false;
      else f += c;
    } else if (c === '"') q = true;
    else if (c === ',') {
      row.push(f);
      f = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(f);
      rows.push(row);
      row = [];
      f = '';
      i++;
    } else f += c;
  }
  if (f !== '' || row.length > 0) rows.push([...row, f]);
  return rows;
}

const near = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (off by ${Math.abs(a - b)}, tolerance ${tol})`);

describe('GET /czml', () => {
  test('a CZML document: the document packet, then the object with availability and Earth-fixed samples equal to satellite.js', async () => {
    const r = await get(`/czml?ids=${ISS}&from=${FROM}&to=2026-05-08T00:10:30Z&stepS=60`);
    assert.equal(r.status, 200, r.text);
    assert.match(r.type, /^application\/json/);
    assert.match(r.headers.get('content-disposition') ?? '', /filename="starweather\.czml"/);
    const doc = JSON.parse(r.text);
    assert.ok(Array.isArray(doc) && doc.length === 2);
    const [d, p] = doc;
    assert.equal(d.id, 'document');
    assert.equal(d.version, '1.0');
    assert.equal(d.clock.interval, `${FROM}/2026-05-08T00:10:30.000Z`);
    assert.equal(p.id, String(ISS));
    assert.equal(p.name, 'ISS (ZARYA)');
    assert.equal(p.availability, `${FROM}/2026-05-08T00:10:30.000Z`);
    assert.equal(p.position.referenceFrame, 'FIXED');
    assert.equal(p.position.epoch, FROM);
    assert.equal(typeof p.position.interpolationAlgorithm, 'string');
    assert.ok(Number.isInteger(p.position.interpolationDegree));
    // Every 60 s from 00:00 to 00:10, then the window's end at 00:10:30.
    const c: number[] = p.position.cartesian;
    assert.equal(c.length, 12 * 4);
    const times = Array.from({ length: 12 }, (_, k) => c[4 * k]);
    assert.deepEqual(times, [0, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600, 630]);
    const rec = lines.get(ISS)!;
    const satrec = twoline2satrec(rec.line1, rec.line2);
    for (const k of [0, 5, 11]) {
      const tMs = Date.parse(FROM) + c[4 * k]! * 1000;
      const want = temeToFixedM(sgp4(satrec, tMs), tMs);
      for (let j = 0; j < 3; j++) near(c[4 * k + 1 + j]!, want[j]!, 1, `sample ${k} axis ${j} (m)`);
    }
    // Earth-fixed, not TEME: the two differ by hundreds of km at this GMST.
    const teme = sgp4(satrec, Date.parse(FROM));
    assert.ok(Math.abs(c[1]! - teme.x * 1000) > 1e5, 'not the TEME x');
  });

  test('a group, and an OMM-only object with a 9-digit id propagated from its OMM', async () => {
    const r = await get(`/czml?group=stations&from=${FROM}&to=2026-05-08T01:00:00Z&stepS=600`);
    assert.equal(r.status, 200, r.text);
    const doc = JSON.parse(r.text);
    const want = h.objects.filter((o) => o.groups.includes('stations')).map((o) => String(o.noradId)).sort();
    assert.ok(want.length >= 1);
    assert.deepEqual(doc.slice(1).map((p: { id: string }) => p.id).sort(), want);

    const nine = await get(`/czml?ids=${NINE_DIGIT_ID}&from=${FROM}&to=2026-05-08T00:05:00Z&stepS=300`);
    assert.equal(nine.status, 200, nine.text);
    const p = JSON.parse(nine.text)[1];
    assert.equal(p.id, String(NINE_DIGIT_ID));
    const { rows } = await h.storage.db.query<{ omm: Record<string, unknown> }>('SELECT omm FROM element_sets WHERE norad_id = $1', [NINE_DIGIT_ID]);
    const { CLASSIFICATION_TYPE: _c, ...omm } = rows[0]!.omm;
    const satrec = json2satrec(omm as never, 'i');
    const wantM = temeToFixedM(sgp4(satrec, Date.parse(FROM)), Date.parse(FROM));
    for (let j = 0; j < 3; j++) near(p.position.cartesian[1 + j], wantM[j]!, 1, `axis ${j} (m)`);
  });

  test('bad parameters are 400 problems; unknown ids 404', async () => {
    const tooMany = Array.from({ length: 101 }, (_, i) => i + 1).join(',');
    for (const [q, re] of [
      ['', /exactly one/],
      [`ids=${ISS}&group=stations`, /exactly one/],
      [`ids=${ISS}&from=${FROM}&to=2026-05-16T00:00:01Z`, /7 days/],
      [`ids=${ISS}&from=${FROM}&to=${FROM}`, /before/],
      [`ids=${ISS}&stepS=0`, /stepS/],
      [`ids=${ISS}&stepS=1.5`, /stepS/],
      [`ids=${ISS},1,2&from=${FROM}&to=2026-05-09T00:00:00Z&stepS=1`, /samples/],
      [`ids=${tooMany}`, /at most 100/],
      ['ids=0', /ids/],
      ['ids=25544,,1', /ids/],
      ['group=active', /more than 100/],
      ['group=no%20spaces', /group/],
      [`ids=${ISS}&from=yesterday`, /from/],
      [`ids=${ISS}&frame=INERTIAL`, /frame/],
    ] as const) {
      const r = await get(`/czml?${q}`);
      assert.equal(r.status, 400, `${q}: ${r.text}`);
      assert.match(r.type, /^application\/problem\+json/, q);
      const body = JSON.parse(r.text);
      assert.match(body.code, /^SW_ERR_/);
      assert.match(`${body.detail}`, re, `${q}: ${body.detail}`);
    }
    const missing = await get('/czml?ids=424242');
    assert.equal(missing.status, 404, missing.text);
    assert.match(missing.type, /^application\/problem\+json/);
  });
});

describe('GET /positions.geojson', () => {
  const tick = Date.parse('2026-05-08T06:00:00.000Z');
  let all: any;

  before(async () => {
    h.publishTick(tick);
    await until('the tick\'s states at the gateway', 10_000, async () => {
      const r = await get('/positions.geojson');
      all = JSON.parse(r.text);
      return all.features.length >= COUNT;
    });
  });

  test('a FeatureCollection of Points [lon, lat] at satellite.js\'s geodetic position, with id, name, altitude and QA', async () => {
    const r = await get('/positions.geojson');
    assert.equal(r.status, 200);
    assert.match(r.type, /^application\/geo\+json/);
    const fc = JSON.parse(r.text);
    assert.equal(fc.type, 'FeatureCollection');
    assert.equal(fc.features.length, h.objects.length);
    for (const f of fc.features) {
      assert.equal(f.type, 'Feature');
      assert.equal(f.geometry.type, 'Point');
      assert.equal(f.geometry.coordinates.length, 2);
      assert.deepEqual(Object.keys(f.properties).sort(), ['altitudeKm', 'flagBits', 'flags', 'good', 'id', 'name', 'precision', 't']);
      assert.equal(f.properties.name, h.byId.get(f.properties.id)!.name);
      assert.equal(f.properties.t, new Date(tick).toISOString());
      assert.ok(Array.isArray(f.properties.flags) && typeof f.properties.good === 'boolean');
    }
    // Against satellite.js from the stored lines, for every TLE-born object (float32 on the bus: 1e-4 deg, 10 m).
    for (const f of fc.features) {
      const rec = lines.get(f.properties.id);
      if (!rec) continue;
      const pv = propagate(twoline2satrec(rec.line1, rec.line2), new Date(tick));
      if (!pv) continue;
      const gd = eciToGeodetic(pv.position, gstime(new Date(tick)));
      near(f.geometry.coordinates[0], gd.longitude / RAD, 1e-4, `${rec.noradId} lon`);
      near(f.geometry.coordinates[1], gd.latitude / RAD, 1e-4, `${rec.noradId} lat`);
      near(f.properties.altitudeKm, gd.height, 0.01, `${rec.noradId} altitude`);
    }
  });

  test('group and bbox keep what a filter of the whole collection keeps, across the antimeridian too', async () => {
    const byGroup = JSON.parse((await get('/positions.geojson?group=testgroup')).text);
    const want = h.objects.filter((o) => o.groups.includes('testgroup')).map((o) => o.noradId).sort((a, b) => a - b);
    assert.deepEqual(byGroup.features.map((f: any) => f.properties.id).sort((a: number, b: number) => a - b), want);
    for (const [bbox, inside] of [
      ['-30,-40,60,45', (lon: number, lat: number) => lon >= -30 && lon <= 60 && lat >= -40 && lat <= 45],
      ['150,-60,-150,60', (lon: number, lat: number) => (lon >= 150 || lon <= -150) && lat >= -60 && lat <= 60],
    ] as const) {
      const r = await get(`/positions.geojson?bbox=${bbox}`);
      assert.equal(r.status, 200, r.text);
      const got = JSON.parse(r.text).features.map((f: any) => f.properties.id).sort((a: number, b: number) => a - b);
      const expect = all.features.filter((f: any) => inside(f.geometry.coordinates[0], f.geometry.coordinates[1])).map((f: any) => f.properties.id).sort((a: number, b: number) => a - b);
      assert.ok(expect.length > 0 && expect.length < all.features.length, `${bbox} selects some`);
      assert.deepEqual(got, expect, bbox);
    }
  });

  test('a state from the hot cache (the trackers\' float64 frame) wins over the bus and says float64', async () => {
    const obj = h.byId.get(ISS)!;
    const tMs = tick + 1000;
    const shard = shardOf(String(ISS), h.cfg.cluster.shardCount);
    const buf = createStateBuffer(1);
    assert.equal(propagateBatch([obj.satrec], 1, tMs, buf.state, buf.errors), 1);
    await h.storage.cache.setShardFrameBytes([[shard, encodeTrackerFrameF64(shard, tMs, { ids: Uint32Array.from([ISS]), flags: new Uint32Array(1), values: buf.state, count: 1 })]]);
    const fc = JSON.parse((await get('/positions.geojson?group=stations')).text);
    const f = fc.features.find((x: any) => x.properties.id === ISS);
    assert.equal(f.properties.precision, 'float64');
    assert.equal(f.properties.t, new Date(tMs).toISOString());
    const rec = lines.get(ISS)!;
    const gd = eciToGeodetic(sgp4(twoline2satrec(rec.line1, rec.line2), tMs), gstime(new Date(tMs)));
    near(f.geometry.coordinates[0], gd.longitude / RAD, 1e-8, 'lon');
    near(f.geometry.coordinates[1], gd.latitude / RAD, 1e-8, 'lat');
  });

  test('a bad bbox is a 400 problem', async () => {
    for (const bbox of ['1,2,3', '0,0,10,abc', '-190,0,10,10', '0,50,10,10', '0,-91,10,10', '0,0,10,10,5']) {
      const r = await get(`/positions.geojson?bbox=${bbox}`);
      assert.equal(r.status, 400, `${bbox}: ${r.text}`);
      assert.match(r.type, /^application\/problem\+json/);
      assert.match(JSON.parse(r.text).detail, /bbox/);
    }
  });
});

describe('GET /catalog.{tle,3le,json,csv}', () => {
  const activeIds = () => [...h.objects.map((o) => o.noradId), OMM_TLE_ID].sort((a, b) => a - b);

  test('TLE: every pair parses with satellite.js, checksums right, stored lines as stored; OMM-only ids above 99999 skipped and counted', async () => {
    const r = await get('/catalog.tle');
    assert.equal(r.status, 200, r.text);
    assert.match(r.type, /^text\/plain/);
    assert.match(r.headers.get('content-disposition') ?? '', /attachment; filename="starweather-catalog\.tle"/);
    assert.equal(r.headers.get('skipped-objects'), '2');
    assert.match(r.headers.get('skipped-objects-sample') ?? '', new RegExp(`${SIX_DIGIT_ID}: .*OMM only`));
    const ls = r.text.trimEnd().split('\n');
    assert.equal(ls.length % 2, 0);
    const ids: number[] = [];
    for (let i = 0; i < ls.length; i += 2) {
      const [l1, l2] = [ls[i]!, ls[i + 1]!];
      assert.equal(l1.length, 69);
      assert.equal(l2.length, 69);
      assert.equal(Number(l1[68]), checksum(l1), `line 1 checksum: ${l1}`);
      assert.equal(Number(l2[68]), checksum(l2), `line 2 checksum: ${l2}`);
      const s = twoline2satrec(l1, l2);
      assert.equal(s.error, 0);
      const id = Number(s.satnum);
      ids.push(id);
      const rec = lines.get(id);
      if (rec) assert.deepEqual([l1, l2], [rec.line1, rec.line2]);
    }
    assert.deepEqual(ids, activeIds().filter((id) => id !== SIX_DIGIT_ID && id !== NINE_DIGIT_ID));
  });

  test('an element set stored as OMM is written as a TLE that propagates like the OMM (within the TLE\'s rounding)', async () => {
    const r = await get('/catalog.tle?group=omm-tle');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('skipped-objects'), '0');
    const [l1, l2] = r.text.trimEnd().split('\n') as [string, string];
    assert.equal(Number(l1[68]), checksum(l1));
    assert.equal(Number(l2[68]), checksum(l2));
    const fromTle = twoline2satrec(l1, l2);
    assert.equal(fromTle.error, 0);
    const { rows } = await h.storage.db.query<{ omm: Record<string, unknown> }>('SELECT omm FROM element_sets WHERE norad_id = $1', [OMM_TLE_ID]);
    const omm = rows[0]!.omm;
    const { CLASSIFICATION_TYPE: _c, ...json } = omm;
    const fromOmm = json2satrec(json as never, 'i');
    // Field by field, at the TLE's decimals.
    near(fromTle.inclo / RAD, Number(omm.INCLINATION), 5e-5, 'inclination');
    near(fromTle.nodeo / RAD, Number(omm.RA_OF_ASC_NODE), 5e-5, 'RAAN');
    near(fromTle.ecco, Number(omm.ECCENTRICITY), 5e-8, 'eccentricity');
    near(fromTle.argpo / RAD, Number(omm.ARG_OF_PERICENTER), 5e-5, 'argument of perigee');
    near(fromTle.mo / RAD, Number(omm.MEAN_ANOMALY), 5e-5, 'mean anomaly');
    near(fromTle.bstar, Number(omm.BSTAR), Math.abs(Number(omm.BSTAR)) * 1e-4 + 1e-12, 'bstar');
    near((fromTle.jdsatepoch - 2_440_587.5) * 86_400_000, Date.parse(`${omm.EPOCH}Z`), 1, 'epoch (ms)');
    // An hour on, the two orbits agree to the TLE's rounding (angles 1e-4°, about 12 m in LEO).
    const t = Date.parse(`${omm.EPOCH}Z`) + 3_600_000;
    const a = sgp4(fromTle, t);
    const b = sgp4(fromOmm, t);
    assert.ok(Math.hypot(a.x - b.x, a.y - b.y, a.z - b.z) < 0.2, `TLE vs OMM position: ${Math.hypot(a.x - b.x, a.y - b.y, a.z - b.z)} km`);
  });

  test('3LE: a "0 NAME" line and the two lines, read back by the ingest\'s TLE reader with the catalog names', async () => {
    const r = await get('/catalog.3le?group=testgroup');
    assert.equal(r.status, 200, r.text);
    const ls = r.text.trimEnd().split('\n');
    assert.equal(ls.length % 3, 0);
    for (let i = 0; i < ls.length; i += 3) assert.ok(ls[i]!.startsWith('0 '), ls[i]);
    const parsed = parseTleText(r.text);
    assert.deepEqual(parsed.rejects, []);
    const want = h.objects.filter((o) => o.groups.includes('testgroup'));
    assert.deepEqual(parsed.records.map((x) => [x.noradId, x.name]), want.map((o) => [o.noradId, o.name]));
  });

  test('OMM JSON: through the ingest\'s parser and json2satrec, positions equal the stored TLE\'s', async () => {
    const r = await get('/catalog.json');
    assert.equal(r.status, 200, r.text);
    assert.match(r.type, /^application\/json/);
    const doc = JSON.parse(r.text) as Array<Record<string, unknown>>;
    assert.deepEqual(doc.map((o) => o.NORAD_CAT_ID), activeIds());
    const ingest = parseCatalogText(r.text, 'json');
    assert.deepEqual(ingest.rejects, []);
    assert.equal(ingest.records.length, doc.length);
    for (const o of doc) {
      const rec = lines.get(o.NORAD_CAT_ID as number);
      if (!rec) continue;
      assert.equal(o.OBJECT_NAME, rec.name);
      const { CLASSIFICATION_TYPE: _c, ...json } = o;
      const fromJson = json2satrec(json as never, 'i');
      assert.equal(fromJson.error, 0);
      // json2satrec keeps whole ms of EPOCH (satellite.js parses it with Date): positions agree within ~10 m in LEO.
      const t = rec.epochMs + 3_600_000;
      const a = sgp4(fromJson, t);
      const b = sgp4(twoline2satrec(rec.line1, rec.line2), t);
      assert.ok(Math.hypot(a.x - b.x, a.y - b.y, a.z - b.z) < 0.02, `${rec.noradId}: ${Math.hypot(a.x - b.x, a.y - b.y, a.z - b.z)} km`);
    }
  });

  test('OMM CSV: CelesTrak\'s columns, the JSON export\'s values, read back by the ingest\'s parser', async () => {
    const r = await get('/catalog.csv?group=testgroup');
    assert.equal(r.status, 200, r.text);
    assert.match(r.type, /^text\/csv/);
    const rows = parseCsv(r.text);
    assert.deepEqual(rows[0], [
      'OBJECT_NAME', 'OBJECT_ID', 'EPOCH', 'MEAN_MOTION', 'ECCENTRICITY', 'INCLINATION', 'RA_OF_ASC_NODE', 'ARG_OF_PERICENTER', 'MEAN_ANOMALY',
      'EPHEMERIS_TYPE', 'CLASSIFICATION_TYPE', 'NORAD_CAT_ID', 'ELEMENT_SET_NO', 'REV_AT_EPOCH', 'BSTAR', 'MEAN_MOTION_DOT', 'MEAN_MOTION_DDOT',
    ]);
    const json = JSON.parse((await get('/catalog.json?group=testgroup')).text) as Array<Record<string, unknown>>;
    assert.equal(rows.length - 1, json.length);
    rows.slice(1).forEach((row, i) => {
      rows[0]!.forEach((k, j) => {
        const v = json[i]![k];
        if (typeof v === 'number') assert.equal(Number(row[j]), v, k);
        else assert.equal(row[j], v, k);
      });
    });
    const ingest = parseCatalogText(r.text, 'csv');
    assert.deepEqual(ingest.rejects, []);
    assert.deepEqual(ingest.records.map((x) => x.noradId), json.map((o) => o.NORAD_CAT_ID));
  });

  test('bad parameters are 400 problems', async () => {
    for (const q of ['group=a%20b', 'group=', 'limit=5', `group=${'g'.repeat(101)}`]) {
      const r = await get(`/catalog.tle?${q}`);
      assert.equal(r.status, 400, `${q}: ${r.text}`);
      assert.match(r.type, /^application\/problem\+json/);
    }
  });
});

test('the OpenAPI document describes every export with its tag, operationId and media type', async () => {
  const doc = JSON.parse((await get('/api')).text);
  for (const [path, type] of [
    ['/czml', 'application/json'],
    ['/positions.geojson', 'application/geo+json'],
    ['/catalog.json', 'application/json'],
    ['/catalog.csv', 'text/csv'],
    ['/catalog.tle', 'text/plain'],
    ['/catalog.3le', 'text/plain'],
  ] as const) {
    const op = doc.paths?.[path]?.get;
    assert.ok(op, `${path} in /api`);
    assert.deepEqual(op.tags, ['exports'], path);
    assert.equal(typeof op.operationId, 'string', path);
    assert.ok(op.responses?.['200']?.content?.[type], `${path}: 200 ${type} in ${JSON.stringify(op.responses?.['200'])}`);
  }
});
