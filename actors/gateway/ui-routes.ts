/**
 * The dashboard's static files at /ui/ (built by `npm run build:ui` into
 * dist/ui: actors/gateway/ui/build.mjs), and the browser redirect from `/`.
 *
 * The files are read once at start-up into memory (a few hundred KB) and
 * served from a name → file map, so a request path never reaches the file
 * system (no traversal to guard). Caching: a file whose name carries the
 * bundler's content hash never changes under that name, so it is
 * `immutable` for a year; index.html names the current hashes, so it is
 * `no-cache` (revalidated every load, cheap with its ETag). Every file has a
 * strong ETag (SHA-256 of its bytes) and answers If-None-Match with 304.
 *
 * `/` belongs to the STAC API (its landing page, JSON). A browser asking
 * for HTML is sent to /ui/ instead: an onRequest hook on the root instance
 * (the plugin skips encapsulation, so the hook sees the STAC route), which
 * redirects only when text/html is preferred over JSON in Accept, so curl
 * (`*\/*`) and STAC clients keep the landing page.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { problem, sendProblem } from './errors.js';

/** dist/ui, next to dist/actors (this file runs as dist/actors/gateway/ui-routes.js). */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../ui/', import.meta.url));

export interface UiRoutesOptions {
  /** Directory of the built dashboard (default DEFAULT_UI_DIR). */
  dir?: string;
}

interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
  cacheControl: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

/** esbuild's `[name]-[hash]` file names (build.mjs): 8 base32 characters. */
const HASHED = /-[A-Z0-9]{8}\.[a-z]+(\.map)?$/;
export const IMMUTABLE = 'public, max-age=31536000, immutable';
/**
 * The page may load and connect to its own origin only (no CDN, no third
 * party, no inline script): the offline promise enforced by the browser.
 * 'self' covers the same-origin websocket (CSP Level 3); images also from
 * data:/blob: (canvas read-backs).
 */
export const CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";
export const REVALIDATE = 'no-cache';

/** Every regular file under `dir` (one level of sub-directories is enough for the build's layout). */
function loadFiles(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  if (!existsSync(dir)) return files;
  const walk = (rel: string, depth: number): void => {
    for (const name of readdirSync(join(dir, rel))) {
      const path = rel ? `${rel}/${name}` : name;
      const full = join(dir, path);
      const st = statSync(full);
      if (st.isDirectory()) {
        if (depth < 2) walk(path, depth + 1);
        continue;
      }
      const type = TYPES[extname(name).toLowerCase()];
      if (!st.isFile() || !type) continue;
      const body = readFileSync(full);
      files.set(path, {
        body,
        type,
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
        cacheControl: HASHED.test(name) ? IMMUTABLE : REVALIDATE,
      });
    }
  };
  walk('', 0);
  return files;
}

/** q value of a media type in an Accept header (exact type only; 0 when absent). */
function qOf(accept: string, type: string): number {
  for (const part of accept.split(',')) {
    const [media, ...params] = part.trim().split(';');
    if (media?.trim().toLowerCase() !== type) continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const v = q ? Number(q.slice(2)) : 1;
    return Number.isFinite(v) ? v : 0;
  }
  return 0;
}

/** A browser navigation: text/html named and preferred over every JSON type the landing page has. */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  const html = qOf(accept, 'text/html');
  return html > 0 && html > qOf(accept, 'application/json') && html > qOf(accept, 'application/geo+json');
}

function send(req: FastifyRequest, reply: FastifyReply, f: StaticFile): FastifyReply {
  reply.header('etag', f.etag).header('cache-control', f.cacheControl).header('x-content-type-options', 'nosniff');
  if (f.type.startsWith('text/html')) reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
  if (req.headers['if-none-match'] === f.etag) return reply.code(304).send();
  return reply.type(f.type).send(f.body);
}

const uiRoutes: FastifyPluginAsync<UiRoutesOptions> = async (app, o) => {
  const files = loadFiles(o.dir ?? DEFAULT_UI_DIR);

  app.addHook('onRequest', async (req, reply) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || req.url.split('?')[0] !== '/') return;
    // The answer to `/` depends on Accept: caches must keep the two apart.
    reply.header('vary', 'Accept');
    if (prefersHtml(req.headers.accept)) return reply.redirect('/ui/', 302);
  });

  // Static files are cheap and a page load asks for several: outside the API's rate limit.
  const config = { rateLimit: false } as const;
  app.get('/ui', { config, schema: { hide: true } }, async (_req, reply) => reply.redirect('/ui/', 301));
  app.get<{ Params: { '*': string } }>('/ui/*', { config, schema: { hide: true } }, async (req, reply) => {
    const path = req.params['*'] || 'index.html';
    const f = files.get(path);
    if (f) return send(req, reply, f);
    if (files.size === 0) return sendProblem(reply, problem(503, 'SW_ERR_UNAVAILABLE', 'the dashboard is not built: run `npm run build`'));
    return sendProblem(reply, problem(404, 'SW_ERR_NOT_FOUND', `no dashboard file ${path.slice(0, 200)}`));
  });
};

// Registered on the root instance (fastify's skip-override, what fastify-plugin
// sets): the redirect hook must run for `/`, a route of another plugin.
(uiRoutes as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;

export const uiRoutesPlugin = uiRoutes;
