// Flow table: turns decoded packets into connection records with the meaning of Zeek's conn.log.
//
// The connection semantics follow Zeek's session handling (zeek/zeek: packet_analysis/protocol/
// tcp/TCPSessionAdapter.cc, analyzer/protocol/tcp/TCP_Endpoint.cc, TCP_Reassembler.cc,
// udp/UDP.cc, icmp/ICMP.cc, ip/IPBasedAnalyzer.cc, session/Session.cc, Conn.cc, conn-size/
// ConnSize.cc and scripts/base/protocols/conn/main.zeek). The code here is an independent
// implementation; comments name the Zeek behaviour each part reproduces.
//
// Hot path: `packet()` finds flows through hash chains in a power-of-two array indexed by a
// 30-bit hash of the numeric tuple, and compares the tuple as plain number fields; it allocates
// only when a flow is created or a fragment is buffered (history letters are packed into integers
// and the uid is made when the record is). Timers live in one indexed min-heap (timerheap.ts), so
// the once-a-second sweep looks only at the flows that are due, not at every open flow.

import { randomInt } from 'node:crypto';
import type { Counters } from '../../agent/metrics.js';
import type { FlowRecord, ConnState } from '../record.js';
import type { DecodeResult, IpLayer } from './decode.js';
import { checksumOk, formatIPv4, formatIPv6 } from './decode.js';
import { FragmentTable } from './flowtable-frag.js';
import { TimerHeap } from './timerheap.js';

export interface FlowTableOptions {
  /** verify: drop bad-checksum packets as Zeek does without -C; ignore: as `zeek -C`. */
  checksums: 'verify' | 'ignore';
  /** Upper bound on open flows; at the cap the flow whose timer is due first is evicted (counted `evicted`). */
  maxFlows?: number;
  /** Emit interim records every N seconds of packet time for open flows (0 = off). */
  interimSeconds?: number;
  counters: Counters;
  onFlow: (flow: FlowRecord) => void;
  /** Connection uid generator, called when a flow is created (default: uidFor(uidSalt, n), when first needed). */
  uid?: () => string;
  /** Salt of the default uids (default: random, so that separate runs and files do not share uids). */
  uidSalt?: number;
  /**
   * Zeek's `likely_server_ports` (port | 0 for TCP, port | 0x10000 for UDP). Default: the ports
   * registered by Zeek's default (non `-b`) script set. Decides role flipping of new connections.
   */
  likelyServerPorts?: Iterable<number>;
  /** Maximum buffered fragmented datagrams (default 4096). */
  maxFragments?: number;
}

export interface CaptureLoss {
  /** Acknowledgements that advanced over new data while both endpoints were established. */
  ackEvents: number;
  ackBytes: number;
  /** Of those, the acknowledgements that covered data never seen (a content gap). */
  gapEvents: number;
  gapBytes: number;
}

/** Zeek's defaults from scripts/base/init-bare.zeek (seconds). */
export const ZEEK_TIMEOUTS = {
  tcp_inactivity_timeout: 300,
  udp_inactivity_timeout: 60,
  icmp_inactivity_timeout: 60,
  unknown_ip_inactivity_timeout: 60,
  tcp_SYN_timeout: 5,
  tcp_session_timer: 6,
  tcp_connection_linger: 5,
  tcp_attempt_delay: 5,
  tcp_close_delay: 5,
  tcp_reset_delay: 5,
  tcp_partial_close_delay: 3,
  frag_timeout: 300,
} as const;

/** UDP flag bit in likelyServerPorts entries (Zeek's UDP_PORT_MASK). */
export const UDP_PORT = 0x10000;

const TCP_SERVER = [
  21, 22, 25, 53, 79, 80, 81, 88, 135, 139, 143, 443, 445, 465, 502, 514, 563, 585, 587, 614, 631, 636,
  989, 990, 992, 993, 995, 1080, 1434, 1883, 2811, 3128, 3306, 3389, 5222, 5223, 5269, 5432, 6379, 6666,
  6667, 6668, 6669, 8000, 8080, 8888, 20000,
];
const UDP_SERVER = [
  53, 67, 88, 123, 137, 161, 162, 443, 514, 1812, 2123, 2152, 3389, 3544, 4011, 4754, 4789, 5060, 5072,
  5353, 5355, 6081, 20000,
];
/** likely_server_ports of Zeek's default script set (ports registered by base/protocols/*). */
export const DEFAULT_LIKELY_SERVER_PORTS: readonly number[] = [
  ...TCP_SERVER,
  ...UDP_SERVER.map((p) => p | UDP_PORT),
];

// Endpoint states (Zeek's TCP_ENDPOINT_*; UDP/ICMP use INACTIVE/ACTIVE via `size >= 0`).
const INACTIVE = 0;
const SYN_SENT = 1;
const SYN_ACK_SENT = 2;
const PARTIAL = 3;
const ESTABLISHED = 4;
const CLOSED = 5;
const RESET = 6;

const P_ICMP = 1;
const P_TCP = 6;
const P_UDP = 17;
const P_ICMPV6 = 58;

const F_FIN = 0x01;
const F_SYN = 0x02;
const F_RST = 0x04;
const F_ACK = 0x10;

const TWO32 = 4294967296;
const TOO_LARGE_SEQ_DELTA = 1048576;

// History mask bits (originator; the responder's are shifted by 8 in our 16-bit layout).
const H_SYN = 1;
const H_FIN = 2;
const H_RST = 4;
const H_FIN_RST = 8;
const H_DATA = 16;
const H_ACK = 32;
const H_MULTI = 64;

/** Signed 32-bit difference of two sequence numbers (Zeek's seq_delta). */
function seqDelta(a: number, b: number): number {
  return (a - b) | 0;
}

/** Maximum out-of-order blocks remembered per endpoint for gap accounting. */
const MAX_BLOCKS = 8;

/** Shared empty block list; an endpoint gets its own array when it first needs one. */
const NO_BLOCKS = new Float64Array(0);

class Endpoint {
  state = INACTIVE;
  prevState = INACTIVE;
  startSeq = 0; // may be outside uint32 only as Zeek's int64 start_seq; we keep it uint32
  lastSeq = 0;
  ackSeq = 0;
  seqWraps = 0;
  ackWraps = 0;
  finCnt = 0;
  rstCnt = 0;
  finSeq = 0;
  didClose = false;
  histLastSyn = 0;
  histLastFin = 0;
  histLastRst = 0;
  chkCnt = 0;
  chkThresh = 1;
  rxmtCnt = 0;
  rxmtThresh = 1;
  win0Cnt = 0;
  win0Thresh = 1;
  gapCnt = 0;
  gapThresh = 1;
  windowScale = 0;
  // Reassembly bookkeeping (relative sequence space): everything below `reass` was delivered
  // or reported missing; `blocks` holds out-of-order data above it (start,end pairs).
  reass = 1;
  trim = 1; // as Zeek's reassembler, which starts both at 1 (the SYN's sequence number is not data)
  // Allocated on the first out-of-order block (most endpoints never have one).
  blocks: Float64Array = NO_BLOCKS;
  nblocks = 0;
  /** ConnSize: packets and IP bytes. */
  pkts = 0;
  ipBytes = 0;
  /** UDP/ICMP payload size; -1 while the endpoint has sent nothing (INACTIVE). */
  size = -1;
  isOrig: boolean;

