/**
 * The tracker role's service: one TrackerActor per active catalog object,
 * sharded over the tracker hosts by lease (ShardManager kind `tracker`), and
 * a 1 Hz tick aligned to wall-clock seconds that, for every shard this host
 * holds a locally valid lease on, propagates, QA-checks, publishes one binary
 * frame on `<ns>.tracker.state.v1.<shard>` (float32) and writes the same
 * states as a float64 frame (version 2) to the hot cache under the shard
 * (HotCache.setShardFrameBytes, one MSET per tick), so the cache holds every
 * object's latest state every tick at full precision;
 * actors/tracker/state-cache.ts reads one object back as `satellite.state`.
 *
 * Publishing rule for failing states: a state with a physical-failure QA bit
 * stays in the frame with its bits set (see protocol/messages/satellite-state.ts);
 * "good" is defined by the bits, never by presence in the frame.
 *
 * Fencing: the tick asks the ShardManager which shards are owned right now
 * (local lease validity) and encodes and publishes only those; a release,
 * including a local expiry after a pause, removes the shard's actors
 * synchronously before anything else runs. Each shard's ownership is checked
 * again right before its frame is encoded and right before it is published.
 *
 * Time slicing (issue 10): a tick is tens of milliseconds of CPU for the
 * 15k-object catalog (3 µs an object) and hundreds for 100k, and the loop
 * it runs on carries lease renewals, heartbeats and acks. Propagation,
 * encoding and publishing therefore run in slices of TICK_SLICE_MS of wall
 * time (runtime/time-slice.ts), with a turn for the loop between them; the
 * frames are the same (one per shard per tick, the same states), only the
 * moments they are computed at differ.
 */
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { errorMessage } from '../../protocol/errors.js';
import { TimeSlicer } from '../runtime/time-slice.js';
import { CatalogChangedMessage } from '../../protocol/messages/catalog.js';
import { AlertRaisedMessage } from '../../protocol/messages/satellite-state.js';
import { TRACKER_FRAME_HEADER_BYTES, TRACKER_FRAME_RECORD_BYTES } from '../../protocol/frames/tracker-state.js';
import type { Subscription } from '../../protocol/transport.js';
import type { HostContext, RoleService, RunningService } from '../host/services.js';
import type { ShardManager } from '../runtime/sharding.js';
import { shardOf } from '../runtime/sharding.js';
import type { Storage } from '../storage/index.js';
import { alerts, catalog, elementSets, ingestRuns } from '../storage/index.js';
import { DEFAULT_QA_LIMITS, QA_ELEMENTS_EXPIRED, QA_FLAG_NAMES, type QaLimits } from './qa.js';
import { qaLimitsFromConfig } from './qa-config.js';
import { loadElementSet, TrackerActor, type SwitchOver } from './tracker-actor.js';
import { QA_BITS, TrackerTable } from './tracker-table.js';

export interface TrackerServiceOptions {
  /** Tick period, ms (1000: 1 Hz). Ticks fall on multiples of it in wall-clock time. */
  tickMs?: number;
  /** Periodic reconcile with the database (ids changed since the last load), ms. */
  reconcileMs?: number;
  /** QA limits; default: DEFAULT_QA_LIMITS with the element age limits of the node's config (tracker.maxElementAgeDays*). */
  limits?: QaLimits;
  /** Element-set rows fetched per query. */
  loadChunk?: number;
}

interface PreparedFrame {
  shard: number;
  count: number;
  /** The bus frame (version 1, float32). */
  bytes: Uint8Array;
  /** The same states for the hot cache (version 2, float64: REST states are read from it). */
  cacheBytes: Uint8Array;
}

interface Prepared {
  tMs: number;
  /** States computed, and how many of them were good. */
  objects: number;
  good: number;
  frames: PreparedFrame[];
  owned: number;
  decayed: TrackerActor[];
  flagCounts: Uint32Array;
  cpuUs: number;
  wallMs: number;
}

interface CatalogIndex {
  byShard: Map<number, Array<{ id: number; name: string }>>;
  active: Set<number>;
}

interface TrackerMetrics {
  objects: Gauge;
  tickSeconds: Histogram;
  tickCpuSeconds: Histogram;
  tickLag: Gauge;
  states: Counter;
  frames: Counter;
  qaFlags: Counter<'flag'>;
  switchovers: Counter<'over_threshold'>;
  switchJumpMeters: Histogram;
  decays: Counter;
  loadRejects: Counter<'code'>;
  cacheErrors: Counter;
}

/** Wall time of one slice of a tick before the loop gets a turn. */
export const TICK_SLICE_MS = 5;
/** Slots propagated between two looks at the clock (~3 µs each: under a millisecond). */
const PROPAGATE_STEP = 256;
/** Shards loaded per batch: large enough for one query per chunk, small enough that the first ones publish soon. */
const LOAD_BATCH_SHARDS = 64;
/** Decays are summarised in one log line per this period; decays from expired elements are grouped into one alert per period too. */
const DECAY_NOTE_MS = 5000;
/** Alert id prefix of the grouped alert for decays predicted from expired elements (one per catalog load). */
export const STALE_DECAY_ALERT_PREFIX = 'stale-decays:';

function metric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

