// Packet decoder: every link type and encapsulation built byte by byte, exact decoded values,
// truncation at every byte offset, checksums, address formatting, and no allocation per packet.

import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import {
  MAX_LAYERS,
  Reason,
  Tunnel,
  checksumOk,
  createDecodeResult,
  decodePacket,
  formatIPv4,
  formatIPv6,
  formatLayerAddr,
  ipChecksumOk,
  isV4Mapped,
  type DecodeResult,
} from '../../../collectors/pcap/decode.js';

// ---------------------------------------------------------------------------------------------
// Byte builders

type B = number[];
const be16 = (n: number): B => [(n >>> 8) & 255, n & 255];
const be32 = (n: number): B => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
const le16 = (n: number): B => [n & 255, (n >>> 8) & 255];
const le32 = (n: number): B => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255];
const fill = (n: number, v = 0): B => new Array<number>(n).fill(v);

function v4(a: string): B {
  return a.split('.').map(Number);
}
function u32of(a: string): number {
  const b = v4(a);
  return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
}
function v6(a: string): B {
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...fill(8 - h.length - t.length).map(() => '0'), ...t];
  return groups.flatMap((g) => be16(parseInt(g, 16)));
}
function words6(a: string): number[] {
  const b = v6(a);
  return [0, 1, 2, 3].map((i) => ((b[4 * i] << 24) | (b[4 * i + 1] << 16) | (b[4 * i + 2] << 8) | b[4 * i + 3]) >>> 0);
}

