// Packet decoder: link layer -> (VLAN/MPLS/PPPoE) -> IP -> transport, with Zeek's tunnel
// decapsulation, into a preallocated result object.
//
// Hot-path rules: `decodePacket` allocates nothing. It writes numbers and booleans into a
// `DecodeResult` made once by `createDecodeResult()` and reused for every packet; the layer
// objects and their address arrays are created up front. Nothing throws: a packet that cannot be
// decoded (fully) gets a `reason` code, and whatever was decoded before the problem stays valid
// (`depth` layers). The address formatters at the end allocate strings; call them once per flow.
//
// Behaviour follows Zeek's packet analysis (src/packet_analysis/protocol/* in zeek/zeek): which
// encapsulations are decapsulated, how ICMP type/code become ports, what is treated as truncated.
// Deliberate differences are noted where they occur.

/** Maximum number of IP layers (outer + tunnelled) kept per packet. Deeper nesting is refused. */
export const MAX_LAYERS = 4;

/** Why decoding stopped. `OK` (0) means every layer present was decoded. */
export const Reason = {
  OK: 0,
  /** The link type (pcap LINKTYPE_*) is not supported; nothing decoded. */
  UNKNOWN_LINK_TYPE: 1,
  /** A link-layer header (Ethernet, SLL, radiotap, 802.11, LLC, VLAN tag, MPLS, PPPoE) is cut off. */
  TRUNCATED_LINK: 2,
  /** The frame carries an ethertype (or PPP protocol, loopback family) that is not IP; see `etherType`. */
  NOT_IP: 3,
  /** 802.11 frame without data (management, control, null-function). */
  NOT_DATA_FRAME: 4,
  /** 802.11 protected (encrypted) data frame: payload cannot be read. */
  PROTECTED_FRAME: 5,
  /** Link-layer framing recognised but not supported (802.11 A-MSDU, non-SNAP LLC). */
  UNSUPPORTED_LINK: 6,
  /** Fewer captured bytes than a minimal IP header (or IPv6 extension header chain). */
  TRUNCATED_IP: 7,
  /** IP version nibble is neither 4 nor 6 (also after MPLS, GTP-U, IP-in-IP). */
  BAD_IP_VERSION: 8,
  /** IPv4 IHL < 5, header longer than the total length, or IPv6 extension headers past the payload. */
  BAD_IP_HEADER_LEN: 9,
  /** The wire length is shorter than the IP total length (Zeek: `truncated_IP_len`, packet dropped). */
  TRUNCATED_IP_LEN: 10,
  /** The transport header (TCP/UDP/ICMP/SCTP) is not completely captured. Layer fields partly set. */
  TRUNCATED_TRANSPORT: 11,
  /** TCP data offset < 5 words or beyond the segment. */
  BAD_TCP_HEADER_LEN: 12,
  /** A tunnel header (GRE, ERSPAN, PPTP, VXLAN, Geneve, GTP-U, Teredo) is cut off. */
  TRUNCATED_TUNNEL: 13,
  /** A tunnel header is invalid or of an unsupported kind (GRE routing/flags/version, inner not IP). */
  BAD_TUNNEL: 14,
  /** More than MAX_LAYERS nested IP layers. */
  TOO_MANY_LAYERS: 15,
} as const;
export type ReasonCode = (typeof Reason)[keyof typeof Reason];

/** Names of the reason codes, indexed by code (for logs and metrics). */
export const REASON_NAMES: readonly string[] = [
  'ok',
  'unknown_link_type',
  'truncated_link',
  'not_ip',
  'not_data_frame',
  'protected_frame',
  'unsupported_link',
  'truncated_ip',
  'bad_ip_version',
  'bad_ip_header_len',
  'truncated_ip_len',
  'truncated_transport',
  'bad_tcp_header_len',
  'truncated_tunnel',
  'bad_tunnel',
  'too_many_layers',
];

/** The encapsulation that carried an IP layer (layer 0 is always NONE). */
export const Tunnel = {
  NONE: 0,
  /** IP-in-IP: protocol 4 (IPv4 inner) or 41 (IPv6 inner) over IPv4 or IPv6; Zeek's Tunnel::IP. */
  IP: 1,
  /** GRE version 0 (IP or transparent Ethernet bridging payload) or version 1 (PPTP). */
  GRE: 2,
  /** ERSPAN type I/II/III over GRE. Zeek reports these as Tunnel::GRE. */
  ERSPAN: 3,
  /** VXLAN (UDP 4789). */
  VXLAN: 4,
  /** Geneve (UDP 6081). */
  GENEVE: 5,
  /** GTPv1-U (UDP 2152), T-PDU messages. */
  GTPV1: 6,
  /** Teredo (UDP 3544). */
  TEREDO: 7,
} as const;
export type TunnelType = (typeof Tunnel)[keyof typeof Tunnel];

/** Names of the tunnel types as Zeek spells them (Tunnel::Type), indexed by TunnelType. */
export const TUNNEL_NAMES: readonly string[] = ['NONE', 'IP', 'GRE', 'ERSPAN', 'VXLAN', 'GENEVE', 'GTPv1', 'TEREDO'];

/** pcap link types understood by decodePacket. */
export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  RAW_12: 12,
  RAW_14: 14,
  RAW: 101,
  IEEE802_11: 105,
  LOOP: 108,
  LINUX_SLL: 113,
  IEEE802_11_RADIOTAP: 127,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

// IP protocol numbers used below.
const P_HOPOPT = 0;
const P_ICMP = 1;
const P_IPIP = 4;
const P_TCP = 6;
const P_UDP = 17;
const P_IPV6 = 41;
const P_ROUTING = 43;
const P_FRAGMENT = 44;
const P_GRE = 47;
const P_AH = 51;
const P_ICMPV6 = 58;
const P_DSTOPTS = 60;
const P_SCTP = 132;

// Ethertypes.
const ET_IPV4 = 0x0800;
const ET_IPV6 = 0x86dd;
const ET_VLAN = 0x8100;
const ET_QINQ = 0x88a8;
const ET_QINQ_OLD = 0x9100;
const ET_MPLS = 0x8847;
const ET_MPLS_MC = 0x8848;
const ET_PPPOE = 0x8864;
const ET_TEB = 0x6558; // transparent Ethernet bridging (GRE, Geneve)

// UDP ports of the tunnels Zeek decapsulates by default.
const PORT_VXLAN = 4789;
const PORT_GENEVE = 6081;
const PORT_GTPU = 2152;
const PORT_TEREDO = 3544;

