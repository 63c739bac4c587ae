// Zeek's ASCII (TSV) log values read straight from bytes: the conn.log column kinds, the number,
// escape and string readers that the TSV and the JSON reader share, and the TSV row reader.

import type { FlowRecord } from '../record.js';

/** What a column means to vigil; columns vigil does not use are SKIP. Kind k has mask bit 1 << k. */
export const K_SKIP = 0;
export const K_TS = 1;
export const K_UID = 2;
export const K_ORIG_H = 3;
export const K_ORIG_P = 4;
export const K_RESP_H = 5;
export const K_RESP_P = 6;
export const K_PROTO = 7;
export const K_SERVICE = 8;
export const K_DURATION = 9;
export const K_ORIG_BYTES = 10;
export const K_RESP_BYTES = 11;
export const K_CONN_STATE = 12;
export const K_LOCAL_ORIG = 13;
export const K_LOCAL_RESP = 14;
export const K_MISSED_BYTES = 15;
export const K_HISTORY = 16;
export const K_ORIG_PKTS = 17;
export const K_ORIG_IP_BYTES = 18;
export const K_RESP_PKTS = 19;
export const K_RESP_IP_BYTES = 20;
export const K_TUNNEL_PARENTS = 21;
export const K_VLAN = 22;
export const K_INNER_VLAN = 23;

/** Column (and JSON key) names of conn.log, as Zeek writes them, with their kind. */
export const CONN_FIELD_KINDS: ReadonlyMap<string, number> = new Map([
  ['ts', K_TS],
  ['uid', K_UID],
  ['id.orig_h', K_ORIG_H],
  ['id.orig_p', K_ORIG_P],
  ['id.resp_h', K_RESP_H],
  ['id.resp_p', K_RESP_P],
  ['proto', K_PROTO],
  ['service', K_SERVICE],
  ['duration', K_DURATION],
  ['orig_bytes', K_ORIG_BYTES],
  ['resp_bytes', K_RESP_BYTES],
  ['conn_state', K_CONN_STATE],
  ['local_orig', K_LOCAL_ORIG],
  ['local_resp', K_LOCAL_RESP],
  ['missed_bytes', K_MISSED_BYTES],
  ['history', K_HISTORY],
  ['orig_pkts', K_ORIG_PKTS],
  ['orig_ip_bytes', K_ORIG_IP_BYTES],
  ['resp_pkts', K_RESP_PKTS],
  ['resp_ip_bytes', K_RESP_IP_BYTES],
  ['tunnel_parents', K_TUNNEL_PARENTS],
  ['vlan', K_VLAN],
  ['inner_vlan', K_INNER_VLAN],
]);

/** Zeek name of each kind, for messages. */
export const KIND_NAMES: readonly string[] = (() => {
  const names = ['(ignored)'];
  for (const [name, kind] of CONN_FIELD_KINDS) names[kind] = name;
  return names;
})();

/** The columns without which a line is not a usable connection. */
export const REQUIRED_KINDS: readonly number[] = [K_TS, K_UID, K_ORIG_H, K_ORIG_P, K_RESP_H, K_RESP_P, K_PROTO];
export const REQUIRED_MASK = REQUIRED_KINDS.reduce((m, k) => m | (1 << k), 0);

/** A set that was present but empty; shared (and frozen) because most lines carry one. */
export const EMPTY_SET: string[] = Object.freeze([]) as unknown as string[];

// Node's one-copy latin1 decoder; Buffer#toString('latin1', ...) ends in the same call after
// argument checks that cost a fifth of the time on short fields.
interface FastSlices {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}
export function latin1(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as FastSlices).latin1Slice(start, end);
}
export function utf8(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as FastSlices).utf8Slice(start, end);
}

export const FNV_OFFSET = 0x811c9dc5;
export const FNV_PRIME = 0x01000193;

/**
 * Bounded intern tables for short repeated strings (addresses, proto, states, histories):
 * direct-mapped by a hash of the bytes and verified against them, so a hit costs no allocation
 * and a collision only replaces the slot. Verification does not touch the cached string when it
 * can be avoided: strings of up to 16 bytes (every IPv4 address among them) are identified
 * exactly by their bytes as four 32-bit words.
 */
export class StringCache {
  private readonly slots: string[];
  /** Per slot: the four words and the length of a short string; length -1 for a long one. */
  private readonly shortKeys: Int32Array;
  private readonly mask: number;

  constructor(bits = 16) {
    this.slots = new Array<string>(1 << bits).fill('');
    this.shortKeys = new Int32Array(5 << bits).fill(-1);
    this.mask = (1 << bits) - 1;
  }