  constructor(isOrig: boolean) {
    this.isOrig = isOrig;
  }

  setState(s: number, peer: Endpoint, flow: Flow): void {
    if (s === this.state) return;
    // Leaving the handshake for good switches the connection to tcp_inactivity_timeout.
    if (!isHandshake(s) && isHandshake(this.state) && isHandshake(peer.state)) {
      flow.inactivity = ZEEK_TIMEOUTS.tcp_inactivity_timeout;
    }
    this.prevState = this.state;
    this.state = s;
  }

  /** Zeek's TCP_Endpoint::Size(): payload bytes from the sequence space. */
  tcpSize(peer: Endpoint): number {
    if (this.prevState === SYN_SENT && this.state === RESET && peer.state === INACTIVE && !this.noDataAcked()) return 0;
    const last = this.lastSeq + this.seqWraps * TWO32;
    const ack = this.ackSeq + this.ackWraps * TWO32;
    let size = (last > ack ? last : ack) - this.startSeq;
    if (size < 0) size = 0;
    if (size !== 0) size--;
    if (this.finCnt > 0 && size !== 0) size--;
    return size;
  }

  noDataAcked(): boolean {
    const ack = this.ackSeq + this.ackWraps * TWO32;
    return ack === this.startSeq || ack === this.startSeq + 1;
  }

  relative(seq: number, wraps: number): number {
    return seq + wraps * TWO32 - this.startSeq;
  }
}

function isHandshake(s: number): boolean {
  return s === INACTIVE || s === SYN_SENT || s === SYN_ACK_SENT;
}

function isClean(e: Endpoint): boolean {
  return e.state === ESTABLISHED || (e.state === CLOSED && e.prevState === ESTABLISHED);
}

class Flow {
  // Tuple, as originator -> responder (roles may flip).
  proto = 0;
  version = 4;
  // Addresses as four 32-bit words each (IPv4 in the last word): plain fields, not typed arrays,
  // because a typed array per flow costs more to create and compare than the lookups it serves.
  oa0 = 0;
  oa1 = 0;
  oa2 = 0;
  oa3 = 0;
  ra0 = 0;
  ra1 = 0;
  ra2 = 0;
  ra3 = 0;
  op = 0;
  rp = 0;
  oneWay = false;
  hash = 0;
  next: Flow | null = null; // hash chain

  uid = '';
  /** Serial number in this table (the default uid is derived from it when first needed). */
  serial = 0;
  tunnelParent: Flow | IpTunnel | undefined;
  vlan = -1;
  innerVlan = -1;
  start = 0;
  last = 0;
  inactivity = 60;
  // The history string, packed 6 letters per 30-bit word (5-bit codes of HIST_LETTERS) in h0..h3,
  // then spilled to histMore: a flow's history is built once, at emit time, not letter by letter.
  h0 = 0;
  h1 = 0;
  h2 = 0;
  h3 = 0;
  hlen = 0;
  histMore = '';
  histSeen = 0;
  missed = 0;
  orig = new Endpoint(true);
  resp = new Endpoint(false);
  // TCP session adapter state.
  isPartial = false;
  firstPacketSeen = 0; // 1 orig, 2 resp
  isActive = true;
  attemptAt = 0; // 0 = no attempt timer
  deleteAt = 0; // 0 = no delete timer (close/reset delay)
  nextInterim = 0;
  removed = false;
  // Place in the table's timer heap: when the flow's next timer (inactivity, attempt, close or
  // reset delay, expire, interim) may fire.
  due = 0;
  heapIndex = -1;

  addHistory(c: string): void {
    const code = HIST_CODE[c.charCodeAt(0)];
    const n = this.hlen++;
    if (n < 6) this.h0 |= code << (5 * n);
    else if (n < 12) this.h1 |= code << (5 * (n - 6));
    else if (n < 18) this.h2 |= code << (5 * (n - 12));
    else if (n < 24) this.h3 |= code << (5 * (n - 18));
    else this.histMore += c;
  }

  /** True when the history is exactly the one letter `c`. */
  historyIs(c: string): boolean {
    return this.hlen === 1 && this.h0 === HIST_CODE[c.charCodeAt(0)];
  }

  resetHistory(): void {
    this.h0 = this.h1 = this.h2 = this.h3 = this.hlen = 0;
    this.histMore = '';
  }

  history(): string {
    const n = this.hlen;
    if (n === 0) return '';
    const codes: number[] = [];
    for (let i = 0; i < n && i < 24; i++) {
      const w = i < 6 ? this.h0 : i < 12 ? this.h1 : i < 18 ? this.h2 : this.h3;
      codes.push(HIST_LETTERS.charCodeAt(((w >>> (5 * (i % 6))) & 31) - 1));
    }
    return String.fromCharCode(...codes) + this.histMore;
  }

  /** Zeek's Session::CheckHistory: adds `code` the first time `mask` is seen. True if seen before. */
  checkHistory(mask: number, code: string): boolean {
    if ((this.histSeen & mask) === 0) {
      this.histSeen |= mask;
      this.addHistory(code);
      return false;
    }
    return true;
  }

  flipRoles(): void {
    let t = this.oa0;
    this.oa0 = this.ra0;
    this.ra0 = t;
    t = this.oa1;
    this.oa1 = this.ra1;
    this.ra1 = t;
    t = this.oa2;
    this.oa2 = this.ra2;
    this.ra2 = t;
    t = this.oa3;
    this.oa3 = this.ra3;
    this.ra3 = t;
    const tp = this.op;
    this.op = this.rp;
    this.rp = tp;
    const te = this.orig;
    this.orig = this.resp;
    this.resp = te;
    this.orig.isOrig = true;
    this.resp.isOrig = false;
    this.firstPacketSeen = ((this.firstPacketSeen & 1) !== 0 ? 2 : 0) | ((this.firstPacketSeen & 2) !== 0 ? 1 : 0);
    this.isPartial = false;
    this.addHistory('^');
  }
}

