// Reads one line of Zeek's JSON log output (`{"ts":…,"id.orig_h":…}`) into a FlowRecord straight
// from bytes: a strict JSON scanner specialised for flat objects, no JSON.parse on the hot path.

import type { ConnState, FlowRecord, TransportProto } from '../record.js';
import {
  ByteScanner,
  CONN_FIELD_KINDS,
  EMPTY_SET,
  FNV_OFFSET,
  FNV_PRIME,
  K_CONN_STATE,
  K_DURATION,
  K_HISTORY,
  K_INNER_VLAN,
  K_LOCAL_ORIG,
  K_LOCAL_RESP,
  K_MISSED_BYTES,
  K_ORIG_BYTES,
  K_ORIG_H,
  K_ORIG_IP_BYTES,
  K_ORIG_P,
  K_ORIG_PKTS,
  K_PROTO,
  K_RESP_BYTES,
  K_RESP_H,
  K_RESP_IP_BYTES,
  K_RESP_P,
  K_RESP_PKTS,
  K_SERVICE,
  K_SKIP,
  K_TS,
  K_TUNNEL_PARENTS,
  K_UID,
  K_VLAN,
  KIND_NAMES,
  latin1,
  RECORD_ORDER,
  REQUIRED_KINDS,
  type StringCache,
  showBytes,
  slowDecimal,
  utf8,
  VALUE_NAMES,
  ZeekFlow,
} from './tsv.js';

const QUOTE = 34;
const BACKSLASH = 92;
const MAX_DEPTH = 64;
const KEY_TABLE_BITS = 8;
/** Keys the table learns beyond conn.log's own (`_path`, `community_id`, ...), at most. */
const MAX_LEARNED_KEYS = 96;
/** Fast readers compiled per reader (each a new key order); then the generic path only. */
const MAX_COMPILES = 16;

/** Below this a JSON `ts` is seconds; above it, milliseconds (Zeek's JSON::TS_MILLIS). */
const MILLIS_THRESHOLD = 1e11;

/**
 * The values of one line for the generic path, reused from line to line; `mask` has bit
 * 1 << kind set for each value present.
 */
class FlowValues {
  mask = 0;
  ts = 0;
  uid = '';
  orig_h = '';
  orig_p = 0;
  resp_h = '';
  resp_p = 0;
  proto = '';
  service = '';
  duration = 0;
  orig_bytes = 0;
  resp_bytes = 0;
  conn_state = '';
  local_orig = false;
  local_resp = false;
  missed_bytes = 0;
  history = '';
  orig_pkts = 0;
  orig_ip_bytes = 0;
  resp_pkts = 0;
  resp_ip_bytes = 0;
  tunnel_parents: string[] = EMPTY_SET;
  vlan = 0;
  inner_vlan = 0;
}

/** A compiled reader for one key order: a record, or undefined when the line does not fit. */
type FastReader = (r: JsonRowReader, buf: Buffer, start: number, end: number) => FlowRecord | undefined;

const compiledReaders = new Map<string, FastReader>();
const MAX_CACHED = 64;

/**
 * Reads JSON lines. Most lines go through a reader compiled for the key order this log uses
 * (Zeek writes every line's keys in one order, leaving out unset ones); a line it does not fit
 * (spaces, a key in a new place, any error) goes through the generic scanner, which teaches the
 * next compiled reader the new order or reports what is wrong.
 */
export class JsonRowReader extends ByteScanner {
  /** Set when read() returns undefined: the field (if known) and what was wrong. */
  errorField: string | undefined;
  errorMessage = '';
  /** Bit 1 << kind of each value the last line read had (set when read() returns a record). */
  mask = 0;

  private readonly values = new FlowValues();
  private readonly keyNames: string[];
  private readonly keyBytes: Uint8Array[];
  /** Each key's bytes and closing quote as little-endian 32-bit words, for 4-byte compares. */
  private readonly keyWords: Int32Array[];
  private view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  private viewOf: Buffer | undefined;
  private readonly keyKinds: Uint8Array;
  private readonly keyMask = (1 << KEY_TABLE_BITS) - 1;
  private learned = 0;
  /**
   * The last two keys seen after each key (index: slot + 1; 0 is the start of the object), so
   * that the generic path usually compares bytes with a predicted key instead of hashing.
   */
  private readonly next1 = new Int16Array((1 << KEY_TABLE_BITS) + 1).fill(-1);
  private readonly next2 = new Int16Array((1 << KEY_TABLE_BITS) + 1).fill(-1);
  /** Key slots of the line the generic path read last, in order. */
  private readonly seen: number[] = [];
  /** The key order the compiled reader follows (slots). */
  private order: number[] = [];
  private fast: FastReader | undefined;
  private compiles = 0;

