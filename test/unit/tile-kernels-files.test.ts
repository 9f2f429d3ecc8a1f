/**
 * L1 end to end through real files: helper A's scene model written as ABI
 * L1b netCDF4 and as bz2 HSD segments, read back by the format readers, and
 * calibrated by both kernel implementations: every on-disk pixel comes back
 * within the counts' quantisation of the true BT (ABI 12-bit step at 300 K
 * ≈ 0.04 K, AHI ≈ 0.03 K; bound 0.1 K), off-disk pixels are masked as fill,
 * and native equals TS (when the addon is built).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateScene } from '../../actors/tile/synthetic/scene.js';
import { writeAbiScene } from '../../actors/tile/synthetic/write-abi.js';
import { ahiSceneSegments } from '../../actors/tile/synthetic/write-ahi.js';
import { readScene } from '../../actors/tile/formats/index.js';
import { kernelsTs } from '../../actors/tile/kernels/index.js';
import { nativeKernels } from '../helpers/native-kernels.js';
import { QA, type SceneBand } from '../../actors/tile/types.js';

async function checkBand(band: SceneBand, truth: Float32Array): Promise<void> {
  const a = await kernelsTs.calibrate(band.counts, band.dqf, band.calibration);
  // Without the addon (test/helpers/native-kernels.ts) the TS values are still held to the truth below.
  const b = nativeKernels ? await nativeKernels.calibrate(band.counts, band.dqf, band.calibration) : null;
  if (b) assert.deepEqual(b.qa, a.qa);
  let onDisk = 0;
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i] as number;
    const v = a.values[i] as number;
    if (b) assert.ok(Math.abs((b.values[i] as number) - v) <= 1e-4 || (Number.isNaN(v) && Number.isNaN(b.values[i] as number)), `native pixel ${i}`);
    if (Number.isNaN(t)) {
      assert.ok(Number.isNaN(v) && ((a.qa[i] as number) & (QA.FILL | QA.DQF)) !== 0, `off-disk pixel ${i} masked`);
      continue;
    }
    onDisk++;
    assert.ok(Math.abs(v - t) < 0.1, `pixel ${i}: ${v} K vs true ${t} K`);
  }
  assert.ok(onDisk > truth.length / 2);
}

test('ABI L1b netCDF4 from the scene model calibrates back to the true BT', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sw-kernels-'));
  try {
    const scene = generateScene({ seed: 21, width: 300, height: 300 });
    const path = join(dir, 'scene.nc');
    await writeAbiScene(path, scene);
    const band = await readScene([{ name: 'scene.nc', bytes: new Uint8Array(readFileSync(path)) }]);
    assert.equal(band.instrument, 'abi');
    await checkBand(band, scene.btK);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('AHI HSD segments (bz2) from the scene model calibrate back to the true BT', async () => {
  const scene = generateScene({ seed: 22, width: 300, height: 300, instrument: 'ahi' });
  const { files } = ahiSceneSegments(scene, { segments: 3 });
  const band = await readScene(files.map((f) => ({ name: f.name, bytes: f.bytes })));
  assert.equal(band.instrument, 'ahi');
  await checkBand(band, scene.btK);
});