/**
 * One decoded IP layer. Addresses are numbers: IPv4 in `src4`/`dst4` as an unsigned 32-bit
 * integer (first octet most significant); IPv6 in `src6`/`dst6`, four unsigned 32-bit words in
 * network order. Fields not applicable to the layer's protocol are 0 (or false, or -1 where noted).
 */
export class IpLayer {
  /** 4 or 6. */
  version = 0;
  /** IPv4 source address (uint32). 0 for IPv6. */
  src4 = 0;
  /** IPv4 destination address (uint32). 0 for IPv6. */
  dst4 = 0;
  /** IPv6 source address, four uint32 words. Not cleared for IPv4 layers: check `version`. */
  readonly src6 = new Uint32Array(4);
  /**
   * IPv6 destination address. When a routing header (type 0 or 2) with segments left is present,
   * this is the final destination (the last address of the routing header), as Zeek's
   * IP_Hdr::DstAddr() and the transport pseudo-header use; `routed` is then true.
   */
  readonly dst6 = new Uint32Array(4);
  /** True when `dst6` was taken from a routing header. */
  routed = false;
  /** Offset in `data` of the (final) destination address bytes: IPv4 header, IPv6 header or routing header. */
  dstAddrOffset = 0;
  /** The encapsulation that carried this layer (Tunnel.*); Tunnel.NONE for the outermost. */
  tunnel: TunnelType = Tunnel.NONE;
  /** Tunnel identifier when the tunnel has one: VXLAN/Geneve VNI, GTP TEID, GRE key; -1 otherwise. */
  tunnelId = -1;
  /** Outer 802.1Q VLAN id of the L2 frame that carried this layer, -1 when untagged (Zeek `vlan`). */
  vlan = -1;
  /** Second (inner, QinQ) VLAN id of that frame, -1 when absent (Zeek `inner_vlan`). */
  innerVlan = -1;
  /** Byte offset of the IP header in `DecodeResult.data`. */
  ipOffset = 0;
  /** IP header length: IPv4 IHL*4 (options included); IPv6 40 + extension headers. */
  ipHeaderLen = 0;
  /** IP total length from the header (IPv6: 40 + payload length): Zeek's ip_bytes contribution. */
  ipTotalLen = 0;
  /** IPv4 TTL or IPv6 hop limit. */
  ttl = 0;
  /** Transport protocol number (IPv6: the next header after the extension headers; 59 = none). */
  proto = 0;
  /** IPv4 header checksum field (verify with ipChecksumOk). */
  ipChecksum = 0;
  /** True for any fragment (IPv4 MF or offset != 0; IPv6 fragment header present). */
  isFragment = false;
  /** True for fragments other than the first (offset > 0): no transport header is present. */
  laterFragment = false;
  /** Fragment identification (IPv4 16-bit id; IPv6 32-bit id from the fragment header). */
  fragId = 0;
  /** Fragment offset in bytes. */
  fragOffset = 0;
  /** More-fragments flag. */
  moreFragments = false;
  /** IPv4 don't-fragment flag. */
  dontFragment = false;
  /** Offset of the IPv6 fragment header in `data`, -1 if none (the reassembler needs it). */
  fragHeaderOffset = -1;
  /** Offset of the transport header in `data`. */
  l4Offset = 0;
  /** Transport length by the IP header: IP total length minus IP header length. */
  l4Len = 0;
  /** Bytes of the transport segment actually captured (<= l4Len). */
  l4Captured = 0;
  /**
   * True when the transport header of TCP/UDP/ICMP/ICMPv6/SCTP was completely captured and
   * valid (for other protocols there is no header to parse and this is true). False for later
   * fragments and truncated headers.
   */
  transportComplete = false;
  /** TCP/UDP/SCTP source port. ICMP/ICMPv6: the type (Zeek's orig_p). */
  srcPort = 0;
  /**
   * TCP/UDP/SCTP destination port. ICMP/ICMPv6: the counterpart type for request/reply pairs
   * (echo, timestamp, info, router, mask; ICMPv6 echo, RS/RA, NS/NA, MLD query/report, node
   * information, home agent discovery), else the code, as Zeek's ICMP4/6_counterpart().
   */
  dstPort = 0;
  /** ICMP/ICMPv6 type, -1 for other protocols. */
  icmpType = -1;
  /** ICMP/ICMPv6 code, -1 for other protocols. */
  icmpCode = -1;
  /** ICMP message without a request/reply counterpart (Zeek's is_one_way). */
  icmpOneWay = false;
  /** TCP flags: FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 URG 0x20 ECE 0x40 CWR 0x80 NS 0x100. */
  tcpFlags = 0;
  /** TCP sequence number (uint32). */
  seq = 0;
  /** TCP acknowledgement number (uint32). */
  ack = 0;
  /** TCP window (unscaled). */
  window = 0;
  /** TCP header length (data offset * 4). */
  tcpHeaderLen = 0;
  /** UDP length field. */
  udpLength = 0;
  /** Transport checksum field as read. */
  l4Checksum = 0;
  /**
   * Payload length: TCP: l4Len - header; UDP: UDP length - 8 (Zeek counts ulen; falls back to
   * l4Len - 8 if the field is < 8); ICMP/ICMPv6: l4Len - 8; SCTP: l4Len - 12; others: l4Len.
   */
  payloadLen = 0;
  /** Offset of the transport payload in `data`. */
  payloadOffset = 0;

  /** Clears every field (called before the layer is decoded). */
  reset(): void {
    this.version = 0;
    this.src4 = 0;
    this.dst4 = 0;
    this.routed = false;
    this.dstAddrOffset = 0;
    this.tunnel = Tunnel.NONE;
    this.tunnelId = -1;
    this.vlan = -1;
    this.innerVlan = -1;
    this.ipOffset = 0;
    this.ipHeaderLen = 0;
    this.ipTotalLen = 0;
    this.ttl = 0;
    this.proto = 0;
    this.ipChecksum = 0;
    this.isFragment = false;
    this.laterFragment = false;
    this.fragId = 0;
    this.fragOffset = 0;
    this.moreFragments = false;
    this.dontFragment = false;
    this.fragHeaderOffset = -1;
    this.l4Offset = 0;
    this.l4Len = 0;
    this.l4Captured = 0;
    this.transportComplete = false;
    this.srcPort = 0;
    this.dstPort = 0;
    this.icmpType = -1;
    this.icmpCode = -1;
    this.icmpOneWay = false;
    this.tcpFlags = 0;
    this.seq = 0;
    this.ack = 0;
    this.window = 0;
    this.tcpHeaderLen = 0;
    this.udpLength = 0;
    this.l4Checksum = 0;
    this.payloadLen = 0;
    this.payloadOffset = 0;
  }
}

