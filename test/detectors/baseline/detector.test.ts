// The volume baseline detector on generated series: a planted spike is found on the right
// host and day, the quiet part gives nothing, and state survives snapshot/restore.

import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../../../agent/metrics.js';
import { CidrSet, DEFAULT_LOCAL_NETS } from '../../../agent/netaddr.js';
import { Pipeline } from '../../../agent/pipeline.js';
import { mulberry32 } from '../../../agent/random.js';
import type { FlowRecord } from '../../../collectors/record.js';
import { type BaselineConfig, baselineConfigSchema } from '../../../detectors/baseline/config.js';
import { BaselineDetector } from '../../../detectors/baseline/detector.js';
import type { Finding } from '../../../detectors/detector.js';

const DAY = 86400;
const START = Date.UTC(2026, 0, 5) / 1000; // a Monday

function flow(ts: number, orig: string, resp: string, bytes: number): FlowRecord {
  return {
    kind: 'flow',
    ts,
    uid: `C${Math.round(ts * 1000)}${orig}`,
    orig_h: orig,
    orig_p: 50000,
    resp_h: resp,
    resp_p: 443,
    proto: 'tcp',
    orig_bytes: bytes,
    resp_bytes: 100,
    conn_state: 'SF',
  };
}

/** `days` of steady traffic for a few hosts, with optional extra flows for one host on one day. */
function series(opts: {
  days: number;
  seed?: number;
  spike?: { host: string; day: number; conns: number; bytes: number };
}) {
  const rand = mulberry32(opts.seed ?? 7);
  const hosts = ['10.1.0.5', '10.1.0.6', '10.1.0.7', '192.168.4.20'];
  const flows: FlowRecord[] = [];
  for (let d = 0; d < opts.days; d++) {
    for (const h of hosts) {
      const n = 200 + Math.round((rand() - 0.5) * 40);
      for (let i = 0; i < n; i++) {
        flows.push(
          flow(
            START + d * DAY + rand() * DAY,
            h,
            `203.0.113.${1 + Math.floor(rand() * 50)}`,
            5000 + Math.round(rand() * 4000),
          ),
        );
      }
      // Internal traffic never counts.
      flows.push(flow(START + d * DAY + 100, h, '10.1.0.1', 5e9));
    }
    if (opts.spike && opts.spike.day === d) {
      for (let i = 0; i < opts.spike.conns; i++) {
        flows.push(flow(START + d * DAY + 3600 + i, opts.spike.host, '198.51.100.9', opts.spike.bytes));
      }
    }
  }
  return flows.sort((a, b) => a.ts - b.ts);
}

function makeDetector(overrides: Partial<BaselineConfig> = {}, segmentCfg?: Record<string, Partial<BaselineConfig>>) {
  const cfg = baselineConfigSchema.parse(overrides);
  const local = CidrSet.parse(DEFAULT_LOCAL_NETS);
  const metrics = new MetricsRegistry();
  const detector = new BaselineDetector(
    {
      counters: metrics.counters('baseline'),
      segmentOf: (a) => (a.startsWith('192.168.') ? 'office' : 'default'),
      isLocal: (a) => local.has(a),
      configFor: (s) => (segmentCfg?.[s] ? { ...cfg, ...segmentCfg[s] } : cfg),
    },
    cfg,
  );
  return { detector, metrics };
}

async function run(detector: BaselineDetector, flows: FlowRecord[], batch = 1000): Promise<Finding[]> {
  const out: Finding[] = [];
  const metrics = new MetricsRegistry();
  const pipeline = new Pipeline({ detectors: [detector], metrics, onFindings: (f) => void out.push(...f) });
  for (let i = 0; i < flows.length; i += batch) await pipeline.sink(flows.slice(i, i + batch));
  await pipeline.finish();
  return out;
}