  /**
   * The ASCII string [start, end) of at most 16 bytes, given as its bytes folded big-endian
   * into four 32-bit words (w3 holds the last four).
   */
  short(buf: Buffer, start: number, end: number, w0: number, w1: number, w2: number, w3: number): string {
    const len = end - start;
    const h = Math.imul(
      w0 ^ Math.imul(w1, 0x9e3779b1) ^ Math.imul(w2, 0x85ebca6b) ^ Math.imul(w3 ^ len, 0xc2b2ae35),
      0x27d4eb2f,
    );
    const slot = (h ^ (h >>> 15)) & this.mask;
    const k = slot * 5;
    const keys = this.shortKeys;
    if (keys[k + 4] === len && keys[k + 3] === w3 && keys[k + 2] === w2 && keys[k + 1] === w1 && keys[k] === w0) {
      return this.slots[slot];
    }
    const s = latin1(buf, start, end);
    keys[k] = w0;
    keys[k + 1] = w1;
    keys[k + 2] = w2;
    keys[k + 3] = w3;
    keys[k + 4] = len;
    this.slots[slot] = s;
    return s;
  }

  /** The ASCII string [start, end) of any length (hashed and verified byte for byte). */
  long(buf: Buffer, start: number, end: number): string {
    let h = FNV_OFFSET;
    for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], FNV_PRIME);
    const slot = (h ^ (h >>> 16)) & this.mask;
    const len = end - start;
    const cur = this.slots[slot];
    if (cur.length === len && this.shortKeys[slot * 5 + 4] === -1) {
      let i = 0;
      while (i < len && cur.charCodeAt(i) === buf[start + i]) i++;
      if (i === len) return cur;
    }
    const s = latin1(buf, start, end);
    this.shortKeys[slot * 5 + 4] = -1;
    this.slots[slot] = s;
    return s;
  }
}

const POW10 = [
  1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
  1e21, 1e22,
];
const DECIMAL_RE = /^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

// Exponents and very long mantissas are rare; the runtime's parser handles them exactly.
export function slowDecimal(buf: Buffer, start: number, end: number): number {
  const text = latin1(buf, start, end);
  return DECIMAL_RE.test(text) ? Number(text) : Number.NaN;
}

function hexValue(b: number): number {
  if (b >= 48 && b <= 57) return b - 48;
  if (b >= 97 && b <= 102) return b - 87;
  if (b >= 65 && b <= 70) return b - 55;
  return -1;
}

/**
 * Decodes Zeek's ASCII escapes in [start, end): `\xNN` is the byte NN (how Zeek writes the
 * separator, backslashes and unprintable bytes) and `\\` is one backslash; any other backslash
 * stays as it is, as in Zeek's own reader. The bytes are then read as UTF-8.
 */
export function unescapeZeek(buf: Buffer, start: number, end: number): string {
  const out = Buffer.allocUnsafe(end - start);
  let n = 0;
  let i = start;
  while (i < end) {
    const b = buf[i];
    if (b === 92 && i + 1 < end) {
      const next = buf[i + 1];
      if (next === 120 && i + 3 < end) {
        const hi = hexValue(buf[i + 2]);
        const lo = hexValue(buf[i + 3]);
        if (hi >= 0 && lo >= 0) {
          out[n++] = (hi << 4) | lo;
          i += 4;
          continue;
        }
      } else if (next === 92) {
        out[n++] = 92;
        i += 2;
        continue;
      }
    }
    out[n++] = b;
    i++;
  }
  return out.toString('utf8', 0, n);
}

/** Decodes `\xNN` escapes in a header value such as `#separator \x09`. */
export function unescapeHeader(text: string): string {
  const b = Buffer.from(text, 'utf8');
  return unescapeZeek(b, 0, b.length);
}

/**
 * Number scanning shared by the TSV and the JSON reader: each scan starts at a field's first
 * byte, stops at the first byte that cannot belong to it and leaves that position in `pos`.
 */
export class ByteScanner {
  /** Where the last scan stopped. */
  pos = 0;

  /** Decimal digits at p as an integer; -1 when there are none. */
  scanUint(buf: Buffer, p: number, end: number): number {
    const start = p;
    let n = 0;
    for (; p < end; p++) {
      const d = buf[p] - 48;
      if (d < 0 || d > 9) break;
      n = n * 10 + d;
    }
    this.pos = p;
    return p === start ? -1 : n;
  }

