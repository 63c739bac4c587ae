// Shapes shared by the beacon benchmark's generator, its RITA reference and its harness.

import type { FlowRecord } from '../../collectors/record.js';

export type PairLabel = 'c2' | 'benign';

/** The ground truth for one (source, destination service) pair of the generated set. */
export interface LabelledPair {
  /** pairKeyOf() of the pair's flows (detectors/beacon/key.ts). */
  key: string;
  label: PairLabel;
  /**
   * What made it: for c2 the jitter semantics (`cobaltstrike`, `symmetric`, `sliver`,
   * `mythic`); for benign traffic its kind (`ntp`, `update`, `telemetry`, `scrape`,
   * `mailpoll`, `browsing`, `dns`, `fileserver`, `streaming`, `backup`, `retries`, ...).
   */
  family: string;
  /** Configured sleep / interval in seconds (periodic traffic only). */
  period?: number;
  /** Jitter as a fraction 0..0.9 (c2 only; for sliver: J / period). */
  jitter?: number;
  /**
   * Corruption applied to a c2 pair: `none`, `missed` (dropped check-ins), `tasking` (bursts of
   * extra connections), `officehours` (active 08:00-18:00 local only), `sleepchange` (the sleep
   * changes once mid-way), `offline` (the host is off at night), `failed` (the server stops
   * answering for a while: failed attempts).
   */
  corruption?: string;
  /** Number of connections of this pair in the set. */
  conns: number;
  /** Number of check-ins the beacon made (c2 only; a tasking burst counts once). */
  checkins?: number;
}

export interface GeneratedSet {
  /** Every connection, sorted by ts. */
  flows: FlowRecord[];
  /** One entry per pair present in flows. */
  pairs: LabelledPair[];
  /** [start, end) of the observation window, seconds since the epoch. */
  window: [number, number];
  /** Local networks of the generated site (sources are inside, C2 and internet services outside). */
  localNets: string[];
}
