// `vigil flows` output: FlowRecords written back as a Zeek TSV conn.log or as Zeek JSON lines.
// Real Zeek logs must survive log → records → log byte for byte, whatever format they came in.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../agent/clock.js';
import { type FlowWriter, JsonLinesWriter, ZeekTsvWriter, zeekString } from '../../agent/flowformat.js';
import type { InputIssue } from '../../agent/issues.js';
import { Counters } from '../../agent/metrics.js';
import type { FlowRecord } from '../../collectors/record.js';
import { ZeekConnParser } from '../../collectors/zeek/parser.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fixtures = path.join(root, 'test/fixtures/zeek');
const shared = path.resolve(root, '../shared/fixtures');
const rita = path.join(shared, 'rita-activecm/test_data');
const brim = path.join(shared, 'brimdata-zed-sample-data');

function parse(data: Buffer): { records: FlowRecord[]; fields: string[] | null; issues: InputIssue[] } {
  const issues: InputIssue[] = [];
  const parser = new ZeekConnParser({ file: 'x', counters: new Counters('x'), onIssue: (i) => issues.push(i) });
  const records: FlowRecord[] = [];
  parser.parseLines(data, 0, data.length, 1, records);
  return { records, fields: parser.saveState().fields, issues };
}

function load(file: string): Buffer {
  const data = readFileSync(file);
  return file.endsWith('.gz') ? gunzipSync(data) : data;
}

/** Runs records through a writer (in batches of 100) and returns what it wrote. */
async function render(make: (out: PassThrough) => FlowWriter, records: FlowRecord[]): Promise<string> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const writer = make(out);
  await writer.begin();
  for (let i = 0; i < records.length; i += 100) await writer.write(records.slice(i, i + 100));
  await writer.end();
  return Buffer.concat(chunks).toString('utf8');
}

const clock = new ManualClock(Date.UTC(2019, 1, 28, 12, 7, 1));
const tsv = (fields?: string[]) => (out: PassThrough) => new ZeekTsvWriter(out, { clock, fields });
const json = (out: PassThrough) => new JsonLinesWriter(out);

function withoutOpenClose(log: string): string {
  return log
    .split('\n')
    .filter((l) => !l.startsWith('#open') && !l.startsWith('#close') && !l.startsWith('###'))
    .join('\n');
}

describe('ZeekTsvWriter', () => {
  it("writes Zeek's header, with #open and #close from the clock, and the 21 conn.log columns", async () => {
    const text = await render(tsv(), []);
    expect(text).toBe(
      [
        '#separator \\x09',
        '#set_separator\t,',
        '#empty_field\t(empty)',
        '#unset_field\t-',
        '#path\tconn',
        '#open\t2019-02-28-12-07-01',
        '#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents',
        '#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]',
        '#close\t2019-02-28-12-07-01',
        '',
      ].join('\n'),
    );
  });

  it("round-trips Zeek's own conn.log (20 columns) byte for byte, apart from #open/#close", async () => {
    const original = readFileSync(path.join(fixtures, 'zeek-cut-logs/conn.log'), 'utf8');
    const { records, fields, issues } = parse(Buffer.from(original));
    expect(issues).toEqual([]);
    const again = await render(tsv(fields ?? undefined), records);
    expect(withoutOpenClose(again)).toBe(withoutOpenClose(original));
  });

  // (open_conns/closed/conn.log is left out: it was cut before Zeek wrote #close.)
  it.for(['open_conns/open/conn.log', 'proxy/conn.log'])(
    'round-trips rita-activecm %s (21 columns) byte for byte, apart from #open/#close',
    async (name, ctx) => {
      const file = path.join(rita, name);
      ctx.skip(!existsSync(file), `${path.relative(root, file)} not found: skipped`);
      const original = load(file).toString('utf8');
      const { records, issues } = parse(Buffer.from(original));
      expect(issues).toEqual([]);
      expect(records.length).toBeGreaterThan(20);
      expect(withoutOpenClose(await render(tsv(), records))).toBe(withoutOpenClose(original));
    },
  );

  it('escapes values as Zeek does, so that they read back unchanged', async () => {
    const record: FlowRecord = {
      kind: 'flow',
      ts: 1.5,
      uid: 'C1',
      orig_h: '10.0.0.1',
      orig_p: 1,
      resp_h: '::1',
      resp_p: 2,
      proto: 'tcp',
      service: 'tab\there back\\slash café',
      duration: 0.0000004,
      history: '-',
      orig_bytes: 0,
      tunnel_parents: ['(empty)', 'a,b', ''],
    };
    const text = await render(tsv(), [record]);
    const row = text.split('\n')[8];
    expect(row.split('\t')).toHaveLength(21);
    expect(row).toContain('\ttab\\x09here back\\x5cslash café\t0.000000\t0\t');
    expect(row).toContain('\t\\x2d\t');
    expect(row.endsWith('\t\\x28empty),a\\x2cb,(empty)')).toBe(true);
    const back = parse(Buffer.from(text)).records[0];
    expect(back).toEqual({ ...record, duration: 0 });
  });

  it('waits for a slow stream to drain (backpressure) and loses nothing', async () => {
    const { records } = parse(readFileSync(path.join(fixtures, 'zeek-cut-logs/conn.log')));
    const many = Array.from({ length: 4000 }, (_, i) => ({ ...records[i % 5], uid: `C${i}` }));
    const received: string[] = [];
    let pendingCallbacks = 0;
    let maxPending = 0;
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, done) {
        pendingCallbacks++;
        maxPending = Math.max(maxPending, pendingCallbacks);
        received.push(chunk.toString('utf8'));
        setTimeout(() => {
          pendingCallbacks--;
          done();
        }, 2);
      },
    });
    const writer = new ZeekTsvWriter(slow, { clock });
    for (let i = 0; i < many.length; i += 1000) {
      await writer.write(many.slice(i, i + 1000));
      // Each resolved write leaves at most the stream's own buffer in flight.
      expect(slow.writableLength).toBeLessThanOrEqual(1 << 17);
    }
    await writer.end();
    const text = received.join('');
    expect(text.split('\n').filter((l) => l && !l.startsWith('#'))).toHaveLength(4000);
    expect(parse(Buffer.from(text)).records.map((r) => r.uid)).toEqual(many.map((r) => r.uid));
  });
});