function trackerMetrics(registry: Registry): TrackerMetrics {
  const r = [registry];
  return {
    objects: metric(registry, 'sw_tracker_objects', () => new Gauge({ name: 'sw_tracker_objects', help: 'Tracker actors active on this host', registers: r })),
    tickSeconds: metric(registry, 'sw_tracker_tick_seconds', () => new Histogram({ name: 'sw_tracker_tick_seconds', help: 'Wall time of one tracker tick (propagate, QA, encode, publish, cache)', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], registers: r })),
    tickCpuSeconds: metric(registry, 'sw_tracker_tick_cpu_seconds', () => new Histogram({ name: 'sw_tracker_tick_cpu_seconds', help: 'Process CPU time (user+system) of one tracker tick', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], registers: r })),
    tickLag: metric(registry, 'sw_tracker_tick_lag_seconds', () => new Gauge({ name: 'sw_tracker_tick_lag_seconds', help: 'How late the last tick started after its wall-clock second', registers: r })),
    states: metric(registry, 'sw_tracker_states_published_total', () => new Counter({ name: 'sw_tracker_states_published_total', help: 'Object states published in tracker frames', registers: r })),
    frames: metric(registry, 'sw_tracker_frames_published_total', () => new Counter({ name: 'sw_tracker_frames_published_total', help: 'Tracker frames published', registers: r })),
    qaFlags: metric(registry, 'sw_tracker_qa_flags_total', () => new Counter({ name: 'sw_tracker_qa_flags_total', help: 'States carrying each QA flag', labelNames: ['flag'], registers: r })),
    switchovers: metric(registry, 'sw_tracker_switchovers_total', () => new Counter({ name: 'sw_tracker_switchovers_total', help: 'Element-set switch-overs, by whether the jump was above the QA threshold', labelNames: ['over_threshold'], registers: r })),
    // Metres, the base unit (Prometheus naming practices); the QA threshold (switchJumpKm, 25 km) is a bucket bound.
    switchJumpMeters: metric(registry, 'sw_tracker_switch_jump_meters', () => new Histogram({ name: 'sw_tracker_switch_jump_meters', help: 'Position jump at element-set switch-over, metres', buckets: [10, 100, 1000, 5000, 25_000, 100_000, 1_000_000, 10_000_000], registers: r })),
    decays: metric(registry, 'sw_tracker_decays_total', () => new Counter({ name: 'sw_tracker_decays_total', help: 'Objects found decayed (each object once: the first host to record its decay counts it)', registers: r })),
    loadRejects: metric(registry, 'sw_tracker_load_rejects_total', () => new Counter({ name: 'sw_tracker_load_rejects_total', help: 'Stored element sets a tracker could not load, by reason code', labelNames: ['code'], registers: r })),
    cacheErrors: metric(registry, 'sw_tracker_cache_errors_total', () => new Counter({ name: 'sw_tracker_cache_errors_total', help: 'Failed hot-cache frame writes', registers: r })),
  };
}

/** What a run of steps returned, with the wall and CPU time of the steps themselves. */
interface StepsRun<T> {
  value: T;
  wallMs: number;
  cpuUs: number;
}

/** Every step at once (tick() and prepare(): tests and the benchmark). */
function runAll<T>(steps: Generator<void, T, void>): StepsRun<T> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let r = steps.next();
  while (!r.done) r = steps.next();
  const c = process.cpuUsage(cpu0);
  return { value: r.value, wallMs: performance.now() - t0, cpuUs: c.user + c.system };
}

/**
 * The steps with a turn for the event loop whenever the slice's budget is
 * used. Wall and CPU are summed over the slices only: what ran in the turns
 * (renewals, bus, other roles inline) is not the tick's. Null when `stopped`
 * says so at a turn (the rest of the steps is dropped).
 */
async function runSliced<T>(steps: Generator<void, T, void>, slicer: TimeSlicer, stopped: () => boolean): Promise<StepsRun<T> | null> {
  let wallMs = 0;
  let cpuUs = 0;
  let cpu0 = process.cpuUsage();
  let t0 = performance.now();
  let r = steps.next();
  while (!r.done) {
    if (slicer.due()) {
      const c = process.cpuUsage(cpu0);
      cpuUs += c.user + c.system;
      wallMs += performance.now() - t0;
      await slicer.pause();
      if (stopped()) {
        steps.return(undefined as never);
        return null;
      }
      cpu0 = process.cpuUsage();
      t0 = performance.now();
    }
    r = steps.next();
  }
  const c = process.cpuUsage(cpu0);
  return { value: r.value, wallMs: wallMs + performance.now() - t0, cpuUs: cpuUs + c.user + c.system };
}

