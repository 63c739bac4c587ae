// Streams packet capture files (classic pcap in microseconds or nanoseconds, either byte order;
// pcapng with several sections and interfaces) through one reused read buffer, and hands every
// packet to a callback as a single reused view. Damaged input is reported with the file and the
// byte offset of the record, counted, and reading goes on where the format allows it.

import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { describeError, type IssueHandler } from '../../agent/issues.js';
import type { Counters } from '../../agent/metrics.js';

/** One packet; the SAME object is reused for every packet (allocation-free): copy what you keep. */
export interface PacketView {
  /** Seconds since the epoch, with the fraction. */
  ts: number;
  /** LINKTYPE_* value of the packet's interface. */
  linkType: number;
  /** The reader's reused buffer: valid only during the callback. */
  data: Buffer;
  /** First byte of the packet in data. */
  offset: number;
  caplen: number;
  origLen: number;
  /** Interface index within the pcapng section (0 for classic pcap). */
  interfaceId: number;
  /** Byte offset of the record in the file, for error messages. */
  fileOffset: number;
}

export interface CaptureReadOptions {
  onIssue: IssueHandler;
  counters: Counters;
  /** Bytes read at a time; default 1 MiB. */
  chunkSize?: number;
  /** What `-` reads; default process.stdin. */
  stdin?: NodeJS.ReadableStream;
  /** Largest caplen accepted; default 256 KiB. */
  maxPacket?: number;
  /**
   * Awaited before each read of more input, between packets: where a consumer that batches
   * what the packets produced can hand it on asynchronously without buffering a whole file.
   */
  beforeRead?: () => Promise<void> | void;
  /** Stops reading (between reads) when aborted; the result then says `aborted`. */
  signal?: AbortSignal;
}

export interface CaptureReadResult {
  /** Format found by the magic number ('pcap' too when the file could not be identified). */
  format: 'pcap' | 'pcapng';
  /** Packets handed to onPacket. */
  packets: number;
  /** Bytes of input consumed. */
  bytes: number;
  /** Issues reported for this file. */
  issues: number;
  /** True when `signal` stopped the read before the end of the input. */
  aborted?: boolean;
}

/** Link-layer types (tcpdump.org LINKTYPE_* values) that vigil's packet path knows. */
export const LINKTYPE = {
  NULL: 0,
  ETHERNET: 1,
  PPP: 9,
  FDDI: 10,
  PPP_HDLC: 50,
  PPP_ETHER: 51,
  RAW: 101,
  IEEE802_11: 105,
  LOOP: 108,
  LINUX_SLL: 113,
  PFLOG: 117,
  IEEE802_11_RADIOTAP: 127,
  IPV4: 228,
  IPV6: 229,
  NFLOG: 239,
  LINUX_SLL2: 276,
} as const;

const KNOWN_LINKTYPES = new Set<number>(Object.values(LINKTYPE));

export function isKnownLinkType(linkType: number): boolean {
  return KNOWN_LINKTYPES.has(linkType);
}

const DEFAULT_CHUNK = 1 << 20;
const DEFAULT_MAX_PACKET = 256 << 10;
/** Room for block headers and options around the largest packet. */
const HEADROOM = 64 << 10;

const PCAP_HEADER = 24;
const PCAP_RECORD = 16;

const BT_SHB = 0x0a0d0d0a;
const BT_IDB = 0x00000001;
const BT_OPB = 0x00000002;
const BT_SPB = 0x00000003;
const BT_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

/** Smallest total length of each known block type (header, fixed fields, trailer). */
const MIN_BLOCK: Record<number, number> = {
  [BT_SHB]: 28,
  [BT_IDB]: 20,
  [BT_OPB]: 32,
  [BT_SPB]: 16,
  [BT_EPB]: 32,
};

const TWO_32 = 4294967296;

/**
 * Streams a classic pcap or pcapng file (or '-' for stdin): calls onPacket for every packet in file order.
 *
 * Never throws on bad input: problems are reported through onIssue (component `pcap`, the file and
 * the byte offset of the record) and counted: `errors` for each, plus `truncated`, `bad_records`
 * (classic pcap: reading stops), `bad_blocks` (pcapng: skipped by its length, or reading stops
 * when the length itself is wrong), `bad_magic`, `bad_header`, `bad_options`,
 * `unknown_linktype`, `open_errors`, `read_errors`. `received` counts packet records met,
 * `emitted` packets handed on, `dropped` packet records skipped; `skipped_blocks` counts pcapng
 * blocks passed over unread (statistics, name resolution, custom, unknown). A simple packet block
 * has no timestamp: it takes the previous packet's (0 before any). An error thrown by onPacket
 * ends the read and is rethrown.
 */
