/**
 * A binary min-heap keyed by a number (due time). Used for nak delays: one
 * timer armed for the earliest entry instead of one timer per message.
 */
export class MinHeap<T> {
  private readonly items: T[] = [];
  private readonly key: (item: T) => number;

  constructor(key: (item: T) => number) {
    this.key = key;
  }

  get length(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    const k = this.key(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = a[parent]!;
      if (this.key(p) <= k) break;
      a[i] = p;
      i = parent;
    }
    a[i] = item;
  }

  pop(): T | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      let i = 0;
      const k = this.key(last);
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const r = l + 1;
        const c = r < a.length && this.key(a[r]!) < this.key(a[l]!) ? r : l;
        if (this.key(a[c]!) >= k) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }

  clear(): void {
    this.items.length = 0;
  }
}
