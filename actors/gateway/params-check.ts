/**
 * Parameters that pass their schemas and still cannot be used, refused on
 * every route: ajv coerces `Infinity`, `-Infinity` and `1e400` in a query
 * string to numbers that are not finite and lets them past minimum/maximum
 * (`/passes?lat=Infinity` was answered 200 with `latDeg: null`, and
 * `/alerts?limit=Infinity` 200), and a NUL byte in a text parameter reaches
 * PostgreSQL, which refuses it (a 500).
 */
import type { FastifyInstance } from 'fastify';
import { badRequest } from './errors.js';

/** What `values` (a validated querystring or path) holds that cannot be used, as a 400 detail, or null. */
export function unusableParameter(where: string, values: unknown): string | null {
  if (typeof values !== 'object' || values === null) return null;
  for (const [name, v] of Object.entries(values)) {
    for (const x of Array.isArray(v) ? v : [v]) {
      if (typeof x === 'number' && !Number.isFinite(x)) return `${where} parameter ${name}: must be a finite number`;
      if (typeof x === 'string' && x.includes('\u0000')) return `${where} parameter ${name}: must not contain a NUL byte (U+0000)`;
    }
  }
  return null;
}

/** A root hook after validation (the values are the coerced ones), so every route registered after it is covered. */
export function refuseUnusableParameters(app: FastifyInstance): void {
  app.addHook('preHandler', async (req) => {
    const bad = unusableParameter('querystring', req.query) ?? unusableParameter('path', req.params);
    if (bad) throw badRequest(bad);
  });
}
