/**
 * Catalog text → validated records, with the tracker's pure parsers
 * (actors/tracker tle.ts, omm.ts). A bad record becomes a Rejection with its
 * reason; it never aborts the batch. Every accepted record has also passed
 * SGP4 initialisation, so nothing reaches the database that a tracker could
 * not propagate.
 */
import { createSatrec, elementSetFromOmm, elementSetFromTle, type ElementSet } from '../tracker/element-set.js';
import { ommToJson, parseOmmCsv, parseOmmJson, validateOmm, type OmmRecord } from '../tracker/omm.js';
import type { Rejection } from '../tracker/rejection.js';
import { parseTleText } from '../tracker/tle.js';

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

/** OMM JSON validated record by record, so a later SGP4 rejection can name the record's position. */
function ommJsonWithLines(text: string): { records: Array<[OmmRecord, number]>; rejects: Rejection[] } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // parseOmmJson words the parse error the same way for every caller.
    return { records: [], rejects: [...parseOmmJson(text).rejects] };
  }
  const records: Array<[OmmRecord, number]> = [];
  const rejects: Rejection[] = [];
  (Array.isArray(doc) ? doc : [doc]).forEach((item, i) => {
    const r = validateOmm(item, i + 1);
    if (r.ok) records.push([r.value, i + 1]);
    else rejects.push(r.rejection);
  });
  return { records, rejects };
}

/** CSV records do not carry their line; SGP4 rejections of CSV rows say line 0 (unknown). */
function withoutLines(r: { records: OmmRecord[]; rejects: Rejection[] }): { records: Array<[OmmRecord, number]>; rejects: Rejection[] } {
  return { records: r.records.map((o) => [o, 0]), rejects: r.rejects };
}

export function parseCatalogText(text: string, format: CatalogFormat): CatalogParseResult {
  const records: CatalogRecord[] = [];
  const rejects: Rejection[] = [];
  if (format === 'tle' || format === '3le') {
    // parseTleText reads both: a 3LE name line is optional per record.
    const parsed = parseTleText(text.replace(/^\uFEFF/, ''));
    rejects.push(...parsed.rejects);
    for (const t of parsed.records) {
      const es = elementSetFromTle(t);
      const bad = sgp4Rejection(es, 0);
      if (bad) {
        rejects.push(bad);
        continue;
      }
      records.push({
        noradId: t.noradId,
        name: t.name.trim() || `NORAD ${t.noradId}`,
        intlDesignator: designatorFromTle(t.intlDesignator),
        epochMs: Math.round(t.epochMs),
        format: 'tle',
        line1: t.line1,
        line2: t.line2,
      });
    }
  } else {
    const parsed = format === 'json' ? ommJsonWithLines(text.replace(/^\uFEFF/, '')) : withoutLines(parseOmmCsv(text.replace(/^\uFEFF/, '')));
    rejects.push(...parsed.rejects);
    for (const [o, line] of parsed.records) {
      const bad = sgp4Rejection(elementSetFromOmm(o), line);
      if (bad) {
        rejects.push(bad);
        continue;
      }
      records.push({
        noradId: o.noradId,
        name: (o.name || `NORAD ${o.noradId}`).slice(0, 200),
        intlDesignator: o.objectId || null,
        epochMs: Math.round(o.epochMs),
        format: 'omm',
        omm: ommObject(o),
      });
    }
  }
  return { records, rejects, total: records.length + rejects.length };
}
