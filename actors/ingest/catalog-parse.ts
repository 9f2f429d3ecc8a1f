/**
 * Catalog text → validated records, with the tracker's pure parsers
 * (actors/tracker tle.ts, omm.ts). A bad record becomes a Rejection with its
 * reason; it never aborts the batch. Every accepted record has also passed
 * SGP4 initialisation, so nothing reaches the database that a tracker could
 * not propagate.
 */
import { createSatrec, elementSetFromOmm, elementSetFromTle, type ElementSet } from '../tracker/element-set.js';
import { ommCsvItems, ommToJson, validateOmm, type OmmRecord } from '../tracker/omm.js';
import type { Rejection } from '../tracker/rejection.js';
import { tleTextItems, type TleRecord } from '../tracker/tle.js';
import { jsonArrayElements } from './catalog-json.js';
import type { TimeSlicer } from './catalog-slice.js';

/** Formats a catalog can come in: CelesTrak GP FORMAT values plus OMM CSV. */
export type CatalogFormat = 'json' | 'tle' | '3le' | 'csv';
export const CATALOG_FORMATS: readonly CatalogFormat[] = ['json', 'tle', '3le', 'csv'];

/** One accepted element set with what the catalog row needs. */
export interface CatalogRecord {
  readonly noradId: number;
  readonly name: string;
  /** International designator (COSPAR id as OMM writes it, e.g. 1998-067A), or null when the source has none. */
  readonly intlDesignator: string | null;
  /** Epoch in whole ms: the element set's natural key with the NORAD id. */
  readonly epochMs: number;
  readonly format: 'tle' | 'omm';
  readonly omm?: Record<string, unknown>;
  readonly line1?: string;
  readonly line2?: string;
}

export interface CatalogParseResult {
  readonly records: CatalogRecord[];
  readonly rejects: Rejection[];
  /** Records seen: accepted + rejected (a stray line counts as one rejected record). */
  readonly total: number;
}

/** Guesses the format of a file the operator gives `catalog load` without --format. */
export function sniffFormat(text: string, fileName = ''): CatalogFormat {
  const lower = fileName.toLowerCase();
  if (lower.endsWith('.json')) return 'json';
  if (lower.endsWith('.csv')) return 'csv';
  const head = text.slice(0, 4096).replace(/^\uFEFF/, '').trimStart();
  if (head.startsWith('[') || head.startsWith('{')) return 'json';
  const first = head.split('\n', 1)[0] ?? '';
  if (first.includes('NORAD_CAT_ID') && first.includes(',')) return 'csv';
  return head.startsWith('1 ') ? 'tle' : '3le';
}

/** International designator from TLE columns 10-17 ("98067A  ") as OMM writes it ("1998-067A"). */
export function designatorFromTle(field: string): string | null {
  const f = field.trim();
  const m = /^(\d{2})(\d{3})([A-Z]{0,3})$/.exec(f);
  if (!m) return f === '' ? null : f;
  const yy = Number(m[1]);
  return `${yy < 57 ? 2000 + yy : 1900 + yy}-${m[2]}${m[3]}`;
}

/** The OMM as stored: CelesTrak's JSON keys, numbers as numbers, validated (validateOmm reads it back unchanged). */
export const ommObject = (o: OmmRecord): Record<string, unknown> => ({ ...ommToJson(o) });

function sgp4Rejection(es: ElementSet, line: number): Rejection | null {
  let initError: number;
  try {
    initError = createSatrec(es).initError;
  } catch (err) {
    return { code: 'SGP4_INIT', reason: `SGP4 initialisation threw: ${(err as Error).message}`, line, noradId: es.noradId };
  }
  return initError === 0 ? null : { code: 'SGP4_INIT', reason: `SGP4 initialisation failed with error code ${initError}`, line, noradId: es.noradId };
}

/**
 * One step of a catalog parse: an accepted record, a rejected one, a
 * document-level failure (JSON that is not JSON: everything collected so far
 * is void), or null (progress only, a chance to yield).
 */
