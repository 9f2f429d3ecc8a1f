/**
 * Tropical-cyclone tracks (issue 14 part 3): GET /storms lists tracks, most
 * recently seen first (`limit` 1..500, default 100; `since` date-time: seen
 * at or after; `minScenes`: only tracks seen in at least that many scenes);
 * GET /storms/{id} is one track with every fix: position, the image's raw T,
 * the time-averaged Final T, CI (ADT time rules, actors/tile/physics/adt-time.ts),
 * wind and pressure, and the scene (STAC item) that saw it.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { Storage } from '../storage/index.js';
import { getTrack, listTracks, trackFixes, type StormFixRow, type StormTrackRow } from '../storage/storms.js';
import { badRequest, notFound } from './errors.js';

export interface StormsOptions {
  storage(): Promise<Storage>;
}

const Instant = Type.String({ format: 'date-time' });
const TrackDoc = Type.Object(
  {
    id: Type.String({ description: 'Track id: basin, first fix time and place' }),
    basin: Type.String({ description: 'Hemisphere and ADT domain (n-wpac, n-other, s-other)' }),
    firstSeen: Instant,
    lastSeen: Instant,
    lat: Type.Number({ description: 'Latest fix (degrees)' }),
    lon: Type.Number(),
    scenes: Type.Integer({ minimum: 1, description: 'Scenes the storm was seen in' }),
    finalT: Type.Number({ description: 'Latest Final T (6-h time-weighted T-number)' }),
    ci: Type.Number({ description: 'Current intensity (Dvorak CI) after the ADT time rules' }),
    vmaxKt: Type.Number(),
    mslpHpa: Type.Number(),
    href: Type.String({ description: 'This track, /storms/{id}' }),
  },
  { additionalProperties: false },
);
const FixDoc = Type.Object(
  {
    observedAt: Instant,
    lat: Type.Number(),
    lon: Type.Number(),
    scene: Type.Union([Type.Literal('eye'), Type.Literal('cdo')], { description: 'Dvorak scene type of the image' }),
    eyeTempK: Type.Union([Type.Number(), Type.Null()]),
    cloudTempK: Type.Number(),
    rawT: Type.Number({ description: 'The image\'s own T-number' }),
    adjustedRawT: Type.Number({ description: 'Raw T after the Rule 8 change limits' }),
    finalT: Type.Number(),
    ci: Type.Number(),
    weakening: Type.Boolean({ description: 'Rule 9 holds CI above the Final T' }),
    vmaxKt: Type.Number(),
    mslpHpa: Type.Number(),
    platform: Type.String(),
    collection: Type.String(),
    item: Type.String({ description: 'The STAC item of the scene' }),
    itemHref: Type.String(),
  },
  { additionalProperties: false },
);

const round = (v: number, d: number): number => Math.round(v * 10 ** d) / 10 ** d;

function trackBody(t: StormTrackRow): Record<string, unknown> {
  return {
    id: t.id, basin: t.basin, firstSeen: t.firstAt.toISOString(), lastSeen: t.lastAt.toISOString(), lat: round(t.lat, 4), lon: round(t.lon, 4),
    scenes: t.scenes, finalT: t.finalT, ci: t.ci, vmaxKt: round(t.vmaxKt, 1), mslpHpa: round(t.mslpHpa, 1), href: `/storms/${encodeURIComponent(t.id)}`,
  };
}

function fixBody(f: StormFixRow): Record<string, unknown> {
  return {
    observedAt: f.observedAt.toISOString(), lat: round(f.lat, 4), lon: round(f.lon, 4), scene: f.scene, eyeTempK: f.eyeTempK === null ? null : round(f.eyeTempK, 2),
    cloudTempK: round(f.cloudTempK, 2), rawT: f.rawT, adjustedRawT: round(f.adjRawT, 2), finalT: f.finalT, ci: f.ci, weakening: f.weakening,
    vmaxKt: round(f.vmaxKt, 1), mslpHpa: round(f.mslpHpa, 1), platform: f.platform, collection: f.collection, item: f.itemId,
    itemHref: `/collections/${encodeURIComponent(f.collection)}/items/${encodeURIComponent(f.itemId)}`,
  };
}

export const stormsPlugin: FastifyPluginAsync<StormsOptions> = async (app, o) => {
  const query = Type.Object(
    {
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
      since: Type.Optional(Type.String({ format: 'date-time' })),
      minScenes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    },
    { additionalProperties: false },
  );
  app.get<{ Querystring: { limit?: number; since?: string; minScenes?: number } }>(
    '/storms',
    { schema: { operationId: 'listStorms', summary: 'Tropical-cyclone tracks, most recently seen first', querystring: query, documentedResponse: { 200: Type.Object({ storms: Type.Array(TrackDoc) }, { additionalProperties: false }) } } },
    async (req, reply) => {
      const since = req.query.since !== undefined ? new Date(req.query.since) : undefined;
      if (since && Number.isNaN(since.getTime())) throw badRequest('since must be a date-time');
      const rows = await listTracks((await o.storage()).db, { limit: req.query.limit ?? 100, ...(since ? { since } : {}), ...(req.query.minScenes ? { minScenes: req.query.minScenes } : {}) });
      return reply.header('cache-control', 'no-store').send({ storms: rows.map(trackBody) });
    },
  );

  const params = Type.Object({ id: Type.String({ minLength: 1, maxLength: 120, pattern: '^[A-Za-z0-9._:\\-]+$' }) });
  app.get<{ Params: { id: string } }>(
    '/storms/:id',
    {
      schema: {
        operationId: 'getStorm',
        summary: 'One tropical-cyclone track: its fixes, intensities and the scenes that saw it',
        params,
        documentedResponse: { 200: Type.Object({ ...TrackDoc.properties, fixes: Type.Array(FixDoc) }, { additionalProperties: false }) },
      },
    },
    async (req, reply) => {
      const db = (await o.storage()).db;
      const t = await getTrack(db, req.params.id);
      if (!t) throw notFound(`storm track ${req.params.id} does not exist`);
      const fixes = await trackFixes(db, t.id);
      return reply.header('cache-control', 'no-store').send({ ...trackBody(t), fixes: fixes.map(fixBody) });
    },
  );
};
