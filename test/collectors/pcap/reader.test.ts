// The capture-file reader against an independent parser (pcap-parser) on Zeek's own traces, on
// pcapng files built here block by block, and on damaged input: every cut, random byte flips.

import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { EventEmitter } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import type { InputIssue } from '../../../agent/issues.js';
import { Counters } from '../../../agent/metrics.js';
import { mulberry32 } from '../../../agent/random.js';
import { type CaptureReadOptions, type CaptureReadResult, readCapture } from '../../../collectors/pcap/reader.js';

const require = createRequire(import.meta.url);
const pcapParser = require('pcap-parser') as { parse(input: string | NodeJS.ReadableStream): EventEmitter };

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const FIX = join(ROOT, 'test/fixtures/zeek-btest/dev');
const TMP = mkdtempSync(join(tmpdir(), 'vigil-pcap-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

function captures(ext: string): string[] {
  const out: string[] = [];
  for (const dir of readdirSync(FIX).sort()) {
    for (const f of readdirSync(join(FIX, dir)).sort()) if (f.endsWith(ext)) out.push(join(FIX, dir, f));
  }
  return out;
}
const CLASSIC = captures('.pcap');
const NG_FIXTURE = join(FIX, 'core.pcapng-pktsrc/pcapng-multi-interface.pcapng');
const WIKIPEDIA = join(FIX, 'core.tcp.rxmit-history__conn-2/wikipedia.pcap');
const QINQ = join(FIX, 'core.q-in-q/q-in-q.pcap');

interface Pkt {
  ts: number;
  linkType: number;
  caplen: number;
  origLen: number;
  interfaceId: number;
  fileOffset: number;
  data: Buffer;
}

interface Read {
  result: CaptureReadResult;
  packets: Pkt[];
  issues: InputIssue[];
  counters: Counters;
}

async function read(path: string, extra: Partial<CaptureReadOptions> = {}): Promise<Read> {
  const counters = new Counters('pcap');
  const issues: InputIssue[] = [];
  const packets: Pkt[] = [];
  const result = await readCapture(path, { counters, onIssue: (i) => issues.push(i), ...extra }, (p) => {
    expect(p.offset + p.caplen).toBeLessThanOrEqual(p.data.length);
    packets.push({
      ts: p.ts,
      linkType: p.linkType,
      caplen: p.caplen,
      origLen: p.origLen,
      interfaceId: p.interfaceId,
      fileOffset: p.fileOffset,
      data: Buffer.from(p.data.subarray(p.offset, p.offset + p.caplen)),
    });
  });
  return { result, packets, issues, counters };
}

interface OraclePkt {
  sec: number;
  usec: number;
  caplen: number;
  origLen: number;
  data: Buffer;
}

/** pcap-parser's view of a classic pcap file. */
function oracle(path: string): Promise<{ linkType: number; packets: OraclePkt[] }> {
  return new Promise((resolve, reject) => {
    const packets: OraclePkt[] = [];
    let linkType = -1;
    const p = pcapParser.parse(path);
    p.on('globalHeader', (h: { linkLayerType: number }) => (linkType = h.linkLayerType));
    p.on(
      'packet',
      (pk: {
        header: { timestampSeconds: number; timestampMicroseconds: number; capturedLength: number; originalLength: number };
        data: Buffer;
      }) =>
        packets.push({
          sec: pk.header.timestampSeconds,
          usec: pk.header.timestampMicroseconds,
          caplen: pk.header.capturedLength,
          origLen: pk.header.originalLength,
          data: Buffer.from(pk.data),
        }),
    );
    p.on('error', reject);
    p.on('end', () => resolve({ linkType, packets }));
  });
}

/** Seconds and microseconds of a float timestamp (exact for sec + usec / 1e6 at these magnitudes). */
function splitUs(ts: number): [number, number] {
  const sec = Math.floor(ts);
  return [sec, Math.round((ts - sec) * 1e6)];
}

let fileNo = 0;
function tmpFile(content: Buffer, name = 'f'): string {
  const p = join(TMP, `${name}-${fileNo++}`);
  writeFileSync(p, content);
  return p;
}

/** Rewrites a little-endian microsecond pcap in another byte order and/or with nanoseconds. */
function convertPcap(src: Buffer, bigEndian: boolean, nano: boolean): Buffer {
  expect(src.readUInt32LE(0)).toBe(0xa1b2c3d4);
  const out = Buffer.from(src);
  const w32 = (o: number, v: number) => (bigEndian ? out.writeUInt32BE(v, o) : out.writeUInt32LE(v, o));
  const w16 = (o: number, v: number) => (bigEndian ? out.writeUInt16BE(v, o) : out.writeUInt16LE(v, o));
  w32(0, nano ? 0xa1b23c4d : 0xa1b2c3d4);
  w16(4, src.readUInt16LE(4));
  w16(6, src.readUInt16LE(6));
  w32(8, src.readUInt32LE(8));
  w32(12, src.readUInt32LE(12));
  w32(16, src.readUInt32LE(16));
  w32(20, src.readUInt32LE(20));
  for (let o = 24; o + 16 <= src.length; ) {
    const caplen = src.readUInt32LE(o + 8);
    w32(o, src.readUInt32LE(o));
    w32(o + 4, src.readUInt32LE(o + 4) * (nano ? 1000 : 1));
    w32(o + 8, caplen);
    w32(o + 12, src.readUInt32LE(o + 12));
    o += 16 + caplen;
  }
  return out;
}

function pcapFile(snaplen: number, linkType: number, records: { sec: number; usec: number; data: Buffer; caplen?: number }[]): Buffer {
  const parts: Buffer[] = [];
  const h = Buffer.alloc(24);
  h.writeUInt32LE(0xa1b2c3d4, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeUInt32LE(snaplen, 16);
  h.writeUInt32LE(linkType, 20);
  parts.push(h);
  for (const r of records) {
    const rh = Buffer.alloc(16);
    rh.writeUInt32LE(r.sec, 0);
    rh.writeUInt32LE(r.usec, 4);
    rh.writeUInt32LE(r.caplen ?? r.data.length, 8);
    rh.writeUInt32LE(r.data.length, 12);
    parts.push(rh, r.data);
  }
  return Buffer.concat(parts);
}

/** Builds pcapng blocks in one byte order. */
class Ng {
  readonly blocks: Buffer[] = [];
  constructor(private le: boolean) {}

  private u16(v: number): Buffer {
    const b = Buffer.alloc(2);
    if (this.le) b.writeUInt16LE(v);
    else b.writeUInt16BE(v);
    return b;
  }
  private u32(v: number): Buffer {
    const b = Buffer.alloc(4);
    if (this.le) b.writeUInt32LE(v);
    else b.writeUInt32BE(v);
    return b;
  }
  private u64(v: bigint): Buffer {
    // As two 32-bit halves, high first (the timestamp layout of packet blocks).
    return Buffer.concat([this.u32(Number(v >> 32n)), this.u32(Number(v & 0xffffffffn))]);
  }
  private pad(b: Buffer): Buffer {
    return Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
  }
  block(type: number, body: Buffer): this {
    const b = this.pad(body);
    const len = 12 + b.length;
    this.blocks.push(Buffer.concat([this.u32(type), this.u32(len), b, this.u32(len)]));
    return this;
  }
  shb(): this {
    const magic = this.u32(0x1a2b3c4d);
    const sectionLength = Buffer.alloc(8, 0xff); // -1: not given
    return this.block(0x0a0d0d0a, Buffer.concat([magic, this.u16(1), this.u16(0), sectionLength]));
  }
  idb(linkType: number, snaplen: number, tsresol?: number, tsoffset?: bigint): this {
    const opts: Buffer[] = [this.u16(2), this.u16(4), Buffer.from('eth0')];
    if (tsresol !== undefined) opts.push(this.u16(9), this.u16(1), Buffer.from([tsresol, 0, 0, 0]));
    if (tsoffset !== undefined) {
      const v = Buffer.alloc(8);
      if (this.le) v.writeBigInt64LE(tsoffset);
      else v.writeBigInt64BE(tsoffset);
      opts.push(this.u16(14), this.u16(8), v);
    }
    opts.push(this.u16(0), this.u16(0));
    return this.block(1, Buffer.concat([this.u16(linkType), this.u16(0), this.u32(snaplen), ...opts]));
  }
  epb(ifId: number, units: bigint, data: Buffer, origLen = data.length, caplen = data.length): this {
    return this.block(6, Buffer.concat([this.u32(ifId), this.u64(units), this.u32(caplen), this.u32(origLen), this.pad(data)]));
  }
  opb(ifId: number, units: bigint, data: Buffer): this {
    const head = Buffer.concat([this.u16(ifId), this.u16(0), this.u64(units), this.u32(data.length), this.u32(data.length)]);
    return this.block(2, Buffer.concat([head, this.pad(data)]));
  }
  spb(origLen: number, data: Buffer): this {
    return this.block(3, Buffer.concat([this.u32(origLen), data]));
  }
}

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 17) & 0xff;
  return b;
}

interface Expected {
  ts: number;
  linkType: number;
  interfaceId: number;
  caplen: number;
  origLen: number;
  data: Buffer;
}

/**
 * Two sections: a little-endian one with an Ethernet interface (default microseconds, snaplen 64)
 * and a raw-IP one (2^-10 s units, +1000 s offset), unknown, statistics and custom blocks, a
 * simple and an obsolete packet block; then a big-endian section with a nanosecond interface.
 */
function buildNg(): { file: Buffer; blockEnds: number[]; expected: Expected[] } {
  const d = [bytes(60, 1), bytes(40, 2), bytes(100, 3), bytes(10, 4), bytes(33, 5), bytes(1500, 6), bytes(70, 7)];
  const s1 = new Ng(true)
    .shb()
    .idb(1, 64)
    .idb(101, 0, 0x8a, 1000n)
    .epb(0, 1_700_000_000_123_456n, d[0], 1514)
    .block(0x0bad, Buffer.from('not a known block'))
    .epb(1, 1_600_000_000n * 1024n + 512n, d[1])
    .block(5, Buffer.alloc(24)) // interface statistics: not needed, skipped
    .spb(100, d[2]) // caplen = snaplen 64
    .spb(10, d[3]) // caplen = original length 10, not the padded 12
    .opb(1, 1_600_000_001n * 1024n, d[4])
    .block(0x40000bad, bytes(5000, 9)); // custom block larger than a small chunk
  const s2 = new Ng(false).shb().idb(1, 262144, 9).epb(0, 1_500_000_000_250_000_000n, d[5]).epb(0, 1_500_000_001_000_000_001n, d[6]);
  const blocks = [...s1.blocks, ...s2.blocks];
  const blockEnds: number[] = [];
  let at = 0;
  for (const b of blocks) blockEnds.push((at += b.length));
  const expected: Expected[] = [
    { ts: 1700000000.123456, linkType: 1, interfaceId: 0, caplen: 60, origLen: 1514, data: d[0] },
    { ts: 1600001000.5, linkType: 101, interfaceId: 1, caplen: 40, origLen: 40, data: d[1] },
    { ts: 1600001000.5, linkType: 1, interfaceId: 0, caplen: 64, origLen: 100, data: d[2].subarray(0, 64) },
    { ts: 1600001000.5, linkType: 1, interfaceId: 0, caplen: 10, origLen: 10, data: d[3] },
    { ts: 1600001001, linkType: 101, interfaceId: 1, caplen: 33, origLen: 33, data: d[4] },
    { ts: 1500000000.25, linkType: 1, interfaceId: 0, caplen: 1500, origLen: 1500, data: d[5] },
    { ts: 1500000001 + 1e-9, linkType: 1, interfaceId: 0, caplen: 70, origLen: 70, data: d[6] },
  ];
  return { file: Buffer.concat(blocks), blockEnds, expected };
}

function expectPackets(got: Pkt[], want: Expected[]): void {
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => {
    const g = got[i];
    expect(Math.abs(g.ts - w.ts), `packet ${i} ts ${g.ts} vs ${w.ts}`).toBeLessThan(1e-6);
    expect({ l: g.linkType, i: g.interfaceId, c: g.caplen, o: g.origLen }).toEqual({
      l: w.linkType,
      i: w.interfaceId,
      c: w.caplen,
      o: w.origLen,
    });
    expect(g.data.equals(w.data), `packet ${i} bytes`).toBe(true);
  });
}

