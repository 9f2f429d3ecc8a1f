/**
 * CatalogIngest: the cluster's one catalog ingest actor. Every ingest host
 * runs one; they compete for the lease `singleton.catalog-ingest` and only
 * the holder runs cycles. The lease is renewed every third of its length.
 *
 * Busy is not dead: a load carries the lease's fencing token and is checked
 * against the lease store right before it commits (one transaction per
 * load), never abandoned halfway because the local lease deadline passed
 * while the loop was busy parsing. A load that lost its lease by then, or
 * failed on a database error, rolls back and is retried within minutes
 * (catalog.retryMs, doubling up to catalog.retryMaxMs, with jitter), and a
 * node with no catalog at all never waits a whole cycle.
 *
 * A cycle fetches each configured group once, in order. Any answer other
 * than 200 ends the cycle: CelesTrak firewalls clients that retry, and its
 * 403 means "not modified since your last download" (recorded as
 * not_modified). A group answered less than `minRefetchMs` ago is skipped;
 * retries obey this too. A download whose load was rolled back for our own
 * reasons is kept in memory by the leader and re-ingested by the retry
 * without a new request; a leader that does not have the body (it changed
 * hands) waits for the refetch rule. The last good catalog is simply what
 * the database holds: a failed load writes nothing.
 */
import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Config } from '../../config/load.js';
import { FencedError, errorMessage } from '../../protocol/errors.js';
import { CatalogRefreshMessage, CatalogRefreshReplyMessage, type CatalogRefresh } from '../../protocol/messages/catalog.js';
import type { Names } from '../../protocol/names.js';
import type { Subscription, Transport } from '../../protocol/transport.js';
import type { LeaseManager } from '../runtime/lease.js';
import { SingletonLease } from '../runtime/singleton.js';
import type { Database } from '../storage/db.js';
import { listIngestRuns, type IngestRun } from '../storage/ingest-runs.js';
import { SNAPSHOT_FILE, SNAPSHOT_PATH } from '../tracker/snapshot.js';
import { fetchGp, type FetchLimits } from './catalog-fetch.js';
import { ABORTED_PREFIX, ingestCatalogText, recordUnloaded, summary, type IngestDeps, type IngestReport, type LeaseFence } from './catalog-ingest.js';
import type { CatalogMetrics } from './catalog-metrics.js';
import type { SlicePacing } from './catalog-slice.js';
import { readFile } from 'node:fs/promises';

export const CATALOG_LEASE_KEY = 'singleton.catalog-ingest';

/** The snapshot's date, from its file name (celestrak-active-YYYY-MM-DD.tle). */
export function snapshotDateOf(file: string): string | null {
  return /(\d{4}-\d{2}-\d{2})/.exec(file)?.[1] ?? null;
}

export interface CatalogIngestOptions {
  config: Config;
  db: Database;
  transport: Transport;
  names: Names;
  leases: LeaseManager;
  logger: Logger;
  metrics?: CatalogMetrics | null;
  hostId: string;
  /** Count a malformed refresh request (the host's sw_messages_rejected_total). */
  onMalformed?: (err: unknown) => void;
  /** The shipped snapshot (tests point this elsewhere). */
  snapshotPath?: string;
  /** Slice length and per-slice hook of every load (tests: a slow parse). */
  pacing?: SlicePacing;
}

export interface CatalogIngestStats {
  /** Cycles this instance ran as leader. */
  cycles: number;
  /** GP requests this instance made. */
  requests: number;
  leaderships: number;
  /** Cycles scheduled as a retry rather than a whole interval later. */
  retries: number;
}

/** A download whose load did not complete for our reasons, kept to load again without a new request. */
export interface KeptBody {
  text: string;
  bytes: number;
  url: string;
  format: Config['catalog']['format'];
  downloadedAt: number;
}

