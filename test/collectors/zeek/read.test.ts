// Reading whole Zeek logs from files and stdin: plain or gzip (by magic number), chunk borders,
// batches and backpressure, and damaged or missing input reported without losing what was read.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import type { InputIssue } from '../../../agent/issues.js';
import { Counters } from '../../../agent/metrics.js';
import type { FlowRecord } from '../../../collectors/record.js';
import { ZeekConnParser } from '../../../collectors/zeek/parser.js';
import { type ReadZeekOptions, readZeekFiles } from '../../../collectors/zeek/read.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const connLog = readFileSync(path.join(root, 'test/fixtures/zeek/zeek-cut-logs/conn.log'));
const dir = mkdtempSync(path.join(tmpdir(), 'vigil-read-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** conn.log's header, then its five rows repeated `times` times (uids made unique). */
function bigLog(times: number): Buffer {
  const text = connLog.toString('utf8');
  const lines = text.split('\n');
  const header = lines.filter((l) => l.startsWith('#') && !l.startsWith('#close'));
  const rows = lines.filter((l) => l !== '' && !l.startsWith('#'));
  const out: string[] = [...header];
  for (let i = 0; i < times; i++) for (const r of rows) out.push(r.replace(/\tC(\w+)\t/, `\tC$1x${i}\t`));
  return Buffer.from(`${out.join('\n')}\n`);
}

function write(name: string, data: Buffer | string): string {
  const file = path.join(dir, name);
  writeFileSync(file, data);
  return file;
}

/** What the parser gives for the whole buffer at once: the reference for chunked reading. */
function parseWhole(data: Buffer): FlowRecord[] {
  const out: FlowRecord[] = [];
  new ZeekConnParser({ file: 'x', counters: new Counters('x'), onIssue: () => {} }).parseLines(
    data,
    0,
    data.length,
    1,
    out,
  );
  return out;
}

async function read(paths: string[], extra: Partial<ReadZeekOptions> = {}) {
  const counters = new Counters('zeek');
  const issues: InputIssue[] = [];
  const batches: FlowRecord[][] = [];
  await readZeekFiles(paths, { counters, onIssue: (i) => issues.push(i), ...extra }, (b) => {
    batches.push(b);
  });
  return { records: batches.flat(), batches, issues, counters };
}

describe('readZeekFiles', () => {
  const log = bigLog(400); // 2000 rows, about 260 KB

  it('reads a file in chunks that split lines, giving what one parse of the whole file gives', async () => {
    const file = write('chunked.log', log);
    const r = await read([file], { chunkSize: 4096 });
    expect(r.issues).toEqual([]);
    expect(r.records).toHaveLength(2000);
    expect(r.records).toEqual(parseWhole(log));
    expect(r.counters.snapshot()).toMatchObject({ received: 2000, emitted: 2000, errors: 0 });
  });

  it('keeps CRLF pairs that a chunk border splits, and lines longer than a chunk', async () => {
    const longService = 'x'.repeat(20_000);
    const text = log.toString('utf8').replace('\tftp\t', `\t${longService}\t`).replaceAll('\n', '\r\n');
    const r = await read([write('crlf.log', text)], { chunkSize: 4096 });
    expect(r.issues).toEqual([]);
    expect(r.records).toHaveLength(2000);
    expect(r.records.some((x) => x.service === longService)).toBe(true);
    expect(r.records.every((x) => !x.history?.endsWith('\r'))).toBe(true);
  });

  it('hands on batches of batchSize, awaiting each before reading on, never mixing files', async () => {
    const a = write('a.log', log);
    const b = write('b.log', bigLog(3));
    let inFlight = false;
    const sizes: number[] = [];
    await readZeekFiles(
      [a, b],
      { counters: new Counters('z'), onIssue: () => {}, batchSize: 300, chunkSize: 4096 },
      async (batch) => {
        expect(inFlight).toBe(false);
        inFlight = true;
        sizes.push(batch.length);
        await new Promise((resolve) => setTimeout(resolve, 1));
        inFlight = false;
      },
    );
    // 2000 = 6 × 300 + 200 from a.log, then a.log's last batch is not topped up with b.log's 15.
    expect(sizes).toEqual([300, 300, 300, 300, 300, 300, 200, 15]);
  });

  it('decompresses gzip by its magic number, whatever the name, and reads every gzip member', async () => {
    const gz = write('plain-name.log', Buffer.concat([gzipSync(log), gzipSync(bigLog(1))]));
    const plain = write('looks-compressed.log.gz', log);
    const r = await read([gz, plain]);
    expect(r.issues).toEqual([]);
    expect(r.records).toHaveLength(2000 + 5 + 2000);
    expect(r.records.slice(0, 2000)).toEqual(parseWhole(log));
  });

  it('reports a truncated gzip with the decompressed offset, keeps the records before it, and goes on', async () => {
    const compressed = gzipSync(log);
    const truncated = write('truncated.log.gz', compressed.subarray(0, Math.floor(compressed.length / 2)));
    const next = write('after.log', bigLog(1));
    const r = await read([truncated, next]);
    const kept = r.records.slice(0, -5);
    expect(kept.length).toBeGreaterThan(100);
    expect(kept.length).toBeLessThan(2000);
    expect(kept).toEqual(parseWhole(log).slice(0, kept.length));
    expect(r.records.slice(-5).map((x) => x.uid)).toEqual(parseWhole(bigLog(1)).map((x) => x.uid));
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]).toMatchObject({ file: truncated, offset: expect.any(Number) });
    expect(r.issues[0].offset).toBeGreaterThan(0);
    expect(r.issues[0].message).toMatch(/damaged gzip data .*records before the damage were kept/);
    expect(r.counters.get('gzip_errors')).toBe(1);
  });

  it('reports gzip data corrupted in the middle, after the lines decoded before the damage', async () => {
    const compressed = Buffer.from(gzipSync(log));
    for (let i = 2000; i < 2100; i++) compressed[i] ^= 0x5a;
    const r = await read([write('corrupt.log.gz', compressed)]);
    // Deflate notices damage late (the CRC is at the end): garbage lines in between are
    // reported as bad lines, and the damage itself last, with its decompressed offset.
    const last = r.issues[r.issues.length - 1];
    expect(last.message).toContain('damaged gzip data');
    expect(last.offset).toBeGreaterThan(0);
    expect(r.counters.get('gzip_errors')).toBe(1);
    const good = parseWhole(log);
    let same = 0;
    while (same < r.records.length && r.records[same].uid === good[same].uid) same++;
    expect(same).toBeGreaterThan(100);
    expect(r.records.length).toBeLessThan(2000);
  });

  it('names a missing file, and a directory, and reads the next file', async () => {
    const missing = path.join(dir, 'no-such.log');
    const subdir = path.join(dir, 'a-directory');
    mkdirSync(subdir, { recursive: true });
    const r = await read([missing, subdir, write('ok.log', bigLog(1))]);
    expect(r.records).toHaveLength(5);
    expect(r.issues).toEqual([
      expect.objectContaining({ file: missing, message: 'cannot open: no such file' }),
      expect.objectContaining({ file: subdir, message: 'cannot read: is a directory' }),
    ]);
    expect(r.counters.errors).toBe(2);
  });

  it('reads - from standard input, plain or gzip', async () => {
    const chunks = (data: Buffer) => Readable.from([data.subarray(0, 1), data.subarray(1, 777), data.subarray(777)]);
    const plain = await read(['-'], { stdin: chunks(log) });
    expect(plain.issues).toEqual([]);
    expect(plain.records).toEqual(parseWhole(log));
    const gz = await read(['-'], { stdin: chunks(gzipSync(log)) });
    expect(gz.issues).toEqual([]);
    expect(gz.records).toEqual(parseWhole(log));
  });

  it('reports bad lines with the file and line they are on, across chunks', async () => {
    const lines = log.toString('utf8').split('\n');
    lines[1500] = lines[1500].replace('\ttcp\t', '\ttcpx\t');
    const file = write('one-bad.log', lines.join('\n'));
    const r = await read([file], { chunkSize: 4096 });
    expect(r.records).toHaveLength(1999);
    expect(r.issues).toEqual([expect.objectContaining({ file, line: 1501, field: 'proto' })]);
  });

  it('handles an empty file and a file whose last line has no newline', async () => {
    const r = await read([write('empty.log', ''), write('no-newline.log', log.subarray(0, log.length - 1))]);
    expect(r.issues).toEqual([]);
    expect(r.records).toHaveLength(2000);
  });

  it("passes the consumer's own failure through instead of calling it bad input", async () => {
    const plain = write('consumer.log', log);
    const gz = write('consumer.log.gz', gzipSync(log));
    for (const file of [plain, gz]) {
      const issues: InputIssue[] = [];
      const failure = new Error('store is full');
      await expect(
        readZeekFiles([file], { counters: new Counters('z'), onIssue: (i) => issues.push(i), batchSize: 100 }, () => {
          throw failure;
        }),
      ).rejects.toBe(failure);
      expect(issues).toEqual([]);
    }
  });
});
