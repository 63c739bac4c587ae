// The summarizer over real baseline findings: wire-valid summaries, tiers and mode from the
// segment policy, evidence trimmed to the size cap, repeats and rule matches suppressed.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../agent/clock.js';
import { MetricsRegistry } from '../../agent/metrics.js';
import { Summarizer, tierFor } from '../../agent/summary.js';
import { MAX_SUMMARY_BYTES, summarySchema } from '../../agent/wire.js';
import type { Finding } from '../../detectors/detector.js';
import { sampleFindings } from '../helpers/agent/findings.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-summary-'));
let findings: Finding[] = [];
beforeAll(async () => {
  findings = await sampleFindings(tmp, { baseline: { zThreshold: 1, minExternalConns: 5, minBytesOut: 1000 } });
}, 60_000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function make(clock = new ManualClock(1_700_000_000_000), suppressRepeatsSeconds = 3600) {
  const metrics = new MetricsRegistry();
  const s = new Summarizer({
    site: 'lab',
    sensor: 's1',
    suppressRepeatsSeconds,
    counters: metrics.counters('summarizer'),
    nowMs: () => clock.now(),
  });
  return { s, c: metrics.counters('summarizer'), clock };
}

describe('Summarizer', () => {
  it('turns real findings into valid summaries with tier and mode from the policy', () => {
    expect(findings.length).toBeGreaterThan(3);
    const { s, c } = make();
    s.setPolicy('default', { mode: 'audit', tiers: { low: 30, high: 60 }, suppressions: [] });
    const ids = new Set<string>();
    for (const f of findings) {
      const sum = s.summarize(f);
      expect(sum).toBeDefined();
      if (!sum) continue;
      expect(summarySchema.parse(sum)).toEqual(sum);
      expect(sum.finding).toBe(f.id);
      expect(sum.mode).toBe('audit');
      expect(sum.site).toBe('lab');
      expect(sum.score).toBe(Math.round(f.score * 100));
      expect(sum.tier).toBe(sum.score >= 60 ? 'high' : sum.score >= 30 ? 'low' : 'info');
      ids.add(sum.id);
    }
    expect(ids.size).toBe(findings.length);
    expect(c.emitted).toBe(findings.length);
  });

  it('uses default thresholds 40/75 and info below low', () => {
    expect(tierFor(39, { low: 40, high: 75 })).toBe('info');
    expect(tierFor(40, { low: 40, high: 75 })).toBe('low');
    expect(tierFor(75, { low: 40, high: 75 })).toBe('high');
    const { s } = make();
    expect(s.policyFor('nowhere').tiers).toEqual({ low: 40, high: 75 });
  });

  it('trims the largest evidence keys first so the JSON fits, and marks it', () => {
    const { s } = make();
    const f: Finding = {
      ...findings[0],
      evidence: { ...findings[0].evidence, big: 'x'.repeat(5000), medium: 'y'.repeat(1500), small: 1 },
    };
    const sum = s.summarize(f);
    expect(sum).toBeDefined();
    expect(Buffer.byteLength(JSON.stringify(sum))).toBeLessThanOrEqual(MAX_SUMMARY_BYTES);
    expect(sum?.evidence.truncated).toBe(true);
    expect(sum?.evidence.big).toBeUndefined();
    expect(sum?.evidence.medium).toBe('y'.repeat(1500));
    expect(sum?.evidence.small).toBe(1);
  });

  it('suppresses repeats of one finding id within the interval, and counts them', () => {
    const { s, c, clock } = make(undefined, 60);
    expect(s.summarize(findings[0])).toBeDefined();
    clock.advance(59_000);
    expect(s.summarize(findings[0])).toBeUndefined();
    expect(c.get('suppressed_repeat')).toBe(1);
    clock.advance(2_000);
    expect(s.summarize(findings[0])).toBeDefined();
  });

  it('suppresses findings matching a segment rule until it lapses', () => {
    const { s, c, clock } = make(undefined, 0);
    const target = findings[0];
    s.setPolicy('default', {
      mode: 'alert',
      tiers: { low: 40, high: 75 },
      suppressions: [{ detector: target.detector, entity: target.entity.id, until: clock.now() + 1000 }],
    });
    const sent = findings.map((f) => s.summarize(f)).filter((x) => x !== undefined);
    const matching = findings.filter((f) => f.entity.id === target.entity.id).length;
    expect(c.get('suppressed_rule')).toBe(matching);
    expect(sent.length).toBe(findings.length - matching);
    clock.advance(1000);
    expect(s.summarize(target)).toBeDefined();
  });
});
