/**
 * Dead letters are terminal and visible. The transports only publish a dead
 * letter (NATS: the DLQ stream; embedded: in memory); this relay, run by the
 * hosts that have storage, reads them as a durable feed
 * (Transport.consumeDeadLetters) and for each one, idempotently:
 *
 * 1. records it in `dead_letters` (storage/dead-letters.ts) with its observed
 *    delivery count and how that count is known;
 * 2. either re-drives it once automatically (autoRedriveVerdict: a task that
 *    exhausted MaxDeliver with no handler settling it, on its first budget,
 *    whose last delivery never reached a handler: a dying host's prefetch
 *    is charged a delivery for every task it held), or
 * 3. moves its task to `failed` with the reason (the task itself, or the task
 *    `ownerOf` names: a tile's scene), unless that task was re-driven after
 *    the dead letter was written.
 *
 * A database error rejects the record, and the feed hands it back later.
 *
 * The manual re-drive (POST /tasks/{id}/retry, `starweather tasks retry`) is
 * redriveTask below: it reopens the task and marks every dead letter that
 * failed it re-driven under `<taskId>#retry<n>` (so JetStream's
 * de-duplication keeps the new message), commits, then enqueues them. A
 * re-drive whose enqueue was not confirmed (the bus refused, the process
 * died) is enqueued again by the relay's periodic check (same id: a copy
 * that did land is de-duplicated).
 */
import type { Logger } from 'pino';
import { errorMessage } from '../../protocol/errors.js';
import type { DeadLetter } from '../../protocol/messages/dead-letter.js';
import { WorkTaskMessage, type WorkTask } from '../../protocol/messages/work-task.js';
import type { Transport, WorkConsumer } from '../../protocol/transport.js';
import {
  confirmRedriveEnqueued,
  deadLetterKey,
  isDeadLetterRedriven,
  markDeadLetterRedriven,
  openDeadLettersOf,
  recordDeadLetter,
  unconfirmedRedrives,
  type DeadLetterRecord,
} from '../storage/dead-letters.js';
import type { Storage } from '../storage/index.js';
import { failTaskForDeadLetter, getTask, lockTask, refreshTaskView, reopenTask, type TaskState, type TaskView } from '../storage/tasks.js';

/** How long the view written by a re-drive may be served from the cache. */
const REOPENED_VIEW_TTL_MS = 2000;

/** The message id of an automatic re-drive. */
export const autoRedriveMsgId = (taskId: string): string => `${taskId}#auto`;
/** The message id of the n-th manual re-drive. */
export const retryMsgId = (taskId: string, n: number): string => `${taskId}#retry${n}`;

/**
 * Whether a dead letter is re-driven once by the relay instead of failing its
 * task: it exhausted MaxDeliver without a handler settling it (the server's
 * count, code SW_ERR_TIMEOUT), on the task's first delivery budget (its
 * message id is the task id), and its last delivery never reached a handler
 * (`startedDeliveries`: the task row's attempts, the highest delivery count
 * its handler recorded as it started; null when the task has no row, which
 * proves nothing). A handler's own give-up, or a task whose last delivery
 * started and died (a poison task that kills its hosts), is final.
 */
export function autoRedriveVerdict(dl: Pick<DeadLetter, 'code' | 'deliveries' | 'deliveriesFrom' | 'taskId' | 'msgId'>, startedDeliveries: number | null): boolean {
  if (dl.deliveriesFrom !== 'advisory' || dl.code !== 'SW_ERR_TIMEOUT' || !dl.taskId) return false;
  if (dl.msgId !== undefined && dl.msgId !== dl.taskId) return false;
  return startedDeliveries === null || startedDeliveries < dl.deliveries;
}

/** The reason a task shows when a dead letter failed it. */
export function deadLetterReason(dl: DeadLetter): string {
  const how = dl.deliveriesFrom === 'delivery' ? 'observed by the handler' : dl.deliveriesFrom === 'advisory' ? "the server's count" : 'count source not recorded';
  const which = dl.msgId && dl.msgId !== dl.taskId ? ` (${dl.msgId})` : '';
  const kind = dl.kind ?? 'task';
  return `dead-lettered: ${kind} ${dl.taskId ?? '(undecodable)'}${which} after ${dl.deliveries} deliveries (${how}): ${dl.code}: ${dl.reason}`;
}

