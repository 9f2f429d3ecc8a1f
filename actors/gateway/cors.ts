/**
 * CORS for the REST and STAC APIs (issue 15 part 9, issue 16 part 8), with
 * @fastify/cors, for the origins configured in gateway.corsAllowedOrigins.
 *
 * An origin that is not listed gets nothing: no Access-Control-* header on
 * its answers, and its preflight is not answered as one (the `OPTIONS`
 * falls through to the 404 problem, as with CORS off), so its browser
 * refuses the call. A listed origin gets its own Origin echoed (with
 * `Vary: Origin`, so a shared cache keeps one answer per origin), and a
 * preflight answered 204 with the methods and headers the APIs take. `*`
 * in the list allows every origin (`Access-Control-Allow-Origin: *`).
 *
 * No credentials mode: writes take a bearer key in Authorization (auth.ts),
 * never a cookie, so `Access-Control-Allow-Credentials` is never sent and a
 * page can only call a write with a key it holds itself.
 */
import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';

/** Methods the APIs serve (STAC transactions: POST, PUT, DELETE). */
export const CORS_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'];
/** Request headers a cross-origin call may send beyond the CORS-safelisted ones (Fetch standard §2.2.2). */
export const CORS_ALLOWED_HEADERS = ['Authorization', 'Content-Type'];
/** Response headers a page may read beyond the safelisted ones: a 202's task, a 503's or 429's retry time, the rate-limit budget. */
export const CORS_EXPOSED_HEADERS = ['Location', 'Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'];
/** Seconds a browser may reuse a preflight answer (Chromium caps it at 7200). */
export const CORS_MAX_AGE_S = 600;

/** An origin as browsers serialise it (RFC 6454 §6.2: scheme and host lower case, no trailing slash). */
export function normaliseOrigin(origin: string): string {
  return origin.trim().replace(/\/+$/, '').toLowerCase();
}

/**
 * Register CORS on `app` for `allowedOrigins`; an empty list registers
 * nothing (no CORS headers, preflights are 404 as before). Register it
 * before the hooks that may refuse a request (rate limit, key checks), so
 * their problem answers carry the headers too and a page can read why.
 */
export async function registerCors(app: FastifyInstance, allowedOrigins: readonly string[]): Promise<void> {
  if (allowedOrigins.length === 0) return;
  const any = allowedOrigins.includes('*');
  const allowed = new Set(allowedOrigins.map(normaliseOrigin));
  await app.register(cors, {
    // A function, not the list: with a list, @fastify/cors still answers an unlisted origin's preflight with Allow-Methods.
    origin: (origin, cb) => {
      if (origin === undefined || origin === '') return cb(null, false);
      if (any) return cb(null, '*');
      cb(null, allowed.has(normaliseOrigin(origin)) ? origin : false);
    },
    methods: CORS_METHODS,
    allowedHeaders: CORS_ALLOWED_HEADERS,
    exposedHeaders: CORS_EXPOSED_HEADERS,
    credentials: false,
    maxAge: CORS_MAX_AGE_S,
    // Strict mode answers an OPTIONS without Access-Control-Request-Method with a text/plain 400, not a problem: such a request is simply answered as a preflight.
    strictPreflight: false,
  });
}
