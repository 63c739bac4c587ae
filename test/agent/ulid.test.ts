// ULIDs: the format, the encoded time, and strict order within one millisecond.

import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../agent/clock.js';
import { ULID_PATTERN, UlidGenerator, ulidTime } from '../../agent/ulid.js';

describe('ulid', () => {
  it('encodes the clock time and sorts in creation order, also within one millisecond', () => {
    const clock = new ManualClock(1_790_000_000_123);
    const gen = new UlidGenerator(clock);
    const ids = Array.from({ length: 1000 }, () => gen.next());
    clock.advance(1);
    ids.push(gen.next());
    for (const id of ids) expect(id).toMatch(ULID_PATTERN);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    expect(ulidTime(ids[0])).toBe(1_790_000_000_123);
    expect(ulidTime(ids[1000])).toBe(1_790_000_000_124);
  });

  it('never goes backwards when the clock does', () => {
    const clock = new ManualClock(2_000_000);
    const gen = new UlidGenerator(clock);
    const a = gen.next();
    clock.set(1_000_000);
    const b = gen.next();
    expect(b > a).toBe(true);
  });
});