export interface DeadLetterRelayOptions {
  transport: Transport;
  storage: Storage;
  logger: Logger;
  /** The task row a dead-lettered task fails when it is not its own id (a tile or finalize → its scene); null: its own. */
  ownerOf?(task: WorkTask): string | null;
  /** Period of the check for re-drives whose enqueue was never confirmed (default 15 s; 0: off). */
  pendingCheckMs?: number;
}

export interface DeadLetterRelayStats {
  /** Dead letters handled (recorded or found recorded). */
  relayed: number;
  /** Tasks moved to failed. */
  failed: number;
  /** Dead letters re-driven automatically. */
  autoRedriven: number;
  /** Records the database refused for now (handed back by the feed). */
  errors: number;
  /** Re-drives enqueued again because their first enqueue was not confirmed. */
  requeuedRedrives: number;
}

export class DeadLetterRelay {
  readonly stats: DeadLetterRelayStats = { relayed: 0, failed: 0, autoRedriven: 0, errors: 0, requeuedRedrives: 0 };
  private consumer: WorkConsumer | null = null;
  private timer: NodeJS.Timeout | null = null;
  private checking: Promise<number> | null = null;

  constructor(private readonly o: DeadLetterRelayOptions) {}

  async start(): Promise<void> {
    this.consumer = await this.o.transport.consumeDeadLetters((dl) => this.relay(dl));
    const period = this.o.pendingCheckMs ?? 15_000;
    if (period > 0) {
      this.timer = setInterval(() => void this.enqueuePending(period).catch((err) => this.o.logger.warn({ err: errorMessage(err) }, 'pending re-drive check failed; next period retries')), period);
      this.timer.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.checking?.catch(() => undefined);
    const c = this.consumer;
    this.consumer = null;
    await c?.stop();
  }

  /** Enqueue re-drives committed at least `olderThanMs` ago and never confirmed; returns how many. One check at a time. */
  enqueuePending(olderThanMs: number): Promise<number> {
    this.checking ??= (async () => {
      const pending = await unconfirmedRedrives(this.o.storage.db, olderThanMs);
      for (const d of pending) await enqueueRedrive(this.o.storage, this.o.transport, d);
      this.stats.requeuedRedrives += pending.length;
      if (pending.length > 0) this.o.logger.warn({ redrives: pending.map((d) => d.redriveMsgId) }, 're-drives whose enqueue was not confirmed: enqueued again');
      return pending.length;
    })().finally(() => (this.checking = null));
    return this.checking;
  }

  /** One dead letter; idempotent. Exposed for tests. */
  async relay(dl: DeadLetter): Promise<void> {
    try {
      await this.relayOnce(dl);
      this.stats.relayed++;
    } catch (err) {
      this.stats.errors++;
      this.o.logger.warn({ err: errorMessage(err), task: dl.taskId, queue: dl.queue }, 'dead letter not recorded yet; it comes back');
      throw err;
    }
  }

  private async relayOnce(dl: DeadLetter): Promise<void> {
    const { db, cache } = this.o.storage;
    let task: WorkTask | null = null;
    try {
      task = WorkTaskMessage.decode(Buffer.from(dl.original, 'base64'));
    } catch {
      task = null;
    }
    const owner = (task && this.o.ownerOf?.(task)) || dl.taskId;
    const fresh = await recordDeadLetter(db, dl, owner);
    const log = this.o.logger.child({ task: dl.taskId, owner, queue: dl.queue, msgId: dl.msgId, deliveries: dl.deliveries, deliveriesFrom: dl.deliveriesFrom ?? null });
    if (fresh) log.warn({ code: dl.code, reason: dl.reason }, 'dead letter recorded');
    if (task && dl.taskId) {
      const key = deadLetterKey(dl);
      if (await isDeadLetterRedriven(db, key)) return;
      const own = await getTask(db, dl.taskId);
      // A finished task is not run again (done stays done; a failed one is re-driven by hand).
      const finished = own !== null && (own.state === 'done' || own.state === 'failed');
      if (!finished && autoRedriveVerdict(dl, own ? own.attempts : null)) {
        const msgId = autoRedriveMsgId(dl.taskId);
        // Mark, then enqueue, then confirm: a crash in between is enqueued again by enqueuePending (the same id).
        await markDeadLetterRedriven(db, key, msgId);
        await this.o.transport.enqueue(dl.queue, msgId, Buffer.from(dl.original, 'base64'));
        await confirmRedriveEnqueued(db, key);
        this.stats.autoRedriven++;
        log.warn({ redriveMsgId: msgId, startedDeliveries: own ? own.attempts : null }, 'exhausted without every delivery reaching a handler (a dying host held it): re-driven once');
        return;
      }
    }
    if (!owner) return;
    if (await failTaskForDeadLetter(db, owner, deadLetterReason(dl), new Date(dl.failedAt))) {
      this.stats.failed++;
      await refreshTaskView(db, cache, owner).catch((err) => log.warn({ err: errorMessage(err) }, 'task view not cached'));
      log.warn('task failed by its dead letter');
    }
  }
}

export type RedriveResult =
  | { outcome: 'not-found' }
  | { outcome: 'not-failed'; state: TaskState }
  | { outcome: 'no-dead-letter' }
  | { outcome: 'redriven'; redrives: number; msgIds: string[]; pending: string[]; view: TaskView | null };

/** Enqueue one committed re-drive (its dead letter's original bytes under its redrive msg id) and confirm it. */
async function enqueueRedrive(storage: Storage, transport: Transport, d: Pick<DeadLetterRecord, 'queue' | 'original' | 'redriveMsgId' | 'dedupeKey'>): Promise<void> {
  if (!d.redriveMsgId) return;
  await transport.enqueue(d.queue, d.redriveMsgId, Buffer.from(d.original, 'base64'));
  await confirmRedriveEnqueued(storage.db, d.dedupeKey);
}

/**
 * Re-drive a failed task: every dead letter that failed it and was not
 * re-driven yet goes back on its queue under `<taskId>#retry<n>` (a new
 * delivery budget; the task id users see is unchanged), and the task returns
 * to the furthest stage it had reached. One transaction holds the task row,
 * so two retries at once re-drive once (the second finds it no longer
 * failed). The enqueues come after the commit, so a handler that picks the
 * task up at once finds it reopened; one the bus did not take now is listed
 * in `pending` and enqueued by the relay's check (DeadLetterRelay.enqueuePending).
 */
export async function redriveTask(storage: Storage, transport: Transport, id: string): Promise<RedriveResult> {
  const plan = await storage.db.transaction(async (tx) => {
    const row = await lockTask(tx, id);
    if (!row) return { outcome: 'not-found' } as const;
    if (row.state !== 'failed') return { outcome: 'not-failed', state: row.state } as const;
    const dls = (await openDeadLettersOf(tx, id)).filter((d) => d.taskId !== null);
    if (dls.length === 0) return { outcome: 'no-dead-letter' } as const;
    const n = row.redrives + 1;
    const redrives: DeadLetterRecord[] = [];
    for (const d of dls) {
      const msgId = retryMsgId(d.taskId!, n);
      await markDeadLetterRedriven(tx, d.dedupeKey, msgId);
      redrives.push({ ...d, redriveMsgId: msgId });
    }
    await reopenTask(tx, id, n);
    return { outcome: 'redriven', n, redrives } as const;
  });
  if (plan.outcome !== 'redriven') return plan;
  // The cache follows the database; an outage there only costs a database read later. A short
  // life: the re-driven task may already be running on another host, whose next stage write
  // could land in the cache before this one.
  const view = await refreshTaskView(storage.db, storage.cache, id, REOPENED_VIEW_TTL_MS).catch(() => null);
  const pending: string[] = [];
  for (const d of plan.redrives) {
    try {
      await enqueueRedrive(storage, transport, d);
    } catch {
      pending.push(d.redriveMsgId!);
    }
  }
  return { outcome: 'redriven', redrives: plan.n, msgIds: plan.redrives.map((d) => d.redriveMsgId!), pending, view };
}