/** The reusable result of decodePacket. */
export class DecodeResult {
  /** Why decoding stopped (Reason.*); Reason.OK when the packet was decoded completely. */
  reason: ReasonCode = Reason.OK;
  /** Number of IP layers decoded before `reason` was set (the failing layer is layers[reasonLayer]). */
  reasonLayer = 0;
  /** Byte offset in `data` where the problem was found. */
  reasonOffset = 0;
  /** The buffer of the last decoded packet (a reference, not a copy). */
  data: Uint8Array = new Uint8Array(0);
  /** Link type of the last packet. */
  linkType = 0;
  /** Offset of the packet in `data`. */
  offset = 0;
  /** End of the captured bytes in `data` (offset + caplen, clamped to data.length). */
  capEnd = 0;
  /** Length of the packet on the wire (pcap orig_len). */
  origLen = 0;
  /** Number of valid entries in `layers`. layers[0] is the outermost IP header. */
  depth = 0;
  /** Preallocated IP layers; only the first `depth` are meaningful. */
  readonly layers: readonly IpLayer[];
  /** Outer VLAN id of the frame (Zeek `vlan`), -1 when untagged. Same as layers[0].vlan. */
  vlan = -1;
  /** Inner VLAN id (QinQ, Zeek `inner_vlan`), -1 when absent. */
  innerVlan = -1;
  /** Number of VLAN tags on the outer frame (may exceed 2; only two ids are kept). */
  vlanCount = 0;
  /** Number of MPLS labels on the outer frame. */
  mplsCount = 0;
  /** Top (first) MPLS label, -1 when none. */
  mplsLabel = -1;
  /** PPPoE session id, -1 when not PPPoE. */
  pppoeSession = -1;
  /** Last ethertype (or PPP protocol / loopback family) seen; with Reason.NOT_IP the non-IP type. */
  etherType = 0;

  // Scratch state for the L2 frame being decoded (VLAN tags seen since the last L2 start).
  private curVlan = -1;
  private curInnerVlan = -1;
  private curVlanCount = 0;

  constructor() {
    const layers: IpLayer[] = [];
    for (let i = 0; i < MAX_LAYERS; i++) layers.push(new IpLayer());
    this.layers = layers;
  }

  /** Starts a new L2 frame (outer packet or tunnel payload): forgets its VLAN tags. */
  newFrame(): void {
    this.curVlan = -1;
    this.curInnerVlan = -1;
    this.curVlanCount = 0;
  }

  /** Records a VLAN tag of the current frame. */
  addVlan(id: number): void {
    if (this.curVlanCount === 0) this.curVlan = id;
    else if (this.curVlanCount === 1) this.curInnerVlan = id;
    this.curVlanCount++;
    if (this.depth === 0) {
      this.vlan = this.curVlan;
      this.innerVlan = this.curInnerVlan;
      this.vlanCount = this.curVlanCount;
    }
  }

  /** Applies the current frame's VLAN tags to a layer. */
  tagLayer(layer: IpLayer): void {
    layer.vlan = this.curVlan;
    layer.innerVlan = this.curInnerVlan;
  }
}

/** Makes a result object to pass to decodePacket (once per reader, not per packet). */
export function createDecodeResult(): DecodeResult {
  return new DecodeResult();
}

function fail(r: DecodeResult, reason: ReasonCode, at: number): void {
  r.reason = reason;
  r.reasonLayer = r.depth;
  r.reasonOffset = at;
}

function u16(d: Uint8Array, p: number): number {
  return (d[p] << 8) | d[p + 1];
}

function u32(d: Uint8Array, p: number): number {
  return ((d[p] << 24) | (d[p + 1] << 16) | (d[p + 2] << 8) | d[p + 3]) >>> 0;
}

/**
 * Decodes one packet into `r`. `data[offset .. offset+caplen)` are the captured bytes, `origLen`
 * the length on the wire. Returns true when `r.reason` is Reason.OK. Never throws and allocates
 * nothing. Even when false, `r.layers[0 .. r.depth)` hold the layers decoded before the problem.
 */
export function decodePacket(
  r: DecodeResult,
  linkType: number,
  data: Uint8Array,
  offset: number,
  caplen: number,
  origLen: number,
): boolean {
  let end = offset + caplen;
  if (end > data.length) end = data.length;
  if (end < offset) end = offset;
  let wend = offset + origLen;
  if (wend < end) wend = end;
  r.reason = Reason.OK;
  r.reasonLayer = 0;
  r.reasonOffset = 0;
  r.data = data;
  r.linkType = linkType;
  r.offset = offset;
  r.capEnd = end;
  r.origLen = origLen;
  r.depth = 0;
  r.vlan = -1;
  r.innerVlan = -1;
  r.vlanCount = 0;
  r.mplsCount = 0;
  r.mplsLabel = -1;
  r.pppoeSession = -1;
  r.etherType = 0;
  r.newFrame();
  const p = offset;
  if (!(offset >= 0 && offset <= data.length)) {
    r.capEnd = 0;
    fail(r, Reason.TRUNCATED_LINK, 0);
    return false;
  }
  switch (linkType) {
    case LinkType.ETHERNET:
      decodeEthernet(r, data, p, end, wend, Tunnel.NONE, -1);
      break;
    case LinkType.RAW:
    case LinkType.RAW_12:
    case LinkType.RAW_14:
    case LinkType.IPV4:
    case LinkType.IPV6:
      decodeIp(r, data, p, end, wend, Tunnel.NONE, -1, 0);
      break;
    case LinkType.LINUX_SLL:
      if (end - p < 16) fail(r, Reason.TRUNCATED_LINK, p);
      else decodeEtherType(r, data, p + 16, end, wend, u16(data, p + 14), Tunnel.NONE, -1);
      break;
    case LinkType.LINUX_SLL2:
      if (end - p < 20) fail(r, Reason.TRUNCATED_LINK, p);
      else decodeEtherType(r, data, p + 20, end, wend, u16(data, p), Tunnel.NONE, -1);
      break;
    case LinkType.NULL:
    case LinkType.LOOP: {
      if (end - p < 4) {
        fail(r, Reason.TRUNCATED_LINK, p);
        break;
      }
      // NULL: the address family in the capturing host's byte order (Zeek reads it little-endian;
      // we accept both). LOOP: network byte order.
      const be = u32(data, p);
      const le = (data[p] | (data[p + 1] << 8) | (data[p + 2] << 16) | (data[p + 3] << 24)) >>> 0;
      const fam = linkType === LinkType.LOOP ? be : isLoopFamily(le) ? le : be;
      r.etherType = fam;
      if (fam === 2) decodeIp(r, data, p + 4, end, wend, Tunnel.NONE, -1, 4);
      // AF_INET6 is 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS), 10 (Linux).
      else if (fam === 24 || fam === 28 || fam === 30 || fam === 10) decodeIp(r, data, p + 4, end, wend, Tunnel.NONE, -1, 6);
      else fail(r, Reason.NOT_IP, p);
      break;
    }
    case LinkType.IEEE802_11_RADIOTAP: {
      if (end - p < 4) {
        fail(r, Reason.TRUNCATED_LINK, p);
        break;
      }
      const rtLen = data[p + 2] | (data[p + 3] << 8); // radiotap length is little-endian
      if (rtLen < 8 || p + rtLen >= end) {
        fail(r, Reason.TRUNCATED_LINK, p);
        break;
      }
      decode80211(r, data, p + rtLen, end, wend);
      break;
    }
    case LinkType.IEEE802_11:
      decode80211(r, data, p, end, wend);
      break;
    default:
      fail(r, Reason.UNKNOWN_LINK_TYPE, p);
  }
  return r.reason === Reason.OK;
}