/** A stored run that did not complete for a reason on our side (ABORTED_PREFIX): its input may be loaded again. */
export function isAbortedRun(run: Pick<IngestRun, 'outcome' | 'message'>): boolean {
  return run.outcome === 'failed' && run.message.startsWith(ABORTED_PREFIX);
}

/** Retry delay after `failures` consecutive failed cycles: base doubling to the cap, with "equal jitter" (half fixed, half random). */
export function retryDelayMs(cfg: Pick<Config['catalog'], 'retryMs' | 'retryMaxMs'>, failures: number): number {
  const d = Math.min(cfg.retryMaxMs, cfg.retryMs * 2 ** Math.min(30, Math.max(0, failures - 1)));
  const half = Math.floor(d / 2);
  return d - half + randomInt(0, half + 1);
}

export class CatalogIngest {
  readonly stats: CatalogIngestStats = { cycles: 0, requests: 0, leaderships: 0, retries: 0 };
  private readonly o: CatalogIngestOptions;
  private readonly cfg: Config['catalog'];
  private readonly singleton: SingletonLease;
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private cycle: Promise<IngestReport[]> | null = null;
  private nextCycleAt: number | null = null;
  /** Bumped on every change of nextCycleAt, so a schedule computed from an older read does not overwrite a newer one. */
  private scheduleVersion = 0;
  private stopping = false;
  private sub: Subscription | null = null;
  private lastReports: IngestReport[] = [];
  private readonly stopSignal = new AbortController();
  /** Consecutive cycles that ended needing a retry. */
  private failures = 0;
  private readonly kept = new Map<string, KeptBody>();

  constructor(options: CatalogIngestOptions) {
    this.o = options;
    this.cfg = options.config.catalog;
    this.singleton = new SingletonLease({
      leases: options.leases,
      key: CATALOG_LEASE_KEY,
      logger: options.logger,
      name: 'catalog ingest',
      onLead: async () => {
        this.stats.leaderships++;
        this.failures = 0;
        const version = this.scheduleVersion;
        const at = await this.firstCycleAt();
        // A cycle of the previous tenure still running, or one that ended while we read the
        // database, decides the schedule from what it saw: its outcome is newer than our read.
        if (this.scheduleVersion === version && this.cycle === null) this.setNextCycleAt(at);
        return { nextCycleAt: this.nextCycleAt === null ? null : new Date(this.nextCycleAt).toISOString() };
      },
      onLose: () => {
        this.setNextCycleAt(null);
        // Another leader may load newer data meanwhile: a body kept from our tenure must not be loaded over it later.
        this.kept.clear();
      },
    });
  }

  get isLeader(): boolean {
    return this.singleton.isLeader;
  }

  start(): void {
    this.sub = this.o.transport.subscribe(this.o.names.subjects.catalogRefresh, (msg) => this.onRefresh(msg.data));
    this.schedule(0);
  }

  health(): Record<string, unknown> {
    return {
      leader: this.isLeader,
      nextCycleAt: this.isLeader && this.nextCycleAt ? new Date(this.nextCycleAt).toISOString() : null,
      retryFailures: this.failures,
      cycleRunning: this.cycle !== null,
      ...this.stats,
      lastRuns: this.lastReports.map(summary),
    };
  }

