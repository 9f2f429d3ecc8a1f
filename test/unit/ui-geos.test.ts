/**
 * The dashboard's overlay geometry (actors/gateway/ui/src/geos.ts): WKT2
 * parsing of the items' geostationary CRS, lon/lat → scan angles against
 * the GOES-R PUG worked example and round trips through the ingest's own
 * inverse (actors/ingest/imagery-geo.ts scanToLonLat), and scan angles →
 * pixels of a reduced rendering through proj:transform.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lonLatToScan, parseGeosWkt2, scanToPixel, type GeosProjection } from '../../actors/gateway/ui/src/geos.js';
import { scanToLonLat } from '../../actors/ingest/imagery-geo.js';

// GRS80 and the GOES-R fixed grid (GOES-R PUG vol. 3, 5.1.2.8): perspective point height 35,786,023 m.
const A = 6378137;
const B = 6356752.31414;
const HP = 35786023;
const wkt = (lon0: number, sweep: 'X' | 'Y', a = A, b = B) =>
  `PROJCRS["test",BASEGEOGCRS["unknown",DATUM["unknown",ELLIPSOID["unknown",${a},${(a / (a - b)).toFixed(9)},LENGTHUNIT["metre",1]]],PRIMEM["Greenwich",0,ANGLEUNIT["degree",0.0174532925199433]]],CONVERSION["unknown",METHOD["Geostationary Satellite (Sweep ${sweep})"],PARAMETER["Longitude of natural origin",${lon0},ANGLEUNIT["degree",0.0174532925199433]],PARAMETER["Satellite Height",${HP},LENGTHUNIT["metre",1]],PARAMETER["False easting",0,LENGTHUNIT["metre",1]],PARAMETER["False northing",0,LENGTHUNIT["metre",1]]],CS[Cartesian,2],AXIS["(E)",east,ORDER[1],LENGTHUNIT["metre",1]],AXIS["(N)",north,ORDER[2],LENGTHUNIT["metre",1]]]`;

test('parseGeosWkt2 reads sweep, sub-satellite longitude, height and ellipsoid; other CRSs are null', () => {
  const p = parseGeosWkt2(wkt(-75.2, 'X'))!;
  assert.equal(p.sweep, 'x');
  assert.equal(p.lon0, -75.2);
  assert.equal(p.height, HP);
  assert.equal(p.a, A);
  assert.ok(Math.abs(p.b - B) < 1e-3, `b ${p.b}`);
  assert.equal(parseGeosWkt2(wkt(140.7, 'Y'))!.sweep, 'y');
  assert.equal(parseGeosWkt2('GEOGCRS["WGS 84",DATUM["World Geodetic System 1984",ELLIPSOID["WGS 84",6378137,298.257223563]]]'), null);
  assert.equal(parseGeosWkt2(''), null);
});

test('lonLatToScan matches the GOES-R PUG worked example (lat 33.846162°, lon −84.690932°, lon0 −75°)', () => {
  // PUG vol. 3, 5.1.2.8.2: x = −0.024052 rad, y = 0.095340 rad.
  const p: GeosProjection = { sweep: 'x', lon0: -75, height: HP, a: A, b: B };
  const out = new Float64Array(2);
  assert.equal(lonLatToScan(p, -84.690932, 33.846162, out), true);
  assert.ok(Math.abs(out[0]! - -0.024052) < 1e-6, `x ${out[0]}`);
  assert.ok(Math.abs(out[1]! - 0.09534) < 1e-6, `y ${out[1]}`);
  // The far side of the earth and points past the limb are not visible.
  assert.equal(lonLatToScan(p, 105, 0, out), false);
  assert.equal(lonLatToScan(p, -75 + 85, 0, out), false);
  assert.equal(lonLatToScan(p, -75, 0, out), true);
  assert.ok(Math.abs(out[0]!) < 1e-12 && Math.abs(out[1]!) < 1e-12);
});

test('lonLatToScan inverts the ingest scanToLonLat for both sweeps (x east, y north)', () => {
  const out = new Float64Array(2);
  for (const [sweep, lon0] of [['x', -75.2], ['y', 140.7]] as const) {
    const p: GeosProjection = { sweep, lon0, height: HP, a: A, b: B };
    let checked = 0;
    for (let lat = -70; lat <= 70; lat += 7) {
      for (let dLon = -70; dLon <= 70; dLon += 7) {
        const lon = ((lon0 + dLon + 540) % 360) - 180;
        if (!lonLatToScan(p, lon, lat, out)) continue;
        // imagery-geo.ts takes CGMS scan angles for sweep y: y positive to the south.
        const back = scanToLonLat(out[0]!, sweep === 'y' ? -out[1]! : out[1]!, { sweep, h: HP + A, req: A, rpol: B, lon0 })!;
        assert.ok(back, `${sweep} ${lon},${lat} visible both ways`);
        let d = Math.abs(back[0] - lon);
        if (d > 180) d = 360 - d;
        assert.ok(d < 1e-7 && Math.abs(back[1] - lat) < 1e-7, `${sweep} ${lon},${lat} → ${back}`);
        checked++;
      }
    }
    assert.ok(checked > 300, `${checked} points checked for sweep ${sweep}`);
  }
});

test('scanToPixel maps scan angles through proj:transform to pixels of a reduced rendering', () => {
  // GOES full disk at 2 km: 5424 × 5424, 56 µrad pixels, centres from ±0.151844 rad (PUG vol. 3, table 5.1.2.8).
  const dx = 56e-6;
  const x0 = -0.151844;
  const y0 = 0.151844;
  const transform = [dx * HP, 0, (x0 - dx / 2) * HP, 0, -dx * HP, (y0 + dx / 2) * HP];
  const p: GeosProjection = { sweep: 'x', lon0: -75.2, height: HP, a: A, b: B };
  const out = new Float64Array(2);
  scanToPixel(0, 0, p, transform, [5424, 5424], 1356, 1356, out);
  assert.ok(Math.abs(out[0]! - 678) < 1e-6 && Math.abs(out[1]! - 678) < 1e-6, `centre → ${out[0]}, ${out[1]}`);
  // North-west corner pixel's corner → (0, 0); x east → larger column; y north → smaller row.
  scanToPixel(x0 - dx / 2, y0 + dx / 2, p, transform, [5424, 5424], 5424, 5424, out);
  assert.ok(Math.abs(out[0]!) < 1e-6 && Math.abs(out[1]!) < 1e-6, `corner → ${out[0]}, ${out[1]}`);
  scanToPixel(0.01, 0.01, p, transform, [5424, 5424], 5424, 5424, out);
  assert.ok(out[0]! > 2712 && out[1]! < 2712);
});