function isLoopFamily(f: number): boolean {
  return f === 2 || f === 24 || f === 28 || f === 30 || f === 10;
}

/**
 * IEEE 802.11 data frame -> LLC/SNAP -> ethertype. Skips the fourth address (ToDS and FromDS),
 * QoS control (QoS subtypes) and HT control (QoS frames with the Order bit; Zeek does not skip
 * it). Protected frames and A-MSDU aggregates are not decoded.
 */
function decode80211(r: DecodeResult, d: Uint8Array, p: number, end: number, wend: number): void {
  if (end - p < 24) return fail(r, Reason.TRUNCATED_LINK, p);
  const fc0 = d[p];
  const fc1 = d[p + 1];
  if (((fc0 >> 2) & 3) !== 2) return fail(r, Reason.NOT_DATA_FRAME, p);
  const subtype = fc0 >> 4;
  if (subtype & 0x04) return fail(r, Reason.NOT_DATA_FRAME, p); // null function / CF without data
  let hdr = 24;
  if ((fc1 & 0x03) === 0x03) hdr += 6;
  if (subtype & 0x08) {
    if (end - p < hdr + 2) return fail(r, Reason.TRUNCATED_LINK, p);
    if (d[p + hdr] & 0x80) return fail(r, Reason.UNSUPPORTED_LINK, p + hdr); // A-MSDU present
    hdr += 2;
    if (fc1 & 0x80) hdr += 4; // +HTC: HT control follows QoS control when the Order bit is set
  }
  if (fc1 & 0x40) return fail(r, Reason.PROTECTED_FRAME, p);
  const llc = p + hdr;
  if (end - llc < 8) return fail(r, Reason.TRUNCATED_LINK, llc);
  if (d[llc] !== 0xaa || d[llc + 1] !== 0xaa || d[llc + 2] !== 0x03 || d[llc + 3] !== 0 || d[llc + 4] !== 0 || d[llc + 5] !== 0)
    return fail(r, Reason.UNSUPPORTED_LINK, llc);
  decodeEtherType(r, d, llc + 8, end, wend, u16(d, llc + 6), Tunnel.NONE, -1);
}

/** Ethernet II (or 802.3 with LLC/SNAP) frame. `tunnel`/`tunnelId` describe what carried it. */
function decodeEthernet(
  r: DecodeResult,
  d: Uint8Array,
  p: number,
  end: number,
  wend: number,
  tunnel: TunnelType,
  tunnelId: number,
): void {
  if (end - p < 14) return fail(r, Reason.TRUNCATED_LINK, p);
  const type = u16(d, p + 12);
  if (type >= 1536) return decodeEtherType(r, d, p + 14, end, wend, type, tunnel, tunnelId);
  // 802.3 length field: only LLC/SNAP carries an ethertype.
  if (end - p < 22) return fail(r, Reason.TRUNCATED_LINK, p + 14);
  if (d[p + 14] === 0xaa && d[p + 15] === 0xaa && d[p + 16] === 0x03)
    return decodeEtherType(r, d, p + 22, end, wend, u16(d, p + 20), tunnel, tunnelId);
  r.etherType = type;
  fail(r, Reason.UNSUPPORTED_LINK, p + 14);
}

/** Dispatches on an ethertype: IP, VLAN tags, MPLS, PPPoE session, transparent bridging. */
function decodeEtherType(
  r: DecodeResult,
  d: Uint8Array,
  p: number,
  end: number,
  wend: number,
  type: number,
  tunnel: TunnelType,
  tunnelId: number,
): void {
  for (;;) {
    r.etherType = type;
    switch (type) {
      case ET_IPV4:
        return decodeIp(r, d, p, end, wend, tunnel, tunnelId, 4);
      case ET_IPV6:
        return decodeIp(r, d, p, end, wend, tunnel, tunnelId, 6);
      case ET_VLAN:
      case ET_QINQ:
      case ET_QINQ_OLD:
        if (end - p < 4) return fail(r, Reason.TRUNCATED_LINK, p);
        r.addVlan(u16(d, p) & 0x0fff);
        type = u16(d, p + 2);
        p += 4;
        continue;
      case ET_MPLS:
      case ET_MPLS_MC: {
        // Label stack until the bottom-of-stack bit, then guess IPv4/IPv6 from the version nibble.
        for (;;) {
          if (end - p < 4) return fail(r, Reason.TRUNCATED_LINK, p);
          if (r.depth === 0) {
            if (r.mplsCount === 0) r.mplsLabel = u32(d, p) >>> 12;
            r.mplsCount++;
          }
          const bos = d[p + 2] & 0x01;
          p += 4;
          if (bos) break;
        }
        if (p >= end) return fail(r, Reason.TRUNCATED_LINK, p);
        return decodeIp(r, d, p, end, wend, tunnel, tunnelId, 0);
      }
      case ET_PPPOE: {
        if (end - p < 8) return fail(r, Reason.TRUNCATED_LINK, p);
        if (r.depth === 0) r.pppoeSession = u16(d, p + 2);
        const ppp = u16(d, p + 6);
        r.etherType = ppp;
        if (ppp === 0x0021) return decodeIp(r, d, p + 8, end, wend, tunnel, tunnelId, 4);
        if (ppp === 0x0057) return decodeIp(r, d, p + 8, end, wend, tunnel, tunnelId, 6);
        return fail(r, Reason.NOT_IP, p + 6);
      }
      case ET_TEB:
        r.newFrame();
        return decodeEthernet(r, d, p, end, wend, tunnel, tunnelId);
      default:
        return fail(r, Reason.NOT_IP, p);
    }
  }
}

