/**
 * The tile pipeline's shared data contract: what a reader hands to L1, what
 * L1 hands to L2 and L3, and how a scene is cut into tiles. Readers
 * (formats/), kernels (kernels/), segmentation (segment/), the synthetic
 * generator (synthetic/) and the pipeline (pipeline/) all import these types
 * from here and define no rival shapes.
 *
 * Conventions: rasters are row-major, north to south, west to east (row 0 is
 * the northernmost line, as both instruments scan and store it). Masked or
 * off-disk pixels are NaN in Float32 rasters.
 */
import type { GeosParams } from '../ingest/imagery-geo.js';

export type Instrument = 'abi' | 'ahi';
/** IR bands calibrate to brightness temperature (K), visible/near-IR ones to reflectance (0..~1.2). */
export type BandKind = 'ir' | 'vis';

/**
 * Count → physical-quantity coefficients, as each file carries them.
 * ABI (GOES-R PUG L1b; shared/data/goes_abi/abi_l1b_reference.md):
 *   L = count·scale + offset; BT = (fk2 / ln(fk1/L + 1) − bc1) / bc2; R = kappa0·L.
 *   `fill` is the raw-count _FillValue (compared on raw counts).
 * AHI (JMA HSD guide via satpy; shared/data/himawari_hsd/hsd_format.md):
 *   L = count·gain + offset (W m⁻² sr⁻¹ µm⁻¹); λ = wavelengthUm·1e-6 m;
 *   Te = (h·c/(k·λ)) / ln(2·h·c²/(L·1e6·λ⁵) + 1); BT = c0 + c1·Te + c2·Te²;
 *   R = L·albedo. Counts equal to errorCount or outsideCount are masked.
 */
export type Calibration =
  | { instrument: 'abi'; kind: 'ir'; scale: number; offset: number; fill: number; fk1: number; fk2: number; bc1: number; bc2: number }
  | { instrument: 'abi'; kind: 'vis'; scale: number; offset: number; fill: number; kappa0: number }
  | {
      instrument: 'ahi';
      kind: 'ir';
      gain: number;
      offset: number;
      errorCount: number;
      outsideCount: number;
      wavelengthUm: number;
      c0: number;
      c1: number;
      c2: number;
      /** speed of light (m/s), Planck (J s) and Boltzmann (J/K) constants as the file gives them */
      lightSpeed: number;
      planck: number;
      boltzmann: number;
    }
  | { instrument: 'ahi'; kind: 'vis'; gain: number; offset: number; errorCount: number; outsideCount: number; albedo: number };

/**
 * Pixel → scan angle, linear in column and row: x = x0 + col·dx,
 * y = y0 + row·dy (rad, pixel centres), in the north-up convention that
 * imagery-geo.ts scanToLonLat takes for `params.sweep` (for AHI the CGMS
 * line angle is negated, as ahiScanRect does).
 */
export interface SceneGeo {
  params: GeosParams;
  x0: number;
  dx: number;
  y0: number;
  dy: number;
}

/** One band of one scene, as read from its file (ABI) or its segments (AHI). */
export interface SceneBand {
  instrument: Instrument;
  /** e.g. `goes-16`, `goes-18`, `himawari-9` (lower case, as STAC `platform`). */
  platform: string;
  band: number;
  kind: BandKind;
  wavelengthUm: number;
  width: number;
  height: number;
  /** Raw unsigned counts, width·height. */
  counts: Uint16Array;
  /** ABI DQF per pixel (0 good, 1 conditionally usable, 2 out of range, 3 no value, 4 focal plane temperature exceeded; 255 = DQF fill); null for AHI. */
  dqf: Uint8Array | null;
  calibration: Calibration;
  geo: SceneGeo;
  start: Date;
  end: Date;
}

/** Per-pixel QA flags (bits), shared by L1 and imagery QA. */
export const QA = {
  /** count is the fill, error or outside-scan value */
  FILL: 1,
  /** ABI DQF ≥ 2 (out of range, no value, focal plane temperature) */
  DQF: 2,
  /** physically impossible: BT outside [BT_MIN_K, BT_MAX_K], reflectance outside [0, REFL_MAX] */
  RANGE: 4,
  /** disagrees with its neighbours (isolated outlier) */
  ISOLATED: 8,
  /** off the earth disk (no geolocation) */
  SPACE: 16,
} as const;

export const BT_MIN_K = 150;
export const BT_MAX_K = 350;
export const REFL_MAX = 1.2;

/** Counts of masked pixels by reason, for the item's QA summary. */
export interface QaCounts {
  total: number;
  valid: number;
  fill: number;
  dqf: number;
  range: number;
  isolated: number;
  space: number;
}

/** A pixel rectangle of a scene. */
export interface PixelRect {
  col0: number;
  row0: number;
  width: number;
  height: number;
}

/** One tile: its own pixels (core) and what it reads for neighbourhood operations (halo, clipped to the scene). */
export interface TileSpec {
  index: number;
  core: PixelRect;
  halo: PixelRect;
}

/** Cloud mask values (L2 output). */
export const CLOUD = { CLEAR: 0, CLOUD: 1, NODATA: 255 } as const;

/** A tropical-cyclone fix (L3). */
export interface CycloneFix {
  lat: number;
  lon: number;
  /** Warmest eye pixel (K), null for a CDO (no eye) scene. */
  eyeTempK: number | null;
  /** Surrounding cloud temperature (K), as the Dvorak/ADT step uses it. */
  cloudTempK: number;
  scene: 'eye' | 'cdo';
  tNumber: number;
  ci: number;
  vmaxKt: number;
  mslpHpa: number;
  /** Distance (km) from the fix to where the image ends (border or limb); unknown when absent. */
  edgeKm?: number;
  /** Ring asymmetry (K): mean absolute difference of opposite sector means, as the ADT measures it; unknown when absent. */
  symmetryK?: number;
}
