// Deterministic generator of a realistic classic pcap (Ethernet) for the `pcap` benchmark:
// many hosts and concurrent sessions interleaved in time order. TCP connections with handshakes,
// data both ways, delayed ACKs and FIN closes (SF), resets by either side (RSTO/RSTR), unanswered
// SYNs with retransmissions (S0) and rejected attempts (REJ); DNS query/answer, NTP, ICMP echo;
// some 802.1Q-tagged and some IPv6 traffic; a few periodic beacons. Every IPv4 header and
// TCP/UDP/ICMP checksum is correct, so `--checksums verify` and `ignore` see the same flows.
// Packets are written into one large buffer that is flushed to the file in big chunks.

import { closeSync, openSync, writeSync } from 'node:fs';
import { mulberry32 } from '../agent/random.js';

export interface GeneratePcapOptions {
  packets: number;
  seed?: number;
}

export interface GeneratePcapResult {
  packets: number;
  /** Bytes written, file header included. */
  bytes: number;
  /** Sessions (connections) that put at least one packet in the file. */
  flows: number;
}

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const PSH = 0x08;
const ACK = 0x10;

const P_ICMP = 1;
const P_TCP = 6;
const P_UDP = 17;

/** Fields per scripted packet: time, direction, flags, payload length, seq, ack, payload index. */
const F = 7;
const MSS = 1448;
const OUT_SIZE = 16 << 20;
const POOL_SIZE = 256 << 10;
const START_TS = 1_700_000_000;
/** New sessions per second of capture time (beacons come on top). */
const ARRIVALS_PER_SEC = 2500;

interface Session {
  /** Time of the next packet (the heap key). */
  t: number;
  /** Scripted packets, F numbers each. */
  p: number[];
  i: number;
  proto: number;
  v6: boolean;
  vlan: number;
  /** IPv4 addresses, or the last 32-bit word of the IPv6 addresses. */
  cip: number;
  sip: number;
  /** First 96 bits of the IPv6 addresses (three words each). */
  c6: number[];
  s6: number[];
  cport: number;
  sport: number;
  cmac: number;
  smac: number;
  ttlC: number;
  ttlS: number;
  ipIdC: number;
  ipIdS: number;
  window: number;
  payloads: Buffer[];
  started: boolean;
}

class Heap {
  readonly a: Session[] = [];
  get size(): number {
    return this.a.length;
  }
  top(): Session {
    return this.a[0];
  }
  push(s: Session): void {
    const a = this.a;
    let i = a.length;
    a.push(s);
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (a[up].t <= s.t) break;
      a[i] = a[up];
      i = up;
    }
    a[i] = s;
  }
  /** Restores the order after the top's key grew. */
  siftTop(): void {
    const a = this.a;
    const n = a.length;
    const s = a[0];
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && a[c + 1].t < a[c].t) c++;
      if (a[c].t >= s.t) break;
      a[i] = a[c];
      i = c;
    }
    a[i] = s;
  }
  pop(): void {
    const a = this.a;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      this.siftTop();
    }
  }
}

/** Builds a TCP session's packet script, tracking both sequence spaces. */
class TcpScript {
  readonly p: number[] = [];
  t: number;
  cseq: number;
  sseq: number;
  constructor(t: number, rnd: () => number) {
    this.t = t;
    this.cseq = Math.floor(rnd() * 4294967296);
    this.sseq = Math.floor(rnd() * 4294967296);
  }
  c(flags: number, len: number, dt: number): void {
    this.t += dt;
    this.p.push(this.t, 0, flags, len, this.cseq, flags & ACK ? this.sseq : 0, -1);
    this.cseq = (this.cseq + len + (flags & (SYN | FIN) ? 1 : 0)) >>> 0;
  }
  s(flags: number, len: number, dt: number): void {
    this.t += dt;
    this.p.push(this.t, 1, flags, len, this.sseq, flags & ACK ? this.cseq : 0, -1);
    this.sseq = (this.sseq + len + (flags & (SYN | FIN) ? 1 : 0)) >>> 0;
  }
}