  constructor(private readonly cache: StringCache) {
    super();
    this.keyNames = new Array<string>(1 << KEY_TABLE_BITS).fill('');
    this.keyBytes = new Array<Uint8Array>(1 << KEY_TABLE_BITS).fill(new Uint8Array(0));
    this.keyWords = new Array<Int32Array>(1 << KEY_TABLE_BITS).fill(new Int32Array(0));
    this.keyKinds = new Uint8Array(1 << KEY_TABLE_BITS);
    for (const [name, kind] of CONN_FIELD_KINDS) this.addKey(name, kind);
  }

  /** The record of one line; undefined (with errorField and errorMessage set) when it is bad. */
  read(buf: Buffer, start: number, end: number): FlowRecord | undefined {
    if (buf !== this.viewOf) {
      this.viewOf = buf;
      this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    if (this.fast !== undefined) {
      const record = this.fast(this, buf, start, end);
      if (record !== undefined) return record;
    }
    const v = this.values;
    if (!this.readGeneric(buf, start, end, v)) return undefined;
    this.mask = v.mask;
    this.learn();
    return recordOf(v);
  }

  /** Folds the key order of the line just read into the compiled reader's order. */
  private learn(): void {
    const seen = this.seen;
    const order = this.order;
    let at = 0;
    let fits = true;
    for (const slot of seen) {
      const i = order.indexOf(slot, at);
      if (i < 0) {
        fits = false;
        break;
      }
      at = i + 1;
    }
    if (fits || this.compiles >= MAX_COMPILES || seen.length === 0) return;
    // New keys go where this line has them; a conflicting order starts over from this line.
    const merged: number[] = [];
    let next = 0;
    let conflict = false;
    for (const slot of seen) {
      const i = order.indexOf(slot);
      if (i < 0) {
        merged.push(slot);
        continue;
      }
      if (i < next) {
        conflict = true;
        break;
      }
      for (; next < i; next++) if (!seen.includes(order[next])) merged.push(order[next]);
      merged.push(slot);
      next = i + 1;
    }
    if (!conflict) for (; next < order.length; next++) if (!seen.includes(order[next])) merged.push(order[next]);
    this.order = conflict ? [...seen, ...order.filter((s) => !seen.includes(s))] : merged;
    this.compiles++;
    this.fast = compileFastReader(
      this.order.map((s) => this.keyNames[s]),
      this.order.map((s) => this.keyKinds[s]),
    );
  }

  private readGeneric(buf: Buffer, start: number, end: number, v: FlowValues): boolean {
    this.errorField = undefined;
    this.seen.length = 0;
    let p = skipWs(buf, start, end);
    if (p >= end || buf[p] !== 123) return this.fail(buf, start, p, end, 'expected a JSON object');
    p = skipWs(buf, p + 1, end);
    let mask = 0;
    if (p < end && buf[p] === 125) {
      p++;
    } else {
      let previous = 0;
      for (;;) {
        if (p >= end || buf[p] !== QUOTE) return this.fail(buf, start, p, end, 'expected a field name');
        const keyStart = p + 1;
        let slot = this.next1[previous];
        let q: number;
        if (slot >= 0 && this.keyAt(slot, buf, keyStart, end)) {
          q = keyStart + this.keyBytes[slot].length;
        } else {
          slot = this.next2[previous];
          if (slot >= 0 && this.keyAt(slot, buf, keyStart, end)) {
            q = keyStart + this.keyBytes[slot].length;
          } else {
            q = this.scanKey(buf, keyStart, end);
            if (q < 0) return this.fail(buf, start, end, end, 'unterminated field name');
            slot = this.pos;
          }
          this.next2[previous] = this.next1[previous];
          this.next1[previous] = slot;
        }
        previous = slot + 1;
        if (slot >= 0) this.seen.push(slot);
        const kind = slot >= 0 ? this.keyKinds[slot] : K_SKIP;
        // Zeek writes compact JSON: test for the expected byte before skipping whitespace.
        p = q + 1;
        if (p >= end || buf[p] !== 58) {
          p = skipWs(buf, p, end);
          if (p >= end || buf[p] !== 58) return this.fail(buf, start, p, end, "expected ':'");
        }
        p++;
        if (p < end && isWs(buf[p])) p = skipWs(buf, p, end);
        if (p >= end) return this.fail(buf, start, p, end, 'expected a value');
        if (kind === K_SKIP) {
          p = this.skipValue(buf, p, end, 0);
          if (p < 0) return this.fail(buf, start, -p - 1, end, 'invalid value');
        } else if (buf[p] === 110) {
          // null: Zeek leaves unset fields out, other writers spell them null.
          if (!isLiteral(buf, p, end, 'null')) return this.fail(buf, start, p, end, 'invalid value');
          p += 4;
        } else {
          if (!this.readField(kind, buf, p, end, v)) {
            this.errorField = KIND_NAMES[kind];
            return false;
          }
          p = this.pos;
          mask |= 1 << kind;
        }
        if (p < end && isWs(buf[p])) p = skipWs(buf, p, end);
        if (p < end) {
          const b = buf[p];
          if (b === 44) {
            p++;
            if (p < end && isWs(buf[p])) p = skipWs(buf, p, end);
            continue;
          }
          if (b === 125) {
            p++;
            break;
          }
        }
        return this.fail(buf, start, p, end, "expected ',' or '}'");
      }
    }
    p = skipWs(buf, p, end);
    if (p !== end) return this.fail(buf, start, p, end, 'unexpected text after the JSON object');
    v.mask = mask;
    return true;
  }

  private addKey(name: string, kind: number): number {
    let h = FNV_OFFSET;
    for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), FNV_PRIME);
    let slot = h & this.keyMask;
    while (this.keyNames[slot] !== '') slot = (slot + 1) & this.keyMask;
    this.keyNames[slot] = name;
    const bytes = Uint8Array.from(`${name}"`, (ch) => ch.charCodeAt(0));
    this.keyBytes[slot] = bytes.subarray(0, name.length);
    const words = new DataView(bytes.buffer);
    this.keyWords[slot] = Int32Array.from({ length: bytes.length >> 2 }, (_, i) => words.getInt32(i * 4, true));
    this.keyKinds[slot] = kind;
    return slot;
  }

  /** Whether the key at keyStart is the one in `slot` (its bytes, then the closing quote). */
  private keyAt(slot: number, buf: Buffer, keyStart: number, end: number): boolean {
    const key = this.keyBytes[slot];
    const len = key.length;
    if (keyStart + len >= end || buf[keyStart + len] !== QUOTE) return false;
    const words = this.keyWords[slot];
    const view = this.view;
    for (let i = 0; i < words.length; i++) if (view.getInt32(keyStart + 4 * i, true) !== words[i]) return false;
    for (let i = words.length * 4; i < len; i++) if (buf[keyStart + i] !== key[i]) return false;
    return true;
  }

  /**
   * Scans a key and looks it up; returns the position of its closing quote (or -1) and leaves
   * its table slot in `pos` (-1 for a key that is neither known nor learnable).
   */
  private scanKey(buf: Buffer, keyStart: number, end: number): number {
    let hash = FNV_OFFSET;
    let q = keyStart;
    let special = false;
    while (q < end) {
      const b = buf[q];
      if (b === QUOTE) break;
      if (b === BACKSLASH) {
        special = true;
        q++;
      } else if (b >= 0x80 || b < 0x20) {
        special = true;
      }
      hash = Math.imul(hash ^ b, FNV_PRIME);
      q++;
    }
    if (q >= end) return -1;
    if (special) {
      // A key with escapes or non-ASCII bytes: decode it and look it up by name (slow, rare).
      let name: string;
      try {
        name = JSON.parse(buf.toString('utf8', keyStart - 1, q + 1)) as string;
      } catch {
        name = '';
      }
      const kind = CONN_FIELD_KINDS.get(name);
      this.pos = kind === undefined ? -1 : this.findKey(name);
      return q;
    }
    const len = q - keyStart;
    let slot = hash & this.keyMask;
    for (;;) {
      const name = this.keyNames[slot];
      if (name === '') break;
      if (name.length === len && this.keyAt(slot, buf, keyStart, end)) {
        this.pos = slot;
        return q;
      }
      slot = (slot + 1) & this.keyMask;
    }
    // An unknown key: remember it (bounded) so that it is predicted and skipped cheaply.
    this.pos = this.learned < MAX_LEARNED_KEYS ? this.addKey(latin1(buf, keyStart, q), K_SKIP) : -1;
    if (this.pos >= 0) this.learned++;
    return q;
  }

  private findKey(name: string): number {
    for (let slot = 0; slot < this.keyNames.length; slot++) if (this.keyNames[slot] === name) return slot;
    return -1;
  }

  /** Reads the value of a known field at p into v; leaves the position after it in `pos`. */
  private readField(kind: number, buf: Buffer, p: number, end: number, v: FlowValues): boolean {
    const b0 = buf[p];
    switch (kind) {
      case K_TS: {
        const t = this.time(buf, p, end);
        if (Number.isNaN(t)) return this.failValue(buf, p, end, 'not a valid time');
        v.ts = t;
        return true;
      }
      case K_ORIG_H:
      case K_RESP_H: {
        if (b0 !== QUOTE) return this.failValue(buf, p, end, 'expected a string');
        const s = this.string(buf, p, end, true);
        if (s === undefined) return this.failValue(buf, p, end, 'unterminated string or bad escape');
        if (kind === K_ORIG_H) v.orig_h = s;
        else v.resp_h = s;
        return true;
      }
      case K_UID:
      case K_PROTO:
      case K_SERVICE:
      case K_CONN_STATE:
      case K_HISTORY: {
        if (b0 !== QUOTE) return this.failValue(buf, p, end, 'expected a string');
        const s = this.string(buf, p, end, kind !== K_UID);
        if (s === undefined) return this.failValue(buf, p, end, 'unterminated string or bad escape');
        if (kind === K_UID) v.uid = s;
        else if (kind === K_PROTO) v.proto = s;
        else if (kind === K_SERVICE) v.service = s;
        else if (kind === K_CONN_STATE) v.conn_state = s;
        else v.history = s;
        return true;
      }
      case K_ORIG_P:
      case K_RESP_P: {
        const port = this.integer(buf, p, end);
        if (port < 0 || port > 65535) return this.failValue(buf, p, end, 'not a port number');
        if (kind === K_ORIG_P) v.orig_p = port;
        else v.resp_p = port;
        return true;
      }
      case K_DURATION: {
        const d = this.number(buf, p, end);
        if (Number.isNaN(d)) return this.failValue(buf, p, end, 'not a time interval');
        v.duration = d;
        return true;
      }
      case K_LOCAL_ORIG:
      case K_LOCAL_RESP: {
        const value = this.bool(buf, p, end);
        if (value < 0) return this.failValue(buf, p, end, 'not a bool (true or false)');
        if (kind === K_LOCAL_ORIG) v.local_orig = value === 1;
        else v.local_resp = value === 1;
        return true;
      }
      case K_TUNNEL_PARENTS: {
        const list = this.stringList(buf, p, end);
        if (list === undefined) return this.failValue(buf, p, end, 'expected an array of strings');
        v.tunnel_parents = list;
        return true;
      }
      case K_VLAN:
      case K_INNER_VLAN: {
        const negative = b0 === 45;
        const id = this.integer(buf, negative ? p + 1 : p, end);
        if (id < 0) return this.failValue(buf, p, end, 'not an integer');
        if (kind === K_VLAN) v.vlan = negative ? -id : id;
        else v.inner_vlan = negative ? -id : id;
        return true;
      }
      default: {
        // Every count-valued kind.
        const count = this.integer(buf, p, end);
        if (count < 0) return this.failValue(buf, p, end, 'not a count');
        setCount(v, kind, count);
        return true;
      }
    }
  }

  /** An unsigned JSON integer at p; -1 when the token is not one. */
  integer(buf: Buffer, p: number, end: number): number {
    const n = this.scanUint(buf, p, end);
    const stop = this.pos;
    if (stop < end) {
      const b = buf[stop];
      if (b === 46 || b === 101 || b === 69 || b === 45 || b === 43) return -1;
    }
    return n;
  }

  /** A JSON number at p (exponents included); NaN when the token is not one. */
  number(buf: Buffer, p: number, end: number): number {
    const x = this.scanDecimal(buf, p, end);
    let q = this.pos;
    if (q < end && (buf[q] === 101 || buf[q] === 69)) {
      q++;
      if (q < end && (buf[q] === 43 || buf[q] === 45)) q++;
      const digits = q;
      while (q < end && buf[q] >= 48 && buf[q] <= 57) q++;
      this.pos = q;
      return q === digits || Number.isNaN(x) ? Number.NaN : slowDecimal(buf, p, q);
    }
    return x;
  }

  /** The string whose opening quote is at p; undefined when it is not valid JSON. */
  string(buf: Buffer, p: number, end: number, intern: boolean): string | undefined {
    const start = p + 1;
    let w0 = 0;
    let w1 = 0;
    let w2 = 0;
    let w3 = 0;
    let high = 0;
    let q = start;
    for (; q < end; q++) {
      const b = buf[q];
      if (b === QUOTE || b === BACKSLASH || b < 0x20) break;
      w0 = (w0 << 8) | (w1 >>> 24);
      w1 = (w1 << 8) | (w2 >>> 24);
      w2 = (w2 << 8) | (w3 >>> 24);
      w3 = (w3 << 8) | b;
      high |= b;
    }
    if (q < end && buf[q] === QUOTE) {
      this.pos = q + 1;
      if (high >= 0x80) return utf8(buf, start, q);
      if (!intern) return latin1(buf, start, q);
      return q - start <= 16 ? this.cache.short(buf, start, q, w0, w1, w2, w3) : this.cache.long(buf, start, q);
    }
    return this.escapedString(buf, p, end);
  }

  private escapedString(buf: Buffer, p: number, end: number): string | undefined {
    const close = this.scanString(buf, p, end);
    if (close < 0) return undefined;
    this.pos = close + 1;
    try {
      return JSON.parse(buf.toString('utf8', p, close + 1)) as string;
    } catch {
      return undefined;
    }
  }

  /** An array of strings at p (a set such as tunnel_parents); undefined when it is not one. */
  stringList(buf: Buffer, p: number, end: number): string[] | undefined {
    if (buf[p] !== 91) return undefined;
    let q = skipWs(buf, p + 1, end);
    if (q < end && buf[q] === 93) {
      this.pos = q + 1;
      return EMPTY_SET;
    }
    const out: string[] = [];
    for (;;) {
      if (q >= end || buf[q] !== QUOTE) return undefined;
      const s = this.string(buf, q, end, true);
      if (s === undefined) return undefined;
      out.push(s);
      q = skipWs(buf, this.pos, end);
      if (q < end && buf[q] === 44) {
        q = skipWs(buf, q + 1, end);
        continue;
      }
      if (q < end && buf[q] === 93) break;
      return undefined;
    }
    this.pos = q + 1;
    return out;
  }

  /** 1 for `true`, 0 for `false`, -1 for anything else; `pos` after it. */
  bool(buf: Buffer, p: number, end: number): number {
    if (isLiteral(buf, p, end, 'true')) {
      this.pos = p + 4;
      return 1;
    }
    if (isLiteral(buf, p, end, 'false')) {
      this.pos = p + 5;
      return 0;
    }
    return -1;
  }

  /** Whether `null` is at p. */
  isNull(buf: Buffer, p: number, end: number): boolean {
    return isLiteral(buf, p, end, 'null');
  }

  /** A time at p: epoch seconds, integer milliseconds or an ISO-8601 string; NaN if none. */
  time(buf: Buffer, p: number, end: number): number {
    let t: number;
    if (buf[p] === QUOTE) {
      const close = this.scanString(buf, p, end);
      if (close < 0) return Number.NaN;
      t = parseIsoTime(buf, p + 1, close);
      if (Number.isNaN(t)) t = this.scanDecimal(buf, p + 1, close) + (this.pos === close ? 0 : Number.NaN);
      this.pos = close + 1;
    } else {
      t = this.number(buf, p, end);
      // Integral values this large are milliseconds (JSON::TS_MILLIS).
      if (t >= MILLIS_THRESHOLD && t < MILLIS_THRESHOLD * 1000 && Number.isInteger(t)) t /= 1000;
    }
    return t >= 0 && t < MILLIS_THRESHOLD ? t : Number.NaN;
  }

  /** Whether the bytes at p are `lit` (a key's `"name":`, as words and trailing bytes). */
  literal(buf: Buffer, p: number, end: number, words: Int32Array, tail: Uint8Array): boolean {
    const len = words.length * 4 + tail.length;
    if (p + len > end) return false;
    const view = this.view;
    for (let i = 0; i < words.length; i++) if (view.getInt32(p + 4 * i, true) !== words[i]) return false;
    const t = p + words.length * 4;
    for (let i = 0; i < tail.length; i++) if (buf[t + i] !== tail[i]) return false;
    return true;
  }

  /** Scans the string whose opening quote is at p; returns its closing quote or -1. */
  private scanString(buf: Buffer, p: number, end: number): number {
    let q = p + 1;
    while (q < end) {
      const b = buf[q];
      if (b === QUOTE) return q;
      if (b < 0x20) return -1;
      q += b === BACKSLASH ? 2 : 1;
    }
    return -1;
  }

  /**
   * Skips any JSON value at p (validating it); returns the position after it, or -(pos + 1)
   * of the offending byte.
   */
  skipValue(buf: Buffer, p: number, end: number, depth: number): number {
    if (p >= end || depth > MAX_DEPTH) return -(p + 1);
    const b = buf[p];
    if (b === QUOTE) {
      const q = this.scanString(buf, p, end);
      return q < 0 ? -(p + 1) : q + 1;
    }
    if (b === 123 || b === 91) {
      const close = b === 123 ? 125 : 93;
      let q = skipWs(buf, p + 1, end);
      if (q < end && buf[q] === close) return q + 1;
      for (;;) {
        if (b === 123) {
          if (q >= end || buf[q] !== QUOTE) return -(q + 1);
          const k = this.scanString(buf, q, end);
          if (k < 0) return -(q + 1);
          q = skipWs(buf, k + 1, end);
          if (q >= end || buf[q] !== 58) return -(q + 1);
          q = skipWs(buf, q + 1, end);
        }
        q = this.skipValue(buf, q, end, depth + 1);
        if (q < 0) return q;
        q = skipWs(buf, q, end);
        if (q < end && buf[q] === 44) {
          q = skipWs(buf, q + 1, end);
          continue;
        }
        if (q < end && buf[q] === close) return q + 1;
        return -(q + 1);
      }
    }
    if (b === 116) return isLiteral(buf, p, end, 'true') ? p + 4 : -(p + 1);
    if (b === 102) return isLiteral(buf, p, end, 'false') ? p + 5 : -(p + 1);
    if (b === 110) return isLiteral(buf, p, end, 'null') ? p + 4 : -(p + 1);
    const x = this.number(buf, p, end);
    return Number.isNaN(x) ? -(p + 1) : this.pos;
  }

  private fail(buf: Buffer, lineStart: number, at: number, end: number, what: string): boolean {
    const found = at < end ? `'${showBytes(buf, at, at + 1)}'` : 'the end of the line';
    this.errorMessage = `invalid JSON at column ${at - lineStart + 1}: ${what}, found ${found}`;
    return false;
  }

  private failValue(buf: Buffer, start: number, end: number, what: string): boolean {
    this.errorMessage = `${what}: ${showBytes(buf, start, scanToken(buf, start, end))}`;
    return false;
  }
}

