// The RITA v5 reference scorer of the beacon benchmark: extreme cases, sub-scores checked
// against hand computations, RITA's eligibility thresholds, input order, and the grouping of
// FlowRecords into RITA's SNI and IP pairs.

import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../agent/random.js';
import { type RitaConn, ritaBeaconScore, ritaScoreFlows } from '../../bench/beacon/rita.js';
import type { FlowRecord } from '../../collectors/record.js';

const DAY = 86400;
/** An hour-aligned start (2023-11-14 22:00:00 UTC). */
const T = 1_699_999_200;

function regular(start: number, every: number, until: number, size: number): RitaConn[] {
  const out: RitaConn[] = [];
  for (let t = start; t < until; t += every) out.push({ ts: t, orig_ip_bytes: size });
  return out;
}

function poisson(seed: number, start: number, mean: number, until: number, size: () => number): RitaConn[] {
  const rnd = mulberry32(seed);
  const out: RitaConn[] = [];
  for (let t = start; t < until; t += -mean * Math.log(1 - rnd())) out.push({ ts: t, orig_ip_bytes: size() });
  return out;
}

function shuffled<X>(xs: readonly X[], seed: number): X[] {
  const rnd = mulberry32(seed);
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

describe('ritaBeaconScore', () => {
  it('gives a perfectly regular pair RITA’s maximum', () => {
    // Every 60 s for 24 h, 500 bytes each: all gaps 60 (skew 0, MAD 0 -> ts 1), all sizes 500
    // (ds 1), 60 connections in each of the 24 bins (cv 0 -> hist 1), coverage
    // ceil3(86340 / 86400) = 1 and a 24-bin run (dur 1).
    const s = ritaBeaconScore(regular(T, 60, T + DAY, 500), T, T + DAY);
    expect(s).toBeDefined();
    expect(s!.score).toBe(1);
    expect([s!.ts, s!.ds, s!.hist, s!.dur]).toEqual([1, 1, 1, 1]);
    expect(s!.histogram).toEqual(new Array(24).fill(60));
    expect(s!.count).toBe(1440);
  });

  it('scores a Poisson pair clearly lower', () => {
    // Exponential gaps of mean 60 s: Bowley skew ~ 0.26 and MAD/median ~ 0.7, so ts ~ 0.5; the
    // hourly counts still look flat (hist ~ 0.87) and the pair spans the day (dur 1).
    const constant = ritaBeaconScore(
      poisson(7, T, 60, T + DAY, () => 500),
      T,
      T + DAY,
    )!;
    expect(constant.ts).toBeGreaterThan(0.4);
    expect(constant.ts).toBeLessThan(0.65);
    expect(constant.ds).toBe(1);
    expect(constant.score).toBeLessThan(0.9);

    // With sizes uniform on 200..5199 too: Bowley ~ 0, MAD/median ~ 1250/2700, so ds ~ 0.77
    // instead of 1, and the total drops with it.
    const rnd = mulberry32(11);
    const varied = ritaBeaconScore(
      poisson(7, T, 60, T + DAY, () => 200 + Math.floor(rnd() * 5000)),
      T,
      T + DAY,
    )!;
    expect(varied.ds).toBeLessThan(0.8);
    expect(varied.score).toBeLessThan(constant.score);
    expect(varied.score).toBeLessThan(0.85);
  });

  it('matches a hand computation of every sub-score on a small pair', () => {
    // Dataset [T0, T0 + 2400]: 24 bins of 100 s. Nine connections at these offsets (the
    // fractional ones truncate to whole seconds, 342.4 duplicates 342):
    //   0, 60, 190, 252.9, 342, 342.4, 402, 502, 567
    // Timestamps 0 60 190 252 342 342 402 502 567 -> 8 distinct (>= 4: scored).
    //
    // ts: gaps 60 130 62 90 0 60 100 65; zero dropped, sorted: 60 60 62 65 90 100 130 (n = 7).
    //   Odd n: Q1 = median(60 60 62) = 60, Q2 = 65, Q3 = median(90 100 130) = 100.
    //   IQR 40 >= 10, Q2 differs from Q1 and Q3: skew = (60 + 100 - 130) / 40 = 0.75 -> 0.25.
    //   |gap - 65| = 5 5 3 0 25 35 65 -> sorted 0 3 5 5 25 35 65, MAD = 5 -> (65 - 5)/65 = 0.923077.
    //   ts = round3((0.25 + 0.923077) / 2) = round3(0.586538) = 0.587.
    //
    // ds: sizes sorted 100 100 100 104 120 140 170 300 1000 (n = 9).
    //   Q1 = median(100 100 100 104) = 100, Q2 = 120, Q3 = median(140 170 300 1000) = 235.
    //   IQR 135: skew = (100 + 235 - 240) / 135 = 0.703704 -> 0.296296.
    //   |x - 120| sorted 0 16 20 20 20 20 50 180 880, MAD = 20 -> (120 - 20)/120 = 0.833333.
    //   ds = round3((0.296296 + 0.833333) / 2) = round3(0.564815) = 0.565.
    //
    // hist: bins of 100 s: [2 1 1 2 1 2] then 18 empty; mean 9/24 = 0.375,
    //   variance (3 x 1.625² + 3 x 0.625² + 18 x 0.375²) / 24 = 11.625 / 24 = 0.484375,
    //   sd 0.695971, cv 1.856 > 1 -> 0; only 6 bars (< 11) -> bimodal 0. hist = 0.
    //
    // dur: 6 bars (>= 6): coverage ceil3(567 / 2400 = 0.23625) = 0.237; longest run 6 bins
    //   (bin 23 is empty, so no wrap) -> ceil3(6 / 12) = 0.5. dur = 0.5.
    //
    // score = round3(0.25 x (0.587 + 0.565 + 0.5 + 0)) = round3(0.413) = 0.413.
    const T0 = 1_700_000_000;
    const offsets = [0, 60, 190, 252.9, 342, 342.4, 402, 502, 567];
    const sizes = [1000, 100, 300, 100, 170, 104, 140, 100, 120];
    const s = ritaBeaconScore(
      offsets.map((o, i) => ({ ts: T0 + o, orig_ip_bytes: sizes[i] })),
      T0,
      T0 + 2400,
    );
    expect(s).toBeDefined();
    expect(s!.uniqueTs).toBe(8);
    expect(s!.tsSkew).toBeCloseTo(0.75, 10);
    expect(s!.tsMadm).toBe(5);
    expect(s!.ts).toBe(0.587);
    expect(s!.dsSkew).toBeCloseTo(95 / 135, 10);
    expect(s!.dsMadm).toBe(20);
    expect(s!.ds).toBe(0.565);
    expect(s!.histogram.slice(0, 7)).toEqual([2, 1, 1, 2, 1, 2, 0]);
    expect(s!.cvScore).toBe(0);
    expect(s!.bimodalScore).toBe(0);
    expect(s!.hist).toBe(0);
    expect(s!.totalBars).toBe(6);
    expect(s!.longestRun).toBe(6);
    expect(s!.coverage).toBe(0.237);
    expect(s!.consistency).toBe(0.5);
    expect(s!.dur).toBe(0.5);
    expect(s!.score).toBe(0.413);
  });

  it('matches a hand computation of the histogram score with a two-level pattern', () => {
    // Connections per hour over a 24 h dataset (evenly spread inside each hour):
    //   4 8 4 8 4 8 4 8 6 4 8 4 8 4 8 4 8 6 4 3 4 4 4 0
    // = twelve 4s, eight 8s, two 6s, one 3, one empty hour; 127 connections, 23 bars.
    // cv: mean 127/24 = 5.291667; E[x²] = (12x16 + 8x64 + 2x36 + 9)/24 = 785/24 = 32.708333;
    //   variance 32.708333 - 28.001736 = 4.706597, sd 2.169469, cv 0.409977 -> round3(0.590023) = 0.59.
    // bimodal: bucket ceil(8 x 0.05) = 1, so buckets are the heights: {4: 12, 8: 8, 6: 2, 3: 1};
    //   23 bars >= 11: (12 + 8) / (23 - 1) = 0.909091 -> 0.909.
    // hist = max(0.59, 0.909) = 0.909.
    // dur: longest run 23 (wrapping from hour 0 back to hour 22) -> consistency 1; coverage
    //   (22 h + 3 x 900 s) / 24 h = 81900 / 86400 -> ceil3(0.947917) = 0.948. dur = 1.
    const counts = [4, 8, 4, 8, 4, 8, 4, 8, 6, 4, 8, 4, 8, 4, 8, 4, 8, 6, 4, 3, 4, 4, 4, 0];
    const conns: RitaConn[] = [];
    counts.forEach((c, h) => {
      for (let k = 0; k < c; k++) conns.push({ ts: T + h * 3600 + k * (3600 / c), orig_ip_bytes: 300 });
    });
    const s = ritaBeaconScore(conns, T, T + DAY)!;
    expect(s.histogram).toEqual(counts);
    expect(s.totalBars).toBe(23);
    expect(s.longestRun).toBe(23);
    expect(s.cvScore).toBe(0.59);
    expect(s.bimodalScore).toBe(0.909);
    expect(s.hist).toBe(0.909);
    expect(s.coverage).toBe(0.948);
    expect(s.consistency).toBe(1);
    expect(s.dur).toBe(1);
  });

  it('does not score pairs below the unique connection threshold, strobes, or an empty window', () => {
    // Three connections: fewer than 4 distinct timestamps.
    expect(ritaBeaconScore(regular(T, 60, T + 180, 100), T, T + DAY)).toBeUndefined();
    // Ten connections within three distinct whole seconds.
    const dup = [0, 0.2, 0.9, 60, 60.5, 60.7, 120, 120.1, 120.2, 120.9].map((o) => ({ ts: T + o, orig_ip_bytes: 90 }));
    expect(ritaBeaconScore(dup, T, T + DAY)).toBeUndefined();
    // Exactly four distinct timestamps is enough.
    expect(ritaBeaconScore(regular(T, 60, T + 240, 100), T, T + DAY)).toBeDefined();
    // 86400 connections (one per second for a day) is a strobe, not a beacon.
    expect(ritaBeaconScore(regular(T, 1, T + DAY, 60), T, T + DAY)).toBeUndefined();
    expect(ritaBeaconScore(regular(T, 60, T + DAY, 60), T + DAY, T + DAY)).toBeUndefined();
  });

  it('does not depend on the order of its input', () => {
    const rnd = mulberry32(3);
    const conns = poisson(5, T, 300, T + DAY, () => 100 + Math.floor(rnd() * 400));
    const a = ritaBeaconScore(conns, T, T + DAY);
    const b = ritaBeaconScore(shuffled(conns, 9), T, T + DAY);
    const c = ritaBeaconScore([...conns].reverse(), T, T + DAY);
    expect(a).toBeDefined();
    expect(b).toEqual(a);
    expect(c).toEqual(a);
  });
});

describe('ritaScoreFlows', () => {
  let n = 0;
  function flow(ts: number, orig_h: string, resp_h: string, resp_p: number, proto: 'tcp' | 'udp', server_name?: string): FlowRecord {
    return {
      kind: 'flow',
      ts,
      uid: `C${n++}`,
      orig_h,
      orig_p: 40000,
      resp_h,
      resp_p,
      proto,
      orig_ip_bytes: 400,
      resp_ip_bytes: 900,
      duration: 0.5,
      ...(server_name !== undefined ? { server_name } : {}),
    };
  }

  it('groups by IP pair and by source and server name, over the last 24 hours', () => {
    const start = T;
    const end = T + 2 * DAY;
    const flows: FlowRecord[] = [];
    // An IP beacon over 48 h (every 300 s) and a few extra connections to another port of the
    // same address: one RITA IP pair, reported under both of our keys.
    for (let t = start; t < end; t += 300) flows.push(flow(t, '10.0.0.1', '203.0.113.5', 443, 'tcp'));
    for (let k = 0; k < 3; k++) flows.push(flow(end - 5000 + k * 7, '10.0.0.1', '203.0.113.5', 80, 'tcp'));
    // An SNI beacon spread over two CDN addresses (every 600 s during the last day).
    for (let t = end - DAY, i = 0; t < end; t += 600, i++) {
      flows.push(flow(t + 3, '10.0.0.2', i % 2 === 0 ? '198.51.100.1' : '198.51.100.2', 443, 'tcp', 'C2.Example.com'));
    }
    // Unnamed traffic to one of those addresses: its IP pair is claimed by the SNI beacon.
    for (let k = 0; k < 6; k++) flows.push(flow(end - 20000 + k * 1000, '10.0.0.2', '198.51.100.1', 53, 'udp'));
    // Too few connections.
    for (let k = 0; k < 3; k++) flows.push(flow(end - 9000 + k * 60, '10.0.0.3', '192.0.2.9', 123, 'udp'));

    const scores = ritaScoreFlows(shuffled(flows, 1), [start, end]);
    expect([...scores.keys()].sort()).toEqual([
      '10.0.0.1>203.0.113.5:443/tcp',
      '10.0.0.1>203.0.113.5:80/tcp',
      '10.0.0.2>c2.example.com',
    ]);

    const ip = scores.get('10.0.0.1>203.0.113.5:443/tcp')!;
    expect(scores.get('10.0.0.1>203.0.113.5:80/tcp')).toBe(ip);
    // Only the last 24 h is read, from the start of the hour that contains it: the last
    // connection is at T + 2d - 300, the dataset starts 24 h before (T + 86100), whose hour
    // starts at T + 82800; beacon connections from there to T + 172500 every 300 s are
    // 300, plus the 3 extras.
    expect(ip.count).toBe(303);
    expect(ip.score).toBeGreaterThan(0.9);

    const sni = scores.get('10.0.0.2>c2.example.com')!;
    expect(sni.count).toBe(144);
    expect(sni.score).toBe(1);
  });
});
