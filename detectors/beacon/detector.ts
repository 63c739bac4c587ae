// Beacon detector: finds command-and-control check-ins, per (source, destination service).
//
// Stage 1 (pairs.ts) runs for every connection in constant memory per pair and marks a pair as
// a candidate once it has enough check-ins spanning several periods with regular enough gaps
// (IQR / median of the log-histogram). Stage 2 (analysis.ts) scores candidates: folded gaps,
// gap dispersion and tail, FFT periodogram against a permutation threshold, autocorrelation,
// size consistency; the detector adds prevalence (distinct sources reaching the destination),
// novelty (age of the destination when the pair began) and the check-in count, and combines
// them with the fitted model in score.ts. Stage 2 runs again for a pair only when its check-ins
// have grown by a tenth (at least 4, at most a full ring) and `rescoreSeconds` have passed,
// so a replay of weeks of logs costs O(log n) analyses per pair, not one per batch.

import type { Counters } from '../../agent/metrics.js';
import { CidrSet } from '../../agent/netaddr.js';
import type { FlowRecord, VigilRecord } from '../../collectors/record.js';
import { clamp01, type Detector, type Finding, severityFor } from '../detector.js';
import { analyzeCheckins, type PeriodicityResult } from './analysis.js';
import type { BeaconConfig } from './config.js';
import { destinationOf } from './key.js';
import { PairState, RING } from './pairs.js';
import { BEACON_MODEL, combine, type SubscoreName } from './score.js';

export interface BeaconContext {
  counters: Counters;
  segmentOf(address: string, vlan?: number): string;
  isLocal(address: string): boolean;
  /** Effective configuration of a segment (re-read at scoring time, so tuning applies live). */
  configFor(segment: string): BeaconConfig;
}

export const BEACON_SNAPSHOT_VERSION = 1;

/** Connection states in which the responder never answered. */
const FAILED_STATES = new Set(['S0', 'REJ', 'RSTOS0', 'RSTRH', 'SH', 'SHR']);

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
  detail: PeriodicityResult['detail'];
}

export class BeaconDetector implements Detector {
  readonly name = 'beacon';
  readonly counters: Counters;
  private pairs = new Map<string, PairState>();
  private dests = new Map<string, DestState>();
  /** Pairs that passed stage 1 and have check-ins not yet scored. */
  private candidates = new Set<PairState>();
  /** Latest result per pair key (for `vigil beacons --all`). */
  readonly results = new Map<string, BeaconResult>();
  private clockPairs: Iterator<[string, PairState]> | undefined;
  private clockDests: Iterator<[string, DestState]> | undefined;
  private readonly maxPairs: number;
  private readonly maxDests: number;
  private readonly outboundOnly: boolean;
  private readonly allowCache = new Map<string, { servers: string[]; services: Set<string>; cidrs: CidrSet }>();

