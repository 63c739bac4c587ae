// Output formats of `vigil flows`: FlowRecords as a Zeek conn.log (TSV with Zeek's header, rows
// formatted as Zeek formats them) or as JSON lines with Zeek's field names.

import type { Writable } from 'node:stream';
import type { FlowRecord } from '../collectors/record.js';
import { type Clock, systemClock } from './clock.js';

/** A conn.log column vigil can write, with its Zeek type. */
export interface ConnColumn {
  name: string;
  type: string;
}

/** The 21 columns of Zeek's conn.log, in Zeek's order. */
export const ZEEK_CONN_COLUMNS: readonly ConnColumn[] = [
  { name: 'ts', type: 'time' },
  { name: 'uid', type: 'string' },
  { name: 'id.orig_h', type: 'addr' },
  { name: 'id.orig_p', type: 'port' },
  { name: 'id.resp_h', type: 'addr' },
  { name: 'id.resp_p', type: 'port' },
  { name: 'proto', type: 'enum' },
  { name: 'service', type: 'string' },
  { name: 'duration', type: 'interval' },
  { name: 'orig_bytes', type: 'count' },
  { name: 'resp_bytes', type: 'count' },
  { name: 'conn_state', type: 'string' },
  { name: 'local_orig', type: 'bool' },
  { name: 'local_resp', type: 'bool' },
  { name: 'missed_bytes', type: 'count' },
  { name: 'history', type: 'string' },
  { name: 'orig_pkts', type: 'count' },
  { name: 'orig_ip_bytes', type: 'count' },
  { name: 'resp_pkts', type: 'count' },
  { name: 'resp_ip_bytes', type: 'count' },
  { name: 'tunnel_parents', type: 'set[string]' },
];

/** The column Zeek 7 added after tunnel_parents; written for flows made from packets. */
export const ZEEK_IP_PROTO_COLUMN: ConnColumn = { name: 'ip_proto', type: 'count' };

/** Columns Zeek's policy scripts add (protocols/conn/vlan-logging); written only when asked. */
export const ZEEK_VLAN_COLUMNS: readonly ConnColumn[] = [
  { name: 'vlan', type: 'int' },
  { name: 'inner_vlan', type: 'int' },
];

const ALL_COLUMNS = new Map([...ZEEK_CONN_COLUMNS, ZEEK_IP_PROTO_COLUMN, ...ZEEK_VLAN_COLUMNS].map((c) => [c.name, c]));

export interface FlowWriter {
  /** Writes what comes before the first record (the TSV header); optional, write() does it too. */
  begin(): Promise<void>;
  /** Writes a batch; resolves when the stream can take more (backpressure). */
  write(records: readonly FlowRecord[]): Promise<void>;
  /** Writes what is left (and, for TSV, `#close`). Does not end the stream: stdout stays open. */
  end(): Promise<void>;
}

export interface ZeekTsvWriterOptions {
  /** Time for `#open` and `#close`; a fixed clock makes the output deterministic. */
  clock?: Clock;
  /** `#path`; default `conn`. */
  path?: string;
  /**
   * Column names to write, in order; default the 21 standard conn.log columns. Any of those
   * and `vlan`/`inner_vlan` may be named (a log with other columns can be re-written as it was).
   */
  fields?: readonly string[];
}

// Big strings, few writes: a write() per row costs more than formatting the row.
const FLUSH_AT = 1 << 16;

/** Writes FlowRecords as a Zeek TSV conn.log. */
export class ZeekTsvWriter implements FlowWriter {
  private readonly clock: Clock;
  private readonly path: string;
  private readonly columns: ConnColumn[];
  private readonly format: (r: FlowRecord) => string;
  private pending = '';
  private headerDone = false;

  constructor(
    private readonly out: Writable,
    opts: ZeekTsvWriterOptions = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.path = opts.path ?? 'conn';
    this.columns = (opts.fields ?? ZEEK_CONN_COLUMNS.map((c) => c.name)).map((name) => {
      const column = ALL_COLUMNS.get(name);
      if (!column) throw new Error(`ZeekTsvWriter: unknown conn.log column '${name}'`);
      return column;
    });
    this.format = rowFormatter(this.columns.map((c) => c.name));
  }

  async begin(): Promise<void> {
    if (this.headerDone) return;
    this.header();
    const chunk = this.pending;
    this.pending = '';
    await writeChunk(this.out, chunk);
  }