export class TrackerRuntime {
  readonly table: TrackerTable;
  readonly switchLog: SwitchOver[] = [];
  lastTickMs = 0;
  lastTickLagMs = 0;
  lastTickCpuUs = 0;
  lastTickWallMs = 0;
  ticks = 0;
  private readonly ctx: HostContext;
  private readonly opts: Required<TrackerServiceOptions>;
  private lastObjects = 0;
  private readonly m: TrackerMetrics;
  private storage!: Storage;
  private shards!: ShardManager;
  private readonly gens = new Map<number, number>();
  /** Decays since the last summary line, and the timer that writes it. */
  private readonly decayNotes: number[] = [];
  private decayNoteTimer: NodeJS.Timeout | undefined;
  /** Objects found decayed from expired elements since the last grouped-alert write, and the timer that writes it. */
  private readonly staleDecays: number[] = [];
  private staleDecayTimer: NodeJS.Timeout | undefined;
  /** States past their element age limit in the last tick, and whether that has been said once since the catalog was (re)read. */
  lastExpired = 0;
  lastGood = 0;
  private expiredNoted = false;
  /** Shards acquired and not yet loaded, with the generation they were acquired at. */
  private readonly pendingLoads = new Map<number, number>();
  private loader: Promise<void> | null = null;
  private catalogIndex: Promise<CatalogIndex> | null = null;
  /**
   * Objects this host saw decay. The catalog index may predate the decay
   * (its status write is asynchronous, and the index is cached): they are not
   * activated again on a shard reacquisition or a reconcile, so a decay is
   * processed once, until the catalog lists the object as active with a new
   * element set.
   */
  private readonly decayedIds = new Set<number>();
  private loadMark: Date | null = null;
  private timer: NodeJS.Timeout | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private subs: Subscription[] = [];
  private stopped = false;
  private reconciling: Promise<void> = Promise.resolve();
  private pendingIds = new Set<number>();
  private reconcileQueued = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  private retryTimer: NodeJS.Timeout | undefined;
  private prepared: Prepared | null = null;
  private lastPrepareWallMs = 0;

  constructor(ctx: HostContext, options: TrackerServiceOptions = {}) {
    this.ctx = ctx;
    this.opts = {
      tickMs: options.tickMs ?? 1000,
      reconcileMs: options.reconcileMs ?? 300_000,
      limits: options.limits ?? qaLimitsFromConfig(ctx.config, DEFAULT_QA_LIMITS),
      loadChunk: options.loadChunk ?? 5000,
    };
    this.table = new TrackerTable(1024, this.opts.limits);
    this.m = trackerMetrics(ctx.metrics.registry);
  }

