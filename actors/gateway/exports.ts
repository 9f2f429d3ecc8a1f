/**
 * Exports in the formats the field uses (issue 15 part 8):
 *
 * - `GET /czml?ids=|group=&from=&to=&stepS=`: a CZML document (czml.ts) of
 *   SGP4 positions, Earth-fixed, for Cesium and other CZML viewers.
 * - `GET /positions.geojson?group=&bbox=`: the latest state of every object
 *   as an RFC 7946 FeatureCollection of Points.
 * - `GET /catalog.json|.csv|.tle|.3le?group=`: the newest element set of
 *   every active object as CelesTrak OMM JSON or CSV, TLE or 3LE
 *   (export-formats.ts).
 *
 * Every request is bounded before any work (objects, window, samples) and
 * refused with a 400 problem past a bound. Bodies are built in time slices
 * (runtime/time-slice.ts: the loop gets a turn every few ms, house rule: no
 * stretch above ~20 ms) and the catalog is read in keyset pages, then sent
 * once complete (as ~64 KiB buffers, BodyChunks), so the headers can say
 * what was left out (`Skipped-Objects`) and the length. Answers are written by hand, never by fastify's
 * serializer: the response schemas document them.
 *
 * Media types: CZML has no registered media type; Cesium's own development
 * server (server.js, its mime.define) serves `.czml` as application/json,
 * and so does this. GeoJSON is
 * application/geo+json (RFC 7946 §12), CSV text/csv (RFC 4180 §3), TLE text
 * text/plain. Each carries a Content-Disposition file name.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Readable } from 'node:stream';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { decodeAnyTrackerFrameHeader, TRACKER_FRAME_HEADER_BYTES } from '../../protocol/frames/tracker-state.js';
import { searchObjects } from '../storage/catalog.js';
import { activeElementSetsPage, type ActiveElementSet } from '../storage/element-sets.js';
import type { Storage } from '../storage/index.js';
import { TimeSlicer } from '../runtime/time-slice.js';
import { decodeStateRecord, type TrackedState } from '../tracker/state-cache.js';
import { documentPacket, objectPacket, sampleCount, sampleObject, sampleTimes, iso } from './czml.js';
import { SatrecCache } from './elements.js';
import { badRequest, notFound } from './errors.js';
import { OMM_CSV_HEADER, ommCsvRow, storedAsOmm, storedAsTle } from './export-formats.js';

export const EXPORT_LIMITS = {
  /** Objects in one CZML document. */
  czmlMaxObjects: 100,
  /** Samples in one CZML document (objects × instants): about 4 MB of text. */
  czmlMaxSamples: 100_000,
  czmlMaxWindowMs: 7 * 86_400_000,
  /** One LEO orbit. */
  czmlDefaultWindowMs: 90 * 60_000,
  czmlDefaultStepS: 60,
  /** Objects in one positions FeatureCollection or catalog file (the whole active catalog is about 15,000). */
  maxObjects: 30_000,
  /** Rows per catalog query. */
  pageSize: 500,
} as const;

const Group = Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_.-]+$', description: 'Catalog group (e.g. stations, active)' });
const Instant = Type.String({ format: 'date-time', description: 'RFC 3339 instant, e.g. 2026-05-07T12:00:00Z' });

export const CzmlQuery = Type.Object(
  {
    ids: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,8}(,[1-9][0-9]{0,8})*$', maxLength: 1000, description: `Comma-separated NORAD ids (at most ${EXPORT_LIMITS.czmlMaxObjects})` })),
    group: Type.Optional(Group),
    from: Type.Optional({ ...Instant, description: 'Start of the window (default: now)' }),
    to: Type.Optional({ ...Instant, description: `End of the window (default: from + 90 min; at most ${EXPORT_LIMITS.czmlMaxWindowMs / 86_400_000} days after from)` }),
    stepS: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600, default: EXPORT_LIMITS.czmlDefaultStepS, description: 'Seconds between samples' })),
  },
  { additionalProperties: false },
);
export const PositionsQuery = Type.Object(
  {
    group: Type.Optional(Group),
    bbox: Type.Optional(
      Type.String({ maxLength: 200, description: 'minLon,minLat,maxLon,maxLat in degrees (RFC 7946 §5); minLon > maxLon crosses the antimeridian' }),
    ),
  },
  { additionalProperties: false },
);
export const CatalogQuery = Type.Object({ group: Type.Optional(Group) }, { additionalProperties: false });