/** Zeek's scaled history entry: adds the letter at the 1st, 10th, 100th... occurrence. */
function scaled(flow: Flow, code: string, e: Endpoint, which: 'chk' | 'rxmt' | 'win0' | 'gap'): void {
  switch (which) {
    case 'chk':
      if (++e.chkCnt === e.chkThresh) {
        flow.addHistory(code);
        e.chkThresh *= 10;
      }
      break;
    case 'rxmt':
      if (++e.rxmtCnt === e.rxmtThresh) {
        flow.addHistory(code);
        e.rxmtThresh *= 10;
      }
      break;
    case 'win0':
      if (++e.win0Cnt === e.win0Thresh) {
        flow.addHistory(code);
        e.win0Thresh *= 10;
      }
      break;
    case 'gap':
      if (++e.gapCnt === e.gapThresh) {
        flow.addHistory(code);
        e.gapThresh *= 10;
      }
      break;
  }
}

function lc(e: Endpoint, upper: string): string {
  return e.isOrig ? upper : upper.toLowerCase();
}

/** Zeek's Tunnel::ip_tunnel_timeout (seconds). */
const IP_TUNNEL_TIMEOUT = 86400;
/** Most IP tunnels remembered (the oldest is forgotten beyond; counted `tunnels_evicted`). */
const MAX_IP_TUNNELS = 10000;

/** An IP-in-IP or GRE tunnel between two outer addresses: the parent of its inner connections. */
class IpTunnel {
  uid = '';
  next: IpTunnel | undefined;
  constructor(
    readonly a0: number,
    readonly a1: number,
    readonly a2: number,
    readonly a3: number,
    readonly b0: number,
    readonly b1: number,
    readonly b2: number,
    readonly b3: number,
    public serial: number,
    public last: number,
  ) {}
}

/** Every letter a history can hold ('^' marks a role flip); code = index + 1. */
const HIST_LETTERS = '^SHADFRIQCTWGshadfriqctwg';
const HIST_CODE = new Uint8Array(128);
for (let i = 0; i < HIST_LETTERS.length; i++) HIST_CODE[HIST_LETTERS.charCodeAt(i)] = i + 1;

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Murmur3's 32-bit finaliser: a bijection on 32-bit integers. */
function fmix32(x: number): number {
  let h = x;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Connection uid in Zeek's shape ('C' + 17 base62 characters) for the `serial`-th flow of a table
 * salted with `salt`: the first six characters encode a bijective hash of the serial, so uids of
 * one table never collide (below 2^32 flows); the rest come from a PRNG seeded by it.
 */
export function uidFor(salt: number, serial: number): string {
  const codes = new Array<number>(18);
  codes[0] = 67; // 'C'
  let a = fmix32((serial + salt) >>> 0);
  let s = fmix32(a ^ 0x2545f491 ^ salt) || 1;
  for (let i = 1; i <= 6; i++) {
    codes[i] = BASE62.charCodeAt(a % 62);
    a = Math.floor(a / 62);
  }
  for (let i = 7; i < 18; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    codes[i] = BASE62.charCodeAt(s % 62);
  }
  return String.fromCharCode(...codes);
}

function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x9e3779b1);
  return h ^ (h >>> 15);
}

export class FlowTable {
  private readonly opts: FlowTableOptions;
  private readonly verify: boolean;
  private readonly maxFlows: number;
  private readonly interim: number;
  private readonly uidGen: (() => string) | undefined;
  private readonly uidSalt: number;
  private serial = 0;
  private readonly serverPorts = new Set<number>();
  /** Hash chains: a power-of-two array indexed by the low bits of the flow hash, grown with the table. */
  private buckets: (Flow | null)[] = new Array<Flow | null>(1024).fill(null);
  private bucketMask = 1023;
  private count = 0;
  private now = 0;
  private nextSweep = 0;
  private readonly timers = new TimerHeap<Flow>();
  private readonly tunnels = new Map<number, IpTunnel>();
  private readonly frags: FragmentTable;
  // Scratch tuple of the current packet.
  private readonly sa = new Uint32Array(4);
  private readonly da = new Uint32Array(4);
  /** Set by relSeq when a sequence number lies before the endpoint's start. */
  private under = false;
  /** Every byte ever reported missing by gap() (capture-loss bookkeeping). */
  private missing = 0;
  private readonly loss: CaptureLoss = { ackEvents: 0, ackBytes: 0, gapEvents: 0, gapBytes: 0 };

  constructor(opts: FlowTableOptions) {
    this.opts = opts;
    this.verify = opts.checksums === 'verify';
    this.maxFlows = opts.maxFlows ?? 0;
    this.interim = opts.interimSeconds ?? 0;
    this.uidGen = opts.uid;
    this.uidSalt = opts.uidSalt ?? randomInt(0x100000000);
    for (const p of opts.likelyServerPorts ?? DEFAULT_LIKELY_SERVER_PORTS) this.serverPorts.add(p);
    this.frags = new FragmentTable(opts.maxFragments ?? 4096, ZEEK_TIMEOUTS.frag_timeout, opts.counters);
  }

  get size(): number {
    return this.count;
  }

  /**
   * Zeek-style capture-loss totals since the table was created (Zeek's get_gap_stats(): ACKs of
   * established connections, and those that acknowledged data the sensor never saw). Loss in
   * percent, as Zeek's capture-loss script reports it, is 100 * gapEvents / ackEvents.
   */
  captureLoss(): Readonly<CaptureLoss> {
    return this.loss;
  }

  packet(ts: number, r: DecodeResult): void {
    const c = this.opts.counters;
    c.received++;
    if (ts > this.now) this.now = ts;
    if (ts >= this.nextSweep) this.sweep(ts);
    let parent: Flow | IpTunnel | undefined;
    let handled = false;
    for (let i = 0; i < r.depth; i++) {
      const L = r.layers[i];
      const isLast = i === r.depth - 1;
      // IP-in-IP / GRE outer layers are not connections of their own in Zeek's conn.log; the
      // inner connections name the tunnel (one uid per pair of outer addresses) as their parent.
      if (!isLast && L.proto !== P_UDP && L.proto !== P_TCP) {
        if (!L.isFragment) parent = this.ipTunnel(ts, L);
        continue;
      }
      if (L.isFragment) {
        const whole = this.frags.add(ts, r, i);
        if (!whole) {
          handled = true;
          continue;
        }
        const f = this.layer(ts, r, whole, -1, parent);
        if (f) parent = f;
        handled = true;
        continue;
      }
      if (!L.transportComplete) continue;
      const f = this.layer(ts, r, L, i, parent);
      if (f) {
        parent = f;
        handled = true;
      }
    }
    if (handled) c.emitted++;
    else c.dropped++;
  }

