// The beacon detector end to end on generated check-ins: every jitter semantics at 0-90 % is
// reported with the right period, Poisson traffic at the same rate is not, allow-lists and
// strobes behave, and state survives snapshot/restore.

import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../agent/random.js';
import type { FlowRecord } from '../../../collectors/record.js';
import type { BeaconDetector } from '../../../detectors/beacon/detector.js';
import type { Finding } from '../../../detectors/detector.js';
import { beaconTimes, conn, detector, START } from './helpers.js';

const S = 60;
const HOURS = 6;

/** Gap generators: the jitter semantics of real C2 frameworks. */
const FAMILIES: Record<string, (j: number, r: () => number) => () => number> = {
  // Cobalt Strike: sleep × (1 − U[0, j])
  cobaltstrike: (j, r) => () => S * (1 - j * r()),
  // symmetric: sleep × (1 ± U[0, j])
  symmetric: (j, r) => () => S * (1 + j * (2 * r() - 1)),
  // Sliver: sleep + U[0, J) with J = j × sleep
  sliver: (j, r) => () => S + j * S * r(),
  // Mythic Poseidon: k in [0, J%), sleep ± S·k/100 by k's parity
  mythic: (j, r) => () => {
    const k = Math.floor(r() * Math.round(j * 100));
    const d = Math.floor((S * k) / 100);
    return k % 2 === 0 ? S + d : S - d;
  },
};

/** Run flows (time-sorted) through the detector in batches, flushing at the watermark like the agent. */
function stream(d: BeaconDetector, flows: FlowRecord[]): Finding[] {
  flows.sort((a, b) => a.ts - b.ts);
  const out: Finding[] = [];
  for (let i = 0; i < flows.length; i += 500) {
    const batch = flows.slice(i, i + 500);
    d.observe(batch);
    out.push(...d.flush(batch[batch.length - 1].ts));
  }
  out.push(...d.flush(Number.POSITIVE_INFINITY));
  return out;
}

/** Background: 30 hosts browsing popular sites in bursts (so prevalence means something). */
function background(r: () => number): FlowRecord[] {
  const flows: FlowRecord[] = [];
  const sites = ['93.184.216.34', '151.101.1.69', '142.250.74.110', '104.16.132.229'];
  for (let h = 0; h < 30; h++) {
    let t = START + r() * 600;
    while (t < START + HOURS * 3600) {
      const site = sites[Math.floor(r() * sites.length)];
      const burst = 1 + Math.floor(r() * 8);
      for (let b = 0; b < burst; b++) flows.push(conn(t + b * r() * 3, `10.1.0.${h + 10}`, site, { orig_bytes: Math.floor(400 + r() * 3000) }));
      t += -Math.log(1 - r()) * 900;
    }
  }
  return flows;
}