  /**
   * Stop: no new cycle, the running load ends at its next slice boundary and
   * rolls back (the next leader loads it again), then the lease is released
   * so another host takes over at once. `release: false`
   * leaves the lease to expire (what a crash looks like; tests use it).
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    this.stopping = true;
    this.singleton.stop();
    this.stopSignal.abort();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.sub?.unsubscribe();
    await this.ticking?.catch(() => undefined);
    await this.cycle?.catch(() => undefined);
    await this.singleton.release(options);
  }

  private schedule(delayMs: number): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      this.ticking = this.tick().finally(() => {
        this.ticking = null;
        this.schedule(Math.max(100, Math.floor(this.o.leases.leaseMs / 3)));
      });
    }, delayMs);
  }

  private async tick(): Promise<void> {
    if ((await this.singleton.tick()) !== 'leader') return;
    if (this.isLeader && this.cycle === null && this.nextCycleAt !== null && Date.now() >= this.nextCycleAt) {
      void this.runCycle().catch((err) => this.o.logger.error({ err: errorMessage(err) }, 'catalog ingest cycle failed'));
    }
  }

  private setNextCycleAt(at: number | null): void {
    this.nextCycleAt = at;
    this.scheduleVersion++;
  }

  private jitter(): number {
    return this.cfg.jitterMs > 0 ? randomInt(0, this.cfg.jitterMs + 1) : 0;
  }

  /**
   * A new leader continues the cluster's schedule: the next cycle is due one
   * interval after the last one started, unless there is no catalog yet (at
   * once) or the last load was rolled back for our reasons (a retry soon).
   */
  private async firstCycleAt(): Promise<number> {
    const now = Date.now();
    // No catalog loaded yet (first start, or the first load was cut short): at once.
    if (await noCatalogYet(this.o.db).catch(() => true)) return now;
    const last = (await listIngestRuns(this.o.db, { kind: 'catalog', outcomes: ['ok', 'not_modified', 'http_error', 'failed'], limit: 1 }).catch(() => []))[0];
    if (!last) return now;
    if (isAbortedRun(last)) {
      this.failures = 1;
      this.stats.retries++;
      this.o.metrics?.retries.inc();
      return Math.min(now + retryDelayMs(this.cfg, 1), last.startedAt.getTime() + this.cfg.intervalMs);
    }
    return Math.max(now, last.startedAt.getTime() + this.cfg.intervalMs + this.jitter());
  }

  /**
   * When the next cycle is due after one that started at `startedAt`: a
   * whole interval later, or a retry with backoff when a load did not
   * complete for our reasons (or the cycle threw: `reports` null), or when
   * there is still no catalog at all. A retry is never later than the
   * regular cycle, and never earlier than the refetch rule lets it fetch
   * what it needs.
   */
  private async nextAfter(reports: readonly IngestReport[] | null, startedAt: number): Promise<number> {
    const regular = startedAt + this.cfg.intervalMs + this.jitter();
    const retry = reports === null ? [] : reports.filter((r) => r.retryable);
    const noCatalog = reports !== null && retry.length === 0 ? await noCatalogYet(this.o.db).catch(() => true) : false;
    if (reports !== null && retry.length === 0 && !noCatalog) {
      this.failures = 0;
      return regular;
    }
    this.failures++;
    let at = Date.now() + retryDelayMs(this.cfg, this.failures);
    // Only waits on the refetch rule left: nothing can change before the earliest of them.
    const waits = (retry.length > 0 ? retry : (reports ?? []).filter((r) => r.outcome === 'skipped')).map((r) => r.notBefore?.getTime() ?? null);
    if (waits.length > 0 && waits.every((w) => w !== null)) at = Math.max(at, Math.min(...(waits as number[])));
    at = Math.min(at, regular);
    this.stats.retries++;
    this.o.metrics?.retries.inc();
    const why = reports === null ? 'the cycle failed' : retry.length > 0 ? retry.map((r) => `${r.group}: ${r.message}`).join('; ') : 'no catalog yet';
    this.o.logger.warn({ failures: this.failures, retryAt: new Date(at).toISOString(), why: why.slice(0, 500) }, 'catalog ingest: retry scheduled');
    return at;
  }

