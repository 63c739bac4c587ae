// Volume baseline: per local source host and bucket (default one day), the number of external
// connections and the payload bytes sent out, each compared with the rolling mean and std of
// that host's own previous buckets. A bucket whose z-score exceeds the threshold is a finding.

import type { Counters } from '../../agent/metrics.js';
import type { FlowRecord, VigilRecord } from '../../collectors/record.js';
import { clamp01, type Detector, type Finding, severityFor } from '../detector.js';
import type { BaselineConfig } from './config.js';

/** What the detector needs from the sensor: segment lookup, locality, per-segment tuning. */
export interface BaselineContext {
  counters: Counters;
  /** Segment of a host (by address and VLAN). */
  segmentOf(address: string, vlan?: number): string;
  /** True when the address is in the local networks. */
  isLocal(address: string): boolean;
  /** The effective configuration for a segment (re-read at every flush, so tuning applies live). */
  configFor(segment: string): BaselineConfig;
}

/** Bump when the snapshot layout changes; older snapshots are then discarded, not misread. */
export const BASELINE_SNAPSHOT_VERSION = 1;

const METRICS = ['external_conns', 'bytes_out'] as const;
type MetricName = (typeof METRICS)[number];

/** Most distinct destinations remembered per host and open bucket (for the evidence). */
const MAX_DESTINATIONS = 64;

interface OpenBucket {
  conns: number;
  bytes: number;
  /** Destination address → [connections, bytes]; capped, overflow summed under `other`. */
  destinations: Map<string, [number, number]>;
}

interface HostState {
  segment: string;
  /** Buckets closed so far for this host, including quiet ones (for warm-up). */
  closedCount: number;
  /** Index of the last closed bucket, or -Infinity before the first. */
  lastClosed: number;
  /** Last `historyBuckets` closed values, oldest first. */
  history: Record<MetricName, number[]>;
  open: Map<number, OpenBucket>;
}

interface MetricEvidence {
  value: number;
  mean: number;
  std: number;
  /** The std actually divided by, after the floors (see minStdFraction, min* settings). */
  std_used: number;
  z: number;
  anomalous: boolean;
}

export class BaselineDetector implements Detector {
  readonly name = 'baseline';
  readonly counters: Counters;
  private hosts = new Map<string, HostState>();
  /** Bucket index → hosts with activity in it that is not yet scored. */
  private pending = new Map<number, Set<string>>();
  /** Every bucket with index <= closedThrough has been scored. */
  private closedThrough = Number.NEGATIVE_INFINITY;
  private readonly bucketSeconds: number;
  private readonly historyBuckets: number;
  private readonly maxEntities: number;
  private readonly lateness: number;

  /** `global` holds the sensor-wide settings (bucket, history length, entity cap, lateness). */
  constructor(
    private readonly ctx: BaselineContext,
    global: BaselineConfig,
  ) {
    this.counters = ctx.counters;
    this.bucketSeconds = global.bucketSeconds;
    this.historyBuckets = global.historyBuckets;
    this.maxEntities = global.maxEntities;
    this.lateness = global.latenessSeconds;
  }

  observe(batch: readonly VigilRecord[]): void {
    for (const rec of batch) {
      if (rec.kind !== 'flow') continue;
      this.counters.received++;
      this.observeFlow(rec);
    }
  }

  private observeFlow(flow: FlowRecord): void {
    if (flow.interim) return; // totals so far; the final record carries the same bytes again
    const origLocal = flow.local_orig ?? this.ctx.isLocal(flow.orig_h);
    const respLocal = flow.local_resp ?? this.ctx.isLocal(flow.resp_h);
    if (!origLocal || respLocal) return; // only internal → external traffic counts
    const bucket = Math.floor(flow.ts / this.bucketSeconds);
    if (bucket <= this.closedThrough) {
      this.counters.dropped++;
      this.counters.add('late');
      return;
    }
    let host = this.hosts.get(flow.orig_h);
    if (!host) {
      if (this.hosts.size >= this.maxEntities) this.evictOldest();
      const segment = this.ctx.segmentOf(flow.orig_h, flow.vlan);
      if (!this.ctx.configFor(segment).enabled) return;
      host = {
        segment,
        closedCount: 0,
        lastClosed: Number.NEGATIVE_INFINITY,
        history: { external_conns: [], bytes_out: [] },
        open: new Map(),
      };
      this.hosts.set(flow.orig_h, host);
    }
    let open = host.open.get(bucket);
    if (!open) {
      open = { conns: 0, bytes: 0, destinations: new Map() };
      host.open.set(bucket, open);
      let hosts = this.pending.get(bucket);
      if (!hosts) {
        hosts = new Set();
        this.pending.set(bucket, hosts);
      }
      hosts.add(flow.orig_h);
      // Re-insert so that Map order approximates least-recently-active first (for eviction).
      this.hosts.delete(flow.orig_h);
      this.hosts.set(flow.orig_h, host);
    }
    const bytes = flow.orig_bytes ?? 0;
    open.conns++;
    open.bytes += bytes;
    let dest = open.destinations.get(flow.resp_h);
    if (!dest) {
      const key = open.destinations.size < MAX_DESTINATIONS ? flow.resp_h : 'other';
      dest = open.destinations.get(key);
      if (!dest) {
        dest = [0, 0];
        open.destinations.set(key, dest);
      }
    }
    dest[0]++;
    dest[1] += bytes;
  }