  /** Handles one IP layer (layerIndex -1: a reassembled datagram, checksum not verifiable). */
  private layer(ts: number, r: DecodeResult, L: IpLayer, layerIndex: number, parent: Flow | IpTunnel | undefined): Flow | null {
    const proto = L.proto;
    const sa = this.sa;
    const da = this.da;
    const version = this.loadAddresses(L);
    let sp = 0;
    let dp = 0;
    let oneWay = false;
    if (proto === P_TCP || proto === P_UDP || proto === P_ICMP || proto === P_ICMPV6) {
      sp = L.srcPort;
      dp = L.dstPort;
      oneWay = L.icmpOneWay;
    }
    let h = mix(mix(mix(mix(proto, sa[0] ^ da[0]), sa[1] ^ da[1]), sa[2] ^ da[2]), sa[3] ^ da[3]);
    h = mix(h, sp ^ dp) & 0x3fffffff;

    let flow = this.lookup(h, proto, sp, dp, oneWay);
    if (flow) {
      if (this.expired(flow, ts)) {
        this.remove(flow, true);
        flow = null;
      } else if (proto === P_TCP && this.isReuse(flow, L)) {
        this.remove(flow, true);
        flow = null;
      }
    }
    if (!flow) {
      flow = this.create(ts, h, proto, version, sp, dp, oneWay, L, parent);
      if (!flow) return null;
    }
    const isOrig = flow.op === sp && flow.rp === dp && origIs(flow, sa);

    const ok = layerIndex < 0 || !this.verify || checksumOk(r, layerIndex);
    if (proto === P_TCP) this.tcp(ts, flow, L, isOrig, ok);
    else if (proto === P_UDP) {
      const ep = isOrig ? flow.orig : flow.resp;
      ep.pkts++;
      ep.ipBytes += L.ipTotalLen;
      if (!ok) {
        scaled(flow, isOrig ? 'C' : 'c', ep, 'chk');
        this.opts.counters.add('bad_checksum');
      } else {
        flow.last = ts;
        flow.checkHistory(isOrig ? H_DATA : H_DATA << 8, isOrig ? 'D' : 'd');
        ep.size = (ep.size < 0 ? 0 : ep.size) + L.payloadLen;
      }
    } else if (proto === P_ICMP || proto === P_ICMPV6) {
      if (!ok) {
        this.opts.counters.add('bad_checksum');
        return flow;
      }
      flow.last = ts;
      const ep = isOrig ? flow.orig : flow.resp;
      ep.size = (ep.size < 0 ? 0 : ep.size) + L.payloadLen;
      ep.pkts++;
      ep.ipBytes += L.ipTotalLen;
    } else {
      flow.last = ts;
      const ep = isOrig ? flow.orig : flow.resp;
      ep.pkts++;
      ep.ipBytes += L.ipTotalLen;
      ep.size = 0;
    }
    return flow;
  }

  /** Copies the layer's addresses into the scratch tuple (sa, da); returns the IP version Zeek sees. */
  private loadAddresses(L: IpLayer): number {
    const sa = this.sa;
    const da = this.da;
    if (L.version === 4) {
      sa[0] = sa[1] = da[0] = da[1] = 0;
      sa[2] = da[2] = 0;
      sa[3] = L.src4;
      da[3] = L.dst4;
      return 4;
    }
    for (let k = 0; k < 4; k++) {
      sa[k] = L.src6[k];
      da[k] = L.dst6[k];
    }
    // Zeek treats IPv4-mapped addresses as IPv4.
    if (sa[0] === 0 && sa[1] === 0 && sa[2] === 0xffff && da[0] === 0 && da[1] === 0 && da[2] === 0xffff) {
      sa[2] = da[2] = 0;
      return 4;
    }
    return 6;
  }

  private lookup(h: number, proto: number, sp: number, dp: number, oneWay: boolean): Flow | null {
    let f = this.buckets[h & this.bucketMask];
    const sa = this.sa;
    const da = this.da;
    while (f) {
      if (f.proto === proto) {
        if (f.op === sp && f.rp === dp && origIs(f, sa) && respIs(f, da)) return f;
        if (!oneWay && !f.oneWay && f.op === dp && f.rp === sp && origIs(f, da) && respIs(f, sa)) return f;
      }
      f = f.next;
    }
    return null;
  }

  private isLikelyServer(port: number, udp: boolean): boolean {
    return this.serverPorts.has(udp ? port | UDP_PORT : port);
  }

  private create(
    ts: number,
    h: number,
    proto: number,
    version: number,
    sp: number,
    dp: number,
    oneWay: boolean,
    L: IpLayer,
    parent: Flow | IpTunnel | undefined,
  ): Flow | null {
    if (this.maxFlows > 0 && this.count >= this.maxFlows && this.timers.size > 0) {
      // The victim is the flow whose timer is due first: the one nearest to expiring anyway (idle
      // the longest for its timeout, or a connection attempt), found without per-packet bookkeeping.
      this.opts.counters.add('evicted');
      this.remove(this.timers.peek() as Flow, true);
    }
    const f = new Flow();
    f.proto = proto;
    f.version = version;
    const sa = this.sa;
    const da = this.da;
    f.oa0 = sa[0];
    f.oa1 = sa[1];
    f.oa2 = sa[2];
    f.oa3 = sa[3];
    f.ra0 = da[0];
    f.ra1 = da[1];
    f.ra2 = da[2];
    f.ra3 = da[3];
    f.op = sp;
    f.rp = dp;
    f.oneWay = oneWay;
    f.hash = h;
    f.serial = ++this.serial;
    if (this.uidGen) f.uid = this.uidGen();
    f.tunnelParent = parent;
    f.vlan = L.vlan;
    f.innerVlan = L.innerVlan;
    f.start = ts;
    f.last = ts;
    f.nextInterim = this.interim > 0 ? ts + this.interim : 0;
    f.inactivity =
      proto === P_ICMP || proto === P_ICMPV6
        ? ZEEK_TIMEOUTS.icmp_inactivity_timeout
        : proto === P_TCP || proto === P_UDP
          ? ZEEK_TIMEOUTS.udp_inactivity_timeout // TCP too, until the handshake is over (Zeek)
          : ZEEK_TIMEOUTS.unknown_ip_inactivity_timeout;
    // Role flipping by likely_server_ports (Zeek's WantConnection + NewConn).
    let flip = false;
    if (proto === P_TCP) {
      const fl = L.tcpFlags;
      if ((fl & F_SYN) === 0 || (fl & F_ACK) !== 0) {
        if (this.isLikelyServer(sp, false)) {
          if (this.isLikelyServer(dp, false)) flip = (fl & F_SYN) === 0 && sp < dp;
          else flip = true;
        }
      }
    } else if (proto === P_UDP) {
      flip = this.isLikelyServer(sp, true) && !this.isLikelyServer(dp, true);
    }
    if (flip && !(version === 4 && this.da[3] === 0xffffffff)) f.flipRoles();
    // Insert.
    if (this.count >= this.buckets.length) this.grow();
    const bi = h & this.bucketMask;
    f.next = this.buckets[bi];
    this.buckets[bi] = f;
    this.count++;
    this.timers.set(f, this.nextDue(f));
    return f;
  }

  /** Doubles the bucket array (load factor 1) and re-links every chain. */
  private grow(): void {
    const size = this.buckets.length * 2;
    const mask = size - 1;
    const next = new Array<Flow | null>(size).fill(null);
    for (const head of this.buckets) {
      let f = head;
      while (f) {
        const after = f.next;
        const bi = f.hash & mask;
        f.next = next[bi];
        next[bi] = f;
        f = after;
      }
    }
    this.buckets = next;
    this.bucketMask = mask;
  }

