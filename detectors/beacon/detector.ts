// Beacon detector: finds command-and-control check-ins, per (source, destination service).
//
// Stage 1 (pairs.ts) runs for every connection in constant memory per pair and marks a pair as
// a candidate once it has enough check-ins spanning several periods with regular enough gaps
// (IQR / median of the log-histogram). Stage 2 (analysis.ts) scores candidates: folded gaps,
// gap dispersion and tail, FFT periodogram against a permutation threshold, autocorrelation,
// size consistency; the detector adds prevalence (distinct sources reaching the destination),
// novelty (age of the destination when the pair began) and the check-in count, and combines
// them with the fitted model in score.ts. Stage 2 runs again for a pair only when its check-ins
// have grown by a quarter (at least 4, at most a full ring) and `rescoreSeconds` have passed,
// so a replay of weeks of logs costs O(log n) analyses per pair, not one per batch.

import type { Counters } from '../../agent/metrics.js';
import { CidrSet } from '../../agent/netaddr.js';
import type { FlowRecord, VigilRecord } from '../../collectors/record.js';
import { clamp01, type Detector, type Finding, severityFor } from '../detector.js';
import { analyzeCheckins, type PeriodicityResult } from './analysis.js';
import type { BeaconConfig } from './config.js';
import { destinationOf } from './key.js';
import { PairIndex, PairState, RING } from './pairs.js';
import { BEACON_MODEL, combineParts, type ScoreModel, type SubscoreName } from './score.js';

export interface BeaconContext {
  counters: Counters;
  segmentOf(address: string, vlan?: number): string;
  isLocal(address: string): boolean;
  /** Effective configuration of a segment (re-read at scoring time, so tuning applies live). */
  configFor(segment: string): BeaconConfig;
}

export const BEACON_SNAPSHOT_VERSION = 1;

/** What is known of a destination: when it was first seen and by how many tracked sources. */
interface DestState {
  firstSeen: number;
  /** Sources with a tracked pair to it (a pair's creation adds one, its eviction takes it back). */
  sources: number;
  touched: boolean;
}

/** One scored pair, as `vigil beacons` prints it (DESIGN §6). */
export interface BeaconResult {
  src: string;
  dst: string;
  dport: number;
  proto: string;
  server?: string;
  segment: string;
  score: number;
  /** Highest score of any stage 2 run of this pair (the streaming agent alerts on any). */
  max_score: number;
  alert: boolean;
  strobe: boolean;
  period_s: number;
  jitter: number;
  count: number;
  conns: number;
  failed: number;
  first: number;
  last: number;
  sources: number;
  size_sent: number;
  size_received: number;
  subscores: Record<SubscoreName, number>;
  /** The two factors of the score (score.ts): is it on a timer, and is it suspicious for one. */
  periodicity: number;
  suspicion: number;
  detail: PeriodicityResult['detail'];
}

export class BeaconDetector implements Detector {
  readonly name = 'beacon';
  readonly counters: Counters;
  private readonly pairs = new PairIndex();
  private dests = new Map<string, DestState>();
  /** Findings made by stage 2 since the last flush. */
  private pending: Finding[] = [];
  /** Latest result per pair key (for `vigil beacons --all`). */
  readonly results = new Map<string, BeaconResult>();
  private clockDests: Iterator<[string, DestState]> | undefined;
  private readonly maxPairs: number;
  private readonly maxDests: number;
  private readonly outboundOnly: boolean;
  /** Compiled allow-lists, per configuration object (a tuning update brings a new object). */
  private readonly allowCache = new WeakMap<BeaconConfig['allow'], { servers: string[]; services: Set<string>; cidrs: CidrSet }>();

  constructor(
    private readonly ctx: BeaconContext,
    global: BeaconConfig,
    /** Keep every stage 2 result in `results` (the CLI and the benchmark); the agent does not. */
    private readonly keepResults = false,
    /** The score model (the benchmark's fit tries new ones); the fitted one by default. */
    private readonly model: ScoreModel = BEACON_MODEL,
  ) {
    this.counters = ctx.counters;
    this.maxPairs = global.maxPairs;
    this.maxDests = global.maxDestinations;
    this.outboundOnly = global.scope === 'outbound';
  }

  observe(batch: readonly VigilRecord[]): void {
    for (const rec of batch) {
      if (rec.kind !== 'flow') continue;
      this.counters.received++;
      this.observeFlow(rec);
    }
  }

