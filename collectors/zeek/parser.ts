// Parses Zeek conn.log lines, TSV (with #fields/#types headers) or JSON, into FlowRecords; the
// format is recognised per line, bad lines are reported and skipped, headers are tracked.

import type { Counters } from '../../agent/metrics.js';
import type { IssueHandler } from '../../agent/issues.js';
import { CONN_STATES, type ConnState, type FlowRecord, type TransportProto } from '../record.js';
import { JsonRowReader } from './json.js';
import {
  CONN_FIELD_KINDS,
  FlowValues,
  K_CONN_STATE,
  K_DURATION,
  K_HISTORY,
  K_INNER_VLAN,
  K_LOCAL_ORIG,
  K_LOCAL_RESP,
  K_MISSED_BYTES,
  K_ORIG_BYTES,
  K_ORIG_IP_BYTES,
  K_ORIG_PKTS,
  K_RESP_BYTES,
  K_RESP_IP_BYTES,
  K_RESP_PKTS,
  K_SERVICE,
  K_SKIP,
  K_TUNNEL_PARENTS,
  K_VLAN,
  KIND_NAMES,
  REQUIRED_KINDS,
  REQUIRED_MASK,
  StringCache,
  TsvRowReader,
  unescapeHeader,
} from './tsv.js';

/**
 * Everything the parser knows about the file it is in, as plain JSON: a tail that resumes in
 * the middle of a file restores it instead of re-reading the header.
 */
export interface ZeekParserState {
  version: 1;
  /** Format of the last line seen. */
  format: 'tsv' | 'json' | null;
  /** TSV column separator (`#separator`, decoded: a tab, not `\x09`). */
  separator: string;
  /** Separator of set elements (`#set_separator`). */
  setSeparator: string;
  /** Marker of a present but empty string or set (`#empty_field`). */
  emptyField: string;
  /** Marker of an unset field (`#unset_field`). */
  unsetField: string;
  /** `#path` (the log's name, `conn`). */
  path: string | null;
  /** `#fields`: column names; null before the first header. */
  fields: string[] | null;
  /** `#types`: column types, as Zeek names them. */
  types: string[] | null;
  /** Whether data before any #fields header has been reported (once per file). */
  reportedNoHeader: boolean;
}

export interface ZeekParserOptions {
  /** Path shown in issues (`-` for standard input). */
  file: string;
  counters: Counters;
  onIssue: IssueHandler;
}

const DEFAULTS = {
  separator: '\t',
  setSeparator: ',',
  emptyField: '(empty)',
  unsetField: '-',
} as const;

const B_SERVICE = 1 << K_SERVICE;
const B_DURATION = 1 << K_DURATION;
const B_ORIG_BYTES = 1 << K_ORIG_BYTES;
const B_RESP_BYTES = 1 << K_RESP_BYTES;
const B_CONN_STATE = 1 << K_CONN_STATE;
const B_LOCAL_ORIG = 1 << K_LOCAL_ORIG;
const B_LOCAL_RESP = 1 << K_LOCAL_RESP;
const B_MISSED_BYTES = 1 << K_MISSED_BYTES;
const B_HISTORY = 1 << K_HISTORY;
const B_ORIG_PKTS = 1 << K_ORIG_PKTS;
const B_ORIG_IP_BYTES = 1 << K_ORIG_IP_BYTES;
const B_RESP_PKTS = 1 << K_RESP_PKTS;
const B_RESP_IP_BYTES = 1 << K_RESP_IP_BYTES;
const B_TUNNEL_PARENTS = 1 << K_TUNNEL_PARENTS;
const B_VLAN = 1 << K_VLAN;
const B_INNER_VLAN = 1 << K_INNER_VLAN;

const PROTOS: ReadonlySet<string> = new Set<TransportProto>(['tcp', 'udp', 'icmp', 'unknown_transport']);
const STATES: ReadonlySet<string> = new Set<string>(CONN_STATES);

export class ZeekConnParser {
  private readonly file: string;
  private readonly counters: Counters;
  private readonly onIssue: IssueHandler;
  private readonly values = new FlowValues();
  private readonly cache = new StringCache();
  private readonly tsv = new TsvRowReader(this.cache);
  private readonly json = new JsonRowReader(this.cache);

