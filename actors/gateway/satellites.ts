/**
 * The satellite REST API. Data comes from storage: the catalog and element
 * sets (database, the system of record) and the latest state per object
 * (the shard's latest tracker frame in the hot cache, decoded into
 * `satellite.state` v1 by actors/tracker/state-cache.ts, so every gateway
 * answers the same; the cached frame is float64, and the bus frames this
 * gateway fanned out, float32, are the fallback when the cache has nothing:
 * the state's `precision` says which). Every parameter
 * is declared in a TypeBox schema, so validation is fastify's and an OpenAPI
 * document can be generated from the routes; checks a schema cannot express
 * (from < to, window bounds) are made here and answered with the same 400
 * problem.
 *
 * During a database outage (issue 11) `/satellites/{id}` answers from what
 * the gateway holds: the latest state from the hot cache or the bus, and the
 * object and element set as this gateway last read them (a bounded cache of
 * recent answers). The answer then carries `degraded` with the reason and
 * the fields it could not fill (`missing`); with nothing held it is a 503
 * with Retry-After like every other route that needs the database.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { SatelliteStateMessage, SatelliteStateSchema, type SatelliteState } from '../../protocol/messages/satellite-state.js';
import { inMediaType } from './openapi.js';
import { getObject, searchObjects, type CatalogObject } from '../storage/catalog.js';
import { latestElementSet, type ElementSet as StoredElementSet } from '../storage/element-sets.js';
import type { HotCache } from '../storage/cache.js';
import type { Storage } from '../storage/index.js';
import { groundTrack } from '../tracker/ground-track.js';
import { passSteps, type PassResult } from '../tracker/passes.js';
import { TimeSlicer } from '../runtime/time-slice.js';
import { CIVIL_TWILIGHT_SUN_DEG } from '../tracker/visibility.js';
import { badRequest, HttpProblem, notFound } from './errors.js';
import { isDbUnavailable } from '../storage/db-errors.js';
import { SatrecCache } from './elements.js';
import { readSatelliteState, type TrackedState } from '../tracker/state-cache.js';

/** Bounds that keep one request's CPU small (a track or pass search is a propagation loop on the event loop). */
export const LIMITS = {
  maxTrackRangeMs: 7 * 86_400_000,
  maxTrackPoints: 10_000,
  defaultTrackRangeMs: 90 * 60_000,
  maxPassWindowMs: 14 * 86_400_000,
  defaultPassWindowMs: 86_400_000,
} as const;

const NoradIdParam = Type.Object({ id: Type.Integer({ minimum: 1, maximum: 999_999_999, description: 'NORAD catalog number (up to 9 digits)' }) }, { additionalProperties: false });
const Cursor = Type.String({ pattern: '^[A-Za-z0-9_-]{1,40}$', description: 'Opaque cursor from a previous page (`cursor` / `next`)' });
const Instant = Type.String({ format: 'date-time', description: 'RFC 3339 instant, e.g. 2026-05-07T12:00:00Z' });

export const SearchQuery = Type.Object(
  {
    q: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Case-insensitive name substring; an all-digit text also matches the id' })),
    id: Type.Optional(Type.Integer({ minimum: 1, maximum: 999_999_999 })),
    group: Type.Optional(Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_.-]+$' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
);
export const TrackQuery = Type.Object(
  {
    from: Type.Optional(Instant),
    to: Type.Optional(Instant),
    stepS: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600, default: 60 })),
  },
  { additionalProperties: false },
);
export const PassesQuery = Type.Object(
  {
    lat: Type.Number({ minimum: -90, maximum: 90, description: 'Observer geodetic latitude, degrees' }),
    lon: Type.Number({ minimum: -180, maximum: 180, description: 'Observer longitude, degrees' }),
    alt: Type.Optional(Type.Number({ minimum: -0.5, maximum: 10, default: 0, description: 'Observer height above the WGS-84 ellipsoid, km' })),
    from: Type.Optional(Instant),
    to: Type.Optional(Instant),
    minEl: Type.Optional(Type.Number({ minimum: 0, maximum: 90, default: 0, description: 'Keep passes whose maximum elevation reaches this, degrees' })),
    horizonDeg: Type.Optional(
      Type.Number({ minimum: 0, maximum: 89, default: 0, description: 'Horizon mask: rise and set are the instants the object crosses this elevation, degrees' }),
    ),
    visible: Type.Optional(
      Type.Boolean({ default: false, description: 'Only passes with a part in which the object is sunlit and the observer\'s Sun is below −6° (civil twilight); each pass then lists its visible parts' }),
    ),
  },
  { additionalProperties: false },
);