function setCount(v: FlowValues, kind: number, count: number): void {
  switch (kind) {
    case K_ORIG_BYTES:
      v.orig_bytes = count;
      break;
    case K_RESP_BYTES:
      v.resp_bytes = count;
      break;
    case K_MISSED_BYTES:
      v.missed_bytes = count;
      break;
    case K_ORIG_PKTS:
      v.orig_pkts = count;
      break;
    case K_ORIG_IP_BYTES:
      v.orig_ip_bytes = count;
      break;
    case K_RESP_PKTS:
      v.resp_pkts = count;
      break;
    case K_RESP_IP_BYTES:
      v.resp_ip_bytes = count;
      break;
  }
}

/** The record of the generic path's values, made by ZeekFlow like every Zeek record. */
function recordOf(v: FlowValues): FlowRecord {
  const m = v.mask;
  const has = (kind: number) => (m & (1 << kind)) !== 0;
  // Arguments in RECORD_ORDER.
  return new ZeekFlow(
    v.ts,
    v.uid,
    v.orig_h,
    v.orig_p,
    v.resp_h,
    v.resp_p,
    v.proto as TransportProto,
    has(K_SERVICE) ? v.service : undefined,
    has(K_DURATION) ? v.duration : undefined,
    has(K_ORIG_BYTES) ? v.orig_bytes : undefined,
    has(K_RESP_BYTES) ? v.resp_bytes : undefined,
    has(K_CONN_STATE) ? (v.conn_state as ConnState) : undefined,
    has(K_LOCAL_ORIG) ? v.local_orig : undefined,
    has(K_LOCAL_RESP) ? v.local_resp : undefined,
    has(K_MISSED_BYTES) ? v.missed_bytes : undefined,
    has(K_HISTORY) ? v.history : undefined,
    has(K_ORIG_PKTS) ? v.orig_pkts : undefined,
    has(K_ORIG_IP_BYTES) ? v.orig_ip_bytes : undefined,
    has(K_RESP_PKTS) ? v.resp_pkts : undefined,
    has(K_RESP_IP_BYTES) ? v.resp_ip_bytes : undefined,
    has(K_TUNNEL_PARENTS) ? v.tunnel_parents : undefined,
    has(K_VLAN) ? v.vlan : undefined,
    has(K_INNER_VLAN) ? v.inner_vlan : undefined,
  );
}

