// ULIDs (26 characters, Crockford base32: 48-bit millisecond time + 80 random bits) for summary
// ids: unique across sensors without coordination, and sortable by creation time. Monotonic
// within one millisecond so ids from one sensor sort in the order they were made.

import { randomFillSync } from 'node:crypto';
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const ULID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;

export class UlidGenerator {
  private lastMs = -1;
  private readonly random = new Uint8Array(10);

  constructor(private readonly clock: Clock = systemClock) {}

  next(): string {
    const ms = Math.max(this.clock.now(), this.lastMs);
    if (ms === this.lastMs) {
      // Same millisecond: increment the random part so the order is kept.
      let i = 9;
      while (i >= 0 && this.random[i] === 255) this.random[i--] = 0;
      if (i < 0) throw new Error('ULID random part overflowed within one millisecond');
      this.random[i]++;
    } else {
      randomFillSync(this.random);
      this.lastMs = ms;
    }
    return encodeTime(ms) + encodeRandom(this.random);
  }
}

function encodeTime(ms: number): string {
  let out = '';
  let t = ms;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[t % 32] + out;
    t = Math.floor(t / 32);
  }
  return out;
}

function encodeRandom(bytes: Uint8Array): string {
  // 80 bits → 16 characters of 5 bits each.
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

/** Milliseconds since the epoch encoded in a ULID. */
export function ulidTime(id: string): number {
  let t = 0;
  for (let i = 0; i < 10; i++) t = t * 32 + ALPHABET.indexOf(id[i]);
  return t;
}
