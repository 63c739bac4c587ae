// `vigil beacons`: ranks beacon candidates in Zeek logs with the agent's own detector. Server
// names come from the ssl/http/dns logs beside each conn log when they exist.

import { isCaptureFile, readCaptureFlows } from '../collectors/pcap/read.js';
import type { FlowRecord } from '../collectors/record.js';
import { ServerNames, siblingLogs } from '../collectors/zeek/names.js';
import { readZeekFiles } from '../collectors/zeek/read.js';
import { type BeaconResult, BeaconDetector } from '../detectors/beacon/detector.js';
import type { ResolvedConfig } from './config.js';
import { expandInputs } from './inputs.js';
import type { IssueHandler } from './issues.js';
import { MetricsRegistry } from './metrics.js';
import { DEFAULT_SEGMENT, SegmentMap } from './segments.js';

export interface BeaconsOptions {
  inputs: readonly string[];
  resolved: ResolvedConfig;
  onIssue: IssueHandler;
  /** Every scored pair, not only alerts. */
  all: boolean;
}

export interface BeaconsReport {
  files: string[];
  records: number;
  results: BeaconResult[];
  names: ServerNames['stats'];
  metrics: MetricsRegistry;
}

export async function runBeacons(opts: BeaconsOptions): Promise<BeaconsReport> {
  const metrics = new MetricsRegistry();
  const files = expandInputs(opts.inputs);
  const segments = new SegmentMap(opts.resolved);
  const detector = new BeaconDetector(
    {
      counters: metrics.counters('beacon'),
      segmentOf: (a, v) => segments.segmentOf(a, v),
      isLocal: (a) => segments.isLocal(a),
      configFor: (s) => segments.detectorsFor(s).beacon,
    },
    segments.detectorsFor(DEFAULT_SEGMENT).beacon,
    true,
  );
  const names = new ServerNames(opts.onIssue);
  const captures = files.filter(isCaptureFile);
  const logs = files.filter((f) => !captures.includes(f));
  for (const f of logs) await names.load(siblingLogs(f));
  let records = 0;
  const onBatch = (batch: FlowRecord[]) => {
    records += batch.length;
    for (const f of batch) {
      names.annotate(f);
      detector.observeFlow(f);
    }
  };
  // Capture files: flows assembled from packets (checksums ignored, as on a capture host with
  // offload); connections end in time order per file, the detector takes late ones in order.
  if (captures.length > 0)
    await readCaptureFlows(captures, { metrics, onIssue: opts.onIssue, checksums: 'ignore' }, onBatch);
  if (logs.length > 0) await readZeekFiles(logs, { counters: metrics.counters('zeek'), onIssue: opts.onIssue }, onBatch);
  detector.flush(Number.POSITIVE_INFINITY);
  detector.finish();
  if (opts.all) detector.scoreAll();
  const results = [...detector.results.values()]
    .filter((r) => opts.all || r.alert || r.strobe)
    .sort((a, b) => b.score - a.score || (a.src < b.src ? -1 : a.src > b.src ? 1 : 0));
  return { files, records, results, names: names.stats, metrics };
}

/** One JSON object per pair, in the field order of DESIGN §6. */
export function beaconToJson(r: BeaconResult): string {
  return JSON.stringify({
    src: r.src,
    dst: r.dst,
    dport: r.dport,
    proto: r.proto,
    server: r.server,
    score: r.score,
    alert: r.alert,
    strobe: r.strobe || undefined,
    period_s: r.period_s,
    jitter: r.jitter,
    count: r.count,
    conns: r.conns,
    failed: r.failed,
    first: r.first,
    last: r.last,
    sources: r.sources,
    size_sent: r.size_sent,
    size_received: r.size_received,
    segment: r.segment,
    subscores: r.subscores,
  });
}

export function beaconTable(results: readonly BeaconResult[]): string {
  const header = ['score', 'alert', 'source', 'destination', 'period', 'jitter', 'check-ins', 'hosts'];
  const rows = results.map((r) => [
    r.score.toFixed(3),
    r.strobe ? 'strobe' : r.alert ? 'yes' : 'no',
    r.src,
    r.server ? `${r.server} (${r.dst}:${r.dport}/${r.proto})` : `${r.dst}:${r.dport}/${r.proto}`,
    fmtPeriod(r.period_s),
    `${Math.round(r.jitter * 100)}%`,
    String(r.count),
    String(r.sources),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

function fmtPeriod(s: number): string {
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