  constructor(
    private readonly ctx: BeaconContext,
    global: BeaconConfig,
    /** Keep every stage 2 result in `results` (the CLI and the benchmark); the agent does not. */
    private readonly keepResults = false,
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
    const dest = destinationOf(f);
    const key = `${f.orig_h}>${dest}`;
    let pair = this.pairs.get(key);
    if (pair === undefined) {
      if (this.pairs.size >= this.maxPairs) this.evictPair();
      const segment = this.ctx.segmentOf(f.orig_h, f.vlan);
      pair = new PairState(segment, f.orig_h, dest, f.resp_h, f.resp_p, f.proto, f.server_name, f.ts);
      this.pairs.set(key, pair);
      this.noteSource(dest, f.ts);
    } else {
      pair.touched = true;
    }
    if (!pair.tls && (f.resp_p === 443 || (f.service !== undefined && f.service.includes('ssl')))) pair.tls = true;
    const failed = f.conn_state !== undefined && FAILED_STATES.has(f.conn_state);
    const cfg = this.ctx.configFor(pair.segment);
    if (!pair.add(f.ts, f.orig_bytes ?? 0, f.resp_bytes ?? 0, failed, cfg.mergeSeconds, cfg.mergeFraction)) return;
    if (pair.checkins >= cfg.minCheckins && !this.candidates.has(pair) && this.isCandidate(pair, cfg)) {
      this.candidates.add(pair);
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

  /** CLOCK eviction: the first pair without its touched bit, clearing bits on the way. */
  private evictPair(): void {
    for (let guard = 0; guard <= 2 * this.pairs.size + 1; guard++) {
      if (!this.clockPairs) this.clockPairs = this.pairs.entries();
      const next = this.clockPairs.next();
      if (next.done) {
        this.clockPairs = undefined;
        continue;
      }
      const [key, pair] = next.value;
      if (pair.touched) {
        pair.touched = false;
        continue;
      }
      this.pairs.delete(key);
      this.candidates.delete(pair);
      const d = this.dests.get(pair.dest);
      if (d !== undefined && d.sources > 0) d.sources--;
      this.counters.add('evicted');
      return;
    }
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

  flush(eventTime: number): Finding[] {
    const final = eventTime === Number.POSITIVE_INFINITY;
    const findings: Finding[] = [];
    const due: PairState[] = [];
    for (const pair of this.candidates) {
      const grown = pair.checkins - pair.scoredAt;
      const need = Math.min(RING, Math.max(4, Math.ceil(0.1 * pair.scoredAt)));
      if (final ? grown > 0 : grown >= need && eventTime - pair.scoredTs >= this.ctx.configFor(pair.segment).rescoreSeconds) {
        due.push(pair);
      }
    }
    due.sort((a, b) => (a.src < b.src ? -1 : a.src > b.src ? 1 : a.dest < b.dest ? -1 : a.dest > b.dest ? 1 : 0));
    for (const pair of due) {
      const finding = this.scorePair(pair, final ? pair.last : eventTime);
      if (finding) findings.push(finding);
    }
    this.counters.emitted += findings.length;
    return findings;
  }

  /** Runs stage 2 on every pair with enough check-ins, candidate or not (`vigil beacons --all`). */
  scoreAll(): Finding[] {
    const findings: Finding[] = [];
    const keys = [...this.pairs.keys()].sort();
    for (const key of keys) {
      const pair = this.pairs.get(key)!;
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
    this.candidates.delete(pair);
    const cfg = this.ctx.configFor(pair.segment);
    if (!cfg.enabled) return undefined;
    if (this.allowed(pair, cfg)) {
      this.counters.add('allowlisted');
      return undefined;
    }
    this.counters.add('stage2');
    const series = pair.series();
    if (series.n < 4) return undefined;
    const analysis = analyzeCheckins(series, hashSeed(pair.src, pair.dest));
    const d = this.dests.get(pair.dest);
    const sources = d ? Math.max(1, d.sources) : 1;
    const totalSources = this.sourceCount();
    const prevalence = clamp01(1 - Math.max(0, sources - 1) / Math.max(3, 0.1 * totalSources));
    const age = d ? Math.max(0, pair.first - d.firstSeen) : 0;
    const novelty = clamp01(1 - age / (7 * 86400));
    const count = clamp01(Math.log2(Math.max(1, analysis.detail.beats) / cfg.minCheckins) / 4);
    const subscores: Record<SubscoreName, number> = {
      ...analysis.subscores,
      prevalence: round(prevalence, 4),
      novelty: round(novelty, 4),
      count: round(count, 4),
    };
    // Faster than one connection per 2 s (strobeRate) is a strobe, never a beacon: reported as
    // such once it has minStrobeConns connections.
    const span = pair.last - pair.first;
    const fast = span > 0 && pair.conns / span > cfg.strobeRate;
    const strobe = fast && pair.conns >= cfg.minStrobeConns;
    const score = round(combine(subscores), 4);
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
        model: BEACON_MODEL.fitted,
      },
      summary: `${pair.src} -> ${dest}: ${what}, typical ${Math.round(r.size_sent)} B sent / ${Math.round(r.size_received)} B received, reached by ${r.sources} host(s)`,
      id: `beacon:${type}:${pair.src}>${pair.dest}:${day}`,
      attack,
    };
  }

  private sourceCount(): number {
    // Distinct sources with at least one tracked pair; recomputed lazily once per flush.
    if (this.sourceCache.at !== this.pairs.size) {
      const s = new Set<string>();
      for (const p of this.pairs.values()) s.add(p.src);
      this.sourceCache = { at: this.pairs.size, n: s.size };
    }
    return this.sourceCache.n;
  }
  private sourceCache = { at: -1, n: 0 };

  private allowed(pair: PairState, cfg: BeaconConfig): boolean {
    const cacheKey = JSON.stringify(cfg.allow);
    let allow = this.allowCache.get(cacheKey);
    if (!allow) {
      allow = {
        servers: cfg.allow.servers.map((s) => s.toLowerCase()),
        services: new Set(cfg.allow.services),
        cidrs: CidrSet.parse(cfg.allow.cidrs),
      };
      if (this.allowCache.size > 64) this.allowCache.clear();
      this.allowCache.set(cacheKey, allow);
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
    this.pairs = new Map();
    this.dests = new Map();
    this.candidates = new Set();
    this.clockPairs = undefined;
    this.clockDests = undefined;
    for (const [k, firstSeen, sources] of s.dests) {
      this.dests.set(k, { firstSeen, sources, touched: false });
    }
    for (const a of s.pairs) {
      const p = PairState.fromJSON(a);
      p.scoredAt = p.checkins; // scored before the snapshot; rescored when it grows
      this.pairs.set(`${p.src}>${p.dest}`, p);
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
    return this.candidates.size;
  }
}

/** Multicast and broadcast destinations stay on the local link: never outbound. */
export function isGroupAddress(a: string): boolean {
  const c = a.charCodeAt(0);
  if (c === 102 || c === 70) return /^ff[0-9a-f]{2}:/i.test(a); // ff00::/8
  const dot = a.indexOf('.');
  if (dot < 1 || dot > 3) return false;
  const first = Number(a.slice(0, dot));
  return (first >= 224 && first <= 239) || a === '255.255.255.255';
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

function fmtDuration(s: number): string {
  if (s < 120) return `${Math.round(s * 10) / 10} s`;
  if (s < 7200) return `${Math.round((s / 60) * 10) / 10} min`;
  if (s < 172800) return `${Math.round((s / 3600) * 10) / 10} h`;
  return `${Math.round((s / 86400) * 10) / 10} d`;
}