function samePackets(a: Pkt[], b: Pkt[]): void {
  expect(a.length).toBe(b.length);
  a.forEach((p, i) => {
    expect(splitUs(p.ts)).toEqual(splitUs(b[i].ts));
    expect([p.caplen, p.origLen, p.linkType, p.interfaceId]).toEqual([b[i].caplen, b[i].origLen, b[i].linkType, b[i].interfaceId]);
    expect(p.data.equals(b[i].data)).toBe(true);
  });
}

/** Deterministic PRNG: the project's own. */
const rng = mulberry32;

describe('classic pcap', () => {
  it('finds the fixtures', () => {
    expect(CLASSIC.length).toBeGreaterThanOrEqual(15);
  });

  it.each(CLASSIC.map((p) => [p.slice(FIX.length + 1)]))('%s reads as pcap-parser reads it', async (rel) => {
    const path = join(FIX, rel);
    const want = await oracle(path);
    for (const chunkSize of [undefined, 64]) {
      const got = await read(path, { chunkSize });
      expect(got.issues).toEqual([]);
      expect(got.result).toEqual({ format: 'pcap', packets: want.packets.length, bytes: readFileSync(path).length, issues: 0 });
      expect(got.packets.length).toBe(want.packets.length);
      expect(want.packets.length).toBeGreaterThan(0);
      got.packets.forEach((p, i) => {
        const o = want.packets[i];
        expect(splitUs(p.ts)).toEqual([o.sec, o.usec]);
        expect([p.caplen, p.origLen, p.linkType, p.interfaceId]).toEqual([o.caplen, o.origLen, want.linkType & 0xffff, 0]);
        expect(p.data.equals(o.data), `packet ${i} bytes`).toBe(true);
      });
      expect(got.counters.emitted).toBe(want.packets.length);
      expect(got.counters.errors).toBe(0);
    }
  });

  it('reads nanosecond and big-endian files to the same packets', async () => {
    const src = readFileSync(WIKIPEDIA);
    const base = await read(WIKIPEDIA);
    for (const [bigEndian, nano] of [
      [true, false],
      [false, true],
      [true, true],
    ]) {
      const conv = convertPcap(src, bigEndian, nano);
      expect(conv.equals(src)).toBe(false);
      const got = await read(tmpFile(conv, 'conv'), { chunkSize: 1000 });
      expect(got.issues).toEqual([]);
      samePackets(got.packets, base.packets);
    }
  });

  it('keeps the nanoseconds of a nanosecond file', async () => {
    const f = pcapFile(65535, 1, [{ sec: 1500000000, usec: 0, data: bytes(20, 1) }]);
    f.writeUInt32LE(0xa1b23c4d, 0);
    f.writeUInt32LE(123456500, 24 + 4);
    const got = await read(tmpFile(f));
    // Doubles near 1.5e9 s keep about 0.24 µs: more than microseconds, less than nanoseconds.
    expect(Math.abs(got.packets[0].ts - 1500000000 - 0.1234565)).toBeLessThan(3e-7);
  });

  it('reads a record larger than the chunk size', async () => {
    const recs = [
      { sec: 1, usec: 1, data: bytes(30, 1) },
      { sec: 2, usec: 2, data: bytes(9000, 2) },
      { sec: 3, usec: 3, data: bytes(70, 3) },
      { sec: 4, usec: 4, data: bytes(64, 4) },
    ];
    const path = tmpFile(pcapFile(65535, 1, recs));
    const got = await read(path, { chunkSize: 64 });
    expect(got.issues).toEqual([]);
    expect(got.packets.map((p) => [p.ts, p.caplen])).toEqual(recs.map((r) => [r.sec + r.usec / 1e6, r.data.length]));
    got.packets.forEach((p, i) => expect(p.data.equals(recs[i].data)).toBe(true));
    expect(got.packets.map((p) => p.fileOffset)).toEqual([24, 24 + 46, 24 + 46 + 9016, 24 + 46 + 9016 + 86]);
  });

  it('hands every packet the same reused view', async () => {
    const seen = new Set<object>();
    await readCapture(WIKIPEDIA, { counters: new Counters('pcap'), onIssue: () => {}, chunkSize: 4096 }, (p) => seen.add(p));
    expect(seen.size).toBe(1);
  });

  it('reports a caplen above the snaplen or maxPacket at its record and stops', async () => {
    const recs = [
      { sec: 1, usec: 0, data: bytes(50, 1) },
      { sec: 2, usec: 0, data: bytes(200, 2) },
      { sec: 3, usec: 0, data: bytes(50, 3) },
    ];
    const overSnap = await read(tmpFile(pcapFile(100, 1, recs)));
    expect(overSnap.packets.length).toBe(1);
    expect(overSnap.issues).toHaveLength(1);
    expect(overSnap.issues[0]).toMatchObject({ component: 'pcap', offset: 24 + 16 + 50 });
    expect(overSnap.issues[0].message).toMatch(/caplen 200 .*snaplen/);
    expect(overSnap.counters.get('bad_records')).toBe(1);
    expect(overSnap.counters.errors).toBe(1);

    const overMax = await read(tmpFile(pcapFile(65535, 1, recs)), { maxPacket: 100 });
    expect(overMax.packets.length).toBe(1);
    expect(overMax.issues[0].message).toMatch(/caplen 200 .*largest accepted/);

    const huge = pcapFile(0, 1, recs);
    huge.writeUInt32LE(0xfffffff0, 24 + 16 + 50 + 8);
    const h = await read(tmpFile(huge));
    expect(h.packets.length).toBe(1);
    expect(h.issues).toHaveLength(1);
  });

  it('reports an unknown link type once and passes the packets on', async () => {
    const got = await read(tmpFile(pcapFile(65535, 4242, [{ sec: 1, usec: 0, data: bytes(20, 1) }, { sec: 2, usec: 0, data: bytes(20, 2) }])));
    expect(got.packets.map((p) => p.linkType)).toEqual([4242, 4242]);
    expect(got.issues).toHaveLength(1);
    expect(got.issues[0].message).toMatch(/unknown link type 4242/);
    expect(got.counters.get('unknown_linktype')).toBe(1);
  });
});