  async start(): Promise<void> {
    this.storage = await this.ctx.storage();
    this.subs.push(
      this.ctx.transport.subscribe(this.ctx.names.subjects.catalogChanged, (msg) => {
        let ids: number[];
        try {
          ids = CatalogChangedMessage.decode(msg.data).ids;
        } catch (err) {
          this.ctx.metrics.messagesRejected.inc({ where: 'tracker.catalog-changed', code: (err as { code?: string }).code ?? 'SW_ERR_DECODE' });
          this.ctx.logger.warn({ error: errorMessage(err) }, 'bad catalog.changed message ignored');
          return;
        }
        this.requestReconcile(ids);
      }),
    );
    this.shards = await this.ctx.shardManager('tracker', {
      onAcquire: (shard) => this.acquire(shard),
      onRelease: (shard, reason) => this.release(shard, reason),
    });
    await this.shards.start();
    this.schedule();
    this.reconcileTimer = setInterval(() => this.requestReconcile(null), this.opts.reconcileMs);
    this.reconcileTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.decayNoteTimer) clearTimeout(this.decayNoteTimer);
    this.flushDecayNotes();
    if (this.staleDecayTimer) clearTimeout(this.staleDecayTimer);
    await this.flushStaleDecays().catch(() => undefined);
    if (this.timer) clearTimeout(this.timer);
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    await this.shards?.stop();
    await this.reconciling.catch(() => undefined);
    await Promise.allSettled([...this.inFlight]);
  }

  get shardManager(): ShardManager {
    return this.shards;
  }

  health(): Record<string, unknown> {
    return {
      shardsOwned: this.shards?.ownedShards().length ?? 0,
      objects: this.table.size,
      ticks: this.ticks,
      lastTickAt: this.lastTickMs ? new Date(this.lastTickMs).toISOString() : null,
      lastTickLagMs: this.lastTickLagMs,
      lastTickCpuMs: Math.round(this.lastTickCpuUs) / 1000,
      lastTickWallMs: Math.round(this.lastTickWallMs * 1000) / 1000,
      // Of the last tick's states: how many were good, and how many were not because their elements are past their orbit's age limit.
      statesGood: this.lastGood,
      statesElementsExpired: this.lastExpired,
    };
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p)).catch(() => undefined);
    return p;
  }

  // ---- catalog ------------------------------------------------------------

  /** Active objects by shard; one query per catalog load, shared by all shards acquired meanwhile. */
  private catalog(): Promise<CatalogIndex> {
    if (!this.catalogIndex) {
      const p = (async () => {
        const db = this.storage.db;
        const mark = await db.query<{ now: Date }>('SELECT now() AS now');
        const r = await db.query<{ norad_id: number; name: string }>(`SELECT norad_id, name FROM catalog_objects WHERE status = 'active' ORDER BY norad_id`);
        const shardCount = this.ctx.config.cluster.shardCount;
        const byShard = new Map<number, Array<{ id: number; name: string }>>();
        const active = new Set<number>();
        // ~1 µs a row (the shard hash): a 100k catalog is 0.1 s, in slices.
        const slicer = new TimeSlicer(TICK_SLICE_MS);
        for (const row of r.rows) {
          if (slicer.due()) await slicer.pause();
          const id = Number(row.norad_id);
          active.add(id);
          const s = shardOf(String(id), shardCount);
          let list = byShard.get(s);
          if (!list) byShard.set(s, (list = []));
          list.push({ id, name: row.name });
        }
        this.loadMark = mark.rows[0]?.now ?? new Date();
        this.expiredNoted = false;
        return { byShard, active };
      })();
      this.catalogIndex = p;
      p.catch(() => {
        if (this.catalogIndex === p) this.catalogIndex = null;
      });
    }
    return this.catalogIndex;
  }

  private async activeNow(ids: number[]): Promise<Set<number>> {
    const out = new Set<number>();
    for (let i = 0; i < ids.length; i += this.opts.loadChunk) {
      for (const id of await catalog.activeAmong(this.storage.db, ids.slice(i, i + this.opts.loadChunk))) out.add(id);
    }
    return out;
  }

  private async loadRows(ids: number[]): Promise<Map<number, elementSets.ElementSet>> {
    const out = new Map<number, elementSets.ElementSet>();
    for (let i = 0; i < ids.length; i += this.opts.loadChunk) {
      const rows = await elementSets.latestElementSets(this.storage.db, ids.slice(i, i + this.opts.loadChunk));
      for (const row of rows) out.set(row.noradId, row);
    }
    return out;
  }

  // ---- shards -------------------------------------------------------------

  /**
   * A shard acquired: its objects are loaded in the background, batched with
   * the other shards acquired meanwhile (one element-set query per
   * `loadChunk` objects, not one per shard), and each shard publishes as soon
   * as its own objects are activated. The shard manager never waits for the
   * database: a takeover of half the catalog is lease writes only, so it can
   * never hold up the round that follows (issue 11).
   */
  private acquire(shard: number): void {
    const gen = (this.gens.get(shard) ?? 0) + 1;
    this.gens.set(shard, gen);
    this.pendingLoads.set(shard, gen);
    this.startLoader();
  }

  private startLoader(): void {
    if (this.loader || this.stopped) return;
    this.loader = this.track(
      this.runLoads().catch((err) => this.ctx.logger.error({ error: errorMessage(err) }, 'shard loader failed; a reconcile loads what is missing')),
    ).finally(() => {
      this.loader = null;
      // Shards acquired as the loader was finishing.
      if (this.pendingLoads.size > 0) this.startLoader();
    });
  }

  private async runLoads(): Promise<void> {
    // Let the acquisitions of the same round join the first batch.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.pendingLoads.size > 0 && !this.stopped) {
      const batch = [...this.pendingLoads].slice(0, LOAD_BATCH_SHARDS);
      for (const [shard] of batch) this.pendingLoads.delete(shard);
      const live = (shard: number, gen: number) => this.gens.get(shard) === gen && this.shards.owns(shard) && !this.stopped;
      let idx: CatalogIndex;
      let rows: Map<number, elementSets.ElementSet>;
      try {
        idx = await this.catalog();
        const listed = batch.filter(([shard, gen]) => live(shard, gen)).flatMap(([shard]) => (idx.byShard.get(shard) ?? []).map((e) => e.id));
        // The index is the catalog as of its load; an object another host
        // found decayed since is no longer active there. Without this check a
        // takeover propagated it again, decayed it again and published a
        // stray frame of it (npm run chaos: objects back after 62-183 s).
        const active = await this.activeNow(listed);
        rows = await this.loadRows(listed.filter((id) => active.has(id)));
      } catch (err) {
        // The shards stay owned but empty; a reconcile soon loads what is missing.
        this.ctx.logger.warn({ shards: batch.length, error: errorMessage(err) }, 'could not load acquired shards from the database; retrying shortly');
        this.retryLater();
        continue;
      }
      // Loading an element set (SGP4 initialisation) is ~30-100 µs: shards are activated in slices.
      const slicer = new TimeSlicer(TICK_SLICE_MS);
      for (const [shard, gen] of batch) {
        let n = 0;
        for (const e of idx.byShard.get(shard) ?? []) {
          if (slicer.due()) await slicer.pause();
          // Released (or taken again) during a turn: release() removed what was activated so far.
          if (!live(shard, gen)) break;
          const row = rows.get(e.id);
          if (!row) continue; // an object with no element set yet: nothing to propagate
          if (this.activate(e.id, shard, e.name, row)) n++;
        }
        this.ctx.logger.debug({ shard, objects: n }, 'tracker shard activated');
      }
      this.m.objects.set(this.table.size);
    }
  }

  private activate(id: number, shard: number, name: string, row: elementSets.ElementSet): boolean {
    if (this.decayedIds.has(id)) return false;
    const loaded = loadElementSet(row, name);
    if (!loaded.ok) {
      this.m.loadRejects.inc({ code: loaded.code });
      this.ctx.logger.warn({ noradId: id, code: loaded.code, reason: loaded.reason }, 'element set not loadable; object not tracked');
      return false;
    }
    this.table.add(new TrackerActor(id, shard, loaded));
    return true;
  }

  /**
   * Activate an actor for an element set already loaded (bench and tests
   * seed actors without the database this way). Only in an owned shard.
   */
  activateLoaded(loaded: Extract<ReturnType<typeof loadElementSet>, { ok: true }>): TrackerActor | null {
    const id = loaded.es.noradId;
    const shard = shardOf(String(id), this.ctx.config.cluster.shardCount);
    if (!this.shards.owns(shard)) return null;
    const actor = new TrackerActor(id, shard, loaded);
    this.table.add(actor);
    this.m.objects.set(this.table.size);
    return actor;
  }

  private retryLater(): void {
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.catalogIndex = null;
      void this.requestReconcile(null);
    }, 5000);
    this.retryTimer.unref();
  }

  /** Synchronous on purpose: the shard's actors are gone before anything else runs. */
  private release(shard: number, reason: string): void {
    this.gens.set(shard, (this.gens.get(shard) ?? 0) + 1);
    const removed = this.table.removeShard(shard);
    this.m.objects.set(this.table.size);
    this.ctx.logger.debug({ shard, reason, objects: removed.length }, 'tracker shard released');
  }

  // ---- reconcile ----------------------------------------------------------

  /** Reload from the DB: `ids` changed (a hint), or null for "what changed since the last load". */
  requestReconcile(ids: readonly number[] | null): Promise<void> {
    if (ids) for (const id of ids) this.pendingIds.add(id);
    else this.reconcileQueued = true;
    const run = this.reconciling.then(async () => {
      if (this.stopped) return;
      const changed = this.pendingIds;
      const sinceLoad = this.reconcileQueued;
      if (changed.size === 0 && !sinceLoad) return;
      this.pendingIds = new Set();
      this.reconcileQueued = false;
      try {
        await this.reconcile(changed, sinceLoad);
      } catch (err) {
        for (const id of changed) this.pendingIds.add(id);
        this.ctx.logger.warn({ error: errorMessage(err) }, 'tracker reconcile failed; retrying shortly');
        this.retryLater();
      }
    });
    this.reconciling = run;
    return this.track(run);
  }

  private async reconcile(changed: Set<number>, sinceLoad: boolean): Promise<void> {
    const since = this.loadMark;
    if (sinceLoad && since) {
      const r = await this.storage.db.query<{ norad_id: number }>(
        `SELECT norad_id FROM element_sets WHERE received_at >= $1 UNION SELECT norad_id FROM catalog_objects WHERE updated_at >= $1`,
        [since],
      );
      for (const row of r.rows) changed.add(Number(row.norad_id));
    }
    this.catalogIndex = null;
    const idx = await this.catalog();
    const owned = new Set(this.shards.ownedShards());
    const toLoad: Array<{ id: number; shard: number; name: string }> = [];
    for (const shard of owned) {
      const present = new Map<number, TrackerActor>();
      for (const a of this.table.actorsOf(shard)) present.set(a.noradId, a);
      for (const a of [...present.values()]) {
        if (!idx.active.has(a.noradId)) {
          this.table.remove(a); // no longer active (decayed, inactive or gone)
          present.delete(a.noradId);
        }
      }
      for (const e of idx.byShard.get(shard) ?? []) if (!present.has(e.id) || changed.has(e.id)) toLoad.push({ ...e, shard });
    }
    // Changed and listed active again (new elements after a decay): track it again.
    for (const e of toLoad) if (changed.has(e.id)) this.decayedIds.delete(e.id);
    const gens = new Map([...owned].map((s) => [s, this.gens.get(s)]));
    const rows = await this.loadRows(toLoad.map((e) => e.id));
    const tMs = Date.now();
    // A catalog-wide change reloads every object (~30-100 µs each: seconds for 15k), so in slices. Each entry
    // checks its shard's generation and ownership as it comes; the id index is rebuilt after every turn.
    const slicer = new TimeSlicer(TICK_SLICE_MS);
    const index = new Map<number, Map<number, TrackerActor>>();
    const actorOf = (shard: number, id: number): TrackerActor | undefined => {
      let m = index.get(shard);
      if (!m) {
        m = new Map();
        for (const a of this.table.actorsOf(shard)) m.set(a.noradId, a);
        index.set(shard, m);
      }
      return m.get(id);
    };
    for (const e of toLoad) {
      if (slicer.due()) {
        await slicer.pause();
        index.clear();
        if (this.stopped) return;
      }
      const row = rows.get(e.id);
      if (!row || this.gens.get(e.shard) !== gens.get(e.shard) || !this.shards.owns(e.shard)) continue;
      const actor = actorOf(e.shard, e.id);
      if (!actor) {
        this.activate(e.id, e.shard, e.name, row);
        continue;
      }
      if (row.id === actor.storedId) continue;
      const loaded = loadElementSet(row, e.name);
      if (!loaded.ok) {
        this.m.loadRejects.inc({ code: loaded.code });
        continue;
      }
      if (!actor.isNewer(loaded)) continue;
      const sw = actor.switchTo(loaded, tMs, this.opts.limits);
      this.table.switched(actor);
      this.recordSwitch(sw);
    }
    this.m.objects.set(this.table.size);
  }

  private recordSwitch(sw: SwitchOver): void {
    this.switchLog.push(sw);
    if (this.switchLog.length > 1000) this.switchLog.splice(0, this.switchLog.length - 1000);
    const over = sw.flags !== 0;
    this.m.switchovers.inc({ over_threshold: over ? 'true' : 'false' });
    if (Number.isFinite(sw.jumpKm)) this.m.switchJumpMeters.observe(sw.jumpKm * 1000);
    const fields = { noradId: sw.noradId, jumpKm: sw.jumpKm, oldEpoch: new Date(sw.oldEpochMs).toISOString(), newEpoch: new Date(sw.newEpochMs).toISOString() };
    if (over) this.ctx.logger.warn(fields, 'element-set switch-over jump above threshold');
    else this.ctx.logger.info(fields, 'element-set switch-over');
  }

  // ---- tick ---------------------------------------------------------------

  /**
   * Each tick is computed ahead of its instant T (propagation to a future
   * instant is as exact as to a past one) and delivered at T: the lead is 1.5x
   * the last compute time plus 20 ms (at most 60 % of the period), so frames
   * leave at the tick instant rather than one compute time after it.
   */
  private schedule(): void {
    if (this.stopped) return;
    const p = this.opts.tickMs;
    const lead = Math.min(p * 0.6, this.lastPrepareWallMs * 1.5 + 20);
    const now = Date.now();
    const T = (Math.floor((now + lead) / p) + 1) * p;
    this.timer = setTimeout(async () => {
      try {
        await this.prepareSliced(T);
      } catch (err) {
        this.prepared = null;
        this.ctx.logger.error({ error: errorMessage(err) }, 'tracker tick failed');
        this.schedule();
        return;
      }
      if (this.stopped) return;
      const deliverNow = async (): Promise<void> => {
        try {
          await this.deliverSliced();
        } catch (err) {
          this.ctx.logger.error({ error: errorMessage(err) }, 'tracker tick delivery failed');
        }
        // The next tick is scheduled once this one is out: two ticks never interleave their slices.
        this.schedule();
      };
      const wait = T - Date.now();
      if (wait > 0) this.timer = setTimeout(() => void deliverNow(), wait);
      else void deliverNow();
    }, Math.max(0, T - lead - now));
  }

  /** One whole tick at wall-clock instant `tMs` (prepare + deliver at once). Public for tests and the benchmark. */
  tick(tMs: number): void {
    this.prepare(tMs);
    this.deliver();
  }

  /** Propagate, QA and encode every owned shard's frame for instant `tMs` in one go; nothing leaves the process yet. */
  prepare(tMs: number): void {
    const r = runAll(this.prepareSteps(tMs));
    this.prepared = { ...r.value, cpuUs: r.cpuUs, wallMs: r.wallMs };
    this.lastPrepareWallMs = r.wallMs;
  }

  /**
   * The same in slices of `slicer`'s budget with the event loop free in
   * between: lease renewals, bus traffic and heartbeats never wait for a
   * whole tick. The frames are prepare()'s.
   */
  async prepareSliced(tMs: number, slicer: TimeSlicer = new TimeSlicer(TICK_SLICE_MS)): Promise<void> {
    const r = await runSliced(this.prepareSteps(tMs), slicer, () => this.stopped);
    if (!r) return;
    this.prepared = { ...r.value, cpuUs: r.cpuUs, wallMs: r.wallMs };
    // Wall time of the work itself, not of the turns between slices (what other work ran then is not the tick's).
    this.lastPrepareWallMs = r.wallMs;
  }

  /** The prepare as steps of well under a millisecond each; a driver runs them at once or in slices. */
  private *prepareSteps(tMs: number): Generator<void, Omit<Prepared, 'cpuUs' | 'wallMs'>, void> {
    // Actors of shards no longer held go. A shard being reclaimed after a
    // pause of this host keeps its actors (owns() is false meanwhile, so none
    // of them is published): a won reclaim resumes without a reload.
    const held = new Set(this.shards.heldShards());
    for (const s of this.table.shards()) if (!held.has(s)) this.release(s, 'not-owned');
    const end = this.table.beginTick(tMs);
    for (let from = 0; from < end; from += PROPAGATE_STEP) {
      this.table.tickRange(from, from + PROPAGATE_STEP);
      yield;
    }
    const res = this.table.tickResult;
    // Ownership as of now: a shard lost while slicing is not encoded.
    const owned = this.shards.ownedShards();
    const plan = owned.filter((s) => this.table.actorsOf(s).size > 0);
    // One slab per tick: nats.js keeps published payloads by reference until
    // it flushes (longer while reconnecting), so buffers are not reused across ticks.
    const sizes = plan.map((s) => this.table.frameSize(s));
    const slab = new Uint8Array(sizes.reduce((a, b) => a + b, 0));
    const frames: PreparedFrame[] = [];
    let off = 0;
    for (let k = 0; k < plan.length; k++) {
      const s = plan[k]!;
      const at = off;
      off += sizes[k]!;
      // Lost during a turn between slices (its actors are already gone): no frame.
      if (!this.shards.owns(s) || this.table.actorsOf(s).size === 0) continue;
      const size = this.table.frameSize(s);
      // Actors activated during a turn grow the shard's index (they wait for the next tick, but count in its size): then a buffer of its own.
      const out = size <= sizes[k]! ? slab.subarray(at, at + size) : new Uint8Array(size);
      const bytes = this.table.encodeShard(s, tMs, out);
      const count = (bytes.byteLength - TRACKER_FRAME_HEADER_BYTES) / TRACKER_FRAME_RECORD_BYTES;
      if (count > 0) frames.push({ shard: s, count, bytes, cacheBytes: this.table.encodeShardF64(s, tMs) });
      yield;
    }
    return { tMs, objects: res.objects, good: res.good, frames, owned: owned.length, decayed: [...res.decayed], flagCounts: res.flagCounts };
  }

  /** Publish the prepared frames (shards still owned only), write the cache, handle decays, record metrics. */
  deliver(): void {
    const prep = this.takePrepared();
    if (prep) this.delivered(prep, runAll(this.deliverSteps(prep)));
  }

  /** deliver() in slices, the loop free in between; each frame's ownership is checked right before its send. */
  async deliverSliced(slicer: TimeSlicer = new TimeSlicer(TICK_SLICE_MS)): Promise<void> {
    const prep = this.takePrepared();
    if (!prep) return;
    const r = await runSliced(this.deliverSteps(prep), slicer, () => this.stopped);
    if (r) this.delivered(prep, r);
  }

  private takePrepared(): Prepared | null {
    const prep = this.prepared;
    this.prepared = null;
    if (prep) this.lastTickLagMs = Date.now() - prep.tMs;
    return prep;
  }

  private *deliverSteps(prep: Prepared): Generator<void, { published: number; frames: number }, void> {
    const tMs = prep.tMs;
    let published = 0;
    let frames = 0;
    const cacheFrames: Array<readonly [number, Uint8Array]> = [];
    const subjects = this.ctx.names.subjects;
    for (const f of prep.frames) {
      if (!this.shards.owns(f.shard)) continue; // fencing: checked right before the send
      this.ctx.transport.publish(subjects.trackerState(f.shard), f.bytes);
      cacheFrames.push([f.shard, f.cacheBytes]);
      published += f.count;
      frames++;
      yield;
    }

    // The same states to the hot cache, the latest per shard, in one call
    // (one MSET on Redis): every object's state every tick, as float64 (the
    // version-2 frame encoded in prepare), since REST states and anyone who
    // computes with them read it. Only the shards just published, so only
    // shards still owned (fencing) are written.
    if (cacheFrames.length > 0) {
      this.track(this.storage.cache.setShardFrameBytes(cacheFrames)).catch(() => this.m.cacheErrors.inc());
    }

    // Decayed: passivate now (after their flagged state went out), record and alert off the hot path.
    // A decay predicted from elements past their age limit is grouped (see decayed()).
    for (const a of prep.decayed) {
      if (a.slot < 0) continue;
      const expired = (this.table.flags[a.slot]! & QA_ELEMENTS_EXPIRED) !== 0;
      this.table.remove(a);
      this.decayedIds.add(a.noradId);
      this.track(this.decayed(a, tMs, expired)).catch(() => undefined);
    }
    return { published, frames };
  }

  private delivered(prep: Prepared, r: StepsRun<{ published: number; frames: number }>): void {
    const { published, frames } = r.value;
    this.ticks++;
    this.lastTickMs = prep.tMs;
    this.lastTickWallMs = prep.wallMs + r.wallMs;
    this.lastTickCpuUs = prep.cpuUs + r.cpuUs;
    this.m.tickSeconds.observe(this.lastTickWallMs / 1000);
    this.m.tickCpuSeconds.observe(this.lastTickCpuUs / 1e6);
    this.m.tickLag.set(this.lastTickLagMs / 1000);
    this.m.states.inc(published);
    this.m.frames.inc(frames);
    this.m.objects.set(this.table.size);
    for (let b = 0; b < QA_BITS; b++) {
      const c = prep.flagCounts[b]!;
      if (c > 0) this.m.qaFlags.inc({ flag: QA_FLAG_NAMES[1 << b]! }, c);
    }
    this.lastExpired = prep.flagCounts[Math.log2(QA_ELEMENTS_EXPIRED)]!;
    this.lastGood = prep.good;
    this.lastObjects = prep.objects;
    this.noteExpired();
  }

  /**
   * One line per catalog read when states are not good because their
   * elements are too old (the shipped snapshot started months later): the
   * terminal says so instead of a map that looks live.
   */
  private noteExpired(): void {
    if (this.expiredNoted || this.lastExpired === 0) return;
    this.expiredNoted = true;
    const l = this.opts.limits.maxElementAgeDays;
    this.ctx.logger.warn(
      { statesElementsExpired: this.lastExpired, objects: this.lastObjects, maxElementAgeDays: l },
      `${this.lastExpired} of ${this.lastObjects} objects on this host are propagated from elements older than their orbit's limit (LEO ${l.leo} d, MEO ${l.meo} d, GEO ${l.geo} d, HEO ${l.heo} d): published as not good and drawn dimmed; load a fresh catalog (starweather catalog load, or let the ingest reach CelesTrak)`,
    );
  }

  /**
   * One warning line per few seconds for all the decays in them, not one
   * per object: a stale catalog (the shipped snapshot started months later)
   * decays hundreds of objects in the first ticks, and a line each buried
   * everything else on the terminal. Each object still gets its alert.
   */
  private noteDecay(id: number): void {
    this.decayNotes.push(id);
    if (this.decayNoteTimer) return;
    this.decayNoteTimer = setTimeout(() => this.flushDecayNotes(), DECAY_NOTE_MS);
    this.decayNoteTimer.unref();
  }

  private flushDecayNotes(): void {
    this.decayNoteTimer = undefined;
    const ids = this.decayNotes.splice(0);
    if (ids.length === 0) return;
    const shown = ids.slice(0, 10).join(', ');
    this.ctx.logger.warn({ objects: ids.length, noradIds: ids.slice(0, 10) }, `${ids.length} object${ids.length === 1 ? '' : 's'} decayed (their element sets place them below the atmosphere): passivated, catalog status set to decayed, one decay alert each (one alert per catalog load for those from expired elements); ${shown}${ids.length > 10 ? `, and ${ids.length - 10} more` : ''}`);
  }

  private async decayed(actor: TrackerActor, tMs: number, expired: boolean): Promise<void> {
    const id = actor.noradId;
    // Fencing: only the shard's holder records the decay (idempotent anyway).
    if (!this.shards.owns(actor.shard)) return;
    const db = this.storage.db;
    if (expired) {
      // Elements past their age limit say little about whether the object is still up: the object is
      // passivated and marked decayed as any other, but the alert is one per catalog load for all of them.
      try {
        await catalog.setObjectStatus(db, id, 'decayed');
        this.staleDecays.push(id);
        this.staleDecayTimer ??= setTimeout(() => void this.track(this.flushStaleDecays()).catch(() => undefined), DECAY_NOTE_MS);
        this.staleDecayTimer.unref?.();
        this.noteDecay(id);
      } catch (err) {
        this.ctx.logger.error({ noradId: id, error: errorMessage(err) }, 'could not record a decay; the next reconcile retries');
      }
      return;
    }
    const raisedAt = new Date(tMs);
    const alertId = `decay:${id}`;
    const message = `object ${id} (${actor.es.name || 'unnamed'}) decayed: element set of ${actor.epochIso} places it below the atmosphere`;
    const payload = { epoch: actor.epochIso, source: actor.source, shard: actor.shard };
    try {
      await catalog.setObjectStatus(db, id, 'decayed');
      const isNew = await alerts.raiseAlert(db, { id: alertId, kind: 'decay', severity: 'warning', noradId: id, message, payload, raisedAt });
      if (isNew) {
        // Counted once per object, cluster-wide: the alert id is the object's.
        this.m.decays.inc();
        this.ctx.transport.publish(
          this.ctx.names.subjects.alerts,
          AlertRaisedMessage.encode({ v: 1, id: alertId, kind: 'decay', severity: 'warning', noradId: id, message, raisedAt: raisedAt.toISOString(), payload }),
        );
      }
      this.ctx.logger.debug({ noradId: id, alertId, isNew }, 'object decayed: passivated, catalog status set to decayed');
      this.noteDecay(id);
    } catch (err) {
      this.ctx.logger.error({ noradId: id, error: errorMessage(err) }, 'could not record a decay; the next reconcile retries');
    }
  }

  /**
   * Write the grouped alert for the decays from expired elements noted since
   * the last write: one alert per catalog load (the newest catalog ingest run
   * that loaded data; `unrecorded` when elements came without one), its
   * objects a set merged across writes and hosts (storage alerts.ts
   * raiseGroupAlert), so a redelivery or a takeover that finds the same
   * object again changes nothing. Published when it is new or has grown.
   */
  private async flushStaleDecays(): Promise<void> {
    this.staleDecayTimer = undefined;
    const ids = this.staleDecays.splice(0);
    if (ids.length === 0) return;
    const db = this.storage.db;
    try {
      const run = (await ingestRuns.listIngestRuns(db, { kind: 'catalog', outcomes: ['ok'], limit: 1 }))[0];
      const loadKey = run ? `run-${run.id}` : 'unrecorded';
      const l = this.opts.limits.maxElementAgeDays;
      const days = Math.min(l.leo, l.meo, l.geo, l.heo);
      const alertId = `${STALE_DECAY_ALERT_PREFIX}${loadKey}`;
      const snapshot = run?.snapshotDate ? ` (snapshot of ${run.snapshotDate})` : '';
      const messageTemplate = `{count} objects predicted decayed from elements older than ${days} days${snapshot}: too old to tell; passivated and marked decayed without an alert each. Load a fresh catalog.`;
      const raisedAt = new Date();
      const payload = { loadKey, ingestRunId: run?.id ?? null, snapshotDate: run?.snapshotDate ?? null, maxElementAgeDays: l };
      const r = await alerts.raiseGroupAlert(db, { id: alertId, kind: 'decay-stale-elements', severity: 'warning', noradIds: ids, messageTemplate, payload, raisedAt });
      // Counted once per object, cluster-wide, as per-object decays are.
      if (r.added > 0) this.m.decays.inc(r.added);
      if (r.isNew || r.added > 0) {
        this.ctx.transport.publish(
          this.ctx.names.subjects.alerts,
          AlertRaisedMessage.encode({ v: 1, id: alertId, kind: 'decay-stale-elements', severity: 'warning', noradId: null, message: r.message, raisedAt: r.raisedAt.toISOString(), payload: { ...payload, objects: r.total } }),
        );
      }
    } catch (err) {
      this.ctx.logger.error({ objects: ids.length, error: errorMessage(err) }, 'could not write the grouped alert for decays from expired elements; retrying');
      // The objects are already marked decayed and will not be found again: keep them for the next write.
      if (this.stopped) return;
      this.staleDecays.push(...ids);
      this.staleDecayTimer ??= setTimeout(() => void this.track(this.flushStaleDecays()).catch(() => undefined), DECAY_NOTE_MS);
      this.staleDecayTimer.unref?.();
    }
  }
}

export function createTrackerService(options: TrackerServiceOptions = {}): RoleService & { lastRuntime?: TrackerRuntime } {
  const service: RoleService & { lastRuntime?: TrackerRuntime } = {
    name: 'tracker',
    async start(ctx: HostContext): Promise<RunningService> {
      const rt = new TrackerRuntime(ctx, options);
      service.lastRuntime = rt;
      await rt.start();
      return {
        actors: () => rt.table.size,
        health: () => rt.health(),
        stop: () => rt.stop(),
      };
    },
  };
  return service;
}

/** The tracker role's service with default options (roles.ts). */
export const trackerService = createTrackerService();