/**
 * Compiles the fast reader for a key order: for each key in turn, if the line has it next
 * (`,"name":` compared as bytes), its value is parsed into a local; absent keys are passed
 * over. Anything unexpected returns undefined, and the generic path takes the line. The source
 * holds only numbers and this module's constants; key names reach the code as byte arrays.
 */
function compileFastReader(names: string[], kinds: number[]): FastReader {
  const cacheKey = names.map((n, i) => `${kinds[i]}:${n}`).join('\n');
  const cached = compiledReaders.get(cacheKey);
  if (cached) return cached;
  const words: Int32Array[] = [];
  const tails: Uint8Array[] = [];
  for (const name of names) {
    const bytes = Buffer.from(`"${name}":`, 'utf8');
    const n = bytes.length >> 2;
    words.push(Int32Array.from({ length: n }, (_, i) => bytes.readInt32LE(i * 4)));
    tails.push(new Uint8Array(bytes.subarray(n * 4)));
  }
  let src = 'let p = start;\nlet mask = 0;\nlet x = 0;\nlet y = 0;\nlet s;\nlet any = 0;\nlet q = 0;\n';
  for (const kind of RECORD_ORDER) {
    const initial =
      kind === K_TS || kind === K_ORIG_P || kind === K_RESP_P
        ? '0'
        : REQUIRED_KINDS.includes(kind)
          ? "''"
          : 'undefined';
    src += `let f_${VALUE_NAMES[kind]} = ${initial};\n`;
  }
  src += 'if (p >= end || buf[p] !== 123) return undefined;\np++;\n';
  for (let i = 0; i < names.length; i++) {
    const kind = kinds[i];
    const local = `f_${VALUE_NAMES[kind]}`;
    let parse: string;
    switch (kind) {
      case K_SKIP:
        parse = 'p = r.skipValue(buf, p, end, 0);\nif (p < 0) return undefined;';
        break;
      case K_TS:
        parse = `x = r.time(buf, p, end);\nif (x !== x) return undefined;\n${local} = x;\np = r.pos;`;
        break;
      case K_ORIG_H:
      case K_RESP_H:
        parse = `if (buf[p] !== 34) return undefined;\ns = r.string(buf, p, end, true);\nif (s === undefined) return undefined;\n${local} = s;\np = r.pos;`;
        break;
      case K_UID:
      case K_PROTO:
      case K_SERVICE:
      case K_CONN_STATE:
      case K_HISTORY:
        parse = `if (buf[p] !== 34) return undefined;\ns = r.string(buf, p, end, ${kind !== K_UID});\nif (s === undefined) return undefined;\n${local} = s;\np = r.pos;`;
        break;
      case K_ORIG_P:
      case K_RESP_P:
        parse = `x = r.integer(buf, p, end);\nif (x < 0 || x > 65535) return undefined;\n${local} = x;\np = r.pos;`;
        break;
      case K_DURATION:
        parse = `x = r.number(buf, p, end);\nif (x !== x) return undefined;\n${local} = x;\np = r.pos;`;
        break;
      case K_LOCAL_ORIG:
      case K_LOCAL_RESP:
        parse = `x = r.bool(buf, p, end);\nif (x < 0) return undefined;\n${local} = x === 1;\np = r.pos;`;
        break;
      case K_TUNNEL_PARENTS:
        parse = `s = r.stringList(buf, p, end);\nif (s === undefined) return undefined;\n${local} = s;\np = r.pos;`;
        break;
      case K_VLAN:
      case K_INNER_VLAN:
        parse = `x = buf[p] === 45 ? 1 : 0;\ny = r.integer(buf, p + x, end);\nif (y < 0) return undefined;\n${local} = x === 1 ? -y : y;\np = r.pos;`;
        break;
      default:
        parse = `x = r.integer(buf, p, end);\nif (x < 0) return undefined;\n${local} = x;\np = r.pos;`;
    }
    const bit = kind === K_SKIP ? '' : `mask |= ${1 << kind};\n`;
    src +=
      `q = any === 0 ? p : p < end && buf[p] === 44 ? p + 1 : -1;\n` +
      `if (q >= 0 && r.literal(buf, q, end, words[${i}], tails[${i}])) {\n` +
      `p = q + ${words[i].length * 4 + tails[i].length};\nany = 1;\n` +
      `if (p < end && buf[p] === 110) {\nif (!r.isNull(buf, p, end)) return undefined;\np += 4;\n} else {\n${parse}\n${bit}}\n}\n`;
  }
  src += 'if (p >= end || buf[p] !== 125 || p + 1 !== end) return undefined;\nr.mask = mask;\n';
  // ZeekFlow, not an object literal: see there.
  src += `return new ZeekFlow(${RECORD_ORDER.map((k) => `f_${VALUE_NAMES[k]}`).join(', ')});\n`;
  const make = new Function(
    'words',
    'tails',
    'ZeekFlow',
    `return function fastJsonRow(r, buf, start, end) {\n${src}};`,
  );
  const reader = make(words, tails, ZeekFlow) as FastReader;
  if (compiledReaders.size >= MAX_CACHED) compiledReaders.clear();
  compiledReaders.set(cacheKey, reader);
  return reader;
}