  private format: 'tsv' | 'json' | null = null;
  private separator: string = DEFAULTS.separator;
  private setSeparator: string = DEFAULTS.setSeparator;
  private emptyField: string = DEFAULTS.emptyField;
  private unsetField: string = DEFAULTS.unsetField;
  private path: string | null = null;
  private fields: string[] | null = null;
  private types: string[] | null = null;
  private reportedNoHeader = false;
  /** A required column the current #fields lacks; its data lines are skipped (and counted). */
  private missingColumn: string | null = null;
  // The last proto and state that were checked: interned strings repeat, so === usually hits.
  private lastProto = '';
  private lastState = '';

  constructor(opts: ZeekParserOptions) {
    this.file = opts.file;
    this.counters = opts.counters;
    this.onIssue = opts.onIssue;
  }

  /**
   * Parses the complete lines in buf[start, end). `end` is just past a '\n' (or the end of
   * input for a last line without newline). `firstLine` is the 1-based line number of the line
   * at `start`. Appends one FlowRecord per data line to `out`; header lines update the parser
   * state; bad lines are reported via onIssue (file, line, field, what was wrong), counted in
   * counters.errors, and skipped. Returns the number of lines consumed.
   */
  parseLines(buf: Buffer, start: number, end: number, firstLine: number, out: FlowRecord[]): number {
    let p = start;
    let line = firstLine;
    while (p < end) {
      let lineEnd = buf.indexOf(10, p);
      let next: number;
      if (lineEnd < 0 || lineEnd >= end) {
        lineEnd = end;
        next = end;
      } else {
        next = lineEnd + 1;
      }
      if (lineEnd > p && buf[lineEnd - 1] === 13) lineEnd--;
      if (lineEnd > p) this.parseLine(buf, p, lineEnd, line, out);
      line++;
      p = next;
    }
    return line - firstLine;
  }

  saveState(): ZeekParserState {
    return {
      version: 1,
      format: this.format,
      separator: this.separator,
      setSeparator: this.setSeparator,
      emptyField: this.emptyField,
      unsetField: this.unsetField,
      path: this.path,
      fields: this.fields ? [...this.fields] : null,
      types: this.types ? [...this.types] : null,
      reportedNoHeader: this.reportedNoHeader,
    };
  }

  restoreState(s: ZeekParserState): void {
    this.format = s.format;
    this.separator = s.separator;
    this.setSeparator = s.setSeparator;
    this.emptyField = s.emptyField;
    this.unsetField = s.unsetField;
    this.path = s.path;
    this.types = s.types ? [...s.types] : null;
    this.reportedNoHeader = s.reportedNoHeader;
    this.configureTsv();
    if (s.fields) this.applyFields([...s.fields], undefined);
    else this.clearFields();
  }

  /** Forgets the header: the next line starts a new file. */
  reset(): void {
    this.format = null;
    this.separator = DEFAULTS.separator;
    this.setSeparator = DEFAULTS.setSeparator;
    this.emptyField = DEFAULTS.emptyField;
    this.unsetField = DEFAULTS.unsetField;
    this.path = null;
    this.types = null;
    this.reportedNoHeader = false;
    this.configureTsv();
    this.clearFields();
  }

  private parseLine(buf: Buffer, start: number, end: number, line: number, out: FlowRecord[]): void {
    const first = buf[start];
    if (first === 35) {
      this.header(buf.toString('utf8', start, end), line);
      return;
    }
    const v = this.values;
    if (first === 123 || (first === 32 && startsJson(buf, start, end))) {
      this.format = 'json';
      this.counters.received++;
      if (!this.json.read(buf, start, end, v)) {
        this.bad(line, this.json.errorField, this.json.errorMessage);
        return;
      }
      this.finish(v, line, 'missing', out);
      return;
    }
    this.format = 'tsv';
    if (this.fields === null) {
      if (this.looksLikeNamesLine(buf, start, end)) {
        // Zeek's LogAscii::tsv=T output: one line of column names instead of the # header.
        this.applyFields(buf.toString('utf8', start, end).split('\t'), line);
        return;
      }
      this.counters.received++;
      this.counters.errors++;
      if (!this.reportedNoHeader) {
        this.reportedNoHeader = true;
        this.issue(
          line,
          undefined,
          'data line before any #fields header: not a Zeek TSV log, or its header is missing; such lines are skipped',
        );
      }
      return;
    }
    this.counters.received++;
    if (this.missingColumn !== null) {
      // Already reported once at the #fields line.
      this.counters.errors++;
      return;
    }
    if (!this.tsv.read(buf, start, end, v)) {
      this.bad(line, this.fields[this.tsv.errorColumn], this.tsv.errorMessage);
      return;
    }
    this.finish(v, line, 'unset', out);
  }