export async function readCapture(
  path: string,
  opts: CaptureReadOptions,
  onPacket: (p: PacketView) => void,
): Promise<CaptureReadResult> {
  const chunkSize = Math.max(16, Math.floor(opts.chunkSize ?? DEFAULT_CHUNK));
  const maxPacket = Math.max(1, Math.floor(opts.maxPacket ?? DEFAULT_MAX_PACKET));
  const reader = new CaptureReader(path, opts, chunkSize, maxPacket, onPacket);
  let source: Source;
  if (path === '-') {
    source = new StreamSource(opts.stdin ?? process.stdin);
  } else {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      reader.issue(undefined, `cannot open: ${describeError(err)}`, 'open_errors');
      return reader.result();
    }
    source = new FileSource(fh);
  }
  try {
    await reader.run(source);
  } catch (err) {
    if (err instanceof SinkFailure) throw err.cause;
    if (err instanceof ReadAborted) return { ...reader.result(), aborted: true };
    reader.issue(reader.offset(), `cannot read: ${describeError(err)}`, 'read_errors');
  } finally {
    await source.close().catch(() => undefined);
  }
  return reader.result();
}

function u32le(b: Buffer, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

function u32be(b: Buffer, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

/** Wraps an error thrown by onPacket: the consumer's failure is not bad input, and ends the read. */
/** Thrown between reads when the caller's signal aborted: ends the read quietly. */
class ReadAborted {}

class SinkFailure {
  constructor(readonly cause: unknown) {}
}

interface Source {
  /** Reads up to length bytes into buf at offset; 0 at the end of input. */
  read(buf: Buffer, offset: number, length: number, position: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * A file read with one read ahead: while the packets of one chunk are decoded, the next chunk is
 * already being read by libuv's thread pool into a second buffer (then copied, which costs far
 * less than waiting for the read). A read at another position (a seek) is served directly.
 */
class FileSource implements Source {
  private ahead: Buffer | undefined;
  private aheadPos = 0;
  private aheadLen = 0;
  private inflight: Promise<void> | undefined;
  private failure: unknown;

  constructor(private readonly fh: FileHandle) {}

  async read(buf: Buffer, offset: number, length: number, position: number): Promise<number> {
    if (this.inflight) await this.inflight;
    if (this.failure !== undefined) {
      const err = this.failure;
      this.failure = undefined;
      throw err;
    }
    const ahead = this.ahead;
    if (ahead && position >= this.aheadPos && position < this.aheadPos + this.aheadLen) {
      const from = position - this.aheadPos;
      const n = Math.min(length, this.aheadLen - from);
      ahead.copy(buf, offset, from, from + n);
      if (from + n === this.aheadLen) this.prefetch(this.aheadPos + this.aheadLen, ahead.length);
      return n;
    }
    const got = (await this.fh.read(buf, offset, length, position)).bytesRead;
    if (got > 0) this.prefetch(position + got, length);
    return got;
  }

  private prefetch(position: number, size: number): void {
    if (!this.ahead || this.ahead.length < size) this.ahead = Buffer.allocUnsafe(size);
    const ahead = this.ahead;
    this.aheadPos = position;
    this.aheadLen = 0;
    this.inflight = this.fh.read(ahead, 0, ahead.length, position).then(
      (r) => {
        this.aheadLen = r.bytesRead;
        this.inflight = undefined;
      },
      (err: unknown) => {
        this.failure = err;
        this.inflight = undefined;
      },
    );
  }

  async close(): Promise<void> {
    if (this.inflight) await this.inflight;
    await this.fh.close();
  }
}

/** Standard input or any stream: chunks are copied into the reader's buffer. */
class StreamSource implements Source {
  private readonly it: AsyncIterator<string | Buffer>;
  private pending: Buffer | undefined;
  private at = 0;
  private ended = false;

  constructor(stream: NodeJS.ReadableStream) {
    this.it = stream[Symbol.asyncIterator]();
  }

  async read(buf: Buffer, offset: number, length: number): Promise<number> {
    while (!this.pending || this.at >= this.pending.length) {
      if (this.ended) return 0;
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        return 0;
      }
      const v = r.value as string | Buffer;
      this.pending = typeof v === 'string' ? Buffer.from(v, 'latin1') : v;
      this.at = 0;
    }
    const n = Math.min(length, this.pending.length - this.at);
    this.pending.copy(buf, offset, this.at, this.at + n);
    this.at += n;
    return n;
  }

  async close(): Promise<void> {
    if (!this.ended) {
      this.ended = true;
      await this.it.return?.();
    }
  }
}

interface Iface {
  linkType: number;
  snaplen: number;
  /** Timestamp units per second. */
  div: number;
  /** Seconds added to every timestamp (if_tsoffset). */
  tsOffset: number;
}

class CaptureReader {
  private buf: Buffer;
  /** Live bytes are buf[start, end). */
  private start = 0;
  private end = 0;
  /** File offset of buf[0]. */
  private base = 0;
  private source!: Source;
  private readonly limit: number;
  private readonly view: PacketView;
  private format: 'pcap' | 'pcapng' = 'pcap';
  private packets = 0;
  private issues = 0;

  constructor(
    private readonly path: string,
    private readonly opts: CaptureReadOptions,
    chunkSize: number,
    private readonly maxPacket: number,
    private readonly onPacket: (p: PacketView) => void,
  ) {
    this.buf = Buffer.allocUnsafe(chunkSize);
    this.limit = Math.max(chunkSize, maxPacket + HEADROOM);
    this.view = { ts: 0, linkType: 0, data: this.buf, offset: 0, caplen: 0, origLen: 0, interfaceId: 0, fileOffset: 0 };
  }

  result(): CaptureReadResult {
    return { format: this.format, packets: this.packets, bytes: this.base + this.start, issues: this.issues };
  }

  /** File offset of the next unread byte. */
  offset(): number {
    return this.base + this.start;
  }

  issue(offset: number | undefined, message: string, counter?: string): void {
    this.issues++;
    this.opts.counters.errors++;
    if (counter) this.opts.counters.add(counter);
    this.opts.onIssue({ component: 'pcap', file: this.path, offset, message });
  }

  async run(source: Source): Promise<void> {
    this.source = source;
    if (!(await this.fill(4))) {
      const n = this.end - this.start;
      this.issue(0, n === 0 ? 'empty file: no capture header' : `truncated file: ${n} bytes, too short for a capture header`, 'truncated');
      return;
    }
    const b = this.buf;
    const s = this.start;
    const le = b.readUInt32LE(s);
    const be = b.readUInt32BE(s);
    if (le === BT_SHB) {
      this.format = 'pcapng';
      await this.readPcapng();
    } else if (le === 0xa1b2c3d4 || be === 0xa1b2c3d4) {
      await this.readPcap(le === 0xa1b2c3d4, 1e6);
    } else if (le === 0xa1b23c4d || be === 0xa1b23c4d) {
      await this.readPcap(le === 0xa1b23c4d, 1e9);
    } else {
      this.issue(0, `not a pcap or pcapng file (magic 0x${b.toString('hex', s, s + 4)})`, 'bad_magic');
    }
  }

  /**
   * Makes at least n bytes available at buf[start]; false at the end of input (fewer are there).
   * n must not exceed this.limit.
   */
  private async fill(n: number): Promise<boolean> {
    if (this.end - this.start >= n) return true;
    if (this.start + n > this.buf.length) {
      if (n > this.buf.length) {
        const bigger = Buffer.allocUnsafe(Math.min(this.limit, Math.max(n, this.buf.length * 2)));
        this.buf.copy(bigger, 0, this.start, this.end);
        this.buf = bigger;
        this.view.data = bigger;
      } else {
        this.buf.copyWithin(0, this.start, this.end);
      }
      this.end -= this.start;
      this.base += this.start;
      this.start = 0;
    }
    while (this.end - this.start < n) {
      if (this.opts.beforeRead) await this.opts.beforeRead();
      if (this.opts.signal?.aborted) throw new ReadAborted();
      const got = await this.source.read(this.buf, this.end, this.buf.length - this.end, this.base + this.end);
      if (got <= 0) return false;
      this.end += got;
    }
    return true;
  }

  /** Consumes n bytes, past what is buffered if need be; false when input ends first. */
  private async skip(n: number): Promise<boolean> {
    const avail = this.end - this.start;
    if (n <= avail) {
      this.start += n;
      return true;
    }
    let rest = n - avail;
    this.base += this.end;
    this.start = this.end = 0;
    if (this.source instanceof FileSource) {
      // Seek: the next fill reads at the new position and finds out whether it exists.
      this.base += rest;
      return true;
    }
    while (rest > 0) {
      const got = await this.source.read(this.buf, 0, Math.min(rest, this.buf.length), this.base);
      if (got <= 0) return false;
      this.base += got;
      rest -= got;
    }
    return true;
  }

  private deliver(): void {
    this.packets++;
    this.opts.counters.emitted++;
    try {
      this.onPacket(this.view);
    } catch (err) {
      throw new SinkFailure(err);
    }
  }

  // ---- classic pcap ----

  private async readPcap(littleEndian: boolean, fracPerSec: number): Promise<void> {
    if (!(await this.fill(PCAP_HEADER))) {
      this.issue(0, `truncated file header: ${this.end - this.start} of ${PCAP_HEADER} bytes`, 'truncated');
      this.start = this.end;
      return;
    }
    let b = this.buf;
    let s = this.start;
    const major = littleEndian ? b.readUInt16LE(s + 4) : b.readUInt16BE(s + 4);
    const snaplen = littleEndian ? b.readUInt32LE(s + 16) : b.readUInt32BE(s + 16);
    const linkType = (littleEndian ? b.readUInt32LE(s + 20) : b.readUInt32BE(s + 20)) & 0xffff;
    if (major !== 2) this.issue(4, `unexpected pcap version ${major}; reading it as 2.4`, 'bad_header');
    if (!KNOWN_LINKTYPES.has(linkType)) {
      this.issue(20, `unknown link type ${linkType}; its packets are passed on undecoded`, 'unknown_linktype');
    }
    this.start += PCAP_HEADER;
    const maxCap = snaplen > 0 && snaplen < this.maxPacket ? snaplen : this.maxPacket;
    const view = this.view;
    view.linkType = linkType;
    view.interfaceId = 0;
    const counters = this.opts.counters;

    for (;;) {
      if (this.end - this.start < PCAP_RECORD && !(await this.fill(PCAP_RECORD))) {
        const n = this.end - this.start;
        if (n > 0) {
          this.issue(this.offset(), `truncated record header: ${n} of ${PCAP_RECORD} bytes`, 'truncated');
          this.start = this.end;
        }
        return;
      }
      b = this.buf;
      s = this.start;
      let sec: number, frac: number, caplen: number, origLen: number;
      // Byte arithmetic rather than Buffer#readUInt32*: measurably cheaper per record here.
      if (littleEndian) {
        sec = u32le(b, s);
        frac = u32le(b, s + 4);
        caplen = u32le(b, s + 8);
        origLen = u32le(b, s + 12);
      } else {
        sec = u32be(b, s);
        frac = u32be(b, s + 4);
        caplen = u32be(b, s + 8);
        origLen = u32be(b, s + 12);
      }
      counters.received++;
      if (caplen > maxCap) {
        const why = caplen > this.maxPacket ? `the largest accepted (${this.maxPacket})` : `the snaplen (${snaplen})`;
        this.issue(
          this.offset(),
          `impossible record: caplen ${caplen} exceeds ${why}; the rest of the file cannot be resynchronised`,
          'bad_records',
        );
        counters.dropped++;
        return;
      }
      const need = PCAP_RECORD + caplen;
      if (this.end - this.start < need && !(await this.fill(need))) {
        this.issue(
          this.offset(),
          `truncated record: ${this.end - this.start} of ${need} bytes (caplen ${caplen})`,
          'truncated',
        );
        counters.dropped++;
        this.start = this.end;
        return;
      }
      s = this.start;
      view.data = this.buf;
      view.ts = sec + frac / fracPerSec;
      view.offset = s + PCAP_RECORD;
      view.caplen = caplen;
      view.origLen = origLen;
      view.fileOffset = this.base + s;
      this.start = s + need;
      this.deliver();
    }
  }

  // ---- pcapng ----

  private async readPcapng(): Promise<void> {
    const view = this.view;
    const counters = this.opts.counters;
    let le = true;
    let ifaces: Iface[] = [];
    let skipSection = false;
    let lastTs = 0;

    for (;;) {
      if (this.end - this.start < 12 && !(await this.fill(12))) {
        const n = this.end - this.start;
        if (n > 0) {
          this.issue(this.offset(), `truncated block header: ${n} bytes at the end of the file`, 'truncated');
          this.start = this.end;
        }
        return;
      }
      let b = this.buf;
      let s = this.start;
      const at = this.offset();
      const type = le ? b.readUInt32LE(s) : b.readUInt32BE(s);
      if (type === BT_SHB) {
        const m = b.readUInt32LE(s + 8);
        if (m === BYTE_ORDER_MAGIC) le = true;
        else if (b.readUInt32BE(s + 8) === BYTE_ORDER_MAGIC) le = false;
        else {
          this.issue(at, `section header with a bad byte-order magic 0x${b.toString('hex', s + 8, s + 12)}; stopped`, 'bad_blocks');
          return;
        }
      }
      const len = le ? b.readUInt32LE(s + 4) : b.readUInt32BE(s + 4);
      if (len < 12 || len % 4 !== 0) {
        this.issue(at, `bad block length ${len} (block type 0x${type.toString(16)}); stopped`, 'bad_blocks');
        return;
      }
      const min = MIN_BLOCK[type] ?? 12;
      const isPacket = type === BT_EPB || type === BT_SPB || type === BT_OPB;
      if (len < min) {
        if (type === BT_SHB || type === BT_IDB) {
          this.issue(at, `block type 0x${type.toString(16)} of length ${len} is shorter than its minimum ${min}; stopped`, 'bad_blocks');
          return;
        }
        this.issue(at, `block type 0x${type.toString(16)} of length ${len} is shorter than its minimum ${min}; skipped`, 'bad_blocks');
        if (isPacket) {
          counters.received++;
          counters.dropped++;
        }
        if (!(await this.skipChecked(at, len))) return;
        continue;
      }
      if (len > this.limit || (skipSection && type !== BT_SHB) || (!isPacket && type !== BT_SHB && type !== BT_IDB)) {
        // Blocks not needed (name resolution, statistics, custom, unknown) and oversized ones are
        // passed over without being buffered whole.
        if (len > this.limit) {
          if (type === BT_SHB || type === BT_IDB) {
            this.issue(at, `block type 0x${type.toString(16)} of length ${len} is larger than ${this.limit}; stopped`, 'bad_blocks');
            return;
          }
          if (isPacket) {
            counters.received++;
            counters.dropped++;
            this.issue(at, `packet block of ${len} bytes exceeds the largest accepted packet (${this.maxPacket}); skipped`, 'bad_blocks');
          }
        }
        if (!isPacket || skipSection) counters.add('skipped_blocks');
        if (!(await this.skipChecked(at, len))) return;
        continue;
      }
      if (this.end - this.start < len && !(await this.fill(len))) {
        this.issue(at, `truncated block: ${this.end - this.start} of ${len} bytes (block type 0x${type.toString(16)})`, 'truncated');
        if (isPacket) {
          counters.received++;
          counters.dropped++;
        }
        this.start = this.end;
        return;
      }
      b = this.buf;
      s = this.start;
      const trailer = le ? b.readUInt32LE(s + len - 4) : b.readUInt32BE(s + len - 4);
      if (trailer !== len) {
        this.issue(at, `block length ${len} does not match its trailing length ${trailer}; stopped`, 'bad_blocks');
        return;
      }
      if (type === BT_SHB) {
        const major = le ? b.readUInt16LE(s + 12) : b.readUInt16BE(s + 12);
        ifaces = [];
        skipSection = major !== 1;
        if (skipSection) this.issue(at, `unsupported pcapng version ${major}; section skipped`, 'bad_blocks');
        this.start = s + len;
        continue;
      }
      if (type === BT_IDB) {
        ifaces.push(this.parseIdb(b, s, len, le, at, ifaces.length));
        this.start = s + len;
        continue;
      }

      // Packet blocks.
      counters.received++;
      let ifId: number, caplen: number, origLen: number, ts: number, dataAt: number;
      if (type === BT_SPB) {
        ifId = 0;
        dataAt = s + 12;
        origLen = le ? b.readUInt32LE(s + 8) : b.readUInt32BE(s + 8);
        caplen = Math.min(origLen, len - 16);
      } else {
        if (type === BT_EPB) {
          ifId = le ? b.readUInt32LE(s + 8) : b.readUInt32BE(s + 8);
        } else {
          ifId = le ? b.readUInt16LE(s + 8) : b.readUInt16BE(s + 8);
        }
        dataAt = s + 28;
        caplen = le ? b.readUInt32LE(s + 20) : b.readUInt32BE(s + 20);
        origLen = le ? b.readUInt32LE(s + 24) : b.readUInt32BE(s + 24);
      }
      const iface = ifaces[ifId];
      if (iface === undefined) {
        this.issue(at, `packet on interface ${ifId}, but the section describes ${ifaces.length}; skipped`, 'bad_blocks');
        counters.dropped++;
        this.start = s + len;
        continue;
      }
      if (type === BT_SPB) {
        if (iface.snaplen > 0 && caplen > iface.snaplen) caplen = iface.snaplen;
        // A simple packet block has no timestamp: it takes the previous packet's.
        ts = lastTs;
      } else {
        const hi = le ? b.readUInt32LE(s + 12) : b.readUInt32BE(s + 12);
        const lo = le ? b.readUInt32LE(s + 16) : b.readUInt32BE(s + 16);
        ts = (hi * TWO_32 + lo) / iface.div + iface.tsOffset;
        if (caplen > len - 32) {
          this.issue(at, `impossible caplen ${caplen}: the block holds ${len - 32} bytes of data; skipped`, 'bad_blocks');
          counters.dropped++;
          this.start = s + len;
          continue;
        }
        if (iface.snaplen > 0 && caplen > iface.snaplen) {
          this.issue(at, `impossible caplen ${caplen}: exceeds the interface's snaplen ${iface.snaplen}; skipped`, 'bad_blocks');
          counters.dropped++;
          this.start = s + len;
          continue;
        }
      }
      if (caplen > this.maxPacket) {
        this.issue(at, `caplen ${caplen} exceeds the largest accepted packet (${this.maxPacket}); skipped`, 'bad_blocks');
        counters.dropped++;
        this.start = s + len;
        continue;
      }
      lastTs = ts;
      view.data = b;
      view.ts = ts;
      view.linkType = iface.linkType;
      view.offset = dataAt;
      view.caplen = caplen;
      view.origLen = origLen;
      view.interfaceId = ifId;
      view.fileOffset = at;
      this.start = s + len;
      this.deliver();
    }
  }

  /** Skips a block by its length and checks its trailing length; false (reported) when reading must stop. */
  private async skipChecked(at: number, len: number): Promise<boolean> {
    if (!(await this.skip(len - 4))) {
      this.issue(at, `truncated block: the file ends inside a block of ${len} bytes`, 'truncated');
      return false;
    }
    if (!(await this.fill(4))) {
      this.issue(at, `truncated block: the file ends inside a block of ${len} bytes`, 'truncated');
      this.start = this.end;
      return false;
    }
    const b = this.buf;
    const s = this.start;
    const t1 = b.readUInt32LE(s);
    const t2 = b.readUInt32BE(s);
    this.start += 4;
    // The byte order of a skipped section is not always known: accept either.
    if (t1 !== len && t2 !== len) {
      this.issue(at, `block length ${len} does not match its trailing length; stopped`, 'bad_blocks');
      return false;
    }
    return true;
  }

  private parseIdb(b: Buffer, s: number, len: number, le: boolean, at: number, id: number): Iface {
    const iface: Iface = {
      linkType: le ? b.readUInt16LE(s + 8) : b.readUInt16BE(s + 8),
      snaplen: le ? b.readUInt32LE(s + 12) : b.readUInt32BE(s + 12),
      div: 1e6,
      tsOffset: 0,
    };
    const stop = s + len - 4;
    let o = s + 16;
    while (o + 4 <= stop) {
      const code = le ? b.readUInt16LE(o) : b.readUInt16BE(o);
      const olen = le ? b.readUInt16LE(o + 2) : b.readUInt16BE(o + 2);
      if (code === 0) break;
      if (o + 4 + olen > stop) {
        this.issue(at, `interface ${id}: option ${code} runs past the end of its block; options ignored from there`, 'bad_options');
        break;
      }
      if (code === 9 && olen >= 1) {
        const r = b[o + 4];
        const exp = r & 0x7f;
        const div = r & 0x80 ? 2 ** exp : 10 ** exp;
        if ((r & 0x80 && exp > 63) || (!(r & 0x80) && exp > 18)) {
          this.issue(at, `interface ${id}: implausible if_tsresol 0x${r.toString(16)}; microseconds assumed`, 'bad_options');
        } else {
          iface.div = div;
        }
      } else if (code === 14 && olen >= 8) {
        const hi = le ? b.readInt32LE(o + 8) : b.readInt32BE(o + 4);
        const lo = le ? b.readUInt32LE(o + 4) : b.readUInt32BE(o + 8);
        iface.tsOffset = hi * TWO_32 + lo;
      }
      o += 4 + ((olen + 3) & ~3);
    }
    if (!KNOWN_LINKTYPES.has(iface.linkType)) {
      this.issue(at, `interface ${id}: unknown link type ${iface.linkType}; its packets are passed on undecoded`, 'unknown_linktype');
    }
    return iface;
  }
}
