// Builds the configured detectors with their context (segments, locality, live tuning).

import { BaselineDetector } from '../detectors/baseline/detector.js';
import { BeaconDetector } from '../detectors/beacon/detector.js';
import type { Detector } from '../detectors/detector.js';
import type { ResolvedConfig } from './config.js';
import type { MetricsRegistry } from './metrics.js';
import { DEFAULT_SEGMENT, SegmentMap } from './segments.js';

export function createDetectors(
  resolved: ResolvedConfig,
  metrics: MetricsRegistry,
): { detectors: Detector[]; segments: SegmentMap } {
  const segments = new SegmentMap(resolved);
  const detectors: Detector[] = [];
  const global = segments.detectorsFor(DEFAULT_SEGMENT);
  if (global.baseline.enabled || segments.names.some((s) => segments.detectorsFor(s).baseline.enabled)) {
    detectors.push(
      new BaselineDetector(
        {
          counters: metrics.counters('baseline'),
          segmentOf: (a, v) => segments.segmentOf(a, v),
          isLocal: (a) => segments.isLocal(a),
          configFor: (s) => segments.detectorsFor(s).baseline,
        },
        global.baseline,
      ),
    );
  }
  if (global.beacon.enabled || segments.names.some((s) => segments.detectorsFor(s).beacon.enabled)) {
    detectors.push(
      new BeaconDetector(
        {
          counters: metrics.counters('beacon'),
          segmentOf: (a, v) => segments.segmentOf(a, v),
          isLocal: (a) => segments.isLocal(a),
          configFor: (s) => segments.detectorsFor(s).beacon,
        },
        global.beacon,
      ),
    );
  }
  return { detectors, segments };
}
