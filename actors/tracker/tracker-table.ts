/**
 * The per-host state columns of all tracker actors, and the tick's hot path:
 * one propagateBatch over every slot, QA per slot against its previous state,
 * and frame encoding per shard from an index of slots. Struct of arrays, sized
 * by doubling: nothing in tick() allocates per object.
 */
import { checkForDecay, gstime, type SatRec } from 'satellite.js';
import { encodeTrackerFrame, encodeTrackerFrameF64, trackerFrameSize } from '../../protocol/frames/tracker-state.js';
import { EMPTY_SLOT, julianDate, propagateMinutes, SGP4_OK, STATE_STRIDE, temeToGeodetic } from './propagate.js';
import { DEFAULT_QA_LIMITS, evaluateTick, QA_DECAYED, QA_LAST_BIT, QA_NOT_GOOD, type QaLimits } from './qa.js';
import type { TrackerActor } from './tracker-actor.js';

/** Number of QA flag bits counted per tick (qa.ts: bit 0 .. QA_LAST_BIT). */
export const QA_BITS = Math.log2(QA_LAST_BIT) + 1;

export interface TickResult {
  tMs: number;
  /** Slots propagated (active actors). */
  objects: number;
  /** Good states (no QA_NOT_GOOD flag: no physical failure, elements within their age limit). */
  good: number;
  /** Per QA bit, how many states carried it this tick. */
  flagCounts: Uint32Array;
  /** Actors whose state this tick says decayed (the caller passivates them). */
  decayed: TrackerActor[];
}

interface ShardIndex {
  slots: Int32Array;
  count: number;
}

export class TrackerTable {
  capacity = 0;
  /** Slots 0..count-1 are in use or free (free ones hold undefined). */
  count = 0;
  actors: Array<TrackerActor | undefined> = [];
  satrecs: Array<SatRec | undefined> = [];
  state: Float64Array = new Float64Array(0);
  prev: Float64Array = new Float64Array(0);
  prevT: Float64Array = new Float64Array(0);
  errors = new Uint8Array(0);
  flags = new Uint32Array(0);
  ids = new Uint32Array(0);
  /** Tick sequence number that last propagated each slot. */
  ticked = new Uint32Array(0);
  private seq = 0;
  private jd = 0;
  private gmst = 0;
  private tickEnd = 0;
  private scratch = new Int32Array(16);
  private readonly free: number[] = [];
  private readonly byShard = new Map<number, Set<TrackerActor>>();
  private readonly shardIndex = new Map<number, ShardIndex>();
  private indexDirty = new Set<number>();
  readonly limits: QaLimits;
  private readonly result: TickResult;

  constructor(initialCapacity = 1024, limits: QaLimits = DEFAULT_QA_LIMITS) {
    this.limits = limits;
    this.result = { tMs: 0, objects: 0, good: 0, flagCounts: new Uint32Array(QA_BITS), decayed: [] };
    this.grow(Math.max(16, initialCapacity));
  }

  get size(): number {
    return this.count - this.free.length;
  }

  shards(): number[] {
    return [...this.byShard.keys()].sort((a, b) => a - b);
  }

  actorsOf(shard: number): ReadonlySet<TrackerActor> {
    return this.byShard.get(shard) ?? new Set();
  }

  private grow(capacity: number): void {
    const copyF = (a: Float64Array, n: number): Float64Array => {
      const b = new Float64Array(n);
      b.set(a.subarray(0, Math.min(a.length, n)));
      return b;
    };
    this.state = copyF(this.state, capacity * STATE_STRIDE);
    this.prev = copyF(this.prev, capacity * STATE_STRIDE);
    this.prevT = copyF(this.prevT, capacity);
    const e = new Uint8Array(capacity);
    e.set(this.errors);
    this.errors = e;
    const f = new Uint32Array(capacity);
    f.set(this.flags);
    this.flags = f;
    const ids = new Uint32Array(capacity);
    ids.set(this.ids);
    this.ids = ids;
    const ticked = new Uint32Array(capacity);
    ticked.set(this.ticked);
    this.ticked = ticked;
    this.capacity = capacity;
  }

  add(actor: TrackerActor): void {
    if (actor.slot >= 0) return;
    let slot = this.free.pop();
    if (slot === undefined) {
      if (this.count === this.capacity) this.grow(this.capacity * 2);
      slot = this.count++;
    }
    actor.slot = slot;
    actor.status = 'active';
    this.actors[slot] = actor;
    this.satrecs[slot] = actor.satrec;
    this.ids[slot] = actor.noradId;
    this.flags[slot] = 0;
    this.ticked[slot] = 0;
    this.prevT[slot] = NaN;
    let set = this.byShard.get(actor.shard);
    if (!set) this.byShard.set(actor.shard, (set = new Set()));
    set.add(actor);
    this.indexDirty.add(actor.shard);
  }

  /** Free the actor's slot (passivation or its shard going away). */
  remove(actor: TrackerActor): void {
    const slot = actor.slot;
    if (slot < 0 || this.actors[slot] !== actor) return;
    this.actors[slot] = undefined;
    this.satrecs[slot] = undefined;
    this.ids[slot] = 0;
    this.prevT[slot] = NaN;
    this.free.push(slot);
    actor.slot = -1;
    actor.status = 'passivated';
    const set = this.byShard.get(actor.shard);
    if (set) {
      set.delete(actor);
      if (set.size === 0) {
        this.byShard.delete(actor.shard);
        this.shardIndex.delete(actor.shard);
      }
    }
    this.indexDirty.add(actor.shard);
  }

  /** Remove every actor of a shard; returns them. */
  removeShard(shard: number): TrackerActor[] {
    const set = this.byShard.get(shard);
    if (!set) return [];
    const out = [...set];
    for (const a of out) this.remove(a);
    return out;
  }