describe('pcapng', () => {
  it("reads Zeek's multi-interface trace: packets, interfaces, timestamps", async () => {
    const got = await read(NG_FIXTURE);
    expect(got.issues).toEqual([]);
    expect(got.result).toEqual({ format: 'pcapng', packets: 6, bytes: 1348, issues: 0 });
    expect(got.packets.map((p) => p.interfaceId)).toEqual([0, 0, 1, 1, 1, 1]);
    expect(got.packets.every((p) => p.linkType === 1)).toBe(true);
    // Interface 0 has nanosecond units: the first EPB holds 0x18880036_e43c99fd ns.
    expect(Math.abs(got.packets[0].ts - 1767663089 - 0.500330493)).toBeLessThan(1e-6);
    // Interface 1 has microsecond units.
    expect(Math.abs(got.packets[2].ts - 1767663437.111897)).toBeLessThan(1e-6);
    // The conn.log: three DNS flows, one request and one reply each, with these durations and IP bytes.
    const log = readFileSync(join(FIX, 'core.pcapng-pktsrc/conn.log'), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split('\t'));
    expect(log).toHaveLength(3);
    for (let f = 0; f < 3; f++) {
      const [req, rep] = [got.packets[2 * f], got.packets[2 * f + 1]];
      expect(Math.abs(rep.ts - req.ts - Number(log[f][8]))).toBeLessThan(2e-6);
      expect(req.caplen - 14).toBe(Number(log[f][17])); // orig_ip_bytes
      expect(rep.caplen - 14).toBe(Number(log[f][19])); // resp_ip_bytes
    }
    const small = await read(NG_FIXTURE, { chunkSize: 64 });
    samePackets(small.packets, got.packets);
  });

  it('reads several sections and interfaces, both byte orders, tsresol/tsoffset, SPB, OPB, unknown blocks', async () => {
    const { file, expected } = buildNg();
    const path = tmpFile(file, 'ng');
    for (const chunkSize of [undefined, 64, 100]) {
      const got = await read(path, { chunkSize });
      expect(got.issues).toEqual([]);
      expectPackets(got.packets, expected);
      expect(got.result).toEqual({ format: 'pcapng', packets: expected.length, bytes: file.length, issues: 0 });
      expect(got.counters.get('skipped_blocks')).toBe(3);
    }
  });

  it('skips a packet block with an impossible caplen and reads on', async () => {
    const ng = new Ng(true).shb().idb(1, 100);
    ng.epb(0, 1n, bytes(20, 1));
    ng.epb(0, 2n, bytes(20, 2), 20, 200); // caplen larger than the block
    ng.epb(0, 3n, bytes(150, 3)); // caplen above the snaplen
    ng.epb(0, 4n, bytes(20, 4));
    const file = Buffer.concat(ng.blocks);
    const got = await read(tmpFile(file));
    expect(got.packets.map((p) => p.ts)).toEqual([1e-6, 4e-6]);
    expect(got.issues).toHaveLength(2);
    expect(got.issues[0].offset).toBe(ng.blocks[0].length + ng.blocks[1].length + ng.blocks[2].length);
    expect(got.issues[1].message).toMatch(/snaplen 100/);
    expect(got.counters.get('bad_blocks')).toBe(2);
    expect(got.counters.dropped).toBe(2);

    const tooBig = await read(tmpFile(Buffer.concat(new Ng(true).shb().idb(1, 0).epb(0, 1n, bytes(5000, 1)).epb(0, 2n, bytes(20, 2)).blocks)), {
      maxPacket: 1000,
    });
    expect(tooBig.packets.map((p) => p.caplen)).toEqual([20]);
    expect(tooBig.issues).toHaveLength(1);
  });

  it('stops at a block length that is not a multiple of 4 or below its minimum', async () => {
    const ng = new Ng(true).shb().idb(1, 0).epb(0, 1n, bytes(20, 1)).epb(0, 2n, bytes(20, 2));
    const file = Buffer.concat(ng.blocks);
    const at = ng.blocks[0].length + ng.blocks[1].length + ng.blocks[2].length;
    const odd = Buffer.from(file);
    odd.writeUInt32LE(odd.readUInt32LE(at + 4) + 1, at + 4);
    const a = await read(tmpFile(odd));
    expect(a.packets).toHaveLength(1);
    expect(a.issues).toHaveLength(1);
    expect(a.issues[0]).toMatchObject({ component: 'pcap', offset: at });
    expect(a.issues[0].message).toMatch(/bad block length/);

    const short = Buffer.concat(new Ng(true).shb().idb(1, 0).block(6, Buffer.alloc(8)).epb(0, 2n, bytes(20, 2)).blocks);
    const b = await read(tmpFile(short));
    expect(b.packets).toHaveLength(1); // the short EPB is skipped by its (sane) length
    expect(b.issues[0].message).toMatch(/shorter than its minimum/);
  });

  it('stops at a block whose trailing length differs from its length', async () => {
    const ng = new Ng(true).shb().idb(1, 0).epb(0, 1n, bytes(20, 1)).epb(0, 2n, bytes(20, 2)).epb(0, 3n, bytes(20, 3));
    const file = Buffer.concat(ng.blocks);
    const second = ng.blocks[0].length + ng.blocks[1].length + ng.blocks[2].length;
    file.writeUInt32LE(8, second + ng.blocks[3].length - 4);
    const got = await read(tmpFile(file));
    expect(got.packets.map((p) => p.fileOffset)).toEqual([second - ng.blocks[2].length]);
    expect(got.issues).toHaveLength(1);
    expect(got.issues[0]).toMatchObject({ offset: second, message: expect.stringMatching(/trailing length/) as string });
  });

  it('reports an unknown link type once per interface', async () => {
    const ng = new Ng(true).shb().idb(4242, 0).idb(1, 0).idb(4243, 0);
    for (let i = 0; i < 6; i++) ng.epb(i % 3, BigInt(i), bytes(20, i));
    const got = await read(tmpFile(Buffer.concat(ng.blocks)));
    expect(got.packets.map((p) => p.linkType)).toEqual([4242, 1, 4243, 4242, 1, 4243]);
    expect(got.issues.map((i) => i.message)).toEqual([
      expect.stringMatching(/interface 0: unknown link type 4242/),
      expect.stringMatching(/interface 2: unknown link type 4243/),
    ]);
  });
});

