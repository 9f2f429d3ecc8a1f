/**
 * CatalogIngest: the cluster's one catalog ingest actor. Every ingest host
 * runs one; they compete for the lease `singleton.catalog-ingest` and only
 * the holder runs cycles. The lease is renewed every third of its length;
 * its local validity is checked before every write batch and again after
 * each (possibly long) download, so a holder paused past its lease stops
 * writing before the next holder starts. Writes are idempotent (natural keys),
 * so the one overlap fencing cannot rule out (a batch already in flight)
 * writes the same rows the new leader would.
 *
 * A cycle fetches each configured group once, in order. Any answer other
 * than 200 ends the cycle: CelesTrak firewalls clients that retry, and its
 * 403 means "not changed since your last download" (recorded as
 * not_modified). A group answered less than `minRefetchMs` ago is skipped.
 * The last good catalog is simply what the database holds: a failed cycle
 * writes nothing.
 */
import { randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../../config/load.js';
import { errorMessage } from '../../protocol/errors.js';
import { CatalogRefreshMessage, CatalogRefreshReplyMessage, type CatalogRefresh } from '../../protocol/messages/catalog.js';
import type { Names } from '../../protocol/names.js';
import type { Subscription, Transport } from '../../protocol/transport.js';
import type { LeaseManager } from '../runtime/lease.js';
import { SingletonLease } from '../runtime/singleton.js';
import type { Database } from '../storage/db.js';
import { listIngestRuns } from '../storage/ingest-runs.js';
import { SNAPSHOT_FILE, SNAPSHOT_PATH } from '../tracker/snapshot.js';
import { fetchGp, type FetchLimits } from './catalog-fetch.js';
import { ingestCatalogText, recordUnloaded, summary, type IngestDeps, type IngestReport, type LeaseFence } from './catalog-ingest.js';
import type { CatalogMetrics } from './catalog-metrics.js';
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
}

export interface CatalogIngestStats {
  /** Cycles this instance ran as leader. */
  cycles: number;
  /** GP requests this instance made. */
  requests: number;
  leaderships: number;
}

export class CatalogIngest {
  readonly stats: CatalogIngestStats = { cycles: 0, requests: 0, leaderships: 0 };
  private readonly o: CatalogIngestOptions;
  private readonly cfg: Config['catalog'];
  private readonly singleton: SingletonLease;
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private cycle: Promise<IngestReport[]> | null = null;
  private nextCycleAt: number | null = null;
  private stopping = false;
  private sub: Subscription | null = null;
  private lastReports: IngestReport[] = [];
  private readonly stopSignal = new AbortController();

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
        this.nextCycleAt = await this.firstCycleAt();
        return { nextCycleAt: new Date(this.nextCycleAt).toISOString() };
      },
      onLose: () => {
        this.nextCycleAt = null;
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
      cycleRunning: this.cycle !== null,
      ...this.stats,
      lastRuns: this.lastReports.map(summary),
    };
  }

  /**
   * Stop: no new cycle, the running one ends at its next batch boundary, then
   * the lease is released so another host takes over at once. `release: false`
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

  private jitter(): number {
    return this.cfg.jitterMs > 0 ? randomInt(0, this.cfg.jitterMs + 1) : 0;
  }

  /** A new leader continues the cluster's schedule: the next cycle is due one interval after the last one started. */
  private async firstCycleAt(): Promise<number> {
    const now = Date.now();
    // No catalog loaded yet (first start, or the first load was cut short): at once.
    if (await noCatalogYet(this.o.db).catch(() => true)) return now;
    const last = (await listIngestRuns(this.o.db, { kind: 'catalog', outcomes: ['ok', 'not_modified', 'http_error', 'failed'], limit: 1 }).catch(() => []))[0];
    if (!last) return now;
    return Math.max(now, last.startedAt.getTime() + this.cfg.intervalMs + this.jitter());
  }

  private fence(): LeaseFence {
    const token = this.singleton.lease?.fenceToken ?? 0;
    return { token, valid: () => this.isLeader };
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
    };
  }

  /** Run one cycle now (leader only; a cycle already running is joined, not doubled). */
  runCycle(groups?: readonly string[]): Promise<IngestReport[]> {
    if (this.cycle) return this.cycle;
    if (!this.isLeader) return Promise.resolve([]);
    const startedAt = Date.now();
    this.cycle = this.cycleBody(groups ?? this.cfg.groups).finally(() => {
      this.cycle = null;
      // Even when leadership wavered during the cycle: the next one is an interval away, never at once.
      this.nextCycleAt = startedAt + this.cfg.intervalMs + this.jitter();
    });
    return this.cycle;
  }

  private async cycleBody(groups: readonly string[]): Promise<IngestReport[]> {
    this.stats.cycles++;
    const reports = await runCatalogCycle({
      config: this.o.config,
      deps: () => this.deps(),
      groups,
      stillLeader: () => this.isLeader,
      onRequest: () => this.stats.requests++,
      snapshotPath: this.o.snapshotPath ?? SNAPSHOT_PATH,
      signal: this.stopSignal.signal,
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
  /** Checked before each group and after each download. */
  stillLeader: () => boolean;
  onRequest?: () => void;
  snapshotPath: string;
  /** Aborts an in-flight download (the actor stopping). */
  signal?: AbortSignal;
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
    const fallbackCandidate = i === 0 && snapshotFallbackEnabled(o.config) && (await noCatalogYet(deps.db));
    // CelesTrak: no more than one download of the same data per 2 h. Runs
    // without an HTTP status (network failures) never reached them.
    if (cfg.minRefetchMs > 0) {
      const last = (await listIngestRuns(deps.db, { kind: 'catalog', group, outcomes: ['ok', 'not_modified', 'http_error', 'failed'], limit: 20 }))
        .find((r) => r.httpStatus !== null && !r.source.startsWith('snapshot:') && r.source.startsWith('http'));
      if (last && startedAt.getTime() - last.startedAt.getTime() < cfg.minRefetchMs) {
        reports.push(
          await recordUnloaded(deps, {
            group,
            source: cfg.url,
            format,
            outcome: 'skipped',
            httpStatus: null,
            message: `last download ${Math.round((startedAt.getTime() - last.startedAt.getTime()) / 1000)} s ago, under the ${Math.round(cfg.minRefetchMs / 1000)} s minimum`,
            startedAt,
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
      reports.push(await recordUnloaded(deps, { group, source: res.url, format, outcome: 'failed', httpStatus: res.status, message: 'lease lost during the download; not written', startedAt }));
      break;
    }
    if (res.kind === 'ok') {
      const report = await ingestCatalogText(deps, { text: res.text, format, source: res.url, group, full: true, httpStatus: 200, bytes: res.bytes, startedAt });
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