const CzmlResponse = Type.Array(Type.Object({ id: Type.String(), name: Type.Optional(Type.String()) }, { additionalProperties: true }), {
  description: 'CZML packets: "document" (version 1.0, clock) first, then one per object with availability and position {epoch, cartesian [t, X, Y, Z, ...] m, referenceFrame FIXED, interpolation}',
});
const PositionsResponse = Type.Object(
  {
    type: Type.Literal('FeatureCollection'),
    features: Type.Array(
      Type.Object({
        type: Type.Literal('Feature'),
        id: Type.Integer(),
        geometry: Type.Object({ type: Type.Literal('Point'), coordinates: Type.Array(Type.Number(), { minItems: 2, maxItems: 2 }) }),
        properties: Type.Object({
          id: Type.Integer(),
          name: Type.String(),
          altitudeKm: Type.Union([Type.Number(), Type.Null()]),
          flags: Type.Array(Type.String()),
          flagBits: Type.Integer(),
          good: Type.Boolean(),
          t: Type.String({ format: 'date-time' }),
          precision: Type.String(),
        }),
      }),
    ),
    numberReturned: Type.Integer(),
    notTracked: Type.Integer({ description: 'Objects of the catalog selection without a state held by this gateway' }),
  },
  { additionalProperties: true },
);
const OmmJsonResponse = Type.Array(Type.Object({ OBJECT_NAME: Type.String(), NORAD_CAT_ID: Type.Integer(), EPOCH: Type.String() }, { additionalProperties: true }), {
  description: "CelesTrak OMM JSON (the GP API's keys)",
});

const text = (description: string) => ({ type: 'string', description });

/** One query string list of ids, bounded. */
function parseIds(ids: string): number[] {
  const list = [...new Set(ids.split(',').map(Number))];
  if (list.length > EXPORT_LIMITS.czmlMaxObjects) throw badRequest(`querystring parameter ids: ${list.length} ids, at most ${EXPORT_LIMITS.czmlMaxObjects}`);
  return list;
}

/** minLon,minLat,maxLon,maxLat → a test on [lon, lat]. */
export function parseBbox(bbox: string): (lonDeg: number, latDeg: number) => boolean {
  const parts = bbox.split(',');
  const v = parts.map((p) => (/^\s*[+-]?(\d+\.?\d*|\.\d+)\s*$/.test(p) ? Number(p) : NaN));
  if (v.length !== 4 || v.some((x) => !Number.isFinite(x))) throw badRequest('querystring parameter bbox: four comma-separated numbers minLon,minLat,maxLon,maxLat expected');
  const [minLon, minLat, maxLon, maxLat] = v as [number, number, number, number];
  if (minLon < -180 || minLon > 180 || maxLon < -180 || maxLon > 180) throw badRequest('querystring parameter bbox: longitudes must be within -180..180');
  if (minLat < -90 || maxLat > 90 || minLat > maxLat) throw badRequest('querystring parameter bbox: latitudes must be within -90..90, minLat ≤ maxLat');
  // RFC 7946 §5.2: a box crossing the antimeridian has its west edge east of its east edge.
  const lonIn = minLon <= maxLon ? (lon: number) => lon >= minLon && lon <= maxLon : (lon: number) => lon >= minLon || lon <= maxLon;
  return (lon, lat) => lat >= minLat && lat <= maxLat && lonIn(lon);
}

function window(from: string | undefined, to: string | undefined): { fromMs: number; toMs: number } {
  const fromMs = from !== undefined ? Date.parse(from) : Date.now();
  const toMs = to !== undefined ? Date.parse(to) : fromMs + EXPORT_LIMITS.czmlDefaultWindowMs;
  if (!Number.isFinite(fromMs)) throw badRequest('querystring parameter from: not a valid instant');
  if (!Number.isFinite(toMs)) throw badRequest('querystring parameter to: not a valid instant');
  if (!(toMs > fromMs)) throw badRequest('querystring parameters from, to: from must be before to');
  if (toMs - fromMs > EXPORT_LIMITS.czmlMaxWindowMs) throw badRequest(`querystring parameters from, to: the window may span at most ${EXPORT_LIMITS.czmlMaxWindowMs / 86_400_000} days`);
  return { fromMs, toMs };
}

/**
 * A body built in pieces and kept as ~64 KiB buffers: no single join or
 * encode of a whole catalog (6 MB of OMM JSON is ~15 ms of join and encode
 * in one stretch), and sent as a stream of those buffers with its length.
 */