describe('standard input', () => {
  function chunked(buf: Buffer, seed: number): Readable {
    const r = rng(seed);
    const parts: Buffer[] = [];
    for (let at = 0; at < buf.length; ) {
      const n = 1 + Math.floor(r() * 700);
      parts.push(buf.subarray(at, at + n));
      at += n;
    }
    return Readable.from(parts);
  }

  it('reads a classic pcap and a pcapng from stdin in odd-sized chunks', async () => {
    const file = await read(WIKIPEDIA);
    const stdin = await read('-', { stdin: chunked(readFileSync(WIKIPEDIA), 1), chunkSize: 512 });
    expect(stdin.issues).toEqual([]);
    expect(stdin.result.bytes).toBe(readFileSync(WIKIPEDIA).length);
    samePackets(stdin.packets, file.packets);
    expect(stdin.packets.map((p) => p.fileOffset)).toEqual(file.packets.map((p) => p.fileOffset));

    const { file: ng, expected } = buildNg();
    const ngRead = await read('-', { stdin: chunked(ng, 2), chunkSize: 64 });
    expect(ngRead.issues).toEqual([]);
    expectPackets(ngRead.packets, expected);
  });

  it('reports a failing stream as a read error, keeping the packets before it', async () => {
    const buf = readFileSync(QINQ);
    const stdin = new Readable({ read() {} });
    stdin.push(buf.subarray(0, 24 + 16 + 100));
    setTimeout(() => stdin.destroy(new Error('boom')), 10);
    const got = await read('-', { stdin });
    const full = await read(QINQ);
    const before = full.packets.filter((p) => p.fileOffset + 16 + p.caplen <= 24 + 16 + 100).length;
    expect(before).toBeGreaterThan(0);
    samePackets(got.packets, full.packets.slice(0, before));
    expect(got.issues).toHaveLength(1);
    expect(got.issues[0].message).toMatch(/cannot read: boom/);
    expect(got.counters.get('read_errors')).toBe(1);
  });

  it('rethrows what onPacket throws', async () => {
    await expect(
      readCapture(QINQ, { counters: new Counters('pcap'), onIssue: () => {} }, () => {
        throw new Error('consumer failed');
      }),
    ).rejects.toThrow('consumer failed');
  });

  it('reports a cut from stdin too', async () => {
    const buf = readFileSync(QINQ);
    const got = await read('-', { stdin: Readable.from([buf.subarray(0, buf.length - 5)]) });
    expect(got.packets).toHaveLength(4);
    expect(got.counters.get('truncated')).toBe(1);
  });
});

