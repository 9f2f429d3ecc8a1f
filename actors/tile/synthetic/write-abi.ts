/**
 * Writes real GOES ABI L1b radiance files (netCDF4/HDF5 through h5wasm) with
 * the variable and attribute names, types and layout of the real product
 * (shared/data/goes_abi: the real CDL headers and abi_l1b_reference.md):
 * Rad short with _Unsigned/_FillValue/scale_factor/add_offset, chunked and
 * deflated; DQF unsigned byte; x/y short scan angles with scale/offset;
 * goes_imager_projection; t, time_bounds, band_id, band_wavelength, planck_*,
 * kappa0, esun, earth_sun_distance_anomaly_in_AU.
 *
 * writeAbiFile writes given counts (any band; tests and fault cases);
 * writeAbiScene turns a synthetic scene's band-13 BT into counts by
 * inverting the PUG calibration: L = fk1 / (exp(fk2 / (bc1 + bc2·BT)) − 1),
 * count = round((L − add_offset) / scale_factor), 12 bits; or its band-2
 * reflectance R by L = R / kappa0, kappa0 = π·d²/esun.
 */
import h5wasm from 'h5wasm/node';
import { ready } from '../../ingest/imagery-header.js';
import { StarWeatherError } from '../../../protocol/errors.js';
import type { SceneGeo } from '../types.js';
import type { SyntheticScene } from './scene.js';

const J2000_12 = Date.UTC(2000, 0, 1, 12, 0, 0);

/** GOES-16 band-13 coefficients (real CDL scale/offset; planck_* per abi_l1b_reference.md, physics-checked there). */
export const ABI_BAND13 = { scale: 0.04572892, offset: -1.6443, fk1: 10803.3, fk2: 1392.74, bc1: 0.0755, bc2: 0.99975, wavelengthUm: 10.33 } as const;
/** GOES-16 band-2 scale/offset (PUG table as transcribed in abi_l1b_reference.md). */
export const ABI_BAND2 = { scale: 0.158592367, offset: -20.28991094, wavelengthUm: 0.64, esun: 1631.3351 } as const;

export type AbiFileCalibration =
  | { kind: 'ir'; scale: number; offset: number; fk1: number; fk2: number; bc1: number; bc2: number }
  | { kind: 'vis'; scale: number; offset: number; kappa0: number; esun: number; earthSunDistanceAu: number };

export interface AbiFileSpec {
  /** G16..G19 */
  platformId: string;
  band: number;
  wavelengthUm: number;
  /** 'Full Disk' | 'CONUS' | 'Mesoscale' */
  sceneId: string;
  width: number;
  height: number;
  /** Unsigned 12-bit counts (fill 4095), width·height. */
  counts: Uint16Array;
  /** Rad _FillValue (default 4095, the 12-bit bands'). */
  fill?: number;
  /** DQF per pixel (0..4, 255 = fill). */
  dqf: Uint8Array;
  calibration: AbiFileCalibration;
  geo: SceneGeo;
  start: Date;
  end: Date;
}

export const ABI_FILL = 4095;
export const ABI_MAX_COUNT = 4094;
/** DQF values (PUG L1b DQF flag_values); 255 is the unsigned view of the fill -1. */
export const ABI_DQF = { GOOD: 0, CONDITIONAL: 1, OUT_OF_RANGE: 2, NO_VALUE: 3, FOCAL_PLANE_TEMP: 4, FILL: 255 } as const;

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

/** YYYYJJJHHMMSSt as in ABI file names. */
function goesStamp(t: Date): string {
  const doy = Math.floor((Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()) - Date.UTC(t.getUTCFullYear(), 0, 1)) / 86_400_000) + 1;
  return `${t.getUTCFullYear()}${pad(doy, 3)}${pad(t.getUTCHours(), 2)}${pad(t.getUTCMinutes(), 2)}${pad(t.getUTCSeconds(), 2)}${Math.floor(t.getUTCMilliseconds() / 100)}`;
}

