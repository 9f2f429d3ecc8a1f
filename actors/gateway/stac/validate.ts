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
