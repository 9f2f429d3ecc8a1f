/**
 * The one write path of a catalog load, whatever its source (a GP download,
 * a file or URL given to `catalog load`, the shipped snapshot): validate with
 * the pure parsers, write objects and element sets in one transaction, store
 * the ingest report, then tell the trackers which ids changed. Idempotent: a
 * replayed load writes nothing and publishes nothing.
 *
 * Busy is not dead: the load shares its event loop with lease renewals,
 * heartbeats and HTTP answers, so no step of it runs long. Parsing and
 * validation (SGP4 initialisation included) run in time slices
 * (catalog-slice.ts); the write is many small statements, each sized from
 * the time the previous one took, with a loop turn between them (PGlite runs
 * each statement as one synchronous WASM call).
 *
 * Fencing at commit: a load under the catalog lease carries the lease's
 * fencing token and asks the lease store, right before COMMIT, whether the
 * lease is still ours. If not, the transaction rolls back: an aborted load
 * writes no catalog row at all. It is never abandoned halfway because the
 * local lease deadline passed while the loop was busy.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { FencedError, StarWeatherError, errorMessage } from '../../protocol/errors.js';
import { CATALOG_CHANGED_MAX_IDS, CatalogChangedMessage, type IngestRunSummary } from '../../protocol/messages/catalog.js';
import type { Names } from '../../protocol/names.js';
import type { Transport } from '../../protocol/transport.js';
import type { Database } from '../storage/db.js';
import { reactivateObjects, upsertObjects, type CatalogObjectInput } from '../storage/catalog.js';
import { insertElementSets, type ElementSetInput } from '../storage/element-sets.js';
import { recordIngestRun, type IngestOutcome, type RejectSample } from '../storage/ingest-runs.js';
import { countByCode, type Rejection } from '../tracker/rejection.js';
import type { CatalogMetrics } from './catalog-metrics.js';
import { StorageError } from '../storage/errors.js';
import { parseCatalogSliced, type CatalogFormat, type CatalogRecord } from './catalog-parse.js';
import { SliceAbortedError, catalogSlicer, type SlicePacing, type TimeSlicer } from './catalog-slice.js';

/**
 * Objects in the first write statement of a load; later statements are sized
 * from the time the previous one took. Small, because the first statement
 * of a load is the slowest per row (cold plan and code).
 */
export const CATALOG_BATCH = 50;
/** Bounds of the statement size, objects. */
export const CATALOG_BATCH_MIN = 25;
export const CATALOG_BATCH_MAX = 2000;
/** Time one write statement should take, ms (PGlite: synchronous on this loop). */
export const CATALOG_STATEMENT_MS = 5;
/**
 * Message prefix of a run that did not complete for a reason on our side
 * (lease lost at commit, database error, stop): the input was fine and the
 * same load may be run again. A new ingest leader reads it back from
 * ingest_runs to schedule a retry instead of waiting a whole cycle.
 */
export const ABORTED_PREFIX = 'aborted: ';
/** Rejection samples kept per code in a report. */
export const SAMPLES_PER_CODE = 5;

export interface LeaseFence {
  /** The lease's fencing token when the load started, stored with the run. */
  readonly token: number;
  /**
   * Asks the lease store (not the local clock) whether the lease is still
   * ours: the same holder and tenure, at `token` or a later renewal of it.
   * Resolves when it is; throws FencedError when it is not. Called before
   * the write starts and right before it commits.
   */
  confirm(): Promise<void>;
}

/** The input itself cannot be loaded (nothing valid in it): not retried, the source is in trouble. */
class UnusableInputError extends StarWeatherError {
  constructor(message: string) {
    super('SW_ERR_INVALID_ARGUMENT', message);
  }
}

/** Why a load was aborted, for sw_catalog_loads_aborted_total. */
function abortCause(err: unknown): string {
  // The fence check before COMMIT runs inside the transaction, whose wrapper
  // turns any error into a StorageError: look down the cause chain first.
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof FencedError) return 'fenced';
    if (e instanceof SliceAbortedError) return 'stopped';
  }
  if (err instanceof StorageError) return 'storage';
  return 'error';
}