  private evictOldest(): void {
    const oldest = this.hosts.keys().next();
    if (oldest.done) return;
    this.hosts.delete(oldest.value);
    this.counters.add('evicted');
  }

  flush(eventTime: number): Finding[] {
    // Bucket k is complete once its end plus the allowed lateness has passed in event time.
    const lastComplete =
      eventTime === Number.POSITIVE_INFINITY
        ? Number.POSITIVE_INFINITY
        : Math.floor((eventTime - this.lateness) / this.bucketSeconds) - 1;
    if (lastComplete <= this.closedThrough) return [];
    const due = [...this.pending.keys()].filter((b) => b <= lastComplete).sort((a, b) => a - b);
    const findings: Finding[] = [];
    for (const bucket of due) {
      const hostIds = [...(this.pending.get(bucket) ?? [])].sort();
      this.pending.delete(bucket);
      for (const id of hostIds) {
        const host = this.hosts.get(id);
        const open = host?.open.get(bucket);
        if (!host || !open) continue; // evicted meanwhile
        host.open.delete(bucket);
        const finding = this.closeBucket(id, host, bucket, open);
        if (finding) findings.push(finding);
      }
    }
    if (lastComplete !== Number.POSITIVE_INFINITY) this.closedThrough = lastComplete;
    else if (due.length > 0) this.closedThrough = due[due.length - 1];
    this.counters.emitted += findings.length;
    return findings;
  }

  private closeBucket(hostId: string, host: HostState, bucket: number, open: OpenBucket): Finding | undefined {
    // Quiet buckets since the last active one count as zeros: a host that is usually silent
    // at the weekend has zeros in its history, not a gap.
    if (host.lastClosed !== Number.NEGATIVE_INFINITY) {
      const quiet = Math.min(bucket - host.lastClosed - 1, this.historyBuckets);
      for (let i = 0; i < quiet; i++) this.pushHistory(host, 0, 0);
      host.closedCount += bucket - host.lastClosed - 1;
    }
    const cfg = this.ctx.configFor(host.segment);
    let finding: Finding | undefined;
    if (cfg.enabled && host.closedCount >= cfg.minHistoryBuckets) {
      finding = this.score(hostId, host, bucket, open, cfg);
    }
    this.pushHistory(host, open.conns, open.bytes);
    host.closedCount++;
    host.lastClosed = bucket;
    return finding;
  }

  private pushHistory(host: HostState, conns: number, bytes: number): void {
    const h = host.history;
    h.external_conns.push(conns);
    h.bytes_out.push(bytes);
    if (h.external_conns.length > this.historyBuckets) {
      h.external_conns.shift();
      h.bytes_out.shift();
    }
  }

  private score(
    hostId: string,
    host: HostState,
    bucket: number,
    open: OpenBucket,
    cfg: BaselineConfig,
  ): Finding | undefined {
    const values: Record<MetricName, number> = { external_conns: open.conns, bytes_out: open.bytes };
    const minimum: Record<MetricName, number> = {
      external_conns: cfg.minExternalConns,
      bytes_out: cfg.minBytesOut,
    };
    const evidence = {} as Record<MetricName, MetricEvidence>;
    const subscores: Record<string, number> = {};
    let anyAnomalous = false;
    for (const metric of METRICS) {
      const e = zScore(values[metric], host.history[metric], cfg, minimum[metric]);
      e.anomalous = e.z > cfg.zThreshold && e.value >= minimum[metric];
      evidence[metric] = e;
      // 0.5 at the threshold, 0.75 at twice it, approaching 1: monotonic in z, comparable across metrics.
      subscores[metric] = e.z > 0 ? round(clamp01(1 - 2 ** (-e.z / cfg.zThreshold)), 4) : 0;
      if (!e.anomalous) subscores[metric] = Math.min(subscores[metric], 0.49);
      anyAnomalous ||= e.anomalous;
    }
    if (!anyAnomalous) return undefined;
    const score = Math.max(...Object.values(subscores));
    const start = bucket * this.bucketSeconds;
    const end = start + this.bucketSeconds;
    const other = open.destinations.get('other');
    const destinations = [...open.destinations]
      .filter(([address]) => address !== 'other')
      .sort((a, b) => b[1][1] - a[1][1] || b[1][0] - a[1][0] || (a[0] < b[0] ? -1 : 1))
      .slice(0, 5)
      .map(([address, [conns, bytes]]) => ({ address, conns, bytes }));
    const parts = METRICS.filter((m) => evidence[m].anomalous).map(
      (m) =>
        `${m === 'bytes_out' ? 'bytes out' : 'external connections'} ${fmt(evidence[m].value)} vs mean ${fmt(evidence[m].mean)} (z=${evidence[m].z.toFixed(1)})`,
    );
    const attack = evidence.bytes_out.anomalous ? ['T1048'] : [];
    return {
      detector: this.name,
      type: 'volume.spike',
      segment: host.segment,
      entity: { type: 'host', id: hostId },
      ts: end,
      window: [start, end],
      score,
      subscores,
      severity: severityFor(score),
      evidence: {
        bucket_s: this.bucketSeconds,
        history_buckets: host.history.external_conns.length,
        z_threshold: cfg.zThreshold,
        metrics: evidence,
        top_destinations: destinations,
        // Destinations are tracked exactly up to a cap; beyond it they are summed as `other`.
        distinct_destinations: open.destinations.size - (other ? 1 : 0),
        destinations_beyond_cap: other ? { conns: other[0], bytes: other[1] } : undefined,
      },
      summary: `${hostId}: ${parts.join('; ')} over ${host.history.external_conns.length} previous buckets`,
      id: `baseline:volume.spike:${hostId}:${start}`,
      attack,
    };
  }