/**
 * One IP header (then transport, then any tunnel it carries). `want` is the version the
 * encapsulation announced (4, 6) or 0 to take the version nibble (raw IP, MPLS, GTP-U).
 */
function decodeIp(
  r: DecodeResult,
  d: Uint8Array,
  p: number,
  end: number,
  wend: number,
  tunnel: TunnelType,
  tunnelId: number,
  want: number,
): void {
  if (r.depth >= MAX_LAYERS) return fail(r, Reason.TOO_MANY_LAYERS, p);
  if (p >= end) return fail(r, Reason.TRUNCATED_IP, p);
  const version = d[p] >> 4;
  if ((version !== 4 && version !== 6) || (want !== 0 && version !== want)) return fail(r, Reason.BAD_IP_VERSION, p);
  const L = r.layers[r.depth];
  L.reset();
  L.tunnel = tunnel;
  L.tunnelId = tunnelId;
  r.tagLayer(L);
  L.ipOffset = p;
  L.version = version;
  let hdrLen: number;
  let totalLen: number;
  if (version === 4) {
    if (end - p < 20) return fail(r, Reason.TRUNCATED_IP, p);
    hdrLen = (d[p] & 0x0f) * 4;
    if (hdrLen < 20) return fail(r, Reason.BAD_IP_HEADER_LEN, p);
    totalLen = u16(d, p + 2);
    // Zero total length (TCP segmentation offload): Zeek uses the captured length.
    if (totalLen === 0) totalLen = end - p;
    if (totalLen > wend - p) return fail(r, Reason.TRUNCATED_IP_LEN, p);
    if (hdrLen > totalLen) return fail(r, Reason.BAD_IP_HEADER_LEN, p);
    if (hdrLen > end - p) return fail(r, Reason.TRUNCATED_IP, p);
    const ff = u16(d, p + 6);
    L.ttl = d[p + 8];
    L.proto = d[p + 9];
    L.ipChecksum = u16(d, p + 10);
    L.src4 = u32(d, p + 12);
    L.dst4 = u32(d, p + 16);
    L.dstAddrOffset = p + 16;
    L.fragId = u16(d, p + 4);
    L.dontFragment = (ff & 0x4000) !== 0;
    L.moreFragments = (ff & 0x2000) !== 0;
    L.fragOffset = (ff & 0x1fff) * 8;
    L.isFragment = L.moreFragments || L.fragOffset !== 0;
  } else {
    if (end - p < 40) return fail(r, Reason.TRUNCATED_IP, p);
    totalLen = 40 + u16(d, p + 4);
    if (totalLen === 40 && d[p + 6] !== 59) totalLen = end - p; // jumbogram / offload: use captured length
    if (totalLen > wend - p) return fail(r, Reason.TRUNCATED_IP_LEN, p);
    L.ttl = d[p + 7];
    for (let i = 0; i < 4; i++) {
      L.src6[i] = u32(d, p + 8 + 4 * i);
      L.dst6[i] = u32(d, p + 24 + 4 * i);
    }
    L.dstAddrOffset = p + 24;
    // Extension headers, bounded by the payload length and by the captured bytes.
    const ipEnd = p + totalLen;
    let next = d[p + 6];
    let q = p + 40;
    for (;;) {
      if (next === P_HOPOPT || next === P_ROUTING || next === P_DSTOPTS || next === P_FRAGMENT || next === P_AH) {
        const need = next === P_FRAGMENT ? 8 : 2;
        if (q + need > ipEnd) return fail(r, Reason.BAD_IP_HEADER_LEN, q);
        if (q + need > end) return fail(r, Reason.TRUNCATED_IP, q);
        let len: number;
        if (next === P_FRAGMENT) len = 8;
        else if (next === P_AH) len = (d[q + 1] + 2) * 4;
        else len = (d[q + 1] + 1) * 8;
        if (q + len > ipEnd) return fail(r, Reason.BAD_IP_HEADER_LEN, q);
        if (q + len > end) return fail(r, Reason.TRUNCATED_IP, q);
        if (next === P_FRAGMENT) {
          const off = u16(d, q + 2);
          L.isFragment = true;
          L.fragHeaderOffset = q;
          L.fragOffset = off & 0xfff8;
          L.moreFragments = (off & 1) !== 0;
          L.fragId = u32(d, q + 4);
        } else if (next === P_ROUTING) {
          // Types 0 and 2 list addresses; with segments left the last one is the final destination.
          const rtype = d[q + 2];
          if ((rtype === 0 || rtype === 2) && d[q + 3] > 0 && len >= 24) {
            const a = q + len - 16;
            for (let i = 0; i < 4; i++) L.dst6[i] = u32(d, a + 4 * i);
            L.dstAddrOffset = a;
            L.routed = true;
          }
        }
        next = d[q];
        q += len;
        continue;
      }
      break; // transport, ESP (50), no next header (59) or anything else ends the chain
    }
    hdrLen = q - p;
    L.proto = next;
  }
  L.ipHeaderLen = hdrLen;
  L.ipTotalLen = totalLen;
  r.depth++;
  const l4 = p + hdrLen;
  const l4WireEnd = p + totalLen;
  const l4CapEnd = end < l4WireEnd ? end : l4WireEnd;
  L.l4Offset = l4;
  L.l4Len = totalLen - hdrLen;
  L.l4Captured = l4CapEnd - l4;
  L.payloadOffset = l4;
  if (L.fragOffset !== 0) {
    L.laterFragment = true; // no transport header: wait for reassembly
    return;
  }
  decodeTransport(r, L, d, l4, l4CapEnd, l4WireEnd);
}

