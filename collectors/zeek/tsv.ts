// Zeek's ASCII (TSV) log values read straight from bytes: the conn.log column kinds, the number,
// escape and string readers that the TSV and the JSON reader share, and the TSV row reader.

import { CONN_STATES, type FlowRecord } from '../record.js';

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

/** Slot of a short string in StringCache (also generated inline as SHORT_SLOT: keep the two alike). */
function shortSlot(w0: number, w1: number, w2: number, w3: number, len: number, mask: number): number {
  const h = Math.imul(
    w0 ^ Math.imul(w1, 0x9e3779b1) ^ Math.imul(w2, 0x85ebca6b) ^ Math.imul(w3 ^ len, 0xc2b2ae35),
    0x27d4eb2f,
  );
  return (h ^ (h >>> 15)) & mask;
}
/** shortSlot as generated code: words w0..w3, length x, mask cmask; sets slot. */
const SHORT_SLOT =
  'slot = Math.imul(w0 ^ Math.imul(w1, 0x9e3779b1) ^ Math.imul(w2, 0x85ebca6b) ^ Math.imul(w3 ^ x, 0xc2b2ae35), 0x27d4eb2f);\n' +
  'slot = (slot ^ (slot >>> 15)) & cmask;';

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
  // Read directly by the compiled TSV row functions (which look up short strings inline).
  readonly slots: string[];
  /** Per slot: the four words and the length of a short string; length -1 for a long one. */
  readonly shortKeys: Int32Array;
  readonly mask: number;

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
    const slot = shortSlot(w0, w1, w2, w3, len, this.mask);
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
  private row: RowFunction = compileRow(new Uint8Array(0), 9, Buffer.from('-'), Buffer.from('(empty)'));

  /** The intern table (read by the row functions). */
  constructor(readonly cache: StringCache) {
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
    const key = `${separator}/${this.unset.join('.')}/${this.empty.join('.')}/${plan.join(',')}`;
    let row = compiled.get(key);
    if (!row) {
      if (compiled.size >= MAX_COMPILED) compiled.clear();
      row = compileRow(plan, separator, this.unset, this.empty);
      compiled.set(key, row);
    }
    this.row = row;
  }

  /** A DataView of the buffer being read (the row functions read four bytes at once through it). */
  private dv: DataView = new DataView(new ArrayBuffer(0) as ArrayBufferLike);
  private dvOf: Buffer | undefined;

  viewOf(buf: Buffer): DataView {
    if (buf !== this.dvOf) {
      this.dvOf = buf;
      this.dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
    }
    return this.dv;
  }

  /** Bit 1 << kind of each required value the last line had (set when read() returns a record). */
  mask = 0;

  /** The record of one line; undefined (with errorColumn and errorMessage set) when it is bad. */
  read(buf: Buffer, start: number, end: number): FlowRecord | undefined {
    return this.row(this, buf, start, end);
  }

  // The methods below are called by the compiled row functions.

  /** Whether the multi-byte unset marker fills the column at p. */
  unsetAt(buf: Buffer, p: number, end: number): boolean {
    const marker = this.unset;
    const len = marker.length;
    if (p + len > end || (p + len < end && buf[p + len] !== this.separator)) return false;
    for (let i = 0; i < len; i++) if (buf[p + i] !== marker[i]) return false;
    return true;
  }

  /** A set element up to `term`; interned unless escaped or non-ASCII. */
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

  /** Whether the empty marker is at `at` (its first byte and its length already checked). */
  isEmpty(buf: Buffer, at: number): boolean {
    const empty = this.empty;
    for (let i = 1; i < empty.length; i++) if (buf[at + i] !== empty[i]) return false;
    return true;
  }
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

/** Makes a Zeek FlowRecord from its values in RECORD_ORDER (the `kind` property comes first). */
export type ZeekFlowConstructor = new (...values: unknown[]) => FlowRecord;

