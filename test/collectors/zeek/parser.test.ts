// The Zeek conn.log parser on Zeek's own TSV edge cases, real TSV/JSON pairs of the same events,
// and hand-written bad input: what becomes a record, and what is reported (file, line, field).

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { InputIssue } from '../../../agent/issues.js';
import { Counters } from '../../../agent/metrics.js';
import { mulberry32 } from '../../../agent/random.js';
import type { FlowRecord } from '../../../collectors/record.js';
import { ZeekConnParser, type ZeekParserState } from '../../../collectors/zeek/parser.js';
import { RECORD_ORDER, StringCache, VALUE_NAMES } from '../../../collectors/zeek/tsv.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const fixtures = path.join(root, 'test/fixtures/zeek');
const shared = path.resolve(root, '../shared/fixtures');
const brim = path.join(shared, 'brimdata-zed-sample-data');
const rita = path.join(shared, 'rita-activecm/test_data');

interface Parsed {
  records: FlowRecord[];
  issues: InputIssue[];
  counters: Counters;
  lines: number;
  parser: ZeekConnParser;
}

function parse(input: string | Buffer, file = 'test.log', parser?: ZeekConnParser): Parsed {
  const counters = new Counters('zeek');
  const issues: InputIssue[] = [];
  const p = parser ?? new ZeekConnParser({ file, counters, onIssue: (i) => issues.push(i) });
  const buf = typeof input === 'string' ? Buffer.from(input) : input;
  const records: FlowRecord[] = [];
  const lines = p.parseLines(buf, 0, buf.length, 1, records);
  return { records, issues, counters, lines, parser: p };
}

function fixture(name: string): Buffer {
  return readFileSync(path.join(fixtures, name));
}

/** Reads a file, gunzipping it when its name says so (only for comparing, not for the parser). */
function readShared(file: string): Buffer {
  const data = readFileSync(file);
  return file.endsWith('.gz') ? gunzipSync(data) : data;
}

/** btest baselines mask every ts; give each line a distinct, valid one. */
function unmaskTimes(log: Buffer): string {
  let n = 0;
  return log.toString('utf8').replace(/^XXXXXXXXXX\.XXXXXX/gm, () => `1300000000.${String(++n).padStart(6, '0')}`);
}

function byTime(records: FlowRecord[]): FlowRecord[] {
  return [...records].sort((a, b) => a.ts - b.ts);
}

function withoutUid(r: FlowRecord): Omit<FlowRecord, 'uid'> {
  const { uid: _uid, ...rest } = r;
  return rest;
}

const HEADER21 = [
  '#separator \\x09',
  '#set_separator\t,',
  '#empty_field\t(empty)',
  '#unset_field\t-',
  '#path\tconn',
  '#open\t2019-02-28-12-07-01',
  '#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents',
  '#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]',
].join('\n');

const ROW_A =
  '1517336042.279652\tCVvreZ2AGtqjnP3nnl\t192.168.88.2\t55638\t165.227.88.15\t53\tudp\tdns\t0.069982\t61\t81\tSF\tT\tF\t0\tDd\t1\t89\t1\t109\t(empty)';
const RECORD_A: FlowRecord = {
  kind: 'flow',
  ts: 1517336042.279652,
  uid: 'CVvreZ2AGtqjnP3nnl',
  orig_h: '192.168.88.2',
  orig_p: 55638,
  resp_h: '165.227.88.15',
  resp_p: 53,
  proto: 'udp',
  service: 'dns',
  duration: 0.069982,
  orig_bytes: 61,
  resp_bytes: 81,
  conn_state: 'SF',
  local_orig: true,
  local_resp: false,
  missed_bytes: 0,
  history: 'Dd',
  orig_pkts: 1,
  orig_ip_bytes: 89,
  resp_pkts: 1,
  resp_ip_bytes: 109,
  tunnel_parents: [],
};