describe('JsonLinesWriter', () => {
  it("writes one object per flow with Zeek's names, ts as a number, and unset fields left out", async () => {
    const text = await render(json, [
      {
        kind: 'flow',
        ts: 1517336042.279652,
        uid: 'C1',
        orig_h: '10.0.0.1',
        orig_p: 1,
        resp_h: '10.0.0.2',
        resp_p: 53,
        proto: 'udp',
        local_orig: true,
        tunnel_parents: [],
      },
    ]);
    expect(text).toBe(
      '{"ts":1517336042.279652,"uid":"C1","id.orig_h":"10.0.0.1","id.orig_p":1,"id.resp_h":"10.0.0.2","id.resp_p":53,"proto":"udp","local_orig":true,"tunnel_parents":[]}\n',
    );
  });

  it("reads back into the same records (Zeek's conn.log through JSON)", async () => {
    const { records } = parse(readFileSync(path.join(fixtures, 'zeek-cut-logs/conn.log')));
    const text = await render(json, records);
    expect(parse(Buffer.from(text)).records).toStrictEqual(records);
  });
});

describe('the same log as TSV and as JSON prints the same', () => {
  it.for(['dpd', 'syslog'])('brimdata-zed-sample-data %s: identical output through both writers', async (name, ctx) => {
    const tsvFile = path.join(brim, `zeek-default/${name}.log.gz`);
    ctx.skip(!existsSync(tsvFile), `${path.relative(root, brim)} not found: skipped`);
    const fromTsv = parse(load(tsvFile)).records;
    const fromJson = parse(load(path.join(brim, `zeek-json/${name}.json.gz`))).records;
    expect(fromTsv.length).toBeGreaterThan(50);
    expect(await render(tsv(), fromJson)).toBe(await render(tsv(), fromTsv));
    expect(await render(json, fromJson)).toBe(await render(json, fromTsv));
  });

  it('rita-activecm: identical output through both writers once the empty sets the JSON omits are equal', async (ctx) => {
    ctx.skip(!existsSync(rita), `${path.relative(root, rita)} not found: skipped`);
    const fromTsv = parse(load(path.join(rita, 'open_conns/open/conn.log'))).records;
    const fromJson = parse(load(path.join(rita, 'json_with_all_fields/conn.log'))).records.map((r) => ({
      ...r,
      tunnel_parents: r.tunnel_parents ?? [],
    }));
    expect(fromTsv).toHaveLength(29);
    expect(await render(tsv(), fromJson)).toBe(await render(tsv(), fromTsv));
    expect(await render(json, fromJson)).toBe(await render(json, fromTsv));
  });

  it("a log written as TSV and as JSON by vigil's writers reads back and prints identically", async () => {
    const { records } = parse(readFileSync(path.join(fixtures, 'zeek-cut-logs/conn.log')));
    const viaTsv = parse(Buffer.from(await render(tsv(), records))).records;
    const viaJson = parse(Buffer.from(await render(json, records))).records;
    for (const make of [tsv(), json]) expect(await render(make, viaJson)).toBe(await render(make, viaTsv));
  });
});

describe('zeekString', () => {
  it.each([
    ['plain', 'plain'],
    ['', '(empty)'],
    ['-', '\\x2d'],
    ['(empty)', '\\x28empty)'],
    ['a\tb\nc\\d', 'a\\x09b\\x0ac\\x5cd'],
  ])('writes %j as %j', (value, written) => {
    expect(zeekString(value)).toBe(written);
  });
});
