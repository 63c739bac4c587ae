// An indexed binary min-heap of timed items: each item is in the heap at most once, remembers
// its own position, and can be moved earlier or removed in O(log n). The flow table uses it so
// that a sweep looks only at flows whose next timer is due, instead of walking every open flow
// once a second of packet time.

export interface Timed {
  /** When the item is next due (seconds); meaningful only while heapIndex >= 0. */
  due: number;
  /** Position in the heap; -1 when not in it. */
  heapIndex: number;
}

export class TimerHeap<T extends Timed> {
  private items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  /** The earliest due time, or Infinity when empty. */
  peekDue(): number {
    return this.items.length > 0 ? this.items[0].due : Number.POSITIVE_INFINITY;
  }

  /** Schedules `item` at `due`, or moves it there if it is already scheduled. */
  set(item: T, due: number): void {
    if (item.heapIndex < 0) {
      item.due = due;
      item.heapIndex = this.items.length;
      this.items.push(item);
      this.up(item.heapIndex);
    } else if (due < item.due) {
      item.due = due;
      this.up(item.heapIndex);
    } else if (due > item.due) {
      item.due = due;
      this.down(item.heapIndex);
    }
  }

  /** Schedules `item` at `due` unless it is already scheduled at or before it. */
  setEarlier(item: T, due: number): void {
    if (item.heapIndex < 0 || due < item.due) this.set(item, due);
  }

  /** The earliest item, left in place. */
  peek(): T | undefined {
    return this.items[0];
  }

  /** Removes and returns the earliest item. */
  pop(): T | undefined {
    const items = this.items;
    if (items.length === 0) return undefined;
    const top = items[0];
    const last = items.pop() as T;
    if (last !== top) {
      items[0] = last;
      last.heapIndex = 0;
      this.down(0);
    }
    top.heapIndex = -1;
    return top;
  }

  delete(item: T): void {
    const i = item.heapIndex;
    if (i < 0) return;
    const items = this.items;
    const last = items.pop() as T;
    item.heapIndex = -1;
    if (last === item) return;
    items[i] = last;
    last.heapIndex = i;
    this.up(i);
    this.down(last.heapIndex);
  }

  private up(i: number): void {
    const items = this.items;
    const item = items[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p];
      if (parent.due <= item.due) break;
      items[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    items[i] = item;
    item.heapIndex = i;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const item = items[i];
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && items[c + 1].due < items[c].due) c++;
      const child = items[c];
      if (child.due >= item.due) break;
      items[i] = child;
      child.heapIndex = i;
      i = c;
    }
    items[i] = item;
    item.heapIndex = i;
  }
}
