/**
 * GOES ABI L1b radiance files (netCDF4/HDF5) → SceneBand, read with h5wasm.
 *
 * Names and meanings per the GOES-R PUG L1b vol. 3 as the real files carry
 * them (shared/data/goes_abi, the real CDL headers): `Rad(y, x)` short with
 * `_Unsigned` = "true", `_FillValue`, `scale_factor`, `add_offset`; `DQF(y, x)`
 * unsigned byte (fill -1 → 255); scalar `planck_fk1/fk2/bc1/bc2` (IR) and
 * `kappa0` (visible); x/y scan angles and `goes_imager_projection` (the
 * header part is imagery-header.ts parseAbi, shared with the ingest actor).
 *
 * Rad and DQF are read each in ONE dataset read into a typed array: a full
 * disk is 29 Mpx and the per-pixel work belongs to the L1 kernels.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import h5wasm from 'h5wasm/node';
import { ImageryFormatError, hdf5Reason, parseAbi, ready } from '../../ingest/imagery-header.js';
import type { Calibration, SceneBand, SceneGeo } from '../types.js';

type H5File = InstanceType<typeof h5wasm.File>;
interface H5Var {
  attrs: Record<string, { value: unknown }>;
  shape: number[] | null;
  value: unknown;
}

/** Every h5wasm failure as "this file is damaged", naming what was being read and HDF5's innermost reason. */
function h5<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ImageryFormatError) throw err;
    const reason = hdf5Reason(err);
    // Name the damage the way an operator reads it: a cut file, or bytes that do not decode.
    const kind = /truncated|eof/i.test(reason) ? 'truncated file' : /filter|inflate|checksum|signature|bad |corrupt|wrong/i.test(reason) ? 'corrupt file' : 'unreadable file';
    throw new ImageryFormatError(`${kind}: cannot read ${what}: HDF5: ${reason}`, { cause: err });
  }
}

function variable(f: H5File, name: string): H5Var {
  const v = h5(`variable ${name}`, () => f.get(name)) as unknown as H5Var | null;
  if (!v) throw new ImageryFormatError(`not an ABI L1b file: variable ${name} is missing`);
  return v;
}

function scalarOf(v: unknown, what: string): number {
  const x = ArrayBuffer.isView(v) ? (v as unknown as ArrayLike<number | bigint>)[0] : Array.isArray(v) ? v[0] : v;
  const n = typeof x === 'bigint' ? Number(x) : x;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new ImageryFormatError(`${what} is not a finite number`);
  return n;
}

function attrNum(v: H5Var, name: string, of: string): number {
  const a = h5(`${of}:${name}`, () => v.attrs[name]);
  if (!a) throw new ImageryFormatError(`${of} has no attribute ${name}`);
  return scalarOf(h5(`${of}:${name}`, () => a.value), `${of}:${name}`);
}

/** A scalar coefficient variable; its _FillValue (-999 in the product) means "not given for this band". */
function coefficient(f: H5File, name: string): number {
  const v = variable(f, name);
  const value = scalarOf(h5(name, () => v.value), name);
  const fill = v.attrs['_FillValue'];
  if (fill && value === scalarOf(h5(`${name}:_FillValue`, () => fill.value), `${name}:_FillValue`)) throw new ImageryFormatError(`${name} is its _FillValue: the file gives no ${name} for this band`);
  return value;
}

/** `G16` → `goes-16` (STAC platform). */
export function goesPlatform(platformId: string | null): string {
  const m = /^G(\d{2})$/.exec(platformId ?? '');
  if (!m) throw new ImageryFormatError(`platform_ID ${JSON.stringify(platformId)} is not a GOES-R series satellite (G16..G19)`);
  return `goes-${m[1]}`;
}