describe('Zeek TSV edge cases (zeek-cut test logs)', () => {
  const conn = parse(fixture('zeek-cut-logs/conn.log'), 'conn.log');

  it('parses the five connections of a complete conn.log, field by field', () => {
    expect(conn.issues).toEqual([]);
    expect(conn.records).toHaveLength(5);
    expect(conn.records[0]).toEqual({
      kind: 'flow',
      ts: 1329843175.736107,
      uid: 'CjhGID4nQcgTWjvg4c',
      orig_h: '141.142.220.235',
      orig_p: 37604,
      resp_h: '199.233.217.249',
      resp_p: 56666,
      proto: 'tcp',
      service: 'ftp-data',
      duration: 0.112432,
      orig_bytes: 0,
      resp_bytes: 342,
      conn_state: 'SF',
      missed_bytes: 0,
      history: 'ShAdfFa',
      orig_pkts: 4,
      orig_ip_bytes: 216,
      resp_pkts: 4,
      resp_ip_bytes: 562,
      tunnel_parents: [],
    });
    // `local_orig` is `-` (unset) and the log has no `local_resp` column at all.
    expect(conn.records[0].local_orig).toBeUndefined();
    expect(conn.records[0].local_resp).toBeUndefined();
    expect(conn.records.map((r) => r.resp_p)).toEqual([56666, 56667, 33582, 37835, 21]);
    expect(conn.counters.snapshot()).toMatchObject({ received: 5, emitted: 5, errors: 0 });
    expect(conn.lines).toBe(14);
  });

  it('reads a log whose #separator is a comma the same way', () => {
    const comma = parse(fixture('zeek-cut-logs/conncomma.log'));
    expect(comma.issues).toEqual([]);
    expect(byTime(comma.records).map(withoutUid)).toEqual(byTime(conn.records).map(withoutUid));
  });

  it('maps columns by their #fields names, not their position (ts last)', () => {
    const last = parse(fixture('zeek-cut-logs/conntimelast.log'));
    expect(last.issues).toEqual([]);
    expect(last.records).toEqual(conn.records);
  });

  it('reads the header-less LogAscii::tsv form whose first line names the columns', () => {
    const tsv = parse(fixture('zeek-cut-logs/conn-tsv.log'));
    expect(tsv.issues).toEqual([]);
    expect(byTime(tsv.records).map(withoutUid)).toEqual(byTime(conn.records).map(withoutUid));
  });

  it('reports a log without the conn.log columns once, at its #fields line, and counts its lines', () => {
    const r = parse(fixture('zeek-cut-logs/invalid-time.log'), 'invalid-time.log');
    expect(r.records).toEqual([]);
    expect(r.issues).toEqual([
      expect.objectContaining({
        file: 'invalid-time.log',
        line: 1,
        field: 'uid',
        message: expect.stringContaining('not a conn log'),
      }),
    ]);
    expect(r.counters.snapshot()).toMatchObject({ received: 5, emitted: 0, errors: 5 });
  });

  it.each([
    ['missing-separator.log', "'#separator '"],
    ['null-separator.log', "'#separator \\x00'"],
  ])('reports the invalid #separator line of %s and keeps the tab', (name, shown) => {
    const r = parse(fixture(`zeek-cut-logs/${name}`), name);
    expect(r.issues[0]).toMatchObject({ file: name, line: 1, field: '#separator' });
    expect(r.issues[0].message).toContain(shown);
    expect(r.parser.saveState().separator).toBe('\t');
    expect(r.records).toEqual([]);
  });
});

describe('Zeek btest baselines (current Zeek columns)', () => {
  it('maps vlan and inner_vlan and ignores columns vigil does not use (ip_proto)', () => {
    const r = parse(unmaskTimes(fixture('btest/scripts.policy.protocols.conn.vlan-logging/conn.log')));
    expect(r.issues).toEqual([]);
    expect(r.records).toHaveLength(2);
    expect(r.records[0]).toMatchObject({
      orig_h: '172.19.51.37',
      proto: 'udp',
      vlan: 13,
      inner_vlan: 10,
      duration: 0.0001,
    });
    expect(r.records[0].tunnel_parents).toBeUndefined();
  });

  it('reads a tunnel_parents set of two uids', () => {
    const r = parse(unmaskTimes(fixture('btest/core.tunnels.vxlan/conn.log')));
    expect(r.issues).toEqual([]);
    expect(r.records).toHaveLength(5);
    expect(r.records[0]).toMatchObject({ proto: 'icmp', orig_p: 8, resp_p: 0, history: 'X' });
    expect(r.records[0].tunnel_parents).toEqual(['CUM0KZ3MLUfNB0cl11', 'C4J4Th3PJpwUYZZ6gc']);
    expect(r.records[2]).toMatchObject({ service: 'vxlan', duration: undefined, orig_bytes: undefined, orig_pkts: 1 });
  });

  it('reads all 34 flows of a real IPv4/IPv6 capture', () => {
    const r = parse(unmaskTimes(fixture('btest/core.tcp.rxmit-history__conn-2/conn.log')));
    expect(r.issues).toEqual([]);
    expect(r.records).toHaveLength(34);
    expect(r.records.some((x) => x.orig_h.includes(':'))).toBe(true);
    expect(new Set(r.records.map((x) => `${x.proto}:${x.conn_state}`))).toEqual(
      new Set(['tcp:OTH', 'tcp:S1', 'udp:S0', 'udp:SF']),
    );
  });

  it('reports each masked ts of an untouched baseline at field ts', () => {
    const r = parse(fixture('btest/core.tunnels.vxlan/conn.log'), 'vxlan.log');
    expect(r.records).toEqual([]);
    expect(r.issues).toHaveLength(5);
    expect(r.issues[0]).toMatchObject({ file: 'vxlan.log', line: 10, field: 'ts' });
    expect(r.issues[0].message).toContain('XXXXXXXXXX.XXXXXX');
  });
});

