/**
 * Dependency probe (issue 11, "health tells the truth"): whether the
 * database, the hot cache and the bus are there, checked cheaply and on a
 * schedule so /health can say so without waiting on them.
 *
 * - database: `SELECT 1`; an error (refused, closed...) marks it down at
 *   once, and so does a probe that has not answered for `dbTimeoutMs`
 *   (5 s: an embedded PGlite busy with a long transaction answers late but
 *   is not down); a storage that cannot even be opened counts as down. At
 *   most one probe is in flight: a hung server does not pile them up.
 * - cache: a Redis cache's own availability (its connection is ready); a
 *   memory cache is not a dependency and is not listed.
 * - transport: the bus connection's last reported state (onStatus); the
 *   embedded bus is in-process and is not listed.
 *
 * Each dependency keeps `since` (when it last changed state), so a reason
 * reads "database (pg) unavailable for 12 s: connect ECONNREFUSED".
 */
import { errorMessage } from '../../protocol/errors.js';
import type { Transport } from '../../protocol/transport.js';
import type { HotCache } from '../storage/cache.js';
import type { Database } from '../storage/db.js';

export interface DependencyStatus {
  name: 'database' | 'cache' | 'transport';
  /** The backend: pg, pglite, redis, nats. */
  kind: string;
  ok: boolean;
  /** Why it is down (null when ok). */
  detail: string | null;
  /** When it last changed between up and down (ms since the epoch). */
  since: number;
  checkedAt: number;
  /** The probe's round trip (database), ms. */
  latencyMs: number | null;
}

export interface DependencyProbeOptions {
  /** The host's storage (opened on first use); its database and cache are probed. */
  storage(): Promise<{ db: Database; cache: HotCache }>;
  /** The bus; its connection state is followed through onStatus. */
  transport?: Pick<Transport, 'kind' | 'onStatus'>;
  /** Probe period; default 2000 ms. */
  intervalMs?: number;
  /** A probe unanswered this long marks the database down; default 5000 ms. */
  dbTimeoutMs?: number;
}

export class DependencyProbe {
  private readonly deps = new Map<DependencyStatus['name'], DependencyStatus>();
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private unsubscribe: (() => void) | null = null;
  private lastCache: HotCache | null = null;
  /** When the probe in flight started, and what it is waiting on. */
  private startedAt = 0;
  private step = '';
  private readonly intervalMs: number;
  private readonly dbTimeoutMs: number;

  constructor(private readonly o: DependencyProbeOptions) {
    this.intervalMs = o.intervalMs ?? 2000;
    this.dbTimeoutMs = o.dbTimeoutMs ?? 5000;
    const t = o.transport;
    if (t && t.kind !== 'embedded') {
      this.set('transport', t.kind, true, null, null);
      const sub = t.onStatus((s) => {
        if (s.type === 'disconnected' || s.type === 'reconnecting') this.set('transport', t.kind, false, `${t.kind} ${s.type}`, null);
        else if (s.type === 'connected' || s.type === 'reconnected') this.set('transport', t.kind, true, null, null);
      });
      this.unsubscribe = () => sub.unsubscribe();
    }
  }

  /** Probe now and then every intervalMs (the timer does not hold the process open). */
  start(): this {
    if (this.timer) return this;
    void this.probe();
    this.timer = setInterval(() => void this.probe(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  /** One probe of the database and the cache; concurrent calls share it (and note a probe that has not answered for dbTimeoutMs). */
  probe(): Promise<void> {
    if (this.inFlight) {
      const waited = Date.now() - this.startedAt;
      if (waited >= this.dbTimeoutMs) this.set('database', this.deps.get('database')?.kind ?? 'unknown', false, `${this.step} has not answered for ${Math.round(waited / 1000)} s`, null);
      return this.inFlight;
    }
    this.startedAt = Date.now();
    this.inFlight = this.run().finally(() => (this.inFlight = null));
    return this.inFlight;
  }

  private async run(): Promise<void> {
    let storage;
    this.step = 'opening storage';
    try {
      storage = await this.o.storage();
    } catch (err) {
      this.set('database', this.deps.get('database')?.kind ?? 'unknown', false, errorMessage(err).replace(/\s*\[sql:.*$/, '').slice(0, 200), null);
      return;
    }
    const { db, cache } = storage;
    this.lastCache = cache;
    this.noteCache();
    const started = performance.now();
    this.step = 'SELECT 1';
    try {
      await db.query('SELECT 1');
      this.set('database', db.backend, true, null, Math.round(performance.now() - started));
    } catch (err) {
      this.set('database', db.backend, false, errorMessage(err).replace(/\s*\[sql:.*$/, '').slice(0, 200), null);
    }
  }

  private noteCache(): void {
    const cache = this.lastCache;
    if (cache?.kind !== 'redis') return;
    const up = cache.stats().available;
    this.set('cache', 'redis', up, up ? null : 'redis not connected (writes dropped, reads fall back)', null);
  }

  private set(name: DependencyStatus['name'], kind: string, ok: boolean, detail: string | null, latencyMs: number | null): void {
    const now = Date.now();
    const prev = this.deps.get(name);
    this.deps.set(name, { name, kind, ok, detail, since: prev && prev.ok === ok ? prev.since : now, checkedAt: now, latencyMs });
  }

  /** The cache of the storage last probed (null until storage opened): for storage-metrics.ts. */
  cache(): HotCache | null {
    return this.lastCache;
  }

  /** The latest state of each dependency probed (the cache's read live: it is a field, not a round trip). */
  current(): DependencyStatus[] {
    this.noteCache();
    return [...this.deps.values()].map((d) => ({ ...d }));
  }

  /** One reason per dependency that is down, for /health `problems`. */
  problems(now = Date.now()): string[] {
    this.noteCache();
    return [...this.deps.values()]
      .filter((d) => !d.ok)
      .map((d) => `${d.name} (${d.kind}) unavailable for ${Math.max(0, Math.round((now - d.since) / 1000))} s: ${d.detail ?? 'down'}`);
  }
}