export interface IngestDeps {
  db: Database;
  /** Where catalog.changed goes; null: nobody to tell (a CLI load without a bus). */
  transport?: Transport | null;
  names?: Names | null;
  metrics?: CatalogMetrics | null;
  logger?: Logger | null;
  hostId?: string | null;
  fence?: LeaseFence | null;
  /** Objects in the first write statement (later ones adapt); tests set it small to get many statements. */
  batchSize?: number;
  /** Slice length and the per-slice hook (tests: a slow parse). */
  pacing?: SlicePacing;
  /** Aborted: the load stops at its next slice boundary and rolls back (the actor stopping). */
  signal?: AbortSignal;
  /** Told as the load moves on: a running load's status resource, the CLI's progress line. */
  onProgress?: (p: LoadProgress) => void;
}

/** Where a running load is. Objects, not records: the write goes by object (all its element sets at once). */
export interface LoadProgress {
  phase: 'parse' | 'write' | 'done';
  objectsDone: number;
  /** Known once the parse has grouped the records by object. */
  objectsTotal: number | null;
}

export interface IngestSource {
  text: string;
  format: CatalogFormat;
  /** Where it came from: a URL, a file path, `snapshot:<file>`. */
  source: string;
  /** CelesTrak group merged into each object's groups; null: none (a file with no group). */
  group: string | null;
  /** A complete group (GP download, snapshot): `full: true` in catalog.changed. */
  full: boolean;
  httpStatus?: number | null;
  bytes?: number | null;
  snapshotDate?: string | null;
  startedAt?: Date;
}

export interface IngestReport {
  runId: number | null;
  group: string;
  source: string;
  format: CatalogFormat | null;
  outcome: IngestOutcome;
  httpStatus: number | null;
  records: number;
  accepted: number;
  rejected: number;
  rejectedByCode: Record<string, number>;
  rejectSamples: RejectSample[];
  objectsNew: number;
  objectsChanged: number;
  elementSetsNew: number;
  /** Ids whose catalog row or element sets changed, ascending. */
  changedIds: number[];
  snapshotDate: string | null;
  message: string;
  startedAt: Date;
  finishedAt: Date;
  /**
   * The load did not complete for a reason on our side (lease lost at
   * commit, database error, stop), or a group was skipped whose last
   * download never got loaded: run it again soon, not a whole cycle later.
   */
  retryable: boolean;
  /** A retry is pointless before this (the 2 h refetch rule); null: no constraint. */
  notBefore: Date | null;
  /** How the work was spread over the loop (not stored). */
  work: LoadWork | null;
}

export interface LoadWork {
  parseMs: number;
  writeMs: number;
  /** Loop turns yielded during the load. */
  slices: number;
  /** The longest stretch between two yields, ms (parse and row building; synchronous). */
  longestSliceMs: number;
  /** Write statements, and the longest one, ms (PGlite: synchronous; PostgreSQL: mostly waiting). */
  statements: number;
  longestStatementMs: number;
}

export function summary(r: IngestReport): IngestRunSummary {
  return {
    group: r.group.slice(0, 100),
    outcome: r.outcome,
    httpStatus: r.httpStatus,
    records: r.records,
    accepted: r.accepted,
    rejected: r.rejected,
    objectsNew: r.objectsNew,
    objectsChanged: r.objectsChanged,
    message: r.message.slice(0, 2000),
  };
}

function samples(rejects: readonly Rejection[]): RejectSample[] {
  const per: Record<string, number> = {};
  const out: RejectSample[] = [];
  for (const r of rejects) {
    const n = (per[r.code] = (per[r.code] ?? 0) + 1);
    if (n > SAMPLES_PER_CODE) continue;
    out.push({ code: r.code, reason: r.reason.slice(0, 300), line: r.line, ...(r.noradId !== undefined ? { noradId: r.noradId } : {}) });
  }
  return out;
}