  /** Checks what both formats need and appends the record. */
  private finish(v: FlowValues, line: number, absent: 'missing' | 'unset', out: FlowRecord[]): void {
    const m = v.mask;
    if ((m & REQUIRED_MASK) !== REQUIRED_MASK) {
      const kind = REQUIRED_KINDS.find((k) => (m & (1 << k)) === 0) ?? 0;
      this.bad(line, KIND_NAMES[kind], absent === 'missing' ? 'required field is missing' : 'required field is unset');
      return;
    }
    if (v.proto !== this.lastProto) {
      if (!PROTOS.has(v.proto)) {
        this.bad(line, 'proto', `unknown transport protocol '${v.proto}' (expected tcp, udp, icmp or unknown_transport)`);
        return;
      }
      this.lastProto = v.proto;
    }
    if ((m & B_CONN_STATE) !== 0 && v.conn_state !== this.lastState) {
      if (!STATES.has(v.conn_state)) {
        this.bad(line, 'conn_state', `unknown connection state '${v.conn_state}'`);
        return;
      }
      this.lastState = v.conn_state;
    }
    // One literal with every field, always in this order: every record has the same hidden
    // class, which keeps the detectors' property reads monomorphic.
    out.push({
      kind: 'flow',
      ts: v.ts,
      uid: v.uid,
      orig_h: v.orig_h,
      orig_p: v.orig_p,
      resp_h: v.resp_h,
      resp_p: v.resp_p,
      proto: v.proto as TransportProto,
      service: (m & B_SERVICE) !== 0 ? v.service : undefined,
      duration: (m & B_DURATION) !== 0 ? v.duration : undefined,
      orig_bytes: (m & B_ORIG_BYTES) !== 0 ? v.orig_bytes : undefined,
      resp_bytes: (m & B_RESP_BYTES) !== 0 ? v.resp_bytes : undefined,
      conn_state: (m & B_CONN_STATE) !== 0 ? (v.conn_state as ConnState) : undefined,
      local_orig: (m & B_LOCAL_ORIG) !== 0 ? v.local_orig : undefined,
      local_resp: (m & B_LOCAL_RESP) !== 0 ? v.local_resp : undefined,
      missed_bytes: (m & B_MISSED_BYTES) !== 0 ? v.missed_bytes : undefined,
      history: (m & B_HISTORY) !== 0 ? v.history : undefined,
      orig_pkts: (m & B_ORIG_PKTS) !== 0 ? v.orig_pkts : undefined,
      orig_ip_bytes: (m & B_ORIG_IP_BYTES) !== 0 ? v.orig_ip_bytes : undefined,
      resp_pkts: (m & B_RESP_PKTS) !== 0 ? v.resp_pkts : undefined,
      resp_ip_bytes: (m & B_RESP_IP_BYTES) !== 0 ? v.resp_ip_bytes : undefined,
      tunnel_parents: (m & B_TUNNEL_PARENTS) !== 0 ? v.tunnel_parents : undefined,
      vlan: (m & B_VLAN) !== 0 ? v.vlan : undefined,
      inner_vlan: (m & B_INNER_VLAN) !== 0 ? v.inner_vlan : undefined,
    });
    this.counters.emitted++;
  }