function isWs(b: number): boolean {
  return b === 32 || b === 9 || b === 13 || b === 10;
}

function skipWs(buf: Buffer, p: number, end: number): number {
  while (p < end) {
    const b = buf[p];
    if (b !== 32 && b !== 9 && b !== 13 && b !== 10) break;
    p++;
  }
  return p;
}

/** End of whatever token is at p, for messages about values of the wrong type. */
function scanToken(buf: Buffer, p: number, end: number): number {
  if (buf[p] === QUOTE) {
    let q = p + 1;
    while (q < end && buf[q] !== QUOTE) q += buf[q] === BACKSLASH ? 2 : 1;
    return Math.min(q + 1, end);
  }
  let q = p;
  while (q < end && buf[q] !== 44 && buf[q] !== 125 && buf[q] !== 93) q++;
  return q;
}

function isLiteral(buf: Buffer, p: number, end: number, word: string): boolean {
  if (p + word.length > end) return false;
  for (let i = 0; i < word.length; i++) if (buf[p + i] !== word.charCodeAt(i)) return false;
  return true;
}

function digits2(buf: Buffer, p: number): number {
  const a = buf[p] - 48;
  const b = buf[p + 1] - 48;
  if (a < 0 || a > 9 || b < 0 || b > 9) return -1;
  return a * 10 + b;
}