describe('TSV semantics', () => {
  it('takes a new #fields header from the line where it appears', () => {
    const text = [
      HEADER21,
      ROW_A,
      '#fields\tuid\tts\tid.resp_h\tid.resp_p\tid.orig_h\tid.orig_p\tproto\tvlan',
      '#types\tstring\ttime\taddr\tport\taddr\tport\tenum\tint',
      'Cabc\t1600000000.5\t2001:db8::1\t443\t10.0.0.1\t5555\ttcp\t42',
    ].join('\n');
    const r = parse(text);
    expect(r.issues).toEqual([]);
    expect(r.records).toEqual([
      RECORD_A,
      {
        kind: 'flow',
        ts: 1600000000.5,
        uid: 'Cabc',
        orig_h: '10.0.0.1',
        orig_p: 5555,
        resp_h: '2001:db8::1',
        resp_p: 443,
        proto: 'tcp',
        vlan: 42,
      },
    ]);
  });

  it('reads - as unset (undefined) and (empty) as an empty string or set', () => {
    const row = '1.5\tC1\t10.0.0.1\t1\t10.0.0.2\t2\ttcp\t-\t-\t-\t-\tS0\t-\t-\t0\t(empty)\t1\t40\t0\t0\t-';
    const r = parse(`${HEADER21}\n${row}\n`);
    expect(r.issues).toEqual([]);
    const rec = r.records[0];
    expect([rec.service, rec.duration, rec.orig_bytes, rec.resp_bytes, rec.local_orig, rec.tunnel_parents]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(rec.history).toBe('');
  });

  it('honours custom #unset_field and #empty_field markers', () => {
    const header = HEADER21.replace('#unset_field\t-', '#unset_field\t(unset_test)').replace(
      '#empty_field\t(empty)',
      '#empty_field\tEMPTY',
    );
    const row =
      '1.5\tC1\t10.0.0.1\t1\t10.0.0.2\t2\ttcp\t(unset_test)\t-\t(unset_test)\t0\tS0\tT\t(unset_test)\t0\tEMPTY\t1\t40\t0\t0\tEMPTY';
    const r = parse(`${header}\n${row}\n`);
    expect(r.issues).toEqual([
      expect.objectContaining({ line: 9, field: 'duration', message: "not a time interval: '-'" }),
    ]);
    const ok = parse(`${header}\n${row.replace('\t-\t', '\t(unset_test)\t')}\n`);
    expect(ok.issues).toEqual([]);
    expect(ok.records[0]).toMatchObject({ service: undefined, duration: undefined, history: '', tunnel_parents: [] });
  });

  it('gives the same records for CRLF line endings', () => {
    const lf = `${HEADER21}\n${ROW_A}\n${ROW_A}\n`;
    const crlf = parse(lf.replaceAll('\n', '\r\n'));
    expect(crlf.issues).toEqual([]);
    expect(crlf.records).toEqual(parse(lf).records);
    expect(crlf.records).toHaveLength(2);
  });

  it('decodes Zeek escapes: \\xNN bytes, \\\\, and escaped markers that are values, not markers', () => {
    const row = ROW_A.replace('\tdns\t', '\ta\\x09b\\\\c\t')
      .replace('\tDd\t', '\t\\x2d\t')
      .replace('\t(empty)', '\t\\x28empty),x\\x2cy,caf\\xc3\\xa9');
    const r = parse(`${HEADER21}\n${row}\n`);
    expect(r.issues).toEqual([]);
    expect(r.records[0].service).toBe('a\tb\\c');
    expect(r.records[0].history).toBe('-');
    expect(r.records[0].tunnel_parents).toEqual(['(empty)', 'x,y', 'café']);
  });

  it('reports bad lines with file, line and field, and keeps the good ones', () => {
    const cols = ROW_A.split('\t');
    const set = (i: number, v: string) => cols.map((c, j) => (j === i ? v : c)).join('\t');
    const text = [
      HEADER21, // lines 1-8
      ROW_A, // 9: good
      cols.slice(0, 19).join('\t'), // 10: 19 columns
      set(5, '8o'), // 11: bad port
      set(3, '70000'), // 12: port out of range
      set(0, 'hello'), // 13: bad time
      set(9, '-5'), // 14: bad count
      set(12, 'yes'), // 15: bad bool
      set(6, 'sctp'), // 16: unknown proto
      set(11, 'XX'), // 17: unknown state
      set(2, '-'), // 18: unset address
      `${ROW_A}\textra`, // 19: 22 columns
      ROW_A, // 20: good
    ].join('\n');
    const r = parse(text, 'bad.log');
    expect(r.records).toEqual([RECORD_A, RECORD_A]);
    expect(r.issues.map((i) => [i.file, i.line, i.field])).toEqual([
      ['bad.log', 10, 'resp_ip_bytes'],
      ['bad.log', 11, 'id.resp_p'],
      ['bad.log', 12, 'id.orig_p'],
      ['bad.log', 13, 'ts'],
      ['bad.log', 14, 'orig_bytes'],
      ['bad.log', 15, 'local_orig'],
      ['bad.log', 16, 'proto'],
      ['bad.log', 17, 'conn_state'],
      ['bad.log', 18, 'id.orig_h'],
      ['bad.log', 19, 'tunnel_parents'],
    ]);
    expect(r.issues[0].message).toBe('expected 21 columns as #fields says, found 19');
    expect(r.issues[1].message).toBe("not a port number: '8o'");
    expect(r.issues[9].message).toBe('expected 21 columns as #fields says, found 22');
    expect(r.counters.snapshot()).toMatchObject({ received: 12, emitted: 2, errors: 10 });
  });

  it('reports data before any #fields header once per file, and counts every such line', () => {
    const r = parse(`${ROW_A}\n${ROW_A}\n${ROW_A}\n`, 'noheader.log');
    expect(r.records).toEqual([]);
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]).toMatchObject({ file: 'noheader.log', line: 1 });
    expect(r.issues[0].message).toContain('before any #fields header');
    expect(r.counters.snapshot()).toMatchObject({ received: 3, errors: 3 });
  });

  it('numbers lines from firstLine and parses a last line that has no newline', () => {
    const counters = new Counters('zeek');
    const issues: InputIssue[] = [];
    const parser = new ZeekConnParser({ file: 'f', counters, onIssue: (i) => issues.push(i) });
    const out: FlowRecord[] = [];
    const head = Buffer.from(`${HEADER21}\n`);
    expect(parser.parseLines(head, 0, head.length, 1, out)).toBe(8);
    const body = Buffer.from(`xx${ROW_A}\nbad\n${ROW_A}`);
    expect(parser.parseLines(body, 2, body.length, 9, out)).toBe(3);
    expect(out).toEqual([RECORD_A, RECORD_A]);
    expect(issues).toEqual([expect.objectContaining({ line: 10 })]);
  });

  it('saves and restores the header state (as JSON), and forgets it on reset', () => {
    const first = parse(`${HEADER21}\n`);
    const state = JSON.parse(JSON.stringify(first.parser.saveState())) as ZeekParserState;
    expect(state.fields).toHaveLength(21);
    const counters = new Counters('zeek');
    const issues: InputIssue[] = [];
    const resumed = new ZeekConnParser({ file: 'f', counters, onIssue: (i) => issues.push(i) });
    resumed.restoreState(state);
    expect(parse(`${ROW_A}\n`, 'f', resumed).records).toEqual([RECORD_A]);
    resumed.reset();
    expect(parse(`${ROW_A}\n`, 'f', resumed).records).toEqual([]);
    expect(issues).toEqual([
      expect.objectContaining({ message: expect.stringContaining('before any #fields header') }),
    ]);
  });

  it('rejects a saved state that is not one', () => {
    const parser = parse('').parser;
    expect(() => parser.restoreState({ version: 2 } as unknown as ZeekParserState)).toThrow(/parser state/);
  });
});

