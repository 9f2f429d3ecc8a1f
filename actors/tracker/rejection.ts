/**
 * A record refused by validation. Ingest counts these per code and reports
 * them; it never throws on bad input, so one bad record cannot abort a batch.
 */
export type RejectionCode =
  // TLE / 3LE (spec: CelesTrak "NORAD Two-Line Element Set Format")
  | 'TLE_LINE_LENGTH'
  | 'TLE_LINE_NUMBER'
  | 'TLE_CHECKSUM'
  | 'TLE_FORMAT'
  | 'TLE_CATNUM'
  | 'TLE_CATNUM_MISMATCH'
  | 'TLE_EPOCH'
  | 'TLE_RANGE'
  | 'TLE_ORPHAN_LINE'
  // OMM (CCSDS 502.0-B-3, CelesTrak's JSON/CSV encodings)
  | 'OMM_PARSE'
  | 'OMM_NOT_OBJECT'
  | 'OMM_MISSING_FIELD'
  | 'OMM_TYPE'
  | 'OMM_RANGE'
  | 'OMM_EPOCH'
  | 'OMM_CATNUM'
  | 'OMM_UNSUPPORTED'
  // element set → SGP4 initialisation
  | 'SGP4_INIT';

export interface Rejection {
  readonly code: RejectionCode;
  readonly reason: string;
  /** 1-based line (TLE, CSV) or 1-based record index (OMM JSON) in the input. */
  readonly line: number;
  /** Catalog number when it could be read, to make reports actionable. */
  readonly noradId?: number;
}

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly rejection: Rejection };

export function reject(code: RejectionCode, reason: string, line: number, noradId?: number): { ok: false; rejection: Rejection } {
  return { ok: false, rejection: noradId === undefined ? { code, reason, line } : { code, reason, line, noradId } };
}

/** Counts per code, the shape an ingest report or a metrics label set wants. */
export function countByCode(rejects: readonly Rejection[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rejects) out[r.code] = (out[r.code] ?? 0) + 1;
  return out;
}
