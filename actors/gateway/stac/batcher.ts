/**
 * Group commit for single-item registrations: POSTs that arrive while a
 * database transaction is running wait for the next one, which writes all of
 * them with one statement per step (items, then task rows). Under load the
 * batches grow by themselves; an idle gateway commits each request at once.
 * A transaction that fails because the database is unavailable fails every
 * request in it (each gets the error and the client retries). One bad item
 * must not fail the others: an item whose row cannot be made (itemRow:
 * columns, JSON) fails alone before the transaction, and a transaction that
 * fails on a query error is split in halves and retried until the item at
 * fault is alone (about 2·log2(n) transactions for one bad item among n).
 * One item's 409 is its own result, not a failure.
 * A batch is also bounded in bytes (maxBatchBytes, at least one item): the
 * embedded PGlite converts the batch's JSON on this thread (~40 ms per MiB),
 * so ten concurrent 1 MiB items are several short transactions, not one long
 * stall.
 */
import { IMAGERY_SCENE_KIND } from '../../../protocol/messages/imagery.js';
import { QUEUE_PRIORITY, type QueueName } from '../../../protocol/names.js';
import type { Database } from '../../storage/db.js';
import { isDbUnavailable } from '../../storage/db-errors.js';
import { StorageArgumentError, StorageError } from '../../storage/errors.js';
import { insertItemRowsOnce, itemRow, type ItemRow, type StacDoc } from '../../storage/stac.js';
import { createTasks, type TaskState } from '../../storage/tasks.js';
import { badRequest } from '../errors.js';

export interface BatchPlan {
  doc: StacDoc;
  taskId: string;
  queue: QueueName;
  /** The item's JSON size, when known (the request body's): counts toward maxBatchBytes. */
  bytes?: number;
}

export type BatchResult = { conflict: true } | { conflict: false; created: boolean; status: TaskState };

interface Pending {
  plan: BatchPlan;
  row: ItemRow | null;
  resolve(r: BatchResult): void;
  reject(err: unknown): void;
}

/**
 * What one item's own failure is answered with: the storage layer's refusal,
 * or the database's data error (SQLSTATE class 22, data exception, or 54,
 * a program limit) on a transaction holding only that item, is the item's
 * fault: a 400. Anything else stays what it is (a 5xx).
 */
function itemFailure(err: unknown): unknown {
  if (err instanceof StorageArgumentError) return badRequest(err.message);
  const state = err instanceof StorageError ? err.sqlState : undefined;
  if (state && (state.startsWith('22') || state.startsWith('54'))) {
    const why = ((err as StorageError).cause as Error | undefined)?.message ?? 'refused';
    return badRequest(`the database cannot store this item (SQLSTATE ${state}: ${why.slice(0, 200)})`);
  }
  return err;
}

export class RegistrationBatcher {
  private queue: Pending[] = [];
  private running = false;
  private readonly counts = { batches: 0, items: 0, maxBatch: 0 };

  constructor(
    private readonly db: () => Promise<Database>,
    private readonly maxBatch = 500,
    private readonly maxBatchBytes = 1024 * 1024,
  ) {}

  register(plan: BatchPlan): Promise<BatchResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ plan, row: null, resolve, reject });
      if (!this.running) {
        this.running = true;
        // setImmediate, not now: requests already read from their sockets get to join this batch
        // (PGlite runs on this thread, so nothing else arrives while a statement runs).
        setImmediate(() => void this.drain());
      }
    });
  }

  /** Transactions run, items written through them, the largest batch. */
  stats(): { batches: number; items: number; maxBatch: number; waiting: number } {
    return { ...this.counts, waiting: this.queue.length };
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        let take = 0;
        let bytes = 0;
        while (take < this.queue.length && take < this.maxBatch && (take === 0 || bytes + (this.queue[take]!.plan.bytes ?? 0) <= this.maxBatchBytes)) {
          bytes += this.queue[take]!.plan.bytes ?? 0;
          take++;
        }
        const batch = this.queue.splice(0, take);
        this.counts.batches++;
        this.counts.items += batch.length;
        this.counts.maxBatch = Math.max(this.counts.maxBatch, batch.length);
        const ready: Pending[] = [];
        for (const p of batch) {
          try {
            p.row = itemRow(p.plan.doc);
            ready.push(p);
          } catch (err) {
            p.reject(itemFailure(err));
          }
        }
        if (ready.length > 0) await this.commit(ready);
        await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      this.running = false;
    }
  }

  /** Write `batch` in one transaction; on a query error, each half in its own, so only the item at fault fails. */
  private async commit(batch: Pending[]): Promise<void> {
    try {
      const results = await this.write(batch);
      batch.forEach((p, n) => p.resolve(results[n]!));
    } catch (err) {
      // An unavailable database fails every half alike: no retries, the clients retry.
      if (batch.length === 1 || isDbUnavailable(err)) {
        for (const p of batch) p.reject(batch.length === 1 ? itemFailure(err) : err);
        return;
      }
      const mid = Math.ceil(batch.length / 2);
      await this.commit(batch.slice(0, mid));
      await this.commit(batch.slice(mid));
    }
  }

  private async write(batch: Pending[]): Promise<BatchResult[]> {
    const plans = batch.map((p) => p.plan);
    const db = await this.db();
    return db.transaction(async (tx) => {
      const items = await insertItemRowsOnce(tx, batch.map((p) => p.row!));
      const ok = plans.map((_, n) => n).filter((n) => items[n] !== 'conflict');
      const tasks = await createTasks(
        tx,
        ok.map((n) => {
          const p = plans[n]!;
          return { id: p.taskId, kind: IMAGERY_SCENE_KIND, item: `${String(p.doc.collection)}/${p.doc.id}`, priority: QUEUE_PRIORITY[p.queue] };
        }),
      );
      const out: BatchResult[] = plans.map(() => ({ conflict: true }));
      ok.forEach((n, k) => (out[n] = { conflict: false, created: tasks[k]!.created, status: tasks[k]!.state }));
      return out;
    });
  }
}
