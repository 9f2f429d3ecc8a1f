/** Ingest reports (migration 002): one row per run, newest first per (kind, group). */
import type { Queryable } from './db.js';
import { StorageArgumentError } from './errors.js';

export type IngestOutcome = 'ok' | 'not_modified' | 'http_error' | 'failed' | 'skipped';
export const INGEST_OUTCOMES: readonly IngestOutcome[] = ['ok', 'not_modified', 'http_error', 'failed', 'skipped'];

export interface RejectSample {
  code: string;
  reason: string;
  line: number;
  noradId?: number;
}

export interface IngestRunInput {
  kind: string;
  group: string;
  source: string;
  format?: string | null;
  outcome: IngestOutcome;
  httpStatus?: number | null;
  records?: number;
  accepted?: number;
  rejected?: number;
  rejectedByCode?: Record<string, number>;
  rejectSamples?: RejectSample[];
  objectsNew?: number;
  objectsChanged?: number;
  elementSetsNew?: number;
  bytes?: number | null;
  /** YYYY-MM-DD of a shipped snapshot, when the data came from one. */
  snapshotDate?: string | null;
  hostId?: string | null;
  fenceToken?: number | null;
  message?: string;
  startedAt: Date;
  finishedAt: Date;
}

export interface IngestRun extends Required<Omit<IngestRunInput, 'format' | 'httpStatus' | 'bytes' | 'snapshotDate' | 'hostId' | 'fenceToken'>> {
  id: number;
  format: string | null;
  httpStatus: number | null;
  bytes: number | null;
  snapshotDate: string | null;
  hostId: string | null;
  fenceToken: number | null;
}

function check(r: IngestRunInput): void {
  if (typeof r.kind !== 'string' || r.kind.length < 1 || r.kind.length > 50) throw new StorageArgumentError('kind must be 1..50 characters');
  if (typeof r.group !== 'string' || r.group.length < 1 || r.group.length > 100) throw new StorageArgumentError('group must be 1..100 characters');
  if (typeof r.source !== 'string' || r.source.length < 1 || r.source.length > 2000) throw new StorageArgumentError('source must be 1..2000 characters');
  if (!INGEST_OUTCOMES.includes(r.outcome)) throw new StorageArgumentError(`outcome must be one of ${INGEST_OUTCOMES.join(', ')}`);
  for (const d of [r.startedAt, r.finishedAt]) if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new StorageArgumentError('startedAt and finishedAt must be valid dates');
  if (r.snapshotDate != null && !/^\d{4}-\d{2}-\d{2}$/.test(r.snapshotDate)) throw new StorageArgumentError('snapshotDate must be YYYY-MM-DD');
}

export async function recordIngestRun(q: Queryable, r: IngestRunInput): Promise<number> {
  check(r);
  const res = await q.query<{ id: string | number }>(
    `INSERT INTO ingest_runs (kind, grp, source, format, outcome, http_status, records, accepted, rejected, rejected_by_code, reject_samples,
       objects_new, objects_changed, element_sets_new, bytes, snapshot_date, host_id, fence_token, message, started_at, finished_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) RETURNING id`,
    [
      r.kind, r.group, r.source, r.format ?? null, r.outcome, r.httpStatus ?? null, r.records ?? 0, r.accepted ?? 0, r.rejected ?? 0,
      JSON.stringify(r.rejectedByCode ?? {}), JSON.stringify(r.rejectSamples ?? []), r.objectsNew ?? 0, r.objectsChanged ?? 0,
      r.elementSetsNew ?? 0, r.bytes ?? null, r.snapshotDate ?? null, r.hostId ?? null, r.fenceToken ?? null, (r.message ?? '').slice(0, 2000),
      r.startedAt, r.finishedAt,
    ],
  );
  return Number(res.rows[0]!.id);
}

interface Row {
  id: string | number;
  kind: string;
  grp: string;
  source: string;
  format: string | null;
  outcome: IngestOutcome;
  http_status: number | null;
  records: number;
  accepted: number;
  rejected: number;
  rejected_by_code: Record<string, number>;
  reject_samples: RejectSample[];
  objects_new: number;
  objects_changed: number;
  element_sets_new: number;
  bytes: string | number | null;
  snapshot_date: string | Date | null;
  host_id: string | null;
  fence_token: string | number | null;
  message: string;
  started_at: Date;
  finished_at: Date;
}

function fromRow(r: Row): IngestRun {
  const snap = r.snapshot_date instanceof Date ? r.snapshot_date.toISOString().slice(0, 10) : r.snapshot_date;
  return {
    id: Number(r.id),
    kind: r.kind,
    group: r.grp,
    source: r.source,
    format: r.format,
    outcome: r.outcome,
    httpStatus: r.http_status,
    records: r.records,
    accepted: r.accepted,
    rejected: r.rejected,
    rejectedByCode: r.rejected_by_code ?? {},
    rejectSamples: r.reject_samples ?? [],
    objectsNew: r.objects_new,
    objectsChanged: r.objects_changed,
    elementSetsNew: r.element_sets_new,
    bytes: r.bytes === null ? null : Number(r.bytes),
    snapshotDate: snap,
    hostId: r.host_id,
    fenceToken: r.fence_token === null ? null : Number(r.fence_token),
    message: r.message,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

const COLS = `id, kind, grp, source, format, outcome, http_status, records, accepted, rejected, rejected_by_code, reject_samples, objects_new,
  objects_changed, element_sets_new, bytes, to_char(snapshot_date, 'YYYY-MM-DD') AS snapshot_date, host_id, fence_token, message, started_at, finished_at`;

/** Newest runs first, optionally of one kind and group. */
export async function listIngestRuns(q: Queryable, filter: { kind?: string; group?: string; outcomes?: IngestOutcome[]; limit?: number } = {}): Promise<IngestRun[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.kind !== undefined) where.push(`kind = $${params.push(filter.kind)}`);
  if (filter.group !== undefined) where.push(`grp = $${params.push(filter.group)}`);
  if (filter.outcomes !== undefined) where.push(`outcome = ANY($${params.push(filter.outcomes)}::text[])`);
  const limit = Math.min(Math.max(1, filter.limit ?? 100), 10_000);
  const r = await q.query<Row>(`SELECT ${COLS} FROM ingest_runs ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY started_at DESC, id DESC LIMIT ${limit}`, params);
  return r.rows.map(fromRow);
}
