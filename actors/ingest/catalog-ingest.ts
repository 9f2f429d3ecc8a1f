/**
 * The one write path of a catalog load, whatever its source (a GP download,
 * a file or URL given to `catalog load`, the shipped snapshot): validate with
 * the pure parsers, write objects and element sets in batches (one
 * transaction per batch), store the ingest report, then tell the trackers
 * which ids changed. Idempotent: a replayed load writes nothing and
 * publishes nothing.
 */
import type { Logger } from 'pino';
import { FencedError, errorMessage } from '../../protocol/errors.js';
import { CATALOG_CHANGED_MAX_IDS, CatalogChangedMessage, type IngestRunSummary } from '../../protocol/messages/catalog.js';
import type { Names } from '../../protocol/names.js';
import type { Transport } from '../../protocol/transport.js';
import type { Database } from '../storage/db.js';
import { reactivateObjects, upsertObjects, type CatalogObjectInput } from '../storage/catalog.js';
import { insertElementSets, type ElementSetInput } from '../storage/element-sets.js';
import { recordIngestRun, type IngestOutcome, type RejectSample } from '../storage/ingest-runs.js';
import { countByCode, type Rejection } from '../tracker/rejection.js';
import type { CatalogMetrics } from './catalog-metrics.js';
import { parseCatalogText, type CatalogFormat, type CatalogRecord } from './catalog-parse.js';

/** Objects per write transaction: large enough to amortise round trips, small enough to keep a transaction short. */
export const CATALOG_BATCH = 2000;
/** Rejection samples kept per code in a report. */
export const SAMPLES_PER_CODE = 5;

export interface LeaseFence {
  /** The lease's fencing token, stored with the run. */
  readonly token: number;
  /** Local validity (no I/O); false: stop writing. */
  valid(): boolean;
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
  batchSize?: number;
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
  run: { group: string; source: string; format: CatalogFormat | null; outcome: Exclude<IngestOutcome, 'ok'>; httpStatus: number | null; message: string; startedAt: Date },
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

interface Batch {
  objects: CatalogObjectInput[];
  sets: ElementSetInput[];
}

/** Groups records by object into batches of at most `size` objects; all sets of one object land in the same batch. */
function batches(records: readonly CatalogRecord[], source: string, size: number): Batch[] {
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
  }
  const out: Batch[] = [];
  let cur: Batch = { objects: [], sets: [] };
  for (const { obj, sets } of byId.values()) {
    cur.objects.push(obj);
    cur.sets.push(...sets.values());
    if (cur.objects.length >= size) {
      out.push(cur);
      cur = { objects: [], sets: [] };
    }
  }
  if (cur.objects.length > 0) out.push(cur);
  return out;
}

/**
 * Validate and write one catalog text. Never throws for bad input: a bad
 * record is counted, a failed write or a lost lease ends the run with outcome
 * `failed` (batches committed before stay: they are valid and idempotent).
 */
export async function ingestCatalogText(deps: IngestDeps, input: IngestSource): Promise<IngestReport> {
  const startedAt = input.startedAt ?? new Date();
  const parsed = parseCatalogText(input.text, input.format);
  const rejectedByCode = countByCode(parsed.rejects);
  for (const [code, n] of Object.entries(rejectedByCode)) deps.metrics?.rejected.inc({ code }, n);
  const sourceLabel = input.source.length > 200 ? input.source.slice(0, 200) : input.source;
  const inserted = new Set<number>();
  const changed = new Set<number>();
  let elementSetsNew = 0;
  let message = '';
  let outcome: IngestOutcome = 'ok';
  const fence = deps.fence ?? null;
  try {
    if (parsed.total > 0 && parsed.records.length === 0) throw new Error(`no valid record in ${parsed.total}`);
    if (parsed.total === 0) throw new Error('no records in the input');
    for (const b of batches(parsed.records, sourceLabel, deps.batchSize ?? CATALOG_BATCH)) {
      // PGlite runs its WASM on this thread and resolves without a macrotask
      // turn: yield so timers (lease renewal, heartbeats) run between batches.
      await new Promise<void>((resolve) => setImmediate(resolve));
      // Check the lease before each write: a leader paused past its lease must not keep writing.
      if (fence && !fence.valid()) throw new FencedError('catalog ingest lease lost during the load; the new leader runs the next cycle');
      const r = await deps.db.transaction(async (tx) => {
        const objs = await upsertObjects(tx, b.objects, input.group);
        const sets = await insertElementSets(tx, b.sets);
        // A decay verdict came from an element set that is now superseded
        // (often a stale one: SGP4 decays old elements early). CelesTrak's
        // groups stop listing objects that really re-entered, so a fresh
        // element set means the object is back in service.
        await reactivateObjects(tx, sets);
        return { objs, sets };
      });
      for (const id of r.objs.inserted) inserted.add(id);
      for (const id of r.objs.inserted) changed.add(id);
      for (const id of r.objs.updated) changed.add(id);
      for (const id of r.sets) changed.add(id);
      elementSetsNew += r.sets.length;
    }
    deps.metrics?.accepted.inc(parsed.records.length);
    message = `${parsed.records.length} accepted, ${parsed.rejects.length} rejected, ${changed.size} changed`;
  } catch (err) {
    outcome = 'failed';
    message = errorMessage(err);
  }
  const changedIds = [...changed].sort((a, b) => a - b);
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
  };
  await finish(deps, report, fence?.token ?? null);
  // Committed batches are real changes even when a later one failed: tell the trackers.
  await publishChanged(deps, changedIds, input.full && outcome === 'ok', input.group);
  return report;
}
