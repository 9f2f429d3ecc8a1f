/**
 * Cutting a scene into tiles: square cores of `size` pixels (the last row
 * and column of tiles take what is left), each read with a `halo` of
 * neighbours so 3×3 QA tests, convection texture and UNet context see real
 * pixels at a core's edge; halos are clipped to the scene.
 */
import { StarWeatherError } from '../../../protocol/errors.js';
import type { PixelRect, TileSpec } from '../types.js';

export function tileGrid(width: number, height: number, size: number, halo: number): TileSpec[] {
  for (const [k, v, min] of [['width', width, 1], ['height', height, 1], ['size', size, 1], ['halo', halo, 0]] as const) {
    if (!Number.isInteger(v) || v < min) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `tileGrid: ${k} must be an integer >= ${min} (got ${v})`);
  }
  const cols = Math.ceil(width / size);
  const rows = Math.ceil(height / size);
  const tiles: TileSpec[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const core: PixelRect = { col0: c * size, row0: r * size, width: Math.min(size, width - c * size), height: Math.min(size, height - r * size) };
      const col0 = Math.max(0, core.col0 - halo);
      const row0 = Math.max(0, core.row0 - halo);
      const col1 = Math.min(width, core.col0 + core.width + halo);
      const row1 = Math.min(height, core.row0 + core.height + halo);
      tiles.push({ index: r * cols + c, core, halo: { col0, row0, width: col1 - col0, height: row1 - row0 } });
    }
  }
  return tiles;
}

/**
 * Reduction factor for stored tile rasters and rendered products: the
 * smallest power of two (at most `tileSize`, so tile cores reduce to whole
 * pixels except at the scene's edge) that brings the scene's long side to
 * `maxPx` or less.
 */
export function reduceFactor(width: number, height: number, tileSize: number, maxPx: number): number {
  let f = 1;
  while (Math.max(width, height) / f > maxPx && f * 2 <= tileSize) f *= 2;
  return f;
}

/** Copy `rect` out of a row-major raster of `width` columns. */
export function cutRect<T extends Uint16Array | Uint8Array | Float32Array>(src: T, width: number, rect: PixelRect, make: (n: number) => T): T {
  const out = make(rect.width * rect.height);
  for (let r = 0; r < rect.height; r++) {
    const from = (rect.row0 + r) * width + rect.col0;
    out.set(src.subarray(from, from + rect.width) as never, r * rect.width);
  }
  return out;
}
