/**
 * Writes a real, small GOES ABI L1b radiance file (netCDF4/HDF5 through
 * h5wasm) with the variable and attribute names of the real product
 * (../shared/data/goes_abi/abi_l1b_reference.md): Rad with scale/offset/
 * _FillValue, DQF, x/y scan angles with scale/offset, goes_imager_projection,
 * t, time_bounds, band_id, band_wavelength, planck_*, kappa0, esun.
 * The grid is a sub-sampled version of the real one: the scan-angle extents
 * are those of the real sector, with a coarser pixel step, so navigation and
 * footprints come out as for the real file. The full generator (realistic
 * scenes) is actors/tile/synthetic/write-abi.ts; this one writes a smooth
 * radiance ramp, with that writer's Rad, DQF, x/y and projection variables.
 */
import h5wasm from 'h5wasm/node';
import { createDqfVariable, createProjectionVariable, createRadVariable, createScanAxis } from '../../actors/tile/synthetic/write-abi.js';

export interface AbiFileOptions {
  /** F: full disk (±0.151872 rad), C: the 2017 CONUS test sector of the real CDL. */
  sector: 'F' | 'C';
  /** Satellite code: G16..G19. */
  satellite?: string;
  lon0?: number;
  band?: number;
  wavelength?: number;
  /** Scan start; the end is start + duration. */
  start: Date;
  durationS?: number;
  /** Pixels per side of the written grid (sub-sampled). */
  size?: number;
  /**
   * The time_coverage_start/_end global attributes verbatim (the real product
   * writes tenths of a second: "2017-02-28T03:37:50.5Z"); default: start and
   * end as toISOString().
   */
  timeCoverage?: { start: string; end: string };
  /** time_bounds (and t, their midpoint) when they should differ from the coverage attributes; default: start and end. */
  timeBounds?: [Date, Date];
}

const J2000_12 = Date.UTC(2000, 0, 1, 12, 0, 0);

/** Real extents of the ABI band-13 (2 km) grids, in rad (PUG; CONUS from the real 2017 CDL). */
const GRIDS = {
  F: { x0: -0.151844, y0: 0.151844, nx: 5424, ny: 5424, step: 56e-6 },
  C: { x0: -0.101332, y0: 0.128212, nx: 2500, ny: 1500, step: 56e-6 },
} as const;

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

/** YYYYJJJHHMMSSs as in ABI file names. */
export function goesStamp(t: Date): string {
  const doy = Math.floor((Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()) - Date.UTC(t.getUTCFullYear(), 0, 1)) / 86_400_000) + 1;
  return `${t.getUTCFullYear()}${pad(doy, 3)}${pad(t.getUTCHours(), 2)}${pad(t.getUTCMinutes(), 2)}${pad(t.getUTCSeconds(), 2)}${Math.floor(t.getUTCMilliseconds() / 100)}`;
}

/** The official file name of such a file. */
export function abiFileName(o: AbiFileOptions): string {
  const end = new Date(o.start.getTime() + (o.durationS ?? (o.sector === 'F' ? 590 : 290)) * 1000);
  const created = new Date(end.getTime() + 5_000);
  const band = pad(o.band ?? 13, 2);
  return `OR_ABI-L1b-Rad${o.sector}-M6C${band}_${o.satellite ?? 'G19'}_s${goesStamp(o.start)}_e${goesStamp(end)}_c${goesStamp(created)}.nc`;
}

export async function writeAbiFile(path: string, o: AbiFileOptions): Promise<void> {
  await h5wasm.ready;
  const grid = GRIDS[o.sector];
  const size = o.size ?? 32;
  const nx = size, ny = o.sector === 'F' ? size : Math.max(2, Math.round((size * grid.ny) / grid.nx));
  // Same outer edges as the real grid, coarser step: centres of nx pixels spanning nx_real real pixels.
  const stepX = (grid.step * grid.nx) / nx, stepY = (grid.step * grid.ny) / ny;
  const x0 = grid.x0 - grid.step / 2 + stepX / 2;
  const y0 = grid.y0 + grid.step / 2 - stepY / 2;
  const end = new Date(o.start.getTime() + (o.durationS ?? (o.sector === 'F' ? 590 : 290)) * 1000);
  const f = new h5wasm.File(path, 'w');
  try {
    const fa = (name: string, v: string | number, dtype?: string): void => void f.create_attribute(name, v, null, dtype ?? null);
    fa('naming_authority', 'gov.nesdis.noaa');
    fa('Conventions', 'CF-1.7');
    fa('title', 'ABI L1b Radiances');
    fa('platform_ID', o.satellite ?? 'G19');
    fa('instrument_type', 'GOES R Series Advanced Baseline Imager');
    fa('scene_id', o.sector === 'F' ? 'Full Disk' : 'CONUS');
    fa('dataset_name', abiFileName(o));
    fa('time_coverage_start', o.timeCoverage?.start ?? o.start.toISOString());
    fa('time_coverage_end', o.timeCoverage?.end ?? end.toISOString());

    const counts = new Int16Array(nx * ny);
    for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) counts[j * nx + i] = 1000 + ((i * 7 + j * 13) % 2000);
    counts[0] = 4095; // a fill pixel
    // Like netCDF-C in define mode: the variables and their attributes first, the (chunked,
    // deflated, as in the real product) pixel data written last, so metadata precedes data.
    const chunk: [number, number] = [Math.min(ny, 226), Math.min(nx, 226)];
    const rad = createRadVariable(f, { ny, nx, chunk, fill: 4095, ir: true, scale: 0.04572892, offset: -1.6443 });

    const dqf = new Int8Array(nx * ny);
    dqf[0] = 3;
    const dq = createDqfVariable(f, { ny, nx, chunk });

    // Stored as short with scale/offset, like the real file: offset = first centre, scale = step.
    createScanAxis(f, 'x', nx, x0, stepX);
    createScanAxis(f, 'y', ny, y0, -stepY);

    // The GRS80 figures and satellite height of the PUG (abi_l1b_reference.md).
    createProjectionVariable(f, { h: 35786023 + 6378137, req: 6378137, rpol: 6356752.31414, lon0: o.lon0 ?? -75.2 });

    const secs = (d: Date): number => (d.getTime() - J2000_12) / 1000;
    const [b0, b1] = o.timeBounds ?? [o.start, end];
    f.create_dataset({ name: 't', data: (secs(b0) + secs(b1)) / 2, dtype: '<d' });
    f.create_dataset({ name: 'time_bounds', data: new Float64Array([secs(b0), secs(b1)]), shape: [2], dtype: '<d' });
    f.create_dataset({ name: 'band_id', data: new Int8Array([o.band ?? 13]), shape: [1], dtype: '<b' });
    f.create_dataset({ name: 'band_wavelength', data: new Float32Array([o.wavelength ?? 10.33]), shape: [1], dtype: '<f' });
    f.create_dataset({ name: 'nominal_satellite_subpoint_lon', data: o.lon0 ?? -75.2, dtype: '<f' });
    f.create_dataset({ name: 'nominal_satellite_height', data: 35786.023, dtype: '<f' });
    for (const [name, v] of [['planck_fk1', 10803.3], ['planck_fk2', 1392.74], ['planck_bc1', 0.0755], ['planck_bc2', 0.99975], ['esun', NaN], ['kappa0', NaN], ['earth_sun_distance_anomaly_in_AU', 0.9876]] as const) {
      f.create_dataset({ name, data: v, dtype: '<f' });
    }
    rad.write_slice([[0, ny], [0, nx]], counts);
    dq.write_slice([[0, ny], [0, nx]], dqf);
  } finally {
    f.close();
  }
}