export type CatalogStep = { readonly record: CatalogRecord } | { readonly reject: Rejection } | { readonly malformed: Rejection } | null;

function tleStep(t: TleRecord, line: number): CatalogStep {
  const bad = sgp4Rejection(elementSetFromTle(t), line);
  if (bad) return { reject: bad };
  return {
    record: {
      noradId: t.noradId,
      name: t.name.trim() || `NORAD ${t.noradId}`,
      intlDesignator: designatorFromTle(t.intlDesignator),
      epochMs: Math.round(t.epochMs),
      format: 'tle',
      line1: t.line1,
      line2: t.line2,
    },
  };
}

function ommStep(o: OmmRecord, line: number): CatalogStep {
  const bad = sgp4Rejection(elementSetFromOmm(o), line);
  if (bad) return { reject: bad };
  return {
    record: {
      noradId: o.noradId,
      name: (o.name || `NORAD ${o.noradId}`).slice(0, 200),
      intlDesignator: o.objectId || null,
      epochMs: Math.round(o.epochMs),
      format: 'omm',
      omm: ommObject(o),
    },
  };
}

/**
 * The catalog parse as a generator: one record per step, each parsed,
 * validated and SGP4-initialised, so a caller can spread a 15k-record
 * catalog over many short slices of the event loop (parseCatalogSliced).
 * Rejection lines: TLE/3LE and CSV give the record's first line, JSON the
 * record's 1-based position in the array.
 */
export function* catalogSteps(text: string, format: CatalogFormat): Generator<CatalogStep> {
  const body = text.replace(/^\uFEFF/, '');
  if (format === 'tle' || format === '3le') {
    // One reader for both: a 3LE name line is optional per record.
    for (const item of tleTextItems(body)) {
      if (item === null) yield null;
      else yield item.parsed.ok ? tleStep(item.parsed.value, item.line) : { reject: item.parsed.rejection };
    }
  } else if (format === 'csv') {
    for (const item of ommCsvItems(body)) {
      if (item === null) yield null;
      else yield item.parsed.ok ? ommStep(item.parsed.value, item.line) : { reject: item.parsed.rejection };
    }
  } else {
    for (const step of jsonArrayElements(body)) {
      if (step.kind === 'progress') yield null;
      else if (step.kind === 'malformed') yield { malformed: { code: 'OMM_PARSE', reason: step.reason, line: 0 } };
      else if (step.kind === 'oversized') yield { reject: { code: 'OMM_PARSE', reason: `record of ${step.chars} characters is not an OMM record`, line: step.index } };
      else {
        const r = validateOmm(step.value, step.index);
        yield r.ok ? ommStep(r.value, step.index) : { reject: r.rejection };
      }
    }
  }
}

/** Collects steps; a malformed document voids what came before it, as a whole-document parse would. */
class Collector {
  records: CatalogRecord[] = [];
  rejects: Rejection[] = [];
  add(step: CatalogStep): void {
    if (step === null) return;
    if ('record' in step) this.records.push(step.record);
    else if ('reject' in step) this.rejects.push(step.reject);
    else {
      this.records = [];
      this.rejects = [step.malformed];
    }
  }
  result(): CatalogParseResult {
    return { records: this.records, rejects: this.rejects, total: this.records.length + this.rejects.length };
  }
}

/** The whole parse in one synchronous call: for small inputs and tests. A catalog load uses parseCatalogSliced. */
export function parseCatalogText(text: string, format: CatalogFormat): CatalogParseResult {
  const c = new Collector();
  for (const step of catalogSteps(text, format)) c.add(step);
  return c.result();
}

/** The same parse in time slices: yields to the event loop whenever the slicer's slice is used up. */
export async function parseCatalogSliced(text: string, format: CatalogFormat, slicer: TimeSlicer): Promise<CatalogParseResult> {
  const c = new Collector();
  for (const step of catalogSteps(text, format)) {
    c.add(step);
    await slicer.maybeYield();
  }
  return c.result();
}