describe('TSV row reader paths', () => {
  const FIELDS = ['ts', 'uid', 'id.orig_h', 'id.orig_p', 'id.resp_h', 'id.resp_p', 'proto', 'conn_state', 'history'];
  const header = (fields: string[]) =>
    `${HEADER21.replace(/#fields.*\n#types.*$/s, '')}#fields\t${fields.join('\t')}\n`;

  it('reads strings the same wherever they are in the buffer (near its start too) and whatever their length', () => {
    // Addresses of 1 to 39 bytes, and uids of every length around a Zeek uid's, first on the
    // line (offset 0 of the buffer) and after other columns.
    const values = Array.from({ length: 39 }, (_, i) => 'abcdef0123456789:.'.repeat(3).slice(0, i + 1));
    for (const first of ['id.orig_h', 'uid']) {
      const fields = [first, ...FIELDS.filter((f) => f !== first)];
      for (const v of values) {
        const cells: Record<string, string> = {
          ts: '1.5',
          uid: `C${v}`,
          'id.orig_h': v,
          'id.orig_p': '1',
          'id.resp_h': `x${v}`,
          'id.resp_p': '2',
          proto: 'tcp',
          conn_state: 'SF',
          history: v,
        };
        const line = fields.map((f) => cells[f]).join('\t');
        for (const text of [line, `${header(fields)}${line}`]) {
          const parser = new ZeekConnParser({ file: 't', counters: new Counters('zeek'), onIssue: () => {} });
          if (text === line) parse(header(fields), 't', parser);
          const r = parse(text, 't', parser);
          expect(r.issues).toEqual([]);
          expect(r.records).toHaveLength(1);
          const rec = r.records[0];
          expect([rec.uid, rec.orig_h, rec.resp_h, rec.history]).toEqual([`C${v}`, v, `x${v}`, v]);
        }
      }
    }
  });

  it('decodes non-ASCII and escaped strings of any length, and recognises (empty) only when spelled exactly', () => {
    const odd = [
      'é',
      'ünïcödé-hôst.example',
      'a\\x09b',
      '\\x2d',
      'x'.repeat(15) + 'é',
      '(empty)',
      '(empty',
      '\\x28empty)',
    ];
    const expected = ['é', 'ünïcödé-hôst.example', 'a\tb', '-', 'x'.repeat(15) + 'é', '', '(empty', '(empty)'];
    const lines = odd.map((v, i) => `1.${i}\tC${v}\t${v}\t1\t${v}\t2\ttcp\tSF\t${v}`);
    const r = parse(`${header(FIELDS)}${lines.join('\n')}\n`);
    expect(r.issues).toEqual([]);
    expect(r.records.map((x) => [x.orig_h, x.resp_h, x.history])).toEqual(expected.map((v) => [v, v, v]));
    // With a C in front, not even (empty) is the marker.
    expect(r.records.map((x) => x.uid)).toEqual(expected.map((v, i) => `C${odd[i] === '(empty)' ? odd[i] : v}`));
  });

  it('recognises every known proto and conn_state, and still reports unknown ones (also near known ones)', () => {
    const states = ['S0', 'S1', 'SF', 'REJ', 'S2', 'S3', 'RSTO', 'RSTR', 'RSTOS0', 'RSTRH', 'SH', 'SHR', 'OTH'];
    const protos = ['tcp', 'udp', 'icmp', 'unknown_transport'];
    const good = states.flatMap((s, i) =>
      protos.map((p, j) => `1.${i}${j}\tC1\t1.1.1.1\t1\t2.2.2.2\t2\t${p}\t${s}\t-`),
    );
    const bad = ['sf', 'SF ', 'xSF', 'RSTOS00', 'S', 'OTHER', 'SF\\x00'].map(
      (s) => `2\tC2\t1.1.1.1\t1\t2.2.2.2\t2\ttcp\t${s}\t-`,
    );
    const badProto = ['tcpx', 'TCP', 'tc', 'udpudp', 'icmp6'].map((p) => `3\tC3\t1.1.1.1\t1\t2.2.2.2\t2\t${p}\tSF\t-`);
    const r = parse(`${header(FIELDS)}${[...good, ...bad, ...badProto].join('\n')}\n`);
    expect(r.records.map((x) => `${x.proto}/${x.conn_state}`)).toEqual(
      states.flatMap((s) => protos.map((p) => `${p}/${s}`)),
    );
    expect(r.issues.map((i) => i.field)).toEqual([...bad.map(() => 'conn_state'), ...badProto.map(() => 'proto')]);
  });

  it('takes the last of two columns with the same name, a known value or not', () => {
    const fields = [...FIELDS, 'conn_state', 'proto'];
    const r = parse(
      `${header(fields)}1\tC1\t1.1.1.1\t1\t2.2.2.2\t2\ttcp\tSF\t-\tBOGUS\tudp\n` +
        `2\tC2\t1.1.1.1\t1\t2.2.2.2\t2\tbogus\tBOGUS\t-\tS0\tudp\n`,
    );
    expect(r.records.map((x) => `${x.proto}/${x.conn_state}`)).toEqual(['udp/S0']);
    expect(r.issues.map((i) => [i.line, i.field])).toEqual([[8, 'conn_state']]);
  });

  it('makes TSV and JSON records alike: plain objects, every property in one order', () => {
    const tsv = parse(`${HEADER21}\n${ROW_A}\n`).records[0];
    const json = parse(
      '{"ts":1517336042.279652,"uid":"CVvreZ2AGtqjnP3nnl","id.orig_h":"192.168.88.2","id.orig_p":55638,"id.resp_h":"165.227.88.15","id.resp_p":53,"proto":"udp"}\n',
    ).records[0];
    const order = ['kind', ...RECORD_ORDER.map((k) => VALUE_NAMES[k])];
    for (const r of [tsv, json]) {
      expect(Object.getPrototypeOf(r)).toBe(Object.prototype);
      expect(Object.keys(r)).toEqual(order);
    }
    expect(tsv).toStrictEqual({ ...RECORD_A, vlan: undefined, inner_vlan: undefined });
  });
});