/** Store and log a report; a failure to store is logged, never thrown (the data is already written). */
async function finish(deps: IngestDeps, report: IngestReport, fenceToken: number | null): Promise<IngestReport> {
  try {
    report.runId = await recordIngestRun(deps.db, {
      kind: 'catalog',
      group: report.group,
      source: report.source.slice(0, 2000),
      format: report.format,
      outcome: report.outcome,
      httpStatus: report.httpStatus,
      records: report.records,
      accepted: report.accepted,
      rejected: report.rejected,
      rejectedByCode: report.rejectedByCode,
      rejectSamples: report.rejectSamples,
      objectsNew: report.objectsNew,
      objectsChanged: report.objectsChanged,
      elementSetsNew: report.elementSetsNew,
      snapshotDate: report.snapshotDate,
      hostId: deps.hostId ?? null,
      fenceToken,
      message: report.message,
      startedAt: report.startedAt,
      finishedAt: report.finishedAt,
    });
  } catch (err) {
    deps.logger?.error({ err: errorMessage(err), group: report.group }, 'could not store the catalog ingest report');
  }
  deps.metrics?.runs.inc({ outcome: report.outcome });
  if (report.outcome === 'ok') deps.metrics?.lastSuccess.set(report.finishedAt.getTime() / 1000);
  const { changedIds, rejectSamples, ...rest } = report;
  const line = { ...rest, changed: changedIds.length, rejectSamples: rejectSamples.slice(0, 10) };
  if (report.outcome === 'ok' || report.outcome === 'not_modified' || report.outcome === 'skipped') deps.logger?.info(line, 'catalog ingest run');
  else deps.logger?.warn(line, 'catalog ingest run did not load');
  return report;
}

/** Record a run that loaded nothing (403, other non-200, network failure, skip). */
export function recordUnloaded(
  deps: IngestDeps,
  run: {
    group: string;
    source: string;
    format: CatalogFormat | null;
    outcome: Exclude<IngestOutcome, 'ok'>;
    httpStatus: number | null;
    message: string;
    startedAt: Date;
    retryable?: boolean;
    notBefore?: Date | null;
  },
): Promise<IngestReport> {
  return finish(
    deps,
    {
      runId: null,
      ...run,
      records: 0,
      accepted: 0,
      rejected: 0,
      rejectedByCode: {},
      rejectSamples: [],
      objectsNew: 0,
      objectsChanged: 0,
      elementSetsNew: 0,
      changedIds: [],
      snapshotDate: null,
      finishedAt: new Date(),
      retryable: run.retryable ?? false,
      notBefore: run.notBefore ?? null,
      work: null,
    },
    deps.fence?.token ?? null,
  );
}

/** Publish changed ids in chunks of ≤ 5,000; a hint, so a failed publish is logged and not retried. */
export async function publishChanged(deps: IngestDeps, ids: readonly number[], full: boolean, group: string | null): Promise<number> {
  if (!deps.transport || !deps.names || ids.length === 0) return 0;
  let sent = 0;
  try {
    for (let i = 0; i < ids.length; i += CATALOG_CHANGED_MAX_IDS) {
      const chunk = ids.slice(i, i + CATALOG_CHANGED_MAX_IDS);
      deps.transport.publish(
        deps.names.subjects.catalogChanged,
        CatalogChangedMessage.encode({ v: 1, at: Date.now(), ids: chunk, full, ...(group ? { group: group.slice(0, 100) } : {}) }),
      );
      sent++;
    }
    await deps.transport.flush();
  } catch (err) {
    deps.logger?.warn({ err: errorMessage(err), sent }, 'catalog.changed not fully published; trackers pick the change up at their next reconcile');
  }
  return sent;
}

/** One object and its element sets: all sets of an object land in the same statement pair. */
interface ObjectRows {
  obj: CatalogObjectInput;
  sets: ElementSetInput[];
}

