/**
 * The satellite REST API on a real gateway host (fastify on a free port,
 * PGlite + memory cache, embedded bus): search and keyset paging, 6- and
 * 9-digit ids, 400 problems naming the parameter, 404, the ground track
 * split at the antimeridian, passes with rise/culmination/set, and the
 * latest state decoded from the shard's frame in the hot cache.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { NINE_DIGIT_ID, SIX_DIGIT_ID, startGatewayHarness, type GatewayHarness } from '../helpers/gateway-harness.js';
import { predictPasses } from '../../actors/tracker/passes.js';
import { shardOf } from '../../actors/runtime/sharding.js';
import { encodeTrackerFrame } from '../../protocol/frames/tracker-state.js';

let h: GatewayHarness;

before(async () => {
  h = await startGatewayHarness({ count: 300 });
});
after(async () => {
  await h?.close();
});

async function get(path: string): Promise<{ status: number; type: string; body: any }> {
  const res = await fetch(h.base + path);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.json() };
}

async function expectProblem(path: string, status: number, mentions: RegExp): Promise<any> {
  const r = await get(path);
  assert.equal(r.status, status, `${path}: ${JSON.stringify(r.body)}`);
  assert.match(r.type, /^application\/problem\+json/, path);
  assert.equal(r.body.status, status);
  assert.equal(typeof r.body.title, 'string');
  assert.equal(typeof r.body.type, 'string');
  assert.match(r.body.code, /^SW_ERR_/);
  assert.match(r.body.detail, mentions, `${path}: ${r.body.detail}`);
  return r.body;
}

test('search by name is a case-insensitive substring, paged by keyset cursor with a next link', async () => {
  // Names are upper case; a lower-case query must still match them.
  const expected = h.objects.filter((o) => o.name.toLowerCase().includes('os')).map((o) => o.noradId).sort((a, b) => a - b);
  assert.ok(expected.length > 25, `fixture has enough matching objects (${expected.length})`);
  const seen: number[] = [];
  let path: string | null = '/satellites?q=oS&limit=10';
  let pages = 0;
  while (path) {
    const r = await get(path);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(r.body.items.length <= 10);
    for (const it of r.body.items) assert.match(it.name, /os/i);
    seen.push(...r.body.items.map((i: { noradId: number }) => i.noradId));
    path = r.body.next;
    if (path) assert.match(path, /cursor=/);
    pages += 1;
    assert.ok(pages < 100);
  }
  assert.deepEqual(seen, expected);
  assert.equal(pages, Math.ceil(expected.length / 10));
});

test('search by id and by group', async () => {
  const first = h.objects[0]!;
  const byId = await get(`/satellites?id=${first.noradId}`);
  assert.equal(byId.status, 200);
  assert.deepEqual(byId.body.items.map((i: { noradId: number }) => i.noradId), [first.noradId]);
  assert.equal(byId.body.next, null);

  const group = await get('/satellites?group=testgroup&limit=1000');
  const want = h.objects.filter((o) => o.groups.includes('testgroup')).map((o) => o.noradId).sort((a, b) => a - b);
  assert.deepEqual(group.body.items.map((i: { noradId: number }) => i.noradId), want);
  for (const it of group.body.items) assert.ok(it.groups.includes('testgroup'));

  const none = await get('/satellites?q=no-such-object-name');
  assert.deepEqual(none.body.items, []);
  // LIKE wildcards in the text are literal.
  const pct = await get('/satellites?q=%25');
  assert.deepEqual(pct.body.items, []);
});

test('6- and 9-digit catalog numbers: search, object, track', async () => {
  for (const id of [SIX_DIGIT_ID, NINE_DIGIT_ID]) {
    const s = await get(`/satellites?id=${id}`);
    assert.equal(s.body.items.length, 1);
    assert.equal(s.body.items[0].noradId, id);
    const o = await get(`/satellites/${id}`);
    assert.equal(o.status, 200, JSON.stringify(o.body));
    assert.equal(o.body.object.noradId, id);
    assert.equal(o.body.elementSet.format, 'omm');
    assert.equal(o.body.elementSet.omm.NORAD_CAT_ID, id);
    const t = await get(`/satellites/${id}/track?stepS=120`);
    assert.equal(t.status, 200, JSON.stringify(t.body));
    assert.equal(t.body.properties.noradId, id);
  }
  const byText = await get(`/satellites?q=${NINE_DIGIT_ID}`);
  assert.deepEqual(byText.body.items.map((i: { noradId: number }) => i.noradId), [NINE_DIGIT_ID]);
});

test('bad parameters are 400 problems naming the parameter', async () => {
  await expectProblem('/satellites/0', 400, /id/);
  await expectProblem('/satellites/1000000000', 400, /id/);
  await expectProblem('/satellites/abc', 400, /id/);
  await expectProblem('/satellites?limit=-1', 400, /limit/);
  await expectProblem('/satellites?limit=1001', 400, /limit/);
  await expectProblem('/satellites?id=0', 400, /id/);
  await expectProblem('/satellites?cursor=bm90LWEtY3Vyc29y', 400, /cursor/);
  await expectProblem('/satellites?bogus=1', 400, /bogus/);
  const id = h.objects[0]!.noradId;
  await expectProblem(`/satellites/${id}/passes?lat=100&lon=0`, 400, /lat/);
  await expectProblem(`/satellites/${id}/passes?lon=0`, 400, /lat/);
  await expectProblem(`/satellites/${id}/passes?lat=10&lon=200`, 400, /lon/);
  await expectProblem(`/satellites/${id}/passes?lat=10&lon=20&from=2026-05-08T00:00:00Z&to=2026-05-07T00:00:00Z`, 400, /from/);
  await expectProblem(`/satellites/${id}/passes?lat=10&lon=20&from=2026-05-01T00:00:00Z&to=2026-06-01T00:00:00Z`, 400, /window/);
  await expectProblem(`/satellites/${id}/track?from=2026-05-08T00:00:00Z&to=2026-05-07T00:00:00Z`, 400, /from/);
  await expectProblem(`/satellites/${id}/track?from=yesterday`, 400, /from/);
  await expectProblem(`/satellites/${id}/track?from=2026-05-01T00:00:00Z&to=2026-05-07T00:00:00Z&stepS=1`, 400, /stepS/);
  await expectProblem(`/satellites/${id}/track?stepS=0`, 400, /stepS/);
});

test('unknown object and unknown route are 404 problems', async () => {
  const body = await expectProblem('/satellites/999999998', 404, /999999998/);
  assert.equal(body.code, 'SW_ERR_NOT_FOUND');
  await expectProblem('/satellites/999999998/track', 404, /999999998/);
  await expectProblem('/nope', 404, /nope/);
});

test('object: element set, latest state and QA flags from the hot cache', async () => {
  const id = h.objects[1]!.noradId;
  const before = await get(`/satellites/${id}`);
  assert.equal(before.status, 200);
  assert.equal(before.body.state, null, 'no state before the tracker wrote one');
  assert.equal(before.body.elementSet.format, 'tle');
  assert.equal(before.body.elementSet.tleLine1.length, 69);

  // What a tracker writes: its shard's frame (another object first, so the record is found by id).
  const shard = shardOf(String(id), h.cfg.cluster.shardCount);
  const tMs = Date.parse('2026-05-08T00:00:00.000Z');
  const frame = encodeTrackerFrame(shard, tMs, {
    ids: Uint32Array.from([id + 1_000_000, id]),
    flags: Uint32Array.from([0, 1 << 9]),
    // x y z vx vy vz lat lon alt speed, float32-exact values
    values: Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 7000, 0, 0, 0, 7.5, 0, 0, 10, 620, 7.5]),
    count: 2,
  });
  await h.storage.cache.setShardFrameBytes([[shard, frame]]);
  const withState = await get(`/satellites/${id}`);
  assert.deepEqual(withState.body.state, {
    v: 1,
    // A version-1 (float32) frame, as a tracker from before the float64 cache frame wrote: said so.
    precision: 'float32',
    noradId: id,
    t: '2026-05-08T00:00:00.000Z',
    teme: { r: [7000, 0, 0], v: [0, 7.5, 0] },
    geodetic: { latDeg: 0, lonDeg: 10, altKm: 620 },
    speedKmS: 7.5,
    flags: ['stale_epoch'],
    flagBits: 1 << 9,
    good: true,
    // Not in the frame: from the object's newest stored element set.
    epoch: withState.body.elementSet.epoch,
    elementSetSource: 'test:snapshot',
    shard,
  });
  assert.deepEqual(withState.body.qa, { flags: ['stale_epoch'], flagBits: 512, good: true, at: '2026-05-08T00:00:00.000Z' });

  // A physical-failure bit: not good.
  await h.storage.cache.setShardFrameBytes([[shard, encodeTrackerFrame(shard, tMs + 1000, { ids: Uint32Array.from([id]), flags: Uint32Array.from([1 << 2]), values: new Float64Array(10).fill(1), count: 1 })]]);
  const bad = await get(`/satellites/${id}`);
  assert.deepEqual(bad.body.qa, { flags: ['altitude_low'], flagBits: 4, good: false, at: '2026-05-08T00:00:01.000Z' });

  // A cached frame that does not decode is no state (counted), not an error.
  await h.storage.cache.setShardFrameBytes([[shard, Uint8Array.from([0x53, 0x57, 0x53, 0x54, 9, 9, 9])]]);
  const junk = await get(`/satellites/${id}`);
  assert.equal(junk.status, 200);
  assert.equal(junk.body.state, null);
});

test('ground track is GeoJSON split at the antimeridian', async () => {
  const id = h.objects[0]!.noradId;
  // 6 h of a LEO crosses the antimeridian several times.
  const r = await fetch(`${h.base}/satellites/${id}/track?from=2026-05-08T00:00:00Z&to=2026-05-08T06:00:00Z&stepS=30`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /application\/geo\+json/);
  const f = (await r.json()) as { type: string; geometry: { type: string; coordinates: [number, number][][] }; properties: { noradId: number } };
  assert.equal(f.type, 'Feature');
  assert.equal(f.geometry.type, 'MultiLineString');
  assert.ok(f.geometry.coordinates.length >= 3, `lines: ${f.geometry.coordinates.length}`);
  for (const line of f.geometry.coordinates) {
    for (let i = 1; i < line.length; i++) assert.ok(Math.abs(line[i]![0] - line[i - 1]![0]) <= 180, 'no segment jumps across the antimeridian');
    for (const [lon, lat] of line) {
      assert.ok(lon >= -180 && lon <= 180);
      assert.ok(lat >= -90 && lat <= 90);
    }
  }
  // Consecutive lines meet at ±180 with the same latitude.
  const ends = f.geometry.coordinates.slice(0, -1).map((l, i) => [l[l.length - 1]!, f.geometry.coordinates[i + 1]![0]!] as const);
  assert.ok(ends.some(([a, b]) => Math.abs(a[0]) === 180 && a[0] === -b[0] && Math.abs(a[1] - b[1]) < 1e-9));
});

test('passes: rise, culmination and set, matching the tracker core; minEl filters', async () => {
  const obj = h.objects[0]!;
  const q = 'lat=48.85&lon=2.35&alt=0.035&from=2026-05-08T00:00:00Z&to=2026-05-10T00:00:00Z';
  const r = await get(`/satellites/${obj.noradId}/passes?${q}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.ok(r.body.passes.length > 0, 'a polar LEO passes over Paris within 2 days');
  for (const p of r.body.passes) {
    const rise = Date.parse(p.rise.t);
    const cul = Date.parse(p.culmination.t);
    const set = Date.parse(p.set.t);
    assert.ok(rise <= cul && cul <= set);
    assert.ok(p.culmination.elevationDeg >= p.rise.elevationDeg);
    assert.equal(p.maxElevationDeg, p.culmination.elevationDeg);
    for (const pt of [p.rise, p.culmination, p.set]) assert.ok(pt.azimuthDeg >= 0 && pt.azimuthDeg <= 360);
  }
  const direct = predictPasses(obj.satrec, { latDeg: 48.85, lonDeg: 2.35, altKm: 0.035 }, Date.parse('2026-05-08T00:00:00Z'), Date.parse('2026-05-10T00:00:00Z'));
  assert.deepEqual(
    r.body.passes.map((p: { rise: { t: string } }) => p.rise.t),
    direct.passes.map((p) => new Date(p.rise.tMs).toISOString()),
  );
  const high = await get(`/satellites/${obj.noradId}/passes?${q}&minEl=30`);
  assert.ok(high.body.passes.length < r.body.passes.length);
  for (const p of high.body.passes) assert.ok(p.maxElevationDeg >= 30);
});

test('health without a supervisor view is an honest 503 problem', async () => {
  const r = await get('/health');
  assert.equal(r.status, 503);
  assert.equal(r.body.code, 'SW_ERR_UNAVAILABLE');
});

test('the HTTP rate limit answers 429 problems; /health and /metrics are exempt', { timeout: 60_000 }, async () => {
  const limited = await startGatewayHarness({ count: 2, env: { STARWEATHER_RATE_LIMIT_MAX: '5', STARWEATHER_RATE_LIMIT_WINDOW_MS: '60000' } });
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await fetch(`${limited.base}/satellites?limit=1`)).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
    const r = await fetch(`${limited.base}/satellites?limit=1`);
    assert.equal(r.status, 429);
    assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/);
    const body = (await r.json()) as { code: string; status: number };
    assert.equal(body.code, 'SW_ERR_RATE_LIMITED');
    assert.equal(body.status, 429);
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${limited.base}/health`)).status, 503, 'health is answered (503 here: no supervisor), not rate-limited');
  } finally {
    await limited.close();
  }
});