describe('Zeek JSON', () => {
  const JSON_A =
    '{"ts":1517336042.279652,"uid":"CVvreZ2AGtqjnP3nnl","id.orig_h":"192.168.88.2","id.orig_p":55638,"id.resp_h":"165.227.88.15","id.resp_p":53,"proto":"udp","service":"dns","duration":0.069982,"orig_bytes":61,"resp_bytes":81,"conn_state":"SF","local_orig":true,"local_resp":false,"missed_bytes":0,"history":"Dd","orig_pkts":1,"orig_ip_bytes":89,"resp_pkts":1,"resp_ip_bytes":109,"tunnel_parents":[]}';

  it('reads a Zeek JSON line into the same record as the TSV line', () => {
    const r = parse(`${JSON_A}\n`);
    expect(r.issues).toEqual([]);
    expect(r.records).toEqual([RECORD_A]);
  });

  it('takes ts as epoch seconds, ISO-8601 (any offset) or integer milliseconds', () => {
    const lines = [
      JSON_A,
      JSON_A.replace('1517336042.279652', '"2018-01-30T18:14:02.279652Z"'),
      JSON_A.replace('1517336042.279652', '"2018-01-30T19:14:02.279652+01:00"'),
      JSON_A.replace('1517336042.279652', '1517336042279'),
    ];
    const r = parse(lines.join('\n'));
    expect(r.issues).toEqual([]);
    expect(r.records.map((x) => x.ts)).toEqual([
      1517336042.279652, 1517336042.279652, 1517336042.279652, 1517336042.279,
    ]);
  });

  it('treats absent and null fields as unset, ignores unknown ones (nested too), and allows spaces', () => {
    const line =
      '{ "_path": "conn", "_write_ts": "2018-01-30T18:14:02.279652Z", "ts": 1.5, "uid": "C1", "id.orig_h": "10.0.0.1", "id.orig_p": 1, ' +
      '"id.resp_h": "fe80::1", "id.resp_p": 2, "proto": "icmp", "service": null, "extra": {"a": [1, {"b": "}"}], "c": -1.5e3}, ' +
      '"tunnel_parents": ["Cx", "C\\u0079"], "community_id": "1:abc=" }';
    const r = parse(line);
    expect(r.issues).toEqual([]);
    expect(r.records).toEqual([
      {
        kind: 'flow',
        ts: 1.5,
        uid: 'C1',
        orig_h: '10.0.0.1',
        orig_p: 1,
        resp_h: 'fe80::1',
        resp_p: 2,
        proto: 'icmp',
        tunnel_parents: ['Cx', 'Cy'],
      },
    ]);
  });

  it('reports bad JSON, missing id fields and wrong types with line and field, and keeps the rest', () => {
    const text = [
      JSON_A, // 1
      JSON_A.slice(0, 120), // 2: truncated
      JSON_A.replace('"id.orig_h":"192.168.88.2",', ''), // 3: missing field
      JSON_A.replace('"id.resp_p":53', '"id.resp_p":"53"'), // 4: string port
      JSON_A.replace('"local_orig":true', '"local_orig":"T"'), // 5: bool as string
      JSON_A.replace('}', '}}'), // 6: trailing garbage
      JSON_A.replace('"ts":1517336042.279652', '"ts":"yesterday"'), // 7: bad time
      JSON_A, // 8
    ].join('\n');
    const r = parse(text, 'j.log');
    expect(r.records).toEqual([RECORD_A, RECORD_A]);
    expect(r.issues.map((i) => [i.line, i.field])).toEqual([
      [2, 'id.resp_h'],
      [3, 'id.orig_h'],
      [4, 'id.resp_p'],
      [5, 'local_orig'],
      [6, undefined],
      [7, 'ts'],
    ]);
    expect(r.issues[0].message).toMatch(/unterminated/);
    expect(r.issues[4].message).toBe("invalid JSON at column 396: unexpected text after the JSON object, found '}'");
    expect(r.issues[1].message).toBe('required field is missing');
    expect(r.issues[2].message).toBe('not a port number: "53"');
    expect(r.counters.snapshot()).toMatchObject({ received: 8, emitted: 2, errors: 6 });
  });
});

