/**
 * Deterministic randomness for the synthetic scene: a seeded generator for
 * discrete draws (cell positions, sizes) and fractal value noise for
 * continuous fields (cloud cover, heights, surface texture).
 *
 * The noise lattice lives in scan-angle space, not pixel space: the same seed
 * gives the same clouds at the same place whatever rectangle or pixel step a
 * scene uses, so a 1024² crop at 2 km matches the corresponding part of the
 * 5424² full disk.
 */

/** mulberry32 from a raw 32-bit state: a small, fast PRNG, uniform in [0, 1), good enough for synthesis (not cryptographic). */
export function mulberry32(state: number): () => number {
  let s = state | 0;
  return () => {
    let t = (s = (s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** mulberry32 from a hashed seed (nearby seeds give unrelated sequences), with the draws a scene needs. */
export class Rng {
  /** Uniform in [0, 1). */
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(hash3(seed, 0x9e3779b9, 0x85ebca6b));
  }
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
}

/** Integer hash of three 32-bit values (murmur3 finaliser style mixing). */
export function hash3(a: number, b: number, c: number): number {
  let h = Math.imul(a ^ 0x27d4eb2d, 0x165667b1) ^ Math.imul(b, 0xc2b2ae35) ^ Math.imul(c, 0x27d4eb2f);
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/** Scan-angle grid of a raster: x = x0 + col·dx, y = y0 + row·dy (rad). */
export interface AngleGrid {
  width: number;
  height: number;
  x0: number;
  dx: number;
  y0: number;
  dy: number;
}

/**
 * Add fractal value noise to `out` (width·height): `octaves` layers of
 * smoothly interpolated lattice noise, the first with lattice spacing
 * `cellRad`, each next one half the spacing and `gain` times the amplitude.
 * The sum is normalised to [0, 1] (mean 0.5). `stream` separates fields of
 * one seed. Octaves finer than a pixel add nothing visible and are skipped.
 */
export function addFbm(out: Float32Array, g: AngleGrid, seed: number, stream: number, cellRad: number, octaves: number, gain = 0.5, weight = 1): void {
  const pixel = Math.max(Math.abs(g.dx), Math.abs(g.dy));
  let amp = 1, total = 0;
  for (let o = 0; o < octaves; o++, amp *= gain) total += amp;
  amp = weight / total;
  let cell = cellRad;
  // A constant offset keeps the normalised sum centred at 0.5·weight for the octaves that are skipped.
  let skipped = 0;
  for (let o = 0; o < octaves; o++, amp *= gain, cell /= 2) {
    if (cell < pixel * 0.75) {
      skipped += amp;
      continue;
    }
    addOctave(out, g, hash3(seed, stream, o), cell, amp);
  }
  if (skipped > 0) for (let i = 0; i < out.length; i++) out[i]! += 0.5 * skipped;
}

function axis(n: number, v0: number, dv: number, cell: number): { idx: Int32Array; f: Float32Array; min: number; max: number } {
  const idx = new Int32Array(n);
  const f = new Float32Array(n);
  let min = Infinity, max = -Infinity;
  for (let i = 0; i < n; i++) {
    const u = (v0 + i * dv) / cell;
    const k = Math.floor(u);
    const t = u - k;
    idx[i] = k;
    f[i] = t * t * (3 - 2 * t); // smoothstep fade hides the lattice
    if (k < min) min = k;
    if (k > max) max = k;
  }
  return { idx, f, min, max };
}

function addOctave(out: Float32Array, g: AngleGrid, seed: number, cell: number, amp: number): void {
  const cx = axis(g.width, g.x0, g.dx, cell);
  const cy = axis(g.height, g.y0, g.dy, cell);
  const lw = cx.max - cx.min + 2;
  const lh = cy.max - cy.min + 2;
  const lattice = new Float32Array(lw * lh);
  for (let j = 0; j < lh; j++) {
    for (let i = 0; i < lw; i++) lattice[j * lw + i] = (hash3(seed, cx.min + i, cy.min + j) >>> 0) / 4294967296;
  }
  const colI = new Int32Array(g.width);
  for (let i = 0; i < g.width; i++) colI[i] = cx.idx[i]! - cx.min;
  // Bilinear interpolation done y-first: each row needs the lattice blended between its two lattice
  // rows once (lw values), then one lerp per pixel — the same surface as x-first, half the work.
  const blend = new Float64Array(lw);
  for (let r = 0; r < g.height; r++) {
    const jr = cy.idx[r]! - cy.min;
    const fy = cy.f[r]!;
    const row0 = jr * lw, row1 = row0 + lw;
    for (let i = 0; i < lw; i++) {
      const a = lattice[row0 + i]!;
      blend[i] = a + (lattice[row1 + i]! - a) * fy;
    }
    const base = r * g.width;
    for (let i = 0; i < g.width; i++) {
      const ii = colI[i]!;
      const v0 = blend[ii]!;
      out[base + i]! += (v0 + (blend[ii + 1]! - v0) * cx.f[i]!) * amp;
    }
  }
}
