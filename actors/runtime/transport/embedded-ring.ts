/**
 * A growable FIFO ring buffer. Work queues hold up to millions of tasks in a
 * burst; Array#shift on such an array is O(n) per call in V8 once the array
 * leaves the fast path, so the hot path uses head/tail indices over a
 * power-of-two backing array instead.
 */
export class Ring<T> {
  private buf: (T | undefined)[];
  private mask: number;
  private head = 0;
  private tail = 0;

  constructor(initialCapacity = 1024) {
    let cap = 16;
    while (cap < initialCapacity) cap *= 2;
    this.buf = new Array<T | undefined>(cap);
    this.mask = cap - 1;
  }

  get length(): number {
    return (this.tail - this.head) & this.mask;
  }

  push(item: T): void {
    this.buf[this.tail] = item;
    this.tail = (this.tail + 1) & this.mask;
    if (this.tail === this.head) this.grow();
  }

  shift(): T | undefined {
    if (this.head === this.tail) return undefined;
    const item = this.buf[this.head];
    // Drop the reference so a consumed task can be collected.
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    return item;
  }

  /** The i-th item from the head (0: oldest). */
  at(i: number): T | undefined {
    return i >= 0 && i < this.length ? this.buf[(this.head + i) & this.mask] : undefined;
  }

  peek(): T | undefined {
    return this.head === this.tail ? undefined : this.buf[this.head];
  }

  clear(): void {
    this.buf = new Array<T | undefined>(16);
    this.mask = 15;
    this.head = 0;
    this.tail = 0;
  }

  private grow(): void {
    // Full: head === tail after the push. Unroll into a buffer twice the size.
    const old = this.buf;
    const cap = old.length;
    const next = new Array<T | undefined>(cap * 2);
    for (let i = 0; i < cap; i++) next[i] = old[(this.head + i) & this.mask];
    this.buf = next;
    this.head = 0;
    this.tail = cap;
    this.mask = cap * 2 - 1;
  }
}
