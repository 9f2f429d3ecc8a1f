/**
 * The finalize reconciler, on a timer in every tile host: a scene whose
 * tiles are all stored but whose task still sits at l1 or l2, unchanged for
 * `idleMs`, never got its `imagery.finalize` (the host that stored the last
 * tile died before the enqueue, or the task was lost). The reconciler moves it
 * to l2 and enqueues the finalize under the same deterministic id the tile
 * handler uses, so it is one task with the normal path's (de-duplicated
 * within the window; after it, a second copy runs the idempotent finalize
 * once more). Several tile hosts may run it at once for the same reason.
 *
 * Only idle scenes: a finalize that is queued behind others or merging keeps
 * the task at l2 for a while, and the idle time keeps the reconciler off it.
 */
import type { Logger } from 'pino';
import { errorMessage } from '../../../protocol/errors.js';
import { IMAGERY_FINALIZE_KIND, ImageryFinalizeTaskMessage, imageryFinalizeTaskId } from '../../../protocol/messages/tile.js';
import type { Transport } from '../../../protocol/transport.js';
import { enqueueTask } from '../../runtime/worker.js';
import type { Storage } from '../../storage/index.js';
import { recordTaskStage, scenesAwaitingFinalize, touchTask } from '../../storage/tasks.js';

export interface FinalizeReconcilerOptions {
  storage: Storage;
  transport: Transport;
  logger: Logger;
  /** Period of the check; 0: never (start() does nothing). */
  intervalMs: number;
  /** How long a complete scene's task must not have changed. */
  idleMs: number;
  /** Scenes handled per check at most. */
  batch?: number;
}

export class FinalizeReconciler {
  /** Finalize tasks enqueued by the reconciler (each one a scene found stranded). */
  enqueued = 0;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;

  constructor(private readonly o: FinalizeReconcilerOptions) {}

  start(): void {
    if (this.o.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.runOnce().catch((err) => this.o.logger.warn({ err: errorMessage(err) }, 'finalize reconciler check failed; next period retries')), this.o.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  /** One check (one at a time): the number of finalize tasks enqueued. */
  runOnce(): Promise<number> {
    this.running ??= this.check().finally(() => (this.running = null));
    return this.running;
  }

  private async check(): Promise<number> {
    const { db, cache } = this.o.storage;
    const scenes = await scenesAwaitingFinalize(db, this.o.idleMs, this.o.batch ?? 100);
    let n = 0;
    for (const s of scenes) {
      // As finalizeWhenComplete: l2 first, then the task (a crash between them is found again next period).
      await recordTaskStage(db, cache, s.taskId, 'l2');
      const r = await enqueueTask(this.o.transport, {
        queue: s.queue,
        id: imageryFinalizeTaskId(s.collection, s.itemId, s.fingerprint),
        kind: IMAGERY_FINALIZE_KIND,
        payload: { v: 1, sceneTaskId: s.taskId, collection: s.collection, itemId: s.itemId, fingerprint: s.fingerprint },
        payloadType: ImageryFinalizeTaskMessage,
      });
      // The idle time starts again: a finalize that is only slow is not enqueued again next period.
      await touchTask(db, s.taskId);
      n++;
      this.enqueued++;
      this.o.logger.warn({ scene: s.taskId, item: `${s.collection}/${s.itemId}`, duplicate: r.duplicate }, 'scene had every tile stored but no finalize: finalize enqueued');
    }
    return n;
  }
}
