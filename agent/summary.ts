// The summarizer (DESIGN §2): turns a detector Finding into the compact wire Summary
// (agent/wire.ts summarySchema): a ULID id, the segment's mode and tier, a 0–100 score and
// evidence trimmed to fit MAX_SUMMARY_BYTES. It also suppresses repeats of the same finding id
// within an interval and findings matching a segment's suppression rules, counting both.

import type { Finding } from '../detectors/detector.js';
import type { Counters } from './metrics.js';
import { UlidGenerator } from './ulid.js';
import {
  MAX_SUMMARY_BYTES,
  type Mode,
  type Suppression,
  type Summary,
  type Tier,
  TOPIC_LEVEL,
  WIRE_VERSION,
  summarySchema,
} from './wire.js';

/** What the summarizer needs from a segment's configuration (pushed by the hub or default). */
export interface SegmentPolicy {
  mode: Mode;
  /** Lowest 0–100 score of each tier; below `low` is `info`. */
  tiers: { low: number; high: number };
  suppressions: Suppression[];
}

export const DEFAULT_POLICY: SegmentPolicy = { mode: 'alert', tiers: { low: 40, high: 75 }, suppressions: [] };

export interface SummarizerOptions {
  site: string;
  sensor: string;
  /** Repeats of one finding id within this many seconds (wall time) are not sent again. */
  suppressRepeatsSeconds: number;
  counters: Counters;
  nowMs?: () => number;
  ulid?: UlidGenerator;
}

const ATTACK_ID = /^T\d{4}(\.\d{3})?$/;

export class Summarizer {
  private readonly policies = new Map<string, SegmentPolicy>();
  /** Finding id → wall time (ms) it was last sent; pruned when it grows (see `remember`). */
  private readonly lastSent = new Map<string, number>();
  private readonly nowMs: () => number;
  private readonly ulid: UlidGenerator;

  constructor(private readonly opts: SummarizerOptions) {
    this.nowMs = opts.nowMs ?? Date.now;
    this.ulid = opts.ulid ?? new UlidGenerator({ now: this.nowMs });
  }

  /** Replaces one segment's policy (live tuning); unknown segments use `default`'s, then DEFAULT_POLICY. */
  setPolicy(segment: string, policy: SegmentPolicy): void {
    this.policies.set(segment, policy);
  }

  policyFor(segment: string): SegmentPolicy {
    return this.policies.get(segment) ?? this.policies.get('default') ?? DEFAULT_POLICY;
  }

  /** The summary to send for `f`, or undefined when it is suppressed (and counted). */
  summarize(f: Finding): Summary | undefined {
    const c = this.opts.counters;
    c.received++;
    const policy = this.policyFor(f.segment);
    const now = this.nowMs();
    if (policy.suppressions.some((rule) => matches(rule, f, now))) {
      c.add('suppressed_rule');
      return undefined;
    }
    const last = this.lastSent.get(f.id);
    if (last !== undefined && now - last < this.opts.suppressRepeatsSeconds * 1000) {
      c.add('suppressed_repeat');
      return undefined;
    }
    this.remember(f.id, now);
    const score = Math.max(0, Math.min(100, Math.round((Number.isFinite(f.score) ? f.score : 0) * 100)));
    const summary: Summary = {
      v: WIRE_VERSION,
      id: this.ulid.next(),
      site: this.opts.site,
      sensor: this.opts.sensor,
      // A finding from a segment name that is not a valid topic level cannot happen with a
      // validated config, but the wire schema is strict, so fall back rather than fail.
      segment: TOPIC_LEVEL.test(f.segment) ? f.segment : 'default',
      detector: f.detector.slice(0, 64),
      type: f.type.slice(0, 128),
      entity: { type: f.entity.type.slice(0, 32), id: f.entity.id.slice(0, 512) },
      ts: f.ts,
      window: [f.window[0], f.window[1]],
      score,
      severity: f.severity,
      mode: policy.mode,
      tier: tierFor(score, policy.tiers),
      attack: f.attack.filter((a) => ATTACK_ID.test(a)).slice(0, 16),
      finding: f.id.slice(0, 512),
      summary: f.summary.slice(0, 512),
      evidence: trimEvidence(f, { ...f.evidence }),
    };
    const checked = summarySchema.safeParse(summary);
    if (!checked.success) {
      // A detector produced something the wire refuses (NaN ts, say): count it, do not send.
      c.errors++;
      return undefined;
    }
    c.emitted++;
    return checked.data;
  }

  private remember(id: string, now: number): void {
    if (this.lastSent.size >= 100_000) {
      const horizon = now - this.opts.suppressRepeatsSeconds * 1000;
      for (const [k, t] of this.lastSent) if (t <= horizon) this.lastSent.delete(k);
      // Still full (a flood of distinct ids): forget everything rather than grow without bound.
      if (this.lastSent.size >= 100_000) this.lastSent.clear();
    }
    this.lastSent.set(id, now);
  }
}

export function tierFor(score: number, tiers: { low: number; high: number }): Tier {
  if (score >= tiers.high) return 'high';
  if (score >= tiers.low) return 'low';
  return 'info';
}

function matches(rule: Suppression, f: Finding, nowMs: number): boolean {
  if (rule.until !== undefined && nowMs >= rule.until) return false;
  if (rule.detector !== undefined && rule.detector !== f.detector) return false;
  if (rule.type !== undefined && rule.type !== f.type) return false;
  if (rule.entity !== undefined && rule.entity !== f.entity.id) return false;
  return true;
}

/** Drops the largest evidence keys until the whole summary fits; marks `truncated: true`. */
function trimEvidence(f: Finding, evidence: Record<string, unknown>): Record<string, unknown> {
  // Size of everything but the evidence, measured on a conservative stand-in of the summary.
  const fixed = Buffer.byteLength(
    JSON.stringify({
      v: 1,
      id: 'X'.repeat(26),
      site: 'x'.repeat(64),
      sensor: 'x'.repeat(64),
      segment: 'x'.repeat(64),
      detector: f.detector.slice(0, 64),
      type: f.type.slice(0, 128),
      entity: { type: f.entity.type.slice(0, 32), id: f.entity.id.slice(0, 512) },
      ts: f.ts,
      window: f.window,
      score: 100,
      severity: 'critical',
      mode: 'alert',
      tier: 'high',
      attack: f.attack.slice(0, 16),
      finding: f.id.slice(0, 512),
      summary: f.summary.slice(0, 512),
      evidence: {},
    }),
  );
  const budget = MAX_SUMMARY_BYTES - fixed;
  const size = (e: Record<string, unknown>) => Buffer.byteLength(JSON.stringify(e));
  if (size(evidence) <= budget) return evidence;
  const bySize = Object.keys(evidence)
    .map((k) => ({ k, n: Buffer.byteLength(JSON.stringify({ [k]: evidence[k] })) }))
    .sort((a, b) => b.n - a.n);
  const out: Record<string, unknown> = { ...evidence, truncated: true };
  for (const { k } of bySize) {
    if (size(out) <= budget) break;
    delete out[k];
  }
  out.truncated = true;
  return out;
}
