/**
 * L3 cloud-top temperature and height, TS reference. Cloud-top temperature
 * is the window-channel brightness temperature of a cloudy pixel (an opaque
 * cloud emits near its top temperature); cloud-top height inverts the
 * temperature profile for it with physics/atmosphere.ts heightForTemperature
 * (lowest tropospheric crossing; colder than the tropopause per the cold
 * rule, default 'extrapolate'). Clear, no-data and NaN pixels are NaN in both.
 */
import { CLOUD } from '../types.js';
import { checkMonth, heightForTemperature, profileFor, PROFILE_SET, US1976, zoneProfileIndex, type AtmosphereProfile, type ColdRule } from '../physics/atmosphere.js';
import { checkArray, invalid } from './validate.js';

export interface CloudTopOptions {
  /** One temperature profile for the whole raster; default US1976. */
  profile?: AtmosphereProfile;
  /**
   * Latitude (degrees) with `month` (1–12): the AFGL profile of each pixel's
   * zone and season (physics/atmosphere.ts zoneProfileIndex). A number for
   * the whole raster (e.g. a tile's centre) or one latitude per pixel (NaN:
   * US1976). Not together with `profile`.
   */
  latitude?: number | Float32Array;
  month?: number;
  coldRule?: ColdRule;
}

export interface CloudTopResult {
  cttK: Float32Array;
  cthM: Float32Array;
}

export interface CloudTopParams {
  /** The profile for every pixel, or null when `latitude` picks per pixel. */
  profile: AtmosphereProfile | null;
  latitude: Float32Array | null;
  month: number;
  coldRule: ColdRule;
}

export function checkCloudTopArgs(bt: unknown, cloudMask: unknown, opts: CloudTopOptions): CloudTopParams {
  checkArray('cloudTop', 'bt', bt, Float32Array);
  const n = (bt as Float32Array).length;
  checkArray('cloudTop', 'cloudMask', cloudMask, Uint8Array, n);
  const coldRule = opts.coldRule ?? 'extrapolate';
  if (coldRule !== 'tropopause' && coldRule !== 'extrapolate') throw invalid('cloudTop', `coldRule must be 'tropopause' or 'extrapolate' (got ${String(coldRule)})`);
  if ((opts.latitude === undefined) !== (opts.month === undefined)) throw invalid('cloudTop', 'latitude and month go together');
  if (opts.latitude === undefined) return { profile: opts.profile ?? US1976, latitude: null, month: 0, coldRule };
  if (opts.profile !== undefined) throw invalid('cloudTop', 'give either profile or latitude/month, not both');
  const month = checkMonth(opts.month, 'cloudTop');
  if (typeof opts.latitude === 'number') return { profile: profileFor(opts.latitude, month), latitude: null, month, coldRule };
  checkArray('cloudTop', 'latitude', opts.latitude, Float32Array, n);
  return { profile: null, latitude: opts.latitude, month, coldRule };
}

export function cloudTop(bt: Float32Array, cloudMask: Uint8Array, opts: CloudTopOptions = {}): CloudTopResult {
  const { profile, latitude, month, coldRule } = checkCloudTopArgs(bt, cloudMask, opts);
  const n = bt.length;
  const cttK = new Float32Array(n);
  const cthM = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const t = bt[i] as number;
    if (cloudMask[i] !== CLOUD.CLOUD || Number.isNaN(t)) {
      cttK[i] = NaN;
      cthM[i] = NaN;
      continue;
    }
    const p = profile ?? (PROFILE_SET[zoneProfileIndex((latitude as Float32Array)[i] as number, month)] as AtmosphereProfile);
    cttK[i] = t;
    cthM[i] = heightForTemperature(t, { profile: p, coldRule });
  }
  return { cttK, cthM };
}
