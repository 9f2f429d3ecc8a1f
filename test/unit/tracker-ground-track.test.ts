/**
 * Ground track as GeoJSON split at the antimeridian (RFC 7946 §3.1.9):
 * no segment jumps across ±180, crossings are interpolated onto ±180 with
 * the same latitude on both sides, and the points are the propagator's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadSnapshot } from '../../actors/tracker/snapshot.js';
import { createSatrec, elementSetFromTle } from '../../actors/tracker/element-set.js';
import { groundTrack, splitAtAntimeridian } from '../../actors/tracker/ground-track.js';
import { propagateAt, S_LAT_DEG, S_LON_DEG, STATE_STRIDE } from '../../actors/tracker/propagate.js';

const snapshot = await loadSnapshot();
const START = Date.UTC(2026, 4, 8);

function checkNoJumps(lines: [number, number][][]): void {
  for (const line of lines) {
    assert.ok(line.length >= 2);
    for (let i = 1; i < line.length; i++) {
      assert.ok(Math.abs(line[i]![0] - line[i - 1]![0]) <= 180, `jump ${line[i - 1]![0]} → ${line[i]![0]}`);
      assert.ok(line[i]![0] >= -180 && line[i]![0] <= 180 && Math.abs(line[i]![1]) <= 90);
    }
  }
}

test('splitAtAntimeridian: table', () => {
  // eastward crossing: 170 → -170 crosses +180 half way
  assert.deepEqual(splitAtAntimeridian([[170, 10], [-170, 20]]), [
    [[170, 10], [180, 15]],
    [[-180, 15], [-170, 20]],
  ]);
  // westward crossing: -175 → 165 crosses -180 a quarter of the way
  assert.deepEqual(splitAtAntimeridian([[-175, 0], [165, -20]]), [
    [[-175, 0], [-180, -5]],
    [[180, -5], [165, -20]],
  ]);
  // no crossing across 0
  assert.deepEqual(splitAtAntimeridian([[-10, 0], [10, 1]]), [[[-10, 0], [10, 1]]]);
});

for (const [name, id] of [['ISS', 25544], ['Meridian 7 (Molniya orbit)', 40296], ['GOES 18 (GEO)', 51850]] as const) {
  test(`ground track of ${name} over one day is split at the antimeridian`, () => {
    const rec = snapshot.records.find((r) => r.noradId === id)!;
    const { satrec } = createSatrec(elementSetFromTle(rec));
    const f = groundTrack(satrec, START, START + 86_400_000, 30);
    assert.equal(f.type, 'Feature');
    assert.equal(f.geometry.type, 'MultiLineString');
    assert.equal(f.properties.sgp4Error, 0);
    const lines = f.geometry.coordinates;
    checkNoJumps(lines);
    for (let k = 1; k < lines.length; k++) {
      const end = lines[k - 1]!.at(-1)!;
      const start = lines[k]![0]!;
      assert.equal(Math.abs(end[0]), 180);
      assert.equal(start[0], -end[0]);
      assert.equal(start[1], end[1]);
    }
    // every sampled point is the propagator's geodetic position
    const out = new Float64Array(STATE_STRIDE);
    propagateAt(satrec, START + 3_600_000, out);
    const flat = lines.flat();
    assert.ok(flat.some(([lon, lat]) => lon === out[S_LON_DEG] && lat === out[S_LAT_DEG]));
    if (id === 25544) {
      // ≈ 15.5 revolutions a day, each crossing the antimeridian once (Earth turns under it too)
      assert.ok(lines.length >= 14 && lines.length <= 18, `${lines.length} segments`);
    }
    if (id === 51850) assert.equal(lines.length, 1, 'GEO at 137°W stays put');
    console.log(`# ${name}: ${lines.length} segments, ${flat.length} points`);
  });
}
