/**
 * TypeBox validates `format` only through its FormatRegistry; an unregistered
 * format fails every value. These are the formats protocol schemas use.
 */
import { FormatRegistry } from '@sinclair/typebox';

// RFC 3339 date-time, as STAC and JSON Schema define it.
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

if (!FormatRegistry.Has('date-time')) {
  FormatRegistry.Set('date-time', (v) => DATE_TIME.test(v) && !Number.isNaN(Date.parse(v)));
}
if (!FormatRegistry.Has('uri')) {
  FormatRegistry.Set('uri', (v) => {
    try {
      new URL(v);
      return true;
    } catch {
      return false;
    }
  });
}
