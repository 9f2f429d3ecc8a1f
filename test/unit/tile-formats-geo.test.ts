/**
 * Per-pixel latitude/longitude (formats/geo.ts): the raster loop agrees with
 * imagery-geo scanToLonLat pixel by pixel for both sweeps; known points come
 * out right (the sub-satellite point, the GOES-R PUG worked example); and AHI
 * navigation from CFAC/LFAC/COFF/LOFF reproduces satpy's area extents
 * (shared/data/himawari_hsd/hsd_format.md, test_ahi_hsd.py).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ahiSceneGeo, lonLatToScan, pixelLonLat } from '../../actors/tile/formats/geo.js';
import { scanToLonLat, type GeosParams } from '../../actors/ingest/imagery-geo.js';
import { ABI_PARAMS, AHI_PARAMS, generateScene } from '../../actors/tile/synthetic/scene.js';
import type { SceneGeo } from '../../actors/tile/types.js';

function near(a: number, b: number, tol: number, what: string): void {
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (±${tol})`);
}

function compareWithScanToLonLat(geo: SceneGeo, width: number, height: number): number {
  const { lat, lon } = pixelLonLat(geo, { col0: 0, row0: 0, width, height });
  let off = 0;
  for (let r = 0; r < height; r++) {
    for (let c = 0; c < width; c++) {
      const x = geo.x0 + c * geo.dx, yNorth = geo.y0 + r * geo.dy;
      // scanToLonLat takes CGMS (south-positive) line angles for sweep y.
      const ref = scanToLonLat(x, geo.params.sweep === 'y' ? -yNorth : yNorth, geo.params);
      const i = r * width + c;
      if (!ref) {
        assert.ok(Number.isNaN(lat[i]!) && Number.isNaN(lon[i]!), `pixel ${c},${r} should be off the disk`);
        off++;
        continue;
      }
      near(lat[i]!, ref[1], 2e-5, `lat ${c},${r}`);
      let d = Math.abs(lon[i]! - ref[0]);
      if (d > 180) d = 360 - d;
      assert.ok(d <= 2e-5, `lon ${c},${r}: ${lon[i]} vs ${ref[0]}`);
    }
  }
  return off;
}

test('the raster loop equals scanToLonLat on every pixel of ABI and AHI full disks', () => {
  const abi = generateScene({ seed: 1, width: 100, height: 100, cloudiness: 0 }).geo;
  const offAbi = compareWithScanToLonLat(abi, 100, 100);
  assert.ok(offAbi > 1500 && offAbi < 2500, `off-disk ${offAbi}`);
  const ahi = generateScene({ seed: 1, width: 100, height: 100, instrument: 'ahi' }).geo;
  const offAhi = compareWithScanToLonLat(ahi, 100, 100);
  assert.ok(offAhi > 1500 && offAhi < 2500, `off-disk ${offAhi}`);
  // A sub-rectangle is the same numbers as the whole.
  const whole = pixelLonLat(ahi, { col0: 0, row0: 0, width: 100, height: 100 });
  const part = pixelLonLat(ahi, { col0: 30, row0: 40, width: 7, height: 5 });
  for (let r = 0; r < 5; r++) for (let c = 0; c < 7; c++) assert.equal(part.lat[r * 7 + c], whole.lat[(40 + r) * 100 + 30 + c]);
});

test('row 0 is the north for both sweeps; the centre pixel is the sub-satellite point', () => {
  for (const instrument of ['abi', 'ahi'] as const) {
    const s = generateScene({ seed: 1, width: 101, height: 101, instrument, stepRad: 0.0025 });
    const { lat, lon } = pixelLonLat(s.geo, { col0: 0, row0: 0, width: 101, height: 101 });
    const centre = 50 * 101 + 50;
    near(lat[centre]!, 0, 1e-6, `${instrument} centre lat`);
    near(lon[centre]!, s.geo.params.lon0, 1e-5, `${instrument} centre lon`);
    assert.ok(lat[10 * 101 + 50]! > 30, `${instrument}: row 10 is in the north`);
    assert.ok(lat[90 * 101 + 50]! < -30, `${instrument}: row 90 is in the south`);
    assert.ok(lon[50 * 101 + 90]! > lon[centre]!, `${instrument}: column 90 is east`);
  }
});

test('GOES-R PUG 5.1.2.8.1 worked example', () => {
  const params: GeosParams = { ...ABI_PARAMS, lon0: -75 };
  const geo: SceneGeo = { params, x0: -0.024052, dx: 56e-6, y0: 0.09534, dy: -56e-6 };
  const { lat, lon } = pixelLonLat(geo, { col0: 0, row0: 0, width: 1, height: 1 });
  near(lat[0]!, 33.846162, 1e-4, 'latitude');
  near(lon[0]!, -84.690932, 1e-4, 'longitude');
});

test('AHI navigation reproduces satpy area extents (CFAC/LFAC/COFF/LOFF, line numbers)', () => {
  // Satellite height above the equator that satpy's extents are in: 42164 km − 6378.137 km.
  const hSat = 35785863;
  const params: GeosParams = { ...AHI_PARAMS, lon0: 140.7 };
  const extent = (geo: SceneGeo, w: number, h: number): number[] => [
    (geo.x0 - geo.dx / 2) * hSat,
    (geo.y0 + (h - 0.5) * geo.dy) * hSat,
    (geo.x0 + (w - 0.5) * geo.dx) * hSat,
    (geo.y0 - geo.dy / 2) * hSat,
  ];
  // 1000×1000 region, COFF −591.5, LOFF 5132.5.
  const region = extent(ahiSceneGeo({ cfac: 40932549, lfac: 40932549, coff: -591.5, loff: 5132.5 }, 1, params), 1000, 1000);
  const want1 = [592000.0038256244, 4132000.026701824, 1592000.0102878278, 5132000.033164027];
  region.forEach((v, i) => near(v, want1[i]!, 1e-3, `region extent[${i}]`));
  // Full-disk segment 8 of 10 at 1 km: first line 7701, COFF = LOFF = 5500.5.
  const seg8 = extent(ahiSceneGeo({ cfac: 40932549, lfac: 40932549, coff: 5500.5, loff: 5500.5 }, 7701, params), 11000, 1100);
  const want2 = [-5500000.035542117, -3300000.021325271, 5500000.035542117, -2200000.0142168473];
  seg8.forEach((v, i) => near(v, want2[i]!, 1e-3, `segment 8 extent[${i}]`));
});

test('lonLatToScan inverts the navigation for both sweeps; the far side is null', () => {
  for (const params of [{ ...ABI_PARAMS, lon0: -75.2 }, { ...AHI_PARAMS, lon0: 140.7 }] as GeosParams[]) {
    for (const [lat, lon] of [[0, params.lon0], [33.8, params.lon0 - 9.5], [-45, params.lon0 + 40], [70, params.lon0 - 5], [-20, params.lon0 + 70]] as const) {
      const a = lonLatToScan(lat, lon, params);
      assert.ok(a, `${lat}, ${lon} in view`);
      const geo: SceneGeo = { params, x0: a.x, dx: 1e-6, y0: a.y, dy: -1e-6 };
      const ll = pixelLonLat(geo, { col0: 0, row0: 0, width: 1, height: 1 });
      near(ll.lat[0]!, lat, 1e-5, `${params.sweep} lat`);
      near(ll.lon[0]!, lon > 180 ? lon - 360 : lon, 1e-5, `${params.sweep} lon`);
    }
    assert.equal(lonLatToScan(0, params.lon0 + 180, params), null);
    assert.equal(lonLatToScan(10, params.lon0 + 95, params), null);
  }
  // The PUG worked example, backwards.
  const pug = lonLatToScan(33.846162, -84.690932, { ...ABI_PARAMS, lon0: -75 })!;
  near(pug.x, -0.024052, 1e-6, 'PUG x');
  near(pug.y, 0.09534, 1e-6, 'PUG y');
});

test('a scene centred on a place has that place in its centre pixel', () => {
  for (const instrument of ['abi', 'ahi'] as const) {
    const place = instrument === 'abi' ? { lat: 25, lon: -80 } : { lat: -12, lon: 131 };
    const s = generateScene({ seed: 1, width: 65, height: 65, instrument, stepRad: 56e-6, centerLat: place.lat, centerLon: place.lon, latLon: true, cloudiness: 0 });
    near(s.lat![32 * 65 + 32]!, place.lat, 0.03, `${instrument} centre lat`);
    near(s.lon![32 * 65 + 32]!, place.lon, 0.03, `${instrument} centre lon`);
  }
  assert.throws(() => generateScene({ seed: 1, width: 8, height: 8, centerLat: 0, centerLon: 100 }), /not in view/);
});
