import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../agent/random.js';
import { TimerHeap, type Timed } from '../../../collectors/pcap/timerheap.js';

interface Item extends Timed {
  id: number;
}

describe('TimerHeap', () => {
  it('pops in due order through random inserts, moves (earlier and later) and deletes', () => {
    const rnd = mulberry32(7);
    const heap = new TimerHeap<Item>();
    const items: Item[] = Array.from({ length: 500 }, (_, id) => ({ id, due: 0, heapIndex: -1 }));
    const oracle = new Map<number, number>(); // id -> due, for items in the heap
    for (let step = 0; step < 5000; step++) {
      const it = items[Math.floor(rnd() * items.length)];
      const r = rnd();
      if (r < 0.6) {
        const due = Math.floor(rnd() * 1000);
        heap.set(it, due);
        oracle.set(it.id, due);
      } else if (r < 0.8) {
        const due = Math.floor(rnd() * 1000);
        const before = oracle.get(it.id);
        heap.setEarlier(it, due);
        oracle.set(it.id, before === undefined ? due : Math.min(before, due));
      } else {
        heap.delete(it);
        oracle.delete(it.id);
      }
      expect(heap.size).toBe(oracle.size);
    }
    const popped: number[] = [];
    for (let x = heap.pop(); x; x = heap.pop()) {
      expect(x.heapIndex).toBe(-1);
      expect(x.due).toBe(oracle.get(x.id));
      popped.push(x.due);
      oracle.delete(x.id);
    }
    expect(oracle.size).toBe(0);
    expect(popped.length).toBeGreaterThan(100);
    expect(popped).toEqual([...popped].sort((a, b) => a - b));
    expect(heap.peekDue()).toBe(Number.POSITIVE_INFINITY);
  });
});