  /**
   * `-?digits(.digits)?` at p as a number; NaN when there are no digits. All digits are
   * gathered into one integer and divided once by a power of ten: both steps are exact below
   * 2^53 and IEEE division rounds correctly, so the result is bit-identical to parseFloat of
   * the same text (and so to JSON.parse of the same number).
   */
  scanDecimal(buf: Buffer, p: number, end: number): number {
    const start = p;
    const negative = p < end && buf[p] === 45;
    if (negative) p++;
    const digitsStart = p;
    let mantissa = 0;
    let dotAt = -1;
    for (; p < end; p++) {
      const b = buf[p];
      const d = b - 48;
      if (d >= 0 && d <= 9) mantissa = mantissa * 10 + d;
      else if (b === 46 && dotAt < 0) dotAt = p;
      else break;
    }
    this.pos = p;
    const fractionDigits = dotAt < 0 ? 0 : p - dotAt - 1;
    if (p - digitsStart - (dotAt < 0 ? 0 : 1) === 0) return Number.NaN;
    if (mantissa > Number.MAX_SAFE_INTEGER || fractionDigits > 22) return slowDecimal(buf, start, p);
    const value = fractionDigits === 0 ? mantissa : mantissa / POW10[fractionDigits];
    return negative ? -value : value;
  }
}

/** A compiled row reader: one line to a record, or undefined with the reader's error set. */
type RowFunction = (r: TsvRowReader, buf: Buffer, start: number, end: number) => FlowRecord | undefined;

/** FlowValues property of each kind (KIND_NAMES without the `id.` prefix). */
export const VALUE_NAMES: readonly string[] = KIND_NAMES.map((n) => n.replace('id.', ''));

const compiled = new Map<string, RowFunction>();
const MAX_COMPILED = 64;

/**
 * Reads one TSV data line into FlowValues according to the current #fields plan. The plan is
 * compiled into a straight-line function (one block per column, no per-column dispatch), about
 * a fifth faster than a loop over the plan. Errors leave `errorColumn` (index into #fields) and
 * `errorMessage` set and return false.
 */
export class TsvRowReader extends ByteScanner {
  errorColumn = 0;
  errorMessage = '';
  separator = 9;
  setSeparator = 44;
  private unset: Uint8Array = Buffer.from('-');
  private empty: Uint8Array = Buffer.from('(empty)');
  private empty0 = 40;
  private columns = 0;
  private row: RowFunction = compileRow(new Uint8Array(0), 9, Buffer.from('-'));

  constructor(private readonly cache: StringCache) {
    super();
  }

  /** Sets the #fields plan (kind of each column) and the markers from the header. */
  configure(plan: Uint8Array, separator: number, setSeparator: number, unset: string, empty: string): void {
    this.separator = separator;
    this.setSeparator = setSeparator;
    this.unset = Buffer.from(unset, 'utf8');
    this.empty = Buffer.from(empty, 'utf8');
    this.empty0 = this.empty.length > 0 ? this.empty[0] : -1;
    this.columns = plan.length;
    const key = `${separator}/${this.unset.join('.')}/${plan.join(',')}`;
    let row = compiled.get(key);
    if (!row) {
      if (compiled.size >= MAX_COMPILED) compiled.clear();
      row = compileRow(plan, separator, this.unset);
      compiled.set(key, row);
    }
    this.row = row;
  }

  /** Bit 1 << kind of each required value the last line had (set when read() returns a record). */
  mask = 0;

  /** The record of one line; undefined (with errorColumn and errorMessage set) when it is bad. */
  read(buf: Buffer, start: number, end: number): FlowRecord | undefined {
    return this.row(this, buf, start, end);
  }

  // The methods below are called by the compiled row functions.

  /** Whether the last scan stopped at the end of its column. */
  atEnd(buf: Buffer, end: number): boolean {
    return this.pos === end || buf[this.pos] === this.separator;
  }

  /** Whether the multi-byte unset marker fills the column at p. */
  unsetAt(buf: Buffer, p: number, end: number): boolean {
    const marker = this.unset;
    const len = marker.length;
    if (p + len > end || (p + len < end && buf[p + len] !== this.separator)) return false;
    for (let i = 0; i < len; i++) if (buf[p + i] !== marker[i]) return false;
    return true;
  }