const DNS_NAMES = [
  'www.example.com', 'api.example.net', 'cdn.example.org', 'mail.example.com', 'updates.example.net',
  'static.example.org', 'login.example.com', 'telemetry.example.net', 'img.example.org', 'news.example.com',
  'time.example.net', 'files.example.org', 'chat.example.com', 'video.example.net', 'ads.example.org',
];

/** Writes a classic pcap of about opts.packets packets (exactly that many) to file. */
export function generatePcap(file: string, opts: GeneratePcapOptions): GeneratePcapResult {
  const target = Math.max(0, Math.floor(opts.packets));
  const rnd = mulberry32(opts.seed ?? 1);
  const ri = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  /** Log-uniform between lo and hi. */
  const rlog = (lo: number, hi: number) => lo * Math.pow(hi / lo, rnd());

  // Payload bytes come from a random pool; prefix sums of its 16-bit words give the checksum
  // of any even-aligned slice in O(1).
  const pool = Buffer.allocUnsafe(POOL_SIZE);
  for (let i = 0; i < POOL_SIZE; i++) pool[i] = Math.floor(rnd() * 256);
  const prefix = new Float64Array(POOL_SIZE / 2 + 1);
  for (let w = 0; w < POOL_SIZE / 2; w++) prefix[w + 1] = prefix[w] + ((pool[2 * w] << 8) | pool[2 * w + 1]);

  // Hosts.
  const NCLIENT4 = 4000;
  const NCLIENT6 = 600;
  const NSERVER4 = 30000;
  const NSERVER6 = 3000;
  const client4 = new Uint32Array(NCLIENT4);
  // 10.1.1.1 to 10.1.16.250.
  for (let i = 0; i < NCLIENT4; i++) client4[i] = ((10 << 24) | (1 << 16) | ((1 + Math.floor(i / 250)) << 8) | (1 + (i % 250))) >>> 0;
  const server4 = new Uint32Array(NSERVER4);
  for (let i = 0; i < NSERVER4; i++) {
    let a: number;
    do {
      a = Math.floor(rnd() * 4294967296) >>> 0;
    } while (badPublic(a));
    server4[i] = a;
  }
  const client6 = new Uint32Array(NCLIENT6);
  for (let i = 0; i < NCLIENT6; i++) client6[i] = Math.floor(rnd() * 4294967296) >>> 0;
  const server6 = new Uint32Array(NSERVER6);
  for (let i = 0; i < NSERVER6; i++) server6[i] = Math.floor(rnd() * 4294967296) >>> 0;
  const C6_PREFIX = [0x20010db8, 0x00010000, 0x00000000];
  const S6_PREFIX = [0x20010db8, 0xffff0000, 0x00000000];
  const ports4 = new Uint16Array(NCLIENT4);
  for (let i = 0; i < NCLIENT4; i++) ports4[i] = ri(32768, 60999);
  const ports6 = new Uint16Array(NCLIENT6);
  for (let i = 0; i < NCLIENT6; i++) ports6[i] = ri(32768, 60999);
  const INTERNAL_SERVERS = [0x0a000a0a, 0x0a000a0b, 0x0a000a0c, 0x0a000a14, 0x0a000a15]; // 10.0.10.x
  const RESOLVERS4 = [0x0a000035, 0x0a000036, 0x08080808];
  const NTP4 = [0x0a00007b, 0xc0000201 /* 192.0.2.1 */];
  const GATEWAY_MAC = 0x1b21aabbcc;

  const nextPort = (v6: boolean, c: number): number => {
    const arr = v6 ? ports6 : ports4;
    const p = arr[c];
    arr[c] = p >= 60999 ? 32768 : p + 1;
    return p;
  };
  /** Popular servers are picked more often (a skewed index). */
  const pickServer = (n: number) => Math.floor(Math.pow(rnd(), 2.5) * n);

  const newSession = (t: number, proto: number, v6: boolean, internalDst: boolean): Session => {
    const ci = v6 ? ri(0, NCLIENT6 - 1) : ri(0, NCLIENT4 - 1);
    const cip = v6 ? client6[ci] : client4[ci];
    const sip = v6 ? server6[pickServer(NSERVER6)] : internalDst ? INTERNAL_SERVERS[ri(0, INTERNAL_SERVERS.length - 1)] : server4[pickServer(NSERVER4)];
    const r = rnd();
    return {
      t,
      p: [],
      i: 0,
      proto,
      v6,
      vlan: r < 0.12 ? [10, 20, 30, 100][ri(0, 3)] : -1,
      cip,
      sip,
      c6: C6_PREFIX,
      s6: S6_PREFIX,
      cport: proto === P_ICMP ? 0 : nextPort(v6, ci),
      sport: 0,
      cmac: 0x020000000000 + cip,
      smac: internalDst ? 0x020000000000 + sip : GATEWAY_MAC,
      ttlC: 64,
      ttlS: internalDst ? 64 : ri(40, 120),
      ipIdC: ri(0, 65535),
      ipIdS: ri(0, 65535),
      window: [64240, 65535, 29200, 42340][ri(0, 3)],
      payloads: [],
      started: false,
    };
  };

  const rtt = () => rlog(0.0005, 0.2);
  const responseSize = (): number => {
    const r = rnd();
    if (r < 0.55) return ri(150, 2000);
    if (r < 0.93) return Math.floor(rlog(2000, 40000));
    return Math.floor(rlog(40000, 600000));
  };

  /**
   * One side sends size bytes in MSS segments; the other ACKs every second one (the client after
   * 50 µs, the server after 100 µs).
   */
  const sendData = (s: TcpScript, fromServer: boolean, size: number, firstDt: number, gap: number) => {
    let left = size;
    let seg = 0;
    let dt = firstDt;
    while (left > 0) {
      const len = Math.min(MSS, left);
      left -= len;
      const flags = left === 0 ? PSH | ACK : ACK;
      if (fromServer) s.s(flags, len, dt);
      else s.c(flags, len, dt);
      dt = gap;
      if (++seg % 2 === 0 || left === 0) {
        if (fromServer) s.c(ACK, 0, 0.00005);
        else s.s(ACK, 0, 0.0001);
      }
    }
  };

  const handshake = (s: TcpScript, r: number) => {
    s.c(SYN, 0, 0);
    s.s(SYN | ACK, 0, r);
    s.c(ACK, 0, 0.00003);
  };

  const close = (s: TcpScript, r: number) => {
    if (rnd() < 0.6) {
      s.c(FIN | ACK, 0, rlog(0.001, 0.5));
      s.s(FIN | ACK, 0, r);
      s.c(ACK, 0, 0.00003);
    } else {
      s.s(FIN | ACK, 0, rlog(0.001, 0.5));
      s.c(ACK, 0, 0.00005);
      s.c(FIN | ACK, 0, 0.0002);
      s.s(ACK, 0, r);
    }
  };

  /** A TCP session: 'sf' web/bulk, 'rsto', 'rstr', 's0', 'rej', or 'beacon'. */
  const tcpSession = (t: number, kind: string, v6: boolean, beacon?: { cip: number; sip: number }): Session => {
    const internal = kind === 'rej' || (kind === 'sf' && rnd() < 0.08);
    const sess = newSession(t, P_TCP, v6, internal);
    if (beacon) {
      sess.cip = beacon.cip;
      sess.sip = beacon.sip;
      sess.cmac = 0x020000000000 + beacon.cip;
      sess.vlan = -1;
    }
    const r = rtt();
    const gap = (MSS * 8) / rlog(2e6, 200e6);
    const s = new TcpScript(t, rnd);
    if (kind === 'rej') {
      sess.sport = [23, 8080, 3389, 5900, 8443, 135][ri(0, 5)];
      s.c(SYN, 0, 0);
      s.t += 0.0002;
      s.p.push(s.t, 1, RST | ACK, 0, 0, (s.cseq) >>> 0, -1);
    } else if (kind === 's0') {
      sess.sport = [443, 80, 22, 445, 8080, 25][ri(0, 5)];
      const tries = ri(1, 3);
      let dt = 0;
      for (let k = 0; k < tries; k++) {
        s.t += dt;
        s.p.push(s.t, 0, SYN, 0, s.cseq, 0, -1);
        dt = k === 0 ? 1 : 2 * dt;
      }
    } else {
      sess.sport = beacon ? 443 : internal ? [445, 22, 3306, 8080][ri(0, 3)] : rnd() < 0.75 ? 443 : rnd() < 0.8 ? 80 : [22, 25, 993, 8443][ri(0, 3)];
      handshake(s, r);
      const exchanges = beacon ? 1 : rnd() < 0.7 ? 1 : ri(2, 5);
      for (let e = 0; e < exchanges; e++) {
        const think = e === 0 ? 0.0002 : rlog(0.05, 3);
        if (!beacon && rnd() < 0.06) {
          // An upload: the client sends the bulk.
          sendData(s, false, Math.floor(rlog(5000, 300000)), think, gap);
          s.s(PSH | ACK, ri(100, 600), r);
        } else {
          sendData(s, false, beacon ? ri(150, 320) : ri(200, 900), think, gap);
          sendData(s, true, beacon ? ri(80, 600) : responseSize(), r, gap);
        }
        if ((kind === 'rsto' || kind === 'rstr') && e === 0) break;
      }
      if (kind === 'rsto') s.c(RST | ACK, 0, rlog(0.001, 2));
      else if (kind === 'rstr') s.s(RST | ACK, 0, rlog(0.001, 2));
      else close(s, r);
    }
    sess.p = s.p;
    return sess;
  };

  const dnsSession = (t: number, v6: boolean): Session => {
    const sess = newSession(t, P_UDP, v6, false);
    if (!v6) {
      sess.sip = RESOLVERS4[ri(0, RESOLVERS4.length - 1)];
      sess.smac = sess.sip === 0x08080808 ? GATEWAY_MAC : 0x020000000000 + sess.sip;
    }
    sess.sport = 53;
    const name = DNS_NAMES[ri(0, DNS_NAMES.length - 1)];
    const id = ri(0, 65535);
    const aaaa = v6 || rnd() < 0.3;
    sess.payloads.push(dnsMessage(id, name, aaaa, false, 0), dnsMessage(id, name, aaaa, true, Math.floor(rnd() * 4294967296)));
    const t1 = t + rlog(0.0003, 0.08);
    sess.p.push(t, 0, 0, sess.payloads[0].length, 0, 0, 0, t1, 1, 0, sess.payloads[1].length, 0, 0, 1);
    return sess;
  };

  const ntpSession = (t: number): Session => {
    const sess = newSession(t, P_UDP, false, false);
    sess.sip = NTP4[ri(0, NTP4.length - 1)];
    if (rnd() < 0.5) sess.cport = 123;
    sess.sport = 123;
    const q = Buffer.from(pool.subarray(0, 48));
    q[0] = 0x23;
    const a = Buffer.from(pool.subarray(48, 96));
    a[0] = 0x24;
    a[1] = 2;
    sess.payloads.push(q, a);
    sess.p.push(t, 0, 0, 48, 0, 0, 0, t + rtt(), 1, 0, 48, 0, 0, 1);
    return sess;
  };

  const icmpSession = (t: number): Session => {
    const sess = newSession(t, P_ICMP, false, false);
    sess.cport = ri(1, 65535); // echo identifier
    const n = ri(1, 4);
    const r = rtt();
    for (let k = 0; k < n; k++) {
      const tk = t + k;
      sess.p.push(tk, 0, 8, 56, k + 1, 0, -1, tk + r, 1, 0, 56, k + 1, 0, -1);
    }
    return sess;
  };

  // Beacons: a few internal hosts checking in with one server each at a fixed period with jitter.
  const beacons: { cip: number; sip: number; period: number; next: number }[] = [];
  for (let b = 0; b < 12; b++) {
    const period = [10, 15, 30, 60][b % 4];
    beacons.push({ cip: client4[ri(0, NCLIENT4 - 1)], sip: server4[ri(NSERVER4 - 500, NSERVER4 - 1)], period, next: START_TS + rnd() * period });
  }

  const spawn = (t: number): Session => {
    const r = rnd();
    if (r < 0.47) return tcpSession(t, 'sf', rnd() < 0.12);
    if (r < 0.5) return tcpSession(t, 'rsto', rnd() < 0.12);
    if (r < 0.53) return tcpSession(t, 'rstr', rnd() < 0.12);
    if (r < 0.57) return tcpSession(t, 's0', false);
    if (r < 0.6) return tcpSession(t, 'rej', false);
    if (r < 0.9) return dnsSession(t, rnd() < 0.12);
    if (r < 0.94) return ntpSession(t);
    return icmpSession(t);
  };

  // ---- writing ----
  const fd = openSync(file, 'w');
  const out = Buffer.allocUnsafe(OUT_SIZE);
  let pos = 0;
  let bytes = 0;
  out.writeUInt32LE(0xa1b2c3d4, 0);
  out.writeUInt16LE(2, 4);
  out.writeUInt16LE(4, 6);
  out.writeInt32LE(0, 8);
  out.writeUInt32LE(0, 12);
  out.writeUInt32LE(65535, 16);
  out.writeUInt32LE(1, 20);
  pos = 24;

  const flush = () => {
    let off = 0;
    while (off < pos) off += writeSync(fd, out, off, pos - off);
    bytes += pos;
    pos = 0;
  };

  const w16 = (o: number, v: number) => {
    out[o] = v >>> 8;
    out[o + 1] = v & 0xff;
  };
  const w32 = (o: number, v: number) => {
    out[o] = v >>> 24;
    out[o + 1] = (v >>> 16) & 0xff;
    out[o + 2] = (v >>> 8) & 0xff;
    out[o + 3] = v & 0xff;
  };
  const wmac = (o: number, m: number) => {
    const hi = Math.floor(m / 4294967296);
    w16(o, hi);
    w32(o + 2, m >>> 0);
  };

  let flows = 0;
  let packets = 0;

  const emit = (s: Session): void => {
    const p = s.p;
    const k = s.i * F;
    const t = p[k];
    const dir = p[k + 1];
    const flags = p[k + 2];
    const plen = p[k + 3];
    const pidx = p[k + 6];
    if (pos + 1700 > OUT_SIZE) flush();
    const rec = pos;
    let o = rec + 16;
    // Ethernet (+ 802.1Q).
    wmac(o, dir === 0 ? s.smac : s.cmac);
    wmac(o + 6, dir === 0 ? s.cmac : s.smac);
    o += 12;
    if (s.vlan >= 0) {
      w16(o, 0x8100);
      w16(o + 2, s.vlan);
      o += 4;
    }
    w16(o, s.v6 ? 0x86dd : 0x0800);
    o += 2;
    const ip = o;
    const l4hdr = s.proto === P_TCP ? (flags & SYN ? 24 : 20) : 8;
    const l4len = l4hdr + plen;
    const srcW = dir === 0 ? s.cip : s.sip;
    const dstW = dir === 0 ? s.sip : s.cip;
    let pseudo: number;
    if (s.v6) {
      w32(ip, 0x60000000 | (s.cport & 0xfffff));
      w16(ip + 4, l4len);
      out[ip + 6] = s.proto;
      out[ip + 7] = dir === 0 ? s.ttlC : s.ttlS;
      const sp = dir === 0 ? s.c6 : s.s6;
      const dp = dir === 0 ? s.s6 : s.c6;
      for (let j = 0; j < 3; j++) {
        w32(ip + 8 + 4 * j, sp[j]);
        w32(ip + 24 + 4 * j, dp[j]);
      }
      w32(ip + 20, srcW);
      w32(ip + 36, dstW);
      o = ip + 40;
      pseudo = sum16(out, ip + 8, 32, 0) + l4len + s.proto;
    } else {
      const ipId = dir === 0 ? (s.ipIdC = (s.ipIdC + 1) & 0xffff) : (s.ipIdS = (s.ipIdS + 1) & 0xffff);
      out[ip] = 0x45;
      out[ip + 1] = 0;
      w16(ip + 2, 20 + l4len);
      w16(ip + 4, ipId);
      w16(ip + 6, s.proto === P_TCP ? 0x4000 : 0);
      out[ip + 8] = dir === 0 ? s.ttlC : s.ttlS;
      out[ip + 9] = s.proto;
      out[ip + 10] = 0;
      out[ip + 11] = 0;
      w32(ip + 12, srcW);
      w32(ip + 16, dstW);
      w16(ip + 10, ~fold(sum16(out, ip, 20, 0)) & 0xffff);
      o = ip + 20;
      pseudo = s.proto === P_ICMP ? 0 : sum16(out, ip + 12, 8, 0) + l4len + s.proto;
    }
    const l4 = o;
    const sp = dir === 0 ? s.cport : s.sport;
    const dp = dir === 0 ? s.sport : s.cport;
    if (s.proto === P_TCP) {
      w16(l4, sp);
      w16(l4 + 2, dp);
      w32(l4 + 4, p[k + 4]);
      w32(l4 + 8, p[k + 5]);
      w16(l4 + 12, ((l4hdr / 4) << 12) | flags);
      w16(l4 + 14, flags & RST ? 0 : s.window);
      w32(l4 + 16, 0);
      if (l4hdr === 24) w32(l4 + 20, 0x020405b4); // MSS 1460
    } else if (s.proto === P_UDP) {
      w16(l4, sp);
      w16(l4 + 2, dp);
      w16(l4 + 4, l4len);
      w16(l4 + 6, 0);
    } else {
      out[l4] = flags; // ICMP type
      out[l4 + 1] = 0;
      w16(l4 + 2, 0);
      w16(l4 + 4, s.cport);
      w16(l4 + 6, p[k + 4]);
    }
    const pay = l4 + l4hdr;
    let paySum: number;
    if (plen === 0) {
      paySum = 0;
    } else if (pidx >= 0) {
      const src = s.payloads[pidx];
      src.copy(out, pay);
      paySum = sum16(src, 0, plen, 0);
    } else {
      const off = 2 * Math.floor(rnd() * ((POOL_SIZE - MSS - 2) / 2));
      pool.copy(out, pay, off, off + plen);
      const words = plen >> 1;
      paySum = prefix[(off >> 1) + words] - prefix[off >> 1];
      if (plen & 1) paySum += pool[off + plen - 1] << 8;
    }
    let sum = pseudo + sum16(out, l4, l4hdr, 0) + foldF(paySum);
    sum = ~fold(sum) & 0xffff;
    if (s.proto === P_UDP && sum === 0) sum = 0xffff;
    w16(l4 + (s.proto === P_TCP ? 16 : s.proto === P_UDP ? 6 : 2), sum);
    let end = pay + plen;
    const frame = end - (rec + 16);
    if (frame < 60) {
      out.fill(0, end, rec + 16 + 60);
      end = rec + 16 + 60;
    }
    const len = end - (rec + 16);
    const sec = Math.floor(t);
    out.writeUInt32LE(sec, rec);
    out.writeUInt32LE(Math.floor((t - sec) * 1e6), rec + 4);
    out.writeUInt32LE(len, rec + 8);
    out.writeUInt32LE(len, rec + 12);
    pos = end;
    packets++;
    if (!s.started) {
      s.started = true;
      flows++;
    }
  };

  const heap = new Heap();
  let nextArrival = START_TS;
  let nextBeacon = Math.min(...beacons.map((b) => b.next));
  while (packets < target) {
    const top = heap.size > 0 ? heap.top().t : Number.POSITIVE_INFINITY;
    if (nextBeacon <= top && nextBeacon <= nextArrival) {
      for (const b of beacons) {
        if (b.next === nextBeacon) {
          heap.push(tcpSession(b.next, 'sf', false, b));
          b.next += b.period * (0.9 + 0.2 * rnd());
        }
      }
      nextBeacon = Math.min(...beacons.map((b) => b.next));
      continue;
    }
    if (nextArrival <= top) {
      heap.push(spawn(nextArrival));
      nextArrival += -Math.log(1 - rnd()) / ARRIVALS_PER_SEC;
      continue;
    }
    const s = heap.top();
    emit(s);
    s.i++;
    if (s.i * F < s.p.length) {
      s.t = s.p[s.i * F];
      heap.siftTop();
    } else {
      heap.pop();
    }
  }
  flush();
  closeSync(fd);
  return { packets, bytes, flows };
}

