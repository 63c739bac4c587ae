// Small builders for beacon tests: flows of one pair at given times, and a detector with the
// default configuration (overridable).

import { Counters } from '../../../agent/metrics.js';
import { CidrSet, DEFAULT_LOCAL_NETS } from '../../../agent/netaddr.js';
import type { FlowRecord } from '../../../collectors/record.js';
import { type BeaconConfig, beaconConfigSchema } from '../../../detectors/beacon/config.js';
import { BeaconDetector } from '../../../detectors/beacon/detector.js';

export const START = Date.UTC(2026, 9, 5) / 1000; // a Monday

let uid = 0;
export function conn(ts: number, src: string, dst: string, extra: Partial<FlowRecord> = {}): FlowRecord {
  return {
    kind: 'flow',
    ts,
    uid: `Cb${uid++}`,
    orig_h: src,
    orig_p: 40000 + (uid % 20000),
    resp_h: dst,
    resp_p: 443,
    proto: 'tcp',
    duration: 0.2,
    orig_bytes: 310,
    resp_bytes: 140,
    conn_state: 'SF',
    ...extra,
  };
}

export function detector(overrides: Partial<BeaconConfig> = {}, keep = true): BeaconDetector {
  const cfg = beaconConfigSchema.parse(overrides);
  const local = CidrSet.parse(DEFAULT_LOCAL_NETS);
  return new BeaconDetector(
    { counters: new Counters('beacon'), segmentOf: () => 'default', isLocal: (a) => local.has(a), configFor: () => cfg },
    cfg,
    keep,
  );
}

/** Times of a beacon: start, then `next(previousGap)` seconds between check-ins until `end`. */
export function beaconTimes(start: number, end: number, gap: () => number): number[] {
  const out: number[] = [];
  for (let t = start; t < end; t += gap()) out.push(t);
  return out;
}