describe('baseline volume detector', () => {
  it('finds a planted bytes-out spike on the right host and day, with its evidence', async () => {
    const { detector } = makeDetector();
    const flows = series({ days: 21, spike: { host: '10.1.0.6', day: 15, conns: 30, bytes: 20_000_000 } });
    const findings = await run(detector, flows);
    expect(findings).toHaveLength(1);
    const f = findings[0];
    expect(f.entity).toEqual({ type: 'host', id: '10.1.0.6' });
    expect(f.window).toEqual([START + 15 * DAY, START + 16 * DAY]);
    expect(f.type).toBe('volume.spike');
    expect(f.score).toBeGreaterThan(0.5);
    expect(f.score).toBeLessThanOrEqual(1);
    expect(f.attack).toContain('T1048');
    const m = (
      f.evidence.metrics as Record<string, { value: number; mean: number; std: number; z: number; anomalous: boolean }>
    ).bytes_out;
    expect(m.anomalous).toBe(true);
    expect(m.value).toBeGreaterThan(600_000_000);
    expect(m.z).toBeGreaterThan(3);
    // The mean is the host's own previous 7 days: ~200 flows × ~7 kB.
    expect(m.mean).toBeGreaterThan(1_000_000);
    expect(m.mean).toBeLessThan(2_000_000);
    expect((f.evidence.top_destinations as { address: string }[])[0].address).toBe('198.51.100.9');
    expect(f.summary).toContain('10.1.0.6');
  });

  it('finds a connection-count spike', async () => {
    const { detector } = makeDetector();
    const flows = series({ days: 14, spike: { host: '10.1.0.7', day: 10, conns: 2000, bytes: 10 } });
    const findings = await run(detector, flows);
    expect(findings.map((f) => [f.entity.id, f.window[0]])).toEqual([['10.1.0.7', START + 10 * DAY]]);
    const m = (f: Finding) => f.evidence.metrics as Record<string, { anomalous: boolean }>;
    expect(m(findings[0]).external_conns.anomalous).toBe(true);
    expect(m(findings[0]).bytes_out.anomalous).toBe(false);
  });

  it('reports nothing on the quiet series', async () => {
    for (const seed of [1, 2, 3]) {
      const { detector, metrics } = makeDetector();
      const findings = await run(detector, series({ days: 30, seed }));
      expect(findings).toEqual([]);
      expect(metrics.snapshot().baseline.received).toBeGreaterThan(20_000);
    }
  });

  it('stays silent during warm-up even for a large first-week spike', async () => {
    const { detector } = makeDetector();
    const findings = await run(
      detector,
      series({ days: 10, spike: { host: '10.1.0.5', day: 3, conns: 3000, bytes: 1e6 } }),
    );
    expect(findings).toEqual([]);
  });

  it('applies the per-segment threshold', async () => {
    const spike = { host: '192.168.4.20', day: 12, conns: 80, bytes: 10 };
    const strict = makeDetector({}, {});
    expect(await run(strict.detector, series({ days: 16, spike }))).toHaveLength(1);
    const lenient = makeDetector({}, { office: { zThreshold: 50 } });
    expect(await run(lenient.detector, series({ days: 16, spike }))).toEqual([]);
  });

  it('gives the same findings after snapshot and restore mid-stream as in one run', async () => {
    const flows = series({ days: 20, spike: { host: '10.1.0.5', day: 17, conns: 25, bytes: 30_000_000 } });
    const whole = await run(makeDetector().detector, flows);
    const cut = flows.findIndex((f) => f.ts > START + 11.5 * DAY);
    const first = makeDetector().detector;
    const partial = await (async () => {
      const out: Finding[] = [];
      const p = new Pipeline({
        detectors: [first],
        metrics: new MetricsRegistry(),
        onFindings: (f) => void out.push(...f),
      });
      await p.sink(flows.slice(0, cut));
      return out;
    })();
    const saved = JSON.parse(JSON.stringify(first.snapshot()));
    const second = makeDetector().detector;
    second.restore(saved);
    const rest = await run(second, flows.slice(cut));
    expect([...partial, ...rest]).toEqual(whole);
    expect(whole).toHaveLength(1);
  });

  it('counts records older than a closed bucket as late instead of scoring them', async () => {
    const { detector, metrics } = makeDetector({ latenessSeconds: 0 });
    await run(
      detector,
      [flow(START + 2 * DAY, '10.1.0.5', '203.0.113.1', 10), flow(START + 10, '10.1.0.5', '203.0.113.1', 10)],
      1,
    );
    const c = metrics.snapshot().baseline;
    expect(c.extra.late).toBe(1);
    expect(c.dropped).toBe(1);
  });

  it('bounds the number of tracked hosts and counts evictions', async () => {
    const { detector, metrics } = makeDetector({ maxEntities: 100 });
    const flows: FlowRecord[] = [];
    for (let i = 0; i < 1000; i++) flows.push(flow(START + i, `10.9.${i >> 8}.${i & 255}`, '203.0.113.1', 10));
    await run(detector, flows);
    expect(detector.trackedEntities).toBeLessThanOrEqual(100);
    expect(metrics.snapshot().baseline.extra.evicted).toBe(900);
  });

  it('discards a snapshot taken with another bucket length instead of misreading it', () => {
    const a = makeDetector({ bucketSeconds: 3600 }).detector;
    const b = makeDetector({ bucketSeconds: 86400 });
    b.detector.restore(a.snapshot());
    expect(b.metrics.snapshot().baseline.extra.snapshot_discarded).toBe(1);
  });
});