  observeFlow(f: FlowRecord): void {
    if (f.interim) return; // a long connection's progress report is not a new check-in
    if (this.outboundOnly) {
      const origLocal = f.local_orig ?? this.ctx.isLocal(f.orig_h);
      if (!origLocal) return;
      const respLocal = f.local_resp ?? this.ctx.isLocal(f.resp_h);
      if (respLocal || isGroupAddress(f.resp_h)) return;
    }
    const name = f.server_name;
    const named = name !== undefined && name !== '';
    // Names are filed lower-case. Most arrive so; lower-casing every one would allocate a
    // string per connection, so only a name that is not found is lower-cased and tried again.
    let head = named ? name : f.resp_h;
    let pair = this.pairs.find(f.orig_h, head, named, f.resp_p, f.proto);
    if (pair === undefined && named) {
      const lower = name.toLowerCase();
      if (lower !== name) {
        head = lower;
        pair = this.pairs.find(f.orig_h, head, named, f.resp_p, f.proto);
      }
    }
    if (pair === undefined) {
      if (this.pairs.size >= this.maxPairs) this.pairs.evict((p) => this.forget(p));
      const segment = this.ctx.segmentOf(f.orig_h, f.vlan);
      const dest = destinationOf(f);
      pair = new PairState(segment, f.orig_h, dest, f.resp_h, f.resp_p, f.proto, named ? name : undefined, f.ts);
      this.pairs.insert(pair, head);
      this.noteSource(dest, f.ts);
    } else {
      pair.touched = true;
    }
    // TLS when Zeek says so or on 443; looked at for the first connections only (the service
    // field is unset on failed attempts, so one look is not enough).
    if (!pair.tls && pair.conns < 8 && (f.resp_p === 443 || (f.service !== undefined && f.service.includes('ssl'))))
      pair.tls = true;
    const failed = isFailedState(f.conn_state);
    const cfg = this.ctx.configFor(pair.segment);
    if (!pair.add(f.ts, f.orig_bytes ?? 0, f.resp_bytes ?? 0, failed, cfg.mergeSeconds, cfg.mergeFraction, f.duration))
      return;
    if (pair.checkins < cfg.minCheckins) return;
    if (!pair.candidate) {
      if (!this.isCandidate(pair, cfg)) return;
      pair.candidate = true;
    }
    // Stage 2 runs at the check-in that makes it due, so the findings do not depend on how the
    // input was cut into batches (an agent tailing a log and a replay of it agree).
    const grown = pair.checkins - pair.scoredAt;
    const need = Math.min(RING, Math.max(4, Math.ceil(0.25 * pair.scoredAt)));
    if (grown >= need && pair.lastCheckin - pair.scoredTs >= cfg.rescoreSeconds) {
      const finding = this.scorePair(pair, pair.lastCheckin);
      if (finding) this.pending.push(finding);
    }
  }

  private isCandidate(pair: PairState, cfg: BeaconConfig): boolean {
    if (this.isStrobe(pair, cfg)) return true;
    if ((pair.checkins & 3) !== 0) return false; // the estimate changes slowly; look every 4th
    pair.refresh();
    if (!(pair.period > 0)) return false;
    if (pair.lastCheckin - pair.first < cfg.minSpanPeriods * pair.period) return false;
    return pair.spread <= cfg.candidateMaxSpread;
  }

  private isStrobe(pair: PairState, cfg: BeaconConfig): boolean {
    if (pair.conns < cfg.minStrobeConns) return false;
    const span = pair.last - pair.first;
    return span > 0 && pair.conns / span > cfg.strobeRate;
  }

  private noteSource(dest: string, ts: number): void {
    let d = this.dests.get(dest);
    if (d === undefined) {
      if (this.dests.size >= this.maxDests) this.evictDest();
      d = { firstSeen: ts, sources: 0, touched: false };
      this.dests.set(dest, d);
    } else {
      d.touched = true;
      if (ts < d.firstSeen) d.firstSeen = ts;
    }
    d.sources++;
  }

  /** A pair evicted from the table: its candidacy and its count in the destination go too. */
  private forget(pair: PairState): void {
    const d = this.dests.get(pair.dest);
    if (d !== undefined && d.sources > 0) d.sources--;
    this.counters.add('evicted');
  }

