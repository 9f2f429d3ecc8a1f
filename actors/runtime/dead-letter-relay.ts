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
 * redriveTask below: it re-enqueues every dead letter that failed the task,
 * under `<taskId>#retry<n>` so JetStream's de-duplication keeps it, and
 * reopens the task, in one transaction.
 */
import type { Logger } from 'pino';
import { errorMessage } from '../../protocol/errors.js';
import type { DeadLetter } from '../../protocol/messages/dead-letter.js';
import { WorkTaskMessage, type WorkTask } from '../../protocol/messages/work-task.js';
import type { Transport, WorkConsumer } from '../../protocol/transport.js';
import { deadLetterKey, isDeadLetterRedriven, markDeadLetterRedriven, openDeadLettersOf, recordDeadLetter } from '../storage/dead-letters.js';
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
}

export class DeadLetterRelay {
  readonly stats: DeadLetterRelayStats = { relayed: 0, failed: 0, autoRedriven: 0, errors: 0 };
  private consumer: WorkConsumer | null = null;

  constructor(private readonly o: DeadLetterRelayOptions) {}

  async start(): Promise<void> {
    this.consumer = await this.o.transport.consumeDeadLetters((dl) => this.relay(dl));
  }

  async stop(): Promise<void> {
    const c = this.consumer;
    this.consumer = null;
    await c?.stop();
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
        // Enqueue first, then mark: a crash in between enqueues again (the same id: de-duplicated).
        await this.o.transport.enqueue(dl.queue, msgId, Buffer.from(dl.original, 'base64'));
        await markDeadLetterRedriven(db, key, msgId);
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
  | { outcome: 'redriven'; redrives: number; msgIds: string[]; view: TaskView | null };

/**
 * Re-drive a failed task: every dead letter that failed it and was not
 * re-driven yet goes back on its queue under `<taskId>#retry<n>` (a new
 * delivery budget; the task id users see is unchanged), and the task returns
 * to the furthest stage it had reached. One transaction holds the task row,
 * so two retries at once re-drive once (the second finds it no longer failed).
 * The enqueues come before the commit: a commit that fails after them leaves
 * the same n for the next try, whose enqueues are then de-duplicated.
 */
export async function redriveTask(storage: Storage, transport: Transport, id: string): Promise<RedriveResult> {
  const result = await storage.db.transaction(async (tx): Promise<RedriveResult> => {
    const row = await lockTask(tx, id);
    if (!row) return { outcome: 'not-found' };
    if (row.state !== 'failed') return { outcome: 'not-failed', state: row.state };
    const dls = (await openDeadLettersOf(tx, id)).filter((d) => d.taskId !== null);
    if (dls.length === 0) return { outcome: 'no-dead-letter' };
    const n = row.redrives + 1;
    const msgIds: string[] = [];
    for (const d of dls) {
      const msgId = retryMsgId(d.taskId!, n);
      await transport.enqueue(d.queue, msgId, Buffer.from(d.original, 'base64'));
      await markDeadLetterRedriven(tx, d.dedupeKey, msgId);
      msgIds.push(msgId);
    }
    await reopenTask(tx, id, n);
    return { outcome: 'redriven', redrives: n, msgIds, view: null };
  });
  if (result.outcome !== 'redriven') return result;
  // The cache follows the database; an outage there only costs a database read later. A short
  // life: the re-driven task may already be running on another host, whose next stage write
  // could land in the cache before this one.
  const view = await refreshTaskView(storage.db, storage.cache, id, REOPENED_VIEW_TTL_MS).catch(() => null);
  return { ...result, view };
}
