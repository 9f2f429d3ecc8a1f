/**
 * Links and conformance for the STAC API responses. Hrefs are absolute, on
 * one base (rootOf): the configured public base URL (gateway.publicBaseUrl)
 * when there is one. Without it, the request's Host, so a gateway behind any
 * address answers with links that work for that client; but only a Host
 * that is a bare host name or IP with an optional port. Anything else in
 * Host (userinfo, a path, a query, spaces, quotes) would put a client's or a
 * cache's next request on another site or break the JSON's consumers, so
 * then the links name the address the connection arrived on instead.
 */
import { isIPv6 } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { StacDoc } from '../../storage/stac.js';

export const STAC_VERSION = '1.0.0';

/**
 * Declared classes, each one we serve and test (test/integration/stac-*.test.ts):
 * STAC API Core, Item Search, Features (+ Collections) with the OGC API
 * Features Part 1 core/geojson classes the Features class requires (oas30
 * is added where the OpenAPI document is served), and the sort extension
 * on both search endpoints. The Transaction extension
 * is not declared: POST/PUT/DELETE are served, PATCH is not.
 */
export const CONFORMS_TO = [
  'https://api.stacspec.org/v1.0.0/core',
  'https://api.stacspec.org/v1.0.0/item-search',
  'https://api.stacspec.org/v1.0.0/ogcapi-features',
  'https://api.stacspec.org/v1.0.0/collections',
  'http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core',
  'http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson',
  // The sort extension (stac-api-extensions/sort v1.0.0), on /search and on /collections/{id}/items (params.ts parseSortby).
  'https://api.stacspec.org/v1.0.0/item-search#sort',
  'https://api.stacspec.org/v1.0.0/ogcapi-features#sort',
] as const;
export const OAS30 = 'http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30';

export const GEOJSON = 'application/geo+json';
export const JSON_TYPE = 'application/json';

export interface Link {
  rel: string;
  href: string;
  type?: string;
  title?: string;
  method?: string;
  body?: unknown;
  merge?: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** gateway.publicBaseUrl without a trailing slash (usePublicBaseUrl); '' or absent: links are built from the request. */
    publicBaseUrl?: string;
  }
}

/** The base of every STAC link served by `app` and the plugins registered on it after this call. */
export function usePublicBaseUrl(app: FastifyInstance, url: string | undefined): void {
  app.decorate('publicBaseUrl', (url ?? '').replace(/\/+$/, ''));
}

const LABEL = '[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?';
const HOST_RE = new RegExp(`^(?:(${LABEL}(?:\\.${LABEL})*)|\\[([0-9A-Fa-f:.]+)\\])(?::(\\d{1,5}))?$`);

/** A Host value that is a host name, an IPv4 address or a bracketed IPv6 address, with an optional port, and nothing else. */
export function wellFormedHost(host: string): boolean {
  const m = HOST_RE.exec(host);
  if (!m) return false;
  if (m[1] !== undefined && m[1].length > 253) return false;
  if (m[2] !== undefined && !isIPv6(m[2])) return false;
  return m[3] === undefined || Number(m[3]) <= 65_535;
}

/** The address and port the connection arrived on: the server's own, whatever the client claims. */
function ownAddress(req: FastifyRequest): string {
  const s = req.raw.socket as { localAddress?: string; localPort?: number } | undefined;
  let a = s?.localAddress ?? '';
  if (a.startsWith('::ffff:') && a.includes('.')) a = a.slice(7);
  // Injected requests (light-my-request) have no local address.
  const host = a === '' ? 'localhost' : isIPv6(a) ? `[${a.replace('%', '%25')}]` : a;
  return s?.localPort ? `${host}:${s.localPort}` : host;
}

/**
 * A request target as origin-form (path and query). An absolute-form target
 * (`GET http://other.example/search HTTP/1.1`, which RFC 9112 §3.2.2 has
 * servers accept) would otherwise carry another origin into every link that
 * repeats the request's own path, such as a page's self link. Used as the
 * app's rewriteUrl, before routing.
 */
export function originForm(url: string | undefined): string {
  if (url === undefined || url === '') return '/';
  if (url.startsWith('/')) return url;
  try {
    const u = new URL(url);
    return `${u.pathname}${u.search}`;
  } catch {
    // Not a URL (`*` of OPTIONS): the router answers it.
    return url;
  }
}

export function rootOf(req: FastifyRequest): string {
  const configured = req.server.publicBaseUrl;
  if (configured) return configured;
  const host = req.host;
  return `${req.protocol}://${wellFormedHost(host) ? host.toLowerCase() : ownAddress(req)}`;
}

/** Seconds a STAC read may be reused: scenes arrive every few minutes, and a deleted or replaced item may be served this long after. */
export const STAC_READ_MAX_AGE_S = 30;

/**
 * Cache-Control of a STAC read (GET/HEAD; errors and writes are no-store).
 * Reads need no credentials and are the same for every client, except for
 * their links: only with a configured base are those the same for everyone,
 * so only then may a shared cache serve one client's answer to another
 * (`public`); built from a Host, a shared cache that keys on the path alone
 * would hand one client's Host to all (`private`: the client's own cache
 * only). A request that carried credentials may have been answered for them
 * by a proxy in front, so its answer is not kept at all.
 */
export function stacReadCacheControl(req: FastifyRequest): string {
  if (req.headers.authorization !== undefined) return 'no-store';
  return `${req.server.publicBaseUrl ? 'public' : 'private'}, max-age=${STAC_READ_MAX_AGE_S}`;
}

const seg = (s: string): string => encodeURIComponent(s);

export function collectionLinks(root: string, id: string): Link[] {
  return [
    { rel: 'self', href: `${root}/collections/${seg(id)}`, type: JSON_TYPE },
    { rel: 'root', href: `${root}/`, type: JSON_TYPE },
    { rel: 'parent', href: `${root}/`, type: JSON_TYPE },
    { rel: 'items', href: `${root}/collections/${seg(id)}/items`, type: GEOJSON },
  ];
}

/** Navigation links of an item: the server writes these, whatever the stored item says. */
export const OWN_ITEM_RELS: readonly string[] = ['self', 'root', 'parent', 'collection'];
const OWN_ITEM_REL_SET = new Set(OWN_ITEM_RELS);

export function itemNavLinks(root: string, collection: string, id: string): Link[] {
  return [
    { rel: 'self', href: `${root}/collections/${seg(collection)}/items/${seg(id)}`, type: GEOJSON },
    { rel: 'parent', href: `${root}/collections/${seg(collection)}`, type: JSON_TYPE },
    { rel: 'collection', href: `${root}/collections/${seg(collection)}`, type: JSON_TYPE },
    { rel: 'root', href: `${root}/`, type: JSON_TYPE },
  ];
}

/** The item as served: its own links kept, except the navigation links, which are ours. */
export function withItemLinks(root: string, item: StacDoc): StacDoc {
  const collection = typeof item.collection === 'string' ? item.collection : '';
  const own = Array.isArray(item.links) ? (item.links as Link[]).filter((l) => !OWN_ITEM_REL_SET.has(l?.rel)) : [];
  return { ...item, links: [...itemNavLinks(root, collection, item.id), ...own] };
}

export function withCollectionLinks(root: string, c: StacDoc): StacDoc {
  const own = Array.isArray(c.links) ? (c.links as Link[]).filter((l) => !['self', 'root', 'parent', 'items'].includes(l?.rel)) : [];
  return { ...c, links: [...collectionLinks(root, c.id), ...own] };
}
