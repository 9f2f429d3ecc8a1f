/**
 * Rendered products from the merged (reduced) rasters, encoded by sharp:
 * - enhanced IR: grey for warm scenes, colours for cold cloud tops, with the
 *   colour breaks at the Dvorak BD-curve temperatures (30, 9, −30, −42, −54,
 *   −64, −70, −76, −80, −84, −100 °C; `bd_curve_points_degC` of the ADT tables
 *   in actors/tile/physics/data/adt_tables.json, from Unidata IDV's ADT port),
 *   so the colour bands read as the Dvorak cloud categories; the colours
 *   themselves are ours;
 * - cloud-top height: a colour ramp over 0–18 km on the cloudy pixels, clear
 *   sky dark grey, no data transparent.
 * Both as PNG (lossless) and WebP (small, for the dashboard).
 * The colouring runs row by row with turns for the event loop in between
 * (a 1356² product is ~0.1 s of JS); sharp encodes on the libuv pool.
 */
import sharp from 'sharp';
import { TimeSlicer } from '../../runtime/time-slice.js';
import { CLOUD } from '../types.js';
import type { MergedRasters } from './merge.js';
import { CTH_NONE } from './process-tile.js';

type Rgb = [number, number, number];
type Stop = [number, Rgb];

/** (°C, colour) stops, warm to cold; a repeated temperature is a hard break. */
const ENHANCED_IR: Stop[] = [
  [30, [16, 16, 16]],
  [9, [70, 70, 70]],
  [-30, [205, 205, 205]],
  [-30, [130, 190, 255]],
  [-42, [40, 90, 230]],
  [-54, [30, 190, 70]],
  [-64, [250, 235, 40]],
  [-70, [250, 150, 20]],
  [-76, [215, 30, 20]],
  [-80, [110, 0, 0]],
  [-84, [25, 25, 25]],
  [-100, [255, 255, 255]],
];

/** (km, colour) stops for cloud-top height. */
const CTH_RAMP: Stop[] = [
  [0, [40, 30, 120]],
  [3, [30, 110, 210]],
  [6, [30, 190, 190]],
  [9, [80, 200, 60]],
  [12, [245, 220, 40]],
  [15, [235, 90, 30]],
  [18, [200, 30, 160]],
];

function interpolate(stops: readonly Stop[], v: number, descending: boolean): Rgb {
  const first = stops[0]!, last = stops[stops.length - 1]!;
  if (descending ? v >= first[0] : v <= first[0]) return first[1];
  if (descending ? v <= last[0] : v >= last[0]) return last[1];
  for (let i = 0; i < stops.length - 1; i++) {
    const [a, ca] = stops[i]!;
    const [b, cb] = stops[i + 1]!;
    const inside = descending ? v <= a && v > b : v >= a && v < b;
    if (!inside || a === b) continue;
    const f = (v - a) / (b - a);
    return [Math.round(ca[0] + f * (cb[0] - ca[0])), Math.round(ca[1] + f * (cb[1] - ca[1])), Math.round(ca[2] + f * (cb[2] - ca[2]))];
  }
  return last[1];
}

/** Colour per 0.1 K from 150 K to 350 K. */
const IR_LUT = (() => {
  const lut = new Uint8Array(2001 * 3);
  for (let i = 0; i <= 2000; i++) {
    const c = interpolate(ENHANCED_IR, 150 + i / 10 - 273.15, true);
    lut.set(c, i * 3);
  }
  return lut;
})();

function enhancedIrPixels(m: MergedRasters, out: Uint8Array, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const v = m.bt[i]!;
    if (v === 0) continue; // transparent: space or no value
    const k = Math.max(0, Math.min(2000, Math.round((v / 100 - 150) * 10)));
    out[i * 4] = IR_LUT[k * 3]!;
    out[i * 4 + 1] = IR_LUT[k * 3 + 1]!;
    out[i * 4 + 2] = IR_LUT[k * 3 + 2]!;
    out[i * 4 + 3] = 255;
  }
}

function cloudTopHeightPixels(m: MergedRasters, out: Uint8Array, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const mask = m.cloud[i]!;
    if (mask === CLOUD.NODATA) continue;
    let c: Rgb = [38, 38, 38];
    if (mask === CLOUD.CLOUD && m.cth[i] !== CTH_NONE) c = interpolate(CTH_RAMP, m.cth[i]! / 1000, false);
    out.set(c, i * 4);
    out[i * 4 + 3] = 255;
  }
}

type PixelFn = (m: MergedRasters, out: Uint8Array, from: number, to: number) => void;

/** A product's RGBA, one row at a time, with a turn for the loop whenever the slice is used up. */
async function rgbaSliced(m: MergedRasters, pixels: PixelFn, slicer: TimeSlicer): Promise<Uint8Array> {
  const out = new Uint8Array(m.width * m.height * 4);
  for (let r = 0; r < m.height; r++) {
    pixels(m, out, r * m.width, (r + 1) * m.width);
    if (slicer.due()) await slicer.pause();
  }
  return out;
}

export function enhancedIrRgba(m: MergedRasters): Uint8Array {
  const out = new Uint8Array(m.width * m.height * 4);
  enhancedIrPixels(m, out, 0, m.bt.length);
  return out;
}

export function cloudTopHeightRgba(m: MergedRasters): Uint8Array {
  const out = new Uint8Array(m.width * m.height * 4);
  cloudTopHeightPixels(m, out, 0, m.cloud.length);
  return out;
}

export function enhancedIrRgbaSliced(m: MergedRasters, slicer: TimeSlicer): Promise<Uint8Array> {
  return rgbaSliced(m, enhancedIrPixels, slicer);
}

export function cloudTopHeightRgbaSliced(m: MergedRasters, slicer: TimeSlicer): Promise<Uint8Array> {
  return rgbaSliced(m, cloudTopHeightPixels, slicer);
}

export interface RenderedProduct {
  /** Asset key in the STAC item, e.g. `enhanced-ir` or `enhanced-ir-webp`. */
  asset: string;
  /** File name, e.g. `enhanced-ir.png`. */
  name: string;
  mediaType: 'image/png' | 'image/webp';
  title: string;
  data: Buffer;
  width: number;
  height: number;
}

async function encode(rgba: Uint8Array, width: number, height: number, base: string, title: string): Promise<RenderedProduct[]> {
  const img = () => sharp(rgba, { raw: { width, height, channels: 4 } });
  const [png, webp] = await Promise.all([img().png({ compressionLevel: 6 }).toBuffer(), img().webp({ quality: 80 }).toBuffer()]);
  return [
    { asset: base, name: `${base}.png`, mediaType: 'image/png', title, data: png, width, height },
    { asset: `${base}-webp`, name: `${base}.webp`, mediaType: 'image/webp', title: `${title} (WebP)`, data: webp, width, height },
  ];
}

/** Every product of an IR scene (the visible band has no L2/L3, so no products). */
export async function renderProducts(m: MergedRasters, slicer: TimeSlicer = new TimeSlicer()): Promise<RenderedProduct[]> {
  const ir = await encode(await enhancedIrRgbaSliced(m, slicer), m.width, m.height, 'enhanced-ir', 'Enhanced IR (BD-curve colour breaks)');
  const cth = await encode(await cloudTopHeightRgbaSliced(m, slicer), m.width, m.height, 'cloud-top-height', 'Cloud-top height 0–18 km');
  return [...ir, ...cth];
}
