// Zeek's ASCII (TSV) log values read straight from bytes: the conn.log column kinds, the number,
// escape and string readers that the TSV and the JSON reader share, and the TSV row reader.

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
export const REQUIRED_KINDS: readonly number[] = [
  K_TS,
  K_UID,
  K_ORIG_H,
  K_ORIG_P,
  K_RESP_H,
  K_RESP_P,
  K_PROTO,
];
export const REQUIRED_MASK = REQUIRED_KINDS.reduce((m, k) => m | (1 << k), 0);

/** A set that was present but empty; shared (and frozen) because most lines carry one. */
export const EMPTY_SET: string[] = Object.freeze([]) as unknown as string[];

/**
 * The values of one line, reused from line to line so that parsing allocates only the strings
 * that are new and the record itself. `mask` has bit 1 << kind set for each value present.
 */
export class FlowValues {
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
 * direct-mapped by a hash of the bytes and verified byte for byte, so a hit costs no allocation
 * and a collision only replaces the slot. IPv4 addresses have their own table keyed by the
 * 32-bit address, which verifies with one comparison.
 */
export class StringCache {
  private readonly slots: string[];
  private readonly mask: number;
  /** Address * 64 + text length per slot: one read verifies a hit without touching the string. */
  private readonly v4Keys: Float64Array;
  private readonly v4Strings: string[];
  private readonly v4Mask: number;

  constructor(bits = 14, v4Bits = 16) {
    this.slots = new Array<string>(1 << bits).fill('');
    this.mask = (1 << bits) - 1;
    this.v4Keys = new Float64Array(1 << v4Bits).fill(-1);
    this.v4Strings = new Array<string>(1 << v4Bits).fill('');
    this.v4Mask = (1 << v4Bits) - 1;
  }

  /** The string of ASCII bytes [start, end) whose FNV-1a hash is `hash`. */
  get(buf: Buffer, start: number, end: number, hash: number): string {
    const slot = (hash ^ (hash >>> 16)) & this.mask;
    const cur = this.slots[slot];
    const len = end - start;
    if (cur.length === len) {
      let i = 0;
      while (i < len && cur.charCodeAt(i) === buf[start + i]) i++;
      if (i === len) return cur;
    }
    const s = latin1(buf, start, end);
    this.slots[slot] = s;
    return s;
  }

