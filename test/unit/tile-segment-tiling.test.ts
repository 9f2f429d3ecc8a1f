/**
 * The overlap-tile plan: cores cover every scene pixel, windows share one
 * size and sit on the pooling grid, mirroring matches numpy 'reflect', and a
 * window copy equals reading the mirrored scene pixel by pixel.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fillWindow, mirrorIndex, planTiles } from '../../actors/tile/segment/tiling.js';

test('mirrorIndex reflects without repeating the edge, any distance out', () => {
  // numpy.pad(np.arange(5), 7, mode='reflect') read left to right
  const expected = [1, 2, 3, 4, 3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1, 0, 1, 2, 3];
  assert.deepEqual(
    expected.map((_, k) => mirrorIndex(k - 7, 5)),
    expected,
  );
  assert.equal(mirrorIndex(-3, 1), 0);
  assert.equal(mirrorIndex(9, 1), 0);
});

const cases: Array<[number, number, number, number]> = [
  // width, height, core, margin
  [1, 1, 64, 28],
  [3, 130, 64, 28],
  [512, 512, 512, 28],
  [1030, 517, 512, 28],
  [1025, 1024, 256, 32],
  [300, 260, 64, 28],
];

for (const [width, height, core, margin] of cases) {
  test(`planTiles ${width}×${height} core ${core}: full cover, one window size, aligned, cores inside the scene`, () => {
    const windows = planTiles(width, height, { core, margin, align: 4 });
    const covered = new Uint8Array(width * height);
    const first = windows[0]!;
    for (const w of windows) {
      assert.equal(w.width, first.width);
      assert.equal(w.height, first.height);
      assert.equal(w.width % 4, 0);
      assert.equal(w.height % 4, 0);
      assert.equal(((w.col0 % 4) + 4) % 4, 0);
      assert.equal(((w.row0 % 4) + 4) % 4, 0);
      // margin on every side of the core, inside the window
      assert.ok(w.coreCol0 - w.col0 >= margin && w.col0 + w.width - (w.coreCol0 + w.coreWidth) >= margin);
      assert.ok(w.coreRow0 - w.row0 >= margin && w.row0 + w.height - (w.coreRow0 + w.coreHeight) >= margin);
      assert.ok(w.coreCol0 >= 0 && w.coreRow0 >= 0 && w.coreCol0 + w.coreWidth <= width && w.coreRow0 + w.coreHeight <= height);
      for (let y = w.coreRow0; y < w.coreRow0 + w.coreHeight; y++) {
        for (let x = w.coreCol0; x < w.coreCol0 + w.coreWidth; x++) covered[y * width + x] = 1;
      }
    }
    assert.equal(covered.indexOf(0), -1, 'every pixel is in some core');
  });
}

test('fillWindow equals reading the mirrored scene pixel by pixel', () => {
  const width = 37;
  const height = 23;
  const src = Float32Array.from({ length: width * height }, (_, i) => i);
  for (const w of planTiles(width, height, { core: 16, margin: 12, align: 4 })) {
    const dst = new Float32Array(5 + w.width * w.height);
    fillWindow(src, width, height, w, dst, 5);
    for (let y = 0; y < w.height; y++) {
      for (let x = 0; x < w.width; x++) {
        const expected = mirrorIndex(w.row0 + y, height) * width + mirrorIndex(w.col0 + x, width);
        assert.equal(dst[5 + y * w.width + x], expected, `window at ${w.col0},${w.row0} pixel ${x},${y}`);
      }
    }
  }
});

test('planTiles refuses a core or margin off the alignment grid', () => {
  assert.throws(() => planTiles(100, 100, { core: 62, margin: 28, align: 4 }), RangeError);
  assert.throws(() => planTiles(100, 100, { core: 64, margin: 26, align: 4 }), RangeError);
});
