/**
 * Temperature profiles for cloud-top height: the US Standard Atmosphere 1976
 * (NOAA-S/T 76-1562) by default, read from its defining layer table
 * (physics/data/us1976_layers.csv, see data/README.md).
 *
 * The standard defines temperature as piecewise linear in GEOPOTENTIAL height
 * H; geometric height z converts with the standard's effective earth radius
 * r0 = 6 356 766 m: H = r0·z/(r0 + z), z = r0·H/(r0 − H) (US1976 eq. 18).
 * Profiles are kept in that layer form so the L3 kernels (TS and native)
 * invert exactly the function that temperatureAtHeight evaluates.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { StarWeatherError } from '../../../protocol/errors.js';

/** US1976 effective earth radius for the geopotential conversion (m). */
export const R0_M = 6_356_766;

/** The WMO lapse-rate tropopause: where cooling drops below 2 K/km (dT/dH > −0.002 K/m). */
export const WMO_TROPOPAUSE_LAPSE = -0.002;

/**
 * A temperature profile as layers linear in geopotential height. Layer i
 * spans [baseH[i], baseH[i+1]) (the last one extends upward), with
 * T = baseT[i] + lapse[i]·(H − baseH[i]). `tropopauseLayer` is the first
 * layer that cools by less than 2 K/km (the WMO 1957 lapse-rate tropopause,
 * without its 2 km persistence test); every layer below it cools at least
 * that fast, so temperature inverts uniquely there.
 */
export interface AtmosphereProfile {
  readonly name: string;
  readonly baseH: Float64Array;
  readonly baseT: Float64Array;
  readonly lapse: Float64Array;
  readonly tropopauseLayer: number;
}

/**
 * What heightForTemperature does with a temperature colder than the
 * tropopause, where the profile (isothermal, then warming) has no unique
 * inverse: 'extrapolate' (the default) continues the top tropospheric lapse
 * rate upward, the usual first guess for overshooting tops that punch into
 * the stratosphere (e.g. Griffin et al. 2016, "Methods for estimating
 * overshooting top heights", JAMC 55), and the right call for one global
 * profile: tropical tropopauses (~16 km, ~195 K) are far colder than
 * US1976's 216.65 K at 11 km, so tropical anvils would otherwise all pile up
 * at 11 km. 'tropopause' caps the cloud top at the profile's tropopause.
 */
export type ColdRule = 'tropopause' | 'extrapolate';
export const COLD_RULE_CODE: Record<ColdRule, number> = { tropopause: 0, extrapolate: 1 };

export function geometricToGeopotential(zM: number): number {
  return (R0_M * zM) / (R0_M + zM);
}

export function geopotentialToGeometric(hM: number): number {
  return (R0_M * hM) / (R0_M - hM);
}

const DATA_DIR = fileURLToPath(new URL('../../../../actors/tile/physics/data/', import.meta.url));

/** Parses a small numeric CSV with a header row into column arrays by name. */
export function readNumericCsv(fileName: string): Record<string, number[]> {
  const text = readFileSync(DATA_DIR + fileName, 'utf8');
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').split(',').map((s) => s.trim());
  const cols: Record<string, number[]> = {};
  for (const h of header) cols[h] = [];
  for (let i = 1; i < lines.length; i++) {
    const cells = (lines[i] as string).split(',');
    if (cells.length !== header.length) throw new StarWeatherError('SW_ERR_CONFIG', `${fileName} line ${i + 1}: ${cells.length} cells, expected ${header.length}`);
    header.forEach((h, j) => {
      const v = Number(cells[j]);
      if (!Number.isFinite(v)) throw new StarWeatherError('SW_ERR_CONFIG', `${fileName} line ${i + 1}: ${h} is not a number`);
      (cols[h] as number[]).push(v);
    });
  }
  return cols;
}

