/**
 * Dvorak-style intensity from one IR image, following the raw T-number
 * regression of the Advanced Dvorak Technique (ADT; Olander & Velden 2007,
 * Wea. Forecasting 22, 287–298) with the tables of its Unidata/IDV port
 * (physics/data/adt_tables.json, see data/README.md):
 *
 *   cloud category k: BD[k] ≥ Tcloud > BD[k+1] (°C), frac = (Tcloud − BD[k]) / (BD[k+1] − BD[k]);
 *   eye scene:  T = eyeBase[k] + frac·(eyeBase[k+1] − eyeBase[k]) + fEye·(Teye − Tcloud) + fSymEye·sym, ≤ 9;
 *   CDO scene:  T = cldBase[k] + frac·(cldBase[k+1] − cldBase[k]) + fCdo·cdoSizeKm + fSymCld·sym − 0.1;
 *   truncated to 0.1: floor((T + 0.01)·10)/10.
 *
 * What this does NOT reproduce (it needs a storm history or other data):
 * Rule 8/9 time constraints, time averaging of T into CI, the previous-CI
 * CDO clamps, curved-band/shear scenes and microwave adjustments. For a
 * single image CI is therefore the image's T-number (ciFromT), and
 * CI → vmax/MSLP is the ADT table, linearly interpolated between its 0.1
 * steps.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { StarWeatherError } from '../../../protocol/errors.js';

/** Which ADT regression domain and pressure–wind relation applies. */
export type Basin = 'atlantic' | 'nw_pacific';

interface AdtTables {
  ci_table: Array<{ ci: number; vmax_kt: number; mslp_hpa_atlantic: number; mslp_hpa_nw_pacific: number }>;
  bd_curve_points_degC: number[];
  eye_regression_base: { atlantic: number[]; pacific: number[] };
  cloud_regression_base: { atlantic: number[]; pacific: number[] };
  eye_cloud_temp_difference_factor: { atlantic: number; pacific: number };
  eye_scene_cloud_symmetry_factor: { atlantic: number; pacific: number };
  cloud_scene_cdo_size_factor_per_km: { atlantic: number; pacific: number };
  cloud_scene_cloud_symmetry_factor: { atlantic: number; pacific: number };
}

const TABLES_PATH = fileURLToPath(new URL('../../../../actors/tile/physics/data/adt_tables.json', import.meta.url));

function loadTables(): AdtTables {
  const t = JSON.parse(readFileSync(TABLES_PATH, 'utf8')) as AdtTables;
  const bd = t.bd_curve_points_degC;
  const ok =
    bd.length === 11 &&
    [t.eye_regression_base.atlantic, t.eye_regression_base.pacific, t.cloud_regression_base.atlantic, t.cloud_regression_base.pacific].every((a) => a.length === bd.length) &&
    t.ci_table.length > 10;
  if (!ok) throw new StarWeatherError('SW_ERR_CONFIG', 'adt_tables.json: unexpected table shapes');
  return t;
}

export const ADT: AdtTables = loadTables();

/** Kelvin → °C (the ADT tables are in °C). */
export const KELVIN = 273.15;

/**
 * ADT uses its Atlantic regression and pressure relation everywhere except
 * the north-west Pacific (its "Pacific" domain); the NW Pacific here is
 * north of the equator between 100° E and 180°.
 */
export function basinFor(lat: number, lon: number): Basin {
  let l = ((((lon + 180) % 360) + 360) % 360) - 180;
  if (l === -180) l = 180;
  return lat >= 0 && l >= 100 && l <= 180 ? 'nw_pacific' : 'atlantic';
}

