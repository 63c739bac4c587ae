// `vigil bench [suite]`: runs a benchmark suite and prints its table. Every suite measures
// vigil and the reference tools in the same run and reports ratios, because the machine is
// shared and absolute times mean little.

import type { Writable } from 'node:stream';
import { runHubBench } from './hub.js';
import { runZeekBench } from './zeek.js';

export const SUITES = ['zeek', 'hub'] as const;

export async function runBenchSuite(suite: string, opts: { lines?: number; out: Writable }): Promise<void> {
  const log = (line: string) => opts.out.write(`${line}\n`);
  switch (suite) {
    case 'zeek': {
      const result = await runZeekBench({ lines: opts.lines, log });
      log('');
      log('| tool | format | lines | lines/s | vigil ÷ tool |');
      log('|---|---|---:|---:|---:|');
      for (const r of result.rows) {
        log(
          `| ${r.tool} | ${r.format} | ${r.lines.toLocaleString('en-US')} | ${Math.round(r.linesPerSec).toLocaleString('en-US')} | ${r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}×`} |`,
        );
      }
      for (const note of result.notes) log(`note: ${note}`);
      return;
    }
    case 'hub': {
      const r = await runHubBench({ log });
      log('');
      log('| measure | value |');
      log('|---|---:|');
      log(`| summaries (per MQTT message) | ${r.summaries.toLocaleString('en-US')} (${r.perMessage}) |`);
      log(`| bytes per summary (JSON) | ${r.bytesPerSummary} |`);
      log(`| bare subscriber, summaries/s (transport ceiling) | ${Math.round(r.ceilingPerSec).toLocaleString('en-US')} |`);
      log(`| hub, summaries/s validated and stored | ${Math.round(r.hubPerSec).toLocaleString('en-US')} |`);
      log(`| hub ÷ ceiling | ${(r.hubPerSec / r.ceilingPerSec).toFixed(2)}× |`);
      log(`| latency creation → stored row at full load, p50 / p99 | ${r.latencyP50Ms} ms / ${r.latencyP99Ms} ms |`);
      log(
        `| latency at ${Math.round(r.pacedPerSec).toLocaleString('en-US')} summaries/s, p50 / p99 | ${r.pacedP50Ms} ms / ${r.pacedP99Ms} ms |`,
      );
      return;
    }
    default:
      throw new Error(`unknown benchmark suite "${suite}"; available: ${SUITES.join(', ')}`);
  }
}