  /** Unlinks a flow and (when `report`) emits its record. */
  private remove(f: Flow, report: boolean): void {
    if (f.removed) return;
    f.removed = true;
    const bi = f.hash & this.bucketMask;
    let b = this.buckets[bi];
    if (b === f) this.buckets[bi] = f.next;
    else {
      while (b && b.next !== f) b = b.next;
      if (b) b.next = f.next;
    }
    f.next = null;
    this.timers.delete(f);
    this.count--;
    if (report) this.emit(f, false);
  }

  /** Zeek's timers, evaluated at time t: inactivity, TCP attempt/expire/close/reset timers. */
  private expired(f: Flow, t: number): boolean {
    if (f.last + f.inactivity <= t) return true;
    if (f.proto !== P_TCP) return false;
    if (f.deleteAt > 0 && t >= f.deleteAt) return true;
    const o = f.orig;
    const r = f.resp;
    if (f.attemptAt > 0 && t >= f.attemptAt && f.isActive) {
      if ((o.state === SYN_SENT || o.state === SYN_ACK_SENT) && r.state === INACTIVE) return true;
      f.attemptAt = 0;
    }
    // ExpireTimer (first at start + tcp_SYN_timeout, then every tcp_session_timer).
    if (f.isActive && t >= f.start + ZEEK_TIMEOUTS.tcp_SYN_timeout && f.last + ZEEK_TIMEOUTS.tcp_connection_linger < t) {
      if (o.didClose || r.didClose) {
        if (
          (o.didClose && r.didClose) ||
          o.state === RESET ||
          r.state === RESET ||
          o.state === INACTIVE ||
          r.state === INACTIVE
        )
          return true;
      }
      if (r.state === INACTIVE && o.state === INACTIVE) return true;
    }
    return false;
  }

  /** Zeek's TCPSessionAdapter::IsReuse: a new SYN on a finished (or different) connection. */
  private isReuse(f: Flow, L: IpLayer): boolean {
    const fl = L.tcpFlags;
    if ((fl & F_SYN) === 0) return false;
    let connOrig = f.orig;
    if ((fl & F_ACK) !== 0) {
      if (f.orig.state !== INACTIVE) return false;
      connOrig = f.resp;
    }
    if (!(f.orig.didClose || f.resp.didClose)) {
      const base = L.seq;
      if (base === connOrig.startSeq >>> 0) return false;
      if ((fl & F_ACK) === 0 && connOrig.state === SYN_ACK_SENT && f.resp.state === INACTIVE && base === f.resp.startSeq >>> 0)
        return false;
    }
    return true;
  }

  // ------------------------------------------------------------------------------------------
  // TCP

