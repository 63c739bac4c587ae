// The pcap benchmark's generator: a file both vigil's reader and pcap-parser read completely,
// correct checksums on every IPv4 TCP/UDP packet, the connection states it means to produce,
// about as many flows as it says, and the same bytes for the same seed.

import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../../agent/metrics.js';
import { generatePcap } from '../../bench/pcap-gen.js';
import { checksumOk, createDecodeResult, decodePacket } from '../../collectors/pcap/decode.js';
import { readCaptureFlows } from '../../collectors/pcap/read.js';
import { readCapture } from '../../collectors/pcap/reader.js';
import type { FlowRecord } from '../../collectors/record.js';

interface PcapParser {
  parse(path: string): { on(event: string, cb: (arg?: unknown) => void): void };
}
const pcapParser = createRequire(import.meta.url)('pcap-parser') as PcapParser;

const PACKETS = 20_000;
const dir = mkdtempSync(join(tmpdir(), 'vigil-pcap-gen-'));
const file = join(dir, 'a.pcap');
const gen = generatePcap(file, { packets: PACKETS, seed: 42 });

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function noIssues(): { metrics: MetricsRegistry; issues: string[]; onIssue: (i: { message: string }) => void } {
  const issues: string[] = [];
  return { metrics: new MetricsRegistry(), issues, onIssue: (i) => issues.push(i.message) };
}

async function flowsOf(checksums: 'verify' | 'ignore'): Promise<FlowRecord[]> {
  const { metrics, issues, onIssue } = noIssues();
  const flows: FlowRecord[] = [];
  await readCaptureFlows([file], { metrics, onIssue, checksums }, (b) => {
    flows.push(...b);
  });
  expect(issues).toEqual([]);
  return flows;
}

describe('generatePcap', () => {
  it('writes the packets it reports, read alike by vigil and by pcap-parser', async () => {
    expect(gen.packets).toBe(PACKETS);
    const { metrics, issues, onIssue } = noIssues();
    const r = await readCapture(file, { counters: metrics.counters('pcap'), onIssue }, () => {});
    expect(issues).toEqual([]);
    expect(r.packets).toBe(PACKETS);
    expect(r.bytes).toBe(gen.bytes);
    const parsed = await new Promise<number>((resolve, reject) => {
      let n = 0;
      const p = pcapParser.parse(file);
      p.on('packet', () => n++);
      p.on('end', () => resolve(n));
      p.on('error', (e) => reject(e as Error));
    });
    expect(parsed).toBe(PACKETS);
  });

  it('puts a correct checksum on every IPv4 TCP/UDP packet', async () => {
    const { metrics, onIssue } = noIssues();
    const d = createDecodeResult();
    let checked = 0;
    let bad = 0;
    let vlan = 0;
    let v6 = 0;
    let icmp = 0;
    await readCapture(file, { counters: metrics.counters('pcap'), onIssue }, (p) => {
      expect(decodePacket(d, p.linkType, p.data, p.offset, p.caplen, p.origLen)).toBe(true);
      const L = d.layers[0];
      if (d.vlan >= 0) vlan++;
      if (L.version === 6) v6++;
      if (L.proto === 1) icmp++;
      if (L.version === 4 && (L.proto === 6 || L.proto === 17)) {
        checked++;
        if (!checksumOk(d, 0)) bad++;
      }
    });
    expect(bad).toBe(0);
    expect(checked).toBeGreaterThan(PACKETS * 0.7);
    expect(vlan).toBeGreaterThan(0);
    expect(v6).toBeGreaterThan(0);
    expect(icmp).toBeGreaterThan(0);
  });

  it('yields SF, S0, REJ and reset connections, about as many as generated, alike with and without checksum checks', async () => {
    const flows = await flowsOf('verify');
    const states = new Map<string, number>();
    for (const f of flows) states.set(f.conn_state ?? '-', (states.get(f.conn_state ?? '-') ?? 0) + 1);
    for (const s of ['SF', 'S0', 'REJ']) expect(states.get(s) ?? 0).toBeGreaterThan(0);
    expect((states.get('RSTO') ?? 0) + (states.get('RSTR') ?? 0)).toBeGreaterThan(0);
    expect(Math.abs(flows.length - gen.flows) / gen.flows).toBeLessThan(0.03);
    const ignored = await flowsOf('ignore');
    expect(ignored.length).toBe(flows.length);
  });

  it('is deterministic for a seed', () => {
    const again = join(dir, 'b.pcap');
    const other = join(dir, 'c.pcap');
    const r = generatePcap(again, { packets: PACKETS, seed: 42 });
    const o = generatePcap(other, { packets: PACKETS, seed: 43 });
    const hash = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
    expect(r).toEqual(gen);
    expect(hash(again)).toBe(hash(file));
    expect(hash(other)).not.toBe(hash(file));
    expect(o.packets).toBe(PACKETS);
  });
});