  /** A column (or set element) up to `term`; interned unless escaped or non-ASCII. */
  string(buf: Buffer, p: number, end: number, term: number): string {
    const start = p;
    let w0 = 0;
    let w1 = 0;
    let w2 = 0;
    let w3 = 0;
    let high = 0;
    let escaped = false;
    for (; p < end; p++) {
      const b = buf[p];
      if (b === term) break;
      if (b === 92) escaped = true;
      w0 = (w0 << 8) | (w1 >>> 24);
      w1 = (w1 << 8) | (w2 >>> 24);
      w2 = (w2 << 8) | (w3 >>> 24);
      w3 = (w3 << 8) | b;
      high |= b;
    }
    this.pos = p;
    const len = p - start;
    // Only a value spelled exactly like the marker is empty; Zeek escapes a real "(empty)".
    if (buf[start] === this.empty0 && len === this.empty.length && this.isEmpty(buf, start)) return '';
    if (escaped) return unescapeZeek(buf, start, p);
    if (high >= 0x80) return utf8(buf, start, p);
    return len <= 16 ? this.cache.short(buf, start, p, w0, w1, w2, w3) : this.cache.long(buf, start, p);
  }

  /** A column whose values are unique (uid): not worth interning. */
  plainString(buf: Buffer, p: number, end: number): string {
    const start = p;
    const sep = this.separator;
    let high = 0;
    let escaped = false;
    for (; p < end; p++) {
      const b = buf[p];
      if (b === sep) break;
      if (b === 92) escaped = true;
      high |= b;
    }
    this.pos = p;
    if (buf[start] === this.empty0 && p - start === this.empty.length && this.isEmpty(buf, start)) return '';
    if (escaped) return unescapeZeek(buf, start, p);
    if (high >= 0x80) return utf8(buf, start, p);
    return latin1(buf, start, p);
  }

  set(buf: Buffer, p: number, end: number): string[] {
    const sep = this.separator;
    const start = p;
    while (p < end && buf[p] !== sep) p++;
    const fieldEnd = p;
    if (buf[start] === this.empty0 && fieldEnd - start === this.empty.length && this.isEmpty(buf, start)) {
      this.pos = fieldEnd;
      return EMPTY_SET;
    }
    const out: string[] = [];
    let at = start;
    for (;;) {
      out.push(this.string(buf, at, fieldEnd, this.setSeparator));
      if (this.pos >= fieldEnd) break;
      at = this.pos + 1;
    }
    this.pos = fieldEnd;
    return out;
  }

  tooFew(found: number): undefined {
    this.errorColumn = found;
    this.errorMessage = `expected ${this.columns} columns as #fields says, found ${found}`;
    return undefined;
  }

  tooMany(buf: Buffer, p: number, end: number): undefined {
    let found = this.columns;
    for (let i = p; i < end; i++) if (buf[i] === this.separator) found++;
    this.errorColumn = this.columns - 1;
    this.errorMessage = `expected ${this.columns} columns as #fields says, found ${found}`;
    return undefined;
  }

  bad(column: number, buf: Buffer, start: number, end: number, what: string): undefined {
    let stop = start;
    while (stop < end && buf[stop] !== this.separator) stop++;
    this.errorColumn = column;
    this.errorMessage = `${what}: ${stop > start ? `'${showBytes(buf, start, stop)}'` : 'an empty value'}`;
    return undefined;
  }

  private isEmpty(buf: Buffer, at: number): boolean {
    const empty = this.empty;
    for (let i = 1; i < empty.length; i++) if (buf[at + i] !== empty[i]) return false;
    return true;
  }
}

/**
 * Generates the row function for a plan: one block per column parsing into a local variable,
 * then one object literal. The source is built only from this module's own constants and from
 * numbers (kinds, the separator byte, the unset marker's bytes), never from text in the log, so
 * nothing read from input ends up as code.
 */