/** The product's file name (OR_ABI-L1b-Rad{F,C,M}-M6Cbb_Gnn_s…_e…_c….nc). */
export function abiFileName(spec: Pick<AbiFileSpec, 'platformId' | 'band' | 'sceneId' | 'start' | 'end'>): string {
  const sector = spec.sceneId === 'Full Disk' ? 'F' : spec.sceneId === 'CONUS' ? 'C' : 'M1';
  const created = new Date(spec.end.getTime() + 5_000);
  return `OR_ABI-L1b-Rad${sector}-M6C${pad(spec.band, 2)}_${spec.platformId}_s${goesStamp(spec.start)}_e${goesStamp(spec.end)}_c${goesStamp(created)}.nc`;
}

type H5File = InstanceType<typeof h5wasm.File>;
type H5Dataset = ReturnType<H5File['create_dataset']>;

/**
 * The Rad variable with the product's attributes (real CDL): short, _Unsigned,
 * chunked and deflated, pixel data left to the caller (written after all
 * metadata, as netCDF-C does). `ir` picks the per-wavenumber units of bands 7–16.
 */
export function createRadVariable(f: H5File, o: { ny: number; nx: number; chunk: [number, number]; fill: number; ir: boolean; scale: number; offset: number }): H5Dataset {
  const rad = f.create_dataset({ name: 'Rad', data: new Int16Array(o.ny * o.nx), shape: [o.ny, o.nx], dtype: '<h', chunks: o.chunk, compression: 'gzip', compression_opts: 1 });
  rad.create_attribute('_FillValue', o.fill, null, '<h');
  rad.create_attribute('long_name', 'ABI L1b Radiances');
  rad.create_attribute('standard_name', o.ir ? 'toa_outgoing_radiance_per_unit_wavenumber' : 'toa_outgoing_radiance_per_unit_wavelength');
  rad.create_attribute('_Unsigned', 'true');
  rad.create_attribute('sensor_band_bit_depth', 12, null, '<b');
  rad.create_attribute('valid_range', [0, o.fill - 1], [2], '<h');
  rad.create_attribute('scale_factor', o.scale, null, '<f');
  rad.create_attribute('add_offset', o.offset, null, '<f');
  rad.create_attribute('units', o.ir ? 'mW m-2 sr-1 (cm-1)-1' : 'W m-2 sr-1 um-1');
  rad.create_attribute('coordinates', 'band_id band_wavelength t y x');
  rad.create_attribute('grid_mapping', 'goes_imager_projection');
  rad.create_attribute('cell_methods', 't: point area: point');
  rad.create_attribute('ancillary_variables', 'DQF');
  return rad;
}

/** The DQF variable (unsigned byte, PUG flag values), chunked like Rad; pixel data left to the caller. */
export function createDqfVariable(f: H5File, o: { ny: number; nx: number; chunk: [number, number] }): H5Dataset {
  const dq = f.create_dataset({ name: 'DQF', data: new Int8Array(o.ny * o.nx), shape: [o.ny, o.nx], dtype: '<b', chunks: o.chunk, compression: 'gzip', compression_opts: 1 });
  dq.create_attribute('_FillValue', -1, null, '<b');
  dq.create_attribute('long_name', 'ABI L1b Radiances data quality flags');
  dq.create_attribute('standard_name', 'status_flag');
  dq.create_attribute('_Unsigned', 'true');
  dq.create_attribute('valid_range', [0, 4], [2], '<b');
  dq.create_attribute('units', '1');
  dq.create_attribute('flag_values', [0, 1, 2, 3, 4], [5], '<b');
  dq.create_attribute('flag_meanings', 'good_pixel_qf conditionally_usable_pixel_qf out_of_range_pixel_qf no_value_pixel_qf focal_plane_temperature_threshold_exceeded_qf');
  dq.create_attribute('number_of_qf_values', 5, null, '<b');
  return dq;
}

