// Parses Zeek conn.log lines, TSV (with #fields/#types headers) or JSON, into FlowRecords; the
// format is recognised per line, bad lines are reported and skipped, headers are tracked.

import type { IssueHandler } from '../../agent/issues.js';
import type { Counters } from '../../agent/metrics.js';
import { CONN_STATES, type FlowRecord, type TransportProto } from '../record.js';
import { JsonRowReader } from './json.js';
import {
  CONN_FIELD_KINDS,
  K_SKIP,
  KIND_NAMES,
  PROTO_KNOWN,
  REQUIRED_KINDS,
  REQUIRED_MASK,
  STATE_KNOWN,
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

const PROTOS: ReadonlySet<string> = new Set<TransportProto>(['tcp', 'udp', 'icmp', 'unknown_transport']);
const STATES: ReadonlySet<string> = new Set<string>(CONN_STATES);

export class ZeekConnParser {
  private readonly file: string;
  private readonly counters: Counters;
  private readonly onIssue: IssueHandler;
  private readonly tsv = new TsvRowReader(sharedCache());
  private readonly json = new JsonRowReader(sharedCache());

  private format: 'tsv' | 'json' | null = null;
  private separator: string = DEFAULTS.separator;
  private setSeparator: string = DEFAULTS.setSeparator;
  private emptyField: string = DEFAULTS.emptyField;
  private unsetField: string = DEFAULTS.unsetField;
  private path: string | null = null;
  private fields: string[] | null = null;
  private types: string[] | null = null;
  private reportedNoHeader = false;
  /** Kind of each #fields column. */
  private plan = new Uint8Array(0);
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

  /** Restores a saved state; throws if `s` is not one (the caller then starts from scratch). */
  restoreState(s: ZeekParserState): void {
    if (!isState(s)) throw new Error('not a saved Zeek parser state (version 1)');
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
    if (first === 123 || (first === 32 && startsJson(buf, start, end))) {
      if (this.format !== 'json') this.format = 'json';
      this.counters.received++;
      const record = this.json.read(buf, start, end);
      if (record === undefined) {
        this.bad(line, this.json.errorField, this.json.errorMessage);
        return;
      }
      this.accept(record, this.json.mask, line, 'missing', out);
      return;
    }
    if (this.format !== 'tsv') this.format = 'tsv';
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
    const record = this.tsv.read(buf, start, end);
    if (record === undefined) {
      this.bad(line, this.fields[this.tsv.errorColumn], this.tsv.errorMessage);
      return;
    }
    this.accept(record, this.tsv.mask, line, 'unset', out);
  }

  /** Checks what both formats need and appends the record. */
  private accept(r: FlowRecord, mask: number, line: number, absent: 'missing' | 'unset', out: FlowRecord[]): void {
    if ((mask & REQUIRED_MASK) !== REQUIRED_MASK) {
      const kind = REQUIRED_KINDS.find((k) => (mask & (1 << k)) === 0) ?? 0;
      this.bad(line, KIND_NAMES[kind], absent === 'missing' ? 'required field is missing' : 'required field is unset');
      return;
    }
    // A TSV row has already recognised the usual values by their bytes.
    if ((mask & PROTO_KNOWN) === 0 && r.proto !== this.lastProto) {
      if (!PROTOS.has(r.proto)) {
        this.bad(
          line,
          'proto',
          `unknown transport protocol '${r.proto}' (expected tcp, udp, icmp or unknown_transport)`,
        );
        return;
      }
      this.lastProto = r.proto;
    }
    const state = r.conn_state;
    if ((mask & STATE_KNOWN) === 0 && state !== undefined && state !== this.lastState) {
      if (!STATES.has(state)) {
        this.bad(line, 'conn_state', `unknown connection state '${state}'`);
        return;
      }
      this.lastState = state;
    }
    out.push(r);
    this.counters.emitted++;
  }

  private header(text: string, line: number): void {
    if (text.startsWith('#separator')) {
      // Written before the separator is known, so Zeek puts a space after the key.
      const sep = text.length > 11 && (text[10] === ' ' || text[10] === '\t') ? unescapeHeader(text.slice(11)) : '';
      if (sep.length !== 1 || sep === '\0' || sep === '\n' || sep === '\r' || sep.charCodeAt(0) > 0x7f) {
        this.bad(
          line,
          '#separator',
          `invalid #separator line '${text}'; keeping '${escapeForMessage(this.separator)}'`,
        );
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
          this.bad(line, key, `invalid #set_separator '${value ?? ''}'; keeping '${this.setSeparator}'`);
          return;
        }
        this.setSeparator = s;
        this.configureTsv();
        return;
      }
      case '#empty_field':
      case '#unset_field': {
        if (value === undefined) {
          this.bad(line, key, `${key} line has no value`);
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
          this.bad(line, key, '#fields line names no columns');
          return;
        }
        this.types = null;
        this.applyFields(value.split(this.separator), line);
        return;
      case '#types':
        this.types = value === undefined ? [] : value.split(this.separator);
        if (this.fields && this.types.length !== this.fields.length) {
          this.bad(line, key, `#types has ${this.types.length} entries but #fields has ${this.fields.length} columns`);
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
    this.plan = plan;
    this.configureTsv();
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
    this.plan = new Uint8Array(0);
    this.configureTsv();
  }

  private configureTsv(): void {
    this.tsv.configure(
      this.plan,
      this.separator.charCodeAt(0),
      this.setSeparator.charCodeAt(0),
      this.unsetField,
      this.emptyField,
    );
  }

  /**
   * A header-less TSV file whose first line names the columns (`ts<TAB>uid<TAB>id.orig_h…`);
   * looked for only until the first data line of a file without a header has been reported.
   */
  private looksLikeNamesLine(buf: Buffer, start: number, end: number): boolean {
    if (this.reportedNoHeader || end - start > 4096) return false;
    const names = buf.toString('latin1', start, end).split('\t');
    return names.includes('ts') && names.includes('id.orig_h') && names.includes('id.resp_h');
  }

  private bad(line: number, field: string | undefined, message: string): void {
    this.counters.errors++;
    this.issue(line, field, message);
  }

  private issue(line: number, field: string | undefined, message: string): void {
    this.onIssue({ component: 'zeek', file: this.file, line, field, message });
  }
}

let cache: StringCache | undefined;

/**
 * One intern table for every parser in the process: the same hosts and services appear in
 * every file, and a parser per file (or per followed path) need not pay for its own table.
 */
function sharedCache(): StringCache {
  cache ??= new StringCache();
  return cache;
}

function isState(s: unknown): s is ZeekParserState {
  if (typeof s !== 'object' || s === null) return false;
  const o = s as Record<string, unknown>;
  const isStringArray = (a: unknown) => Array.isArray(a) && a.every((x) => typeof x === 'string');
  return (
    o.version === 1 &&
    (o.format === null || o.format === 'tsv' || o.format === 'json') &&
    typeof o.separator === 'string' &&
    o.separator.length === 1 &&
    typeof o.setSeparator === 'string' &&
    o.setSeparator.length === 1 &&
    typeof o.emptyField === 'string' &&
    typeof o.unsetField === 'string' &&
    (o.path === null || typeof o.path === 'string') &&
    (o.fields === null || isStringArray(o.fields)) &&
    (o.types === null || isStringArray(o.types)) &&
    typeof o.reportedNoHeader === 'boolean'
  );
}

function startsJson(buf: Buffer, start: number, end: number): boolean {
  let p = start;
  while (p < end && buf[p] === 32) p++;
  return p < end && buf[p] === 123;
}

function escapeForMessage(s: string): string {
  return s === '\t' ? '\\x09' : s;
}
