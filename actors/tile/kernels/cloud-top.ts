/**
 * L3 cloud-top temperature and height, TS reference. Cloud-top temperature
 * is the window-channel brightness temperature of a cloudy pixel (an opaque
 * cloud emits near its top temperature); cloud-top height inverts the
 * temperature profile for it with physics/atmosphere.ts heightForTemperature
 * (lowest tropospheric crossing; colder than the tropopause per the cold
 * rule, default 'extrapolate'). Clear, no-data and NaN pixels are NaN in both.
 */
import { CLOUD } from '../types.js';
import { heightForTemperature, US1976, type AtmosphereProfile, type ColdRule } from '../physics/atmosphere.js';
import { checkArray, invalid } from './validate.js';

export interface CloudTopOptions {
  profile?: AtmosphereProfile;
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
  return { profile: opts.profile ?? US1976, coldRule };
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