describe('damaged input', () => {
  it('reports a bad magic, an empty file and a missing file', async () => {
    const bad = await read(tmpFile(Buffer.from('this is not a capture file at all')));
    expect(bad.packets).toEqual([]);
    expect(bad.issues).toEqual([{ component: 'pcap', file: expect.any(String) as string, offset: 0, message: expect.stringMatching(/magic 0x74686973/) as string }]);
    expect(bad.counters.get('bad_magic')).toBe(1);
    expect(bad.counters.errors).toBe(1);

    const empty = await read(tmpFile(Buffer.alloc(0)));
    expect(empty.issues[0].message).toMatch(/empty/);

    const missing = await read(join(TMP, 'no-such-file.pcap'));
    expect(missing.issues[0].message).toMatch(/cannot open: no such file/);
    expect(missing.counters.get('open_errors')).toBe(1);
  });

  it('reads a classic pcap cut at every offset', async () => {
    const buf = readFileSync(QINQ);
    const full = await read(QINQ);
    const ends: number[] = [];
    let at = 24;
    for (const p of full.packets) ends.push((at += 16 + p.caplen));
    const starts = [24, ...ends.slice(0, -1)];
    for (let cut = 0; cut < buf.length; cut++) {
      const got = await read(tmpFile(buf.subarray(0, cut), 'cut'), { chunkSize: 64 });
      const whole = ends.filter((e) => e <= cut).length;
      samePackets(got.packets, full.packets.slice(0, whole));
      const boundary = cut >= 24 && (cut === 24 || ends.includes(cut));
      if (boundary) {
        expect(got.issues, `cut ${cut}`).toEqual([]);
      } else {
        expect(got.issues, `cut ${cut}`).toHaveLength(1);
        expect(got.issues[0].offset, `cut ${cut}`).toBe(cut < 24 ? 0 : starts[whole]);
        if (cut > 0) expect(got.counters.get('truncated'), `cut ${cut}`).toBe(1);
      }
    }
  });

  it('reads pcapng files cut at every offset', async () => {
    const built = buildNg();
    const fixture = readFileSync(NG_FIXTURE);
    const fixtureEnds: number[] = [];
    for (let at = 0; at < fixture.length; ) fixtureEnds.push((at += fixture.readUInt32LE(at + 4)));
    for (const [buf, blockEnds] of [
      [built.file, built.blockEnds],
      [fixture, fixtureEnds],
    ] as const) {
      const full = await read(tmpFile(buf));
      const packetEnds = full.packets.map((p) => blockEnds.find((e) => e > p.fileOffset) ?? -1);
      for (let cut = 0; cut < buf.length; cut++) {
        const got = await read(tmpFile(buf.subarray(0, cut), 'ngcut'), { chunkSize: 64 });
        const whole = packetEnds.filter((e) => e <= cut).length;
        samePackets(got.packets, full.packets.slice(0, whole));
        if (cut > 0 && blockEnds.includes(cut)) {
          expect(got.issues, `cut ${cut}`).toEqual([]);
        } else {
          expect(got.issues, `cut ${cut}`).toHaveLength(1);
          const blockStart = [0, ...blockEnds].filter((e) => e <= cut).pop();
          expect(got.issues[0].offset, `cut ${cut}`).toBe(blockStart);
        }
      }
    }
  });

  it('survives 200 seeded random byte-flip variants of each format', async () => {
    const sources = [readFileSync(WIKIPEDIA), readFileSync(NG_FIXTURE), buildNg().file];
    const r = rng(20240601);
    for (const src of sources) {
      for (let v = 0; v < 200; v++) {
        const buf = Buffer.from(src);
        const flips = 1 + Math.floor(r() * 8);
        for (let k = 0; k < flips; k++) {
          // Mostly in the headers, where flips change the structure.
          const pos = r() < 0.5 ? Math.floor(r() * Math.min(buf.length, 400)) : Math.floor(r() * buf.length);
          buf[pos] ^= 1 << Math.floor(r() * 8);
        }
        const got = await read(tmpFile(buf, 'flip'), { chunkSize: 256, maxPacket: 65535 });
        expect(got.result.issues).toBe(got.issues.length);
        expect(got.counters.errors).toBe(got.issues.length);
        for (const i of got.issues) expect(i.component).toBe('pcap');
        expect(got.packets.every((p) => p.caplen <= 65535)).toBe(true);
      }
    }
  }, 60_000);
});