  private tcp(ts: number, f: Flow, L: IpLayer, isOrigIn: boolean, ok: boolean): void {
    let isOrig = isOrigIn;
    let ep = isOrig ? f.orig : f.resp;
    if (!ok) {
      scaled(f, ep.isOrig ? 'C' : 'c', ep, 'chk');
      this.opts.counters.add('bad_checksum');
      return;
    }
    const flags = L.tcpFlags;
    const SYN = (flags & F_SYN) !== 0;
    const FIN = (flags & F_FIN) !== 0;
    const RST = (flags & F_RST) !== 0;
    const ACK = (flags & F_ACK) !== 0;
    const baseSeq = L.seq;
    const ackSeq = L.ack;
    const len = L.payloadLen;
    const origBefore = f.orig;

    // SetPartialStatus
    if (isOrig) {
      if ((f.firstPacketSeen & 1) === 0) f.isPartial = !SYN || ACK;
    } else if ((f.firstPacketSeen & 2) === 0 && !f.isPartial) f.isPartial = !SYN;

    let segLen = len + (SYN ? 1 : 0) + (FIN ? 1 : 0);
    if (RST) segLen -= len;
    const seqPast = (baseSeq + segLen) >>> 0;

    // init_endpoint
    switch (ep.state) {
      case INACTIVE:
        if (SYN) {
          ep.ackSeq = baseSeq;
          ep.startSeq = baseSeq;
          ep.lastSeq = seqPast;
        } else {
          ep.ackSeq = (baseSeq - 1) >>> 0;
          ep.startSeq = (baseSeq - 1) >>> 0;
          ep.lastSeq = baseSeq;
        }
        break;
      case SYN_SENT:
      case SYN_ACK_SENT:
        if (SYN && baseSeq !== ep.startSeq) {
          ep.startSeq = baseSeq;
          ep.ackSeq = baseSeq;
          ep.lastSeq = seqPast;
        }
        break;
      case ESTABLISHED:
      case PARTIAL:
        if (SYN) {
          ep.startSeq = baseSeq;
          ep.ackSeq = baseSeq;
          ep.lastSeq = seqPast;
        }
        break;
      case RESET:
        if (SYN && ep.prevState === INACTIVE) {
          ep.startSeq = baseSeq;
          ep.ackSeq = baseSeq;
          ep.lastSeq = seqPast;
        }
        break;
    }

    this.under = false;
    const relSeq = this.relSeq(ep, baseSeq, ep.lastSeq, ep.seqWraps);
    const underflow = this.under;

    // update_history (may flip roles: "H" followed by A/D from the SYN-ACK sender's peer).
    const bits = (SYN ? 1 : 0) + (FIN ? 1 : 0) + (RST ? 1 : 0);
    if (bits > 1) {
      if (FIN && RST) this.epHistory(f, ep, H_FIN_RST, 'I');
      else this.epHistory(f, ep, H_MULTI, 'Q');
    } else if (bits === 1) {
      if (SYN) {
        const code = ACK ? 'H' : 'S';
        if (this.epHistory(f, ep, H_SYN, code) && relSeq !== ep.histLastSyn) f.addHistory(lc(ep, code));
        ep.histLastSyn = relSeq;
      }
      if (FIN) {
        if (this.epHistory(f, ep, H_FIN, 'F') && relSeq + len !== ep.histLastFin) f.addHistory(lc(ep, 'F'));
        ep.histLastFin = relSeq + len;
      }
      if (RST) {
        if (this.epHistory(f, ep, H_RST, 'R') && relSeq !== ep.histLastRst) f.addHistory(lc(ep, 'R'));
        ep.histLastRst = relSeq;
      }
    } else if (len > 0) this.epHistory(f, ep, H_DATA, 'D');
    else if (ACK) this.epHistory(f, ep, H_ACK, 'A');
    if (f.orig !== origBefore) isOrig = !isOrig;
    ep = isOrig ? f.orig : f.resp;
    const peer = isOrig ? f.resp : f.orig;

    // update_window: zero windows ('W'/'w').
    if (L.window === 0 && !RST && peer.state !== CLOSED && ep.state !== RESET) {
      scaled(f, ep.isOrig ? 'W' : 'w', ep, 'win0');
    }

    if (!f.orig.didClose || !f.resp.didClose) f.last = ts;

    if (SYN) {
      // Window scaling is irrelevant for the zero-window test (0 << n is 0); nothing else to do.
    }
    if (FIN) {
      ep.finCnt++;
      ep.finSeq = relSeq + segLen;
    }
    if (RST) ep.rstCnt++;

    let relAck = 0;
    let ackValid = false;
    if (ACK) {
      if (peer.state === INACTIVE) {
        relAck = 1;
        ackValid = true;
        const s = (ackSeq - 1) >>> 0;
        peer.startSeq = s;
        peer.ackSeq = s;
        peer.lastSeq = s;
      } else {
        this.under = false;
        relAck = this.relSeq(peer, ackSeq, peer.ackSeq, peer.ackWraps);
        ackValid = true;
        if (this.under) relAck = 0;
        else if (!RST) {
          const d = seqDelta(ackSeq, peer.ackSeq);
          if (!(ackSeq === 0 && d > TOO_LARGE_SEQ_DELTA) && d > 0) {
            if (ackSeq < peer.ackSeq) peer.ackWraps++;
            peer.ackSeq = ackSeq;
          }
        }
      }
    }

    // update_last_seq
    const deltaLast = seqDelta(seqPast, ep.lastSeq);
    if ((SYN || RST) && (deltaLast > TOO_LARGE_SEQ_DELTA || deltaLast < -TOO_LARGE_SEQ_DELTA)) {
      // ignore
    } else if (FIN && ep.lastSeq === ((ep.startSeq + 1) >>> 0)) this.updateLast(ep, seqPast);
    else if (ep.state === RESET) {
      // ignore
    } else if (deltaLast > 0) this.updateLast(ep, seqPast);
    else if (deltaLast <= 0 && len > 0) scaled(f, ep.isOrig ? 'T' : 't', ep, 'rxmt');

    // State machine.
    let doClose = false;
    let genEvent = false;
    switch (ep.state) {
      case INACTIVE: {
        if (SYN) {
          if (isOrig) {
            ep.setState(ACK ? SYN_ACK_SENT : SYN_SENT, peer, f);
            f.attemptAt = ts + ZEEK_TIMEOUTS.tcp_attempt_delay;
          } else {
            if (ACK) {
              // nothing more (bad_SYN_ack weird)
            } else if (peer.state === SYN_ACK_SENT && baseSeq === ep.startSeq) {
              f.isPartial = false;
              f.flipRoles();
              // After the flip `ep` is the originator.
              isOrig = true;
              peer.setState(ESTABLISHED, ep, f);
              f.firstPacketSeen |= 1;
            }
            if (peer.state === SYN_SENT) peer.setState(ESTABLISHED, ep, f);
            ep.setState(ESTABLISHED, peer, f);
          }
        }
        if (FIN) {
          ep.setState(CLOSED, peer, f);
          doClose = genEvent = true;
        }
        if (RST) {
          ep.setState(RESET, peer, f);
          let isReject = false;
          if (isOrig) {
            if (peer.state === ESTABLISHED) isReject = true;
          } else if (peer.state === SYN_SENT || peer.state === SYN_ACK_SENT) isReject = true;
          doClose = true;
          genEvent = !isReject;
        }
        if (ep.state === INACTIVE) {
          if (!isOrig && len === 0 && f.orig.state === SYN_SENT) {
            // pure ACK to a SYN: still inactive
          } else if (ACK && peer.state === ESTABLISHED) {
            ep.setState(ESTABLISHED, peer, f);
            f.isPartial = false;
            f.firstPacketSeen |= isOrig ? 1 : 2;
          } else ep.setState(PARTIAL, peer, f);
        }
        break;
      }
      case SYN_SENT:
      case SYN_ACK_SENT:
        if (FIN) {
          ep.setState(CLOSED, peer, f);
          doClose = genEvent = true;
        }
        if (RST) {
          ep.setState(RESET, peer, f);
          f.isActive = false;
          doClose = true;
        }
        break;
      case ESTABLISHED:
      case PARTIAL:
        if (SYN && ep.state === PARTIAL && peer.state === INACTIVE && !ACK) ep.setState(SYN_SENT, peer, f);
        if (FIN && !RST) {
          ep.setState(CLOSED, peer, f);
          if (peer.state === RESET && peer.prevState === CLOSED) peer.setState(CLOSED, ep, f);
          doClose = genEvent = true;
        }
        if (RST) {
          ep.setState(RESET, peer, f);
          doClose = true;
          f.isActive = false;
        }
        break;
      case CLOSED:
        if (RST && peer.state !== CLOSED) {
          ep.setState(RESET, peer, f);
          if (!ep.didClose) doClose = true;
          f.deleteAt = f.deleteAt > 0 ? Math.min(f.deleteAt, ts + ZEEK_TIMEOUTS.tcp_reset_delay) : ts + ZEEK_TIMEOUTS.tcp_reset_delay;
        }
        break;
      case RESET:
        break;
    }

    // Data delivery to the reassembler and acknowledgements (content gaps, missed_bytes).
    if (ackValid) this.ackReceived(f, peer, ep, relAck);
    const relData = SYN ? relSeq + 1 : relSeq;
    if (len > 0 && !RST && !underflow && L.l4Captured - L.tcpHeaderLen >= len) this.dataSent(ep, relData, len);

    if (doClose) this.connectionClosed(f, ep, peer, genEvent);
    // Only SYN, FIN and RST can make a timer fire earlier than scheduled (attempt, close and reset
    // delays, the expire timer of a closed connection); other packets only postpone timers, and
    // the sweep reschedules a flow it finds not yet expired.
    if ((flags & (F_SYN | F_FIN | F_RST)) !== 0) this.timers.setEarlier(f, this.nextDue(f));
    // ConnSize counts the packet for the side it belongs to after any role flip.
    const cnt = isOrig ? f.orig : f.resp;
    cnt.pkts++;
    cnt.ipBytes += L.ipTotalLen;
  }

  private updateLast(ep: Endpoint, seq: number): void {
    if (seq < ep.lastSeq) ep.seqWraps++;
    ep.lastSeq = seq;
  }

  /** Zeek's get_relative_seq. */
  private relSeq(ep: Endpoint, cur: number, last: number, wrapsIn: number): number {
    let wraps = wrapsIn;
    const delta = seqDelta(cur, last);
    if (delta < 0) {
      if (wraps && cur > last) --wraps;
    } else if (delta > 0) {
      if (cur < last) ++wraps;
    }
    if (wraps === 0) {
      const d = seqDelta(cur, ep.startSeq);
      if (d < 0) this.under = true;
      return d;
    }
    return ep.relative(cur, wraps);
  }