  async write(records: readonly FlowRecord[]): Promise<void> {
    if (!this.headerDone) this.header();
    const format = this.format;
    let chunk = this.pending;
    for (let i = 0; i < records.length; i++) {
      chunk += format(records[i]);
      if (chunk.length >= FLUSH_AT) {
        await writeChunk(this.out, chunk);
        chunk = '';
      }
    }
    this.pending = chunk;
  }

  async end(): Promise<void> {
    if (!this.headerDone) this.header();
    const chunk = `${this.pending}#close\t${zeekTime(this.clock.now())}\n`;
    this.pending = '';
    await writeChunk(this.out, chunk, true);
  }

  private header(): void {
    this.headerDone = true;
    this.pending +=
      '#separator \\x09\n' +
      '#set_separator\t,\n' +
      '#empty_field\t(empty)\n' +
      '#unset_field\t-\n' +
      `#path\t${this.path}\n` +
      `#open\t${zeekTime(this.clock.now())}\n` +
      `#fields\t${this.columns.map((c) => c.name).join('\t')}\n` +
      `#types\t${this.columns.map((c) => c.type).join('\t')}\n`;
  }
}

/** Writes FlowRecords as JSON lines with Zeek's field names; unset fields are left out. */
export class JsonLinesWriter implements FlowWriter {
  private pending = '';

  constructor(private readonly out: Writable) {}

  async begin(): Promise<void> {}

  async write(records: readonly FlowRecord[]): Promise<void> {
    let chunk = this.pending;
    for (let i = 0; i < records.length; i++) {
      chunk += jsonLine(records[i]);
      if (chunk.length >= FLUSH_AT) {
        await writeChunk(this.out, chunk);
        chunk = '';
      }
    }
    this.pending = chunk;
  }

  async end(): Promise<void> {
    const chunk = this.pending;
    this.pending = '';
    if (chunk) await writeChunk(this.out, chunk, true);
  }
}

/** One flow as a Zeek JSON log line (with the newline). */
export function jsonLine(r: FlowRecord): string {
  // Keys in conn.log order; JSON.stringify leaves out the undefined ones, as Zeek does.
  return `${JSON.stringify({
    ts: r.ts,
    uid: r.uid,
    'id.orig_h': r.orig_h,
    'id.orig_p': r.orig_p,
    'id.resp_h': r.resp_h,
    'id.resp_p': r.resp_p,
    proto: r.proto,
    service: r.service,
    duration: r.duration,
    orig_bytes: r.orig_bytes,
    resp_bytes: r.resp_bytes,
    conn_state: r.conn_state,
    local_orig: r.local_orig,
    local_resp: r.local_resp,
    missed_bytes: r.missed_bytes,
    history: r.history,
    orig_pkts: r.orig_pkts,
    orig_ip_bytes: r.orig_ip_bytes,
    resp_pkts: r.resp_pkts,
    resp_ip_bytes: r.resp_ip_bytes,
    tunnel_parents: r.tunnel_parents,
    ip_proto: r.ip_proto,
    vlan: r.vlan,
    inner_vlan: r.inner_vlan,
  })}\n`;
}

/** `#open`/`#close` time as Zeek writes it (`2014-04-01-23-15-49`), in UTC. */
export function zeekTime(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => (n < 10 ? `0${n}` : `${n}`);
  return (
    `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}-` +
    `${two(d.getUTCHours())}-${two(d.getUTCMinutes())}-${two(d.getUTCSeconds())}`
  );
}

type Cell = (r: FlowRecord) => string;

const CELLS: Record<string, Cell> = {
  ts: (r) => r.ts.toFixed(6),
  uid: (r) => zeekString(r.uid),
  'id.orig_h': (r) => zeekString(r.orig_h),
  'id.orig_p': (r) => `${r.orig_p}`,
  'id.resp_h': (r) => zeekString(r.resp_h),
  'id.resp_p': (r) => `${r.resp_p}`,
  proto: (r) => r.proto,
  service: (r) => (r.service === undefined ? '-' : zeekString(r.service)),
  duration: (r) => (r.duration === undefined ? '-' : r.duration.toFixed(6)),
  orig_bytes: (r) => count(r.orig_bytes),
  resp_bytes: (r) => count(r.resp_bytes),
  conn_state: (r) => (r.conn_state === undefined ? '-' : r.conn_state),
  local_orig: (r) => bool(r.local_orig),
  local_resp: (r) => bool(r.local_resp),
  missed_bytes: (r) => count(r.missed_bytes),
  history: (r) => (r.history === undefined ? '-' : zeekString(r.history)),
  orig_pkts: (r) => count(r.orig_pkts),
  orig_ip_bytes: (r) => count(r.orig_ip_bytes),
  resp_pkts: (r) => count(r.resp_pkts),
  resp_ip_bytes: (r) => count(r.resp_ip_bytes),
  tunnel_parents: (r) => zeekSet(r.tunnel_parents),
  ip_proto: (r) => count(r.ip_proto),
  vlan: (r) => count(r.vlan),
  inner_vlan: (r) => count(r.inner_vlan),
};