function decodeTransport(r: DecodeResult, L: IpLayer, d: Uint8Array, p: number, end: number, wend: number): void {
  const cap = end - p;
  switch (L.proto) {
    case P_TCP: {
      if (cap < 20) return fail(r, Reason.TRUNCATED_TRANSPORT, p);
      L.srcPort = u16(d, p);
      L.dstPort = u16(d, p + 2);
      L.seq = u32(d, p + 4);
      L.ack = u32(d, p + 8);
      const off = (d[p + 12] >> 4) * 4;
      L.tcpHeaderLen = off;
      L.tcpFlags = d[p + 13] | ((d[p + 12] & 1) << 8);
      L.window = u16(d, p + 14);
      L.l4Checksum = u16(d, p + 16);
      if (off < 20 || off > L.l4Len) return fail(r, Reason.BAD_TCP_HEADER_LEN, p);
      if (off > cap) return fail(r, Reason.TRUNCATED_TRANSPORT, p);
      L.payloadOffset = p + off;
      L.payloadLen = L.l4Len - off;
      L.transportComplete = true;
      return;
    }
    case P_UDP: {
      if (cap < 8) return fail(r, Reason.TRUNCATED_TRANSPORT, p);
      const sport = u16(d, p);
      const dport = u16(d, p + 2);
      L.srcPort = sport;
      L.dstPort = dport;
      L.udpLength = u16(d, p + 4);
      L.l4Checksum = u16(d, p + 6);
      L.payloadOffset = p + 8;
      L.payloadLen = L.udpLength >= 8 ? L.udpLength - 8 : L.l4Len - 8;
      if (L.payloadLen < 0) L.payloadLen = 0;
      L.transportComplete = true;
      if (L.isFragment) return; // tunnels only in unfragmented datagrams
      // Zeek forwards on the connection's responder port; without connection state we try the
      // destination port, then the source port (replies from the tunnel server).
      const q = p + 8;
      if (udpTunnel(r, d, dport, q, end, wend)) return;
      udpTunnel(r, d, sport, q, end, wend);
      return;
    }
    case P_ICMP:
    case P_ICMPV6: {
      if (cap < 8) return fail(r, Reason.TRUNCATED_TRANSPORT, p);
      const type = d[p];
      const code = d[p + 1];
      L.icmpType = type;
      L.icmpCode = code;
      L.l4Checksum = u16(d, p + 2);
      const cp = L.proto === P_ICMP ? icmp4Counterpart(type) : icmp6Counterpart(type);
      L.icmpOneWay = cp < 0;
      L.srcPort = type;
      L.dstPort = cp < 0 ? code : cp;
      L.payloadOffset = p + 8;
      L.payloadLen = L.l4Len - 8;
      L.transportComplete = true;
      return;
    }
    case P_SCTP: {
      if (cap < 12) return fail(r, Reason.TRUNCATED_TRANSPORT, p);
      L.srcPort = u16(d, p);
      L.dstPort = u16(d, p + 2);
      L.l4Checksum = u32(d, p + 8); // CRC32c, not verified here
      L.payloadOffset = p + 12;
      L.payloadLen = L.l4Len - 12;
      L.transportComplete = true;
      return;
    }
    case P_IPIP:
    case P_IPV6:
      L.payloadLen = L.l4Len;
      L.transportComplete = true;
      if (L.isFragment) return;
      r.newFrame();
      return decodeIp(r, d, p, end, wend, Tunnel.IP, -1, L.proto === P_IPIP ? 4 : 6);
    case P_GRE:
      L.payloadLen = L.l4Len;
      L.transportComplete = true;
      if (L.isFragment) return;
      return decodeGre(r, d, p, end, wend);
    default:
      L.payloadLen = L.l4Len;
      L.transportComplete = true;
  }
}

/** Decapsulates a UDP tunnel if `port` is a tunnel port; false when it is not one. */
function udpTunnel(r: DecodeResult, d: Uint8Array, port: number, q: number, end: number, wend: number): boolean {
  switch (port) {
    case PORT_VXLAN:
      decodeVxlan(r, d, q, end, wend);
      return true;
    case PORT_GENEVE:
      decodeGeneve(r, d, q, end, wend);
      return true;
    case PORT_GTPU:
      decodeGtpu(r, d, q, end, wend);
      return true;
    case PORT_TEREDO:
      decodeTeredo(r, d, q, end, wend);
      return true;
    default:
      return false;
  }
}

/** ICMPv4 request/reply counterpart type, or -1 for one-way messages (Zeek ICMP4_counterpart). */
function icmp4Counterpart(t: number): number {
  switch (t) {
    case 8: return 0; // echo -> echo reply
    case 0: return 8;
    case 13: return 14; // timestamp
    case 14: return 13;
    case 15: return 16; // information
    case 16: return 15;
    case 10: return 9; // router solicitation / advertisement
    case 9: return 10;
    case 17: return 18; // address mask
    case 18: return 17;
    default: return -1;
  }
}

/** ICMPv6 request/reply counterpart type, or -1 (Zeek ICMP6_counterpart). */
function icmp6Counterpart(t: number): number {
  switch (t) {
    case 128: return 129; // echo
    case 129: return 128;
    case 133: return 134; // router solicitation / advertisement
    case 134: return 133;
    case 135: return 136; // neighbor solicitation / advertisement
    case 136: return 135;
    case 130: return 131; // MLD query / report
    case 131: return 130;
    case 139: return 140; // node information query / response
    case 140: return 139;
    case 144: return 145; // home agent address discovery
    case 145: return 144;
    default: return -1;
  }
}

/**
 * GRE (RFC 2784/2890, and RFC 2637 enhanced GRE for PPTP), as Zeek's GRE analyzer: version 0
 * carries IP (by ethertype), Ethernet (0x6558) or ERSPAN (0x88be type I/II, 0x22eb type III);
 * version 1 must carry PPP (0x880b) with IPv4 (0x0021) or IPv6 (0x0057). Routing and reserved
 * flags are refused.
 */
