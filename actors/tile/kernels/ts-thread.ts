/**
 * The TypeScript reference kernels on a small pool of worker threads: the
 * tile host's kernels when the native addon is not built (config
 * tile.kernels = ts, or auto without the addon). Run on the host's loop they
 * would be synchronous stretches of 50–500 ms per tile, and the cyclone
 * search seconds on a full disk (issue 10); here the loop only copies the
 * inputs to a thread (the caller keeps its arrays) and, for qaCheck, copies
 * the masked rasters back into the caller's (the interface says in place).
 *
 * Same functions, same inputs: the same outputs as kernelsTs, bit for bit.
 * Arguments are checked here first, with the references' own checks, so bad
 * input is the same StarWeatherError before anything crosses a thread.
 */
import { availableParallelism } from 'node:os';
import type { BandKind, Calibration, QaCounts } from '../types.js';
import { ThreadClient } from '../thread-rpc.js';
import { checkCalibrateArgs, type L1Result } from './calibrate.js';
import { checkCloudTopArgs, type CloudTopOptions, type CloudTopResult } from './cloud-top.js';
import { checkConvectionArgs, type ConvectionOptions, type ConvectionResult } from './convection.js';
import { checkCycloneArgs, type CycloneEstimate, type CycloneOptions } from './cyclones.js';
import { checkQaArgs, type QaOptions } from './qa.js';
import type { Kernels } from './index.js';

const WORKER = new URL('./ts-worker.js', import.meta.url);

/** A copy on its own buffer, to move to a thread (the caller's array may be a view, and stays usable). */
function own<T extends Float32Array | Uint8Array | Uint16Array>(a: T): T {
  return a.slice() as T;
}

const moved = (...arrays: Array<ArrayBufferView | null | undefined>): ArrayBuffer[] => arrays.filter((a): a is ArrayBufferView => a != null).map((a) => a.buffer as ArrayBuffer);

export function kernelsTsThreaded(threads = Math.max(1, availableParallelism())): Kernels {
  const pool: Array<ThreadClient | null> = Array.from({ length: threads }, () => null);
  /** The least busy thread; a dead one is replaced. Threads start on first use and do not keep the process alive when idle. */
  const thread = (): ThreadClient => {
    let best = -1;
    for (let i = 0; i < pool.length; i++) {
      const t = pool[i] ?? null;
      if (t === null || t.dead) {
        pool[i] = new ThreadClient(WORKER, 'TypeScript kernels', undefined, { unrefWhenIdle: true });
        return pool[i]!;
      }
      if (best < 0 || t.busy < pool[best]!.busy) best = i;
    }
    return pool[best]!;
  };
  return {
    name: 'ts',
    async calibrate(counts: Uint16Array, dqf: Uint8Array | null, cal: Calibration): Promise<L1Result> {
      checkCalibrateArgs(counts, dqf, cal);
      const a = { counts: own(counts), dqf: dqf && own(dqf), cal };
      return thread().call<L1Result>('calibrate', a, moved(a.counts, a.dqf));
    },
    async qaCheck(values: Float32Array, qa: Uint8Array, width: number, height: number, kind: BandKind, opts: QaOptions = {}): Promise<QaCounts> {
      checkQaArgs(values, qa, width, height, kind, opts);
      const a = { values: own(values), qa: own(qa), width, height, kind, opts };
      const r = await thread().call<{ values: Float32Array; qa: Uint8Array; counts: QaCounts }>('qaCheck', a, moved(a.values, a.qa));
      values.set(r.values);
      qa.set(r.qa);
      return r.counts;
    },
    async cloudTop(bt: Float32Array, cloudMask: Uint8Array, opts: CloudTopOptions = {}): Promise<CloudTopResult> {
      checkCloudTopArgs(bt, cloudMask, opts);
      const a = { bt: own(bt), mask: own(cloudMask), opts };
      return thread().call<CloudTopResult>('cloudTop', a, moved(a.bt, a.mask));
    },
    async convection(bt: Float32Array, cloudMask: Uint8Array | null, width: number, height: number, opts: ConvectionOptions = {}): Promise<ConvectionResult> {
      checkConvectionArgs(bt, cloudMask, width, height, opts);
      const a = { bt: own(bt), mask: cloudMask && own(cloudMask), width, height, opts };
      return thread().call<ConvectionResult>('convection', a, moved(a.bt, a.mask));
    },
    async cyclones(bt: Float32Array, lat: Float32Array, lon: Float32Array, width: number, height: number, opts: CycloneOptions = {}): Promise<CycloneEstimate[]> {
      checkCycloneArgs(bt, lat, lon, width, height, opts);
      const a = { bt: own(bt), lat: own(lat), lon: own(lon), width, height, opts };
      return thread().call<CycloneEstimate[]>('cyclones', a, moved(a.bt, a.lat, a.lon));
    },
  };
}