  /**
   * Fencing at commit: read the lease record from the store and go on only
   * if it is still ours (same holder, same tenure by acquiredAt, at our
   * token or a later renewal of it) and not run out. A record that is ours
   * but stale (renewals late) gets a few renewal periods to be renewed
   * before we give up: a taker could step in at any moment.
   */
  private async confirmLease(token: number, acquiredAt: number | null): Promise<void> {
    const leases = this.o.leases;
    if (acquiredAt === null) throw new FencedError('catalog ingest holds no lease; not committing');
    for (let attempt = 0; ; attempt++) {
      const rec = await leases.inspect(CATALOG_LEASE_KEY);
      if (rec === null) throw new FencedError('catalog ingest lease record is gone; not committing');
      if (rec.holder !== leases.holder || rec.acquiredAt !== acquiredAt || rec.revision < token) {
        const who = rec.holder === leases.holder ? 'a later tenure of ours' : `held by ${rec.holder}`;
        throw new FencedError(`catalog ingest lease is ${who} (revision ${rec.revision}); the load held revision ${token}; not committing`);
      }
      if (rec.expiresAt - leases.safetyMs > Date.now()) return;
      if (attempt >= 3) throw new FencedError(`catalog ingest lease (revision ${rec.revision}) ran out in the store and was not renewed; not committing`);
      await sleep(Math.max(50, Math.floor(leases.leaseMs / 3)));
    }
  }

  private fence(): LeaseFence {
    const lease = this.singleton.lease;
    const token = lease?.fenceToken ?? 0;
    const acquiredAt = lease?.acquiredAt ?? null;
    return { token, confirm: () => this.confirmLease(token, acquiredAt) };
  }

  private deps(): IngestDeps {
    return {
      db: this.o.db,
      transport: this.o.transport,
      names: this.o.names,
      metrics: this.o.metrics ?? null,
      logger: this.o.logger,
      hostId: this.o.hostId,
      fence: this.fence(),
      signal: this.stopSignal.signal,
      ...(this.o.pacing ? { pacing: this.o.pacing } : {}),
    };
  }

  /** Run one cycle now (leader only; a cycle already running is joined, not doubled). */
  runCycle(groups?: readonly string[]): Promise<IngestReport[]> {
    if (this.cycle) return this.cycle;
    if (!this.isLeader) return Promise.resolve([]);
    const startedAt = Date.now();
    this.cycle = (async () => {
      let reports: IngestReport[] | null = null;
      try {
        reports = await this.cycleBody(groups ?? this.cfg.groups);
        return reports;
      } finally {
        // The outcome sets the schedule even when leadership wavered meanwhile (onLead leaves it be: its read is older).
        // Stopping: nothing to schedule; a load cut short is stored as aborted, and the next leader retries it soon.
        if (!this.stopSignal.signal.aborted) this.setNextCycleAt(await this.nextAfter(reports, startedAt).catch(() => startedAt + this.cfg.intervalMs));
        this.cycle = null;
      }
    })();
    return this.cycle;
  }

  private async cycleBody(groups: readonly string[]): Promise<IngestReport[]> {
    this.stats.cycles++;
    const reports = await runCatalogCycle({
      config: this.o.config,
      deps: () => this.deps(),
      groups,
      // Known lost (taken over, released, stopping): start nothing new. A
      // lease that only ran out locally while we were busy is not "lost":
      // the commit check asks the store.
      stillLeader: () => !this.stopSignal.signal.aborted && this.singleton.lease !== null,
      onRequest: () => this.stats.requests++,
      snapshotPath: this.o.snapshotPath ?? SNAPSHOT_PATH,
      signal: this.stopSignal.signal,
      kept: this.kept,
    });
    this.lastReports = reports;
    return reports;
  }

  private onRefresh(data: Uint8Array): void {
    let req: CatalogRefresh;
    try {
      req = CatalogRefreshMessage.decode(data);
    } catch (err) {
      this.o.onMalformed?.(err);
      this.o.logger.warn({ err: errorMessage(err) }, 'catalog ingest: malformed refresh request');
      return;
    }
    if (!this.isLeader) return;
    this.o.logger.info({ requestId: req.requestId, groups: req.groups ?? this.cfg.groups }, 'catalog ingest: refresh requested');
    void this.runCycle(req.groups).then(
      (reports) => {
        this.o.transport.publish(
          this.o.names.subjects.catalogRefreshReply(req.requestId),
          CatalogRefreshReplyMessage.encode({ v: 1, requestId: req.requestId, hostId: this.o.hostId.slice(0, 200), at: Date.now(), runs: reports.slice(0, 100).map(summary) }),
        );
      },
      (err) => this.o.logger.error({ err: errorMessage(err) }, 'catalog ingest: requested cycle failed'),
    );
  }
}