/** A scan-angle axis as shorts 0..n-1 with scale = step and offset = the first centre (as the product stores them). */
export function createScanAxis(f: H5File, name: 'x' | 'y', n: number, first: number, step: number): void {
  const v = new Int16Array(n);
  for (let i = 0; i < n; i++) v[i] = i;
  const d = f.create_dataset({ name, data: v, shape: [n], dtype: '<h' });
  d.create_attribute('scale_factor', step, null, '<f');
  d.create_attribute('add_offset', first, null, '<f');
  d.create_attribute('units', 'rad');
  d.create_attribute('axis', name.toUpperCase());
  d.create_attribute('long_name', `GOES fixed grid projection ${name}-coordinate`);
  d.create_attribute('standard_name', `projection_${name}_coordinate`);
}

/** goes_imager_projection (CF geostationary grid mapping) of a sweep-x fixed grid; h, req, rpol in m. */
export function createProjectionVariable(f: H5File, p: { h: number; req: number; rpol: number; lon0: number }): void {
  const proj = f.create_dataset({ name: 'goes_imager_projection', data: -2147483647, dtype: '<i' });
  proj.create_attribute('long_name', 'GOES-R ABI fixed grid projection');
  proj.create_attribute('grid_mapping_name', 'geostationary');
  proj.create_attribute('perspective_point_height', p.h - p.req, null, '<d');
  proj.create_attribute('semi_major_axis', p.req, null, '<d');
  proj.create_attribute('semi_minor_axis', p.rpol, null, '<d');
  proj.create_attribute('inverse_flattening', p.req / (p.req - p.rpol), null, '<d');
  proj.create_attribute('latitude_of_projection_origin', 0, null, '<d');
  proj.create_attribute('longitude_of_projection_origin', p.lon0, null, '<d');
  proj.create_attribute('sweep_angle_axis', 'x');
}

