import { Type, type Static } from '@sinclair/typebox';
import { defineMessage } from '../message.js';

/**
 * The latest state of one tracked object, as the gateway answers it in
 * GET /satellites/{id}. The hot cache does not hold this JSON: the tracker
 * host that owns a shard writes, every tick, the shard's binary tracker
 * frame (protocol/frames/tracker-state.ts) to the cache as the shard's
 * latest frame, so every object's state is in the cache every tick;
 * `satellite.state` is the decoded view of one record of that frame
 * (actors/tracker/state-cache.ts readSatelliteState). The cached frame is
 * float64 (version 2), so the numbers are the tracker's own doubles;
 * `precision` says so, and says `float32` for a state a gateway could only
 * take from a bus frame (float32: up to 0.24 m per component in LEO, 2 m at
 * GEO radius) because the cache had none. `epoch` and
 * `elementSetSource` are not in the frame: the gateway fills them from the
 * object's newest stored element set, which the tracker switches to on
 * `catalog.changed`.
 *
 * QA: `flagBits` uses the bits of actors/tracker/qa.ts (QA_FLAG_NAMES), and
 * `flags` lists their names. A state with any physical-failure bit
 * (sgp4_error, decayed, altitude_low, altitude_high, eccentricity,
 * mean_motion, vis_viva), or propagated from elements older than their
 * orbit regime's age limit (elements_expired, bit 10: a credible orbit that
 * is not where the object is), is NOT a good state: `good` is false
 * (qa.ts QA_NOT_GOOD). stale_epoch (bit 9, older than 14 days) alone is a
 * warning; the state stays good. Such states
 * stay in the tracker frames too, with their flag bits set (consumers must
 * check the bits before drawing them; values may be NaN after an SGP4 error).
 * `teme`/`geodetic` numbers are null when the propagation produced no finite
 * state. `t` is the tick the state belongs to.
 */
const Num = Type.Union([Type.Number(), Type.Null()]);

export const SatelliteStateSchema = Type.Object(
  {
    v: Type.Literal(1),
    noradId: Type.Integer({ minimum: 1, maximum: 999_999_999 }),
    /** The numbers' precision: `float64` from the cache frame, `float32` from a bus frame. Optional within v1 (added later). */
    precision: Type.Optional(
      Type.Union([Type.Literal('float64'), Type.Literal('float32')], {
        description: 'float64: from the hot-cache frame (version 2), the tracker\'s own numbers; float32: from a bus frame (version 1), rounded to 24 bits',
      }),
    ),
    /** Tick instant of the state (whole UTC second). */
    t: Type.String({ format: 'date-time' }),
    teme: Type.Object(
      {
        r: Type.Array(Num, { minItems: 3, maxItems: 3, description: 'TEME position, km' }),
        v: Type.Array(Num, { minItems: 3, maxItems: 3, description: 'TEME velocity, km/s' }),
      },
      { additionalProperties: false },
    ),
    geodetic: Type.Object({ latDeg: Num, lonDeg: Num, altKm: Num }, { additionalProperties: false }),
    speedKmS: Num,
    flags: Type.Array(Type.String({ maxLength: 40 }), { maxItems: 32 }),
    flagBits: Type.Integer({ minimum: 0, maximum: 0xffffffff }),
    /** False when any physical-failure flag or elements_expired is set (actors/tracker/qa.ts isGood). */
    good: Type.Boolean(),
    /** Element-set epoch. */
    epoch: Type.String({ format: 'date-time' }),
    /** Where the element set came from, e.g. `celestrak:gp:active`. */
    elementSetSource: Type.String({ maxLength: 200 }),
    shard: Type.Integer({ minimum: 0, maximum: 65_535 }),
  },
  { additionalProperties: false },
);
export type SatelliteState = Static<typeof SatelliteStateSchema>;

export const SatelliteStateMessage = defineMessage({
  name: 'satellite.state',
  version: 1,
  description: 'Latest state of one object (TEME, geodetic, speed, QA flags), as GET /satellites/{id} answers it: decoded from the shard\'s latest tracker frame in the hot cache (`<ns>:frameb:<shard>`, written every tick by the tracker host that owns the shard).',
  encoding: 'json',
  schema: SatelliteStateSchema,
  subjects: 'none (REST; decoded from the hot-cache shard frame `<ns>:frameb:<shard>`)',
  idempotencyKey: 'noradId + t',
});

/**
 * An alert as published on `<ns>.alerts.v1` (core NATS) right after it is
 * recorded in the alerts table. The id is the alert's natural key: raising
 * the same condition again yields the same id, and consumers de-duplicate
 * on it.
 */
export const AlertRaisedSchema = Type.Object(
  {
    v: Type.Literal(1),
    id: Type.String({ pattern: '^[A-Za-z0-9._:\\-]{1,300}$' }),
    kind: Type.String({ minLength: 1, maxLength: 100 }),
    severity: Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')]),
    noradId: Type.Union([Type.Integer({ minimum: 1, maximum: 999_999_999 }), Type.Null()]),
    message: Type.String({ maxLength: 4000 }),
    raisedAt: Type.String({ format: 'date-time' }),
    payload: Type.Record(Type.String(), Type.Unknown()),
  },
  { additionalProperties: false },
);
export type AlertRaised = Static<typeof AlertRaisedSchema>;

export const AlertRaisedMessage = defineMessage({
  name: 'alert.raised',
  version: 1,
  description: 'An alert (e.g. an object decayed), published once it is stored in the alerts table.',
  encoding: 'json',
  schema: AlertRaisedSchema,
  subjects: '`<ns>.alerts.v1`',
  idempotencyKey: 'id (the alert natural key, e.g. `decay:<noradId>`)',
});
