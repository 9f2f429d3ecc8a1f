/**
 * Which buffered task runs next, under one concurrency limit shared by the
 * three queues. Pure logic: no timers, no transport.
 *
 * Strict priority would starve `weather` for as long as `high` has work, and
 * a satellite pass can keep `high` busy for hours. So the choice is smooth
 * weighted round robin (the nginx upstream algorithm): each pick adds every
 * non-empty queue's weight to its credit, takes the queue with the most
 * credit (ties go to the higher priority, QUEUE_PRIORITY), and charges it the
 * sum of the weights in play. With all three queues busy and the default
 * weights 8/3/1, every 12 picks give exactly 8 to high, 3 to satellite and
 * 1 to weather, spread out rather than in bursts; an empty queue's weight
 * goes to the others. A queue's credit is reset when it runs empty so an
 * idle queue cannot bank credit and burst past `high` later.
 */
import { QUEUE_PRIORITY, QUEUES, type QueueName } from '../../protocol/names.js';

export type QueueWeights = Record<QueueName, number>;

export const DEFAULT_WEIGHTS: QueueWeights = { high: 8, satellite: 3, weather: 1 };

export interface Scheduled<T> {
  queue: QueueName;
  item: T;
}

export interface PrioritySchedulerOptions {
  /** Tasks allowed to run at once across all queues. */
  concurrency: number;
  weights?: Partial<QueueWeights>;
}

// Highest priority first, so ties in credit resolve to it.
const ORDER: readonly QueueName[] = [...QUEUES].sort((a, b) => QUEUE_PRIORITY[a] - QUEUE_PRIORITY[b]);

export class PriorityScheduler<T> {
  readonly concurrency: number;
  readonly weights: QueueWeights;
  private readonly buffers = new Map<QueueName, T[]>();
  private readonly credit = new Map<QueueName, number>();
  private active = 0;

  constructor(options: PrioritySchedulerOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new RangeError(`concurrency must be an integer >= 1 (got ${options.concurrency})`);
    }
    this.concurrency = options.concurrency;
    this.weights = { ...DEFAULT_WEIGHTS, ...options.weights };
    for (const q of ORDER) {
      const w = this.weights[q];
      if (!Number.isInteger(w) || w < 1) throw new RangeError(`weight of ${q} must be an integer >= 1 (got ${w})`);
      this.buffers.set(q, []);
      this.credit.set(q, 0);
    }
  }

  push(queue: QueueName, item: T): void {
    const buf = this.buffers.get(queue);
    if (!buf) throw new RangeError(`unknown queue ${JSON.stringify(queue)}`);
    buf.push(item);
  }

  /**
   * The next task to run, counted as running; null when at the limit or
   * nothing is buffered. `eligible` holds queues back for this pick (overload
   * shedding): their tasks stay buffered and they bank no credit meanwhile.
   */
  take(eligible?: (queue: QueueName) => boolean): Scheduled<T> | null {
    if (this.active >= this.concurrency) return null;
    const picked = this.pick(eligible);
    if (picked === null) return null;
    this.active++;
    return picked;
  }

  /** A task returned by take() has finished. */
  done(): void {
    if (this.active === 0) throw new Error('PriorityScheduler.done() without a running task');
    this.active--;
  }

  /** Remove and return everything buffered (not running), highest priority first. */
  clear(): Scheduled<T>[] {
    const out: Scheduled<T>[] = [];
    for (const q of ORDER) {
      for (const item of this.buffers.get(q)!.splice(0)) out.push({ queue: q, item });
      this.credit.set(q, 0);
    }
    return out;
  }

  /** Remove one buffered item (e.g. it was settled while waiting); true if found. */
  remove(queue: QueueName, item: T): boolean {
    const buf = this.buffers.get(queue);
    const i = buf ? buf.indexOf(item) : -1;
    if (i < 0) return false;
    buf!.splice(i, 1);
    if (buf!.length === 0) this.credit.set(queue, 0);
    return true;
  }

  get running(): number {
    return this.active;
  }

  /** Buffered, not yet running: one queue's or all. */
  buffered(queue?: QueueName): number {
    if (queue) return this.buffers.get(queue)?.length ?? 0;
    let n = 0;
    for (const b of this.buffers.values()) n += b.length;
    return n;
  }

  /** Everything buffered, without removing it (for heartbeats). */
  *items(): IterableIterator<Scheduled<T>> {
    for (const q of ORDER) for (const item of this.buffers.get(q)!) yield { queue: q, item };
  }

  private pick(eligible?: (queue: QueueName) => boolean): Scheduled<T> | null {
    let total = 0;
    let best: QueueName | null = null;
    let bestCredit = -Infinity;
    for (const q of ORDER) {
      if (this.buffers.get(q)!.length === 0) continue;
      if (eligible && !eligible(q)) continue;
      const c = this.credit.get(q)! + this.weights[q];
      this.credit.set(q, c);
      total += this.weights[q];
      if (c > bestCredit) {
        best = q;
        bestCredit = c;
      }
    }
    if (best === null) return null;
    this.credit.set(best, bestCredit - total);
    const buf = this.buffers.get(best)!;
    const item = buf.shift() as T;
    if (buf.length === 0) this.credit.set(best, 0);
    return { queue: best, item };
  }
}