/* The answers, for the OpenAPI document (openapi.ts documentedResponse): each is what the handler below builds. */
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const IsoInstant = Type.String({ format: 'date-time' });
const ObjectDoc = Type.Object(
  {
    noradId: Type.Integer({ minimum: 1, maximum: 999_999_999 }),
    name: Type.String(),
    intlDesignator: Nullable(Type.String()),
    groups: Type.Array(Type.String()),
    status: Type.Union([Type.Literal('active'), Type.Literal('inactive'), Type.Literal('decayed'), Type.Literal('unknown')]),
    updatedAt: IsoInstant,
  },
  { additionalProperties: false },
);
const SearchPageDoc = Type.Object(
  {
    items: Type.Array(ObjectDoc),
    count: Type.Integer({ minimum: 0 }),
    cursor: Nullable(Cursor),
    next: Nullable(Type.String({ description: 'The next page (this query with `cursor`); null on the last page' })),
  },
  { additionalProperties: false },
);
const ElementSetDoc = Type.Object(
  {
    id: Type.Integer(),
    epoch: IsoInstant,
    source: Type.String(),
    format: Type.Union([Type.Literal('omm'), Type.Literal('tle')]),
    omm: Nullable(Type.Object({}, { additionalProperties: true, description: 'The OMM fields (CelesTrak JSON keys) of an OMM element set' })),
    tleLine1: Nullable(Type.String({ minLength: 69, maxLength: 69 })),
    tleLine2: Nullable(Type.String({ minLength: 69, maxLength: 69 })),
    receivedAt: IsoInstant,
  },
  { additionalProperties: false },
);
const QaDoc = Type.Object({ flags: Type.Array(Type.String()), flagBits: Type.Integer({ minimum: 0 }), good: Type.Boolean(), at: IsoInstant }, { additionalProperties: false });
const SatelliteDoc = Type.Object(
  {
    object: Nullable(ObjectDoc),
    elementSet: Nullable(ElementSetDoc),
    state: Nullable(
      Type.Union([SatelliteStateSchema, Type.Partial(SatelliteStateSchema)], {
        description: 'satellite.state v1 (protocol/PROTOCOL.md); when `degraded`, possibly without the element-set fields named in `missing`',
      }),
    ),
    qa: Nullable(QaDoc),
    degraded: Type.Optional(
      Type.Object({ reason: Type.String(), missing: Type.Array(Type.String()) }, { additionalProperties: false, description: 'Present when the database is down and the answer comes from this gateway\'s memory' }),
    ),
  },
  { additionalProperties: false },
);
const Position = Type.Array(Type.Number(), { minItems: 2, maxItems: 2, description: '[longitude, latitude], degrees' });
const TrackDoc = Type.Object(
  {
    type: Type.Literal('Feature'),
    geometry: Type.Object(
      { type: Type.Literal('MultiLineString'), coordinates: Type.Array(Type.Array(Position), { description: 'Split at the antimeridian' }) },
      { additionalProperties: false },
    ),
    properties: Type.Object(
      {
        startMs: Type.Integer(),
        endMs: Type.Integer(),
        stepS: Type.Number(),
        sgp4Error: Type.Integer({ description: 'satellite.js error code of the first failed step; 0: none' }),
        noradId: Type.Integer(),
        name: Type.String(),
        from: IsoInstant,
        to: IsoInstant,
        elementSetEpoch: IsoInstant,
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false, description: 'A GeoJSON Feature (RFC 7946): the sub-satellite points over the window' },
);
const LookPoint = Type.Object({ t: IsoInstant, azimuthDeg: Type.Number(), elevationDeg: Type.Number() }, { additionalProperties: false });
const PassesDoc = Type.Object(
  {
    noradId: Type.Integer(),
    name: Type.String(),
    observer: Type.Object({ latDeg: Type.Number(), lonDeg: Type.Number(), altKm: Type.Number() }, { additionalProperties: false }),
    from: IsoInstant,
    to: IsoInstant,
    minElevationDeg: Type.Number(),
    masks: Type.Object(
      {
        horizonDeg: Type.Number(),
        minElevationDeg: Type.Number(),
        visible: Type.Union([
          Type.Literal(false),
          Type.Object({ sunElevationBelowDeg: Type.Number(), sunModel: Type.String(), shadowModel: Type.String() }, { additionalProperties: false }),
        ]),
      },
      { additionalProperties: false },
    ),
    elementSetEpoch: IsoInstant,
    sgp4Error: Type.Integer(),
    passes: Type.Array(
      Type.Object(
        {
          rise: LookPoint,
          culmination: LookPoint,
          set: LookPoint,
          maxElevationDeg: Type.Number(),
          riseClipped: Type.Boolean(),
          setClipped: Type.Boolean(),
          visible: Type.Optional(Type.Array(Type.Object({ start: LookPoint, end: LookPoint }, { additionalProperties: false }))),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
const NO_ELEMENTS = 'The object has no element set yet (SW_ERR_NO_ELEMENTS), or one that does not propagate (SW_ERR_BAD_ELEMENTS)';

export function encodeCursor(afterId: number): string {
  return Buffer.from(`a${afterId}`).toString('base64url');
}

export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const m = /^a(\d{1,9})$/.exec(text);
  if (!m) throw badRequest('querystring parameter cursor: not a cursor this API issued');
  return Number(m[1]);
}

function objectJson(o: CatalogObject) {
  return { noradId: o.noradId, name: o.name, intlDesignator: o.intlDesignator, groups: o.groups, status: o.status, updatedAt: o.updatedAt.toISOString() };
}

function elementSetJson(es: StoredElementSet) {
  return {
    id: es.id,
    epoch: es.epoch.toISOString(),
    source: es.source,
    format: es.format,
    omm: es.omm,
    tleLine1: es.tleLine1,
    tleLine2: es.tleLine2,
    receivedAt: es.receivedAt.toISOString(),
  };
}

/** The window [from, to] of a request: defaults, order, and a bound. */
function window(from: string | undefined, to: string | undefined, defaultMs: number, maxMs: number): { fromMs: number; toMs: number } {
  const fromMs = from !== undefined ? Date.parse(from) : Date.now();
  const toMs = to !== undefined ? Date.parse(to) : fromMs + defaultMs;
  if (!Number.isFinite(fromMs)) throw badRequest('querystring parameter from: not a valid instant');
  if (!Number.isFinite(toMs)) throw badRequest('querystring parameter to: not a valid instant');
  if (!(toMs > fromMs)) throw badRequest('querystring parameters from, to: from must be before to');
  if (toMs - fromMs > maxMs) throw badRequest(`querystring parameters from, to: the window may span at most ${maxMs / 3_600_000} h`);
  return { fromMs, toMs };
}

/** Run a pass search's steps, giving the event loop a turn whenever a slice's budget is used. */
async function runInSlices(steps: Generator<void, PassResult, void>, slicer = new TimeSlicer()): Promise<PassResult> {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await slicer.maybeYield();
  }
}

export interface SatellitesPluginOptions {
  storage(): Promise<Storage>;
  /** cluster.shardCount: which shard's cached frame holds an object. */
  shardCount: number;
  /** Invalid cached states (a malformed frame, or a decoded state that is not a satellite.state v1) are counted here. */
  onInvalidState?(noradId: number): void;
  /** The latest state this gateway saw on the bus (StateFanout.latestState), used when the cache has none. */
  latestFromBus?(noradId: number): TrackedState | null;
}

/** The catalog row and newest element set of the objects asked for lately, least recently used evicted past `capacity`. */
export class RecentObjects {
  private readonly m = new Map<number, { obj: CatalogObject; es: StoredElementSet | null }>();
  constructor(private readonly capacity = 5000) {}
  set(id: number, obj: CatalogObject, es: StoredElementSet | null): void {
    this.m.delete(id);
    this.m.set(id, { obj, es });
    if (this.m.size > this.capacity) this.m.delete(this.m.keys().next().value!);
  }
  get(id: number): { obj: CatalogObject; es: StoredElementSet | null } | undefined {
    return this.m.get(id);
  }
  get size(): number {
    return this.m.size;
  }
}

export const satellitesPlugin: FastifyPluginAsync<SatellitesPluginOptions> = async (app, o) => {
  const satrecs = new SatrecCache();
  // The objects and element sets read lately: what /satellites/{id}, its track and passes answer from while the database is down.
  const recent = new RecentObjects();

  /** The answer of `/satellites/{id}` from an object, its element set and a tracked state. */
  const satelliteAnswer = (obj: CatalogObject | null, es: StoredElementSet | null, tracked: TrackedState | null, id: number) => {
    let state: SatelliteState | null = null;
    // The frame carries no element-set fields: those of the newest stored
    // set, which the tracker switches to on catalog.changed. An object
    // without one is not tracked, so a state without one is not shown.
    if (tracked !== null && es) {
      const full = { ...tracked, epoch: es.epoch.toISOString(), elementSetSource: es.source };
      if (SatelliteStateMessage.check(full)) state = full;
      else o.onInvalidState?.(id);
    }
    return {
      object: obj ? objectJson(obj) : null,
      elementSet: es ? elementSetJson(es) : null,
      state,
      qa: state ? { flags: state.flags, flagBits: state.flagBits, good: state.good, at: state.t } : null,
    };
  };

  /** The object and its newest element set, as a propagatable SatRec; 404/409 problems otherwise. */
  const loadOrbit = async (id: number) => {
    let obj: CatalogObject;
    let es: StoredElementSet | null;
    try {
      const { db } = await o.storage();
      const found = await getObject(db, id);
      if (!found) throw notFound(`no object with NORAD id ${id}`);
      obj = found;
      es = await latestElementSet(db, id);
      recent.set(id, obj, es);
    } catch (err) {
      // The database is down: the element set this gateway read lately still propagates.
      const held = isDbUnavailable(err) ? recent.get(id) : undefined;
      if (!held?.es) throw err;
      obj = held.obj;
      es = held.es;
    }
    if (!es) throw new HttpProblem(409, 'SW_ERR_NO_ELEMENTS', `object ${id} has no element set yet`);
    const loaded = satrecs.get(es, obj.name);
    if (!loaded.ok) throw new HttpProblem(409, 'SW_ERR_BAD_ELEMENTS', `object ${id}: ${loaded.reason}`);
    return { obj, es, satrec: loaded.satrec };
  };

  app.get<{ Querystring: Static<typeof SearchQuery> }>(
    '/satellites',
    {
      schema: {
        operationId: 'searchSatellites',
        summary: 'Search the catalog by name, id or group, a page at a time',
        querystring: SearchQuery,
        documentedResponse: { 200: SearchPageDoc },
      },
    },
    async (req) => {
      const { q, id, group, cursor } = req.query;
      const limit = req.query.limit ?? 100;
      const afterId = cursor !== undefined ? decodeCursor(cursor) : undefined;
      const { db } = await o.storage();
      const page = await searchObjects(db, {
        ...(q !== undefined ? { text: q } : {}),
        ...(id !== undefined ? { noradId: id } : {}),
        ...(group !== undefined ? { group } : {}),
        ...(afterId !== undefined ? { afterId } : {}),
        limit,
      });
      const nextCursor = page.nextAfterId !== null ? encodeCursor(page.nextAfterId) : null;
      let next: string | null = null;
      if (nextCursor) {
        const params = new URLSearchParams();
        if (q !== undefined) params.set('q', q);
        if (id !== undefined) params.set('id', String(id));
        if (group !== undefined) params.set('group', group);
        params.set('limit', String(limit));
        params.set('cursor', nextCursor);
        next = `/satellites?${params.toString()}`;
      }
      return { items: page.items.map(objectJson), count: page.items.length, cursor: nextCursor, next };
    },
  );

  app.get<{ Params: Static<typeof NoradIdParam> }>(
    '/satellites/:id',
    {
      schema: {
        operationId: 'getSatellite',
        summary: 'One object: catalog row, newest element set, latest state and its QA',
        params: NoradIdParam,
        documentedResponse: { 200: SatelliteDoc },
      },
    },
    async (req, reply) => {
      const id = req.params.id;
      let obj: CatalogObject;
      let es: StoredElementSet | null;
      let cache: HotCache | null = null;
      let statePromise: Promise<TrackedState | null> | null = null;
      const readState = (): Promise<TrackedState | null> =>
        (cache ? readSatelliteState(cache, o.shardCount, id, { onMalformed: () => o.onInvalidState?.(id) }) : Promise.resolve(null))
          .then((cached) => cached ?? o.latestFromBus?.(id) ?? null)
          .catch(() => o.latestFromBus?.(id) ?? null);
      try {
        // A storage that cannot be opened (the database down when this host started) is an outage too.
        const storage = await o.storage();
        cache = storage.cache;
        const found = await getObject(storage.db, id);
        if (!found) throw notFound(`no object with NORAD id ${id}`);
        obj = found;
        statePromise = readState();
        es = await latestElementSet(storage.db, id);
      } catch (err) {
        if (!isDbUnavailable(err)) throw err;
        // The database is down: answer from what this gateway holds, if anything.
        const held = recent.get(id);
        const tracked = await (statePromise ?? readState());
        if (!held && !tracked) throw err;
        const body = satelliteAnswer(held?.obj ?? null, held?.es ?? null, tracked, id);
        const missing: string[] = [];
        if (!held) missing.push('object', 'elementSet');
        else if (!held.es) missing.push('elementSet');
        let partial: Record<string, unknown> | null = null;
        if (body.state === null && tracked) {
          // A state without its element set's epoch and source: shown as tracked, those two named missing.
          partial = { ...tracked };
          missing.push('state.epoch', 'state.elementSetSource');
        } else if (body.state === null) missing.push('state');
        reply.header('cache-control', 'no-store');
        return {
          ...body,
          ...(partial ? { state: partial, qa: { flags: tracked!.flags, flagBits: tracked!.flagBits, good: tracked!.good, at: tracked!.t } } : {}),
          degraded: { reason: 'the database is unavailable: answered from this gateway\'s memory', missing },
        };
      }
      recent.set(id, obj, es);
      return satelliteAnswer(obj, es, await statePromise, id);
    },
  );

  app.get<{ Params: Static<typeof NoradIdParam>; Querystring: Static<typeof TrackQuery> }>(
    '/satellites/:id/track',
    {
      schema: {
        operationId: 'getSatelliteTrack',
        summary: 'Ground track over a window, as a GeoJSON Feature',
        params: NoradIdParam,
        querystring: TrackQuery,
        documentedResponse: { 200: inMediaType('application/geo+json', TrackDoc, 'The ground track'), 409: NO_ELEMENTS },
      },
    },
    async (req, reply) => {
      const { fromMs, toMs } = window(req.query.from, req.query.to, LIMITS.defaultTrackRangeMs, LIMITS.maxTrackRangeMs);
      const stepS = req.query.stepS ?? 60;
      const points = Math.floor((toMs - fromMs) / (stepS * 1000)) + 1;
      if (points > LIMITS.maxTrackPoints) throw badRequest(`querystring parameter stepS: ${points} points requested, at most ${LIMITS.maxTrackPoints} (raise stepS or shorten the range)`);
      const { obj, es, satrec } = await loadOrbit(req.params.id);
      const feature = groundTrack(satrec, fromMs, toMs, stepS);
      reply.type('application/geo+json');
      return {
        ...feature,
        properties: {
          ...feature.properties,
          noradId: obj.noradId,
          name: obj.name,
          from: new Date(fromMs).toISOString(),
          to: new Date(toMs).toISOString(),
          elementSetEpoch: es.epoch.toISOString(),
        },
      };
    },
  );

  app.get<{ Params: Static<typeof NoradIdParam>; Querystring: Static<typeof PassesQuery> }>(
    '/satellites/:id/passes',
    {
      schema: {
        operationId: 'getSatellitePasses',
        summary: 'Passes over an observer in a window (optionally only visible ones)',
        params: NoradIdParam,
        querystring: PassesQuery,
        documentedResponse: { 200: PassesDoc, 409: NO_ELEMENTS },
      },
    },
    async (req) => {
      const { lat, lon } = req.query;
      const alt = req.query.alt ?? 0;
      const minEl = req.query.minEl ?? 0;
      const horizonDeg = req.query.horizonDeg ?? 0;
      const visible = req.query.visible ?? false;
      const { fromMs, toMs } = window(req.query.from, req.query.to, LIMITS.defaultPassWindowMs, LIMITS.maxPassWindowMs);
      const { obj, es, satrec } = await loadOrbit(req.params.id);
      // In time slices: a 14-day search is ~100 ms of SGP4, the loop gets a turn every few ms (house rule: no stretch above ~20 ms).
      const result = await runInSlices(passSteps(satrec, { latDeg: lat, lonDeg: lon, altKm: alt }, fromMs, toMs, { minMaxElevationDeg: minEl, horizonDeg, visible }));
      const point = (p: { tMs: number; azimuthDeg: number; elevationDeg: number }) => ({ t: new Date(p.tMs).toISOString(), azimuthDeg: p.azimuthDeg, elevationDeg: p.elevationDeg });
      return {
        noradId: obj.noradId,
        name: obj.name,
        observer: { latDeg: lat, lonDeg: lon, altKm: alt },
        from: new Date(fromMs).toISOString(),
        to: new Date(toMs).toISOString(),
        minElevationDeg: minEl,
        masks: {
          horizonDeg,
          minElevationDeg: minEl,
          visible: visible
            ? {
                sunElevationBelowDeg: CIVIL_TWILIGHT_SUN_DEG,
                sunModel: 'The Astronomical Almanac low-precision Sun (0.01°)',
                shadowModel: 'conical: Sun centre outside the Earth disc seen from the object (Montenbruck & Gill 2000, 3.4.2), spherical Earth',
              }
            : false,
        },
        elementSetEpoch: es.epoch.toISOString(),
        sgp4Error: result.sgp4Error,
        passes: result.passes.map((p) => ({
          rise: point(p.rise),
          culmination: point(p.culmination),
          set: point(p.set),
          maxElevationDeg: p.maxElevationDeg,
          riseClipped: p.riseClipped,
          setClipped: p.setClipped,
          ...(p.visible ? { visible: p.visible.map((v) => ({ start: point(v.start), end: point(v.end) })) } : {}),
        })),
      };
    },
  );
};