export class BodyChunks {
  private cur: string[] = [];
  private curChars = 0;
  private readonly out: Buffer[] = [];
  private bytes = 0;
  constructor(private readonly chunkChars = 64 * 1024) {}
  push(s: string): void {
    this.cur.push(s);
    this.curChars += s.length;
    if (this.curChars >= this.chunkChars) this.seal();
  }
  private seal(): void {
    if (this.cur.length === 0) return;
    const b = Buffer.from(this.cur.join(''), 'utf8');
    this.out.push(b);
    this.bytes += b.length;
    this.cur = [];
    this.curChars = 0;
  }
  finish(): { chunks: Buffer[]; bytes: number } {
    this.seal();
    return { chunks: this.out, bytes: this.bytes };
  }
}

function sendFile(reply: FastifyReply, type: string, disposition: string, body: BodyChunks): FastifyReply {
  const { chunks, bytes } = body.finish();
  // Buffers in a stream are sent as they are: neither fastify's serializer nor a charset rewrite touches them.
  return reply.header('content-type', type).header('content-disposition', disposition).header('content-length', String(bytes)).send(Readable.from(chunks));
}

export interface ExportsPluginOptions {
  storage(): Promise<Storage>;
  /** cluster.shardCount: how many shard frames the hot cache holds. */
  shardCount: number;
  /** The latest state this gateway took off the bus (StateFanout.latestState), for objects whose shard frame the cache lacks. */
  latestFromBus?(noradId: number): TrackedState | null;
}