/** Builds a profile from layer columns, checking the shape the inversion relies on. */
export function makeProfile(name: string, baseH: ArrayLike<number>, baseT: ArrayLike<number>, lapse: ArrayLike<number>): AtmosphereProfile {
  const n = baseH.length;
  if (n < 2 || baseT.length !== n || lapse.length !== n) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `profile ${name}: need ≥ 2 layers with equal-length columns`);
  const h = Float64Array.from(baseH);
  const t = Float64Array.from(baseT);
  const l = Float64Array.from(lapse);
  for (let i = 1; i < n; i++) {
    if (!((h[i] as number) > (h[i - 1] as number))) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `profile ${name}: layer bases must ascend`);
    // Continuity: each base temperature is where the layer below ends.
    const end = (t[i - 1] as number) + (l[i - 1] as number) * ((h[i] as number) - (h[i - 1] as number));
    if (Math.abs(end - (t[i] as number)) > 0.01) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `profile ${name}: layer ${i} base ${t[i]} K ≠ ${end.toFixed(3)} K at the top of layer ${i - 1}`);
  }
  let trop = 0;
  while (trop < n && (l[trop] as number) <= WMO_TROPOPAUSE_LAPSE) trop++;
  if (trop === 0 || trop === n) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `profile ${name}: needs a cooling troposphere and a tropopause`);
  return { name, baseH: h, baseT: t, lapse: l, tropopauseLayer: trop };
}

function loadUs1976(): AtmosphereProfile {
  const c = readNumericCsv('us1976_layers.csv');
  return makeProfile('us1976', c.base_geopotential_height_m as number[], c.base_T_K as number[], c.dT_dH_K_per_m as number[]);
}

/** The US Standard Atmosphere 1976, layers 0–7 (0–84.852 km geopotential). */
export const US1976: AtmosphereProfile = loadUs1976();

function layerAt(p: AtmosphereProfile, hM: number): number {
  let i = 0;
  while (i + 1 < p.baseH.length && hM >= (p.baseH[i + 1] as number)) i++;
  return i;
}

/** Temperature (K) at a geometric height (m); below 0 and above the top the end layers extend. */
export function temperatureAtHeight(zGeometricM: number, profile: AtmosphereProfile = US1976): number {
  const h = geometricToGeopotential(zGeometricM);
  const i = layerAt(profile, h);
  return (profile.baseT[i] as number) + (profile.lapse[i] as number) * (h - (profile.baseH[i] as number));
}

/** The profile's tropopause: geometric height (m) and temperature (K). */
export function tropopause(profile: AtmosphereProfile = US1976): { heightM: number; tempK: number } {
  const i = profile.tropopauseLayer;
  return { heightM: geopotentialToGeometric(profile.baseH[i] as number), tempK: profile.baseT[i] as number };
}

/**
 * Geometric height (m) of the LOWEST tropospheric level at temperature tK:
 * the inverse of temperatureAtHeight below the tropopause. A temperature at
 * or above the profile's surface value gives 0 (the surface: a warm BT is
 * the ground or a cloud lower than the profile resolves). Colder than the
 * tropopause follows `coldRule`. NaN gives NaN.
 */
export function heightForTemperature(tK: number, opts: { profile?: AtmosphereProfile; coldRule?: ColdRule } = {}): number {
  const p = opts.profile ?? US1976;
  if (Number.isNaN(tK)) return NaN;
  if (tK >= (p.baseT[0] as number)) return 0;
  const trop = p.tropopauseLayer;
  for (let i = 0; i < trop; i++) {
    const topT = p.baseT[i + 1] as number;
    if (tK >= topT) return geopotentialToGeometric((p.baseH[i] as number) + (tK - (p.baseT[i] as number)) / (p.lapse[i] as number));
  }
  const hTrop = p.baseH[trop] as number;
  if ((opts.coldRule ?? 'extrapolate') === 'tropopause') return geopotentialToGeometric(hTrop);
  return geopotentialToGeometric(hTrop + (tK - (p.baseT[trop] as number)) / (p.lapse[trop - 1] as number));
}

/**
 * A profile from tabulated levels (geometric km, K), linear in geopotential
 * height between levels and isothermal above the last. A surface inversion
 * (warmest level within the lowest 3 km above the first) is cut off: a
 * brightness temperature cannot place a cloud inside it, so the profile
 * starts at the inversion top and anything warmer inverts to the surface.
 */