/**
 * The one constructor of the FlowRecords read from Zeek logs: plain objects (their prototype is
 * Object.prototype, as an object literal's) with every property in RECORD_ORDER, so all of them
 * share one hidden class. Not an object literal on purpose: V8 tracks where literals are
 * allocated, and when most objects of a site are still alive at a scavenge (records waiting in
 * a batch are) it allocates that site's objects in the old generation from then on, which
 * made every later record cost a full mark-compact's share (runs at two thirds of the speed).
 * Objects made by `new` have no allocation site.
 */
export const ZeekFlow: ZeekFlowConstructor = (() => {
  const names = RECORD_ORDER.map((k) => VALUE_NAMES[k]);
  const body = `this.kind = 'flow';\n${names.map((n) => `this.${n} = ${n};`).join('\n')}`;
  const ctor = new Function(...names, body) as unknown as ZeekFlowConstructor;
  ctor.prototype = Object.prototype;
  return ctor;
})();

/**
 * Mask bits a row sets (besides 1 << kind) when proto or conn_state was one of the known
 * values, recognised by its bytes: the parser need not look the string up again.
 */
export const PROTO_KNOWN = 1 << 30;
export const STATE_KNOWN = 1 << 29;

/**
 * For the proto and conn_state columns: when the folded bytes (w0..w3, length x) are one of
 * the values vigil knows, the value is that string literal and the row's mask says so;
 * otherwise the code after this (in the block it opens, `if (k === 0) {`) reads the string.
 */
function knownWords(local: string, kind: number): string {
  const values: readonly string[] = kind === K_PROTO ? ['tcp', 'udp', 'icmp'] : CONN_STATES;
  const flag = kind === K_PROTO ? PROTO_KNOWN : STATE_KNOWN;
  const cases = new Map<number, string[]>();
  for (const v of values) {
    const w = Buffer.from(v, 'latin1');
    let w2 = 0;
    let w3 = 0;
    for (const b of w) {
      w2 = (w2 << 8) | (w3 >>> 24);
      w3 = (w3 << 8) | b;
    }
    const arm = `if (x === ${v.length} && w2 === ${w2}) {\n${local} = '${v}';\nmask |= ${flag};\nk = 1;\n}`;
    const list = cases.get(w3) ?? [];
    list.push(arm);
    cases.set(w3, list);
  }
  // A column that #fields names twice (the last one counts) must not keep the first one's flag.
  let src = `x = p - y;\nk = 0;\nmask &= ${~flag};\nif (e < 128 && x <= 8 && w1 === 0 && w0 === 0) {\nswitch (w3) {\n`;
  for (const [w3, arms] of cases) src += `case ${w3}:\n${arms.join('\nelse ')}\nbreak;\n`;
  return `${src}}\n}\nif (k === 0) {\n`;
}

/** Lengths of Zeek uids (a letter and 96 random bits in base 62), and a little more. */
const UID_LENGTHS = [15, 16, 17, 18, 19, 20];

/**
 * The ASCII bytes [y, p) as a string. String.fromCharCode with the bytes as arguments makes a
 * short string in about two thirds of the time of Buffer's latin1Slice, a native call that
 * checks its arguments and receiver first; lengths other than a uid's take that call.
 */
function charCodes(local: string): string {
  let src = 'switch (p - y) {\n';
  for (const n of UID_LENGTHS) {
    const args = Array.from({ length: n }, (_, i) => `buf[y + ${i}]`).join(', ');
    src += `case ${n}:\n${local} = String.fromCharCode(${args});\nbreak;\n`;
  }
  return `${src}default:\n${local} = h.latin1(buf, y, p);\n}`;
}

/**
 * FOLD_MASKS[16 + n]: the bits of a word that hold string bytes when n bytes of the string are
 * left for it (none for n <= 0, all for n >= 4, the low n bytes in between).
 */
const FOLD_MASKS = Int32Array.from({ length: 33 }, (_, i) => {
  const n = i - 16;
  return n <= 0 ? 0 : n >= 4 ? -1 : (1 << (8 * n)) - 1;
});

/**
 * Generated code folding the string [y, p) (length x) of at most 16 bytes into w0..w3 as
 * StringCache.short wants them: four big-endian 32-bit reads through the DataView, masked to
 * the string, instead of shifting every byte through four words while scanning (a third of the
 * scan's work). Near the start of the buffer the reads would start before it: byte by byte.
 */
