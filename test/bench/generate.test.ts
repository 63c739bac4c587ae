// The beacon benchmark's generator: deterministic, consistent labels, and beacons that follow
// their family's jitter definition and their corruption.

import { describe, expect, it } from 'vitest';
import { generateBeaconSet, localHour, localWeekday } from '../../bench/beacon/generate.js';
import { pairKeyOf } from '../../detectors/beacon/key.js';
import type { FlowRecord } from '../../collectors/record.js';

function flowsByPair(flows: FlowRecord[]): Map<string, FlowRecord[]> {
  const m = new Map<string, FlowRecord[]>();
  for (const f of flows) {
    const k = pairKeyOf(f);
    let a = m.get(k);
    if (a === undefined) m.set(k, (a = []));
    a.push(f);
  }
  return m;
}

/** Gaps between check-ins (conn starts more than 0.5 s apart: a quick retry is the same check-in). */
function gaps(fs: FlowRecord[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < fs.length; i++) out.push(fs[i].ts - fs[i - 1].ts);
  return out;
}

describe('generateBeaconSet', () => {
  const small = generateBeaconSet({ seed: 7, scale: 0.1 });

  it('gives a set of useful size at scale 0.1 (what the unit tests use)', () => {
    expect(small.flows.length).toBeGreaterThan(10_000);
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const a = generateBeaconSet({ seed: 3, scale: 0.02, hours: 6 });
    const b = generateBeaconSet({ seed: 3, scale: 0.02, hours: 6 });
    const c = generateBeaconSet({ seed: 4, scale: 0.02, hours: 6 });
    expect(b.flows).toEqual(a.flows);
    expect(b.pairs).toEqual(a.pairs);
    expect(c.flows.length === a.flows.length && c.flows[0].uid === a.flows[0].uid).toBe(false);
  });

  it('sorts flows by ts inside the window, with unique uids and outbound fields', () => {
    const [w0, w1] = small.window;
    const uids = new Set<string>();
    let bad = 0;
    for (let i = 0; i < small.flows.length; i++) {
      const f = small.flows[i];
      if (i > 0 && f.ts < small.flows[i - 1].ts) bad++;
      if (!(f.ts >= w0 && f.ts < w1) || !f.orig_h.startsWith('10.') || f.local_orig !== true) bad++;
      uids.add(f.uid);
    }
    expect(bad).toBe(0);
    expect(uids.size).toBe(small.flows.length);
  });

  it('labels every pair present, with conns matching the flows', () => {
    const byPair = flowsByPair(small.flows);
    const keys = new Set(small.pairs.map((p) => p.key));
    expect(keys.size).toBe(small.pairs.length);
    for (const k of byPair.keys()) expect(keys.has(k)).toBe(true);
    for (const p of small.pairs) {
      expect(p.conns).toBeGreaterThan(0);
      expect(byPair.get(p.key)?.length).toBe(p.conns);
      if (p.label === 'c2') expect(p.checkins).toBeGreaterThan(0);
    }
  });

  it('has at least 10 benign pairs per c2 pair, with some unique periodic hard negatives', () => {
    const c2 = small.pairs.filter((p) => p.label === 'c2').length;
    const benign = small.pairs.length - c2;
    expect(c2).toBeGreaterThan(50);
    expect(benign / c2).toBeGreaterThanOrEqual(10);
    const unique = small.pairs.filter((p) => ['saasagent', 'license'].includes(p.family)).length;
    expect(unique / benign).toBeGreaterThan(0.01);
    // Every family, period, jitter and corruption is represented even at scale 0.1.
    const c2p = small.pairs.filter((p) => p.label === 'c2');
    expect(new Set(c2p.map((p) => p.family)).size).toBe(4);
    expect(new Set(c2p.map((p) => p.period)).size).toBe(9);
    expect(new Set(c2p.map((p) => p.jitter)).size).toBe(6);
    expect(new Set(c2p.map((p) => p.corruption)).size).toBe(7);
  });

  const TOL = 1.5; // a check-in's own duration and processing delay the next one
  const cases: [string, number, number, (s: number, j: number) => [number, number]][] = [
    ['cobaltstrike', 60, 0.5, (s, j) => [s * (1 - j), s]],
    ['cobaltstrike', 30, 0.9, (s, j) => [s * (1 - j), s]],
    ['symmetric', 60, 0.25, (s, j) => [s * (1 - j), s * (1 + j)]],
    ['sliver', 60, 0.5, (s, j) => [s, s + j * s]],
    ['sliver', 30, 0.25, (s, j) => [s, s + j * s]],
    ['mythic', 60, 0.5, (s, j) => [Math.floor(s * (1 - j)), s * (1 + j)]],
  ];
  for (const [family, period, jitter, bounds] of cases) {
    it(`${family} S=${period} j=${jitter}: every gap follows the definition`, () => {
      const set = generateBeaconSet({ seed: 11, scale: 3, hosts: 4, families: [family], periods: [period], jitters: [jitter], corruptions: ['none'], hours: 6 });
      const byPair = flowsByPair(set.flows);
      const [lo, hi] = bounds(period, jitter);
      let all: number[] = [];
      for (const p of set.pairs.filter((x) => x.label === 'c2')) {
        const g = gaps(byPair.get(p.key)!);
        expect(p.checkins).toBe(p.conns);
        all = all.concat(g);
      }
      expect(all.length).toBeGreaterThan(30);
      for (const g of all) {
        expect(g).toBeGreaterThanOrEqual(lo - 0.001);
        expect(g).toBeLessThan(hi + TOL);
      }
      // The gaps spread over the range, not at one end.
      if (jitter > 0) {
        const mid = (lo + hi) / 2;
        expect(all.filter((g) => g < mid).length).toBeGreaterThan(all.length * 0.2);
        expect(all.filter((g) => g > mid).length).toBeGreaterThan(all.length * 0.2);
      }
    });
  }

  it('officehours: no check-ins outside 08:00-18:00 on weekdays of the host', () => {
    const set = generateBeaconSet({ seed: 5, scale: 1, hosts: 10, families: ['symmetric'], periods: [300, 60], jitters: [0.1], corruptions: ['officehours'], hours: 72 });
    const c2 = new Set(set.pairs.filter((p) => p.label === 'c2').map((p) => p.key));
    let n = 0;
    for (const f of set.flows) {
      if (!c2.has(pairKeyOf(f))) continue;
      n++;
      const tz = set.hostTz[f.orig_h];
      const h = localHour(f.ts, tz);
      expect(h >= 8 && h < 18).toBe(true);
      expect([0, 6]).not.toContain(localWeekday(f.ts, tz));
    }
    expect(n).toBeGreaterThan(20);
  });

  it('missed: fewer check-ins than the span allows', () => {
    const set = generateBeaconSet({ seed: 9, scale: 4, hosts: 3, families: ['cobaltstrike'], periods: [60], jitters: [0], corruptions: ['missed'], hours: 12 });
    const byPair = flowsByPair(set.flows);
    for (const p of set.pairs.filter((x) => x.label === 'c2')) {
      const fs = byPair.get(p.key)!;
      const span = fs[fs.length - 1].ts - fs[0].ts;
      expect(p.checkins!).toBeLessThan(span / 60);
      expect(p.checkins!).toBeGreaterThan((span / 60) * 0.6);
    }
  });

  it('tasking adds bursts; failed adds unanswered attempts; sleepchange changes the gap', () => {
    const t = generateBeaconSet({ seed: 2, scale: 2, hosts: 5, families: ['cobaltstrike'], periods: [300], jitters: [0.1], corruptions: ['tasking', 'failed', 'sleepchange'], hours: 24 });
    const byPair = flowsByPair(t.flows);
    for (const p of t.pairs.filter((x) => x.label === 'c2')) {
      const fs = byPair.get(p.key)!;
      const g = gaps(fs);
      if (p.corruption === 'tasking') {
        expect(p.conns).toBeGreaterThan(p.checkins!);
        expect(g.some((x) => x < 10)).toBe(true);
      } else if (p.corruption === 'failed') {
        expect(fs.some((f) => f.conn_state === 'S0' || f.conn_state === 'REJ')).toBe(true);
        expect(fs.some((f) => f.conn_state === 'SF')).toBe(true);
      } else {
        const off = g.filter((x) => x < 300 * 0.9 - 1 || x > 300 + 2);
        expect(off.length).toBeGreaterThan(0);
      }
    }
  });
});
