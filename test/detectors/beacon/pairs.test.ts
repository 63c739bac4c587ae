// Stage 1: check-in merging, late records, histogram quantiles, bounded pair table.

import { describe, expect, it } from 'vitest';
import { gapBin, histQuantile, PairState, RING } from '../../../detectors/beacon/pairs.js';
import { conn, detector, START } from './helpers.js';

describe('beacon stage 1', () => {
  it('merges connections within max(2 s, 2 % of the period) into one check-in and counts failed ones', () => {
    const p = new PairState('default', '10.0.0.1', 'x', '1.2.3.4', 443, 'tcp', undefined, START);
    expect(p.add(START, 100, 50, false, 2, 0.02)).toBe(true);
    expect(p.add(START + 1.5, 100, 50, true, 2, 0.02)).toBe(false); // a retry 1.5 s later
    expect(p.add(START + 60, 100, 50, false, 2, 0.02)).toBe(true);
    expect(p).toMatchObject({ conns: 3, checkins: 2, merged: 1, failed: 1 });
    const s = p.series();
    expect([...s.times]).toEqual([START, START + 60]);
    expect([...s.orig]).toEqual([200, 100]); // the merged connection's bytes belong to its check-in
  });

  it('widens the merge window to 2 % of a long period', () => {
    const p = new PairState('default', '10.0.0.1', 'x', '1.2.3.4', 443, 'tcp', undefined, START);
    for (let i = 0; i < 16; i++) p.add(START + i * 3600, 1, 1, false, 2, 0.02);
    expect(p.period).toBeGreaterThan(3000);
    // 60 s after a check-in is within 2 % of an hour (72 s): merged.
    expect(p.add(START + 15 * 3600 + 60, 1, 1, false, 2, 0.02)).toBe(false);
  });

  it('keeps the ring in time order when a record arrives late, and keeps only the last RING check-ins', () => {
    const p = new PairState('default', '10.0.0.1', 'x', '1.2.3.4', 443, 'tcp', undefined, START);
    p.add(START, 1, 1, false, 2, 0.02);
    p.add(START + 100, 1, 1, false, 2, 0.02);
    p.add(START + 50, 1, 1, false, 2, 0.02); // logged late (Zeek logs at the end of a connection)
    expect([...p.series().times]).toEqual([START, START + 50, START + 100]);
    for (let i = 2; i < 500; i++) p.add(START + i * 100, 1, 1, false, 2, 0.02);
    const s = p.series();
    expect(s.n).toBe(RING);
    expect(s.times[RING - 1]).toBe(START + 499 * 100);
    for (let i = 1; i < s.n; i++) expect(s.times[i]).toBeGreaterThan(s.times[i - 1]);
  });

  it('reads quantiles off the log histogram within one bin (26 %)', () => {
    const hist = new Uint16Array(64);
    for (const g of [50, 55, 60, 60, 60, 65, 70]) hist[gapBin(g)]++;
    const median = histQuantile(hist, 7, 0.5);
    expect(median).toBeGreaterThan(60 / 1.26);
    expect(median).toBeLessThan(60 * 1.26);
  });

  it('1 M pairs of light traffic stay within the configured cap, with evictions counted', () => {
    const d = detector({ maxPairs: 50_000, maxDestinations: 20_000 });
    // A real beacon in the middle of the flood: one check-in per 1,000 light connections.
    let t = START;
    for (let i = 0; i < 1_000_000; i++) {
      t += 0.01;
      const a = `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
      d.observeFlow(conn(t, a, `198.51.${(i >>> 8) & 255}.${i & 255}`));
      if (i % 1000 === 0) d.observeFlow(conn(t, '10.99.0.1', '203.0.113.9'));
    }
    expect(d.trackedPairs).toBeLessThanOrEqual(50_000);
    expect(d.trackedDestinations).toBeLessThanOrEqual(20_000);
    const evicted = d.counters.get('evicted');
    expect(evicted).toBe(1_000_000 + 1 - d.trackedPairs);
    expect(d.counters.get('dest_evicted')).toBeGreaterThan(0);
    // The busy pair was touched between sweeps and survived.
    expect(d.snapshot()).toMatchObject({ pairs: expect.arrayContaining([expect.arrayContaining(['10.99.0.1'])]) });
  });
});