export const exportsPlugin: FastifyPluginAsync<ExportsPluginOptions> = async (app, o) => {
  const satrecs = new SatrecCache();

  /** Every active object (of a group) with its newest element set, page by page; refused past maxObjects. */
  async function allActive(group: string | undefined, slicer: TimeSlicer, each: (row: ActiveElementSet) => void): Promise<number> {
    const { db } = await o.storage();
    let afterId = 0;
    let n = 0;
    for (;;) {
      const page = await activeElementSetsPage(db, { ...(group !== undefined ? { group } : {}), afterId, limit: EXPORT_LIMITS.pageSize });
      n += page.length;
      if (n > EXPORT_LIMITS.maxObjects) throw badRequest(`more than ${EXPORT_LIMITS.maxObjects} objects: ask for one group at a time (group=)`);
      for (const row of page) {
        each(row);
        await slicer.maybeYield();
      }
      if (page.length < EXPORT_LIMITS.pageSize) return n;
      afterId = page[page.length - 1]!.noradId;
    }
  }

  const fileName = (group: string | undefined, ext: string) => `attachment; filename="starweather-${group ?? 'catalog'}.${ext}"`;
  const skippedHeader = (reply: FastifyReply, skipped: Array<{ id: number; reason: string }>) => {
    reply.header('skipped-objects', String(skipped.length));
    // The first few reasons, so a client sees why without another request (printable ASCII only: a header takes no more).
    if (skipped.length > 0) reply.header('skipped-objects-sample', skipped.slice(0, 5).map((s) => `${s.id}: ${s.reason}`).join('; ').replace(/[^\x20-\x7e]/g, '?').slice(0, 1000));
  };

  app.get<{ Querystring: Static<typeof CzmlQuery> }>(
    '/czml',
    {
      schema: {
        summary: 'Orbits as a CZML document',
        description: `SGP4 positions of the objects asked for (ids= or group=, at most ${EXPORT_LIMITS.czmlMaxObjects}) sampled every stepS over [from, to] (at most 7 days, at most ${EXPORT_LIMITS.czmlMaxSamples} samples in all), Earth-fixed (CZML referenceFrame FIXED: SGP4's TEME rotated by GMST), in metres. Served as application/json (CZML has no registered media type).`,
        tags: ['exports'],
        operationId: 'getCzml',
        querystring: CzmlQuery,
        response: { 200: { description: 'A CZML document', content: { 'application/json': { schema: CzmlResponse } } } },
      },
    },
    async (req, reply) => {
      const { ids, group } = req.query;
      if ((ids === undefined) === (group === undefined)) throw badRequest('querystring parameters ids, group: give exactly one of them');
      const stepS = req.query.stepS ?? EXPORT_LIMITS.czmlDefaultStepS;
      const { fromMs, toMs } = window(req.query.from, req.query.to);
      const perObject = sampleCount(fromMs, toMs, stepS);
      // Checked before the database is asked, for the most objects the request may name.
      const idList = ids !== undefined ? parseIds(ids) : undefined;
      const maxObjects = idList?.length ?? 1;
      if (perObject * maxObjects > EXPORT_LIMITS.czmlMaxSamples) {
        throw badRequest(`querystring parameter stepS: ${perObject * maxObjects} samples requested, at most ${EXPORT_LIMITS.czmlMaxSamples} (raise stepS, shorten the window or ask for fewer objects)`);
      }
      const { db } = await o.storage();
      const rows = await activeElementSetsPage(db, {
        ...(idList ? { noradIds: idList } : { group: group! }),
        limit: idList ? Math.max(1, idList.length) : EXPORT_LIMITS.czmlMaxObjects + 1,
      });
      if (idList) {
        const found = new Set(rows.map((r) => r.noradId));
        const missing = idList.filter((id) => !found.has(id));
        if (missing.length > 0) throw notFound(`no active object with an element set: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''}`);
      } else if (rows.length > EXPORT_LIMITS.czmlMaxObjects) {
        throw badRequest(`querystring parameter group: ${group} has more than ${EXPORT_LIMITS.czmlMaxObjects} objects; ask for ids= (at most ${EXPORT_LIMITS.czmlMaxObjects})`);
      } else if (rows.length === 0) {
        throw notFound(`no active object with an element set in group ${group}`);
      }
      if (perObject * rows.length > EXPORT_LIMITS.czmlMaxSamples) {
        throw badRequest(`querystring parameter stepS: ${perObject * rows.length} samples for ${rows.length} objects, at most ${EXPORT_LIMITS.czmlMaxSamples} (raise stepS, shorten the window or ask for fewer objects)`);
      }
      const times = sampleTimes(fromMs, toMs, stepS);
      const slicer = new TimeSlicer();
      const body = new BodyChunks();
      body.push(`[\n${JSON.stringify(documentPacket(fromMs, toMs, `StarWeather ${ids !== undefined ? `ids ${idList!.join(',')}` : `group ${group}`} ${iso(fromMs)}/${iso(toMs)}`))}`);
      const skipped: Array<{ id: number; reason: string }> = [];
      for (const row of rows) {
        const loaded = satrecs.get(row.elementSet, row.name);
        if (!loaded.ok) {
          skipped.push({ id: row.noradId, reason: loaded.reason });
          continue;
        }
        const samples = await sampleObject(loaded.satrec, times, slicer);
        body.push(`,\n${JSON.stringify(objectPacket(row.noradId, row.name, samples))}`);
        await slicer.maybeYield();
      }
      skippedHeader(reply, skipped);
      body.push('\n]\n');
      return sendFile(reply, 'application/json; charset=utf-8', 'attachment; filename="starweather.czml"', body);
    },
  );

  app.get<{ Querystring: Static<typeof PositionsQuery> }>(
    '/positions.geojson',
    {
      schema: {
        summary: 'Current positions as GeoJSON',
        description:
          'The latest state of every object in the catalog (or a group) held by this gateway (the trackers\' float64 shard frames in the hot cache, else the bus frames it fanned out), as Points [lon, lat] (RFC 7946) with id, name, altitudeKm, QA flags, good and the state\'s time; bbox keeps the points inside minLon,minLat,maxLon,maxLat.',
        tags: ['exports'],
        operationId: 'getPositionsGeojson',
        querystring: PositionsQuery,
        response: { 200: { description: 'A GeoJSON FeatureCollection', content: { 'application/geo+json': { schema: PositionsResponse } } } },
      },
    },
    async (req, reply) => {
      const inBox = req.query.bbox !== undefined ? parseBbox(req.query.bbox) : () => true;
      const group = req.query.group;
      const storage = await o.storage();
      const slicer = new TimeSlicer();
      // The selection's names, by id, in keyset pages.
      const names = new Map<number, string>();
      for (let afterId: number | undefined; ; ) {
        const page = await searchObjects(storage.db, { ...(group !== undefined ? { group } : {}), ...(afterId !== undefined ? { afterId } : {}), limit: 1000 });
        for (const x of page.items) names.set(x.noradId, x.name);
        if (names.size > EXPORT_LIMITS.maxObjects) throw badRequest(`more than ${EXPORT_LIMITS.maxObjects} objects: ask for one group at a time (group=)`);
        if (page.nextAfterId === null) break;
        afterId = page.nextAfterId;
        await slicer.maybeYield();
      }
      // The trackers' shard frames (float64) from the hot cache; a shard without one falls back to the bus.
      const states = new Map<number, TrackedState>();
      const frames = await Promise.all(Array.from({ length: o.shardCount }, (_, s) => storage.cache.getShardFrameBytes(s).catch(() => null)));
      for (const bytes of frames) {
        if (bytes === null) continue;
        let h;
        try {
          h = decodeAnyTrackerFrameHeader(bytes);
        } catch {
          continue; // a malformed cached frame: its objects come from the bus
        }
        const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        for (let k = 0, off = TRACKER_FRAME_HEADER_BYTES; k < h.count; k++, off += h.recordBytes) {
          const id = dv.getUint32(off, true);
          if (names.has(id)) states.set(id, decodeStateRecord(dv, off, h.shard, h.tickMs, h.version));
          if ((k & 255) === 0) await slicer.maybeYield();
        }
      }
      const features = new BodyChunks();
      features.push('{"type":"FeatureCollection","features":[\n');
      let returned = 0;
      let notTracked = 0;
      for (const [id, name] of names) {
        const s = states.get(id) ?? o.latestFromBus?.(id) ?? null;
        const lat = s?.geodetic.latDeg;
        const lon = s?.geodetic.lonDeg;
        if (!s || lat === null || lon === null || lat === undefined || lon === undefined) {
          notTracked++;
          continue;
        }
        if (!inBox(lon, lat)) continue;
        features.push(
          (returned++ > 0 ? ',\n' : '') +
          JSON.stringify({
            type: 'Feature',
            id,
            geometry: { type: 'Point', coordinates: [lon, lat] },
            properties: { id, name, altitudeKm: s.geodetic.altKm, flags: s.flags, flagBits: s.flagBits, good: s.good, t: s.t, precision: s.precision },
          }),
        );
        await slicer.maybeYield();
      }
      // The counts are known only now: they go last, as members after the features (RFC 7946 §6.1: foreign members).
      features.push(`\n],"numberReturned":${returned},"notTracked":${notTracked}}\n`);
      return sendFile(reply, 'application/geo+json', `inline; filename="starweather-positions.geojson"`, features);
    },
  );

  const catalogRoute = (ext: 'json' | 'csv' | 'tle' | '3le') => {
    const meta = {
      json: { type: 'application/json; charset=utf-8', summary: 'Catalog as CelesTrak OMM JSON', schema: OmmJsonResponse },
      csv: { type: 'text/csv; charset=utf-8; header=present', summary: 'Catalog as CelesTrak OMM CSV', schema: text("CelesTrak OMM CSV: a header row of the GP API's keys, one row per object, CRLF") },
      tle: { type: 'text/plain; charset=utf-8', summary: 'Catalog as TLE (two lines per object)', schema: text('Two-line element sets, LF line ends') },
      '3le': { type: 'text/plain; charset=utf-8', summary: 'Catalog as 3LE (name line "0 NAME", then two lines)', schema: text('Three-line element sets (Space-Track form), LF line ends') },
    }[ext];
    const tleNote = ext === 'tle' || ext === '3le' ? ' Objects without a TLE (OMM-only, catalog numbers above 99999) are left out and counted in the Skipped-Objects header.' : '';
    app.get<{ Querystring: Static<typeof CatalogQuery> }>(
      `/catalog.${ext}`,
      {
        schema: {
          summary: meta.summary,
          description: `The newest element set of every active object (or of one group), ordered by NORAD id.${tleNote}`,
          tags: ['exports'],
          operationId: `getCatalog${ext === '3le' ? '3le' : ext[0]!.toUpperCase() + ext.slice(1)}`,
          querystring: CatalogQuery,
          response: { 200: { description: meta.summary, content: { [meta.type.split(';')[0]!]: { schema: meta.schema } } } },
        },
      },
      async (req, reply) => {
        const group = req.query.group;
        const slicer = new TimeSlicer();
        const body = new BodyChunks();
        let n = 0;
        if (ext === 'json') body.push('[\n');
        if (ext === 'csv') body.push(OMM_CSV_HEADER);
        const skipped: Array<{ id: number; reason: string }> = [];
        await allActive(group, slicer, (row) => {
          if (ext === 'json' || ext === 'csv') {
            const omm = storedAsOmm(row.elementSet, row.name);
            if (!omm.ok) return void skipped.push({ id: row.noradId, reason: omm.reason });
            body.push(ext === 'json' ? `${n++ > 0 ? ',\n' : ''}${JSON.stringify(omm.value)}` : ommCsvRow(omm.value));
          } else {
            const tle = storedAsTle(row.elementSet);
            if (!tle.ok) return void skipped.push({ id: row.noradId, reason: tle.reason });
            // A line break in a name would start a record of its own.
            if (ext === '3le' && /[\r\n]/.test(row.name)) return void skipped.push({ id: row.noradId, reason: 'name holds a line break' });
            body.push(`${ext === '3le' ? `0 ${row.name}\n` : ''}${tle.value.line1}\n${tle.value.line2}\n`);
          }
        });
        skippedHeader(reply, skipped);
        if (ext === 'json') body.push('\n]\n');
        return sendFile(reply, meta.type, fileName(group, ext), body);
      },
    );
  };
  for (const ext of ['json', 'csv', 'tle', '3le'] as const) catalogRoute(ext);
};