  /** TCP_Endpoint::CheckHistory, including the "H then A/D" role flip. */
  private epHistory(f: Flow, ep: Endpoint, mask: number, code: string): boolean {
    if ((code === 'A' || code === 'D') && f.historyIs('H')) {
      f.flipRoles();
      f.resetHistory();
      f.addHistory('^');
      f.addHistory('h');
      f.firstPacketSeen |= 2;
    }
    if (ep.isOrig) return f.checkHistory(mask, code);
    const m = mask << 8;
    if ((f.histSeen & m) !== 0) return true; // the common case: no lower-casing needed
    return f.checkHistory(m, code.toLowerCase());
  }

  private dataSent(ep: Endpoint, seq: number, len: number): void {
    const ackRel = ep.relative(ep.ackSeq, ep.ackWraps);
    let s = seq;
    const end = seq + len;
    if (s < ackRel) {
      if (end <= ackRel) return;
      s = ackRel;
    }
    if (s <= ep.reass) {
      if (end > ep.reass) ep.reass = end;
      this.mergeBlocks(ep);
    } else if (ep.nblocks < MAX_BLOCKS) {
      if (ep.blocks.length === 0) ep.blocks = new Float64Array(MAX_BLOCKS * 2);
      // keep sorted by start
      let i = ep.nblocks;
      while (i > 0 && ep.blocks[(i - 1) * 2] > s) {
        ep.blocks[i * 2] = ep.blocks[(i - 1) * 2];
        ep.blocks[i * 2 + 1] = ep.blocks[(i - 1) * 2 + 1];
        i--;
      }
      ep.blocks[i * 2] = s;
      ep.blocks[i * 2 + 1] = end;
      ep.nblocks++;
    } else this.opts.counters.add('reassembly_blocks_dropped');
  }

  private mergeBlocks(ep: Endpoint): void {
    let k = 0;
    while (k < ep.nblocks && ep.blocks[k * 2] <= ep.reass) {
      const e = ep.blocks[k * 2 + 1];
      if (e > ep.reass) ep.reass = e;
      k++;
    }
    if (k > 0) {
      for (let i = k; i < ep.nblocks; i++) {
        ep.blocks[(i - k) * 2] = ep.blocks[i * 2];
        ep.blocks[(i - k) * 2 + 1] = ep.blocks[i * 2 + 1];
      }
      ep.nblocks -= k;
    }
  }

  /** The peer acknowledged `ep`'s data up to relative `seq`: holes below it become content gaps. */
  private ackReceived(f: Flow, ep: Endpoint, peer: Endpoint, seqIn: number): void {
    let seq = seqIn;
    if (ep.finCnt > 0 && seq >= ep.finSeq) seq = ep.finSeq - 1;
    if (seq <= ep.trim) return;
    // Capture-loss accounting as Zeek's TCP_Reassembler::AckReceived: only while both sides are
    // established (report_gaps_for_partial is off by default).
    const active = ep.state === ESTABLISHED && peer.state === ESTABLISHED;
    if (active) {
      this.loss.ackEvents++;
      this.loss.ackBytes += seq - ep.trim;
    }
    ep.trim = seq;
    if (seq <= ep.reass) return;
    if (seq <= 2 && f.isPartial) {
      ep.reass = seq;
      this.mergeBlocks(ep);
      return;
    }
    const missedBefore = this.missing;
    while (ep.nblocks > 0 && ep.blocks[0] < seq) {
      const bs = ep.blocks[0];
      if (bs > ep.reass) this.gap(f, ep, peer, bs - ep.reass);
      if (ep.blocks[1] > ep.reass) ep.reass = ep.blocks[1];
      for (let i = 1; i < ep.nblocks; i++) {
        ep.blocks[(i - 1) * 2] = ep.blocks[i * 2];
        ep.blocks[(i - 1) * 2 + 1] = ep.blocks[i * 2 + 1];
      }
      ep.nblocks--;
    }
    if (seq > ep.reass) {
      this.gap(f, ep, peer, seq - ep.reass);
      ep.reass = seq;
    }
    if (active && this.missing > missedBefore) {
      this.loss.gapEvents++;
      this.loss.gapBytes += this.missing - missedBefore;
    }
  }

  private gap(f: Flow, ep: Endpoint, peer: Endpoint, len: number): void {
    this.missing += len;
    if (isClean(ep) && isClean(peer)) {
      scaled(f, ep.isOrig ? 'G' : 'g', ep, 'gap');
      f.missed += len;
    }
  }

  /** TCPSessionAdapter::ConnectionClosed (no application analyzers, so no pending data). */
  private connectionClosed(f: Flow, ep: Endpoint, peer: Endpoint, genEvent: boolean): void {
    if (ep.didClose) return;
    ep.didClose = true;
    const complete = ep.state === RESET || peer.didClose || peer.state === INACTIVE;
    if (complete) {
      if (genEvent && (ep.prevState !== INACTIVE || peer.state !== INACTIVE)) f.isActive = false;
      f.attemptAt = 0;
      f.deleteAt = f.last + ZEEK_TIMEOUTS.tcp_close_delay;
    }
  }

  // ------------------------------------------------------------------------------------------

  advance(ts: number): void {
    if (ts > this.now) this.now = ts;
    this.sweep(ts);
  }

  /**
   * Runs the timers due at `ts` (called at most once per second of packet time, as Zeek's timer
   * manager would see them at that granularity). Only flows whose earliest timer is due are looked
   * at; one that is not expired after all is rescheduled, at the next sweep at the earliest.
   */
  private sweep(ts: number): void {
    this.nextSweep = ts + 1;
    this.frags.expire(ts);
    const timers = this.timers;
    while (timers.peekDue() <= ts) {
      const f = timers.pop() as Flow;
      if (this.expired(f, ts)) {
        this.remove(f, true);
        continue;
      }
      if (this.interim > 0 && f.nextInterim > 0 && ts >= f.nextInterim) {
        this.emit(f, true);
        while (f.nextInterim <= ts) f.nextInterim += this.interim;
      }
      const d = this.nextDue(f);
      timers.set(f, d > ts ? d : ts + 1e-6);
    }
  }

  /**
   * The earliest time at which expired() could become true for `f` (or an interim record is due)
   * if no further packet arrived. A lower bound is enough: a flow checked early is rescheduled.
   */
  private nextDue(f: Flow): number {
    let d = f.last + f.inactivity;
    if (this.interim > 0 && f.nextInterim > 0 && f.nextInterim < d) d = f.nextInterim;
    if (f.proto !== P_TCP) return d;
    if (f.deleteAt > 0 && f.deleteAt < d) d = f.deleteAt;
    if (f.isActive) {
      if (f.attemptAt > 0 && f.attemptAt < d) d = f.attemptAt;
      const o = f.orig;
      const r = f.resp;
      // The expire timer can only succeed in these states (see expired()).
      const closable = o.didClose || r.didClose
        ? (o.didClose && r.didClose) || o.state === RESET || r.state === RESET || o.state === INACTIVE || r.state === INACTIVE
        : o.state === INACTIVE && r.state === INACTIVE;
      if (closable) {
        const e = Math.max(f.start + ZEEK_TIMEOUTS.tcp_SYN_timeout, f.last + ZEEK_TIMEOUTS.tcp_connection_linger);
        if (e < d) d = e;
      }
    }
    return d;
  }