export interface CycleOptions {
  config: Config;
  deps: () => IngestDeps;
  groups: readonly string[];
  /** Checked before each group and after each download: false when the lease is known lost (start nothing new). */
  stillLeader: () => boolean;
  onRequest?: () => void;
  snapshotPath: string;
  /** Aborts an in-flight download (the actor stopping). */
  signal?: AbortSignal;
  /**
   * Downloads whose load was rolled back for our reasons, by group: the
   * cycle loads such a body again instead of asking CelesTrak, keeps a body
   * whose load is rolled back, and drops it once loaded.
   */
  kept?: Map<string, KeptBody>;
}

/** How long a kept download may stand in for a new one: the refetch interval, and at least the longest retry delay. */
function keptForMs(cfg: Config['catalog']): number {
  return Math.max(cfg.minRefetchMs, cfg.retryMaxMs);
}

function embedded(cfg: Config): boolean {
  return cfg.nats.url === '';
}

export function snapshotFallbackEnabled(cfg: Config): boolean {
  return cfg.catalog.snapshotFallback === 'true' || (cfg.catalog.snapshotFallback === 'auto' && embedded(cfg));
}

/**
 * "No catalog yet": no load has ever completed. Counting rows instead would
 * leave a node with half a snapshot (a load cut short by a stop) without
 * its fallback until the next day.
 */
async function noCatalogYet(db: Database): Promise<boolean> {
  const r = await db.query<{ one: number }>(`SELECT 1 AS one FROM ingest_runs WHERE kind = 'catalog' AND outcome = 'ok' LIMIT 1`);
  return r.rows.length === 0;
}

/** Load the shipped snapshot as the `active` group, recording its source and date. */
export async function loadSnapshotCatalog(deps: IngestDeps, path = SNAPSHOT_PATH): Promise<IngestReport> {
  const file = path.split(/[\\/]/).pop() ?? SNAPSHOT_FILE;
  const startedAt = new Date();
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return recordUnloaded(deps, { group: 'active', source: `snapshot:${file}`, format: '3le', outcome: 'failed', httpStatus: null, message: `cannot read the snapshot: ${errorMessage(err)}`, startedAt });
  }
  return ingestCatalogText(deps, { text, format: '3le', source: `snapshot:${file}`, group: 'active', full: true, snapshotDate: snapshotDateOf(file), startedAt });
}

/**
 * One cycle over `groups` (also what `starweather catalog refresh` runs
 * in-process without a cluster). Sequential, one request per group, stops
 * at the first answer that is not 200.
 */
