/**
 * The tile pipeline's JavaScript stages leave the event loop free (issue 10):
 * on a full-disk scene (768², so the corner tiles cross the limb and need
 * per-pixel geolocation) every heavy stage gives the loop turns — a 1 ms
 * interval fires inside it — and computes exactly what the same code run
 * without turns computes (a slicer that never yields is the oracle: the
 * one-stretch computation the pipeline did before). A stage run without
 * turns sees no interval tick at all (the negative control: the probe can
 * fail). The UNet and the scene decode run on worker threads and give the
 * same bytes as in-thread, and so do the TypeScript reference kernels on
 * their worker threads (the tile host's kernels without the native addon).
 *
 * Structural only: no assertion on a duration.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TimeSlicer, yieldToLoop } from '../../actors/runtime/time-slice.js';
import { pixelLonLat, pixelLonLatSliced } from '../../actors/tile/formats/geo.js';
import { readScene } from '../../actors/tile/formats/index.js';
import { readSceneOffLoop } from '../../actors/tile/formats/read-thread.js';
import { kernelsTs } from '../../actors/tile/kernels/index.js';
import { kernelsTsThreaded } from '../../actors/tile/kernels/ts-thread.js';
import { edgeKm, fixOf, mergeScene } from '../../actors/tile/pipeline/finalize-scene.js';
import { cutRect, tileGrid } from '../../actors/tile/pipeline/grid.js';
import { btKelvin, mergeRasters, reducedGeo, sceneStats, type StoredTile } from '../../actors/tile/pipeline/merge.js';
import { onDisk, processTile, type TileOutput } from '../../actors/tile/pipeline/process-tile.js';
import { cloudTopHeightRgba, cloudTopHeightRgbaSliced, enhancedIrRgba, enhancedIrRgbaSliced, renderProducts } from '../../actors/tile/pipeline/render.js';
import { CloudSegmenter } from '../../actors/tile/segment/unet.js';
import { ThreadedCloudSegmenter } from '../../actors/tile/segment/unet-thread.js';
import { generateScene } from '../../actors/tile/synthetic/scene.js';
import { abiSceneSpec, writeAbiFile } from '../../actors/tile/synthetic/write-abi.js';
import { CLOUD, type SceneBand } from '../../actors/tile/types.js';

const SIZE = 768;
const TILE = 256;
const HALO = 32;

/** A slicer that never yields: the same code as one synchronous stretch. */
const never = (): TimeSlicer => new TimeSlicer(Infinity);

const scene = generateScene({ seed: 11, width: SIZE, height: SIZE, instrument: 'abi', time: new Date('2026-08-15T18:00:00Z'), cyclone: { lat: 18, lon: -60, eyeRadiusKm: 18, eyeTempK: 285, cloudTopTempK: 192, radiusKm: 450 } });
const spec = abiSceneSpec(scene);
const cal = spec.calibration as Extract<typeof spec.calibration, { kind: 'ir' }>;
const band: SceneBand = {
  instrument: 'abi', platform: scene.platform, band: 13, kind: 'ir', wavelengthUm: spec.wavelengthUm, width: SIZE, height: SIZE,
  counts: spec.counts, dqf: spec.dqf, geo: scene.geo, start: spec.start, end: spec.end,
  calibration: { instrument: 'abi', kind: 'ir', scale: cal.scale, offset: cal.offset, fill: 4095, fk1: cal.fk1, fk2: cal.fk2, bc1: cal.bc1, bc2: cal.bc2 },
};
const tiles = tileGrid(SIZE, SIZE, TILE, HALO);

// A threshold mask stands in for the UNet: this is about the pipeline around it.
const threshold = (bt: Float32Array, w: number, h: number): Promise<Uint8Array> => {
  const m = new Uint8Array(w * h);
  for (let i = 0; i < m.length; i++) m[i] = bt[i] !== bt[i] ? CLOUD.NODATA : bt[i]! < 250 ? CLOUD.CLOUD : CLOUD.CLEAR;
  return Promise.resolve(m);
};