/** Groups records by object, in time slices. */
async function objectRows(records: readonly CatalogRecord[], source: string, slicer: TimeSlicer): Promise<ObjectRows[]> {
  const byId = new Map<number, { obj: CatalogObjectInput; sets: Map<number, ElementSetInput> }>();
  for (const r of records) {
    let entry = byId.get(r.noradId);
    if (!entry) {
      entry = { obj: { noradId: r.noradId, name: r.name, intlDesignator: r.intlDesignator }, sets: new Map() };
      byId.set(r.noradId, entry);
    } else {
      // A later record of the same object names it (CelesTrak lists the newest last).
      entry.obj = { noradId: r.noradId, name: r.name, intlDesignator: r.intlDesignator ?? entry.obj.intlDesignator ?? null };
    }
    // The same (object, epoch) twice in one file: the first wins, as the natural key would decide.
    if (!entry.sets.has(r.epochMs)) {
      entry.sets.set(r.epochMs, {
        noradId: r.noradId,
        epoch: new Date(r.epochMs),
        source,
        format: r.format,
        omm: r.omm ?? null,
        tleLine1: r.line1 ?? null,
        tleLine2: r.line2 ?? null,
      });
    }
    await slicer.maybeYield();
  }
  const out: ObjectRows[] = [];
  for (const { obj, sets } of byId.values()) {
    out.push({ obj, sets: [...sets.values()] });
    await slicer.maybeYield();
  }
  return out;
}

/** Next statement size from the time the last one took: aim at CATALOG_STATEMENT_MS, change by at most 2x. */
function nextSize(size: number, tookMs: number): number {
  const want = tookMs > 0 ? Math.round((size * CATALOG_STATEMENT_MS) / tookMs) : size * 2;
  return Math.max(CATALOG_BATCH_MIN, Math.min(CATALOG_BATCH_MAX, Math.max(Math.floor(size / 2), Math.min(size * 2, want))));
}

/**
 * Validate and write one catalog text. Never throws for bad input: a bad
 * record is counted; an input with nothing valid in it ends the run with
 * outcome `failed`; a failed write, a stop or a lease lost at commit rolls
 * the whole load back (outcome `failed`, message ABORTED_PREFIX…,
 * `retryable`).
 */
