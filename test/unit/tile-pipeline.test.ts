/**
 * The tile pipeline's pure parts: tiling covers every pixel once with
 * clipped halos, reduction factors, merging places reduced cores where they
 * belong, the CTH percentile from histograms, metric keys and alert ids are
 * unique and deterministic, products render with the BD-curve breaks, and
 * task ids stay within the protocol's 200 characters.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reduceFactor, tileGrid } from '../../actors/tile/pipeline/grid.js';
import { histPercentile, mergeRasters, reducedGeo, sceneStats, type StoredTile } from '../../actors/tile/pipeline/merge.js';
import { cycloneCellId, metricRows, stormWarnings, tileCellId, SCENE_CELL, type TrackedCyclone } from '../../actors/tile/pipeline/outputs.js';
import { CTH_BINS, CTH_NONE, onDisk, type TileStats } from '../../actors/tile/pipeline/process-tile.js';
import { cloudTopHeightRgba, enhancedIrRgba, renderProducts } from '../../actors/tile/pipeline/render.js';
import { dataAssets, sceneFingerprint } from '../../actors/tile/pipeline/scene-source.js';
import { imageryFinalizeTaskId, imageryTileTaskId, stormWarningTaskId, ImageryTileTaskMessage } from '../../protocol/messages/tile.js';
import { CLOUD, type CycloneFix, type SceneBand, type SceneGeo } from '../../actors/tile/types.js';
import { processTile } from '../../actors/tile/pipeline/process-tile.js';
import { kernelsTs } from '../../actors/tile/kernels/index.js';
import { abiSceneSpec } from '../../actors/tile/synthetic/write-abi.js';
import { stormScene } from '../helpers/tile-fixtures.js';

test('tileGrid: every pixel in exactly one core; halos clipped to the scene', () => {
  for (const [w, h, size, halo] of [[1000, 600, 256, 16], [512, 512, 512, 16], [5, 3, 2, 1], [1, 1, 64, 8]] as const) {
    const tiles = tileGrid(w, h, size, halo);
    const seen = new Uint8Array(w * h);
    tiles.forEach((t, i) => {
      assert.equal(t.index, i);
      const { core, halo: hr } = t;
      for (let r = core.row0; r < core.row0 + core.height; r++) for (let c = core.col0; c < core.col0 + core.width; c++) seen[r * w + c]!++;
      assert.ok(hr.col0 >= 0 && hr.row0 >= 0 && hr.col0 + hr.width <= w && hr.row0 + hr.height <= h, 'halo inside the scene');
      assert.ok(hr.col0 <= core.col0 && hr.row0 <= core.row0 && hr.col0 + hr.width >= core.col0 + core.width, 'halo contains the core');
      assert.equal(core.col0 - hr.col0, Math.min(halo, core.col0));
    });
    assert.ok(seen.every((n) => n === 1), `${w}×${h}/${size}`);
    assert.equal(tiles.length, Math.ceil(w / size) * Math.ceil(h / size));
  }
  assert.throws(() => tileGrid(0, 10, 256, 16), /width/);
  assert.throws(() => tileGrid(10, 10, 256, -1), /halo/);
});

test('reduceFactor: smallest power of two that fits, never above the tile size', () => {
  assert.equal(reduceFactor(5424, 5424, 512, 2048), 4);
  assert.equal(reduceFactor(2048, 1000, 512, 2048), 1);
  assert.equal(reduceFactor(5500, 5500, 512, 2048), 4);
  assert.equal(reduceFactor(100_000, 10, 8, 2048), 8);
});

function stats(index: number, core: TileStats['core'], over: Partial<TileStats> = {}): TileStats {
  const hist = new Array<number>(CTH_BINS).fill(0);
  hist[20] = 10; // 10 000–10 500 m
  return {
    index, core, qa: { total: core.width * core.height, valid: 100, fill: 0, dqf: 0, range: 1, isolated: 2, space: 0 },
    valid: 100, cloudy: 10, cthCount: 10, cthSumM: 102_500, cthMaxM: 10_400, cthHist: hist, btMinK: 200 + index, btMinLat: index, btMinLon: -index,
    deepConvection: 3, overshootingTops: index === 1 ? 7 : 0, overshootLat: index === 1 ? 12.5 : null, overshootLon: index === 1 ? -40.25 : null,
    ms: { cut: 0, geo: 0, l1: 0, qa: 0, l2: 0, l3: 0, reduce: 0 }, ...over,
  };
}

test('mergeRasters places each reduced core at its position; sceneStats adds up', () => {
  const tiles = tileGrid(6, 4, 4, 1);
  const stored: StoredTile[] = tiles.map((t) => {
    const n = Math.ceil(t.core.width / 2) * Math.ceil(t.core.height / 2);
    return { index: t.index, stats: stats(t.index, t.core), bt: new Uint16Array(n).fill(100 + t.index), cth: new Uint16Array(n).fill(CTH_NONE), cloud: new Uint8Array(n).fill(t.index) };
  });
  const m = mergeRasters(6, 4, 2, stored);
  assert.equal(m.width, 3);
  assert.equal(m.height, 2);
  assert.deepEqual([...m.bt], [100, 100, 101, 100, 100, 101]);
  assert.deepEqual([...m.cloud], [0, 0, 1, 0, 0, 1]);
  const s = sceneStats(stored.map((t) => t.stats));
  assert.equal(s.valid, 200);
  assert.equal(s.cloudFraction, 0.1);
  assert.equal(s.cthMeanM, 10_250);
  assert.equal(s.cthP90M, 10_500);
  assert.equal(s.btMinK, 200);
  assert.equal(s.overshootingTops, 7);
  assert.equal(s.qa.isolated, 4);
  assert.throws(() => mergeRasters(6, 4, 2, [{ ...stored[0]!, bt: new Uint16Array(1) }]), /stored raster/);
});

test('histPercentile: upper edge of the bin that reaches the fraction', () => {
  const h = [0, 5, 0, 5];
  assert.equal(histPercentile(h, 10, 0.5), 1000);
  assert.equal(histPercentile(h, 10, 0.9), 2000);
  assert.equal(histPercentile(h, 0, 0.9), null);
});

test('reducedGeo: the reduced grid pixel centre is the centre of its block', () => {
  const geo: SceneGeo = { params: { sweep: 'x', h: 42164160, req: 6378137, rpol: 6356752.31414, lon0: -75.2 }, x0: -0.1, dx: 56e-6, y0: 0.1, dy: -56e-6 };
  const r = reducedGeo(geo, 4);
  assert.ok(Math.abs(r.x0 - (geo.x0 + 1.5 * geo.dx)) < 1e-15);
  assert.ok(Math.abs(r.dx - 4 * geo.dx) < 1e-15);
  // A rectangle straddling the limb is not on the disk; one at the sub-satellite point is.
  assert.equal(onDisk({ ...geo, x0: -0.151 - 0.01, y0: 0 }, { col0: 0, row0: 0, width: 400, height: 10 }), false);
  assert.equal(onDisk({ ...geo, x0: -0.005, y0: 0.005 }, { col0: 0, row0: 0, width: 100, height: 100 }), true);
});

const fix: CycloneFix = { lat: 18.04, lon: -59.96, eyeTempK: 285, cloudTempK: 193, scene: 'eye', tNumber: 7, ci: 7, vmaxKt: 140, mslpHpa: 921 };

test('metric rows: unique (product, cell) keys, deterministic, storm flag from tiles or cyclones', () => {
  const tiles = tileGrid(8, 4, 4, 0).map((t) => stats(t.index, t.core));
  const scene = sceneStats(tiles);
  const ctx = { observedAt: new Date('2026-11-25T12:00:00Z'), satellite: 'goes-19', band: 13, tileSize: 4, taskId: 'stac:imagery:x', stormMinOvershoots: 5 };
  const rows = metricRows(ctx, tiles, scene, [fix]);
  const keys = rows.map((r) => `${r.product}@${r.cellId}`);
  assert.equal(new Set(keys).size, keys.length);
  assert.deepEqual(metricRows(ctx, tiles, scene, [fix]), rows);
  const flag = (cell: number) => rows.find((r) => r.product === 'b13.storm_flag' && r.cellId === cell)!.value;
  assert.equal(flag(tileCellId(4, 1)), 1);
  assert.equal(flag(tileCellId(4, 0)), 0);
  assert.equal(flag(SCENE_CELL), 1);
  assert.equal(rows.find((r) => r.product === 'b13.cyclone_vmax_kt')!.cellId, cycloneCellId(18.04, -59.96));
  assert.ok(rows.every((r) => Number.isFinite(r.value) && r.taskId === 'stac:imagery:x'));
  assert.notEqual(tileCellId(512, 0), tileCellId(256, 0));
  assert.notEqual(cycloneCellId(18, -60), cycloneCellId(18, -59.9));
});

test('storm warnings: one per storm tile; a cyclone only for a track seen in enough scenes or a clear eye; stable ids naming the track, critical from 64 kt', () => {
  const tiles = tileGrid(8, 4, 4, 0).map((t) => stats(t.index, t.core));
  const tc = (f: CycloneFix, trackId: string, trackScenes: number, vmaxKt: number): TrackedCyclone => ({ fix: f, trackId, trackScenes, finalT: f.tNumber, ci: f.ci, vmaxKt, mslpHpa: 950 });
  const cdo: CycloneFix = { ...fix, lat: 10, scene: 'cdo', eyeTempK: null, tNumber: 3.5, ci: 3.5 };
  const weakEye: CycloneFix = { ...fix, lat: 12, eyeTempK: 210, cloudTempK: 200, tNumber: 4.6, ci: 4.6 }; // 10 K contrast: not a clear eye
  const at = new Date('2026-11-25T12:00:00Z');
  const whole: CycloneFix = { ...fix, edgeKm: 900, symmetryK: 0.5 };
  const w = stormWarnings('imagery', 'scene-1', 'goes-19', at, tiles, [tc(whole, 'TC-a', 1, 140), tc({ ...whole, edgeKm: 120 }, 'TC-e', 1, 140), tc({ ...whole, symmetryK: 4.2 }, 'TC-f', 1, 140), tc(cdo, 'TC-b', 2, 50), tc(cdo, 'TC-c', 1, 50), tc(weakEye, 'TC-d', 1, 80)], 5, 2);
  assert.deepEqual(w.map((x) => x.id), ['storm:imagery:scene-1:tile1', 'cyclone:imagery:scene-1:TC-a', 'cyclone:imagery:scene-1:TC-b']);
  assert.deepEqual(w.map((x) => x.severity), ['warning', 'critical', 'warning']);
  assert.deepEqual(w.slice(1).map((x) => x.payload.reason), ['eye', 'track']);
  assert.match(w[1]!.message, /tropical cyclone TC-a .* seen in 1 scene\)/);
  assert.match(w[0]!.message, /7 overshooting-top pixels near 12\.50, -40\.25/);
  // The same clear eye 120 km from the image border (TC-e) or with a lopsided ring (TC-f) is not enough alone. With the minimum at 1 every detection warns; at 3 the two-scene CDO track does not.
  assert.equal(stormWarnings('imagery', 'scene-1', 'goes-19', at, [], [tc(cdo, 'TC-c', 1, 50), tc(weakEye, 'TC-d', 1, 80)], 5, 1).length, 2);
  assert.equal(stormWarnings('imagery', 'scene-1', 'goes-19', at, [], [tc(cdo, 'TC-b', 2, 50)], 5, 3).length, 0);
  const long = stormWarnings('c'.repeat(200), 'i'.repeat(200), 'goes-19', new Date(), tiles, [tc(whole, 'TC-a', 3, 140)], 5, 2);
  assert.ok(long.every((x) => x.id.length <= 300 && /^[A-Za-z0-9._:\-]+$/.test(x.id)));
});

test('renders: enhanced IR greys warm tops and colours cold ones at the BD breaks; CTH ramp; PNG and WebP', async () => {
  const bt = Uint16Array.from([0, 30000, 24300, 22000, 19000]); // none, 300 K, 243 K, 220 K, 190 K
  const m = { width: 5, height: 1, bt, cth: Uint16Array.from([CTH_NONE, CTH_NONE, 2000, 9000, 16000]), cloud: Uint8Array.from([255, 0, 1, 1, 1]) };
  const ir = enhancedIrRgba(m);
  assert.equal(ir[3], 0, 'no value is transparent');
  const px = (a: Uint8Array, i: number) => [...a.subarray(i * 4, i * 4 + 4)];
  const [r1, g1, b1] = px(ir, 1);
  assert.ok(r1 === g1 && g1 === b1, 'warm is grey');
  const [r4, g4, b4] = px(ir, 4);
  assert.ok(!(r4 === g4 && g4 === b4), 'cold is coloured');
  const cth = cloudTopHeightRgba(m);
  assert.deepEqual(px(cth, 1), [38, 38, 38, 255], 'clear sky is dark grey');
  assert.notDeepEqual(px(cth, 2), px(cth, 4), 'low and high tops differ');
  const products = await renderProducts(m);
  assert.deepEqual(products.map((p) => p.name), ['enhanced-ir.png', 'enhanced-ir.webp', 'cloud-top-height.png', 'cloud-top-height.webp']);
  assert.deepEqual([...products[0]!.data.subarray(1, 4)], [0x50, 0x4e, 0x47]);
  assert.equal(products[1]!.data.subarray(8, 12).toString('ascii'), 'WEBP');
});

test('scene assets and fingerprint: data assets in key order; new files change the fingerprint', () => {
  const item = { id: 'x', assets: { 'segment-02': { href: 'file:///a/2', roles: ['data'] }, 'segment-01': { href: 'file:///a/1', roles: ['data'] }, thumb: { href: '/t.png', roles: ['thumbnail'] } } };
  assert.deepEqual(dataAssets(item).map((a) => a.key), ['segment-01', 'segment-02']);
  const f = sceneFingerprint(dataAssets(item));
  assert.match(f, /^[0-9a-f]{16}$/);
  assert.notEqual(sceneFingerprint(dataAssets({ ...item, assets: { ...item.assets, 'segment-02': { href: 'file:///a/2b', roles: ['data'] } } })), f);
  assert.throws(() => dataAssets({ id: 'y', assets: { thumb: { href: '/t.png', roles: ['thumbnail'] } } }), /no data asset/);
});

test('task ids fit the protocol (≤ 200 characters) and payloads validate', () => {
  const fp = '0123456789abcdef';
  assert.equal(imageryTileTaskId('imagery', 'OR_ABI_x', fp, 7), 'tile:imagery:OR_ABI_x:01234567:7');
  assert.equal(imageryFinalizeTaskId('imagery', 'a', fp), 'finalize:imagery:a:01234567');
  // New files, new ids: the de-duplication window cannot drop the new scene's tiles.
  assert.notEqual(imageryTileTaskId('imagery', 'a', 'fedcba9876543210', 7), imageryTileTaskId('imagery', 'a', fp, 7));
  const long = imageryTileTaskId('c'.repeat(200), 'i'.repeat(200), fp, 12);
  assert.ok(long.length <= 200 && long.endsWith(':01234567:12'));
  assert.notEqual(long, imageryTileTaskId('c'.repeat(200), 'i'.repeat(199), fp, 12));
  assert.ok(stormWarningTaskId('x'.repeat(300)).length <= 200);
  assert.throws(() => ImageryTileTaskMessage.assert({ v: 1, sceneTaskId: 's', collection: 'c', itemId: 'i', fingerprint: 'nothex', index: 0 }), /fingerprint/);
});

test('processTile on a synthetic storm: statistics, reduced rasters, and the zonal profile moves tropical cloud tops', async () => {
  const scene = stormScene(128, 4, new Date('2026-08-15T18:00:00Z'));
  const spec = abiSceneSpec(scene);
  const c = spec.calibration as Extract<typeof spec.calibration, { kind: 'ir' }>;
  const band: SceneBand = {
    instrument: 'abi', platform: scene.platform, band: 13, kind: 'ir', wavelengthUm: spec.wavelengthUm, width: 128, height: 128,
    counts: spec.counts, dqf: spec.dqf, geo: scene.geo, start: spec.start, end: spec.end,
    calibration: { instrument: 'abi', kind: 'ir', scale: c.scale, offset: c.offset, fill: 4095, fk1: c.fk1, fk2: c.fk2, bc1: c.bc1, bc2: c.bc2 },
  };
  // The truth mask stands in for the UNet (this test is about the pipeline around it).
  const truth = (bt: Float32Array, w: number, h: number): Promise<Uint8Array> => {
    const m = new Uint8Array(w * h);
    for (let i = 0; i < m.length; i++) m[i] = bt[i] !== bt[i] ? CLOUD.NODATA : bt[i]! < 250 ? CLOUD.CLOUD : CLOUD.CLEAR;
    return Promise.resolve(m);
  };
  const [tile] = tileGrid(128, 128, 128, 8);
  const us = await processTile(band, tile!, 2, { kernels: kernelsTs, segment: truth });
  const zonal = await processTile(band, tile!, 2, { kernels: kernelsTs, segment: truth, profile: 'zonal' });
  assert.equal(us.stats.qa.total, 128 * 128);
  assert.equal(us.stats.qa.space, 0, 'the scene is on the disk');
  assert.ok(us.stats.valid > 0.99 * 128 * 128, `valid ${us.stats.valid}`);
  assert.ok(us.stats.btMinK! < 200 && Math.abs(us.stats.btMinLat! - 18) < 1, `coldest ${us.stats.btMinK} at ${us.stats.btMinLat}`);
  assert.ok(us.stats.cloudy > 0 && us.stats.cthMaxM! > 10_000);
  assert.equal(us.width, 64);
  assert.equal(us.bt.length, 64 * 64);
  assert.ok(us.bt.every((v) => v > 15_000 && v < 35_000), 'reduced BT in centikelvin');
  // Same cloud, another profile: the tropical atmosphere puts the same temperature higher.
  assert.equal(zonal.stats.cloudy, us.stats.cloudy);
  assert.notEqual(zonal.stats.cthMaxM, us.stats.cthMaxM);
  assert.ok(Object.values(us.stats.ms).every((v) => v >= 0));
});