describe('real Zeek logs from ../shared (GPL / CC BY-SA: read in place)', () => {
  // The shared brimdata set holds 28 Zeek log types but not conn.log; these pairs carry the
  // conn-shaped columns (ts, uid, id.*) in TSV and JSON and exercise the same reader.
  it.for(['dpd', 'syslog', 'notice'])(
    'brimdata-zed-sample-data: %s.log (conn-shaped columns) in TSV and JSON gives deep-equal records',
    (name, ctx) => {
      const tsvFile = path.join(brim, `zeek-default/${name}.log.gz`);
      ctx.skip(!existsSync(tsvFile), `${path.relative(root, brim)} not found: skipped`);
      const tsv = parse(readShared(tsvFile));
      const json = parse(readShared(path.join(brim, `zeek-json/${name}.json.gz`)));
      expect(tsv.issues).toEqual([]);
      expect(json.issues).toEqual([]);
      expect(tsv.records.length).toBeGreaterThan(50);
      // Strict: the ISO-8601 JSON times must be the very doubles the TSV epoch times give.
      expect(json.records).toStrictEqual(tsv.records);
    },
  );

  it('rita-activecm: TSV and JSON of the same connections agree (the JSON omits empty sets)', (ctx) => {
    ctx.skip(!existsSync(rita), `${path.relative(root, rita)} not found: skipped`);
    for (const [tsvName, jsonName, count] of [
      ['open_conns/open/conn.log', 'json_with_all_fields/conn.log', 29],
      ['open_conns/open/open_conn.log', 'json_with_all_fields/open_conn.log', 59],
    ] as const) {
      const tsv = parse(readShared(path.join(rita, tsvName)));
      const json = parse(readShared(path.join(rita, jsonName)));
      expect(tsv.issues).toEqual([]);
      expect(json.issues).toEqual([]);
      expect(tsv.records).toHaveLength(count);
      expect(tsv.records.every((r) => r.tunnel_parents?.length === 0)).toBe(true);
      expect(json.records).toEqual(tsv.records.map((r) => ({ ...r, tunnel_parents: undefined })));
    }
  });

  it('rita-activecm: truncated and bad files parse without crashing, with the errors counted', (ctx) => {
    ctx.skip(!existsSync(rita), `${path.relative(root, rita)} not found: skipped`);
    const truncated = parse(readShared(path.join(rita, 'truncated/conn.log')), 'conn.log');
    expect(truncated.records).toHaveLength(58);
    expect(truncated.issues).toEqual([
      expect.objectContaining({ line: 67, message: expect.stringContaining('found 9') }),
    ]);

    const json = parse(readShared(path.join(rita, 'truncated/conn_json.log')));
    expect(json.records).toHaveLength(2);
    expect(json.issues.map((i) => [i.line, i.field])).toEqual([
      [3, 'id.orig_p'],
      [4, 'id.orig_p'],
    ]);

    const top = parse(readShared(path.join(rita, 'truncated/conn_top.log')));
    expect(top.records).toEqual([]);
    expect(top.issues).toHaveLength(1);
    expect(top.counters.errors).toBe(59);

    const text = parse(readShared(path.join(rita, 'text_file/conn.log')));
    expect(text.records).toEqual([]);
    expect(text.counters.errors).toBe(text.counters.received);

    const http = parse(readShared(path.join(rita, 'has_unknown_field/http.log')));
    expect(http.records).toEqual([]);
    expect(http.issues[0]).toMatchObject({ line: 7, field: 'proto' });
    expect(http.issues[0].message).toContain('#path http');
  });

  it('rita-activecm: rotated gzip archives and the proxy capture parse cleanly', (ctx) => {
    ctx.skip(!existsSync(rita), `${path.relative(root, rita)} not found: skipped`);
    const counts: Record<string, number> = {
      'proxy/conn.log': 463,
      'proxy_rolling/conn.15:00:00-16:00:00.log.gz': 290,
      'proxy_rolling/conn.16:00:00-17:00:00.log.gz': 7260,
    };
    for (const [name, count] of Object.entries(counts)) {
      const r = parse(readShared(path.join(rita, name)));
      expect(r.issues).toEqual([]);
      expect(r.records).toHaveLength(count);
    }
  });
});

