/**
 * STAC 1.0.0 Item validation against the JSON Schemas shipped in
 * ./schemas (loaded from disk once; the GeoJSON schemas item.json refers to
 * by URL are local copies under those $ids, so nothing is fetched).
 * `stac_extensions` are deliberately not compiled: a schema is code, and an
 * item must not choose what the gateway runs (RELIABILITY.md); an extended
 * item is checked against the core schema only.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import formatsModule from 'ajv-formats';

/** dist/actors/gateway/stac/validate.js → the source tree's schemas (JSON is not emitted by tsc). */
const SCHEMA_DIR = fileURLToPath(new URL('../../../../actors/gateway/stac/schemas/', import.meta.url));
const ITEM_SCHEMAS = ['basics', 'datetime', 'instrument', 'licensing', 'provider'];
export const ITEM_SCHEMA_ID = 'https://schemas.stacspec.org/v1.0.0/item-spec/json-schema/item.json';

export interface FieldError {
  /** JSON pointer into the body, e.g. /properties/datetime ('' for the root). */
  path: string;
  /** The field named in dotted form (`properties.datetime`, `assets.data.href`), or `body`. */
  field: string;
  message: string;
}

function load(rel: string): Record<string, unknown> {
  return JSON.parse(readFileSync(SCHEMA_DIR + rel, 'utf8')) as Record<string, unknown>;
}

// ajv-formats is CommonJS with a default export; NodeNext sees the module object.
const addFormats = ((formatsModule as unknown as { default?: unknown }).default ?? formatsModule) as (ajv: Ajv) => Ajv;

function compileItem(): ValidateFunction {
  // strict off: the published STAC schemas use draft-07 keywords (dependencies) and titles Ajv's strict mode flags.
  const ajv = new Ajv({ strict: false, allErrors: false, loadSchema: undefined });
  addFormats(ajv);
  // RFC 3987 IRIs: ajv-formats has none. Absolute needs a scheme; a reference only has to be free of spaces and controls.
  ajv.addFormat('iri', /^[A-Za-z][A-Za-z0-9+.-]*:[^\s\u0000-\u001f]*$/u);
  ajv.addFormat('iri-reference', /^[^\s\u0000-\u001f]*$/u);
  ajv.addSchema(load('geojson/Geometry.json'));
  ajv.addSchema(load('geojson/Feature.json'));
  for (const name of ITEM_SCHEMAS) ajv.addSchema(load(`item-spec/${name}.json`));
  return ajv.compile(load('item-spec/item.json'));
}

let itemValidator: ValidateFunction | null = null;

function fieldOf(e: ErrorObject): { path: string; field: string } {
  const missing = (e.params as { missingProperty?: string }).missingProperty;
  const path = missing !== undefined ? `${e.instancePath}/${missing}` : e.instancePath;
  const field = path === '' ? 'body' : path.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')).join('.');
  return { path, field };
}

/**
 * Check `doc` against the STAC Item schema. Returns [] when valid, otherwise
 * the failures with the most specific (deepest) first, so the first one names
 * the field the client has to fix rather than a oneOf summary.
 */
export function validateItem(doc: unknown): FieldError[] {
  itemValidator ??= compileItem();
  if (itemValidator(doc)) return [];
  const errors = (itemValidator.errors ?? []).map((e) => ({ ...fieldOf(e), message: e.message ?? 'invalid' }));
  // Stable sort: deeper paths first; among equals, ajv's order.
  return errors
    .map((e, i) => ({ e, i, depth: e.path.split('/').length }))
    .sort((a, b) => b.depth - a.depth || a.i - b.i)
    .map(({ e }) => e)
    .slice(0, 10);
}

/** Compile now (at plugin registration) so a broken schema file fails the start, not the first POST. */
export function warmItemValidator(): void {
  itemValidator ??= compileItem();
}

/**
 * Deepest nesting a request's JSON may have. The deepest STAC geometry is six
 * levels below an item (a MultiPolygon position), extensions add a few; a
 * deeper document is an attack, and one nested thousands deep makes
 * JSON.stringify (writes, next links) throw RangeError on the stack.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Why `value` (parsed JSON) cannot be stored or echoed as it was sent, or
 * null when it can: nested deeper than `maxDepth`, a number that is not
 * finite (JSON.parse turns 1e400 into Infinity, which JSON.stringify writes
 * as null: the stored item would differ from the one accepted), or U+0000
 * in a string or key (PostgreSQL's jsonb and text cannot hold it).
 * Iterative, so the check itself cannot overflow the stack.
 */
export function jsonShapeProblem(value: unknown, maxDepth = MAX_JSON_DEPTH): string | null {
  interface Node {
    v: unknown;
    depth: number;
    key: string;
    parent: Node | null;
  }
  // Parent links, not path strings: the path is only built for the one node refused.
  const where = (n: Node): string => {
    const keys: string[] = [];
    for (let x: Node | null = n; x !== null && x.parent !== null; x = x.parent) keys.push(x.key);
    if (keys.length === 0) return 'top level';
    keys.reverse();
    // A path 64 levels down is mostly `0.0.0…`: its start says where.
    return (keys.length > 8 ? `${keys.slice(0, 8).join('.')}.…` : keys.join('.')).slice(0, 200);
  };
  const stack: Node[] = [{ v: value, depth: 0, key: '', parent: null }];
  while (stack.length > 0) {
    const n = stack.pop()!;
    const v = n.v;
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return `${where(n)}: a string holds a NUL character (U+0000), which cannot be stored`;
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) return `${where(n)}: the number is out of range (not finite)`;
    } else if (typeof v === 'object' && v !== null) {
      if (n.depth >= maxDepth) return `${where(n)}: nested deeper than ${maxDepth} levels`;
      if (Array.isArray(v)) for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], depth: n.depth + 1, key: String(i), parent: n });
      else {
        for (const [k, x] of Object.entries(v)) {
          if (k.includes('\u0000')) return `${where(n)}: a key holds a NUL character (U+0000), which cannot be stored`;
          stack.push({ v: x, depth: n.depth + 1, key: k, parent: n });
        }
      }
    }
  }
  return null;
}