/** Counts 1 ms interval ticks, and how many fell between two laps of a stage. */
class TickCounter {
  ticks = 0;
  private readonly timer = setInterval(() => this.ticks++, 1);
  private mark = 0;
  readonly inside = new Map<string, number>();
  lap(stage: string): void {
    this.inside.set(stage, (this.inside.get(stage) ?? 0) + this.ticks - this.mark);
    this.mark = this.ticks;
  }
  start(): void {
    this.mark = this.ticks;
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

function comparable(o: TileOutput): unknown {
  // Stage times are the only thing that may differ.
  const { ms: _ms, ...stats } = o.stats;
  return { stats, bt: o.bt, cth: o.cth, cloud: o.cloud, width: o.width, height: o.height };
}

test('processTile on a limb tile: geolocation, space masking and the reduction yield to the loop and compute the same tile', async () => {
  const limb = tiles[0]!;
  assert.equal(onDisk(band.geo, limb.halo), false, 'the corner tile crosses the limb');
  // Budget 0: a turn at every check, so the test does not depend on how fast this machine is.
  const slicer = new TimeSlicer(0);
  const counter = new TickCounter();
  try {
    counter.start();
    const sliced = await processTile(band, limb, 2, { kernels: kernelsTs, segment: threshold, slicer, beat: (stage) => counter.lap(stage) });
    const slicedTicks = new Map(counter.inside);
    counter.inside.clear();
    counter.start();
    const oneStretch = await processTile(band, limb, 2, { kernels: kernelsTs, segment: threshold, slicer: never(), beat: (stage) => counter.lap(stage) });
    const controlTicks = new Map(counter.inside);

    assert.deepEqual(comparable(sliced), comparable(oneStretch), 'the same statistics and reduced rasters');
    assert.ok(sliced.stats.qa.space > 0, 'the tile has space pixels (the per-pixel geolocation ran)');
    assert.ok(slicer.yields > 100, `the stages yielded (${slicer.yields} turns)`);
    for (const stage of ['geo', 'reduce'] as const) {
      assert.ok((slicedTicks.get(stage) ?? 0) > 0, `the loop ticked during ${stage} (${slicedTicks.get(stage)})`);
      // Without turns the stage is one synchronous stretch: no timer can fire in it.
      assert.equal(controlTicks.get(stage) ?? 0, 0, `no tick inside ${stage} run as one stretch`);
    }
  } finally {
    counter.stop();
  }
});

test('finalize compute: merge, geolocation, BT, cyclone search and product colouring yield and give the same scene', async () => {
  const outs = [];
  for (const t of tiles) outs.push(await processTile(band, t, 1, { kernels: kernelsTs, segment: threshold }));
  const stored: StoredTile[] = outs.map((o) => ({ index: o.stats.index, stats: o.stats, bt: o.bt, cth: o.cth, cloud: o.cloud }));
  const input = { width: SIZE, height: SIZE, reduce: 1, kind: 'ir' as const, geo: band.geo, tiles: stored };
  const detect = (bt: Float32Array, lat: Float32Array, lon: Float32Array, w: number, h: number) => kernelsTs.cyclones(bt, lat, lon, w, h);

  const counter = new TickCounter();
  const slicer = new TimeSlicer(0);
  try {
    counter.start();
    const sliced = await mergeScene(input, detect, { slicer, lap: (step) => counter.lap(step) });
    const slicedTicks = new Map(counter.inside);
    counter.inside.clear();
    counter.start();
    const control = await mergeScene(input, detect, { slicer: never(), lap: (step) => counter.lap(step) });
    const controlTicks = new Map(counter.inside);

    // The oracle: the one-pass functions the finalize used before.
    const merged = mergeRasters(SIZE, SIZE, 1, stored);
    const { lat, lon } = pixelLonLat(reducedGeo(band.geo, 1), { col0: 0, row0: 0, width: SIZE, height: SIZE });
    const fixes = await kernelsTs.cyclones(btKelvin(merged), lat, lon, SIZE, SIZE);
    assert.deepEqual(sliced.merged, merged);
    assert.deepEqual(sliced.stats, sceneStats(stored.map((t) => t.stats)));
    // The fix as the finalize keeps it: the kernel's estimate, its distance to the image's end (the track rules use it) and basin.
    assert.deepEqual(sliced.cyclones, fixes.map((f) => ({ ...fixOf(f), edgeKm: edgeKm(lat, lon, SIZE, SIZE, f.row, f.col), basin: f.basin })));
    assert.deepEqual(control, sliced);
    for (const step of ['geolocation', 'bt'] as const) {
      assert.ok((slicedTicks.get(step) ?? 0) > 0, `the loop ticked during ${step} (${slicedTicks.get(step)})`);
      assert.equal(controlTicks.get(step) ?? 0, 0, `no tick inside ${step} run as one stretch`);
    }

    // Product colouring: row-sliced RGBA equals the one-pass RGBA; the encoded products are the same bytes.
    const before = counter.ticks;
    const ir = await enhancedIrRgbaSliced(merged, new TimeSlicer(0));
    const cth = await cloudTopHeightRgbaSliced(merged, new TimeSlicer(0));
    assert.ok(counter.ticks > before, 'the loop ticked while colouring');
    assert.deepEqual(ir, enhancedIrRgba(merged));
    assert.deepEqual(cth, cloudTopHeightRgba(merged));
    const a = await renderProducts(merged, new TimeSlicer(0));
    const b = await renderProducts(merged, never());
    assert.deepEqual(a.map((p) => p.data), b.map((p) => p.data));
  } finally {
    counter.stop();
  }
});

test('pixelLonLatSliced equals pixelLonLat, NaN off the disk included', async () => {
  const rect = { col0: 0, row0: 0, width: SIZE, height: 64 };
  const slicer = new TimeSlicer(0);
  assert.deepEqual(await pixelLonLatSliced(band.geo, rect, slicer), pixelLonLat(band.geo, rect));
  assert.equal(slicer.yields, 64, 'one turn per row at budget 0');
});

test('the UNet on its worker thread: the same mask as in-thread, and the loop runs while it works', async () => {
  const tile = tiles[4]!;
  const { lat } = pixelLonLat(band.geo, tile.halo);
  assert.ok(lat.every((v) => v === v), 'the centre tile is on the disk');
  const { values } = await kernelsTs.calibrate(cutRect(band.counts, SIZE, tile.halo, (n) => new Uint16Array(n)), null, band.calibration);
  const inline = await CloudSegmenter.load({ threads: 1, tileSize: 320 });
  const threaded = await ThreadedCloudSegmenter.load({ threads: 1, tileSize: 320 });
  try {
    const expected = await inline.segment(values, tile.halo.width, tile.halo.height);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const got = await threaded.segment(values, tile.halo.width, tile.halo.height).finally(() => clearInterval(timer));
    assert.deepEqual(got, expected);
    assert.ok(ticks > 0, `the loop ticked while the model ran (${ticks})`);
    assert.equal(threaded.card.receptiveRadius, inline.card.receptiveRadius);
    // Bad input is the in-thread error, with its code.
    await assert.rejects(threaded.segment(values, 3, 3), (err: { code?: string }) => err.code === 'SW_ERR_INVALID_ARGUMENT');
    assert.equal(threaded.dead, false);
  } finally {
    await inline.close();
    await threaded.close();
  }
  // A missing model is the in-thread load's error (code and name), and the thread is gone with it.
  await assert.rejects(ThreadedCloudSegmenter.load({ modelPath: '/nonexistent/cloud-unet.onnx' }), (err: Error & { code?: string }) => err.code === 'SW_ERR_NOT_FOUND' && err.name === 'CloudModelError' && /not found/.test(err.message));
});

test('the scene decode on a worker thread: the same band as in-thread; a bad file is the same SW_ERR_DECODE', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sw-tile-slicing-'));
  let bytes: Uint8Array;
  try {
    await writeAbiFile(join(dir, 'scene.nc'), abiSceneSpec(generateScene({ seed: 3, width: 256, height: 256, instrument: 'abi', time: new Date('2026-08-15T18:00:00Z') })));
    bytes = await readFile(join(dir, 'scene.nc'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const files = [{ name: 'scene.nc', bytes }];
  const expected = await readScene(files);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const got = await readSceneOffLoop(files).finally(() => clearInterval(timer));
  assert.deepEqual(got, expected);
  assert.ok(got.start instanceof Date && got.counts instanceof Uint16Array);
  // The decode ran on its thread while this loop kept its timer going.
  assert.ok(ticks > 0, `the loop ticked during the decode (${ticks})`);
  await yieldToLoop();
  const bad = [{ name: 'bad.nc', bytes: new Uint8Array([0x25, 0x50, 0x44, 0x46, 1, 2, 3, 4]) }];
  const inThread = await readScene(bad).catch((e: Error) => e);
  const offLoop = await readSceneOffLoop(bad).catch((e: Error) => e);
  assert.ok(offLoop instanceof Error && inThread instanceof Error);
  assert.equal(offLoop.name, inThread.name);
  assert.equal((offLoop as { code?: string }).code, 'SW_ERR_DECODE');
  assert.equal(offLoop.message, inThread.message);
});

test('the TypeScript kernels on worker threads: kernelsTs\'s outputs bit for bit, in place where the interface says so; bad input is the same error', async () => {
  const threaded = kernelsTsThreaded(2);
  const limb = tiles[0]!;
  const w = limb.halo.width, h = limb.halo.height;
  const counts = cutRect(band.counts, SIZE, limb.halo, (n) => new Uint16Array(n));
  const dqf = cutRect(band.dqf!, SIZE, limb.halo, (n) => new Uint8Array(n));
  const countsBefore = counts.slice();
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  try {
    const l1t = await threaded.calibrate(counts, dqf, band.calibration);
    const l1r = await kernelsTs.calibrate(counts, dqf, band.calibration);
    assert.deepEqual(l1t, l1r);
    assert.deepEqual(counts, countsBefore, 'the caller keeps its input');
    const { lat } = pixelLonLat(band.geo, limb.halo);
    const qt = await threaded.qaCheck(l1t.values, l1t.qa, w, h, 'ir', { lat });
    const qr = await kernelsTs.qaCheck(l1r.values, l1r.qa, w, h, 'ir', { lat });
    assert.deepEqual(qt, qr);
    assert.deepEqual(l1t, l1r, 'masked in place, as the reference does');
    const mask = await threshold(l1r.values, w, h);
    assert.deepEqual(await threaded.cloudTop(l1t.values, mask, { latitude: lat, month: 8 }), await kernelsTs.cloudTop(l1r.values, mask, { latitude: lat, month: 8 }));
    assert.deepEqual(await threaded.convection(l1t.values, mask, w, h), await kernelsTs.convection(l1r.values, mask, w, h));
    const lon = pixelLonLat(band.geo, limb.halo).lon;
    assert.deepEqual(await threaded.cyclones(l1t.values, lat, lon, w, h), await kernelsTs.cyclones(l1r.values, lat, lon, w, h));
    // Two at once go to two threads and still answer each its own.
    const [x, y] = await Promise.all([threaded.calibrate(counts, null, band.calibration), threaded.calibrate(counts.map((c) => Math.min(4094, c + 7)), null, band.calibration)]);
    assert.deepEqual(x, await kernelsTs.calibrate(counts, null, band.calibration));
    assert.notDeepEqual(x.values, y.values);
  } finally {
    clearInterval(timer);
  }
  assert.ok(ticks > 0, `the loop ticked while the kernels ran (${ticks})`);
  await assert.rejects(threaded.convection(new Float32Array(4), null, 3, 3), (err: { code?: string; message?: string }) => err.code === 'SW_ERR_INVALID_ARGUMENT');
  await assert.rejects(kernelsTs.convection(new Float32Array(4), null, 3, 3), (err: { code?: string }) => err.code === 'SW_ERR_INVALID_ARGUMENT');
});