export async function runCatalogCycle(o: CycleOptions): Promise<IngestReport[]> {
  const cfg = o.config.catalog;
  const limits: FetchLimits = { timeoutMs: cfg.timeoutMs, maxBytes: cfg.maxBytes, userAgent: o.config.http.userAgent, ...(o.signal ? { signal: o.signal } : {}) };
  const reports: IngestReport[] = [];
  const format = cfg.format;
  for (const [i, group] of o.groups.entries()) {
    if (!o.stillLeader()) break;
    const deps = o.deps();
    const startedAt = new Date();
    const kept = o.kept?.get(group);
    if (kept && (kept.format !== format || startedAt.getTime() - kept.downloadedAt >= keptForMs(cfg))) o.kept?.delete(group);
    else if (kept) {
      // A retry of a load that was rolled back for our reasons: the same bytes again, no new request.
      o.kept?.delete(group);
      const report = await ingestCatalogText(deps, { text: kept.text, format, source: kept.url, group, full: true, httpStatus: null, bytes: kept.bytes, startedAt });
      if (report.retryable && o.stillLeader()) o.kept?.set(group, kept);
      reports.push(report);
      if (report.outcome === 'ok') continue;
      break;
    }
    const fallbackCandidate = i === 0 && snapshotFallbackEnabled(o.config) && (await noCatalogYet(deps.db));
    // CelesTrak: no more than one download of the same data per 2 h. Runs
    // without an HTTP status (network failures) never reached them.
    if (cfg.minRefetchMs > 0) {
      const last = (await listIngestRuns(deps.db, { kind: 'catalog', group, outcomes: ['ok', 'not_modified', 'http_error', 'failed'], limit: 20 }))
        .find((r) => r.httpStatus !== null && !r.source.startsWith('snapshot:') && r.source.startsWith('http'));
      if (last && startedAt.getTime() - last.startedAt.getTime() < cfg.minRefetchMs) {
        const notBefore = new Date(last.startedAt.getTime() + cfg.minRefetchMs);
        // The last download was never loaded (rolled back for our reasons, its body not kept here): load it when the rule allows.
        const lost = isAbortedRun(last);
        reports.push(
          await recordUnloaded(deps, {
            group,
            source: cfg.url,
            format,
            outcome: 'skipped',
            httpStatus: null,
            message:
              `last download ${Math.round((startedAt.getTime() - last.startedAt.getTime()) / 1000)} s ago, under the ${Math.round(cfg.minRefetchMs / 1000)} s minimum` +
              (lost ? `; that download was not loaded, fetched again from ${notBefore.toISOString()}` : ''),
            startedAt,
            retryable: lost,
            notBefore,
          }),
        );
        // A node restarted offline after an interrupted first load still gets its catalog.
        if (fallbackCandidate && o.stillLeader()) {
          reports.push(await loadSnapshotCatalog(o.deps(), o.snapshotPath));
          break;
        }
        continue;
      }
    }
    // With nothing to show yet, an offline embedded node should not wait minutes for the fallback.
    const res = await fetchGp(cfg.url, group, format, fallbackCandidate ? { ...limits, timeoutMs: Math.min(limits.timeoutMs, 20_000) } : limits);
    o.onRequest?.();
    deps.metrics?.requests.inc({ status: res.status === null ? 'error' : String(res.status) });
    if (!o.stillLeader()) {
      // Known lost (taken over or stopping): whoever leads next loads the group, after the refetch rule.
      reports.push(
        await recordUnloaded(deps, { group, source: res.url, format, outcome: 'failed', httpStatus: res.status, message: `${ABORTED_PREFIX}lease lost during the download; not written`, startedAt, retryable: true }),
      );
      break;
    }
    if (res.kind === 'ok') {
      const report = await ingestCatalogText(deps, { text: res.text, format, source: res.url, group, full: true, httpStatus: 200, bytes: res.bytes, startedAt });
      if (report.retryable && o.stillLeader()) o.kept?.set(group, { text: res.text, bytes: res.bytes, url: res.url, format, downloadedAt: startedAt.getTime() });
      reports.push(report);
      // A 200 with nothing usable in it (an error page, a cut body) says the source is in trouble: stop too.
      if (report.outcome === 'ok') continue;
      break;
    }
    if (res.kind === 'not_modified') {
      reports.push(await recordUnloaded(deps, { group, source: res.url, format, outcome: 'not_modified', httpStatus: 403, message: 'CelesTrak 403: not modified since the last download; keeping the catalog', startedAt }));
    } else {
      reports.push(
        await recordUnloaded(deps, {
          group,
          source: res.url,
          format,
          outcome: res.kind,
          httpStatus: res.status,
          message: `${res.reason}; cycle stopped, no retry until the next one (CelesTrak usage policy); keeping the last good catalog`,
          startedAt,
        }),
      );
      if (fallbackCandidate && o.stillLeader()) reports.push(await loadSnapshotCatalog(o.deps(), o.snapshotPath));
    }
    break;
  }
  return reports;
}