const FOLD =
  'x = p - y;\nif (x <= 16) {\nif (p >= 16) {\n' +
  'w3 = dv.getInt32(p - 4) & h.FOLD_MASKS[x + 16];\nw2 = dv.getInt32(p - 8) & h.FOLD_MASKS[x + 12];\n' +
  'w1 = dv.getInt32(p - 12) & h.FOLD_MASKS[x + 8];\nw0 = dv.getInt32(p - 16) & h.FOLD_MASKS[x + 4];\n' +
  '} else {\nw0 = 0;\nw1 = 0;\nw2 = 0;\nw3 = 0;\nfor (d = y; d < p; d++) {\n' +
  'w0 = (w0 << 8) | (w1 >>> 24);\nw1 = (w1 << 8) | (w2 >>> 24);\nw2 = (w2 << 8) | (w3 >>> 24);\nw3 = (w3 << 8) | buf[d];\n' +
  '}\n}\n}\n';

/** What the generated row functions get besides the reader: module functions, bound once. */
const ROW_HELPERS = { POW10, FOLD_MASKS, slowDecimal, unescapeZeek, utf8, latin1, ZeekFlow };

/**
 * Generates the row function for a plan: one block per column parsing into a local variable,
 * then one ZeekFlow. Numbers are accumulated in the pass that finds their end; strings are
 * looked up in the intern table inline; no call and no position kept in memory on the common
 * path. The source is built only from this
 * module's own constants and from numbers (kinds, the separator byte, the markers' bytes),
 * never from text in the log, so nothing read from input ends up as code.
 */
