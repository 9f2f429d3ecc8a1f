#!/usr/bin/env node
/**
 * Writes synthetic demo scenes as real files into a folder: GOES ABI L1b
 * band-13 netCDF4 and/or Himawari HSD band-13 bz2 segments, named as the
 * NOAA buckets name them, so the imagery ingest's directory source
 * (STARWEATHER_IMAGERY_DIR) registers them like downloaded files. Each file
 * is written under a temporary name and renamed into place, so a poll never
 * sees half a file.
 *
 *   npm run synth -- --out /data/imagery --instrument both --count 3 --cyclone 18,-60
 *
 * Prints one JSON line per scene written (instrument, time, seed, files).
 */
import { parseArgs } from 'node:util';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { realpathSync } from 'node:fs';
import { StarWeatherError, errorMessage } from '../../../protocol/errors.js';
import { ProgressLine, bar } from '../../runtime/progress.js';
import { ABI_FULL_DISK_2KM, ABI_STEP_2KM, AHI_FULL_DISK_2KM, generateScene, type CycloneSpec, type SceneOptions } from './scene.js';
import { abiFileName, abiSceneSpec, writeAbiFile } from './write-abi.js';
import { ahiSceneSegments } from './write-ahi.js';

const USAGE = `Usage: synth --out <dir> [options]

Writes synthetic band-13 scenes as real ABI L1b / AHI HSD files.

Options:
  --out <dir>            Folder to write into (created if missing)
  --instrument <i>       abi, ahi or both (default both)
  --size <n>             Pixels a side, the whole disk at reduced resolution
                         (default 1000; AHI needs a multiple of 10)
  --full-disk            Native 2 km full disk (ABI 5424², AHI 5500²); slow to
                         compress for AHI (pure-JS bzip2)
  --seed <n>             Scene seed (default 1); scene i uses seed + i
  --time <iso>           Time of the first scene (default: now, to the 10 min)
  --count <n>            Scenes per instrument, 10 minutes apart (default 1)
  --cyclone <lat,lon[,eyeRadiusKm,eyeTempK,cloudTopTempK,radiusKm]>
                         Add a tropical cyclone (defaults 20 km, 285 K, 195 K, 500 km)
  --visible              Also write an ABI band-2 (0.64 µm reflectance) file
  --no-compress          AHI segments as plain .DAT (default: .DAT.bz2)
  -h, --help             This help
`;

export interface SynthOptions {
  out: string;
  instruments: Array<'abi' | 'ahi'>;
  size: number | null;
  fullDisk: boolean;
  seed: number;
  time: Date;
  count: number;
  cyclone: CycloneSpec | null;
  compress: boolean;
  visible: boolean;
}

function usage(msg: string): never {
  throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', msg);
}

