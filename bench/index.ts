// `vigil bench [suite]`: runs a benchmark suite and prints its table. Every suite measures
// vigil and the reference tools in the same run and reports ratios, because the machine is
// shared and absolute times mean little.

import type { Writable } from 'node:stream';
import { runZeekBench } from './zeek.js';

export const SUITES = ['zeek'] as const;

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
    default:
      throw new Error(`unknown benchmark suite "${suite}"; available: ${SUITES.join(', ')}`);
  }
}