  /** The actor switched element sets: point its slot at the new SatRec and forget the previous state. */
  switched(actor: TrackerActor): void {
    if (actor.slot < 0) return;
    this.satrecs[actor.slot] = actor.satrec;
    this.prevT[actor.slot] = NaN;
  }

  /**
   * Propagate every slot to `tMs`, then QA each against its previous state.
   * The returned object and its arrays are reused by the next tick.
   */
  tick(tMs: number): TickResult {
    this.beginTick(tMs);
    this.tickRange(0, this.count);
    return this.result;
  }

  /**
   * Start a tick at `tMs`; then tickRange() over [0, tickEnd) in as many
   * pieces as the caller likes (a host yields to the event loop between
   * them, so lease renewals are never starved by a 100k-object tick). Slots
   * added after beginTick are not part of this tick and stay out of its frames.
   */
  beginTick(tMs: number): number {
    const r = this.result;
    r.tMs = tMs;
    r.objects = 0;
    r.good = 0;
    r.flagCounts.fill(0);
    r.decayed.length = 0;
    this.seq = (this.seq + 1) >>> 0 || 1;
    this.jd = julianDate(tMs);
    this.gmst = gstime(this.jd);
    this.tickEnd = this.count;
    return this.tickEnd;
  }

  get tickResult(): TickResult {
    return this.result;
  }

  tickRange(from: number, to: number): void {
    const r = this.result;
    const tMs = r.tMs;
    const jd = this.jd;
    const gmst = this.gmst;
    const end = Math.min(to, this.tickEnd, this.count);
    const state = this.state;
    const prev = this.prev;
    const prevT = this.prevT;
    const errors = this.errors;
    const flags = this.flags;
    const ticked = this.ticked;
    const counts = r.flagCounts;
    const limits = this.limits;
    const seq = this.seq;
    for (let i = from; i < end; i++) {
      const actor = this.actors[i];
      if (actor === undefined) {
        errors[i] = EMPTY_SLOT;
        continue;
      }
      const satrec = actor.satrec;
      const o = i * STATE_STRIDE;
      const code = propagateMinutes(satrec, (jd - satrec.jdsatepoch) * 1440, state, o);
      if (code === SGP4_OK) temeToGeodetic(state, o, gmst);
      errors[i] = code;
      const communityDecayed = code === SGP4_OK && checkForDecay(satrec);
      const pt = prevT[i]!;
      let f = evaluateTick(state, o, code, communityDecayed, actor.qa, tMs, pt === pt ? prev : undefined, o, pt, limits);
      if (actor.pendingFlags !== 0) {
        f |= actor.pendingFlags;
        actor.pendingFlags = 0;
      }
      flags[i] = f;
      ticked[i] = seq;
      r.objects++;
      if ((f & QA_NOT_GOOD) === 0) r.good++;
      if (f !== 0) {
        for (let b = 0; b < QA_BITS; b++) if (f & (1 << b)) counts[b]!++;
        if (f & QA_DECAYED) r.decayed.push(actor);
      }
      if (code === SGP4_OK) {
        for (let k = 0; k < STATE_STRIDE; k++) prev[o + k] = state[o + k]!;
        prevT[i] = tMs;
      } else prevT[i] = NaN;
    }
  }

  /** Slots of `shard`, ascending by slot (rebuilt only after adds/removes). */
  private indexOf(shard: number): ShardIndex | undefined {
    if (this.indexDirty.has(shard)) {
      this.indexDirty.delete(shard);
      const set = this.byShard.get(shard);
      if (!set) {
        this.shardIndex.delete(shard);
        return undefined;
      }
      let idx = this.shardIndex.get(shard);
      if (!idx || idx.slots.length < set.size) idx = { slots: new Int32Array(Math.max(16, set.size * 2)), count: 0 };
      let k = 0;
      for (const a of set) idx.slots[k++] = a.slot;
      idx.slots.subarray(0, k).sort();
      idx.count = k;
      this.shardIndex.set(shard, idx);
    }
    return this.shardIndex.get(shard);
  }

  /** Bytes the frame of `shard` needs. */
  frameSize(shard: number): number {
    return trackerFrameSize(this.indexOf(shard)?.count ?? 0);
  }

  /** Encode the last tick's states of `shard` into `out` (which must be frameSize(shard) bytes or more). */
  encodeShard(shard: number, tMs: number, out: Uint8Array): Uint8Array {
    const k = this.tickedSlots(shard);
    return encodeTrackerFrame(shard, tMs, { ids: this.ids, flags: this.flags, values: this.state, count: this.count }, this.scratch, k, out);
  }

  /**
   * The same states as encodeShard, as the float64 (version 2) frame the hot
   * cache holds (REST states are read from it), in a buffer of its own.
   */
  encodeShardF64(shard: number, tMs: number): Uint8Array {
    const k = this.tickedSlots(shard);
    return encodeTrackerFrameF64(shard, tMs, { ids: this.ids, flags: this.flags, values: this.state, count: this.count }, this.scratch, k);
  }

  /** Fills `scratch` with the slots of `shard` this tick propagated (an actor activated mid-tick waits for the next one); returns how many. */
  private tickedSlots(shard: number): number {
    const idx = this.indexOf(shard);
    if (!idx) return 0;
    if (this.scratch.length < idx.count) this.scratch = new Int32Array(idx.count * 2);
    let k = 0;
    for (let j = 0; j < idx.count; j++) {
      const slot = idx.slots[j]!;
      if (this.ticked[slot] === this.seq && this.actors[slot] !== undefined) this.scratch[k++] = slot;
    }
    return k;
  }
}