export interface DvorakScene {
  scene: 'eye' | 'cdo';
  /** Warmest eye temperature (K); required for an eye scene. */
  eyeTempK: number | null;
  /** Surrounding cloud temperature (K), as ADT's cloud annulus mean. */
  cloudTempK: number;
  /** Mean absolute difference of opposite 15° sector means (K = °C differences). */
  cloudSymmetryK: number;
  /** CDO size (km), used by the CDO regression only. */
  cdoSizeKm: number;
  basin: Basin;
  /** ADT's pinhole-eye rule averages the eye with +9 °C; a large eye caps T at min(T − 0.5, 6.5). */
  eyeSize?: 'pinhole' | 'normal' | 'large';
}

/** Raw T-number of one image per the ADT regression (see the module comment). */
export function tNumber(s: DvorakScene): number {
  if (!Number.isFinite(s.cloudTempK)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'tNumber: cloud temperature must be finite');
  const domain = s.basin === 'nw_pacific' ? 'pacific' : 'atlantic';
  const bd = ADT.bd_curve_points_degC;
  // Clamp into the BD curve's span so every temperature has a category.
  const tCloud = Math.min(bd[0] as number, Math.max((bd[bd.length - 1] as number) + 1e-6, s.cloudTempK - KELVIN));
  let k = 0;
  for (let i = 0; i < bd.length - 1; i++) {
    if (tCloud <= (bd[i] as number) && tCloud > (bd[i + 1] as number)) {
      k = i;
      break;
    }
  }
  const frac = (tCloud - (bd[k] as number)) / ((bd[k + 1] as number) - (bd[k] as number));
  let t: number;
  if (s.scene === 'eye') {
    if (s.eyeTempK === null || !Number.isFinite(s.eyeTempK)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'tNumber: an eye scene needs an eye temperature');
    let tEye = s.eyeTempK - KELVIN;
    if (s.eyeSize === 'pinhole') tEye = (tEye + 9) / 2;
    const base = ADT.eye_regression_base[domain];
    t =
      (base[k] as number) +
      frac * ((base[k + 1] as number) - (base[k] as number)) +
      ADT.eye_cloud_temp_difference_factor[domain] * (tEye - tCloud) +
      ADT.eye_scene_cloud_symmetry_factor[domain] * s.cloudSymmetryK;
    t = Math.min(t, 9.0);
    if (s.eyeSize === 'large') t = Math.min(t - 0.5, 6.5);
  } else {
    const base = ADT.cloud_regression_base[domain];
    t =
      (base[k] as number) +
      frac * ((base[k + 1] as number) - (base[k] as number)) +
      ADT.cloud_scene_cdo_size_factor_per_km[domain] * s.cdoSizeKm +
      ADT.cloud_scene_cloud_symmetry_factor[domain] * s.cloudSymmetryK -
      0.1;
  }
  return Math.floor((t + 0.01) * 10) / 10;
}

/** Single-image CI: the T-number clamped to the table's 1.0–9.0 (no history, so no Rule 8 constraints). */
export function ciFromT(t: number): number {
  return Math.min(9, Math.max(1, t));
}

/** CI → maximum sustained wind (kt) and MSLP (hPa) for the basin, interpolated in the ADT table. */
export function ciToIntensity(ci: number, basin: Basin): { vmaxKt: number; mslpHpa: number } {
  if (!Number.isFinite(ci)) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', 'ciToIntensity: CI must be finite');
  const rows = ADT.ci_table;
  const first = rows[0] as (typeof rows)[number];
  const last = rows[rows.length - 1] as (typeof rows)[number];
  const c = Math.min(last.ci, Math.max(first.ci, ci));
  let i = 0;
  while (i + 2 < rows.length && c > (rows[i + 1] as (typeof rows)[number]).ci) i++;
  const a = rows[i] as (typeof rows)[number];
  const b = rows[i + 1] as (typeof rows)[number];
  const f = (c - a.ci) / (b.ci - a.ci);
  const p = basin === 'nw_pacific' ? 'mslp_hpa_nw_pacific' : 'mslp_hpa_atlantic';
  return { vmaxKt: a.vmax_kt + f * (b.vmax_kt - a.vmax_kt), mslpHpa: a[p] + f * (b[p] - a[p]) };
}