function decodeGre(r: DecodeResult, d: Uint8Array, p: number, end: number, wend: number): void {
  if (end - p < 4) return fail(r, Reason.TRUNCATED_TUNNEL, p);
  const flags = u16(d, p);
  const ptype = u16(d, p + 2);
  const version = flags & 7;
  if (version > 1) return fail(r, Reason.BAD_TUNNEL, p);
  if (flags & 0x4000) return fail(r, Reason.BAD_TUNNEL, p); // routing present (deprecated)
  if (flags & 0x0078) return fail(r, Reason.BAD_TUNNEL, p); // reserved flags
  let q = p + 4;
  let key = -1;
  if (flags & 0x8000) q += 4; // checksum + reserved1
  if (flags & 0x2000) {
    if (end - q < 4) return fail(r, Reason.TRUNCATED_TUNNEL, p);
    key = version === 1 ? u16(d, q + 2) : u32(d, q); // PPTP: payload length + call id
    q += 4;
  }
  if (flags & 0x1000) q += 4; // sequence number
  if (flags & 0x0080) q += 4; // acknowledgement number (PPTP)
  if (q > end) return fail(r, Reason.TRUNCATED_TUNNEL, p);
  r.newFrame();
  if (version === 1) {
    if (ptype !== 0x880b) return fail(r, Reason.BAD_TUNNEL, p);
    if (q === end && q === wend && !(flags & 0x1000)) return; // PPTP ack-only packet: no payload
    if (end - q < 4) return fail(r, Reason.TRUNCATED_TUNNEL, q);
    const ppp = u16(d, q + 2); // after PPP address 0xff and control 0x03
    r.etherType = ppp;
    if (ppp === 0x0021) return decodeIp(r, d, q + 4, end, wend, Tunnel.GRE, key, 4);
    if (ppp === 0x0057) return decodeIp(r, d, q + 4, end, wend, Tunnel.GRE, key, 6);
    return fail(r, Reason.BAD_TUNNEL, q);
  }
  if (ptype === 0x88be) {
    // ERSPAN type II has the sequence flag and an 8-byte header; type I has neither.
    if (flags & 0x1000) {
      if (end - q < 8) return fail(r, Reason.TRUNCATED_TUNNEL, q);
      const session = u16(d, q + 2) & 0x03ff;
      return decodeEthernet(r, d, q + 8, end, wend, Tunnel.ERSPAN, session);
    }
    return decodeEthernet(r, d, q, end, wend, Tunnel.ERSPAN, -1);
  }
  if (ptype === 0x22eb) {
    // ERSPAN type III: 12-byte header, plus an 8-byte platform-specific subheader when O is set.
    if (end - q < 12) return fail(r, Reason.TRUNCATED_TUNNEL, q);
    const session = u16(d, q + 2) & 0x03ff;
    let e = q + 12;
    if (d[q + 11] & 0x01) {
      if (end - e < 8) return fail(r, Reason.TRUNCATED_TUNNEL, e);
      e += 8;
    }
    return decodeEthernet(r, d, e, end, wend, Tunnel.ERSPAN, session);
  }
  if (ptype === ET_TEB) return decodeEthernet(r, d, q, end, wend, Tunnel.GRE, key);
  if (ptype === ET_IPV4) return decodeIp(r, d, q, end, wend, Tunnel.GRE, key, 4);
  if (ptype === ET_IPV6) return decodeIp(r, d, q, end, wend, Tunnel.GRE, key, 6);
  r.etherType = ptype;
  fail(r, Reason.NOT_IP, q);
}

/** VXLAN (RFC 7348): 8-byte header with the I flag, then Ethernet. Without the I flag: plain UDP. */
function decodeVxlan(r: DecodeResult, d: Uint8Array, p: number, end: number, wend: number): void {
  if (end - p < 8) return fail(r, Reason.TRUNCATED_TUNNEL, p);
  if ((d[p] & 0x08) === 0) return; // Zeek: analyzer violation, the UDP flow stays
  const vni = u32(d, p + 4) >>> 8;
  r.newFrame();
  decodeEthernet(r, d, p + 8, end, wend, Tunnel.VXLAN, vni);
}

/** Geneve (RFC 8926): version 0, options, protocol type as an ethertype (0x6558 = Ethernet). */
function decodeGeneve(r: DecodeResult, d: Uint8Array, p: number, end: number, wend: number): void {
  if (end - p < 8) return fail(r, Reason.TRUNCATED_TUNNEL, p);
  if (d[p] >> 6 !== 0) return fail(r, Reason.BAD_TUNNEL, p);
  const hdr = 8 + (d[p] & 0x3f) * 4;
  if (end - p < hdr) return fail(r, Reason.TRUNCATED_TUNNEL, p);
  if (p + hdr >= wend) return fail(r, Reason.BAD_TUNNEL, p); // empty payload
  const vni = u32(d, p + 4) >>> 8;
  r.newFrame();
  decodeEtherType(r, d, p + hdr, end, wend, u16(d, p + 2), Tunnel.GENEVE, vni);
}

/**
 * GTPv1-U (3GPP TS 29.281): version 1, PT=1, message type 255 (T-PDU) carries an IP packet
 * after the 8-byte header, the 4-byte optional part (any of E/S/PN set) and extension headers
 * (length in 4-byte units, last byte = next type). Other message types stay plain UDP.
 */
function decodeGtpu(r: DecodeResult, d: Uint8Array, p: number, end: number, wend: number): void {
  if (end - p < 8) return fail(r, Reason.TRUNCATED_TUNNEL, p);
  const flags = d[p];
  if (flags >> 5 !== 1 || (flags & 0x10) === 0) return; // not GTPv1 (GTP' or v2): leave as UDP
  if (d[p + 1] !== 0xff) return; // signalling (echo, error indication, end marker)
  const teid = u32(d, p + 4);
  let q = p + 8;
  if (flags & 0x07) {
    if (end - q < 4) return fail(r, Reason.TRUNCATED_TUNNEL, q);
    let next = flags & 0x04 ? d[q + 3] : 0;
    q += 4;
    while (next !== 0) {
      if (end - q < 1) return fail(r, Reason.TRUNCATED_TUNNEL, q);
      const len = d[q] * 4;
      if (len === 0) return fail(r, Reason.BAD_TUNNEL, q);
      if (end - q < len) return fail(r, Reason.TRUNCATED_TUNNEL, q);
      next = d[q + len - 1];
      q += len;
    }
  }
  if (q >= end) return fail(r, q >= wend ? Reason.BAD_TUNNEL : Reason.TRUNCATED_TUNNEL, q);
  r.newFrame();
  decodeIp(r, d, q, end, wend, Tunnel.GTPV1, teid, 0);
}

/**
 * Teredo (RFC 4380): optional authentication indicator (0x0001, first), optional origin
 * indication (0x0000, 8 bytes), then an IPv6 packet whose length must fill the datagram.
 * Anything else (e.g. a non-Teredo service on port 3544) stays plain UDP, as in Zeek.
 */