/** The whole band from an open file. */
export function readAbiFile(f: H5File): SceneBand {
  const head = parseAbi(f, true);
  const [ny, nx] = head.shape;
  const rad = variable(f, 'Rad');
  const unsigned = h5('Rad:_Unsigned', () => rad.attrs['_Unsigned']?.value);
  if (unsigned !== undefined && String(unsigned).toLowerCase() !== 'true') throw new ImageryFormatError('Rad:_Unsigned is not "true": counts would be signed');
  const scale = attrNum(rad, 'scale_factor', 'Rad');
  const offset = attrNum(rad, 'add_offset', 'Rad');
  // _FillValue is stored as the variable's (signed) short; compared on unsigned counts.
  const fill = attrNum(rad, '_FillValue', 'Rad') & 0xffff;
  const raw = h5('Rad data', () => rad.value);
  if (!(raw instanceof Int16Array || raw instanceof Uint16Array) || raw.length !== nx * ny) {
    throw new ImageryFormatError(`Rad data is not ${ny}×${nx} 16-bit counts`);
  }
  const counts = new Uint16Array(raw.buffer, raw.byteOffset, raw.length);

  const dqfVar = variable(f, 'DQF');
  const dqfShape = h5('DQF shape', () => dqfVar.shape);
  if (!dqfShape || dqfShape[0] !== ny || dqfShape[1] !== nx) throw new ImageryFormatError(`DQF shape ${JSON.stringify(dqfShape)} ≠ Rad's [${ny}, ${nx}]`);
  const dq = h5('DQF data', () => dqfVar.value);
  if (!(dq instanceof Int8Array || dq instanceof Uint8Array) || dq.length !== nx * ny) throw new ImageryFormatError('DQF data is not bytes');
  const dqf = new Uint8Array(dq.buffer, dq.byteOffset, dq.length);

  const band = head.bandId;
  let calibration: Calibration;
  // ABI bands 1–6 are reflective (kappa0), 7–16 emissive (Planck) — GOES-R PUG L1b Table 5.1.3.6.3-1.
  if (band <= 6) {
    calibration = { instrument: 'abi', kind: 'vis', scale, offset, fill, kappa0: coefficient(f, 'kappa0') };
  } else {
    calibration = {
      instrument: 'abi',
      kind: 'ir',
      scale,
      offset,
      fill,
      fk1: coefficient(f, 'planck_fk1'),
      fk2: coefficient(f, 'planck_fk2'),
      bc1: coefficient(f, 'planck_bc1'),
      bc2: coefficient(f, 'planck_bc2'),
    };
  }
  const p = head.projection;
  if (p.sweep !== 'x') throw new ImageryFormatError(`sweep_angle_axis ${JSON.stringify(p.sweep)}: the GOES fixed grid sweeps x`);
  const geo: SceneGeo = {
    params: { sweep: 'x', h: p.perspectivePointHeight + p.semiMajorAxis, req: p.semiMajorAxis, rpol: p.semiMinorAxis, lon0: p.lon0 },
    x0: head.x0,
    dx: head.dx,
    y0: head.y0,
    dy: head.dy,
  };
  return {
    instrument: 'abi',
    platform: goesPlatform(head.platformId),
    band,
    kind: calibration.kind,
    wavelengthUm: head.wavelength,
    width: nx,
    height: ny,
    counts,
    dqf,
    calibration,
    geo,
    start: head.start,
    end: head.end,
  };
}

const HDF5_MAGIC = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

export function isHdf5(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 8 && HDF5_MAGIC.every((b, i) => bytes[i] === b);
}

/** Read an ABI L1b file from disk. */
export async function readAbiScene(path: string): Promise<SceneBand> {
  await ready();
  const f = h5('the HDF5 file', () => new h5wasm.File(path, 'r'));
  try {
    return readAbiFile(f);
  } finally {
    try {
      f.close();
    } catch {
      // a file whose metadata failed to read can refuse to close; nothing is held then
    }
  }
}

/** Read an ABI L1b file from its bytes (h5wasm opens files, so they go through a private temporary file). */
export async function readAbiSceneBytes(bytes: Uint8Array): Promise<SceneBand> {
  if (!isHdf5(bytes)) throw new ImageryFormatError('not an HDF5/netCDF4 file (no HDF5 signature at offset 0)');
  const dir = await mkdtemp(join(tmpdir(), 'sw-abi-scene-'));
  try {
    const path = join(dir, 'scene.nc');
    await writeFile(path, bytes, { mode: 0o600 });
    return await readAbiScene(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