function sum16(b: Uint8Array, start: number, len: number, sum: number): number {
  const end = start + (len & ~1);
  for (let i = start; i < end; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (len & 1) sum += b[end] << 8;
  return sum;
}

/** Folds a non-negative sum below 2^32 to 16 bits. */
function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Folds a non-negative sum of any size (a double) to 16 bits. */
function foldF(sum: number): number {
  while (sum > 0xffff) sum = (sum % 65536) + Math.floor(sum / 65536);
  return sum;
}

function badPublic(a: number): boolean {
  const o1 = a >>> 24;
  const o2 = (a >>> 16) & 0xff;
  return (
    o1 === 0 || o1 === 10 || o1 === 127 || o1 >= 224 || (o1 === 169 && o2 === 254) || (o1 === 172 && o2 >= 16 && o2 < 32) ||
    (o1 === 192 && o2 === 168) || (o1 === 100 && o2 >= 64 && o2 < 128)
  );
}

function dnsMessage(id: number, name: string, aaaa: boolean, answer: boolean, addr: number): Buffer {
  const labels = name.split('.');
  const qlen = labels.reduce((n, l) => n + 1 + l.length, 1) + 4;
  const alen = answer ? 12 + (aaaa ? 16 : 4) : 0;
  const b = Buffer.alloc(12 + qlen + alen);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(answer ? 0x8180 : 0x0100, 2);
  b.writeUInt16BE(1, 4);
  b.writeUInt16BE(answer ? 1 : 0, 6);
  let o = 12;
  for (const l of labels) {
    b[o++] = l.length;
    o += b.write(l, o, 'latin1');
  }
  b[o++] = 0;
  b.writeUInt16BE(aaaa ? 28 : 1, o);
  b.writeUInt16BE(1, o + 2);
  o += 4;
  if (answer) {
    b.writeUInt16BE(0xc00c, o);
    b.writeUInt16BE(aaaa ? 28 : 1, o + 2);
    b.writeUInt16BE(1, o + 4);
    b.writeUInt32BE(300, o + 6);
    b.writeUInt16BE(aaaa ? 16 : 4, o + 10);
    o += 12;
    if (aaaa) {
      b.writeUInt32BE(0x20010db8, o);
      b.writeUInt32BE(addr, o + 12);
    } else {
      b.writeUInt32BE(addr, o);
    }
  }
  return b;
}