/** Ones' complement checksum over bytes (returns the value to store). */
function csum(bytes: B): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i] << 8) | (bytes[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

const CSUM_AT: Record<number, number> = { 6: 16, 17: 6, 1: 2, 58: 2 };

function putCsum(seg: B, at: number, pseudo: B): void {
  seg[at] = 0;
  seg[at + 1] = 0;
  const c = csum([...pseudo, ...seg]);
  seg[at] = c >>> 8;
  seg[at + 1] = c & 255;
}

function tcp(sport: number, dport: number, seq: number, ack: number, flags: number, win: number, payload: B = [], opts: B = []): B {
  const off = (20 + opts.length) / 4;
  return [...be16(sport), ...be16(dport), ...be32(seq), ...be32(ack), off << 4, flags, ...be16(win), 0, 0, 0, 0, ...opts, ...payload];
}
function udp(sport: number, dport: number, payload: B = []): B {
  return [...be16(sport), ...be16(dport), ...be16(8 + payload.length), 0, 0, ...payload];
}
function icmp(type: number, code: number, rest: B = [0, 1, 0, 1]): B {
  return [type, code, 0, 0, ...rest];
}
function sctp(sport: number, dport: number): B {
  return [...be16(sport), ...be16(dport), ...be32(0x01020304), ...be32(0), 1, 0, 0, 4];
}

interface Ip4Opts {
  ttl?: number;
  id?: number;
  df?: boolean;
  mf?: boolean;
  fragOff?: number;
  options?: B;
  noL4Csum?: boolean;
}
function ipv4(src: string, dst: string, proto: number, l4: B, o: Ip4Opts = {}): B {
  const opts = o.options ?? [];
  const ihl = (20 + opts.length) / 4;
  const total = 20 + opts.length + l4.length;
  const ff = (o.df ? 0x4000 : 0) | (o.mf ? 0x2000 : 0) | ((o.fragOff ?? 0) / 8);
  const seg = [...l4];
  if (!o.noL4Csum && !o.mf && !o.fragOff && CSUM_AT[proto] !== undefined && seg.length >= CSUM_AT[proto] + 2) {
    const pseudo = proto === 1 ? [] : [...v4(src), ...v4(dst), 0, proto, ...be16(seg.length)];
    putCsum(seg, CSUM_AT[proto], pseudo);
  }
  const h = [0x40 | ihl, 0, ...be16(total), ...be16(o.id ?? 0x1234), ...be16(ff), o.ttl ?? 64, proto, 0, 0, ...v4(src), ...v4(dst), ...opts];
  const c = csum(h);
  h[10] = c >>> 8;
  h[11] = c & 255;
  return [...h, ...seg];
}

interface Ip6Opts {
  hlim?: number;
  /** Protocol and offset (in body) of the transport header whose checksum to fill. */
  l4Proto?: number;
  l4Off?: number;
  finalDst?: string;
}
function ipv6(src: string, dst: string, next: number, body: B, o: Ip6Opts = {}): B {
  const b = [...body];
  const l4Proto = o.l4Proto ?? next;
  const l4Off = o.l4Off ?? 0;
  const at = CSUM_AT[l4Proto];
  if (at !== undefined && l4Proto !== 1 && b.length >= l4Off + at + 2) {
    const seg = b.slice(l4Off);
    putCsum(seg, at, [...v6(src), ...v6(o.finalDst ?? dst), ...be32(seg.length), 0, 0, 0, l4Proto]);
    b.splice(l4Off, seg.length, ...seg);
  }
  return [0x60, 0, 0, 0, ...be16(b.length), next, o.hlim ?? 64, ...v6(src), ...v6(dst), ...b];
}
const hbh = (next: number): B => [next, 0, 1, 4, 0, 0, 0, 0];
const dstopts = (next: number): B => [next, 0, 1, 4, 0, 0, 0, 0];
const routing = (next: number, type: number, segLeft: number, addr: string): B => [next, 2, type, segLeft, 0, 0, 0, 0, ...v6(addr)];
const frag6 = (next: number, off: number, m: boolean, id: number): B => [next, 0, ...be16(off | (m ? 1 : 0)), ...be32(id)];
const ah = (next: number): B => [next, 1, 0, 0, ...be32(0x100), ...be32(1)];

const MAC_A = [0, 1, 2, 3, 4, 5];
const MAC_B = [0, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e];
function eth(type: number, payload: B, vlans: [number, number][] = []): B {
  // each tag is [TPID, TCI]; the final ethertype follows the last tag
  const tags = vlans.flatMap(([tpid, tci]) => [...be16(tpid), ...be16(tci)]);
  return [...MAC_A, ...MAC_B, ...tags, ...be16(type), ...payload];
}
const sll = (proto: number, payload: B): B => [0, 0, 0, 1, 0, 6, ...MAC_A, 0, 0, ...be16(proto), ...payload];
const sll2 = (proto: number, payload: B): B => [...be16(proto), 0, 0, ...be32(2), 0, 1, 0, 6, ...MAC_A, 0, 0, ...payload];
const mpls = (labels: number[], payload: B): B => [
  ...labels.flatMap((l, i) => be32(((l << 12) | (i === labels.length - 1 ? 0x100 : 0) | 64) >>> 0)),
  ...payload,
];
const pppoe = (session: number, proto: number, payload: B): B => [0x11, 0, ...be16(session), ...be16(payload.length + 2), ...be16(proto), ...payload];
const snap = (type: number): B => [0xaa, 0xaa, 0x03, 0, 0, 0, ...be16(type)];

interface WifiOpts {
  subtype?: number;
  type?: number;
  toDs?: boolean;
  fromDs?: boolean;
  prot?: boolean;
  order?: boolean;
  amsdu?: boolean;
}
function wifi(o: WifiOpts, payload: B): B {
  const subtype = o.subtype ?? 0;
  const fc0 = (subtype << 4) | ((o.type ?? 2) << 2);
  const fc1 = (o.toDs ? 1 : 0) | (o.fromDs ? 2 : 0) | (o.prot ? 0x40 : 0) | (o.order ? 0x80 : 0);
  const h = [fc0, fc1, 0, 0, ...MAC_A, ...MAC_B, ...MAC_A, 0x10, 0];
  if (o.toDs && o.fromDs) h.push(...MAC_B);
  if (subtype & 8) h.push(o.amsdu ? 0x80 : 0, 0);
  if (subtype & 8 && o.order) h.push(0xde, 0xad, 0xbe, 0xef);
  return [...h, ...payload];
}
function radiotap(frame: B): B {
  // version 0, pad, length 12 (LE), present = flags|rate (LE), flags, rate, 2 bytes pad
  return [0, 0, ...le16(12), ...le32(0x6), 0x00, 0x02, 0, 0, ...frame];
}

function gre(flags: number, proto: number, fields: B, payload: B): B {
  return [...be16(flags), ...be16(proto), ...fields, ...payload];
}
const vxlan = (vni: number, frame: B, flags = 0x08): B => [flags, 0, 0, 0, ...be32(vni << 8), ...frame];
const geneve = (vni: number, ptype: number, opts: B, payload: B): B => [opts.length / 4, 0, ...be16(ptype), ...be32(vni << 8), ...opts, ...payload];
function gtpu(teid: number, payload: B, ext: B[] = [], type = 0xff): B {
  const hasOpt = ext.length > 0;
  const flags = 0x30 | (hasOpt ? 0x04 | 0x02 : 0);
  const opt: B = hasOpt ? [0, 7, 0, ext.length > 0 ? 0x85 : 0] : [];
  const exts = ext.flatMap((e, i) => [...e.slice(0, -1), i === ext.length - 1 ? 0 : 0x85]);
  const body = [...opt, ...exts, ...payload];
  return [flags, type, ...be16(body.length), ...be32(teid), ...body];
}

let r: DecodeResult = createDecodeResult();
function dec(link: number, bytes: B, caplen = bytes.length, origLen = bytes.length): DecodeResult {
  r = createDecodeResult();
  decodePacket(r, link, Uint8Array.from(bytes), 0, caplen, origLen);
  return r;
}

const TCP_PKT = ipv4('10.0.0.1', '192.168.1.20', 6, tcp(49152, 443, 0xfffffff0, 0x80000001, 0x18, 501, [1, 2, 3, 4, 5]), {
  ttl: 63,
  id: 0xbeef,
  df: true,
});

// ---------------------------------------------------------------------------------------------

describe('Ethernet / IPv4 / transport', () => {
  it('decodes Ethernet IPv4 TCP exactly', () => {
    const x = dec(1, eth(0x0800, TCP_PKT));
    expect(x.reason).toBe(Reason.OK);
    expect(x.depth).toBe(1);
    const L = x.layers[0];
    expect(L.version).toBe(4);
    expect(L.src4).toBe(u32of('10.0.0.1'));
    expect(L.dst4).toBe(u32of('192.168.1.20'));
    expect(formatLayerAddr(L, 'src')).toBe('10.0.0.1');
    expect(formatLayerAddr(L, 'dst')).toBe('192.168.1.20');
    expect(L).toMatchObject({
      proto: 6,
      ttl: 63,
      ipOffset: 14,
      ipHeaderLen: 20,
      ipTotalLen: 45,
      fragId: 0xbeef,
      dontFragment: true,
      isFragment: false,
      srcPort: 49152,
      dstPort: 443,
      seq: 0xfffffff0,
      ack: 0x80000001,
      tcpFlags: 0x18,
      window: 501,
      tcpHeaderLen: 20,
      l4Offset: 34,
      l4Len: 25,
      payloadOffset: 54,
      payloadLen: 5,
      transportComplete: true,
      tunnel: Tunnel.NONE,
      vlan: -1,
      icmpType: -1,
    });
    expect(x.vlan).toBe(-1);
    expect(checksumOk(x, 0)).toBe(true);
    expect(ipChecksumOk(x, 0)).toBe(true);
  });

  it('decodes at an offset inside a larger Buffer, ignoring bytes past caplen', () => {
    const frame = eth(0x0800, TCP_PKT);
    const buf = Buffer.alloc(frame.length + 20, 0xee);
    Buffer.from(frame).copy(buf, 7);
    const x = createDecodeResult();
    expect(decodePacket(x, 1, buf, 7, frame.length, frame.length)).toBe(true);
    expect(x.layers[0].dstPort).toBe(443);
    expect(checksumOk(x, 0)).toBe(true);
    // offset out of range: a reason, no throw
    expect(decodePacket(x, 1, buf, buf.length + 5, 10, 10)).toBe(false);
    expect(x.reason).toBe(Reason.TRUNCATED_LINK);
  });

  it('skips IPv4 options and keeps Ethernet padding out of the lengths', () => {
    const p = ipv4('1.2.3.4', '5.6.7.8', 17, udp(5353, 53, [9, 9, 9]), { options: [0x94, 4, 0, 0] });
    const x = dec(1, [...eth(0x0800, p), ...fill(20)]);
    expect(x.reason).toBe(Reason.OK);
    expect(x.layers[0]).toMatchObject({ ipHeaderLen: 24, ipTotalLen: 35, proto: 17, srcPort: 5353, dstPort: 53, udpLength: 11, payloadLen: 3, l4Len: 11 });
    expect(checksumOk(x, 0)).toBe(true);
    expect(ipChecksumOk(x, 0)).toBe(true);
  });

  it('rejects bad IPv4 header lengths and versions', () => {
    const p = [...TCP_PKT];
    p[0] = 0x44;
    expect(dec(101, p).reason).toBe(Reason.BAD_IP_HEADER_LEN);
    const q = [...TCP_PKT];
    q[2] = 0;
    q[3] = 16; // total length < header length
    expect(dec(101, q).reason).toBe(Reason.BAD_IP_HEADER_LEN);
    const v = [...TCP_PKT];
    v[0] = 0x55;
    expect(dec(101, v).reason).toBe(Reason.BAD_IP_VERSION);
  });

  it('flags a wire length shorter than the IP total length (Zeek truncated_IP_len)', () => {
    const frame = eth(0x0800, TCP_PKT);
    const x = dec(1, frame, frame.length - 2, frame.length - 2);
    expect(x.reason).toBe(Reason.TRUNCATED_IP_LEN);
    expect(x.reasonLayer).toBe(0);
    expect(x.depth).toBe(0);
    // snaplen cut (wire length intact) is fine: headers decoded, payload partly captured
    const y = dec(1, frame, frame.length - 2, frame.length);
    expect(y.reason).toBe(Reason.OK);
    expect(y.layers[0]).toMatchObject({ payloadLen: 5, l4Captured: 23, transportComplete: true });
    expect(checksumOk(y, 0)).toBe(true); // cannot be verified
  });

  it('uses the captured length when the IPv4 total length is 0 (offload)', () => {
    const p = [...TCP_PKT];
    p[2] = 0;
    p[3] = 0;
    const x = dec(101, p);
    expect(x.reason).toBe(Reason.OK);
    expect(x.layers[0].ipTotalLen).toBe(45);
  });

  it('maps ICMP type/code to ports as Zeek does', () => {
    const cases: [number, number, number, number, boolean][] = [
      [8, 0, 8, 0, false],
      [0, 0, 0, 8, false],
      [13, 0, 13, 14, false],
      [10, 0, 10, 9, false],
      [17, 0, 17, 18, false],
      [3, 1, 3, 1, true],
      [11, 0, 11, 0, true],
    ];
    for (const [type, code, sp, dp, oneWay] of cases) {
      const x = dec(101, ipv4('10.1.1.1', '10.1.1.2', 1, icmp(type, code, [0, 7, 0, 1, 0xaa, 0xbb])));
      expect(x.reason).toBe(Reason.OK);
      expect(x.layers[0]).toMatchObject({ proto: 1, icmpType: type, icmpCode: code, srcPort: sp, dstPort: dp, icmpOneWay: oneWay, payloadLen: 2 });
      expect(checksumOk(x, 0)).toBe(true);
    }
  });

  it('decodes SCTP ports and unknown IP protocols', () => {
    const s = dec(101, ipv4('10.0.0.1', '10.0.0.2', 132, sctp(36412, 38412)));
    expect(s.layers[0]).toMatchObject({ proto: 132, srcPort: 36412, dstPort: 38412, payloadLen: 4, transportComplete: true });
    const u = dec(101, ipv4('10.0.0.1', '10.0.0.2', 253, [1, 2, 3, 4, 5, 6]));
    expect(u.reason).toBe(Reason.OK);
    expect(u.layers[0]).toMatchObject({ proto: 253, srcPort: 0, dstPort: 0, payloadLen: 6, transportComplete: true });
  });

  it('records IPv4 fragment fields; later fragments have no transport header', () => {
    const first = dec(101, ipv4('10.0.0.1', '10.0.0.2', 17, udp(1000, 2000, fill(16)).slice(0, 16), { id: 77, mf: true }));
    expect(first.reason).toBe(Reason.OK);
    expect(first.layers[0]).toMatchObject({ isFragment: true, laterFragment: false, moreFragments: true, fragOffset: 0, fragId: 77, srcPort: 1000, dstPort: 2000, transportComplete: true });
    expect(checksumOk(first, 0)).toBe(true); // fragments are not verified
    const later = dec(101, ipv4('10.0.0.1', '10.0.0.2', 17, fill(8, 1), { id: 77, fragOff: 16 }));
    expect(later.reason).toBe(Reason.OK);
    expect(later.layers[0]).toMatchObject({ isFragment: true, laterFragment: true, moreFragments: false, fragOffset: 16, fragId: 77, srcPort: 0, transportComplete: false, l4Len: 8 });
  });

  it('reports unknown link types and non-IP ethertypes', () => {
    expect(dec(9999, TCP_PKT).reason).toBe(Reason.UNKNOWN_LINK_TYPE);
    const arp = dec(1, eth(0x0806, fill(28)));
    expect(arp.reason).toBe(Reason.NOT_IP);
    expect(arp.etherType).toBe(0x0806);
    // 802.3 + LLC/SNAP carrying IPv4
    const llc = [...MAC_A, ...MAC_B, ...be16(TCP_PKT.length + 8), ...snap(0x0800), ...TCP_PKT];
    expect(dec(1, llc).layers[0].dstPort).toBe(443);
    const stp = [...MAC_A, ...MAC_B, ...be16(38), 0x42, 0x42, 0x03, ...fill(35)];
    expect(dec(1, stp).reason).toBe(Reason.UNSUPPORTED_LINK);
  });
});

describe('VLAN, MPLS, PPPoE', () => {
  it('decodes 802.1Q, 802.1ad QinQ and deeper stacks', () => {
    const one = dec(1, eth(0x0800, TCP_PKT, [[0x8100, 0x2000 | 100]]));
    expect(one.reason).toBe(Reason.OK);
    expect([one.vlan, one.innerVlan, one.vlanCount]).toEqual([100, -1, 1]);
    expect(one.layers[0].vlan).toBe(100);
    const qinq = dec(1, eth(0x0800, TCP_PKT, [[0x88a8, 10], [0x8100, 0xe000 | 20]]));
    expect([qinq.vlan, qinq.innerVlan, qinq.vlanCount]).toEqual([10, 20, 2]);
    expect(qinq.layers[0]).toMatchObject({ vlan: 10, innerVlan: 20, dstPort: 443, ipOffset: 22 });
    const three = dec(1, eth(0x86dd, ipv6('2001:db8::1', '2001:db8::2', 17, udp(1, 2)), [[0x9100, 1], [0x8100, 2], [0x8100, 3]]));
    expect([three.vlan, three.innerVlan, three.vlanCount]).toEqual([1, 2, 3]);
    expect(three.layers[0].version).toBe(6);
  });

  it('skips MPLS label stacks and guesses the IP version', () => {
    const x = dec(1, eth(0x8847, mpls([1000, 2000], TCP_PKT), [[0x8100, 5]]));
    expect(x.reason).toBe(Reason.OK);
    expect([x.mplsCount, x.mplsLabel, x.vlan]).toEqual([2, 1000, 5]);
    expect(x.layers[0]).toMatchObject({ version: 4, dstPort: 443, ipOffset: 26 });
    const y = dec(1, eth(0x8847, mpls([16], ipv6('fe80::1', 'ff02::1', 58, icmp(135, 0, fill(20))))));
    expect(y.layers[0]).toMatchObject({ version: 6, proto: 58, srcPort: 135, dstPort: 136 });
    expect(dec(1, eth(0x8847, mpls([16], [0x20, ...fill(30)]))).reason).toBe(Reason.BAD_IP_VERSION);
  });

  it('decodes PPPoE sessions with IPv4 and IPv6', () => {
    const x = dec(1, eth(0x8864, pppoe(0x1234, 0x0021, TCP_PKT)));
    expect(x.reason).toBe(Reason.OK);
    expect(x.pppoeSession).toBe(0x1234);
    expect(x.layers[0]).toMatchObject({ dstPort: 443, ipOffset: 22 });
    const y = dec(1, eth(0x8864, pppoe(7, 0x0057, ipv6('2001:db8::1', '2001:db8::2', 6, tcp(1, 2, 3, 4, 2, 5))), [[0x8100, 9]]));
    expect(y.layers[0]).toMatchObject({ version: 6, srcPort: 1, dstPort: 2, tcpFlags: 2, vlan: 9 });
    expect(checksumOk(y, 0)).toBe(true);
    const lcp = dec(1, eth(0x8864, pppoe(7, 0xc021, fill(10))));
    expect(lcp.reason).toBe(Reason.NOT_IP);
    expect(lcp.etherType).toBe(0xc021);
  });
});

describe('other link types', () => {
  const P6 = ipv6('2001:db8::a', '2001:db8::b', 17, udp(5000, 5001, [1, 2]));
  it('raw IP (101, 12, 14, 228, 229)', () => {
    for (const lt of [101, 12, 14, 228]) expect(dec(lt, TCP_PKT).layers[0].dstPort).toBe(443);
    for (const lt of [101, 229]) expect(dec(lt, P6).layers[0]).toMatchObject({ version: 6, dstPort: 5001 });
  });
  it('Linux SLL and SLL2', () => {
    expect(dec(113, sll(0x0800, TCP_PKT)).layers[0]).toMatchObject({ ipOffset: 16, dstPort: 443 });
    expect(dec(113, sll(0x86dd, P6)).layers[0]).toMatchObject({ version: 6, dstPort: 5001 });
    expect(dec(276, sll2(0x0800, TCP_PKT)).layers[0]).toMatchObject({ ipOffset: 20, dstPort: 443 });
    expect(dec(276, sll2(0x8100, [...be16(42), ...be16(0x86dd), ...P6]))).toMatchObject({ vlan: 42 });
    expect(dec(113, sll(0x0800, TCP_PKT).slice(0, 10)).reason).toBe(Reason.TRUNCATED_LINK);
  });
  it('BSD NULL (either byte order) and OpenBSD LOOP', () => {
    expect(dec(0, [...le32(2), ...TCP_PKT]).layers[0].dstPort).toBe(443);
    expect(dec(0, [...be32(2), ...TCP_PKT]).layers[0].dstPort).toBe(443);
    for (const fam of [24, 28, 30]) expect(dec(0, [...le32(fam), ...P6]).layers[0].version).toBe(6);
    expect(dec(108, [...be32(24), ...P6]).layers[0].version).toBe(6);
    expect(dec(108, [...be32(2), ...TCP_PKT]).layers[0].version).toBe(4);
    expect(dec(0, [...le32(7), ...TCP_PKT]).reason).toBe(Reason.NOT_IP);
  });
  it('802.11 with radiotap: data, QoS, HT control, 4 addresses', () => {
    const plain = dec(127, radiotap(wifi({ toDs: true }, [...snap(0x0800), ...TCP_PKT])));
    expect(plain.reason).toBe(Reason.OK);
    expect(plain.layers[0]).toMatchObject({ ipOffset: 12 + 24 + 8, dstPort: 443 });
    const qos = dec(127, radiotap(wifi({ subtype: 8, fromDs: true }, [...snap(0x86dd), ...P6])));
    expect(qos.layers[0]).toMatchObject({ ipOffset: 12 + 26 + 8, version: 6, dstPort: 5001 });
    const htc = dec(127, radiotap(wifi({ subtype: 8, order: true }, [...snap(0x0800), ...TCP_PKT])));
    expect(htc.layers[0]).toMatchObject({ ipOffset: 12 + 30 + 8, dstPort: 443 });
    const wds = dec(127, radiotap(wifi({ subtype: 8, toDs: true, fromDs: true }, [...snap(0x0800), ...TCP_PKT])));
    expect(wds.layers[0]).toMatchObject({ ipOffset: 12 + 32 + 8, dstPort: 443 });
    expect(checksumOk(wds, 0)).toBe(true);
    // plain 802.11 (105), no radiotap
    expect(dec(105, wifi({}, [...snap(0x0800), ...TCP_PKT])).layers[0].dstPort).toBe(443);
  });
  it('802.11: protected, management, null and A-MSDU frames are not decoded', () => {
    expect(dec(127, radiotap(wifi({ prot: true }, fill(60)))).reason).toBe(Reason.PROTECTED_FRAME);
    expect(dec(127, radiotap(wifi({ subtype: 8, prot: true }, fill(60)))).reason).toBe(Reason.PROTECTED_FRAME);
    expect(dec(127, radiotap(wifi({ type: 0, subtype: 8 }, fill(60)))).reason).toBe(Reason.NOT_DATA_FRAME);
    expect(dec(127, radiotap(wifi({ subtype: 4 }, fill(10)))).reason).toBe(Reason.NOT_DATA_FRAME);
    expect(dec(127, radiotap(wifi({ subtype: 12 }, fill(10)))).reason).toBe(Reason.NOT_DATA_FRAME);
    expect(dec(127, radiotap(wifi({ subtype: 8, amsdu: true }, fill(60)))).reason).toBe(Reason.UNSUPPORTED_LINK);
    expect(dec(127, radiotap(wifi({}, [0xf0, 0xf0, 3, ...fill(40)]))).reason).toBe(Reason.UNSUPPORTED_LINK);
    const arp = dec(127, radiotap(wifi({}, [...snap(0x0806), ...fill(28)])));
    expect([arp.reason, arp.etherType]).toEqual([Reason.NOT_IP, 0x0806]);
  });
});

describe('IPv6', () => {
  it('walks extension header chains (hop-by-hop, routing, destination options, AH)', () => {
    const seg = tcp(40000, 22, 1, 0, 0x02, 64240);
    const ext = [...hbh(43), ...routing(60, 2, 1, '2001:db8::99'), ...dstopts(51), ...ah(6)];
    const p = ipv6('2001:db8::1', '2001:db8::2', 0, [...ext, ...seg], { l4Proto: 6, l4Off: ext.length, finalDst: '2001:db8::99', hlim: 3 });
    const x = dec(1, eth(0x86dd, p));
    expect(x.reason).toBe(Reason.OK);
    const L = x.layers[0];
    expect(L).toMatchObject({ version: 6, proto: 6, ttl: 3, ipHeaderLen: 40 + 8 + 24 + 8 + 12, ipTotalLen: 40 + ext.length + 20, srcPort: 40000, dstPort: 22, tcpFlags: 2, routed: true, isFragment: false });
    expect(Array.from(L.src6)).toEqual(words6('2001:db8::1'));
    expect(Array.from(L.dst6)).toEqual(words6('2001:db8::99'));
    expect(formatLayerAddr(L, 'dst')).toBe('2001:db8::99');
    expect(checksumOk(x, 0)).toBe(true);
  });

  it('stops at ESP and no-next-header', () => {
    const esp = dec(229, ipv6('2001:db8::1', '2001:db8::2', 0, [...hbh(50), ...fill(16, 1)]));
    expect(esp.layers[0]).toMatchObject({ proto: 50, ipHeaderLen: 48, payloadLen: 16, transportComplete: true });
    const none = dec(229, ipv6('2001:db8::1', '2001:db8::2', 60, [...dstopts(59)]));
    expect(none.reason).toBe(Reason.OK);
    expect(none.layers[0]).toMatchObject({ proto: 59, ipHeaderLen: 48, payloadLen: 0 });
  });

  it('records fragment headers; later fragments have no transport header', () => {
    const u = udp(53, 33333, fill(40, 7));
    const first = dec(229, ipv6('2001:db8::1', '2001:db8::2', 0, [...hbh(44), ...frag6(17, 0, true, 0xdeadbeef), ...u.slice(0, 24)]));
    expect(first.reason).toBe(Reason.OK);
    expect(first.layers[0]).toMatchObject({ isFragment: true, laterFragment: false, moreFragments: true, fragOffset: 0, fragId: 0xdeadbeef, fragHeaderOffset: 48, proto: 17, srcPort: 53, dstPort: 33333 });
    const later = dec(229, ipv6('2001:db8::1', '2001:db8::2', 44, [...frag6(17, 24, false, 0xdeadbeef), ...u.slice(24)]));
    expect(later.layers[0]).toMatchObject({ isFragment: true, laterFragment: true, moreFragments: false, fragOffset: 24, fragHeaderOffset: 40, proto: 17, srcPort: 0, transportComplete: false });
  });

  it('rejects extension headers running past the payload length', () => {
    const p = ipv6('2001:db8::1', '2001:db8::2', 0, [0, 4, 0, 0, 0, 0, 0, 0]);
    expect(dec(229, p).reason).toBe(Reason.BAD_IP_HEADER_LEN);
  });

  it('maps ICMPv6 types like Zeek', () => {
    const cases: [number, number, number][] = [
      [128, 128, 129],
      [129, 129, 128],
      [133, 133, 134],
      [136, 136, 135],
      [130, 130, 131],
      [139, 139, 140],
      [144, 144, 145],
      [1, 1, 4],
    ];
    for (const [type, sp, dp] of cases) {
      const x = dec(229, ipv6('fe80::1', 'fe80::2', 58, icmp(type, type === 1 ? 4 : 0, fill(12, 3))));
      expect(x.layers[0]).toMatchObject({ proto: 58, srcPort: sp, dstPort: dp, icmpOneWay: type === 1 });
      expect(checksumOk(x, 0)).toBe(true);
    }
  });
});

describe('tunnels', () => {
  const INNER = ipv4('172.16.0.1', '172.16.0.2', 6, tcp(1111, 80, 100, 0, 0x02, 1000));

  it('IP-in-IP: 4in4, 6in4, 4in6, 6in6', () => {
    const p6 = ipv6('2001:db8::1', '2001:db8::2', 17, udp(7, 8));
    const a = dec(1, eth(0x0800, ipv4('1.1.1.1', '2.2.2.2', 4, INNER)));
    expect(a.depth).toBe(2);
    expect(a.layers[0]).toMatchObject({ proto: 4, srcPort: 0, tunnel: Tunnel.NONE });
    expect(a.layers[1]).toMatchObject({ version: 4, tunnel: Tunnel.IP, srcPort: 1111, dstPort: 80, ipOffset: 34 });
    expect(checksumOk(a, 1)).toBe(true);
    const b = dec(101, ipv4('1.1.1.1', '2.2.2.2', 41, p6));
    expect(b.layers[1]).toMatchObject({ version: 6, tunnel: Tunnel.IP, dstPort: 8 });
    const c = dec(101, ipv6('2001:db8::a', '2001:db8::b', 4, INNER));
    expect(c.layers[1]).toMatchObject({ version: 4, tunnel: Tunnel.IP, dstPort: 80 });
    const d = dec(101, ipv6('2001:db8::a', '2001:db8::b', 41, p6));
    expect(d.layers[1]).toMatchObject({ version: 6, tunnel: Tunnel.IP, dstPort: 8 });
    const bad = dec(101, ipv4('1.1.1.1', '2.2.2.2', 4, p6));
    expect([bad.reason, bad.depth, bad.reasonLayer]).toEqual([Reason.BAD_IP_VERSION, 1, 1]);
  });

  it('refuses more than MAX_LAYERS nested layers, keeping the outer ones', () => {
    let p = INNER;
    for (let i = 0; i < MAX_LAYERS; i++) p = ipv4(`10.0.0.${i}`, '10.9.9.9', 4, p);
    const x = dec(101, p);
    expect([x.reason, x.depth]).toEqual([Reason.TOO_MANY_LAYERS, MAX_LAYERS]);
    expect(formatLayerAddr(x.layers[0], 'src')).toBe(`10.0.0.${MAX_LAYERS - 1}`);
  });

  it('GRE v0 with checksum, key and sequence', () => {
    const g = gre(0xb000, 0x0800, [0, 0, 0, 0, ...be32(0xabcdef01), ...be32(5)], INNER);
    const x = dec(1, eth(0x0800, ipv4('192.0.2.1', '192.0.2.2', 47, g), [[0x8100, 7]]));
    expect(x.reason).toBe(Reason.OK);
    expect(x.depth).toBe(2);
    expect(x.layers[0]).toMatchObject({ proto: 47, vlan: 7 });
    expect(x.layers[1]).toMatchObject({ tunnel: Tunnel.GRE, tunnelId: 0xabcdef01, dstPort: 80, ipOffset: 18 + 20 + 16, vlan: -1 });
    expect(formatLayerAddr(x.layers[1], 'src')).toBe('172.16.0.1');
  });

  it('GRE transparent Ethernet bridging carries Ethernet (with its own VLAN)', () => {
    const x = dec(1, eth(0x0800, ipv4('192.0.2.1', '192.0.2.2', 47, gre(0, 0x6558, [], eth(0x0800, INNER, [[0x8100, 33]])))));
    expect(x.layers[1]).toMatchObject({ tunnel: Tunnel.GRE, vlan: 33, dstPort: 80 });
    expect(x.vlan).toBe(-1);
  });

  it('GRE v1 (PPTP) with IPv4 and IPv6, and ack-only packets', () => {
    const ppp4 = [0xff, 0x03, ...be16(0x0021), ...INNER];
    const x = dec(101, ipv4('192.0.2.1', '192.0.2.2', 47, gre(0x3081, 0x880b, [...be16(ppp4.length), ...be16(0x4242), ...be32(1), ...be32(0)], ppp4)));
    expect(x.reason).toBe(Reason.OK);
    expect(x.layers[1]).toMatchObject({ tunnel: Tunnel.GRE, tunnelId: 0x4242, dstPort: 80 });
    const ppp6 = [0xff, 0x03, ...be16(0x0057), ...ipv6('2001:db8::1', '2001:db8::2', 17, udp(1, 2))];
    const y = dec(101, ipv4('192.0.2.1', '192.0.2.2', 47, gre(0x3001, 0x880b, [...be16(ppp6.length), ...be16(1), ...be32(1)], ppp6)));
    expect(y.layers[1]).toMatchObject({ version: 6, dstPort: 2 });
    const ackOnly = dec(101, ipv4('192.0.2.1', '192.0.2.2', 47, gre(0x2081, 0x880b, [0, 0, 0, 1, ...be32(9)], [])));
    expect([ackOnly.reason, ackOnly.depth]).toEqual([Reason.OK, 1]);
    const lcp = dec(101, ipv4('192.0.2.1', '192.0.2.2', 47, gre(0x3001, 0x880b, [0, 4, 0, 1, ...be32(1)], [0xff, 3, 0xc0, 0x21])));
    expect(lcp.reason).toBe(Reason.BAD_TUNNEL);
  });

  it('GRE with routing, reserved flags or version 2 is refused', () => {
    for (const flags of [0x4000, 0x0008, 0x0002]) {
      const x = dec(101, ipv4('192.0.2.1', '192.0.2.2', 47, gre(flags, 0x0800, fill(4), INNER)));
      expect([x.reason, x.depth]).toEqual([Reason.BAD_TUNNEL, 1]);
    }
  });

  it('ERSPAN types I, II and III', () => {
    const frame = eth(0x0800, INNER, [[0x8100, 300]]);
    const t1 = dec(101, ipv4('192.0.2.1', '192.0.2.2', 47, gre(0, 0x88be, [], frame)));
    expect(t1.layers[1]).toMatchObject({ tunnel: Tunnel.ERSPAN, tunnelId: -1, vlan: 300, dstPort: 80 });
    const t2 = dec(101, ipv4('192.0.2.1', '192.0.2.2', 47, gre(0x1000, 0x88be, be32(1), [0x10, 0x64, 0x08, 0x2a, 0, 0, 0, 0, ...frame])));
    expect(t2.layers[1]).toMatchObject({ tunnel: Tunnel.ERSPAN, tunnelId: 42, dstPort: 80 });
    const h3 = [0x20, 0x64, 0x00, 0x07, ...be32(12345), 0, 0, 0, 0];
    const t3 = dec(101, ipv4('192.0.2.1', '192.0.2.2', 47, gre(0x1000, 0x22eb, be32(1), [...h3, ...frame])));
    expect(t3.layers[1]).toMatchObject({ tunnel: Tunnel.ERSPAN, tunnelId: 7, dstPort: 80 });
    const h3o = [...h3];
    h3o[11] = 1;
    const t3o = dec(101, ipv4('192.0.2.1', '192.0.2.2', 47, gre(0x1000, 0x22eb, be32(1), [...h3o, ...fill(8), ...frame])));
    expect(t3o.layers[1]).toMatchObject({ tunnel: Tunnel.ERSPAN, dstPort: 80, ipOffset: 20 + 8 + 20 + 18 });
  });

  it('VXLAN inside a VLAN carrying a VLAN-tagged inner frame: outer and inner connections', () => {
    const inner = eth(0x0800, INNER, [[0x8100, 20]]);
    const outer = ipv4('10.10.0.1', '10.10.0.2', 17, udp(54321, 4789, vxlan(0x123456, inner)));
    const x = dec(1, eth(0x0800, outer, [[0x8100, 10]]));
    expect(x.reason).toBe(Reason.OK);
    expect(x.depth).toBe(2);
    expect(x.vlan).toBe(10);
    expect(x.layers[0]).toMatchObject({ proto: 17, srcPort: 54321, dstPort: 4789, vlan: 10, tunnel: Tunnel.NONE, payloadLen: 8 + inner.length });
    expect(x.layers[1]).toMatchObject({ proto: 6, srcPort: 1111, dstPort: 80, vlan: 20, tunnel: Tunnel.VXLAN, tunnelId: 0x123456 });
    expect(checksumOk(x, 0)).toBe(true);
    expect(checksumOk(x, 1)).toBe(true);
    // without the I flag it is plain UDP
    const noI = dec(1, eth(0x0800, ipv4('10.10.0.1', '10.10.0.2', 17, udp(54321, 4789, vxlan(1, inner, 0)))));
    expect([noI.reason, noI.depth]).toEqual([Reason.OK, 1]);
    // the tunnel server's reply (source port 4789)
    const reply = dec(1, eth(0x0800, ipv4('10.10.0.2', '10.10.0.1', 17, udp(4789, 54321, vxlan(1, inner)))));
    expect(reply.depth).toBe(2);
  });

  it('Geneve with options, Ethernet and IP payloads', () => {
    const p6 = ipv6('2001:db8::1', '2001:db8::2', 58, icmp(128, 0, fill(8)));
    const x = dec(1, eth(0x0800, ipv4('10.0.0.1', '10.0.0.2', 17, udp(1234, 6081, geneve(77, 0x6558, fill(8, 1), eth(0x86dd, p6))))));
    expect(x.reason).toBe(Reason.OK);
    expect(x.layers[1]).toMatchObject({ version: 6, tunnel: Tunnel.GENEVE, tunnelId: 77, proto: 58, srcPort: 128, dstPort: 129 });
    expect(checksumOk(x, 1)).toBe(true);
    const y = dec(101, ipv4('10.0.0.1', '10.0.0.2', 17, udp(1234, 6081, geneve(78, 0x0800, [], INNER))));
    expect(y.layers[1]).toMatchObject({ tunnel: Tunnel.GENEVE, tunnelId: 78, dstPort: 80 });
    const bad = dec(101, ipv4('10.0.0.1', '10.0.0.2', 17, udp(1234, 6081, [0x80, ...geneve(78, 0x0800, [], INNER).slice(1)])));
    expect([bad.reason, bad.depth]).toEqual([Reason.BAD_TUNNEL, 1]);
  });

  it('GTP-U with and without extension headers; signalling stays UDP', () => {
    const a = dec(101, ipv4('10.0.0.1', '10.0.0.2', 17, udp(2152, 2152, gtpu(0xcafebabe, INNER))));
    expect(a.layers[1]).toMatchObject({ tunnel: Tunnel.GTPV1, tunnelId: 0xcafebabe, dstPort: 80, ipOffset: 20 + 8 + 8 });
    const ext = [1, 0x10, 0x05, 0]; // PDU session container, 4 bytes
    const b = dec(101, ipv4('10.0.0.1', '10.0.0.2', 17, udp(2152, 2152, gtpu(5, ipv6('2001:db8::1', '2001:db8::2', 17, udp(9, 10)), [ext, ext]))));
    expect(b.reason).toBe(Reason.OK);
    expect(b.layers[1]).toMatchObject({ version: 6, tunnel: Tunnel.GTPV1, tunnelId: 5, dstPort: 10, ipOffset: 20 + 8 + 12 + 8 });
    const echo = dec(101, ipv4('10.0.0.1', '10.0.0.2', 17, udp(2152, 2152, gtpu(0, [0, 1, 0, 0], [], 1))));
    expect([echo.reason, echo.depth]).toEqual([Reason.OK, 1]);
  });

  it('Teredo with authentication and origin indications, bubbles, and non-Teredo traffic', () => {
    const inner = ipv6('2001:0:4136:e378::1', '2001:db8::2', 17, udp(3000, 53, [1, 2, 3]));
    const auth = [0, 1, 2, 3, 0xa, 0xb, 1, 2, 3, ...fill(8, 9), 0];
    const origin = [0, 0, ...be16(0xffff ^ 40000), ...be32((0xffffffff ^ u32of('198.51.100.7')) >>> 0)];
    const x = dec(1, eth(0x0800, ipv4('192.0.2.9', '203.0.113.1', 17, udp(40000, 3544, [...auth, ...origin, ...inner]))));
    expect(x.reason).toBe(Reason.OK);
    expect(x.layers[1]).toMatchObject({ version: 6, tunnel: Tunnel.TEREDO, srcPort: 3000, dstPort: 53 });
    expect(formatLayerAddr(x.layers[1], 'src')).toBe('2001:0:4136:e378::1');
    expect(checksumOk(x, 1)).toBe(true);
    const bubble = dec(101, ipv4('192.0.2.9', '203.0.113.1', 17, udp(3544, 40000, ipv6('fe80::1', 'fe80::2', 59, []))));
    expect(bubble.layers[1]).toMatchObject({ proto: 59, tunnel: Tunnel.TEREDO });
    const other = dec(101, ipv4('192.0.2.9', '203.0.113.1', 17, udp(3544, 40000, fill(60, 0x41))));
    expect([other.reason, other.depth]).toEqual([Reason.OK, 1]);
    const lenMismatch = dec(101, ipv4('192.0.2.9', '203.0.113.1', 17, udp(3544, 40000, [...inner, 0])));
    expect(lenMismatch.depth).toBe(1);
  });

  it('does not decapsulate tunnels from fragments', () => {
    const x = dec(101, ipv4('10.0.0.1', '10.0.0.2', 17, udp(1, 4789, vxlan(1, eth(0x0800, INNER))), { mf: true }));
    expect([x.reason, x.depth]).toEqual([Reason.OK, 1]);
    const y = dec(101, ipv4('10.0.0.1', '10.0.0.2', 4, INNER, { mf: true }));
    expect(y.depth).toBe(1);
  });
});

describe('checksums', () => {
  function flipped(link: number, bytes: B, at: number): boolean {
    const b = [...bytes];
    b[at] ^= 0x01;
    const x = dec(link, b);
    expect(x.reason).toBe(Reason.OK);
    return checksumOk(x, x.depth - 1);
  }

  it('verifies TCP/UDP/ICMP over IPv4 and fails on a flipped byte', () => {
    const pkts: B[] = [
      TCP_PKT,
      ipv4('10.0.0.1', '10.0.0.2', 17, udp(5, 6, [1, 2, 3])),
      ipv4('10.0.0.1', '10.0.0.2', 1, icmp(8, 0, [0, 1, 0, 2, 5, 6, 7])),
      ipv4('10.0.0.1', '10.0.0.2', 6, tcp(1, 2, 3, 4, 0x10, 5, fill(1001, 0xff), [2, 4, 5, 0xb4])),
    ];
    for (const p of pkts) {
      const x = dec(101, p);
      expect(checksumOk(x, 0)).toBe(true);
      expect(flipped(101, p, p.length - 1)).toBe(false);
      expect(flipped(101, p, 22)).toBe(false); // destination port / ICMP checksum field
    }
    // the pseudo-header counts: a changed source address breaks TCP and UDP checksums
    const p = [...TCP_PKT];
    p[12] ^= 1;
    const c = csum(p.slice(0, 20).map((v, i) => (i === 10 || i === 11 ? 0 : v)));
    p[10] = c >>> 8;
    p[11] = c & 255;
    const x = dec(101, p);
    expect(ipChecksumOk(x, 0)).toBe(true);
    expect(checksumOk(x, 0)).toBe(false);
    expect(flipped(101, TCP_PKT, 15)).toBe(false); // destination address, in the pseudo-header
    const y = [...TCP_PKT];
    y[15] ^= 1;
    expect(ipChecksumOk(dec(101, y), 0)).toBe(false);
  });

  it('treats a zero UDP checksum as absent over IPv4 but wrong over IPv6', () => {
    const u4 = ipv4('10.0.0.1', '10.0.0.2', 17, udp(5, 6, [1, 2]), { noL4Csum: true });
    expect(checksumOk(dec(101, u4), 0)).toBe(true);
    const u6 = ipv6('2001:db8::1', '2001:db8::2', 17, udp(5, 6, [1, 2]));
    expect(checksumOk(dec(229, u6), 0)).toBe(true);
    const z = [...u6];
    z[46] = 0;
    z[47] = 0;
    expect(checksumOk(dec(229, z), 0)).toBe(false);
  });

  it('verifies TCP and ICMPv6 over IPv6 (with the routing header final destination)', () => {
    const i6 = ipv6('fe80::1', 'ff02::1', 58, icmp(135, 0, fill(21, 4)));
    expect(checksumOk(dec(229, i6), 0)).toBe(true);
    expect(flipped(229, i6, i6.length - 3)).toBe(false);
    const ext = routing(6, 0, 1, '2001:db8::77');
    const t6 = ipv6('2001:db8::1', '2001:db8::2', 43, [...ext, ...tcp(1, 2, 3, 4, 0x11, 9, [1, 2, 3])], { l4Proto: 6, l4Off: ext.length, finalDst: '2001:db8::77' });
    expect(checksumOk(dec(229, t6), 0)).toBe(true);
    expect(flipped(229, t6, t6.length - 1)).toBe(false);
  });

  it('verifies inner (tunnelled) layers independently of the outer one', () => {
    const inner = ipv4('172.16.0.1', '172.16.0.2', 6, tcp(1, 2, 3, 4, 0x02, 5));
    const p = ipv4('10.0.0.1', '10.0.0.2', 17, udp(1, 4789, vxlan(1, eth(0x0800, inner))), { noL4Csum: true });
    const b = [...p];
    b[b.length - 1] ^= 0x40; // urgent pointer of the inner TCP header
    const x = dec(101, b);
    expect(x.depth).toBe(2);
    expect(checksumOk(x, 0)).toBe(true);
    expect(checksumOk(x, 1)).toBe(false);
  });
});

describe('truncation at every byte offset', () => {
  const INNER = ipv4('172.16.0.1', '172.16.0.2', 6, tcp(1111, 80, 100, 0, 0x02, 1000, [], [2, 4, 5, 0xb4]));
  const samples: [string, number, B][] = [
    ['eth/ipv4/tcp', 1, eth(0x0800, TCP_PKT, [[0x8100, 1], [0x8100, 2]])],
    ['vlan/vxlan/vlan/tcp', 1, eth(0x0800, ipv4('10.0.0.1', '10.0.0.2', 17, udp(1, 4789, vxlan(3, eth(0x0800, INNER, [[0x8100, 4]])))), [[0x8100, 5]])],
    ['ipv6 ext chain', 1, eth(0x86dd, ipv6('2001:db8::1', '2001:db8::2', 0, [...hbh(44), ...frag6(60, 0, false, 1), ...dstopts(17), ...udp(1, 2, [3])], { l4Proto: 17, l4Off: 24 }))],
    ['radiotap qos htc', 127, radiotap(wifi({ subtype: 8, order: true, toDs: true, fromDs: true }, [...snap(0x0800), ...TCP_PKT]))],
    ['erspan III', 1, eth(0x0800, ipv4('192.0.2.1', '192.0.2.2', 47, gre(0x1000, 0x22eb, be32(1), [0x20, 0, 0, 7, ...fill(7), 1, ...fill(8), ...eth(0x0800, INNER)])))],
    ['teredo', 113, sll(0x0800, ipv4('192.0.2.9', '203.0.113.1', 17, udp(40000, 3544, [0, 1, 1, 1, 5, 6, ...fill(9), 0, 0, ...fill(6), ...ipv6('2001::1', '2001::2', 6, tcp(1, 2, 3, 4, 2, 5))])))],
    ['gtp-u ext', 276, sll2(0x0800, ipv4('10.0.0.1', '10.0.0.2', 17, udp(2152, 2152, gtpu(5, INNER, [[2, 0, 0, 0, 0, 0, 0, 0]]))))],
    ['pppoe/mpls', 1, eth(0x8847, mpls([1, 2, 3], ipv4('10.0.0.1', '10.0.0.2', 1, icmp(8, 0, fill(4)))))],
    ['pptp', 0, [...le32(2), ...ipv4('192.0.2.1', '192.0.2.2', 47, gre(0x3081, 0x880b, [0, 0, 0, 1, ...be32(1), ...be32(0)], [0xff, 3, 0, 0x21, ...INNER]))]],
  ];

  for (const [name, link, bytes] of samples) {
    it(name, () => {
      const full = dec(link, bytes);
      expect(full.reason).toBe(Reason.OK);
      const depth = full.depth;
      expect(depth).toBeGreaterThanOrEqual(1);
      const last = full.layers[depth - 1];
      const headersEnd = last.payloadOffset;
      const snapshot = (x: DecodeResult): unknown[] =>
        x.layers.slice(0, x.depth).map((l) => [l.version, l.proto, l.srcPort, l.dstPort, l.tunnel, l.tunnelId, l.ipTotalLen, l.vlan]);
      const want = snapshot(full);
      const y = createDecodeResult();
      const buf = Uint8Array.from(bytes);
      for (let cap = 0; cap <= bytes.length; cap++) {
        // cut by the snap length: the wire length is intact
        expect(() => decodePacket(y, link, buf, 0, cap, bytes.length)).not.toThrow();
        if (cap < headersEnd) {
          expect(y.reason, `${name} caplen ${cap}`).not.toBe(Reason.OK);
          expect(y.reasonOffset).toBeLessThanOrEqual(headersEnd);
          expect(y.depth).toBeLessThanOrEqual(depth);
        } else {
          expect(y.reason, `${name} caplen ${cap}`).toBe(Reason.OK);
          expect(snapshot(y)).toEqual(want);
        }
        // really short on the wire too
        decodePacket(y, link, buf, 0, cap, cap);
        if (cap < bytes.length && cap >= 4) expect(y.reason, `${name} wire ${cap}`).not.toBe(Reason.OK);
      }
    });
  }

  it('a reused result keeps no state from the previous packet', () => {
    const x = createDecodeResult();
    const a = Uint8Array.from(samples[1][2]);
    const b = Uint8Array.from(eth(0x0800, TCP_PKT));
    decodePacket(x, 1, a, 0, a.length, a.length);
    expect([x.depth, x.vlan]).toEqual([2, 5]);
    decodePacket(x, 1, b, 0, b.length, b.length);
    expect([x.depth, x.vlan, x.layers[0].tunnel, x.layers[0].tunnelId]).toEqual([1, -1, Tunnel.NONE, -1]);
  });
});

describe('address formatting', () => {
  it('formats IPv4 and IPv6 as Zeek prints them', () => {
    expect(formatIPv4(0)).toBe('0.0.0.0');
    expect(formatIPv4(0xffffffff)).toBe('255.255.255.255');
    expect(formatIPv4(u32of('192.168.1.254'))).toBe('192.168.1.254');
    const f = (s: string): string => formatIPv6(words6(s));
    expect(f('0:0:0:0:0:0:0:0')).toBe('::');
    expect(f('0:0:0:0:0:0:0:1')).toBe('::1');
    expect(f('2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(f('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(f('2001:0:0:1:0:0:0:1')).toBe('2001:0:0:1::1');
    expect(f('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1');
    expect(f('fe80:0:0:0:0200:5eff:fe00:5301')).toBe('fe80::200:5eff:fe00:5301');
    expect(f('1:0:0:0:0:0:0:0')).toBe('1::');
    expect(f('0:0:0:0:0:ffff:c000:0201')).toBe('::ffff:192.0.2.1');
    expect(f('0:0:0:0:0:0:c000:0201')).toBe('::192.0.2.1');
    expect(f('ff02:0:0:0:0:0:1:2')).toBe('ff02::1:2');
    expect(isV4Mapped(words6('::ffff:c000:201'))).toBe(true);
    expect(isV4Mapped(words6('2001:db8::1'))).toBe(false);
  });
});

describe('performance', () => {
  const pkts = [
    eth(0x0800, TCP_PKT),
    eth(0x0800, ipv4('10.0.0.1', '10.0.0.2', 17, udp(1, 4789, vxlan(3, eth(0x0800, TCP_PKT, [[0x8100, 4]])))), [[0x8100, 5]]),
    eth(0x86dd, ipv6('2001:db8::1', '2001:db8::2', 0, [...hbh(17), ...udp(1, 2, [3])], { l4Proto: 17, l4Off: 8 })),
    eth(0x0800, ipv4('10.0.0.1', '10.0.0.2', 1, icmp(8, 0, fill(4)))),
    eth(0x0800, TCP_PKT).slice(0, 30),
  ].map((p) => Buffer.from(p));

  function gcNow(): void {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as (() => void) | undefined;
    if (typeof gc === 'function') {
      gc();
      gc();
    }
  }

  it('allocates nothing per packet (1 M packets, heap growth < 1 MB)', () => {
    const x = createDecodeResult();
    let acc = 0;
    // The running sum is kept a small integer: a double in a closure variable would be boxed.
    const run = (n: number): void => {
      let sum = 0;
      for (let i = 0; i < n; i++) {
        const p = pkts[i % pkts.length];
        decodePacket(x, 1, p, 0, p.length, p.length);
        sum = (sum + x.depth + x.layers[0].srcPort) & 0xfffffff;
        if (checksumOk(x, x.depth - 1)) sum = (sum + 1) & 0xfffffff;
      }
      acc = sum;
    };
    run(500_000); // warm up (JIT, inline caches)
    run(500_000);
    gcNow();
    const before = process.memoryUsage().heapUsed;
    run(1_000_000);
    const after = process.memoryUsage().heapUsed; // no GC before reading: garbage would show here
    gcNow();
    expect(acc).toBeGreaterThan(0);
    expect(after - before).toBeLessThan(1024 * 1024);
  });

  it('measures the decode rate for Ethernet/IPv4/TCP (printed, not asserted)', () => {
    const x = createDecodeResult();
    const p = pkts[0];
    for (let i = 0; i < 200_000; i++) decodePacket(x, 1, p, 0, p.length, p.length);
    const n = 2_000_000;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) decodePacket(x, 1, p, 0, p.length, p.length);
    const ns = Number(process.hrtime.bigint() - t0);
    const rate = (n / ns) * 1e9;
    console.log(`decodePacket Ethernet/IPv4/TCP: ${(rate / 1e6).toFixed(2)} M packets/s (${(ns / n).toFixed(1)} ns/packet)`);
    expect(x.layers[0].dstPort).toBe(443);
  });
});