  snapshot(): unknown {
    return {
      version: BASELINE_SNAPSHOT_VERSION,
      bucketSeconds: this.bucketSeconds,
      closedThrough: Number.isFinite(this.closedThrough) ? this.closedThrough : null,
      hosts: [...this.hosts].map(([id, h]) => [
        id,
        {
          segment: h.segment,
          closedCount: h.closedCount,
          lastClosed: Number.isFinite(h.lastClosed) ? h.lastClosed : null,
          history: h.history,
          open: [...h.open].map(([b, o]) => [b, o.conns, o.bytes, [...o.destinations]]),
        },
      ]),
    };
  }

  restore(state: unknown): void {
    const s = state as BaselineSnapshot | undefined;
    if (!s || s.version !== BASELINE_SNAPSHOT_VERSION || s.bucketSeconds !== this.bucketSeconds) {
      // Different layout or bucket length: the history would be misread, so start afresh.
      this.counters.add('snapshot_discarded');
      return;
    }
    this.hosts = new Map();
    this.pending = new Map();
    this.closedThrough = s.closedThrough ?? Number.NEGATIVE_INFINITY;
    for (const [id, h] of s.hosts) {
      const open = new Map<number, OpenBucket>();
      for (const [b, conns, bytes, dests] of h.open) {
        open.set(b, { conns, bytes, destinations: new Map(dests) });
        let set = this.pending.get(b);
        if (!set) {
          set = new Set();
          this.pending.set(b, set);
        }
        set.add(id);
      }
      this.hosts.set(id, {
        segment: h.segment,
        closedCount: h.closedCount,
        lastClosed: h.lastClosed ?? Number.NEGATIVE_INFINITY,
        history: h.history,
        open,
      });
    }
  }

  /** Hosts currently tracked (for health and memory tests). */
  get trackedEntities(): number {
    return this.hosts.size;
  }
}

/** The snapshot as stored (see snapshot()). */
interface BaselineSnapshot {
  version: number;
  bucketSeconds: number;
  closedThrough: number | null;
  hosts: [
    string,
    {
      segment: string;
      closedCount: number;
      lastClosed: number | null;
      history: Record<MetricName, number[]>;
      open: [number, number, number, [string, [number, number]][]][];
    },
  ][];
}

/** Sample mean and std of the history, and the z of `value` against them with the floors applied. */
export function zScore(
  value: number,
  history: readonly number[],
  cfg: Pick<BaselineConfig, 'minStdFraction' | 'zThreshold'>,
  minimumSpike: number,
): MetricEvidence {
  const n = history.length;
  let mean = 0;
  for (const v of history) mean += v;
  mean = n > 0 ? mean / n : 0;
  let sq = 0;
  for (const v of history) sq += (v - mean) ** 2;
  const std = n > 1 ? Math.sqrt(sq / (n - 1)) : 0;
  // Floors: relative to the mean (steady histories), and such that the smallest spike worth
  // reporting over a flat zero history lands exactly on the threshold.
  const stdUsed = Math.max(std, cfg.minStdFraction * mean, minimumSpike / cfg.zThreshold, 1e-9);
  const z = (value - mean) / stdUsed;
  return {
    value,
    mean: round(mean, 3),
    std: round(std, 3),
    std_used: round(stdUsed, 3),
    z: round(z, 3),
    anomalous: false,
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function fmt(x: number): string {
  if (x >= 1e9) return `${(x / 1e9).toFixed(2)}G`;
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(1)}k`;
  return String(Math.round(x));
}
