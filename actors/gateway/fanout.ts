/**
 * State fanout: the latest state of every object, from the tracker frames on
 * the bus, pushed to websocket clients once per tick.
 *
 * - One flush per tick, whatever the number of shards (issue 11): the frames
 *   of a tick (one per shard, from one or several hosts) are collected until
 *   every shard heard in the previous tick has sent its frame, else until
 *   `coalesceMs` after the tick's first frame (a shard that moved or died),
 *   then the states that changed are sent once: one frame per distinct
 *   subscription, encoded once and shared by every client with that
 *   subscription. A frame of a tick already flushed (a shard taken over mid
 *   tick, a slow host, a second publisher during a failover) does not cause
 *   another flush: its states go out with the next tick's, and its shard is
 *   expected in the next tick. Ticks that arrive in a burst (a backlog after
 *   a NATS reconnect) are merged while one is open, and two flushes are at
 *   least half a tick period apart (the period as observed from tick times),
 *   so a burst is not a burst of frames to clients.
 * - Bbox-only subscriptions (the map viewport case) are matched through a
 *   10° grid of the changed states, so thousands of viewports do not each
 *   walk every object; frames go out smallest first, so the many small
 *   viewport frames are not queued behind the few whole-catalog ones.
 * - A subscription class keeps its last snapshot for the current seq:
 *   clients subscribing to it between two ticks share one.
 * - Records are kept as the 48-byte tracker records they arrived as, so a
 *   client frame is a header and memcpys, never a re-encode per object.
 * - Backpressure: a client with more than `maxBufferedBytes` unsent skips
 *   the frame (latest wins: the next tick carries newer states), and so does
 *   one whose send queue still held an unsent frame (outbox.ts: the new
 *   frame replaces it). Skips are counted per flush, hence per tick, and
 *   flushes are spaced as above, so a run of `maxSkippedFrames` skips means
 *   the client's own queue did not drain for that many ticks: it is closed
 *   then (1008), and never because frames of one tick arrived in pieces or
 *   in a burst. Server memory per client is bounded by the bound plus one
 *   frame.
 * - Every flush has a sequence number, written into each frame's reserved
 *   header word (protocol/messages/ws.ts); each state remembers the flush
 *   that last sent it, so a resuming client gets the states changed since
 *   the last seq it saw.
 * - A malformed frame is counted and dropped.
 */
import {
  decodeTrackerFrameHeader,
  TRACKER_FRAME_HEADER_BYTES,
  TRACKER_FRAME_MAGIC,
  TRACKER_FRAME_RECORD_BYTES,
  TRACKER_FRAME_VERSION,
  trackerFrameSize,
} from '../../protocol/frames/tracker-state.js';
import { inBbox, matches, type Subscription } from './subscription.js';
import { shardOf } from '../runtime/sharding.js';
import { TimeSlicer } from '../runtime/time-slice.js';
import { decodeStateRecord, type TrackedState } from '../tracker/state-cache.js';

/** What the hub needs from a websocket connection. */
export interface FanoutClient {
  /** Queue a frame. False: it replaced a frame the client had not been sent yet (counted as a skip). */
  send(bytes: Uint8Array): boolean | void;
  /** Bytes queued and not yet written to the socket. */
  bufferedAmount(): number;
  close(code: number, reason: string): void;
}

export interface FanoutOptions {
  maxBufferedBytes: number;
  maxSkippedFrames: number;
  /** How long after a tick's first frame to wait for the other shards' frames before sending. Default 50 ms (hosts publish at the tick instant; a busy one a few tens of ms late). */
  coalesceMs?: number;
  /** Tick period assumed until two ticks have been seen (ms); default 1000 (the tracker's). */
  tickPeriodMs?: number;
  /** States not refreshed for this long are dropped (object passivated or its tracker gone). Default 30 s. */
  staleMs?: number;
  groupsOf(id: number): readonly string[] | undefined;
  onMalformed?(err: unknown): void;
  onSkip?(): void;
  onSlowDisconnect?(): void;
  /** Called after each flush: tick time of the newest state sent and when it was sent (for latency metrics). */
  onFlush?(tickMs: number, sentAtMs: number, frames: number): void;
}

interface Entry {
  record: Uint8Array;
  latDeg: number;
  lonDeg: number;
  tickMs: number;
  /** The flush that last sent this state (0: not yet flushed). */
  seq: number;
}

interface ClientState {
  sub: Subscription | null;
  skipped: number;
}