  private header(text: string, line: number): void {
    if (text.startsWith('#separator')) {
      // Written before the separator is known, so Zeek puts a space after the key.
      const sep = text.length > 11 && (text[10] === ' ' || text[10] === '\t') ? unescapeHeader(text.slice(11)) : '';
      if (sep.length !== 1 || sep === '\0' || sep === '\n' || sep === '\r' || sep.charCodeAt(0) > 0x7f) {
        this.headerError(line, '#separator', `invalid #separator line '${text}'; keeping '${escapeForMessage(this.separator)}'`);
        return;
      }
      this.separator = sep;
      this.configureTsv();
      return;
    }
    const at = text.indexOf(this.separator);
    const key = at < 0 ? text : text.slice(0, at);
    const value = at < 0 ? undefined : text.slice(at + 1);
    switch (key) {
      case '#set_separator': {
        const s = value === undefined ? '' : unescapeHeader(value);
        if (s.length !== 1 || s.charCodeAt(0) > 0x7f) {
          this.headerError(line, key, `invalid #set_separator '${value ?? ''}'; keeping '${this.setSeparator}'`);
          return;
        }
        this.setSeparator = s;
        this.configureTsv();
        return;
      }
      case '#empty_field':
      case '#unset_field': {
        if (value === undefined) {
          this.headerError(line, key, `${key} line has no value`);
          return;
        }
        if (key === '#empty_field') this.emptyField = unescapeHeader(value);
        else this.unsetField = unescapeHeader(value);
        this.configureTsv();
        return;
      }
      case '#path':
        this.path = value ?? null;
        return;
      case '#fields':
        if (value === undefined || value === '') {
          this.headerError(line, key, '#fields line names no columns');
          return;
        }
        this.types = null;
        this.applyFields(value.split(this.separator), line);
        return;
      case '#types':
        this.types = value === undefined ? [] : value.split(this.separator);
        if (this.fields && this.types.length !== this.fields.length) {
          this.headerError(
            line,
            key,
            `#types has ${this.types.length} entries but #fields has ${this.fields.length} columns`,
          );
        }
        return;
      default:
        // #open, #close and anything else starting with '#' carry nothing the parser needs.
        return;
    }
  }

  private applyFields(names: string[], line: number | undefined): void {
    const plan = new Uint8Array(names.length);
    for (let i = 0; i < names.length; i++) plan[i] = CONN_FIELD_KINDS.get(names[i]) ?? K_SKIP;
    this.fields = names;
    this.tsv.plan = plan;
    this.missingColumn = null;
    for (const kind of REQUIRED_KINDS) {
      if (!plan.includes(kind)) {
        this.missingColumn = KIND_NAMES[kind];
        break;
      }
    }
    if (this.missingColumn !== null && line !== undefined) {
      this.issue(
        line,
        this.missingColumn,
        `#fields has no ${this.missingColumn} column${this.path ? ` (#path ${this.path})` : ''}: not a conn log; its data lines are skipped`,
      );
    }
  }

  private clearFields(): void {
    this.fields = null;
    this.missingColumn = null;
    this.tsv.plan = new Uint8Array(0);
  }

  private configureTsv(): void {
    this.tsv.separator = this.separator.charCodeAt(0);
    this.tsv.setSeparator = this.setSeparator.charCodeAt(0);
    this.tsv.setMarkers(this.unsetField, this.emptyField);
  }

  /** A header-less TSV file whose first line names the columns (`ts<TAB>uid<TAB>id.orig_h…`). */
  private looksLikeNamesLine(buf: Buffer, start: number, end: number): boolean {
    if (end - start > 4096 || buf[start] !== 116) return false;
    const names = buf.toString('latin1', start, end).split('\t');
    return names.includes('ts') && names.includes('id.orig_h') && names.includes('id.resp_h');
  }

  private bad(line: number, field: string | undefined, message: string): void {
    this.counters.errors++;
    this.issue(line, field, message);
  }

  private headerError(line: number, field: string, message: string): void {
    this.counters.errors++;
    this.issue(line, field, message);
  }

  private issue(line: number, field: string | undefined, message: string): void {
    this.onIssue({ component: 'zeek', file: this.file, line, field, message });
  }
}

function startsJson(buf: Buffer, start: number, end: number): boolean {
  let p = start;
  while (p < end && buf[p] === 32) p++;
  return p < end && buf[p] === 123;
}

function escapeForMessage(s: string): string {
  return s === '\t' ? '\\x09' : s;
}