export async function writeAbiFile(path: string, s: AbiFileSpec): Promise<void> {
  const n = s.width * s.height;
  if (s.counts.length !== n || s.dqf.length !== n) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `counts/dqf must have ${n} pixels`);
  if (s.width > 32767 || s.height > 32767) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'x/y are shorts: at most 32767 pixels a side');
  await ready();
  const f = new h5wasm.File(path, 'w');
  try {
    const fa = (name: string, v: string | number, dtype?: string): void => void f.create_attribute(name, v, null, dtype ?? null);
    fa('naming_authority', 'gov.nesdis.noaa');
    fa('Conventions', 'CF-1.7');
    fa('Metadata_Conventions', 'Unidata Dataset Discovery v1.0');
    fa('project', 'GOES');
    fa('production_site', 'StarWeather synthetic');
    fa('spatial_resolution', `${Math.round((Math.abs(s.geo.dx) * 35786023) / 1000)}km at nadir`);
    fa('platform_ID', s.platformId);
    fa('instrument_type', 'GOES R Series Advanced Baseline Imager');
    fa('scene_id', s.sceneId);
    fa('title', 'ABI L1b Radiances');
    fa('processing_level', 'L1b');
    fa('cdm_data_type', 'Image');
    fa('dataset_name', abiFileName(s));
    fa('timeline_id', 'ABI Mode 6');
    fa('time_coverage_start', s.start.toISOString());
    fa('time_coverage_end', s.end.toISOString());

    const [ny, nx] = [s.height, s.width];
    // Chunked and deflated like the real product; netCDF-C writes metadata before data, and so does this.
    const chunk: [number, number] = [Math.min(ny, 226), Math.min(nx, 226)];
    const ir = s.calibration.kind === 'ir';
    const rad = createRadVariable(f, { ny, nx, chunk, fill: s.fill ?? ABI_FILL, ir, scale: s.calibration.scale, offset: s.calibration.offset });
    const dq = createDqfVariable(f, { ny, nx, chunk });

    const secs = (d: Date): number => (d.getTime() - J2000_12) / 1000;
    const t = f.create_dataset({ name: 't', data: (secs(s.start) + secs(s.end)) / 2, dtype: '<d' });
    t.create_attribute('long_name', 'J2000 epoch mid-point between the start and end image scan in seconds');
    t.create_attribute('standard_name', 'time');
    t.create_attribute('units', 'seconds since 2000-01-01 12:00:00');
    t.create_attribute('axis', 'T');
    t.create_attribute('bounds', 'time_bounds');

    createScanAxis(f, 'y', ny, s.geo.y0, s.geo.dy);
    createScanAxis(f, 'x', nx, s.geo.x0, s.geo.dx);
    f.create_dataset({ name: 'time_bounds', data: new Float64Array([secs(s.start), secs(s.end)]), shape: [2], dtype: '<d' });

    const p = s.geo.params;
    createProjectionVariable(f, p);

    const yc = s.geo.y0 + ((ny - 1) / 2) * s.geo.dy, xc = s.geo.x0 + ((nx - 1) / 2) * s.geo.dx;
    f.create_dataset({ name: 'y_image', data: yc, dtype: '<f' });
    f.create_dataset({ name: 'x_image', data: xc, dtype: '<f' });
    f.create_dataset({ name: 'nominal_satellite_subpoint_lat', data: 0, dtype: '<f' });
    f.create_dataset({ name: 'nominal_satellite_subpoint_lon', data: p.lon0, dtype: '<f' });
    f.create_dataset({ name: 'nominal_satellite_height', data: (p.h - p.req) / 1000, dtype: '<f' });
    f.create_dataset({ name: 'band_id', data: new Int8Array([s.band]), shape: [1], dtype: '<b' });
    f.create_dataset({ name: 'band_wavelength', data: new Float32Array([s.wavelengthUm]), shape: [1], dtype: '<f' });
    const scalar = (name: string, v: number): void => {
      const d = f.create_dataset({ name, data: v, dtype: '<f' });
      d.create_attribute('_FillValue', -999, null, '<f');
    };
    const c = s.calibration;
    if (c.kind === 'ir') {
      scalar('planck_fk1', c.fk1);
      scalar('planck_fk2', c.fk2);
      scalar('planck_bc1', c.bc1);
      scalar('planck_bc2', c.bc2);
      scalar('esun', -999);
      scalar('kappa0', -999);
      scalar('earth_sun_distance_anomaly_in_AU', 1);
    } else {
      scalar('planck_fk1', -999);
      scalar('planck_fk2', -999);
      scalar('planck_bc1', -999);
      scalar('planck_bc2', -999);
      scalar('esun', c.esun);
      scalar('kappa0', c.kappa0);
      scalar('earth_sun_distance_anomaly_in_AU', c.earthSunDistanceAu);
    }
    let valid = 0, missing = 0;
    for (let i = 0; i < n; i++) {
      if (s.counts[i] === (s.fill ?? ABI_FILL)) missing++;
      else if (s.dqf[i]! <= 1) valid++;
    }
    f.create_dataset({ name: 'valid_pixel_count', data: valid, dtype: '<i' });
    f.create_dataset({ name: 'missing_pixel_count', data: missing, dtype: '<i' });

    rad.write_slice([[0, ny], [0, nx]], new Int16Array(s.counts.buffer, s.counts.byteOffset, n));
    dq.write_slice([[0, ny], [0, nx]], new Int8Array(s.dqf.buffer, s.dqf.byteOffset, n));
  } finally {
    f.close();
  }
}

/** PUG inverse calibration of one BT: the radiance whose BT it is, then its rounded count (not clamped). */
export function abiCountForBt(btK: number, c: { scale: number; offset: number; fk1: number; fk2: number; bc1: number; bc2: number }): number {
  const l = c.fk1 / (Math.exp(c.fk2 / (c.bc1 + c.bc2 * btK)) - 1);
  return Math.round((l - c.offset) / c.scale);
}

export interface AbiSceneWriteOptions {
  /** 13 (default: the BT) or 2 (the scene's visible reflectance; needs generateScene({reflectance: true})). */
  band?: 13 | 2;
  platformId?: string;
  sceneId?: string;
  /** Scan duration (default 600 s for a full disk, 300 s otherwise, less 10 s of retrace). */
  durationS?: number;
  /** Extra DQF flags to plant (pixel index → DQF), e.g. for QA tests. */
  dqf?: ReadonlyArray<readonly [number, number]>;
}

