/**
 * Worker-thread side of kernelsTsThreaded (ts-thread.ts): the TypeScript
 * reference kernels, run here, their output rasters moved back.
 */
import { serve } from '../thread-rpc.js';
import type { BandKind, Calibration } from '../types.js';
import { calibrate } from './calibrate.js';
import { cloudTop, type CloudTopOptions } from './cloud-top.js';
import { convection, type ConvectionOptions } from './convection.js';
import { cyclones, type CycloneOptions } from './cyclones.js';
import { qaCheck, type QaOptions } from './qa.js';

const buf = (a: ArrayBufferView): ArrayBuffer => a.buffer as ArrayBuffer;

serve({
  calibrate(a: { counts: Uint16Array; dqf: Uint8Array | null; cal: Calibration }) {
    const r = calibrate(a.counts, a.dqf, a.cal);
    return { value: r, transfer: [buf(r.values), buf(r.qa)] };
  },
  qaCheck(a: { values: Float32Array; qa: Uint8Array; width: number; height: number; kind: BandKind; opts: QaOptions }) {
    const counts = qaCheck(a.values, a.qa, a.width, a.height, a.kind, a.opts);
    return { value: { values: a.values, qa: a.qa, counts }, transfer: [buf(a.values), buf(a.qa)] };
  },
  cloudTop(a: { bt: Float32Array; mask: Uint8Array; opts: CloudTopOptions }) {
    const r = cloudTop(a.bt, a.mask, a.opts);
    return { value: r, transfer: [buf(r.cttK), buf(r.cthM)] };
  },
  convection(a: { bt: Float32Array; mask: Uint8Array | null; width: number; height: number; opts: ConvectionOptions }) {
    const r = convection(a.bt, a.mask, a.width, a.height, a.opts);
    return { value: r, transfer: [buf(r.deepConvection), buf(r.overshoot)] };
  },
  cyclones(a: { bt: Float32Array; lat: Float32Array; lon: Float32Array; width: number; height: number; opts: CycloneOptions }) {
    return { value: cyclones(a.bt, a.lat, a.lon, a.width, a.height, a.opts) };
  },
});