export async function ingestCatalogText(deps: IngestDeps, input: IngestSource): Promise<IngestReport> {
  const startedAt = input.startedAt ?? new Date();
  const slicer = catalogSlicer(deps.pacing, deps.signal);
  const fence = deps.fence ?? null;
  const sourceLabel = input.source.length > 200 ? input.source.slice(0, 200) : input.source;
  const inserted = new Set<number>();
  const changed = new Set<number>();
  let elementSetsNew = 0;
  let message = '';
  let outcome: IngestOutcome = 'ok';
  let retryable = false;
  let parsed: Awaited<ReturnType<typeof parseCatalogSliced>> = { records: [], rejects: [], total: 0 };
  const work: LoadWork = { parseMs: 0, writeMs: 0, slices: 0, longestSliceMs: 0, statements: 0, longestStatementMs: 0 };
  let objectsTotal: number | null = null;
  try {
    const t0 = performance.now();
    deps.onProgress?.({ phase: 'parse', objectsDone: 0, objectsTotal: null });
    parsed = await parseCatalogSliced(input.text, input.format, slicer);
    const rejectedByCode = countByCode(parsed.rejects);
    for (const [code, n] of Object.entries(rejectedByCode)) deps.metrics?.rejected.inc({ code }, n);
    if (parsed.total > 0 && parsed.records.length === 0) throw new UnusableInputError(`no valid record in ${parsed.total}`);
    if (parsed.total === 0) throw new UnusableInputError('no records in the input');
    const rows = await objectRows(parsed.records, sourceLabel, slicer);
    work.parseMs = performance.now() - t0;
    const t1 = performance.now();
    objectsTotal = rows.length;
    deps.onProgress?.({ phase: 'write', objectsDone: 0, objectsTotal });
    // Not ours any more: do not even start (and do not hold the database).
    if (fence) await fence.confirm();
    const wrote = await deps.db.transaction(async (tx) => {
      const objsNew: number[] = [];
      const ids = new Set<number>();
      let setsNew = 0;
      let size = Math.max(1, deps.batchSize ?? CATALOG_BATCH);
      for (let i = 0; i < rows.length; ) {
        const part = rows.slice(i, i + size);
        i += part.length;
        // PGlite runs each statement as one synchronous WASM call and resolves
        // without a macrotask turn: give timers and I/O a turn after each
        // (this also ends the load when stopping).
        let took = 0;
        const timed = async <T>(statement: () => Promise<T>): Promise<T> => {
          const s0 = performance.now();
          const out = await statement();
          const ms = performance.now() - s0;
          took = Math.max(took, ms);
          work.statements++;
          if (ms > work.longestStatementMs) work.longestStatementMs = ms;
          await slicer.yield();
          return out;
        };
        const objs = await timed(() => upsertObjects(tx, part.map((r) => r.obj), input.group));
        const sets = await timed(() => insertElementSets(tx, part.flatMap((r) => r.sets)));
        // A decay verdict came from an element set that is now superseded
        // (often a stale one: SGP4 decays old elements early). CelesTrak's
        // groups stop listing objects that really re-entered, so a fresh
        // element set means the object is back in service.
        if (sets.length > 0) await timed(() => reactivateObjects(tx, sets));
        if (deps.batchSize === undefined) size = nextSize(size, took);
        objsNew.push(...objs.inserted);
        for (const id of objs.inserted) ids.add(id);
        for (const id of objs.updated) ids.add(id);
        for (const id of sets) ids.add(id);
        setsNew += sets.length;
        deps.onProgress?.({ phase: 'write', objectsDone: i, objectsTotal: rows.length });
      }
      // Fencing at commit, against the store: a lease lost while we worked rolls everything back.
      if (fence) await fence.confirm();
      return { objsNew, ids, setsNew };
    });
    work.writeMs = performance.now() - t1;
    for (const id of wrote.objsNew) inserted.add(id);
    for (const id of wrote.ids) changed.add(id);
    elementSetsNew = wrote.setsNew;
    deps.metrics?.accepted.inc(parsed.records.length);
    message = `${parsed.records.length} accepted, ${parsed.rejects.length} rejected, ${changed.size} changed`;
  } catch (err) {
    outcome = 'failed';
    inserted.clear();
    changed.clear();
    elementSetsNew = 0;
    if (err instanceof UnusableInputError) {
      message = err.message;
    } else {
      retryable = true;
      const cause = abortCause(err);
      deps.metrics?.aborted.inc({ cause });
      message = `${ABORTED_PREFIX}${errorMessage(err)}; nothing written (${cause}), retried in minutes`;
    }
  }
  work.slices = slicer.stats.slices;
  work.longestSliceMs = slicer.stats.longestMs;
  const changedIds = [...changed].sort((a, b) => a - b);
  const rejectedByCode = countByCode(parsed.rejects);
  const report: IngestReport = {
    runId: null,
    group: input.group ?? 'file',
    source: input.source,
    format: input.format,
    outcome,
    httpStatus: input.httpStatus ?? null,
    records: parsed.total,
    accepted: outcome === 'ok' ? parsed.records.length : 0,
    rejected: parsed.rejects.length,
    rejectedByCode,
    rejectSamples: samples(parsed.rejects),
    objectsNew: inserted.size,
    objectsChanged: changedIds.length - inserted.size,
    elementSetsNew,
    changedIds,
    snapshotDate: input.snapshotDate ?? null,
    message,
    startedAt,
    finishedAt: new Date(),
    retryable,
    notBefore: null,
    work,
  };
  await finish(deps, report, fence?.token ?? null);
  await publishChanged(deps, changedIds, input.full && outcome === 'ok', input.group);
  deps.onProgress?.({ phase: 'done', objectsDone: outcome === 'ok' ? (objectsTotal ?? 0) : 0, objectsTotal });
  return report;
}