/** Earth–sun distance (AU) on a date: 1 − e·cos(mean anomaly), e = 0.0167, perihelion ~Jan 4 (first-order Kepler). */
export function earthSunDistanceAu(t: Date): number {
  const doy = (t.getTime() - Date.UTC(t.getUTCFullYear(), 0, 1)) / 86_400_000;
  return 1 - 0.01672 * Math.cos((2 * Math.PI * (doy - 3)) / 365.256);
}

/** PUG kappa0 = π·d² / esun. */
export function abiKappa0(esun: number, t: Date): number {
  const d = earthSunDistanceAu(t);
  return (Math.PI * d * d) / esun;
}

/**
 * The counts and DQF of a synthetic scene's band 13 (BT → counts) or band 2
 * (reflectance → L = R/kappa0 → counts); off-disk → fill with DQF fill;
 * clipped counts → DQF 2 (out of range).
 */
export function abiSceneCounts(scene: SyntheticScene, o: AbiSceneWriteOptions = {}): { counts: Uint16Array; dqf: Uint8Array } {
  const n = scene.width * scene.height;
  const counts = new Uint16Array(n);
  const dqf = new Uint8Array(n);
  const c = ABI_BAND13;
  const vis = o.band === 2;
  const values = vis ? scene.reflectance : scene.btK;
  if (!values) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'band 2 needs a scene generated with reflectance: true');
  const kappa0 = Math.fround(abiKappa0(ABI_BAND2.esun, scene.time));
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) {
      counts[i] = ABI_FILL;
      dqf[i] = ABI_DQF.FILL;
      continue;
    }
    const k = vis ? Math.round((v / kappa0 - ABI_BAND2.offset) / ABI_BAND2.scale) : abiCountForBt(v, c);
    if (k < 0 || k > ABI_MAX_COUNT) {
      counts[i] = k < 0 ? 0 : ABI_MAX_COUNT;
      dqf[i] = ABI_DQF.OUT_OF_RANGE;
    } else counts[i] = k;
  }
  for (const [i, v] of o.dqf ?? []) dqf[i] = v;
  return { counts, dqf };
}

export function abiSceneSpec(scene: SyntheticScene, o: AbiSceneWriteOptions = {}): AbiFileSpec {
  if (scene.instrument !== 'abi' || scene.geo.params.sweep !== 'x') throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'an ABI file needs an ABI (sweep-x) scene');
  const { counts, dqf } = abiSceneCounts(scene, o);
  const fullDisk = scene.width >= 5000;
  const start = scene.time;
  const end = new Date(start.getTime() + (o.durationS ?? (fullDisk ? 590 : 290)) * 1000);
  const c = ABI_BAND13;
  const vis = o.band === 2;
  const d = earthSunDistanceAu(start);
  return {
    platformId: o.platformId ?? `G${scene.platform.replace(/^goes-/, '')}`,
    band: vis ? 2 : 13,
    wavelengthUm: vis ? ABI_BAND2.wavelengthUm : c.wavelengthUm,
    sceneId: o.sceneId ?? (fullDisk ? 'Full Disk' : 'Mesoscale'),
    width: scene.width,
    height: scene.height,
    counts,
    dqf,
    calibration: vis
      ? { kind: 'vis', scale: ABI_BAND2.scale, offset: ABI_BAND2.offset, kappa0: abiKappa0(ABI_BAND2.esun, start), esun: ABI_BAND2.esun, earthSunDistanceAu: d }
      : { kind: 'ir', scale: c.scale, offset: c.offset, fk1: c.fk1, fk2: c.fk2, bc1: c.bc1, bc2: c.bc2 },
    geo: scene.geo,
    start,
    end,
  };
}

/** Write a synthetic scene as an ABI L1b band-13 (or band-2) file; returns the spec written (counts, times). */
export async function writeAbiScene(path: string, scene: SyntheticScene, o: AbiSceneWriteOptions = {}): Promise<AbiFileSpec> {
  const spec = abiSceneSpec(scene, o);
  await writeAbiFile(path, spec);
  return spec;
}
