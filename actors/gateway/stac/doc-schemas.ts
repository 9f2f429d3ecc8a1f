/**
 * The STAC answers' shapes, for the gateway's OpenAPI document only
 * (openapi.ts documentedResponse): what read.ts and transactions.ts send.
 * They follow STAC API 1.0.0 (core, collections, item-search, features)
 * and the STAC 1.0.0 Item, Catalog and Collection specs, checking the
 * members the gateway itself writes and leaving the stored documents'
 * other fields open (an item keeps what its producer put in it).
 */
import { Type } from '@sinclair/typebox';

export const LinkDoc = Type.Object(
  {
    rel: Type.String(),
    href: Type.String(),
    type: Type.Optional(Type.String()),
    title: Type.Optional(Type.String()),
    method: Type.Optional(Type.String({ description: 'STAC API paging and search links: GET or POST' })),
    body: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'POST paging: the body of the next request' })),
    merge: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: true },
);
const Links = Type.Array(LinkDoc);

export const ItemDoc = Type.Object(
  {
    type: Type.Literal('Feature'),
    stac_version: Type.String(),
    stac_extensions: Type.Optional(Type.Array(Type.String())),
    id: Type.String(),
    collection: Type.Optional(Type.String()),
    geometry: Type.Union([Type.Object({ type: Type.String() }, { additionalProperties: true, description: 'GeoJSON geometry (RFC 7946)' }), Type.Null()]),
    bbox: Type.Optional(Type.Array(Type.Number(), { minItems: 4, maxItems: 6 })),
    properties: Type.Object({ datetime: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]) }, { additionalProperties: true }),
    links: Links,
    assets: Type.Record(Type.String(), Type.Object({ href: Type.String() }, { additionalProperties: true })),
  },
  { additionalProperties: true, description: 'A STAC 1.0.0 Item with the server\'s navigation links first' },
);

export const ItemCollectionDoc = Type.Object(
  {
    type: Type.Literal('FeatureCollection'),
    features: Type.Array(ItemDoc),
    links: Links,
    numberReturned: Type.Integer({ minimum: 0 }),
    numberMatched: Type.Optional(Type.Integer({ minimum: 0, description: 'Present when the search matched few enough items to count cheaply' })),
  },
  { additionalProperties: false, description: 'One page of items; a `next` link carries the paging token' },
);

export const CollectionDoc = Type.Object(
  {
    type: Type.Literal('Collection'),
    stac_version: Type.String(),
    id: Type.String(),
    description: Type.String(),
    license: Type.String(),
    extent: Type.Object({}, { additionalProperties: true }),
    links: Links,
  },
  { additionalProperties: true, description: 'A STAC 1.0.0 Collection' },
);

export const CollectionsDoc = Type.Object({ collections: Type.Array(CollectionDoc), links: Links }, { additionalProperties: false });

export const ConformanceDoc = Type.Object({ conformsTo: Type.Array(Type.String()) }, { additionalProperties: false });

export const LandingDoc = Type.Object(
  {
    type: Type.Literal('Catalog'),
    stac_version: Type.String(),
    id: Type.String(),
    title: Type.String(),
    description: Type.String(),
    conformsTo: Type.Array(Type.String()),
    links: Links,
  },
  { additionalProperties: false, description: 'The STAC API landing page (a Catalog): conformance classes and links to the collections, search and this document' },
);

const Registration = {
  itemId: Type.String(),
  taskId: Type.String(),
  status: Type.String({ description: 'The task\'s state' }),
  queue: Type.String({ description: 'The work queue the task went to' }),
  created: Type.Boolean({ description: 'false: an identical registration found the task already there' }),
};
export const RegistrationDoc = Type.Object(Registration, { additionalProperties: false });
export const BulkRegistrationDoc = Type.Object(
  { tasks: Type.Array(Type.Object({ ...Registration, location: Type.String() }, { additionalProperties: false })) },
  { additionalProperties: false, description: 'An ItemCollection registered: one task per item' },
);
