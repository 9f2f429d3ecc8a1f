/**
 * Argument checks shared by the TS reference kernels and the native
 * wrappers: a wrong type or length becomes a StarWeatherError
 * (SW_ERR_INVALID_ARGUMENT) here, before any pixel loop or native call, so a
 * bad caller can never read past a buffer or crash the process. The C++
 * side checks again (native/src/args.h) for callers that skip this module.
 */
import { StarWeatherError } from '../../../protocol/errors.js';

export function invalid(kernel: string, message: string): StarWeatherError {
  return new StarWeatherError('SW_ERR_INVALID_ARGUMENT', `${kernel}: ${message}`);
}

type TypedCtor = Uint8ArrayConstructor | Uint16ArrayConstructor | Int32ArrayConstructor | Float32ArrayConstructor | Float64ArrayConstructor;

export function checkArray(kernel: string, name: string, value: unknown, ctor: TypedCtor, length?: number): void {
  if (!(value instanceof ctor)) throw invalid(kernel, `${name} must be a ${ctor.name} (got ${describe(value)})`);
  if (length !== undefined && value.length !== length) throw invalid(kernel, `${name} has ${value.length} elements, expected ${length}`);
}

export function checkDims(kernel: string, width: unknown, height: unknown): number {
  for (const [k, v] of [['width', width], ['height', height]] as const) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 1 << 16) throw invalid(kernel, `${k} must be an integer in 1..65536 (got ${String(v)})`);
  }
  const n = (width as number) * (height as number);
  // Native kernels index pixels with 32-bit integers; a full disk at 0.5 km (21696²) is 4.7e8.
  if (n > 2 ** 31 - 1) throw invalid(kernel, `${width}×${height} pixels exceed 2^31 − 1`);
  return n;
}

export function checkNumber(kernel: string, name: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) throw invalid(kernel, `${name} must be a finite number in [${min}, ${max}] (got ${String(value)})`);
  return value;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}