/** Days from 1970-01-01 to the given proleptic Gregorian date (civil-from-days inverted). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}

/**
 * Parses an ISO-8601 time (`2018-03-24T17:15:21.155638Z`, as json-streaming-logs and
 * JSON::TS_ISO8601 write it; an offset such as `+02:00` or none, meaning UTC, also works) into
 * epoch seconds; NaN when it is not one. Whole seconds and the fraction are combined the same
 * way parseDecimal combines them, so the TSV and the JSON form of one time are the same double.
 */
export function parseIsoTime(buf: Buffer, start: number, end: number): number {
  if (end - start < 19) return Number.NaN;
  const y1 = digits2(buf, start);
  const y2 = digits2(buf, start + 2);
  const month = digits2(buf, start + 5);
  const day = digits2(buf, start + 8);
  const hour = digits2(buf, start + 11);
  const minute = digits2(buf, start + 14);
  const second = digits2(buf, start + 17);
  const t = buf[start + 10];
  if (
    y1 < 0 ||
    y2 < 0 ||
    buf[start + 4] !== 45 ||
    buf[start + 7] !== 45 ||
    (t !== 84 && t !== 32 && t !== 116) ||
    buf[start + 13] !== 58 ||
    buf[start + 16] !== 58 ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > 31 ||
    hour < 0 ||
    hour > 23 ||
    minute < 0 ||
    minute > 59 ||
    second < 0 ||
    second > 60
  ) {
    return Number.NaN;
  }
  let p = start + 19;
  let fraction = 0;
  let fractionDigits = 0;
  if (p < end && buf[p] === 46) {
    p++;
    while (p < end) {
      const d = buf[p] - 48;
      if (d < 0 || d > 9) break;
      fraction = fraction * 10 + d;
      fractionDigits++;
      p++;
    }
    if (fractionDigits === 0 || fractionDigits > 15) return Number.NaN;
  }
  let offset = 0;
  if (p < end) {
    const z = buf[p];
    if ((z === 90 || z === 122) && p + 1 === end) {
      // 'Z': UTC, no offset.
    } else if (z === 43 || z === 45) {
      const oh = digits2(buf, p + 1);
      const colon = buf[p + 3] === 58 ? 1 : 0;
      const om = digits2(buf, p + 3 + colon);
      if (oh < 0 || om < 0 || p + 5 + colon !== end) return Number.NaN;
      offset = (z === 43 ? 1 : -1) * (oh * 3600 + om * 60);
    } else {
      return Number.NaN;
    }
  }
  const seconds = daysFromCivil(y1 * 100 + y2, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset;
  if (fractionDigits === 0) return seconds;
  const scale = 10 ** fractionDigits;
  const mantissa = seconds * scale + fraction;
  return mantissa <= Number.MAX_SAFE_INTEGER ? mantissa / scale : seconds + fraction / scale;
}