function compileRow(plan: Uint8Array, sep: number, unset: Uint8Array): RowFunction {
  const atEnd = `(r.pos === end || buf[r.pos] === ${sep})`;
  const u = unset.length;
  const isUnset =
    u === 0
      ? `(p === end || buf[p] === ${sep})`
      : u === 1
        ? `(p < end && buf[p] === ${unset[0]} && (p + 1 === end || buf[p + 1] === ${sep}))`
        : `(p < end && buf[p] === ${unset[0]} && r.unsetAt(buf, p, end))`;
  let src = 'let p = start;\nlet mask = 0;\nlet x = 0;\nlet y = 0;\nlet d = 0;\n';
  // Required values start as placeholders (their mask bit stays clear); optional ones unset.
  for (const kind of RECORD_ORDER) {
    const required = REQUIRED_KINDS.includes(kind);
    const initial = kind === K_TS || kind === K_ORIG_P || kind === K_RESP_P ? '0' : required ? "''" : 'undefined';
    src += `let f_${VALUE_NAMES[kind]} = ${initial};\n`;
  }
  for (let c = 0; c < plan.length; c++) {
    const kind = plan[c];
    const local = `f_${VALUE_NAMES[kind]}`;
    const bad = (what: string, from = 'p') => `return r.bad(${c}, buf, ${from}, end, '${what}');`;
    // Digits parsed in place (the most common columns): no call, no position through memory.
    const digits = (what: string, max: string) =>
      `x = 0;\ny = p;\nwhile (p < end) {\nd = buf[p] - 48;\nif (d < 0 || d > 9) break;\nx = x * 10 + d;\np++;\n}\n` +
      `if (p === y || (p < end && buf[p] !== ${sep})${max}) ${bad(what, 'y')}\n`;
    if (c > 0) src += `if (p >= end) return r.tooFew(${c});\np++;\n`;
    if (kind === K_SKIP) {
      src += `while (p < end && buf[p] !== ${sep}) p++;\n`;
      continue;
    }
    let parse: string;
    switch (kind) {
      case K_TS:
        parse = `x = r.scanDecimal(buf, p, end);\nif (!(x >= 0 && x < 1e11) || !${atEnd}) ${bad('not a valid time')}\n${local} = x;\np = r.pos;`;
        break;
      case K_UID:
        parse = `${local} = r.plainString(buf, p, end);\np = r.pos;`;
        break;
      case K_ORIG_P:
      case K_RESP_P:
        parse = `${digits('not a port number', ' || x > 65535')}${local} = x;`;
        break;
      case K_ORIG_H:
      case K_RESP_H:
      case K_PROTO:
      case K_SERVICE:
      case K_CONN_STATE:
      case K_HISTORY:
        parse = `${local} = r.string(buf, p, end, ${sep});\np = r.pos;`;
        break;
      case K_DURATION:
        parse = `x = r.scanDecimal(buf, p, end);\nif (x !== x || !${atEnd}) ${bad('not a time interval')}\n${local} = x;\np = r.pos;`;
        break;
      case K_LOCAL_ORIG:
      case K_LOCAL_RESP:
        // Zeek writes T/F; its own reader also takes 1/0.
        parse =
          `if (p >= end || (p + 1 < end && buf[p + 1] !== ${sep})) ${bad('not a bool (T or F)')}\n` +
          `x = buf[p];\nif (x === 84 || x === 49) ${local} = true;\n` +
          `else if (x === 70 || x === 48) ${local} = false;\nelse ${bad('not a bool (T or F)')}\np++;`;
        break;
      case K_TUNNEL_PARENTS:
        parse = `${local} = r.set(buf, p, end);\np = r.pos;`;
        break;
      case K_VLAN:
      case K_INNER_VLAN:
        parse =
          `x = p < end && buf[p] === 45 ? 1 : 0;\ny = r.scanUint(buf, p + x, end);\n` +
          `if (y < 0 || !${atEnd}) ${bad('not an integer')}\n${local} = x === 1 ? -y : y;\np = r.pos;`;
        break;
      default:
        parse = `${digits('not a count', '')}${local} = x;`;
    }
    const bit = REQUIRED_KINDS.includes(kind) ? `\nmask |= ${1 << kind};` : '';
    src += `if (${isUnset}) p += ${u};\nelse {\n${parse}${bit}\n}\n`;
  }
  src += 'if (p < end) return r.tooMany(buf, p, end);\nr.mask = mask;\n';
  src += `return { kind: 'flow', ${RECORD_ORDER.map((k) => `${VALUE_NAMES[k]}: f_${VALUE_NAMES[k]}`).join(', ')} };\n`;
  return new Function('r', 'buf', 'start', 'end', src) as RowFunction;
}

/**
 * Kinds in FlowRecord property order. Every record vigil makes from Zeek logs has all of these
 * properties in this order (unset ones undefined): one hidden class keeps the detectors' reads
 * monomorphic.
 */
export const RECORD_ORDER: readonly number[] = [
  K_TS,
  K_UID,
  K_ORIG_H,
  K_ORIG_P,
  K_RESP_H,
  K_RESP_P,
  K_PROTO,
  K_SERVICE,
  K_DURATION,
  K_ORIG_BYTES,
  K_RESP_BYTES,
  K_CONN_STATE,
  K_LOCAL_ORIG,
  K_LOCAL_RESP,
  K_MISSED_BYTES,
  K_HISTORY,
  K_ORIG_PKTS,
  K_ORIG_IP_BYTES,
  K_RESP_PKTS,
  K_RESP_IP_BYTES,
  K_TUNNEL_PARENTS,
  K_VLAN,
  K_INNER_VLAN,
];

/** Shows at most 40 bytes of a bad value in a message. */
export function showBytes(buf: Buffer, start: number, end: number): string {
  const text = buf.toString('utf8', start, Math.min(end, start + 40));
  return end - start > 40 ? `${text}…` : text;
}
