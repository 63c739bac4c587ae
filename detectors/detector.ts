// The detector contract. Calls are never concurrent, so a detector needs no locking. Time is
// the records' time: `flush(eventTime)` tells the detector how far event time has advanced,
// and it returns the findings for every window that is now complete.

import type { Counters } from '../agent/metrics.js';
import type { VigilRecord } from '../collectors/record.js';

/** The entity a finding is about. */
export interface FindingEntity {
  /** `host`, `user`, `pair`, `service`, ... */
  type: string;
  /** Its identity: an address, an account, `src->dst:port`. */
  id: string;
}

export type Severity = 'info' | 'low' | 'medium' | 'high' | 'critical';

export interface Finding {
  /** Detector name (`baseline`, `beacon`, ...). */
  detector: string;
  /** What kind of anomaly within the detector (`volume.external_conns`). */
  type: string;
  /** Segment whose configuration applied. */
  segment: string;
  entity: FindingEntity;
  /** Event time the finding refers to (end of the window), seconds since the epoch. */
  ts: number;
  /** [start, end) of the window in seconds since the epoch. */
  window: [number, number];
  /** Overall score in [0, 1]. */
  score: number;
  /** Named sub-scores, each in [0, 1]. */
  subscores: Record<string, number>;
  severity: Severity;
  /** Why it scored: the value, the baseline it was compared with, and the statistics used. */
  evidence: Record<string, unknown>;
  /** One line a person can read. */
  summary: string;
  /**
   * Stable identifier for suppression of repeats: the same detector, type, entity and window
   * always give the same id.
   */
  id: string;
  /** MITRE ATT&CK technique ids (`T1048`, `T1071.001`). */
  attack: string[];
}

export interface Detector {
  readonly name: string;
  readonly counters: Counters;
  /** Takes a batch of records in (roughly) event-time order. Records it does not use are ignored. */
  observe(batch: readonly VigilRecord[]): void;
  /** Event time has reached `eventTime` (seconds): returns findings for completed windows. */
  flush(eventTime: number): Finding[];
  /** Serialisable state, persisted to SQLite. */
  snapshot(): unknown;
  /** Restores what `snapshot` returned (possibly from an older run). */
  restore(state: unknown): void;
}

/** Maps a score in [0,1] to a severity; one scale for every detector. */
export function severityFor(score: number): Severity {
  if (score >= 0.9) return 'critical';
  if (score >= 0.75) return 'high';
  if (score >= 0.5) return 'medium';
  if (score >= 0.25) return 'low';
  return 'info';
}

/** Clamps to [0,1]; a NaN becomes 0 so that a broken statistic never raises an alert. */
export function clamp01(x: number): number {
  if (!(x > 0)) return 0;
  return Math.min(x, 1);
}