describe('beacon detector on generated check-ins', () => {
  for (const [family, make] of Object.entries(FAMILIES)) {
    it.for([0, 0.25, 0.5, 0.9])(`${family} at jitter %s is reported with its period`, (j) => {
      const r = mulberry32(1000 + Math.round(j * 100));
      const gap = make(j, r);
      const times = beaconTimes(START + 300, START + HOURS * 3600, gap);
      const flows = [...background(r), ...times.map((t) => conn(t, '10.1.0.99', '203.0.113.50', { orig_bytes: 300 + Math.floor(r() * 40) }))];
      const d = detector();
      const findings = stream(d, flows);
      const hit = findings.filter((f) => f.entity.id === '10.1.0.99->203.0.113.50:443/tcp');
      expect(hit.length, `findings: ${JSON.stringify(findings.map((f) => [f.entity.id, f.score]))}`).toBeGreaterThan(0);
      expect(hit[0]).toMatchObject({ detector: 'beacon', type: 'beacon.periodic', attack: ['T1071', 'T1573'] });
      // The mean gap of each semantics, within 15 %.
      const mean = family === 'cobaltstrike' ? S * (1 - j / 2) : family === 'sliver' ? S * (1 + j / 2) : S;
      const period = (hit[hit.length - 1].evidence as { period_s: number }).period_s;
      expect(Math.abs(period - mean) / mean).toBeLessThan(0.15);
      // Nothing else in the background is reported.
      expect(findings.filter((f) => f.entity.id !== '10.1.0.99->203.0.113.50:443/tcp')).toEqual([]);
    });
  }

  it('Poisson traffic at the same rate is not reported (40 pairs)', () => {
    const r = mulberry32(77);
    const flows: FlowRecord[] = background(r);
    for (let p = 0; p < 40; p++) {
      const times = beaconTimes(START + r() * 300, START + HOURS * 3600, () => -Math.log(1 - r()) * S);
      flows.push(...times.map((t) => conn(t, `10.2.0.${p + 1}`, `198.51.100.${p + 1}`, { orig_bytes: 300 })));
    }
    const d = detector();
    const findings = stream(d, flows);
    expect(findings.map((f) => [f.entity.id, f.score])).toEqual([]);
    expect(d.counters.get('stage2')).toBeGreaterThan(0); // some were looked at, and rejected
  });

  it('groups by server name whatever its case, across addresses (a CDN)', () => {
    const times = beaconTimes(START, START + 2 * 3600, () => 60);
    const d = detector();
    const flows = times.map((t, i) =>
      conn(t, '10.1.0.5', i % 2 === 0 ? '203.0.113.10' : '198.51.100.20', { server_name: i % 3 === 0 ? 'Updates.Example.NET' : 'updates.example.net' }),
    );
    stream(d, flows);
    d.finish(); // end of input: the last check-ins are scored too
    expect(d.trackedPairs).toBe(1);
    const [r] = [...d.results.values()];
    expect(r).toMatchObject({ server: expect.stringMatching(/^updates\.example\.net$/i), count: times.length });
  });

  it('counts an allow-listed service instead of reporting it', () => {
    const times = beaconTimes(START, START + 3 * 3600, () => 64);
    const d = detector();
    const flows = times.map((t) => conn(t, '10.1.0.5', '162.159.200.1', { proto: 'udp', resp_p: 123 }));
    flows.push(...times.map((t) => conn(t + 1, '10.1.0.5', '203.0.113.7', { server_name: 'a.pool.ntp.org' })));
    expect(stream(d, flows)).toEqual([]);
    expect(d.counters.get('allowlisted')).toBeGreaterThanOrEqual(2);
  });

  it('reports a strobe apart from beacons', () => {
    const times = beaconTimes(START, START + 1800, () => 1);
    const d = detector({ minStrobeConns: 1000 });
    const findings = stream(d, times.map((t) => conn(t, '10.1.0.5', '203.0.113.8')));
    expect(findings.map((f) => f.type)).toEqual(['beacon.strobe']);
  });

  it('ignores local-to-local, multicast and inbound traffic in the default outbound scope', () => {
    const times = beaconTimes(START, START + 3 * 3600, () => 60);
    const d = detector();
    const flows = [
      ...times.map((t) => conn(t, '10.1.0.5', '10.1.0.6')),
      ...times.map((t) => conn(t, '10.1.0.5', '239.255.255.250', { proto: 'udp', resp_p: 1900 })),
      ...times.map((t) => conn(t, '203.0.113.9', '10.1.0.5')),
    ];
    expect(stream(d, flows)).toEqual([]);
    expect(d.trackedPairs).toBe(0);
  });

  it('gives the same findings after a snapshot/restore in the middle', () => {
    const r = mulberry32(5);
    const times = beaconTimes(START, START + HOURS * 3600, () => S * (1 - 0.3 * r()));
    const flows = times.map((t) => conn(t, '10.1.0.99', '203.0.113.50'));
    const whole = stream(detector(), flows.slice());
    const first = detector();
    const half = Math.floor(flows.length / 2);
    const a = stream(first, flows.slice(0, half)).filter(() => true);
    const second = detector();
    second.restore(JSON.parse(JSON.stringify(first.snapshot())));
    const b = stream(second, flows.slice(half));
    expect(whole.length).toBeGreaterThan(0);
    expect([...a, ...b].map((f) => f.id)).toEqual(whole.map((f) => f.id));
  });
});
