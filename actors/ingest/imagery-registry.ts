/** The imagery ingest's memory (imagery_ingested, migration 003). */
import type { Queryable } from '../storage/db.js';

export interface IngestedRow {
  itemId: string;
  source: string;
  outcome: 'registered' | 'rejected';
  reason: string;
  httpStatus: number | null;
  taskId: string | null;
  objects: string[];
}

/** Which of `ids` are already handled (registered or rejected). */
export async function handledIds(q: Queryable, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const r = await q.query<{ item_id: string }>('SELECT item_id FROM imagery_ingested WHERE item_id = ANY($1::text[])', [ids]);
  return new Set(r.rows.map((x) => x.item_id));
}

/** Record an outcome; a second record of the same scene keeps the first (ON CONFLICT DO NOTHING). */
export async function recordIngested(q: Queryable, row: IngestedRow): Promise<boolean> {
  const r = await q.query(
    `INSERT INTO imagery_ingested (item_id, source, outcome, reason, http_status, task_id, objects)
     VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) ON CONFLICT (item_id) DO NOTHING`,
    [row.itemId, row.source, row.outcome, row.reason.slice(0, 2000), row.httpStatus, row.taskId, JSON.stringify(row.objects)],
  );
  return r.rowCount === 1;
}

export async function listIngested(q: Queryable, limit = 100): Promise<IngestedRow[]> {
  const r = await q.query<{ item_id: string; source: string; outcome: 'registered' | 'rejected'; reason: string; http_status: number | null; task_id: string | null; objects: string[] | string }>(
    'SELECT item_id, source, outcome, reason, http_status, task_id, objects FROM imagery_ingested ORDER BY recorded_at DESC, item_id LIMIT $1',
    [limit],
  );
  return r.rows.map((x) => ({
    itemId: x.item_id,
    source: x.source,
    outcome: x.outcome,
    reason: x.reason,
    httpStatus: x.http_status,
    taskId: x.task_id,
    objects: typeof x.objects === 'string' ? (JSON.parse(x.objects) as string[]) : x.objects,
  }));
}
