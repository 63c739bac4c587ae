// Offline replay: the whole pipeline in event time over files (Zeek conn logs today). The same
// input gives the same findings, in the same order, on every run.

import type { FlowRecord } from '../collectors/record.js';
import { readZeekFiles } from '../collectors/zeek/read.js';
import type { Finding } from '../detectors/detector.js';
import type { ResolvedConfig } from './config.js';
import { createDetectors } from './detectors.js';
import { expandInputs } from './inputs.js';
import type { IssueHandler } from './issues.js';
import { MetricsRegistry } from './metrics.js';
import { Pipeline } from './pipeline.js';

export interface ReplayOptions {
  inputs: readonly string[];
  resolved: ResolvedConfig;
  onFindings: (findings: Finding[]) => void | Promise<void>;
  onIssue: IssueHandler;
  metrics?: MetricsRegistry;
}

export interface ReplayResult {
  files: string[];
  records: number;
  findings: number;
  firstTs?: number;
  lastTs?: number;
  metrics: MetricsRegistry;
}

export async function runReplay(opts: ReplayOptions): Promise<ReplayResult> {
  const metrics = opts.metrics ?? new MetricsRegistry();
  const files = expandInputs(opts.inputs);
  const { detectors } = createDetectors(opts.resolved, metrics);
  let findings = 0;
  const pipeline = new Pipeline({
    detectors,
    metrics,
    onFindings: async (batch) => {
      findings += batch.length;
      await opts.onFindings(batch);
    },
  });
  let records = 0;
  let firstTs = Number.POSITIVE_INFINITY;
  let lastTs = Number.NEGATIVE_INFINITY;
  await readZeekFiles(
    files,
    { counters: metrics.counters('zeek'), onIssue: opts.onIssue, batchSize: opts.resolved.config.pipeline.batchSize },
    async (batch: FlowRecord[]) => {
      records += batch.length;
      for (const r of batch) {
        if (r.ts < firstTs) firstTs = r.ts;
        if (r.ts > lastTs) lastTs = r.ts;
      }
      await pipeline.sink(batch);
    },
  );
  await pipeline.finish();
  return {
    files,
    records,
    findings,
    firstTs: records > 0 ? firstTs : undefined,
    lastTs: records > 0 ? lastTs : undefined,
    metrics,
  };
}