function decodeTeredo(r: DecodeResult, d: Uint8Array, p: number, end: number, wend: number): void {
  let q = p;
  let sawAuth = false;
  let sawOrigin = false;
  for (;;) {
    if (wend - q < 2) return;
    if (end - q < 2) return fail(r, Reason.TRUNCATED_TUNNEL, q);
    const tag = u16(d, q);
    if (tag === 0x0001 && !sawAuth && !sawOrigin) {
      if (end - q < 4) return fail(r, Reason.TRUNCATED_TUNNEL, q);
      const total = 4 + d[q + 2] + d[q + 3] + 8 + 1;
      if (wend - q < total) return;
      if (end - q < total) return fail(r, Reason.TRUNCATED_TUNNEL, q);
      sawAuth = true;
      q += total;
      continue;
    }
    if (tag === 0x0000 && !sawOrigin) {
      if (wend - q < 8) return;
      if (end - q < 8) return fail(r, Reason.TRUNCATED_TUNNEL, q);
      sawOrigin = true;
      q += 8;
      continue;
    }
    break;
  }
  if (d[q] >> 4 !== 6 || wend - q < 40) return; // not Teredo
  if (end - q < 40) return fail(r, Reason.TRUNCATED_TUNNEL, q);
  if (40 + u16(d, q + 4) !== wend - q) return; // payload length must match the datagram
  r.newFrame();
  decodeIp(r, d, q, end, wend, Tunnel.TEREDO, -1, 6);
}

// ---------------------------------------------------------------------------------------------
// Checksums

function sumBytes(d: Uint8Array, p: number, len: number, sum: number): number {
  const e = p + (len & ~1);
  for (let i = p; i < e; i += 2) sum += (d[i] << 8) | d[i + 1];
  if (len & 1) sum += d[p + len - 1] << 8;
  return sum;
}

function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/**
 * Verifies the TCP/UDP/ICMP/ICMPv6 checksum of `r.layers[layer]` (over the IPv4/IPv6
 * pseudo-header where the protocol has one). Returns true when the checksum is right, and also
 * when it cannot or need not be verified: another protocol, a fragment, a transport segment not
 * completely captured, or a UDP-over-IPv4 checksum of 0 (none). Like Zeek, a UDP-over-IPv6
 * checksum of 0 is wrong.
 */
export function checksumOk(r: DecodeResult, layer: number): boolean {
  if (layer < 0 || layer >= r.depth) return true;
  const L = r.layers[layer];
  const proto = L.proto;
  if (proto !== P_TCP && proto !== P_UDP && proto !== P_ICMP && proto !== P_ICMPV6) return true;
  if (!L.transportComplete || L.isFragment || L.l4Captured < L.l4Len) return true;
  const d = r.data;
  let len = L.l4Len;
  if (proto === P_UDP) {
    if (L.l4Checksum === 0 && L.version === 4) return true;
    if (L.udpLength >= 8 && L.udpLength <= len) len = L.udpLength;
  }
  // The pseudo-header is summed from the packet bytes (reading the uint32 address fields could
  // box doubles in unoptimised code).
  let sum = 0;
  if (proto !== P_ICMP) {
    if (L.version === 4) {
      sum = sumBytes(d, L.ipOffset + 12, 4, sumBytes(d, L.dstAddrOffset, 4, 0));
      sum += proto + len;
    } else {
      sum = sumBytes(d, L.ipOffset + 8, 16, sumBytes(d, L.dstAddrOffset, 16, 0));
      sum += (len >>> 16) + (len & 0xffff) + proto;
    }
  }
  sum = sumBytes(d, L.l4Offset, len, sum);
  return fold(sum) === 0xffff;
}

/** Verifies the IPv4 header checksum of `r.layers[layer]` (true for IPv6, which has none). */
export function ipChecksumOk(r: DecodeResult, layer: number): boolean {
  if (layer < 0 || layer >= r.depth) return true;
  const L = r.layers[layer];
  if (L.version !== 4) return true;
  return fold(sumBytes(r.data, L.ipOffset, L.ipHeaderLen, 0)) === 0xffff;
}

// ---------------------------------------------------------------------------------------------
// Address formatting (allocates: once per flow, not per packet)

/** Formats an IPv4 address held as a uint32 as dotted quad. */
export function formatIPv4(a: number): string {
  return `${(a >>> 24) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/**
 * Formats an IPv6 address (four uint32 words) as Zeek prints it through inet_ntop: lower-case
 * hex, the first longest run of two or more zero groups compressed to `::` (RFC 5952), an
 * IPv4-mapped address as `::ffff:a.b.c.d`, and (as glibc's inet_ntop does) an IPv4-compatible
 * address `::a.b.c.d` (first 96 bits zero, not `::` or `::1`-like).
 * Note: Zeek treats IPv4-mapped addresses as IPv4 and prints them dotted (`a.b.c.d`); the flow
 * table can choose that by testing isV4Mapped().
 */
export function formatIPv6(w: ArrayLike<number>): string {
  const g = [
    w[0] >>> 16, w[0] & 0xffff, w[1] >>> 16, w[1] & 0xffff,
    w[2] >>> 16, w[2] & 0xffff, w[3] >>> 16, w[3] & 0xffff,
  ];
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestStart = -1;
  if (bestStart === 0 && (bestLen === 6 || (bestLen === 5 && g[5] === 0xffff))) {
    const v4 = formatIPv4(((g[6] << 16) | g[7]) >>> 0);
    return bestLen === 5 ? `::ffff:${v4}` : `::${v4}`;
  }
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      s += '::';
      i += bestLen - 1;
      continue;
    }
    if (s !== '' && !s.endsWith(':')) s += ':';
    s += g[i].toString(16);
  }
  return s;
}

/** True when the IPv6 address is IPv4-mapped (::ffff:0:0/96). */
export function isV4Mapped(w: ArrayLike<number>): boolean {
  return w[0] === 0 && w[1] === 0 && w[2] === 0xffff;
}

/** Formats a layer's source address (`which` = 'src') or destination address ('dst'). */
export function formatLayerAddr(layer: IpLayer, which: 'src' | 'dst'): string {
  if (layer.version === 4) return formatIPv4(which === 'src' ? layer.src4 : layer.dst4);
  return formatIPv6(which === 'src' ? layer.src6 : layer.dst6);
}