  /** Reports every open flow (in the order their timers would fire) and empties the table. */
  finish(): void {
    for (let f = this.timers.peek(); f; f = this.timers.peek()) this.remove(f, true);
  }

  /**
   * The IP tunnel (IP-in-IP, GRE, ERSPAN) whose outer layer is `L`: Zeek's ip_tunnels, keyed by
   * the unordered pair of outer addresses, forgotten after Tunnel::ip_tunnel_timeout (24 h) idle.
   */
  private ipTunnel(ts: number, L: IpLayer): IpTunnel {
    const version = this.loadAddresses(L);
    // Order the pair so that both directions find one tunnel (no allocation: this runs per packet).
    const sa = this.sa;
    const da = this.da;
    let k = 0;
    while (k < 3 && sa[k] === da[k]) k++;
    const lo = sa[k] <= da[k] ? sa : da;
    const hi = lo === sa ? da : sa;
    const a0 = lo[0], a1 = lo[1], a2 = lo[2], a3 = lo[3];
    const b0 = hi[0], b1 = hi[1], b2 = hi[2], b3 = hi[3];
    const h = mix(mix(mix(mix(version, a0 ^ b0), a1 ^ b1), a2 ^ b2), mix(a3, b3));
    const head = this.tunnels.get(h);
    for (let t = head; t; t = t.next) {
      if (t.a0 === a0 && t.a1 === a1 && t.a2 === a2 && t.a3 === a3 && t.b0 === b0 && t.b1 === b1 && t.b2 === b2 && t.b3 === b3) {
        if (t.last + IP_TUNNEL_TIMEOUT < ts) {
          // idle too long: a new tunnel (new uid) from now on
          t.uid = '';
          t.serial = ++this.serial;
        }
        t.last = ts;
        return t;
      }
    }
    if (this.tunnels.size >= MAX_IP_TUNNELS) {
      // Forget the oldest chain (Map order is insertion order).
      const oldest = this.tunnels.keys().next().value as number;
      this.tunnels.delete(oldest);
      this.opts.counters.add('tunnels_evicted');
    }
    const t = new IpTunnel(a0, a1, a2, a3, b0, b1, b2, b3, ++this.serial, ts);
    t.next = head;
    this.tunnels.delete(h);
    this.tunnels.set(h, t);
    return t;
  }

  private uidOf(f: Flow | IpTunnel): string {
    if (f.uid === '') f.uid = uidFor(this.uidSalt, f.serial);
    return f.uid;
  }

  private emit(f: Flow, interim: boolean): void {
    const proto = f.proto;
    const o = f.orig;
    const r = f.resp;
    const rec: FlowRecord = {
      kind: 'flow',
      ts: f.start,
      uid: this.uidOf(f),
      orig_h: f.version === 4 ? formatIPv4(f.oa3) : formatIPv6([f.oa0, f.oa1, f.oa2, f.oa3]),
      orig_p: f.op,
      resp_h: f.version === 4 ? formatIPv4(f.ra3) : formatIPv6([f.ra0, f.ra1, f.ra2, f.ra3]),
      resp_p: f.rp,
      proto: proto === P_TCP ? 'tcp' : proto === P_UDP ? 'udp' : proto === P_ICMP || proto === P_ICMPV6 ? 'icmp' : 'unknown_transport',
    };
    const dur = f.last - f.start;
    if (dur > 0) {
      rec.duration = dur;
      if (proto === P_TCP) {
        rec.orig_bytes = o.state === INACTIVE ? 0 : o.tcpSize(r);
        rec.resp_bytes = r.state === INACTIVE ? 0 : r.tcpSize(o);
      } else {
        rec.orig_bytes = o.size < 0 ? 0 : o.size;
        rec.resp_bytes = r.size < 0 ? 0 : r.size;
      }
    }
    rec.conn_state = connState(f);
    rec.ip_proto = proto;
    rec.missed_bytes = f.missed;
    if (f.hlen > 0) rec.history = f.history();
    rec.orig_pkts = o.pkts;
    rec.orig_ip_bytes = o.ipBytes;
    rec.resp_pkts = r.pkts;
    rec.resp_ip_bytes = r.ipBytes;
    if (f.tunnelParent !== undefined) rec.tunnel_parents = [this.uidOf(f.tunnelParent)];
    if (f.vlan >= 0) rec.vlan = f.vlan;
    if (f.innerVlan >= 0) rec.inner_vlan = f.innerVlan;
    if (interim) rec.interim = true;
    else this.opts.counters.add('flows');
    this.opts.onFlow(rec);
  }
}

function origIs(f: Flow, a: Uint32Array): boolean {
  return f.oa3 === a[3] && f.oa2 === a[2] && f.oa1 === a[1] && f.oa0 === a[0];
}

function respIs(f: Flow, a: Uint32Array): boolean {
  return f.ra3 === a[3] && f.ra2 === a[2] && f.ra1 === a[1] && f.ra0 === a[0];
}

/** conn_state() of scripts/base/protocols/conn/main.zeek. */
function connState(f: Flow): ConnState {
  const o = f.orig;
  const r = f.resp;
  if (f.proto === P_UDP) {
    if (o.size >= 0) return r.size >= 0 ? 'SF' : 'S0';
    return r.size >= 0 ? 'SHR' : 'OTH';
  }
  if (f.proto !== P_TCP) return 'OTH';
  const os = o.state;
  const rs = r.state;
  const oInactive = os === INACTIVE || os === PARTIAL;
  const rInactive = rs === INACTIVE || rs === PARTIAL;
  if (rs === RESET) {
    if (os === SYN_SENT || os === SYN_ACK_SENT || (os === RESET && o.tcpSize(r) === 0 && r.tcpSize(o) === 0)) return 'REJ';
    return oInactive ? 'RSTRH' : 'RSTR';
  }
  if (os === RESET) {
    if (rInactive) return /^\^?S[^HAFGIQ]*R/.test(f.history()) ? 'RSTOS0' : 'OTH';
    return 'RSTO';
  }
  if (rs === CLOSED && os === CLOSED) return 'SF';
  if (os === CLOSED) return rInactive ? 'SH' : 'S2';
  if (rs === CLOSED) return oInactive ? 'SHR' : 'S3';
  if (os === SYN_SENT && rs === INACTIVE) return 'S0';
  if (os === ESTABLISHED && rs === ESTABLISHED) return 'S1';
  return 'OTH';
}
