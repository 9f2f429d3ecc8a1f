/**
 * Links and conformance for the STAC API responses. Hrefs are absolute and
 * built from the request's own origin (protocol and Host), so a gateway
 * behind any address answers with links that work for that client.
 */
import type { FastifyRequest } from 'fastify';
import type { StacDoc } from '../../storage/stac.js';

export const STAC_VERSION = '1.0.0';

/**
 * Declared classes, each one we serve and test (test/integration/stac-*.test.ts):
 * STAC API Core, Item Search, Features (+ Collections) with the OGC API
 * Features Part 1 core/geojson classes the Features class requires (oas30
 * is added where the OpenAPI document is served). The Transaction extension
 * is not declared: POST/PUT/DELETE are served, PATCH is not.
 */
export const CONFORMS_TO = [
  'https://api.stacspec.org/v1.0.0/core',
  'https://api.stacspec.org/v1.0.0/item-search',
  'https://api.stacspec.org/v1.0.0/ogcapi-features',
  'https://api.stacspec.org/v1.0.0/collections',
  'http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core',
  'http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson',
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

export function rootOf(req: FastifyRequest): string {
  return `${req.protocol}://${req.host}`;
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