interface SubscriptionClass {
  sub: Subscription;
  clients: Set<FanoutClient>;
  /** The full snapshot as of `seq` (shared by clients subscribing before the next flush). */
  snap: { seq: number; matched: number; bytes: Uint8Array | null } | null;
}

/** Grid cell size for bbox matching, degrees. */
const CELL_DEG = 10;
const LAT_CELLS = 180 / CELL_DEG;
const LON_CELLS = 360 / CELL_DEG;
const cellRow = (latDeg: number) => Math.min(LAT_CELLS - 1, Math.max(0, Math.floor((latDeg + 90) / CELL_DEG)));
const cellCol = (lonDeg: number) => Math.min(LON_CELLS - 1, Math.max(0, Math.floor((lonDeg + 180) / CELL_DEG)));

export interface FanoutStats {
  objects: number;
  clients: number;
  subscriptionClasses: number;
  framesIn: number;
  malformedFrames: number;
  framesOut: number;
  encodes: number;
  skippedFrames: number;
  slowDisconnects: number;
  lastTickMs: number | null;
  /** The latest flush's sequence number. */
  seq: number;
  /** Flushes so far, the time they took (encode + hand every frame to its client), and how long after their tick they started, summed (ms). */
  flushes: number;
  flushMsTotal: number;
  tickToFlushMsTotal: number;
}

/** Sequence numbers wrap within the header's u32. */
const SEQ_MAX = 0xffff_ffff;

const LAT_OFFSET = 32;
const LON_OFFSET = 36;

export class StateFanout {
  private readonly latest = new Map<number, Entry>();
  private dirty = new Set<number>();
  private readonly clients = new Map<FanoutClient, ClientState>();
  private readonly classes = new Map<string, SubscriptionClass>();
  private flushTimer: NodeJS.Timeout | null = null;
  /** A sliced flush is running; another was asked for meanwhile. */
  private flushing = false;
  private flushAgain = false;
  private sweepTimer: NodeJS.Timeout | null = null;
  private pendingTickMs = 0;
  private seq = 0;
  /** The tick being collected (null: none open), and the shards heard for it. */
  private openTickMs: number | null = null;
  private openShards = new Set<number>();
  /** The newest tick flushed, and the shards heard for it (late frames included): what the next tick waits for. */
  private flushedTickMs = -Infinity;
  private flushedShards = new Set<number>();
  /** When the flush timer fires (performance.now() ms), and when the last flush ran. */
  private timerDue = Infinity;
  private lastFlushAt = -Infinity;
  /** Observed tick period (ms): the difference between consecutive tick times. */
  private periodMs: number;
  private readonly coalesceMs: number;
  private readonly staleMs: number;
  private readonly s = {
    framesIn: 0,
    malformedFrames: 0,
    framesOut: 0,
    encodes: 0,
    skippedFrames: 0,
    slowDisconnects: 0,
    lastTickMs: null as number | null,
    flushes: 0,
    flushMsTotal: 0,
    tickToFlushMsTotal: 0,
  };

  constructor(private readonly o: FanoutOptions) {
    this.coalesceMs = o.coalesceMs ?? 50;
    this.periodMs = o.tickPeriodMs ?? 1000;
    this.staleMs = o.staleMs ?? 30_000;
    this.sweepTimer = setInterval(() => this.sweep(Date.now()), Math.max(1000, Math.floor(this.staleMs / 3)));
    this.sweepTimer.unref();
  }

  /** Take one tracker frame off the bus. Returns false when it was malformed (counted, dropped). */
  ingest(bytes: Uint8Array): boolean {
    let header;
    try {
      header = decodeTrackerFrameHeader(bytes);
    } catch (err) {
      this.s.malformedFrames += 1;
      this.o.onMalformed?.(err);
      return false;
    }
    this.s.framesIn += 1;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let o = TRACKER_FRAME_HEADER_BYTES;
    for (let k = 0; k < header.count; k++, o += TRACKER_FRAME_RECORD_BYTES) {
      const id = dv.getUint32(o, true);
      const latDeg = dv.getFloat32(o + LAT_OFFSET, true);
      const lonDeg = dv.getFloat32(o + LON_OFFSET, true);
      let e = this.latest.get(id);
      if (e && e.tickMs > header.tickMs) continue; // an older frame arriving late
      if (!e) {
        e = { record: new Uint8Array(TRACKER_FRAME_RECORD_BYTES), latDeg, lonDeg, tickMs: header.tickMs, seq: 0 };
        this.latest.set(id, e);
      }
      e.record.set(bytes.subarray(o, o + TRACKER_FRAME_RECORD_BYTES));
      e.latDeg = latDeg;
      e.lonDeg = lonDeg;
      e.tickMs = header.tickMs;
      this.dirty.add(id);
    }
    if (header.tickMs > this.pendingTickMs) this.pendingTickMs = header.tickMs;
    this.track(header.tickMs, header.shard);
    return true;
  }