  /**
   * The dotted-quad text [start, end) of the IPv4 address `addr`. Only canonical text (no
   * leading zeros) may come here, so the address and the length identify the text.
   */
  ipv4(buf: Buffer, start: number, end: number, addr: number): string {
    const key = (addr >>> 0) * 64 + (end - start);
    const slot = (Math.imul(addr, 0x9e3779b1) >>> 15) & this.v4Mask;
    if (this.v4Keys[slot] === key) return this.v4Strings[slot];
    const s = latin1(buf, start, end);
    this.v4Keys[slot] = key;
    this.v4Strings[slot] = s;
    return s;
  }
}

const POW10 = [
  1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
  1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
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

/**
 * Reads one TSV data line into FlowValues according to the current #fields plan, in one pass:
 * each column is parsed while it is scanned. Errors leave `errorColumn` (index into #fields)
 * and `errorMessage` set and return false.
 */
export class TsvRowReader extends ByteScanner {
  /** Kind of each #fields column. */
  plan: Uint8Array = new Uint8Array(0);
  separator = 9;
  setSeparator = 44;
  errorColumn = 0;
  errorMessage = '';
  private unset: Uint8Array = Buffer.from('-');
  private empty: Uint8Array = Buffer.from('(empty)');
  private unset0 = 45;
  private empty0 = 40;

  constructor(private readonly cache: StringCache) {
    super();
  }

  setMarkers(unset: string, empty: string): void {
    this.unset = Buffer.from(unset, 'utf8');
    this.empty = Buffer.from(empty, 'utf8');
    this.unset0 = this.unset.length > 0 ? this.unset[0] : -1;
    this.empty0 = this.empty.length > 0 ? this.empty[0] : -1;
  }

  read(buf: Buffer, start: number, end: number, v: FlowValues): boolean {
    const plan = this.plan;
    const n = plan.length;
    const sep = this.separator;
    const unset0 = this.unset0;
    const unsetLen = this.unset.length;
    let mask = 0;
    let p = start;
    for (let c = 0; c < n; c++) {
      if (c > 0) {
        if (p >= end) return this.fail(c, `expected ${n} columns as #fields says, found ${c}`);
        p++;
      }
      const kind = plan[c];
      if (p < end && buf[p] === unset0) {
        if (unsetLen === 1) {
          if (p + 1 === end || buf[p + 1] === sep) {
            p++;
            continue;
          }
        } else if (this.isMarker(this.unset, buf, p, end)) {
          p += unsetLen;
          continue;
        }
      } else if (unsetLen === 0 && (p === end || buf[p] === sep)) {
        continue;
      }
      switch (kind) {
        case K_SKIP:
          while (p < end && buf[p] !== sep) p++;
          continue;
        case K_TS: {
          const t = this.scanDecimal(buf, p, end);
          if (!this.atEnd(buf, end) || !(t >= 0 && t < 1e11)) return this.bad(c, buf, p, end, 'not a valid time');
          v.ts = t;
          break;
        }
        case K_UID:
          v.uid = this.plainString(buf, p, end);
          break;
        case K_ORIG_H:
          v.orig_h = this.address(buf, p, end);
          break;
        case K_RESP_H:
          v.resp_h = this.address(buf, p, end);
          break;
        case K_ORIG_P:
        case K_RESP_P: {
          const port = this.scanUint(buf, p, end);
          if (!this.atEnd(buf, end) || port < 0 || port > 65535) return this.bad(c, buf, p, end, 'not a port number');
          if (kind === K_ORIG_P) v.orig_p = port;
          else v.resp_p = port;
          break;
        }
        case K_PROTO:
          v.proto = this.string(buf, p, end, sep);
          break;
        case K_SERVICE:
          v.service = this.string(buf, p, end, sep);
          break;
        case K_CONN_STATE:
          v.conn_state = this.string(buf, p, end, sep);
          break;
        case K_HISTORY:
          v.history = this.string(buf, p, end, sep);
          break;
        case K_DURATION: {
          const d = this.scanDecimal(buf, p, end);
          if (!this.atEnd(buf, end) || Number.isNaN(d)) return this.bad(c, buf, p, end, 'not a time interval');
          v.duration = d;
          break;
        }
        case K_LOCAL_ORIG:
        case K_LOCAL_RESP: {
          const b = buf[p];
          this.pos = p + 1;
          // Zeek writes T/F; its own reader also takes 1/0.
          const value = b === 84 || b === 49 ? true : b === 70 || b === 48 ? false : undefined;
          if (value === undefined || !this.atEnd(buf, end)) return this.bad(c, buf, p, end, 'not a bool (T or F)');
          if (kind === K_LOCAL_ORIG) v.local_orig = value;
          else v.local_resp = value;
          break;
        }
        case K_TUNNEL_PARENTS:
          v.tunnel_parents = this.set(buf, p, end);
          break;
        case K_VLAN:
        case K_INNER_VLAN: {
          const negative = buf[p] === 45;
          const id = this.scanUint(buf, negative ? p + 1 : p, end);
          if (!this.atEnd(buf, end) || id < 0) return this.bad(c, buf, p, end, 'not an integer');
          if (kind === K_VLAN) v.vlan = negative ? -id : id;
          else v.inner_vlan = negative ? -id : id;
          break;
        }
        default:
          // Every count-valued kind.
          {
            const count = this.scanUint(buf, p, end);
            if (!this.atEnd(buf, end) || count < 0) return this.bad(c, buf, p, end, 'not a count');
            setCount(v, kind, count);
          }
      }
      p = this.pos;
      mask |= 1 << kind;
    }
    if (p < end) {
      let found = n;
      for (let i = p; i < end; i++) if (buf[i] === sep) found++;
      return this.fail(n - 1, `expected ${n} columns as #fields says, found ${found}`);
    }
    v.mask = mask;
    return true;
  }

  /** Whether the last scan stopped at the end of its column. */
  private atEnd(buf: Buffer, end: number): boolean {
    return this.pos === end || buf[this.pos] === this.separator;
  }

  private isMarker(marker: Uint8Array, buf: Buffer, p: number, end: number): boolean {
    const len = marker.length;
    if (p + len > end || (p + len < end && buf[p + len] !== this.separator)) return false;
    for (let i = 0; i < len; i++) if (buf[p + i] !== marker[i]) return false;
    return true;
  }

  /** An address; dotted quads take the IPv4 cache, anything else the string cache. */
  private address(buf: Buffer, p: number, end: number): string {
    const start = p;
    const sep = this.separator;
    let addr = 0;
    let octet = 0;
    let digits = 0;
    let dots = 0;
    for (; p < end; p++) {
      const d = buf[p] - 48;
      if (d >= 0 && d <= 9) {
        // A leading zero is not canonical text; the string cache keeps such text exact.
        if (digits === 1 && octet === 0) break;
        octet = octet * 10 + d;
        digits++;
      } else if (d === -2 && digits > 0 && octet <= 255 && dots < 3) {
        addr = (addr << 8) | octet;
        octet = 0;
        digits = 0;
        dots++;
      } else {
        break;
      }
    }
    if (dots === 3 && digits > 0 && octet <= 255 && (p === end || buf[p] === sep)) {
      this.pos = p;
      return this.cache.ipv4(buf, start, p, (addr << 8) | octet);
    }
    return this.string(buf, start, end, sep);
  }

  /** A column (or set element) up to `term`; interned unless escaped or non-ASCII. */
  private string(buf: Buffer, p: number, end: number, term: number): string {
    const start = p;
    let hash = FNV_OFFSET;
    let high = 0;
    let escaped = false;
    for (; p < end; p++) {
      const b = buf[p];
      if (b === term) break;
      if (b === 92) escaped = true;
      hash = Math.imul(hash ^ b, FNV_PRIME);
      high |= b;
    }
    this.pos = p;
    // Only a value spelled exactly like the marker is empty; Zeek escapes a real "(empty)".
    if (buf[start] === this.empty0 && p - start === this.empty.length && this.isEmpty(buf, start)) return '';
    if (escaped) return unescapeZeek(buf, start, p);
    if (high >= 0x80) return utf8(buf, start, p);
    return this.cache.get(buf, start, p, hash);
  }

  /** A column whose values are unique (uid): not worth interning. */
  private plainString(buf: Buffer, p: number, end: number): string {
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

  private isEmpty(buf: Buffer, at: number): boolean {
    const empty = this.empty;
    for (let i = 1; i < empty.length; i++) if (buf[at + i] !== empty[i]) return false;
    return true;
  }

  private set(buf: Buffer, p: number, end: number): string[] {
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

  private fail(column: number, message: string): boolean {
    this.errorColumn = column;
    this.errorMessage = message;
    return false;
  }

  private bad(column: number, buf: Buffer, start: number, end: number, what: string): boolean {
    let stop = start;
    while (stop < end && buf[stop] !== this.separator) stop++;
    const text = stop > start ? `'${showBytes(buf, start, stop)}'` : 'an empty value';
    return this.fail(column, `${what}: ${text}`);
  }
}

/** Stores a count-valued kind; shared by the TSV and the JSON reader. */
export function setCount(v: FlowValues, kind: number, count: number): void {
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

/** Shows at most 40 bytes of a bad value in a message. */
export function showBytes(buf: Buffer, start: number, end: number): string {
  const text = buf.toString('utf8', start, Math.min(end, start + 40));
  return end - start > 40 ? `${text}…` : text;
}
