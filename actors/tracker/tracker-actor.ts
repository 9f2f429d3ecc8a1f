/**
 * One tracker actor per tracked object. The actor owns its object's element
 * set, SatRec, QA inputs, switch-over bookkeeping and lifecycle; its latest
 * state lives in the host's state columns at the actor's slot (struct of
 * arrays, see tracker-table.ts) so that a host can propagate all its actors in
 * one batch without an object per state. The actor is the only writer of its
 * slot's element data; the table is the only writer of the state columns.
 *
 * These actors are not ActorSystem mailboxes on purpose: the 1 Hz tick is one
 * synchronous pass over the columns, and a message per object per second
 * (100k mailbox turns) would cost more than the whole tick budget.
 */
import type { SatRec } from 'satellite.js';
import { createSatrec, elementSetFromOmm, elementSetFromTle, sgp4SemiMajorAxisKm, type ElementSet } from './element-set.js';
import { validateOmm } from './omm.js';
import { parseTle } from './tle.js';
import { propagateAt, satrecEpochMs, STATE_STRIDE } from './propagate.js';
import { switchJumpFlags, switchJumpKm, type QaElementInfo, type QaLimits } from './qa.js';

export type TrackerActorStatus = 'active' | 'passivated';

/** An element set as the storage layer returns it (actors/storage/element-sets.ts). */
export interface StoredElementSet {
  id: number;
  noradId: number;
  epoch: Date;
  source: string;
  format: 'omm' | 'tle';
  omm: Record<string, unknown> | null;
  tleLine1: string | null;
  tleLine2: string | null;
}

export type LoadedElementSet =
  | { ok: true; es: ElementSet; satrec: SatRec; qa: QaElementInfo; storedId: number; source: string }
  | { ok: false; code: string; reason: string };

/**
 * Stored row → validated element set + SatRec. Rows are re-validated: the
 * DB is the system of record, but a row written by an older or foreign writer
 * must not crash a tracker. A SatRec whose initialisation fails is kept (the
 * tick reports its SGP4 error code as a QA flag) unless it is unusable.
 */
export function loadElementSet(row: StoredElementSet, name = ''): LoadedElementSet {
  let es: ElementSet;
  if (row.format === 'tle') {
    if (typeof row.tleLine1 !== 'string' || typeof row.tleLine2 !== 'string') return { ok: false, code: 'missing_lines', reason: 'TLE row without its two lines' };
    const parsed = parseTle(name, row.tleLine1, row.tleLine2);
    if (!parsed.ok) return { ok: false, code: parsed.rejection.code, reason: parsed.rejection.reason };
    es = elementSetFromTle(parsed.value);
  } else {
    const parsed = validateOmm(row.omm, 1);
    if (!parsed.ok) return { ok: false, code: parsed.rejection.code, reason: parsed.rejection.reason };
    es = elementSetFromOmm(parsed.value);
  }
  if (es.noradId !== row.noradId) return { ok: false, code: 'id_mismatch', reason: `row for ${row.noradId} holds elements of ${es.noradId}` };
  const { satrec } = createSatrec(es);
  return { ok: true, es, satrec, qa: qaInfoOf(es, satrec), storedId: row.id, source: row.source };
}

export function qaInfoOf(es: ElementSet, satrec: SatRec): QaElementInfo {
  const epochMs = Number.isFinite(satrec.jdsatepoch) ? satrecEpochMs(satrec) : es.epochMs;
  return { eccentricity: es.eccentricity, meanMotionRevPerDay: es.meanMotionRevPerDay, semiMajorAxisKm: sgp4SemiMajorAxisKm(satrec), epochMs };
}

const scratchOld = new Float64Array(STATE_STRIDE);
const scratchNew = new Float64Array(STATE_STRIDE);

export interface SwitchOver {
  noradId: number;
  /** Position difference between the old and new element set at the switch instant, km (NaN when either failed to propagate). */
  jumpKm: number;
  /** QA_SWITCH_JUMP when above the threshold, else 0. */
  flags: number;
  oldEpochMs: number;
  newEpochMs: number;
}

export class TrackerActor {
  readonly noradId: number;
  readonly shard: number;
  /** Slot in the host's state columns; -1 once passivated. */
  slot = -1;
  status: TrackerActorStatus = 'active';
  es: ElementSet;
  satrec: SatRec;
  qa: QaElementInfo;
  storedId: number;
  source: string;
  /** ISO epoch, computed once per element set (logs and decay alerts carry it). */
  epochIso: string;
  /** Flags to OR into the next state (switch-over jump), cleared by the tick. */
  pendingFlags = 0;
  switches = 0;
  lastJumpKm = NaN;

  constructor(noradId: number, shard: number, loaded: Extract<LoadedElementSet, { ok: true }>) {
    this.noradId = noradId;
    this.shard = shard;
    this.es = loaded.es;
    this.satrec = loaded.satrec;
    this.qa = loaded.qa;
    this.storedId = loaded.storedId;
    this.source = loaded.source;
    this.epochIso = isoOf(this.qa.epochMs);
  }

  /** True when `loaded` is a newer element set than the one this actor runs. */
  isNewer(loaded: Extract<LoadedElementSet, { ok: true }>): boolean {
    return loaded.storedId !== this.storedId && loaded.qa.epochMs > this.qa.epochMs;
  }

  /**
   * Switch to a new element set at instant `tMs`: both sets are propagated to
   * that instant and the position difference is the jump. The new set is used
   * from the next tick on; the jump flag rides on that tick's state.
   */
  switchTo(loaded: Extract<LoadedElementSet, { ok: true }>, tMs: number, limits: QaLimits): SwitchOver {
    const oldEpochMs = this.qa.epochMs;
    const e1 = propagateAt(this.satrec, tMs, scratchOld);
    const e2 = propagateAt(loaded.satrec, tMs, scratchNew);
    const jumpKm = e1 === 0 && e2 === 0 ? switchJumpKm(scratchOld, 0, scratchNew, 0) : NaN;
    const flags = Number.isNaN(jumpKm) ? 0 : switchJumpFlags(jumpKm, limits);
    this.es = loaded.es;
    this.satrec = loaded.satrec;
    this.qa = loaded.qa;
    this.storedId = loaded.storedId;
    this.source = loaded.source;
    this.epochIso = isoOf(this.qa.epochMs);
    this.pendingFlags |= flags;
    this.switches++;
    this.lastJumpKm = jumpKm;
    return { noradId: this.noradId, jumpKm, flags, oldEpochMs, newEpochMs: this.qa.epochMs };
  }
}

function isoOf(ms: number): string {
  const d = new Date(Math.floor(ms));
  return Number.isNaN(d.getTime()) ? new Date(0).toISOString() : d.toISOString();
}
