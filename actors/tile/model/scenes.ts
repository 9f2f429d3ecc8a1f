/**
 * Which synthetic scene a seed stands for, for training and evaluating the
 * cloud UNet. One function draws every scene's options from its seed, so the
 * training set (make-dataset.ts) and the held-out evaluation (evaluate.ts)
 * come from the same distribution and differ only in their seeds.
 *
 * The mix: mostly native 2 km crops (the resolution the pipeline runs at),
 * some coarser ones and whole disks at reduced resolution (so small test and
 * demo scenes segment sensibly too), both geometries, any season, cloudiness
 * from sparse to overcast, a tropical cyclone in some, and crops that reach
 * past the limb (no-data edges).
 */
import { scanToLonLat } from '../../ingest/imagery-geo.js';
import { Rng } from '../synthetic/noise.js';
import { ABI_PARAMS, ABI_STEP_2KM, AHI_PARAMS, type SceneOptions } from '../synthetic/scene.js';

/** Half the full disk's scan-angle extent (rad): 5424 × 56 µrad / 2. */
const DISK_HALF_RAD = (5424 * ABI_STEP_2KM) / 2;

export function sceneOptionsForSeed(seed: number, size: number): SceneOptions {
  const rng = new Rng(seed * 7919 + 17);
  const instrument = rng.next() < 0.7 ? 'abi' : 'ahi';
  const u = rng.next();
  // undefined step = the whole disk over `size` pixels
  const stepRad = u < 0.6 ? ABI_STEP_2KM : u < 0.8 ? 2 * ABI_STEP_2KM : u < 0.9 ? 4 * ABI_STEP_2KM : undefined;
  const centerX = stepRad === undefined ? 0 : rng.range(-0.95, 0.95) * DISK_HALF_RAD;
  const centerY = stepRad === undefined ? 0 : rng.range(-0.95, 0.95) * DISK_HALF_RAD;
  const time = new Date(Date.UTC(2026, 0, 1) + Math.floor(rng.next() * 365) * 86_400_000 + 18 * 3_600_000);
  const cloudiness = rng.range(0.4, 1.6);
  const opts: SceneOptions = { seed, width: size, height: size, instrument, centerX, centerY, time, cloudiness };
  if (stepRad !== undefined) opts.stepRad = stepRad;
  const withCyclone = rng.next() < 0.15;
  const eyeRadiusKm = rng.range(10, 40), eyeTempK = rng.range(250, 295), cloudTopTempK = rng.range(185, 215), radiusKm = rng.range(250, 500);
  if (withCyclone) {
    const params = { ...(instrument === 'abi' ? ABI_PARAMS : AHI_PARAMS), lon0: instrument === 'abi' ? -75.2 : 140.7 };
    // The cyclone sits at the crop centre when that is over the tropics.
    const ll = scanToLonLat(centerX, instrument === 'ahi' ? -centerY : centerY, params);
    if (ll && Math.abs(ll[1]) < 35) opts.cyclone = { lat: ll[1], lon: ll[0], eyeRadiusKm, eyeTempK, cloudTopTempK, radiusKm };
  }
  return opts;
}

/** "1-40,100,200-210" → [1..40, 100, 200..210]. */
export function parseSeeds(spec: string): number[] {
  const seeds: number[] = [];
  for (const part of spec.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+))?\s*$/.exec(part);
    if (!m) throw new Error(`bad seed list "${spec}" (want e.g. 1-40,100)`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let s = a; s <= b; s++) seeds.push(s);
  }
  return seeds;
}

/** --name value pairs from argv. */
export function parseArgs(argv: string[]): Map<string, string> {
  const args = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${a} needs a value`);
    args.set(a.slice(2), v);
    i++;
  }
  return args;
}