  /**
   * Tick bookkeeping for one frame (its states are already applied): open,
   * extend or complete the tick it belongs to and schedule the one flush.
   */
  private track(tickMs: number, shard: number): void {
    const now = performance.now();
    if (tickMs <= this.flushedTickMs) {
      // A tick already flushed: no flush of its own. Its shard is expected next tick; its states ride with the next flush.
      if (tickMs === this.flushedTickMs) this.flushedShards.add(shard);
      // Should no next tick come (a tracker that stopped), they go out 1.5 periods after the last flush.
      if (this.dirty.size > 0 && this.openTickMs === null) this.schedule(Math.max(now + this.coalesceMs, this.lastFlushAt + 1.5 * this.periodMs));
      return;
    }
    if (this.openTickMs === null) {
      this.notePeriod(tickMs);
      this.openTickMs = tickMs;
      this.openShards = new Set([shard]);
      // The deadline counts from the tick's first frame; the timer may be one set for late frames (later): replace it.
      this.schedule(now + this.coalesceMs, true);
    } else if (tickMs === this.openTickMs) {
      this.openShards.add(shard);
    } else if (tickMs > this.openTickMs) {
      // A newer tick while one is still open (a backlog arriving at once): merge, keep the open tick's deadline.
      this.notePeriod(tickMs);
      this.openTickMs = tickMs;
      this.openShards = new Set([shard]);
    } else return; // an older unflushed tick of a merged burst: its states are in, nothing to track
    if (this.complete()) this.schedule(Math.max(now, this.lastFlushAt + this.minGapMs()), true);
  }

  /** Every shard heard in the last flushed tick has sent its frame for the open one. */
  private complete(): boolean {
    if (this.flushedShards.size === 0 || this.openShards.size < this.flushedShards.size) return false;
    for (const x of this.flushedShards) if (!this.openShards.has(x)) return false;
    return true;
  }

  private notePeriod(tickMs: number): void {
    const last = this.openTickMs ?? this.flushedTickMs;
    const d = tickMs - last;
    if (Number.isFinite(d) && d > 0 && d <= 60_000) this.periodMs = d;
  }

  /** Two flushes are at least half a tick period apart (at most 1 s), so a burst of ticks is not a burst of frames. */
  private minGapMs(): number {
    return Math.min(1000, this.periodMs / 2);
  }

