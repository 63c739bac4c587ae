// `vigil bench live` on a small flood: a real agent child captures on lo while the sender child
// sends; the accounting must add up (no timing assertions: the rate depends on the machine).

import { describe, expect, it } from 'vitest';
import { formatLiveBench, LIVE_FILTER, LiveBenchPermissionError, runLiveBench } from '../../bench/live.js';

const isRoot = process.getuid?.() === 0;

describe('vigil bench live', () => {
  it(
    isRoot ? 'floods lo with 20,000 datagrams and accounts for every one' : 'refuses without root, saying why',
    async () => {
      const lines: string[] = [];
      const running = runLiveBench({ count: 20_000, rate: 20_000, withoutDetectors: false, log: (l) => lines.push(l) });
      if (!isRoot) {
        // A non-root process with CAP_NET_RAW may capture; otherwise the refusal names the need.
        const err = await running.then(
          () => undefined,
          (e: unknown) => e,
        );
        if (err !== undefined) {
          expect(err).toBeInstanceOf(LiveBenchPermissionError);
          expect((err as Error).message).toContain('root or CAP_NET_RAW');
        }
        return;
      }
      const r = await running;
      expect(r.count).toBe(20_000);
      expect(r.filter).toBe(LIVE_FILTER);
      expect(r.runs).toHaveLength(1);
      const run = r.runs[0];
      expect(run.detectors).toBe(true);
      expect(run.sent).toBe(20_000);
      // In the private namespace (MTU 1500, offloads off) the agent's 128 MiB ring has room for far
      // more than 20,000 packets, so even a stalled agent catches up: nothing may be lost, however
      // slow or busy the machine (this is not a timing assertion).
      expect(r.iface).toContain('private network namespace');
      expect(run.captured).toBe(run.sent);
      expect(run.loss).toBe(0);
      // 20 packets per flow, 500 at a time: 1,000 flows, all reported by the agent at the latest
      // when it stops, and all through the detectors.
      expect(run.senderFlows).toBe(1000);
      expect(run.flows).toBe(run.senderFlows);
      expect(run.detectorRecords).toBe(run.flows - run.queueDropped);
      expect(run.draining).toBe('stopped');
      expect(run.ifaceRxPackets).toBeGreaterThanOrEqual(run.captured);
      expect(run.ackEvents).toBe(0); // UDP only
      expect(run.peakRssMb).toBeGreaterThan(0);
      const table = formatLiveBench(r);
      expect(table.find((l) => l.startsWith('| packets sent |'))).toBe('| packets sent | 20,000 |');
      expect(table.some((l) => l.startsWith('| loss = sent − captured |'))).toBe(true);
    },
    60_000,
  );
});
