// Wires record batches into the detectors in event time. The watermark is the newest record
// time seen; after every batch each detector is told how far event time has advanced and
// returns the findings of its completed windows. Nothing here reads the wall clock.

import type { RecordSink } from '../collectors/collector.js';
import type { VigilRecord } from '../collectors/record.js';
import type { Detector, Finding } from '../detectors/detector.js';
import type { Counters, MetricsRegistry } from './metrics.js';

export interface PipelineContext {
  detectors: readonly Detector[];
  /** Receives the findings of each flush, in a deterministic order. Awaited (backpressure). */
  onFindings: (findings: Finding[]) => void | Promise<void>;
  metrics: MetricsRegistry;
}

export class Pipeline {
  /** Newest event time seen, seconds since the epoch. */
  watermark = Number.NEGATIVE_INFINITY;
  private readonly counters: Counters;

  constructor(private readonly ctx: PipelineContext) {
    this.counters = ctx.metrics.counters('pipeline');
  }

  /** The sink collectors push into. */
  readonly sink: RecordSink = async (batch) => {
    this.counters.received += batch.length;
    let newest = this.watermark;
    for (const rec of batch) if (rec.ts > newest) newest = rec.ts;
    for (const d of this.ctx.detectors) {
      try {
        d.observe(batch);
      } catch (err) {
        // One detector's bug must not stop the others or the collectors.
        d.counters.errors++;
        this.counters.errors++;
        process.emitWarning(`detector ${d.name} failed on a batch: ${(err as Error).message}`);
      }
    }
    this.watermark = newest;
    await this.flush(newest);
  };

  /** End of input (replay): closes every open window. */
  async finish(): Promise<void> {
    await this.flush(Number.POSITIVE_INFINITY);
  }

  private async flush(eventTime: number): Promise<void> {
    if (eventTime === Number.NEGATIVE_INFINITY) return;
    const findings: Finding[] = [];
    for (const d of this.ctx.detectors) {
      try {
        findings.push(...d.flush(eventTime));
      } catch (err) {
        d.counters.errors++;
        this.counters.errors++;
        process.emitWarning(`detector ${d.name} failed to flush: ${(err as Error).message}`);
      }
    }
    if (findings.length === 0) return;
    findings.sort(compareFindings);
    this.counters.emitted += findings.length;
    await this.ctx.onFindings(findings);
  }
}

/** Window end, then detector, then entity: a stable order for identical output every run. */
export function compareFindings(a: Finding, b: Finding): number {
  return (
    a.window[1] - b.window[1] ||
    a.window[0] - b.window[0] ||
    cmp(a.detector, b.detector) ||
    cmp(a.entity.id, b.entity.id) ||
    cmp(a.id, b.id)
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export type { VigilRecord };