function compileRow(plan: Uint8Array, sep: number, unset: Uint8Array, empty: Uint8Array): RowFunction {
  const u = unset.length;
  const isUnset =
    u === 0
      ? `(p === end || buf[p] === ${sep})`
      : u === 1
        ? `(p < end && buf[p] === ${unset[0]} && (p + 1 === end || buf[p + 1] === ${sep}))`
        : `(p < end && buf[p] === ${unset[0]} && r.unsetAt(buf, p, end))`;
  // Only a value spelled exactly like the marker is empty; Zeek escapes a real "(empty)".
  const isEmpty =
    empty.length === 0 ? 'false' : `(p - y === ${empty.length} && buf[y] === ${empty[0]} && r.isEmpty(buf, y))`;
  let src = 'let p = start;\nlet mask = 0;\nlet x = 0;\nlet y = 0;\nlet d = 0;\nlet e = 0;\n';
  src +=
    'let w0 = 0;\nlet w1 = 0;\nlet w2 = 0;\nlet w3 = 0;\nlet slot = 0;\nlet k = 0;\nconst cache = r.cache;\nconst dv = r.viewOf(buf);\n';
  src += 'const keys = cache.shortKeys;\nconst slots = cache.slots;\nconst cmask = cache.mask;\n';
  // Required values start as placeholders (their mask bit stays clear); optional ones unset.
  for (const kind of RECORD_ORDER) {
    const required = REQUIRED_KINDS.includes(kind);
    const initial = kind === K_TS || kind === K_ORIG_P || kind === K_RESP_P ? '0' : required ? "''" : 'undefined';
    src += `let f_${VALUE_NAMES[kind]} = ${initial};\n`;
  }
  for (let c = 0; c < plan.length; c++) {
    const kind = plan[c];
    const local = `f_${VALUE_NAMES[kind]}`;
    const bad = (what: string) => `return r.bad(${c}, buf, y, end, '${what}');`;
    // Digits accumulated in place: no call, no position through memory.
    const digits = (what: string, max: string) =>
      `x = 0;\nwhile (p < end) {\nd = buf[p] - 48;\nif (d < 0 || d > 9) break;\nx = x * 10 + d;\np++;\n}\n` +
      `if (p === y || (p < end && buf[p] !== ${sep})${max}) ${bad(what)}\n`;
    // ByteScanner.scanDecimal in place (same digits, same single division, so the same double).
    const decimal = (what: string, ok: string) =>
      `e = p < end && buf[p] === 45 ? 1 : 0;\np += e;\nw0 = p;\nw1 = -1;\nx = 0;\n` +
      `while (p < end) {\nd = buf[p] - 48;\nif (d >= 0 && d <= 9) x = x * 10 + d;\n` +
      `else if (d === -2 && w1 < 0) w1 = p;\nelse break;\np++;\n}\n` +
      `w2 = w1 < 0 ? 0 : p - w1 - 1;\n` +
      `if (p - w0 === (w1 < 0 ? 0 : 1)) x = NaN;\n` +
      `else if (x > ${Number.MAX_SAFE_INTEGER} || w2 > 22) x = h.slowDecimal(buf, y, p);\n` +
      `else {\nif (w2 !== 0) x = x / h.POW10[w2];\nif (e === 1) x = -x;\n}\n` +
      `if (!(${ok}) || (p < end && buf[p] !== ${sep})) ${bad(what)}\n`;
    // A string up to the separator; e collects every byte (bit 7: not ASCII) and 256 for a
    // backslash (an escape). FOLD then reads it into w0..w3 for the intern table.
    const scan = `e = 0;\nwhile (p < end) {\nd = buf[p];\nif (d === ${sep}) break;\ne |= d === 92 ? 256 : d;\np++;\n}\n`;
    const special = `${isEmpty} ? '' : e > 255 ? h.unescapeZeek(buf, y, p) : h.utf8(buf, y, p)`;
    if (c > 0) src += `if (p >= end) return r.tooFew(${c});\np++;\n`;
    if (kind === K_SKIP) {
      src += `while (p < end && buf[p] !== ${sep}) p++;\n`;
      continue;
    }
    let parse: string;
    switch (kind) {
      case K_TS:
        parse = `${decimal('not a valid time', 'x >= 0 && x < 1e11')}${local} = x;`;
        break;
      case K_DURATION:
        parse = `${decimal('not a time interval', 'x === x')}${local} = x;`;
        break;
      case K_UID:
        // Unique per line: not worth interning.
        parse = `${scan}if (e > 127 || ${isEmpty}) ${local} = ${special};\nelse {\n${charCodes(local)}\n}`;
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
        parse =
          `${scan}${FOLD}${kind === K_PROTO || kind === K_CONN_STATE ? knownWords(local, kind) : ''}` +
          `if (e > 127 || ${isEmpty}) ${local} = ${special};\n` +
          `else if (p - y > 16) ${local} = cache.long(buf, y, p);\n` +
          `else {\nx = p - y;\n${SHORT_SLOT}\nd = slot * 5;\n` +
          `${local} = keys[d + 4] === x && keys[d + 3] === w3 && keys[d + 2] === w2 && keys[d + 1] === w1 && keys[d] === w0 ? slots[slot] : cache.short(buf, y, p, w0, w1, w2, w3);\n}`;
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
          `e = p < end && buf[p] === 45 ? 1 : 0;\np += e;\nw0 = p;\n${digits('not an integer', '').replace('p === y', 'p === w0')}` +
          `${local} = e === 1 ? -x : x;`;
        break;
      default:
        parse = `${digits('not a count', '')}${local} = x;`;
    }
    if (kind === K_PROTO || kind === K_CONN_STATE) parse += '\n}';
    const bit = REQUIRED_KINDS.includes(kind) ? `\nmask |= ${1 << kind};` : '';
    src += `if (${isUnset}) p += ${u};\nelse {\ny = p;\n${parse}${bit}\n}\n`;
  }
  src += 'if (p < end) return r.tooMany(buf, p, end);\nr.mask = mask;\n';
  src += `return new h.ZeekFlow(${RECORD_ORDER.map((k) => `f_${VALUE_NAMES[k]}`).join(', ')});\n`;
  return new Function('h', `return function row(r, buf, start, end) {\n${src}};`)(ROW_HELPERS) as RowFunction;
}

/** Shows at most 40 bytes of a bad value in a message. */
export function showBytes(buf: Buffer, start: number, end: number): string {
  const text = buf.toString('utf8', start, Math.min(end, start + 40));
  return end - start > 40 ? `${text}…` : text;
}