function int(v: string | undefined, name: string, min: number, max: number): number | null {
  if (v === undefined) return null;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) usage(`--${name} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
  return n;
}

export function parseCyclone(v: string): CycloneSpec {
  const parts = v.split(',').map((s) => Number(s.trim()));
  if (parts.length < 2 || parts.length > 6 || parts.some((n) => !Number.isFinite(n))) usage(`--cyclone wants lat,lon[,eyeRadiusKm,eyeTempK,cloudTopTempK,radiusKm], got ${JSON.stringify(v)}`);
  const [lat, lon, eyeRadiusKm = 20, eyeTempK = 285, cloudTopTempK = 195, radiusKm = 500] = parts as [number, number, ...number[]];
  if (Math.abs(lat) > 60 || Math.abs(lon) > 180) usage('--cyclone lat must be within ±60°, lon within ±180°');
  return { lat, lon, eyeRadiusKm, eyeTempK, cloudTopTempK, radiusKm };
}

export function parseSynthArgs(argv: string[], now = new Date()): SynthOptions | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      instrument: { type: 'string', default: 'both' },
      size: { type: 'string' },
      'full-disk': { type: 'boolean', default: false },
      seed: { type: 'string' },
      time: { type: 'string' },
      count: { type: 'string' },
      cyclone: { type: 'string' },
      'no-compress': { type: 'boolean', default: false },
      visible: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return null;
  if (!values.out) usage('--out <dir> is required');
  const inst = values.instrument;
  if (inst !== 'abi' && inst !== 'ahi' && inst !== 'both') usage(`--instrument must be abi, ahi or both, got ${JSON.stringify(inst)}`);
  let time = new Date(Math.floor(now.getTime() / 600_000) * 600_000);
  if (values.time !== undefined) {
    time = new Date(values.time);
    if (Number.isNaN(time.getTime())) usage(`--time is not a date: ${JSON.stringify(values.time)}`);
  }
  const size = int(values.size, 'size', 10, 11000);
  if (inst !== 'abi' && size !== null && size % 10 !== 0) usage(`AHI scenes are 10 segments: --size ${size} is not a multiple of 10`);
  return {
    out: values.out,
    instruments: inst === 'both' ? ['abi', 'ahi'] : [inst],
    size,
    fullDisk: values['full-disk'] ?? false,
    seed: int(values.seed, 'seed', -2147483648, 2147483647) ?? 1,
    time,
    count: int(values.count, 'count', 1, 1000) ?? 1,
    cyclone: values.cyclone !== undefined ? parseCyclone(values.cyclone) : null,
    compress: !(values['no-compress'] ?? false),
    visible: values.visible ?? false,
  };
}

export interface WrittenScene {
  instrument: 'abi' | 'ahi';
  time: string;
  seed: number;
  files: string[];
}

async function atomicWrite(dir: string, name: string, bytes: Uint8Array): Promise<string> {
  const tmp = join(dir, `.${name}.part`);
  const path = join(dir, name);
  await writeFile(tmp, bytes);
  await rename(tmp, path);
  return path;
}

/** Generate and write the scenes; returns what was written. */
export async function synthesize(o: SynthOptions, onScene?: (s: WrittenScene) => void, onProgress?: (text: string, fraction: number) => void): Promise<WrittenScene[]> {
  await mkdir(o.out, { recursive: true });
  const out: WrittenScene[] = [];
  const total = o.count * o.instruments.length;
  for (let i = 0; i < o.count; i++) {
    const time = new Date(o.time.getTime() + i * 600_000);
    for (const instrument of o.instruments) {
      const size = o.fullDisk ? (instrument === 'abi' ? ABI_FULL_DISK_2KM : AHI_FULL_DISK_2KM) : (o.size ?? 1000);
      // Before the (synchronous, up to a minute at full disk) generation, so a user sees what it is doing.
      onProgress?.(`scene ${out.length + 1} of ${total}: ${instrument.toUpperCase()} ${size}×${size} at ${time.toISOString()}`, out.length / total);
      const opts: SceneOptions = { seed: o.seed + i, width: size, height: size, instrument, time, cyclone: o.cyclone, reflectance: o.visible && instrument === 'abi' };
      if (o.fullDisk && instrument === 'abi') opts.stepRad = ABI_STEP_2KM;
      const scene = generateScene(opts);
      const files: string[] = [];
      if (instrument === 'abi') {
        for (const band of o.visible ? ([13, 2] as const) : ([13] as const)) {
          const spec = abiSceneSpec(scene, { sceneId: 'Full Disk', band });
          const name = abiFileName(spec);
          const tmp = join(o.out, `.${name}.part`);
          try {
            await writeAbiFile(tmp, spec);
            await rename(tmp, join(o.out, name));
          } catch (err) {
            await rm(tmp, { force: true });
            throw err;
          }
          files.push(join(o.out, name));
        }
      } else {
        const { files: segs } = ahiSceneSegments(scene, { compress: o.compress });
        for (const s of segs) files.push(await atomicWrite(o.out, s.name, s.bytes));
      }
      const w = { instrument, time: time.toISOString(), seed: o.seed + i, files };
      out.push(w);
      onScene?.(w);
    }
  }
  return out;
}

async function main(): Promise<number> {
  let o: SynthOptions | null;
  try {
    o = parseSynthArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${errorMessage(err)}\n\n${USAGE}`);
    return 2;
  }
  if (!o) {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    const progress = new ProgressLine('synth');
    try {
      await synthesize(
        o,
        (s) => {
          progress.end();
          process.stdout.write(`${JSON.stringify(s)}\n`);
        },
        (text, fraction) => progress.update(`${bar(fraction)} ${text}`),
      );
    } finally {
      progress.end();
    }
    return 0;
  } catch (err) {
    process.stderr.write(`synth: ${errorMessage(err)}\n`);
    return err instanceof StarWeatherError && err.code === 'SW_ERR_INVALID_ARGUMENT' ? 2 : 1;
  }
}

function isMain(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) process.exitCode = await main();