  /** Arm the flush timer for `due`; an earlier timer stays unless `replace`. */
  private schedule(due: number, replace = false): void {
    if (this.flushTimer !== null) {
      if (!replace && this.timerDue <= due) return;
      if (replace && this.timerDue === due) return;
      clearTimeout(this.flushTimer);
    }
    const delay = Math.max(0, due - performance.now());
    this.timerDue = due;
    if (delay === 0 && replace && this.dirty.size > 0) {
      this.flushTimer = null;
      this.timerDue = Infinity;
      this.flushSliced();
      return;
    }
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      this.timerDue = Infinity;
      this.flushSliced();
    }, delay);
  }

  addClient(client: FanoutClient): void {
    this.clients.set(client, { sub: null, skipped: 0 });
  }

  removeClient(client: FanoutClient): void {
    const st = this.clients.get(client);
    if (!st) return;
    this.detach(client, st);
    this.clients.delete(client);
  }

  /**
   * Set (or clear, with null) a client's subscription. Returns the snapshot:
   * one frame with the latest known matching states (with `sinceSeq`, only
   * those flushed after that seq: a resume), how many, the current seq, and
   * the subscription as the fanout keeps it (shared by its class: sessions
   * hold this one, not a copy).
   */
  subscribe(
    client: FanoutClient,
    sub: Subscription | null,
    sinceSeq = 0,
  ): { matched: number; snapshot: Uint8Array | null; seq: number; sub: Subscription | null } {
    const st = this.clients.get(client);
    if (!st) return { matched: 0, snapshot: null, seq: this.seq, sub: null };
    this.detach(client, st);
    st.skipped = 0;
    if (!sub) return { matched: 0, snapshot: null, seq: this.seq, sub: null };
    let cls = this.classes.get(sub.key);
    if (!cls) {
      cls = { sub, clients: new Set(), snap: null };
      this.classes.set(sub.key, cls);
    }
    cls.clients.add(client);
    st.sub = cls.sub;
    if (sinceSeq === 0 && cls.snap?.seq === this.seq) return { matched: cls.snap.matched, snapshot: cls.snap.bytes, seq: this.seq, sub: cls.sub };
    // A seq ahead of ours is from before a wrap or another gateway: everything.
    const since = sinceSeq > this.seq ? 0 : sinceSeq;
    const entries: Entry[] = [];
    let tickMs = 0;
    for (const [id, e] of this.latest) {
      // Not yet flushed (seq 0): the next flush brings it to resumed clients anyway.
      if ((since === 0 || e.seq > since) && matches(cls.sub, id, e.latDeg, e.lonDeg, this.o.groupsOf)) {
        entries.push(e);
        if (e.tickMs > tickMs) tickMs = e.tickMs;
      }
    }
    const snapshot = entries.length > 0 ? encodeRecords(tickMs, this.seq, entries) : null;
    if (since === 0) cls.snap = { seq: this.seq, matched: entries.length, bytes: snapshot };
    return { matched: entries.length, snapshot, seq: this.seq, sub: cls.sub };
  }

  /** Send the states changed since the last flush to every subscription class, in one synchronous stretch (tests, benches). */
  flush(): void {
    const steps = this.flushSteps();
    while (!steps.next().done) {
      // run to the end
    }
  }

  /**
   * The same flush in time slices (issue 10): encoding ~100 subscription
   * classes and writing to thousands of sockets is tens of milliseconds of
   * CPU, which on a shared loop (the embedded default) would hold /health,
   * acks and lease renewals behind it. One flush at a time; a flush asked for
   * meanwhile runs right after.
   */
  private flushSliced(): void {
    if (this.flushing) {
      this.flushAgain = true;
      return;
    }
    this.flushing = true;
    void (async () => {
      try {
        const slicer = new TimeSlicer();
        const steps = this.flushSteps();
        while (!steps.next().done) if (slicer.due()) await slicer.pause();
      } finally {
        this.flushing = false;
        if (this.flushAgain) {
          this.flushAgain = false;
          if (this.dirty.size > 0) this.flushSliced();
        }
      }
    })();
  }

  private *flushSteps(): Generator<void, void, void> {
    if (this.flushTimer !== null) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
      this.timerDue = Infinity;
    }
    if (this.openTickMs !== null) {
      // The open tick is done: what its frames brought goes out now; its late frames wait for the next one.
      this.flushedTickMs = this.openTickMs;
      this.flushedShards = this.openShards;
      this.openTickMs = null;
      this.openShards = new Set();
    }
    if (this.dirty.size === 0) return;
    const startedAt = performance.now();
    this.lastFlushAt = startedAt;
    const tickMs = this.pendingTickMs;
    this.s.tickToFlushMsTotal += Math.max(0, Date.now() - tickMs);
    const dirty = this.dirty;
    this.dirty = new Set();
    const ids = [...dirty];
    this.seq = this.seq >= SEQ_MAX ? 1 : this.seq + 1;
    const seq = this.seq;
    for (const id of ids) {
      const e = this.latest.get(id);
      if (e) e.seq = seq;
    }
    let grid: Entry[][] | null = null;
    const out: Array<{ frame: Uint8Array; cls: SubscriptionClass }> = [];
    for (const cls of this.classes.values()) {
      const entries: Entry[] = [];
      const sub = cls.sub;
      if (sub.bbox && !sub.ids && !sub.groups && !sub.all) {
        grid ??= this.gridOf(ids);
        const [w, south, e, n] = sub.bbox;
        const r0 = cellRow(south);
        const r1 = cellRow(n);
        // West > east crosses the antimeridian: two column ranges.
        const spans: Array<[number, number]> = w <= e ? [[cellCol(w), cellCol(e)]] : [[cellCol(w), LON_CELLS - 1], [0, cellCol(e)]];
        for (let r = r0; r <= r1; r++) {
          for (const [c0, c1] of spans) {
            for (let c = c0; c <= c1; c++) {
              for (const x of grid[r * LON_CELLS + c]!) if (inBbox(sub.bbox, x.latDeg, x.lonDeg)) entries.push(x);
            }
          }
        }
      } else if (sub.ids && !sub.groups && !sub.bbox && sub.ids.size < ids.length) {
        // A short id list (the common dashboard case): walk it, not every changed state.
        for (const id of sub.ids) {
          const e = dirty.has(id) ? this.latest.get(id) : undefined;
          if (e) entries.push(e);
        }
      } else {
        for (const id of ids) {
          const e = this.latest.get(id);
          if (e && matches(sub, id, e.latDeg, e.lonDeg, this.o.groupsOf)) entries.push(e);
        }
      }
      if (entries.length === 0) continue;
      // Encoded once, shared by every client of the class.
      out.push({ frame: encodeRecords(tickMs, seq, entries), cls });
      this.s.encodes += 1;
      yield;
    }
    // Smallest first: most clients watch a viewport; they should not wait behind whole-catalog frames.
    out.sort((a, b) => a.frame.byteLength - b.frame.byteLength);
    let n = 0;
    for (const { frame, cls } of out) {
      for (const c of [...cls.clients]) {
        this.deliver(c, frame);
        if (++n % 32 === 0) yield;
      }
    }
    this.s.lastTickMs = tickMs;
    this.s.flushes += 1;
    this.s.flushMsTotal += performance.now() - startedAt;
    this.o.onFlush?.(tickMs, Date.now(), out.length);
  }

  /** The changed states bucketed by grid cell. */
  private gridOf(ids: readonly number[]): Entry[][] {
    const grid: Entry[][] = Array.from({ length: LAT_CELLS * LON_CELLS }, () => []);
    for (const id of ids) {
      const e = this.latest.get(id);
      if (e && Number.isFinite(e.latDeg) && Number.isFinite(e.lonDeg)) grid[cellRow(e.latDeg) * LON_CELLS + cellCol(e.lonDeg)]!.push(e);
    }
    return grid;
  }

  private deliver(client: FanoutClient, frame: Uint8Array): void {
    const st = this.clients.get(client);
    if (!st) return;
    if (client.bufferedAmount() > this.o.maxBufferedBytes) {
      this.skipped(client, st);
      return;
    }
    if (client.send(frame) === false) {
      // Queued, but in place of an unsent frame: the client is behind.
      this.skipped(client, st);
      return;
    }
    st.skipped = 0;
    this.s.framesOut += 1;
  }

  private skipped(client: FanoutClient, st: ClientState): void {
    st.skipped += 1;
    this.s.skippedFrames += 1;
    this.o.onSkip?.();
    if (st.skipped >= this.o.maxSkippedFrames) {
      this.s.slowDisconnects += 1;
      this.o.onSlowDisconnect?.();
      this.removeClient(client);
      client.close(1008, `too slow: skipped ${st.skipped} frames in a row`);
    }
  }

  private detach(client: FanoutClient, st: ClientState): void {
    if (!st.sub) return;
    const cls = this.classes.get(st.sub.key);
    if (cls) {
      cls.clients.delete(client);
      if (cls.clients.size === 0) this.classes.delete(st.sub.key);
    }
    st.sub = null;
  }

  /** Drop states not refreshed within staleMs (bounded memory when objects go away). */
  sweep(nowMs: number): number {
    let dropped = 0;
    for (const [id, e] of this.latest) {
      if (nowMs - e.tickMs > this.staleMs) {
        this.latest.delete(id);
        this.dirty.delete(id);
        dropped += 1;
      }
    }
    return dropped;
  }

  /** The latest state of `id` this gateway took off the bus, decoded like a cached one; null when none. */
  latestState(id: number, shardCount: number): TrackedState | null {
    const e = this.latest.get(id);
    if (!e) return null;
    const dv = new DataView(e.record.buffer, e.record.byteOffset, e.record.byteLength);
    return decodeStateRecord(dv, 0, shardOf(String(id), shardCount), e.tickMs);
  }

  stats(): FanoutStats {
    return { objects: this.latest.size, clients: this.clients.size, subscriptionClasses: this.classes.size, ...this.s, seq: this.seq };
  }

  close(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.flushTimer = this.sweepTimer = null;
    for (const c of [...this.clients.keys()]) this.removeClient(c);
  }
}

/** A client frame in the tracker frame layout (shard 0, the flush seq in the reserved word) from stored records. */
function encodeRecords(tickMs: number, seq: number, entries: readonly Entry[]): Uint8Array {
  const buf = new Uint8Array(trackerFrameSize(entries.length));
  const dv = new DataView(buf.buffer);
  dv.setUint32(0, TRACKER_FRAME_MAGIC, true);
  dv.setUint8(4, TRACKER_FRAME_VERSION);
  dv.setUint8(5, 0);
  dv.setUint16(6, 0, true);
  dv.setFloat64(8, tickMs, true);
  dv.setUint32(16, entries.length, true);
  dv.setUint32(20, seq, true);
  let o = TRACKER_FRAME_HEADER_BYTES;
  for (const e of entries) {
    buf.set(e.record, o);
    o += TRACKER_FRAME_RECORD_BYTES;
  }
  return buf;
}
