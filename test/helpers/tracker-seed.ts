/**
 * Seeding the catalog and element sets for tracker tests and the tracking
 * benchmark (not a test file): the shipped snapshot's TLEs through the
 * storage repos, and crafted OMM records for QA cases.
 */
import { decodeTrackerFrame } from '../../protocol/frames/tracker-state.js';
import { catalog, elementSets, type Queryable } from '../../actors/storage/index.js';
import { loadSnapshot } from '../../actors/tracker/snapshot.js';
import type { TleRecord } from '../../actors/tracker/tle.js';

export async function snapshotRecords(limit = Infinity): Promise<TleRecord[]> {
  const { records, rejects } = await loadSnapshot();
  if (rejects.length > 0) throw new Error(`snapshot has ${rejects.length} rejects`);
  return records.slice(0, limit);
}

/** Objects + their TLE element sets, in batches through the repos. */
export async function seedTles(db: Queryable, records: readonly TleRecord[], source = 'test:snapshot'): Promise<void> {
  const batch = 500;
  for (let i = 0; i < records.length; i += batch) {
    await Promise.all(
      records.slice(i, i + batch).map(async (r) => {
        await catalog.upsertObject(db, { noradId: r.noradId, name: r.name || `NORAD ${r.noradId}`, status: 'active' });
        await elementSets.insertElementSet(db, { noradId: r.noradId, epoch: new Date(Math.floor(r.epochMs)), source, format: 'tle', tleLine1: r.line1, tleLine2: r.line2 });
      }),
    );
  }
}

export interface CraftedOmm {
  noradId: number;
  epochMs: number;
  meanMotion: number;
  eccentricity?: number;
  inclination?: number;
  raan?: number;
  argp?: number;
  meanAnomaly?: number;
  bstar?: number;
  ndot?: number;
  nddot?: number;
  name?: string;
}

/** CCSDS OMM keys as CelesTrak's JSON has them (EPOCH without zone, UTC). */
export function ommOf(c: CraftedOmm): Record<string, unknown> {
  return {
    OBJECT_NAME: c.name ?? `CRAFTED ${c.noradId}`,
    OBJECT_ID: '2026-999A',
    EPOCH: new Date(c.epochMs).toISOString().replace('Z', ''),
    MEAN_MOTION: c.meanMotion,
    ECCENTRICITY: c.eccentricity ?? 0.0001,
    INCLINATION: c.inclination ?? 0.1,
    RA_OF_ASC_NODE: c.raan ?? 10,
    ARG_OF_PERICENTER: c.argp ?? 0,
    MEAN_ANOMALY: c.meanAnomaly ?? 0,
    EPHEMERIS_TYPE: 0,
    CLASSIFICATION_TYPE: 'U',
    NORAD_CAT_ID: c.noradId,
    ELEMENT_SET_NO: 999,
    REV_AT_EPOCH: 1,
    BSTAR: c.bstar ?? 0,
    MEAN_MOTION_DOT: c.ndot ?? 0,
    MEAN_MOTION_DDOT: c.nddot ?? 0,
  };
}

export async function seedOmm(db: Queryable, c: CraftedOmm, source = 'test:crafted'): Promise<void> {
  await catalog.upsertObject(db, { noradId: c.noradId, name: c.name ?? `CRAFTED ${c.noradId}`, status: 'active' });
  await elementSets.insertElementSet(db, { noradId: c.noradId, epoch: new Date(Math.floor(c.epochMs)), source, format: 'omm', omm: ommOf(c) });
}

/** The same orbit as a TLE record, as an OMM with a later epoch and shifted mean anomaly (a switch-over with a known jump). */
export function shiftedOmmOf(r: TleRecord, epochShiftMs: number, meanAnomalyShiftDeg: number): CraftedOmm {
  return {
    noradId: r.noradId,
    name: r.name,
    epochMs: r.epochMs + epochShiftMs,
    meanMotion: r.meanMotionRevPerDay,
    eccentricity: r.eccentricity,
    inclination: r.inclinationDeg,
    raan: r.raanDeg,
    argp: r.argpDeg,
    meanAnomaly: (r.meanAnomalyDeg + meanAnomalyShiftDeg) % 360,
    bstar: r.bstar,
    ndot: r.ndotRevPerDay2,
    nddot: r.nddotRevPerDay3,
  };
}

/**
 * Seed the first `count` snapshot objects with epochs an hour old (so none
 * decays or goes stale during a test); returns their ids.
 */
export async function seedFreshObjects(db: Queryable, count: number, source = 'test:chaos'): Promise<Set<number>> {
  const now = Date.now();
  const records = await snapshotRecords(count);
  for (let i = 0; i < records.length; i += 200) {
    await Promise.all(records.slice(i, i + 200).map((r) => seedOmm(db, shiftedOmmOf(r, now - 3_600_000 - r.epochMs, 0), source)));
  }
  return new Set(records.map((r) => r.noradId));
}

/** Per tick: how many times each object was published, and the shard each object was last published under. */
export class FrameLedger {
  readonly seen = new Map<number, Map<number, number>>();
  readonly shardOfId = new Map<number, number>();

  /** Take one tracker frame off the bus. */
  add(frame: Uint8Array): void {
    const f = decodeTrackerFrame(frame);
    let m = this.seen.get(f.tickMs);
    if (!m) this.seen.set(f.tickMs, (m = new Map()));
    for (let k = 0; k < f.count; k++) {
      const id = f.columns.ids[k]!;
      m.set(id, (m.get(id) ?? 0) + 1);
      this.shardOfId.set(id, f.shard);
    }
  }
}
