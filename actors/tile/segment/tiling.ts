/**
 * Overlap-tile plan for fully convolutional inference (the "overlap-tile
 * strategy" of Ronneberger et al. 2015, U-Net, sect. 2): each window is a
 * core plus a margin at least as wide as the network's receptive-field
 * radius, so the core's outputs see exactly the pixels a single whole-scene
 * inference would see; only the cores are kept and stitched.
 *
 * Two details make the stitched result equal a whole-scene run (up to float
 * rounding), which the tests check:
 * - pixels outside the scene are filled by mirroring, a function of the scene
 *   coordinate alone, so every window sees the same value at the same place;
 * - every window origin sits on the `align` grid (2^pooling levels), so the
 *   max-pool cells fall on the same pixels in every window.
 */

export interface TileWindow {
  /** Core: the pixels this window writes (inside the scene). */
  coreCol0: number;
  coreRow0: number;
  coreWidth: number;
  coreHeight: number;
  /** Window: what the network reads; may extend past the scene edges (mirrored there). */
  col0: number;
  row0: number;
  width: number;
  height: number;
}

export interface TilePlanOptions {
  /** Core edge length (px), a multiple of `align`. */
  core: number;
  /** Margin (px) on every side, ≥ the receptive-field radius, a multiple of `align`. */
  margin: number;
  /** Window origins and sizes are multiples of this (2^number of 2× poolings). */
  align: number;
}

function roundUp(v: number, m: number): number {
  return Math.ceil(v / m) * m;
}

/**
 * Core starts along one axis: steps of `core`, the last one pulled back (to
 * the align grid) so that it ends at or past the edge, keeping every window
 * the same size (one tensor shape → batches and no re-planning in the runtime).
 */
function axisStarts(length: number, core: number, align: number): number[] {
  if (length <= core) return [0];
  const starts: number[] = [];
  for (let s = 0; s + core < length; s += core) starts.push(s);
  // Rounded up: the last core may run a few pixels past the edge (mirrored there, not written back).
  const last = Math.ceil((length - core) / align) * align;
  if (last > starts[starts.length - 1]!) starts.push(last);
  return starts;
}

/** Windows covering a width×height scene; cores overlap only where the last row/column is pulled back. */
export function planTiles(width: number, height: number, opts: TilePlanOptions): TileWindow[] {
  const { core, margin, align } = opts;
  if (core % align !== 0 || margin % align !== 0) throw new RangeError(`core ${core} and margin ${margin} must be multiples of ${align}`);
  const coreW = Math.min(core, roundUp(width, align));
  const coreH = Math.min(core, roundUp(height, align));
  const windows: TileWindow[] = [];
  for (const r of axisStarts(height, coreH, align)) {
    for (const c of axisStarts(width, coreW, align)) {
      windows.push({
        coreCol0: c,
        coreRow0: r,
        coreWidth: Math.min(coreW, width - c),
        coreHeight: Math.min(coreH, height - r),
        col0: c - margin,
        row0: r - margin,
        width: coreW + 2 * margin,
        height: coreH + 2 * margin,
      });
    }
  }
  return windows;
}

/** Index i reflected into [0, n) without repeating the edge pixel (numpy 'reflect'), for any i. */
export function mirrorIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * n - 2;
  let k = i % period;
  if (k < 0) k += period;
  return k < n ? k : period - k;
}

/**
 * Copies the window `w` of a width×height raster into `dst` (w.width·w.height,
 * starting at `dstOffset`), mirroring outside the scene. The in-scene span of
 * each row is one bulk copy; only the mirrored edges go pixel by pixel.
 */
export function fillWindow(src: Float32Array, width: number, height: number, w: TileWindow, dst: Float32Array, dstOffset: number): void {
  const inC0 = Math.max(0, w.col0);
  const inC1 = Math.min(width, w.col0 + w.width);
  for (let y = 0; y < w.height; y++) {
    const sr = mirrorIndex(w.row0 + y, height) * width;
    const d = dstOffset + y * w.width;
    if (inC1 > inC0) dst.set(src.subarray(sr + inC0, sr + inC1), d + (inC0 - w.col0));
    for (let x = 0; x < inC0 - w.col0; x++) dst[d + x] = src[sr + mirrorIndex(w.col0 + x, width)]!;
    for (let x = inC1 - w.col0; x < w.width; x++) dst[d + x] = src[sr + mirrorIndex(w.col0 + x, width)]!;
  }
}