  private evictDest(): void {
    for (let guard = 0; guard <= 2 * this.dests.size + 1; guard++) {
      if (!this.clockDests) this.clockDests = this.dests.entries();
      const next = this.clockDests.next();
      if (next.done) {
        this.clockDests = undefined;
        continue;
      }
      const [key, d] = next.value;
      if (d.touched) {
        d.touched = false;
        continue;
      }
      this.dests.delete(key);
      this.counters.add('dest_evicted');
      return;
    }
  }

  /** Findings made since the last call, in event-time order. */
  flush(_eventTime: number): Finding[] {
    if (this.pending.length === 0) return [];
    const findings = this.pending.sort((a, b) => a.ts - b.ts || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.pending = [];
    this.counters.emitted += findings.length;
    return findings;
  }

  /**
   * End of input for a one-shot analysis (`vigil beacons`, the benchmark): candidates with
   * check-ins not yet scored are scored now. The agent does not call this: it keeps waiting for
   * more check-ins.
   */
  finish(): Finding[] {
    const findings: Finding[] = [];
    for (const pair of this.sortedPairs()) {
      if (!pair.candidate || pair.checkins === pair.scoredAt) continue;
      const f = this.scorePair(pair, pair.last);
      if (f) findings.push(f);
    }
    this.counters.emitted += findings.length;
    return findings;
  }

  private sortedPairs(): PairState[] {
    return [...this.pairs.values()].sort((a, b) =>
      a.src < b.src ? -1 : a.src > b.src ? 1 : a.dest < b.dest ? -1 : a.dest > b.dest ? 1 : 0,
    );
  }

  /** Runs stage 2 on every pair with enough check-ins, candidate or not (`vigil beacons --all`). */
  scoreAll(): Finding[] {
    const findings: Finding[] = [];
    for (const pair of this.sortedPairs()) {
      const cfg = this.ctx.configFor(pair.segment);
      if (pair.checkins < cfg.minCheckins || pair.checkins === pair.scoredAt) continue;
      const f = this.scorePair(pair, pair.last);
      if (f) findings.push(f);
    }
    this.counters.emitted += findings.length;
    return findings;
  }

  private scorePair(pair: PairState, now: number): Finding | undefined {
    pair.scoredAt = pair.checkins;
    pair.scoredTs = now;
    const cfg = this.ctx.configFor(pair.segment);
    if (!cfg.enabled) return undefined;
    if (this.allowed(pair, cfg)) {
      this.counters.add('allowlisted');
      return undefined;
    }
    this.counters.add('stage2');
    const series = pair.series();
    if (series.n < 4) return undefined;
    const seed = hashSeed(pair.src, pair.dest);
    let analysis = analyzeCheckins(series, seed);
    // A changed sleep leaves two regimes in the ring: unless the whole ring is clearly periodic,
    // the recent half is judged on its own too, and the more periodic reading is kept.
    if (series.n >= 32 && timingEvidence(analysis) < 5.5) {
      const half = Math.floor(series.n / 2);
      const recent = analyzeCheckins(
        { times: series.times.subarray(half), orig: series.orig.subarray(half), resp: series.resp.subarray(half), n: series.n - half },
        seed,
      );
      if (timingEvidence(recent) > timingEvidence(analysis)) analysis = recent;
    }
    const d = this.dests.get(pair.dest);
    const sources = d ? Math.max(1, d.sources) : 1;
    const totalSources = this.pairs.sources;
    const prevalence = clamp01(1 - Math.max(0, sources - 1) / Math.max(3, 0.1 * totalSources));
    const age = d ? Math.max(0, pair.first - d.firstSeen) : 0;
    const novelty = clamp01(1 - age / (7 * 86400));
    const count = clamp01(Math.log2(Math.max(1, analysis.detail.beats) / cfg.minCheckins) / 4);
    // A check-in is a short exchange; a channel held open (push, streaming) is something else.
    const short = pair.conns > 0 ? 1 - pair.held / pair.conns : 0;
    // A service that (almost) never answers is being retried, not commanded; a C2 server that
    // is down for a while still answers most check-ins: 1 from half answered upwards.
    const answered = pair.conns > 0 ? clamp01(2 * (1 - pair.failed / pair.conns)) : 0;
    const subscores: Record<SubscoreName, number> = {
      ...analysis.subscores,
      prevalence: round(prevalence, 4),
      novelty: round(novelty, 4),
      count: round(count, 4),
      short: round(short, 4),
      answered: round(answered, 4),
    };
    // Faster than one connection per 2 s (strobeRate) is a strobe, never a beacon: reported as
    // such once it has minStrobeConns connections.
    const span = pair.last - pair.first;
    const fast = span > 0 && pair.conns / span > cfg.strobeRate;
    const strobe = fast && pair.conns >= cfg.minStrobeConns;
    const parts = combineParts(subscores, this.model);
    const score = round(parts.score, 4);
    pair.score = score;
    if (!fast && score > pair.maxScore) pair.maxScore = score;
    const alert = !fast && score >= cfg.alertScore;
    const result: BeaconResult = {
      src: pair.src,
      dst: pair.respH,
      dport: pair.respP,
      proto: pair.proto,
      server: pair.server,
      segment: pair.segment,
      score,
      max_score: pair.maxScore,
      alert,
      strobe,
      period_s: analysis.period,
      jitter: analysis.jitter,
      count: pair.checkins,
      conns: pair.conns,
      failed: pair.failed,
      first: pair.first,
      last: pair.last,
      sources,
      size_sent: analysis.detail.size_orig_median,
      size_received: analysis.detail.size_resp_median,
      subscores,
      periodicity: round(parts.periodicity, 4),
      suspicion: round(parts.suspicion, 4),
      detail: analysis.detail,
    };
    if (this.keepResults) this.results.set(`${pair.src}>${pair.dest}`, result);
    if (!alert && !strobe) return undefined;
    const day = Math.floor(now / 86400);
    if (pair.reportedDay === day) return undefined;
    pair.reportedDay = day;
    return this.finding(pair, result, now);
  }

  private finding(pair: PairState, r: BeaconResult, now: number): Finding {
    const type = r.strobe ? 'beacon.strobe' : 'beacon.periodic';
    const attack = pair.tls ? ['T1071', 'T1573'] : ['T1071'];
    // Megabytes per check-in is a scheduled transfer (exfiltration in chunks), not a check-in.
    if (r.size_sent >= 1_000_000) attack.push('T1029');
    const dest = pair.server ?? `${pair.respH}:${pair.respP}/${pair.proto}`;
    const what = r.strobe
      ? `${r.conns} connections in ${fmtDuration(r.last - r.first)} (strobe)`
      : `a check-in every ${fmtDuration(r.period_s)} (jitter ${Math.round(r.jitter * 100)}%), ${r.count} check-ins over ${fmtDuration(r.last - r.first)}`;
    const day = Math.floor(now / 86400);
    return {
      detector: this.name,
      type,
      segment: pair.segment,
      entity: { type: 'pair', id: `${pair.src}->${dest}` },
      ts: now,
      window: [r.first, r.last],
      score: r.score,
      subscores: r.subscores,
      severity: severityFor(r.score),
      evidence: {
        src: r.src,
        dst: r.dst,
        dport: r.dport,
        proto: r.proto,
        server: r.server,
        period_s: r.period_s,
        jitter: r.jitter,
        checkins: r.count,
        conns: r.conns,
        failed: r.failed,
        first: r.first,
        last: r.last,
        size_sent: r.size_sent,
        size_received: r.size_received,
        sources: r.sources,
        missed: r.detail.missed,
        extra: r.detail.extra,
        offline_breaks: r.detail.breaks,
        fft_ratio: r.detail.fft_ratio,
        periodicity: r.periodicity,
        suspicion: r.suspicion,
        model: this.model.fitted,
      },
      summary: `${pair.src} -> ${dest}: ${what}, typical ${fmtBytes(r.size_sent)} sent / ${fmtBytes(r.size_received)} received, reached by ${r.sources} host(s)`,
      id: `beacon:${type}:${pair.src}>${pair.dest}:${day}`,
      attack,
    };
  }

  private allowed(pair: PairState, cfg: BeaconConfig): boolean {
    let allow = this.allowCache.get(cfg.allow);
    if (!allow) {
      allow = {
        servers: cfg.allow.servers.map((s) => s.toLowerCase()),
        services: new Set(cfg.allow.services),
        cidrs: CidrSet.parse(cfg.allow.cidrs),
      };
      this.allowCache.set(cfg.allow, allow);
    }
    if (allow.services.has(`${pair.respP}/${pair.proto}`)) return true;
    if (allow.cidrs.size > 0 && allow.cidrs.has(pair.respH)) return true;
    const name = pair.server?.toLowerCase();
    if (name !== undefined) {
      for (const pattern of allow.servers) {
        if (pattern.startsWith('*.')) {
          const base = pattern.slice(2);
          if (name === base || name.endsWith(`.${base}`)) return true;
        } else if (name === pattern) return true;
      }
    }
    return false;
  }

  snapshot(): unknown {
    // Pairs with fewer than three check-ins are cheap to learn again and are most of them.
    const pairs: unknown[] = [];
    for (const p of this.pairs.values()) if (p.checkins >= 3) pairs.push(p.toJSON());
    const dests: unknown[] = [];
    for (const [k, d] of this.dests) dests.push([k, d.firstSeen, d.sources]);
    return { version: BEACON_SNAPSHOT_VERSION, pairs, dests };
  }

  restore(state: unknown): void {
    const s = state as { version?: number; pairs?: unknown[][]; dests?: [string, number, number][] } | undefined;
    if (!s || s.version !== BEACON_SNAPSHOT_VERSION || !Array.isArray(s.pairs) || !Array.isArray(s.dests)) {
      this.counters.add('snapshot_discarded');
      return;
    }
    this.pairs.clear();
    this.dests = new Map();
    this.pending = [];
    this.clockDests = undefined;
    for (const [k, firstSeen, sources] of s.dests) {
      this.dests.set(k, { firstSeen, sources, touched: false });
    }
    for (const a of s.pairs) {
      const p = PairState.fromJSON(a);
      p.scoredAt = p.checkins; // scored before the snapshot; rescored when it grows
      const named = p.server !== undefined && p.server !== '';
      this.pairs.insert(p, named ? p.server!.toLowerCase() : p.respH);
    }
  }

  /** Pairs currently tracked (health and memory tests). */
  get trackedPairs(): number {
    return this.pairs.size;
  }

  get trackedDestinations(): number {
    return this.dests.size;
  }

  get candidateCount(): number {
    let n = 0;
    for (const p of this.pairs.values()) if (p.candidate) n++;
    return n;
  }
}

/** Sum of the timing sub-scores: which of two readings of the same pair is more periodic. */
function timingEvidence(a: PeriodicityResult): number {
  const s = a.subscores;
  return s.gaps + s.dispersion + s.tail + s.floor + s.uniform + s.fft + s.acf;
}

/** Multicast and broadcast destinations stay on the local link: never outbound. */
export function isGroupAddress(a: string): boolean {
  const c = a.charCodeAt(0);
  if (c === 102 || c === 70) return /^ff[0-9a-f]{2}:/i.test(a); // ff00::/8
  // First IPv4 octet from its digits, without slicing a new string (this runs per connection).
  let first = 0;
  let i = 0;
  for (; i < 4; i++) {
    const d = a.charCodeAt(i) - 48;
    if (d < 0 || d > 9) break;
    first = first * 10 + d;
  }
  if (i === 0 || a.charCodeAt(i) !== 46) return false;
  return (first >= 224 && first <= 239) || a === '255.255.255.255';
}

/** Connection states in which the responder never answered (S0, REJ, RSTOS0, RSTRH, SH, SHR). */
function isFailedState(s: string | undefined): boolean {
  return s === 'S0' || s === 'REJ' || s === 'SH' || s === 'SHR' || s === 'RSTOS0' || s === 'RSTRH';
}

/** FNV-1a of the pair, so each pair's permutation threshold is repeatable. */
function hashSeed(a: string, b: string): number {
  let h = 0x811c9dc5;
  const s = `${a}>${b}`;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function fmtBytes(b: number): string {
  if (b >= 1e9) return `${(b / 1e9).toFixed(1)} GB`;
  if (b >= 1e6) return `${(b / 1e6).toFixed(1)} MB`;
  if (b >= 1e4) return `${(b / 1e3).toFixed(1)} kB`;
  return `${Math.round(b)} B`;
}

function fmtDuration(s: number): string {
  if (s < 120) return `${Math.round(s * 10) / 10} s`;
  if (s < 7200) return `${Math.round((s / 60) * 10) / 10} min`;
  if (s < 172800) return `${Math.round((s / 3600) * 10) / 10} h`;
  return `${Math.round((s / 86400) * 10) / 10} d`;
}