describe('against independent readers on generated logs', () => {
  const rnd = mulberry32(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const hosts = ['10.0.0.1', '10.0.0.10', '192.168.1.254', '8.8.8.8', '2001:db8::1', 'fe80::1%eth0', '::', '1.2.3.4'];
  const maybe = <T>(v: T): T | undefined => (rnd() < 0.3 ? undefined : v);

  function randomRecord(i: number): FlowRecord {
    return {
      kind: 'flow',
      ts: Math.floor(rnd() * 2e15) / 1e6,
      uid: `C${i.toString(36)}${Math.floor(rnd() * 1e9).toString(36)}`,
      orig_h: pick(hosts),
      orig_p: Math.floor(rnd() * 65536),
      resp_h: pick(hosts),
      resp_p: Math.floor(rnd() * 65536),
      proto: pick(['tcp', 'udp', 'icmp', 'unknown_transport'] as const),
      service: maybe(pick(['dns', 'ssl,http', 'a-very-long-service-name,with,commas', '-x'])),
      duration: maybe(Math.floor(rnd() * 1e9) / 1e6),
      orig_bytes: maybe(Math.floor(rnd() * 2 ** 40)),
      resp_bytes: maybe(Math.floor(rnd() * 100)),
      conn_state: maybe(pick(['SF', 'S0', 'REJ', 'RSTOS0', 'OTH'] as const)),
      local_orig: maybe(rnd() < 0.5),
      local_resp: maybe(rnd() < 0.5),
      missed_bytes: maybe(0),
      history: maybe(pick(['ShADadFf', 'S', 'Dd', '^dA', 'ShADadttttFf'])),
      orig_pkts: maybe(Math.floor(rnd() * 1000)),
      orig_ip_bytes: maybe(Math.floor(rnd() * 1e6)),
      resp_pkts: maybe(Math.floor(rnd() * 1000)),
      resp_ip_bytes: maybe(Math.floor(rnd() * 1e6)),
      tunnel_parents: maybe(pick([[], ['Cabc'], ['Cx', 'Cy']])),
    };
  }
  const records = Array.from({ length: 3000 }, (_, i) => randomRecord(i));

  it('JSON: lines with keys left out, reordered or added parse as JSON.parse reads them', () => {
    const keys: [keyof FlowRecord, string][] = [
      ['ts', 'ts'],
      ['uid', 'uid'],
      ['orig_h', 'id.orig_h'],
      ['orig_p', 'id.orig_p'],
      ['resp_h', 'id.resp_h'],
      ['resp_p', 'id.resp_p'],
      ['proto', 'proto'],
      ['service', 'service'],
      ['duration', 'duration'],
      ['orig_bytes', 'orig_bytes'],
      ['resp_bytes', 'resp_bytes'],
      ['conn_state', 'conn_state'],
      ['local_orig', 'local_orig'],
      ['local_resp', 'local_resp'],
      ['missed_bytes', 'missed_bytes'],
      ['history', 'history'],
      ['orig_pkts', 'orig_pkts'],
      ['orig_ip_bytes', 'orig_ip_bytes'],
      ['resp_pkts', 'resp_pkts'],
      ['resp_ip_bytes', 'resp_ip_bytes'],
      ['tunnel_parents', 'tunnel_parents'],
    ];
    const lines = records.map((r, i) => {
      const entries: [string, unknown][] = keys.filter(([k]) => r[k] !== undefined).map(([k, name]) => [name, r[k]]);
      // Every 7th line has an unknown key somewhere, every 11th its keys in another order,
      // every 13th a null for an optional field; the first 500 lines keep Zeek's order.
      if (i % 7 === 3) entries.splice(Math.floor(rnd() * entries.length), 0, ['_write_ts', { nested: [1, 'x'] }]);
      if (i > 500 && i % 11 === 5) entries.reverse();
      if (i % 13 === 0) entries.push(['service', null]);
      return JSON.stringify(Object.fromEntries(entries));
    });
    const r = parse(`${lines.join('\n')}\n`);
    expect(r.issues).toEqual([]);
    const oracle = lines.map((line) => {
      const o = JSON.parse(line) as Record<string, unknown>;
      const out: Record<string, unknown> = { kind: 'flow' };
      for (const [k, name] of keys) out[k] = o[name] ?? undefined;
      return out;
    });
    expect(r.records).toEqual(oracle);
  });

  it('TSV: a log written with Zeek escaping reads as a split-and-unescape reader reads it', () => {
    const zeekValue = (v: unknown): string => {
      if (v === undefined) return '-';
      if (typeof v === 'boolean') return v ? 'T' : 'F';
      if (Array.isArray(v))
        return v.length === 0 ? '(empty)' : v.map((x) => String(x).replaceAll(',', '\\x2c')).join(',');
      if (typeof v === 'number') return String(v);
      const text = String(v).replaceAll('\\', '\\x5c').replaceAll('\t', '\\x09');
      return text === '-' ? '\\x2d' : text;
    };
    const order: (keyof FlowRecord)[] = [
      'ts',
      'uid',
      'orig_h',
      'orig_p',
      'resp_h',
      'resp_p',
      'proto',
      'service',
      'duration',
      'orig_bytes',
      'resp_bytes',
      'conn_state',
      'local_orig',
      'local_resp',
      'missed_bytes',
      'history',
      'orig_pkts',
      'orig_ip_bytes',
      'resp_pkts',
      'resp_ip_bytes',
      'tunnel_parents',
    ];
    const rows = records.map((r) => order.map((k) => zeekValue(r[k])).join('\t'));
    const r = parse(`${HEADER21}\n${rows.join('\n')}\n`);
    expect(r.issues).toEqual([]);
    // The oracle: String#split, Number(), and Zeek's unescaping by regular expression.
    const zeekUnescape = (t: string) =>
      t.replace(/\\x([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
    const oracle = rows.map((row) => {
      const cells = row.split('\t');
      const out: Record<string, unknown> = { kind: 'flow' };
      order.forEach((k, i) => {
        const cell = cells[i];
        const numeric = [
          'ts',
          'orig_p',
          'resp_p',
          'duration',
          'orig_bytes',
          'resp_bytes',
          'missed_bytes',
          'orig_pkts',
          'orig_ip_bytes',
          'resp_pkts',
          'resp_ip_bytes',
        ];
        if (cell === '-') out[k] = undefined;
        else if (numeric.includes(k)) out[k] = Number(cell);
        else if (k === 'local_orig' || k === 'local_resp') out[k] = cell === 'T';
        else if (k === 'tunnel_parents') out[k] = cell === '(empty)' ? [] : cell.split(',').map(zeekUnescape);
        else out[k] = zeekUnescape(cell);
      });
      return out;
    });
    expect(r.records).toEqual(oracle);
    expect(r.records).toEqual(records);
  });

  it('the intern table returns exactly the bytes asked for, even when every lookup collides', () => {
    const cache = new StringCache(2);
    const texts = [
      ...hosts,
      'tcp',
      'udp',
      'SF',
      'S0',
      'x',
      '',
      'ShADadFf',
      '0123456789abcdef',
      '0123456789abcdeg',
      '2001:db8:1:2:3:4:5:6',
    ];
    for (let i = 0; i < 2000; i++) {
      const text = pick(texts);
      const buf = Buffer.from(`\t${text}\t`);
      const [w0, w1, w2, w3] = fold(buf, 1, 1 + text.length);
      const got =
        text.length <= 16 ? cache.short(buf, 1, 1 + text.length, w0, w1, w2, w3) : cache.long(buf, 1, 1 + text.length);
      expect(got).toBe(text);
    }
  });
});

/** The four big-endian words the readers fold a short string into. */
function fold(buf: Buffer, start: number, end: number): number[] {
  let w0 = 0;
  let w1 = 0;
  let w2 = 0;
  let w3 = 0;
  for (let p = start; p < end; p++) {
    w0 = (w0 << 8) | (w1 >>> 24);
    w1 = (w1 << 8) | (w2 >>> 24);
    w2 = (w2 << 8) | (w3 >>> 24);
    w3 = (w3 << 8) | buf[p];
  }
  return [w0, w1, w2, w3];
}
