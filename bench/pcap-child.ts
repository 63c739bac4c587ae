// Child process of the pcap benchmark, so that its peak RSS is its own:
//   node --import tsx bench/pcap-child.ts vigil|ceiling FILE
// prints one JSON line: { seconds, packets, flows, maxRssKb }.
// `vigil` runs the whole readCaptureFlows path (reader, decoder, flow table; checksums ignored as
// the agent's default, or verified with a third argument `verify`);
// `ceiling` is a minimal loop: big reads, pcap records, Ethernet/VLAN/IPv4/IPv6 and ports, the
// 5-tuple hashed into a typed-array table.

import { closeSync, openSync, readSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { MetricsRegistry } from '../agent/metrics.js';
import { readCaptureFlows } from '../collectors/pcap/read.js';

export interface ChildResult {
  seconds: number;
  packets: number;
  flows: number;
  /** process.resourceUsage().maxRSS, kilobytes. */
  maxRssKb: number;
}

async function runVigil(file: string): Promise<ChildResult> {
  const metrics = new MetricsRegistry();
  let flows = 0;
  let issues = 0;
  const t0 = performance.now();
  await readCaptureFlows([file], { metrics, onIssue: () => issues++, checksums: process.argv[4] === 'verify' ? 'verify' : 'ignore' }, (batch) => {
    flows += batch.length;
  });
  const seconds = (performance.now() - t0) / 1000;
  if (issues > 0) process.stderr.write(`vigil reported ${issues} issues\n`);
  return { seconds, packets: metrics.counters('pcap').emitted, flows, maxRssKb: process.resourceUsage().maxRSS };
}

const TABLE_BITS = 22;

function runCeiling(file: string): ChildResult {
  const t0 = performance.now();
  const fd = openSync(file, 'r');
  const CHUNK = 8 << 20;
  const buf = Buffer.allocUnsafe(CHUNK + (256 << 10));
  const size = 1 << TABLE_BITS;
  const mask = size - 1;
  const keyA = new Int32Array(size);
  const keyB = new Int32Array(size);
  const count = new Uint32Array(size);
  let flows = 0;
  let packets = 0;
  let start = 0;
  let end = 0;
  let filePos = 0;
  let header = true;
  for (;;) {
    if (start > 0) {
      buf.copyWithin(0, start, end);
      end -= start;
      start = 0;
    }
    const got = readSync(fd, buf, end, CHUNK, filePos);
    if (got <= 0) break;
    filePos += got;
    end += got;
    if (header) {
      if (end < 24) continue;
      start = 24;
      header = false;
    }
    while (end - start >= 16) {
      const caplen = buf.readUInt32LE(start + 8);
      if (end - start < 16 + caplen) break;
      const p = start + 16;
      const stop = p + caplen;
      start = stop;
      packets++;
      let o = p + 12;
      let et = (buf[o] << 8) | buf[o + 1];
      while (et === 0x8100 || et === 0x88a8) {
        o += 4;
        et = (buf[o] << 8) | buf[o + 1];
      }
      o += 2;
      let a: number, b: number, proto: number, l4: number;
      if (et === 0x0800) {
        proto = buf[o + 9];
        a = buf.readInt32BE(o + 12);
        b = buf.readInt32BE(o + 16);
        l4 = o + (buf[o] & 15) * 4;
      } else if (et === 0x86dd) {
        proto = buf[o + 6];
        a = buf.readInt32BE(o + 8) ^ buf.readInt32BE(o + 12) ^ buf.readInt32BE(o + 16) ^ buf.readInt32BE(o + 20);
        b = buf.readInt32BE(o + 24) ^ buf.readInt32BE(o + 28) ^ buf.readInt32BE(o + 32) ^ buf.readInt32BE(o + 36);
        l4 = o + 40;
      } else {
        continue;
      }
      let ports = 0;
      if ((proto === 6 || proto === 17) && l4 + 4 <= stop) ports = buf.readInt32BE(l4);
      // Direction-independent key: order the endpoints.
      let x = a;
      let y = b;
      let pp = ports;
      if (a > b) {
        x = b;
        y = a;
        pp = ((ports << 16) | (ports >>> 16)) | 0;
      }
      const k1 = (Math.imul(x, 0x9e3779b1) ^ Math.imul(y, 0x85ebca6b) ^ proto) | 0;
      const k2 = (Math.imul(pp, 0xc2b2ae35) ^ y ^ Math.imul(proto, 0x27d4eb2f)) | 0;
      let h = (Math.imul(k1 ^ (k2 >>> 13), 0x165667b1) >>> (32 - TABLE_BITS)) & mask;
      for (;;) {
        if (count[h] === 0) {
          keyA[h] = k1;
          keyB[h] = k2;
          count[h] = 1;
          flows++;
          break;
        }
        if (keyA[h] === k1 && keyB[h] === k2) {
          count[h]++;
          break;
        }
        h = (h + 1) & mask;
      }
    }
  }
  closeSync(fd);
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, packets, flows, maxRssKb: process.resourceUsage().maxRSS };
}

async function main(): Promise<void> {
  const [mode, file] = process.argv.slice(2);
  if (!file || (mode !== 'vigil' && mode !== 'ceiling')) {
    process.stderr.write('usage: pcap-child.ts vigil|ceiling FILE\n');
    process.exitCode = 2;
    return;
  }
  const r = mode === 'vigil' ? await runVigil(file) : runCeiling(file);
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

await main();