export function profileFromLevels(name: string, zKm: ArrayLike<number>, tK: ArrayLike<number>): AtmosphereProfile {
  if (zKm.length !== tK.length || zKm.length < 3) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `profile ${name}: need ≥ 3 levels with a temperature each`);
  let start = 0;
  for (let i = 1; i < zKm.length && (zKm[i] as number) - (zKm[0] as number) <= 3; i++) if ((tK[i] as number) > (tK[start] as number)) start = i;
  const h: number[] = [], t: number[] = [], l: number[] = [];
  for (let i = start; i < zKm.length; i++) {
    h.push(geometricToGeopotential((zKm[i] as number) * 1000));
    t.push(tK[i] as number);
  }
  for (let i = 0; i < h.length; i++) l.push(i + 1 < h.length ? ((t[i + 1] as number) - (t[i] as number)) / ((h[i + 1] as number) - (h[i] as number)) : 0);
  return makeProfile(name, h, t, l);
}

export type ClimateZone = 'tropical' | 'midlatitude_summer' | 'midlatitude_winter' | 'subarctic_summer' | 'subarctic_winter';

function loadAfgl(): Record<ClimateZone, AtmosphereProfile> {
  const c = readNumericCsv('afgl1986_temperature.csv');
  const z = c.z_km as number[];
  const zones: ClimateZone[] = ['tropical', 'midlatitude_summer', 'midlatitude_winter', 'subarctic_summer', 'subarctic_winter'];
  return Object.fromEntries(zones.map((k) => [k, profileFromLevels(`afgl1986-${k}`, z, c[k] as number[])])) as Record<ClimateZone, AtmosphereProfile>;
}

/** The AFGL (Anderson et al. 1986) reference atmospheres, see data/README.md. */
export const AFGL1986: Record<ClimateZone, AtmosphereProfile> = loadAfgl();

/**
 * The profiles a per-pixel selection chooses from, in a fixed order shared
 * with the native kernel: 0 US1976 (no latitude), then the AFGL zones.
 */
export const PROFILE_SET: readonly AtmosphereProfile[] = [
  US1976,
  AFGL1986.tropical,
  AFGL1986.midlatitude_summer,
  AFGL1986.midlatitude_winter,
  AFGL1986.subarctic_summer,
  AFGL1986.subarctic_winter,
];

/**
 * Index into PROFILE_SET for a latitude (degrees) and month (1–12):
 * tropical within 25° of the equator, midlatitude to 52.5°, subarctic
 * beyond (the AFGL models stand for 15°, 45° and 60° N); summer is
 * April–September in the northern hemisphere and October–March in the
 * southern. A discrete choice, as the AFGL set is: no blending between
 * zones. NaN or impossible latitudes give 0 (US1976).
 */
export function zoneProfileIndex(latDeg: number, month: number): number {
  if (Number.isNaN(latDeg) || Math.abs(latDeg) > 90) return 0;
  const a = Math.abs(latDeg);
  if (a <= 25) return 1;
  const northSummer = month >= 4 && month <= 9;
  const summer = latDeg >= 0 ? northSummer : !northSummer;
  if (a <= 52.5) return summer ? 2 : 3;
  return summer ? 4 : 5;
}

export function checkMonth(month: unknown, where: string): number {
  if (typeof month !== 'number' || !Number.isInteger(month) || month < 1 || month > 12) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `${where}: month ${String(month)} must be 1..12`);
  return month;
}

/** The AFGL reference atmosphere for a latitude (degrees) and month (1–12), by zoneProfileIndex. */
export function profileFor(latDeg: number, month: number): AtmosphereProfile {
  if (!Number.isFinite(latDeg) || Math.abs(latDeg) > 90) throw new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `profileFor: latitude ${latDeg} out of range`);
  checkMonth(month, 'profileFor');
  return PROFILE_SET[zoneProfileIndex(latDeg, month)] as AtmosphereProfile;
}