/** The standard 21 columns get one hand-written formatter; other column lists are composed. */
function rowFormatter(names: readonly string[]): (r: FlowRecord) => string {
  if (names.join('\t') === ZEEK_CONN_COLUMNS.map((c) => c.name).join('\t')) return standardRow;
  const cells = names.map((n) => CELLS[n]);
  return (r) => {
    let line = cells[0](r);
    for (let i = 1; i < cells.length; i++) line += `\t${cells[i](r)}`;
    return `${line}\n`;
  };
}

function standardRow(r: FlowRecord): string {
  return (
    `${r.ts.toFixed(6)}\t${zeekString(r.uid)}\t${zeekString(r.orig_h)}\t${r.orig_p}\t` +
    `${zeekString(r.resp_h)}\t${r.resp_p}\t${r.proto}\t` +
    `${r.service === undefined ? '-' : zeekString(r.service)}\t` +
    `${r.duration === undefined ? '-' : r.duration.toFixed(6)}\t` +
    `${count(r.orig_bytes)}\t${count(r.resp_bytes)}\t${r.conn_state ?? '-'}\t` +
    `${bool(r.local_orig)}\t${bool(r.local_resp)}\t${count(r.missed_bytes)}\t` +
    `${r.history === undefined ? '-' : zeekString(r.history)}\t` +
    `${count(r.orig_pkts)}\t${count(r.orig_ip_bytes)}\t${count(r.resp_pkts)}\t` +
    `${count(r.resp_ip_bytes)}\t${zeekSet(r.tunnel_parents)}\n`
  );
}

function count(n: number | undefined): string {
  return n === undefined ? '-' : `${n}`;
}

function bool(b: boolean | undefined): string {
  return b === undefined ? '-' : b ? 'T' : 'F';
}

function zeekSet(s: readonly string[] | undefined): string {
  if (s === undefined) return '-';
  if (s.length === 0) return '(empty)';
  let out = zeekString(s[0], true);
  for (let i = 1; i < s.length; i++) out += `,${zeekString(s[i], true)}`;
  return out;
}

/**
 * A string value as Zeek writes it in TSV: unprintable ASCII, the backslash and the separator
 * (tab) as `\xNN`, and inside a set the set separator (comma) too. Valid non-ASCII UTF-8
 * passes through, as with Zeek's LogAscii::enable_utf_8.
 */
export function zeekString(s: string, inSet = false): string {
  if (s.length === 0) return '(empty)';
  // A value spelled like a marker gets its first byte escaped, so it cannot be taken for one.
  if (s === '-' || s === '(empty)') return `\\x${hex(s.charCodeAt(0))}${s.slice(1)}`;
  let i = 0;
  while (i < s.length && !mustEscape(s.charCodeAt(i), inSet)) i++;
  if (i === s.length) return s;
  let out = s.slice(0, i);
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += mustEscape(c, inSet) ? `\\x${hex(c)}` : s[i];
  }
  return out;
}

function mustEscape(c: number, inSet: boolean): boolean {
  return c < 0x20 || c === 0x7f || c === 0x5c || (inSet && c === 0x2c);
}

function hex(c: number): string {
  return c < 16 ? `0${c.toString(16)}` : c.toString(16);
}

/** Writes a chunk and waits while the stream is over its high-water mark (or until it closes). */
function writeChunk(out: Writable, chunk: string, waitFlushed = false): Promise<void> {
  if (out.destroyed || out.writableEnded) return Promise.resolve();
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err?: Error | null) => {
      if (settled) return;
      settled = true;
      out.off('drain', onDrain);
      out.off('close', onDrain);
      out.off('error', done);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    out.on('error', done);
    out.on('close', onDrain);
    const ok = out.write(chunk, (err) => {
      if (waitFlushed) done(err);
    });
    if (waitFlushed) return;
    if (ok) done();
    else out.on('drain', onDrain);
  });
}
