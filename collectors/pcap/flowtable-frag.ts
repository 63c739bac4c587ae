// IPv4/IPv6 fragment reassembly for the flow table. Only what the flow table needs is kept: the
// first fragment's IP and transport header fields, and how many bytes of the datagram arrived.
// When the datagram is complete it is handed on as one layer whose transport header (ports,
// flags, sequence numbers) is the first fragment's and whose lengths are the whole datagram's,
// as Zeek does after its fragment reassembly. Memory is bounded (maxDatagrams, frag_timeout);
// fragments are rare, so this path may allocate (one record per datagram, string keys).

import type { Counters } from '../../agent/metrics.js';
import type { DecodeResult } from './decode.js';
import { IpLayer } from './decode.js';

interface Pending {
  first: IpLayer | null;
  /** Bytes of fragment payload received (overlaps are not double counted beyond `total`). */
  got: number;
  /** Total payload length, known once the last fragment (MF = 0) arrived; -1 before. */
  total: number;
  /** Every fragment was captured completely. */
  captured: boolean;
  started: number;
}

function copyLayer(src: IpLayer): IpLayer {
  const d = new IpLayer();
  const ro = d as unknown as Record<string, unknown>;
  const so = src as unknown as Record<string, unknown>;
  for (const k of Object.keys(so)) {
    const v = so[k];
    if (v instanceof Uint32Array) (ro[k] as Uint32Array).set(v);
    else ro[k] = v;
  }
  return d;
}

export class FragmentTable {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly maxDatagrams: number,
    private readonly timeout: number,
    private readonly counters: Counters,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  /** Adds fragment layer `i` of `r`; returns the whole datagram's layer when it is complete. */
  add(ts: number, r: DecodeResult, i: number): IpLayer | null {
    const L = r.layers[i];
    const key =
      L.version === 4
        ? `4:${L.src4}:${L.dst4}:${L.fragId}:${L.proto}`
        : `6:${L.src6.join(',')}:${L.dst6.join(',')}:${L.fragId}`;
    let p = this.pending.get(key);
    if (!p) {
      if (this.pending.size >= this.maxDatagrams) {
        const oldest = this.pending.keys().next();
        if (!oldest.done) this.pending.delete(oldest.value);
        this.counters.add('fragments_evicted');
      }
      p = { first: null, got: 0, total: -1, captured: true, started: ts };
      this.pending.set(key, p);
    }
    this.counters.add('fragments');
    const fragLen = L.l4Len;
    if (L.l4Captured < L.l4Len) p.captured = false;
    if (L.fragOffset === 0 && !L.laterFragment) {
      if (!p.first) p.first = copyLayer(L);
    }
    p.got += fragLen;
    if (!L.moreFragments) p.total = L.fragOffset + fragLen;
    if (p.first && p.total >= 0 && p.got >= p.total) {
      this.pending.delete(key);
      this.counters.add('datagrams_reassembled');
      const d = p.first;
      const total = p.total;
      d.isFragment = false;
      d.laterFragment = false;
      d.moreFragments = false;
      d.ipTotalLen = d.ipHeaderLen + total;
      d.l4Len = total;
      d.l4Captured = p.captured ? total : 0;
      if (d.proto === 6) d.payloadLen = total - d.tcpHeaderLen;
      else if (d.proto === 17) d.payloadLen = d.udpLength >= 8 ? d.udpLength - 8 : total - 8;
      else if (d.proto === 1 || d.proto === 58) d.payloadLen = total - 8;
      else d.payloadLen = total;
      return d.transportComplete || (d.proto !== 6 && d.proto !== 17 && d.proto !== 1 && d.proto !== 58) ? d : null;
    }
    return null;
  }

  /** Drops datagrams older than frag_timeout. */
  expire(ts: number): void {
    for (const [k, p] of this.pending) {
      if (p.started + this.timeout <= ts) {
        this.pending.delete(k);
        this.counters.add('fragments_expired');
      }
    }
  }
}
