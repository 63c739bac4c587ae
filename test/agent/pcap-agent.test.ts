// The agent on packets: capture files read once (and not again after a restart), and a live
// capture on the loopback interface of an exchange this test makes (root only, as in CI; without
// root the agent must refuse with the permission message).

import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../agent/config.js';
import { Agent } from '../../agent/daemon.js';
import type { InputIssue } from '../../agent/issues.js';
import { root } from '../helpers/agent/findings.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-pcap-agent-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const isRoot = process.getuid?.() === 0;

function agent(pcap: Record<string, unknown>, name: string) {
  const issues: InputIssue[] = [];
  const out = new PassThrough();
  let findings = '';
  out.on('data', (d: Buffer) => {
    findings += d.toString();
  });
  const a = new Agent({
    resolved: resolveConfig({
      sensor: { site: 'lab', name },
      state: { path: path.join(tmp, `${name}.sqlite`) },
      collectors: { pcap },
    }),
    findingsOut: out,
    onIssue: (i) => issues.push(i),
    log: () => undefined,
  });
  return { a, issues, findings: () => findings };
}

describe('agent with collectors.pcap', () => {
  it('reads capture files into flows for the detectors, and not again after a restart', async () => {
    const file = path.join(root, 'test/fixtures/zeek-btest/dev/core.tunnels.gre/gre-sample.pcap');
    const first = agent({ files: [file] }, 'files');
    await first.a.run();
    expect(first.issues).toEqual([]);
    const flows = first.a.metrics.counters('flows').get('flows');
    expect(flows).toBeGreaterThanOrEqual(7); // Zeek's conn.log for this trace has 7 connections
    expect(first.a.metrics.counters('beacon').received).toBe(flows);
    const again = agent({ files: [file] }, 'files');
    await again.a.run();
    expect(again.a.metrics.counters('flows').get('flows')).toBe(0);
  });

  it('refuses both collectors at once', async () => {
    const a = new Agent({
      resolved: resolveConfig({
        state: { path: path.join(tmp, 'both.sqlite') },
        collectors: { zeek: { files: ['x'] }, pcap: { files: ['y'] } },
      }),
      findingsOut: new PassThrough(),
      onIssue: () => undefined,
      log: () => undefined,
    });
    await expect(a.run()).rejects.toThrow('collectors.zeek and collectors.pcap are both set');
  });

  it(
    isRoot ? 'captures live on lo: the connections this test makes reach the detectors' : 'without root, live capture is refused with the permission message',
    async () => {
      const server = net.createServer((s) => {
        s.on('data', () => undefined);
        s.end(Buffer.alloc(500, 1));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as net.AddressInfo).port;
      const live = agent({ interface: 'lo', filter: `tcp port ${port}`, bufferMiB: 16 }, 'live');
      try {
        const running = live.a.run();
        if (!isRoot) {
          await expect(running).rejects.toThrow('needs root or CAP_NET_RAW');
          return;
        }
        await new Promise((r) => setTimeout(r, 300)); // the capture is open
        for (let i = 0; i < 5; i++) {
          await new Promise<void>((resolve, reject) => {
            const c = net.connect(port, '127.0.0.1', () => c.end(Buffer.alloc(200, 2)));
            c.on('data', () => undefined);
            c.on('close', () => resolve());
            c.on('error', reject);
          });
        }
        await new Promise((r) => setTimeout(r, 300));
        await live.a.stop();
        await running;
        const flows = live.a.metrics.counters('flows').get('flows');
        expect(flows).toBe(5);
        expect(live.a.metrics.counters('baseline').received).toBe(5);
        // The capture's loss figures reach the agent's counters (health, SIGUSR1, the stop line).
        const extra = live.a.metrics.counters('flows').snapshot().extra;
        expect(extra.ack_events).toBeGreaterThan(0);
        expect(extra.gap_events).toBe(0);
        expect(extra.iface_rx_packets).toBeGreaterThanOrEqual(extra.capture_packets);
        expect(typeof extra.iface_rx_dropped).toBe('number');
        expect(live.a.metrics.counters('pcap').get('live_captures')).toBe(0);
        // Only the warning about lo's offloads (on by default) may appear.
        expect(live.issues.filter((i) => !i.message.startsWith('offloads on'))).toEqual([]);
      } finally {
        server.close();
      }
    },
    20_000,
  );
});
