// `vigil bench [suite]`: runs a benchmark suite and prints its table. Every suite measures
// vigil and the reference tools in the same run and reports ratios, because the machine is
// shared and absolute times mean little.

import type { Writable } from 'node:stream';
import { fitBeaconModel, runBeaconBench } from './beacon/index.js';
import { runHubBench } from './hub.js';
import { formatLiveBench, runLiveBench } from './live.js';
import { formatPcapBench, runPcapBench } from './pcap.js';
import { runZeekBench } from './zeek.js';

export const SUITES = ['zeek', 'hub', 'beacon', 'pcap', 'live'] as const;

export interface BenchOptions {
  lines?: number;
  scale?: number;
  seed?: number;
  fit?: boolean;
  packets?: number;
  /** live suite: datagrams to send, target packets/s, the agent's ring (MiB), no run without detectors. */
  count?: number;
  rate?: number;
  bufferMib?: number;
  detectorsOnly?: boolean;
  hostLo?: boolean;
  out: Writable;
}

export async function runBenchSuite(suite: string, opts: BenchOptions): Promise<void> {
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
    case 'beacon': {
      if (opts.fit) {
        const model = await fitBeaconModel({ trainSeeds: [101, 102, 103], scale: opts.scale ?? 0.5, log });
        log('');
        log('fitted model (paste into detectors/beacon/score.ts):');
        log(JSON.stringify(model, null, 2));
        return;
      }
      const r = await runBeaconBench({ seed: opts.seed, scale: opts.scale, log });
      const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
      log('');
      log(`${r.pairs.toLocaleString('en-US')} pairs (${r.positives} beacons, ${r.negatives.toLocaleString('en-US')} benign), ${r.flows.toLocaleString('en-US')} connections`);
      log('');
      log('| measure | vigil | RITA v5 score (reference) |');
      log('|---|---:|---:|');
      log(`| PR-AUC | ${r.vigil.prAuc.toFixed(3)} | ${r.rita.prAuc.toFixed(3)} |`);
      log(`| recall at FPR 1e-3 | ${pct(r.vigil.recallAt1e3)} | ${pct(r.rita.recallAt1e3)} |`);
      log(`| recall at FPR 1e-2 | ${pct(r.vigil.recallAt1e2)} | ${pct(r.rita.recallAt1e2)} |`);
      log(`| recall at FPR 1e-3, jitter <= 50 %, >= 20 check-ins | ${pct(r.vigil.recallEasy)} | ${pct(r.rita.recallEasy)} |`);
      log(`| recall at FPR 1e-3, jitter 90 %, >= 20 check-ins | ${pct(r.vigil.recall90)} | ${pct(r.rita.recall90)} |`);
      log(`| score threshold for FPR 1e-3 | ${r.vigil.threshold1e3.toFixed(3)} | ${r.rita.threshold1e3.toFixed(3)} |`);
      log(`| connections/s, whole detector (streamed) | ${Math.round(r.pipelinePerSec).toLocaleString('en-US')} | ${Math.round(r.ritaPerSec).toLocaleString('en-US')} |`);
      log('');
      log(`vigil at its default alertScore ${r.alert.threshold}: recall ${pct(r.alert.recall)}, false-positive rate ${r.alert.fpr.toExponential(1)} (${r.alert.fp} benign pairs)`);
      log(`period error of detected beacons (vs the mean gap of their semantics): median ${pct(r.periodError.median)}, p90 ${pct(r.periodError.p90)} (${r.periodError.n} beacons)`);
      log(
        `stage 1: ${Math.round(r.stage1PerSec).toLocaleString('en-US')} connections/s (a loop reading the same fields of the same records: ${Math.round(r.stage1FloorPerSec).toLocaleString('en-US')}/s), ${Math.round(r.bytesPerPair)} bytes per tracked pair (${r.trackedPairs.toLocaleString('en-US')} pairs); stage 2 ran ${r.stage2Runs.toLocaleString('en-US')} times`,
      );
      log('');
      log('recall at FPR 1e-3 by family and jitter (vigil / RITA):');
      const jitters = [...new Set(r.byFamily.map((b) => b.jitter))].sort((a, b) => a - b);
      log(`| family | ${jitters.map((j) => `j=${Math.round(j * 100)}%`).join(' | ')} |`);
      log(`|---|${jitters.map(() => '---:').join('|')}|`);
      for (const family of [...new Set(r.byFamily.map((b) => b.family))]) {
        const cells = jitters.map((j) => {
          const b = r.byFamily.find((x) => x.family === family && x.jitter === j);
          return b ? `${Math.round(100 * b.vigil)} / ${Math.round(100 * b.rita)}` : '';
        });
        log(`| ${family} | ${cells.join(' | ')} |`);
      }
      return;
    }
    case 'pcap': {
      const r = await runPcapBench({ packets: opts.packets, log });
      log('');
      for (const line of formatPcapBench(r)) log(line);
      return;
    }
    case 'live': {
      const r = await runLiveBench({ count: opts.count, rate: opts.rate, bufferMiB: opts.bufferMib, withoutDetectors: !opts.detectorsOnly, netns: !opts.hostLo, log });
      log('');
      for (const line of formatLiveBench(r)) log(line);
      return;
    }
    default:
      throw new Error(`unknown benchmark suite "${suite}"; available: ${SUITES.join(', ')}`);
  }
}
