/**
 * L3 cloud-top temperature and height, TS reference. Cloud-top temperature
 * is the window-channel brightness temperature of a cloudy pixel (an opaque
 * cloud emits near its top temperature); cloud-top height inverts the
 * temperature profile for it with physics/atmosphere.ts heightForTemperature
 * (lowest tropospheric crossing; colder than the tropopause per the cold
 * rule, default 'extrapolate'). Clear, no-data and NaN pixels are NaN in both.
 */
import { CLOUD } from '../types.js';
import { heightForTemperature, profileFor, US1976, type AtmosphereProfile, type ColdRule } from '../physics/atmosphere.js';
import { checkArray, invalid } from './validate.js';

export interface CloudTopOptions {
  /** The temperature profile; default US1976, or the AFGL one for `latitude` and `month` when both are given. */
  profile?: AtmosphereProfile;
  /** Latitude (degrees) and month (1–12) of the raster (e.g. a tile's centre) for profileFor. */
  latitude?: number;
  month?: number;
  coldRule?: ColdRule;
}

export interface CloudTopResult {
  cttK: Float32Array;
  cthM: Float32Array;
}

export function checkCloudTopArgs(bt: unknown, cloudMask: unknown, opts: CloudTopOptions): { profile: AtmosphereProfile; coldRule: ColdRule } {
  checkArray('cloudTop', 'bt', bt, Float32Array);
  checkArray('cloudTop', 'cloudMask', cloudMask, Uint8Array, (bt as Float32Array).length);
  const coldRule = opts.coldRule ?? 'extrapolate';
  if (coldRule !== 'tropopause' && coldRule !== 'extrapolate') throw invalid('cloudTop', `coldRule must be 'tropopause' or 'extrapolate' (got ${String(coldRule)})`);
  if ((opts.latitude === undefined) !== (opts.month === undefined)) throw invalid('cloudTop', 'latitude and month go together');
  const profile = opts.profile ?? (opts.latitude !== undefined ? profileFor(opts.latitude, opts.month as number) : US1976);
  return { profile, coldRule };
}

export function cloudTop(bt: Float32Array, cloudMask: Uint8Array, opts: CloudTopOptions = {}): CloudTopResult {
  const { profile, coldRule } = checkCloudTopArgs(bt, cloudMask, opts);
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
    cttK[i] = t;
    cthM[i] = heightForTemperature(t, { profile, coldRule });
  }
  return { cttK, cthM };
}
