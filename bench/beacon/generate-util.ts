// Building blocks of the beacon benchmark's generator: random draws, host schedules, address and
// name pools, and one function that turns (time, host, destination, bytes, state) into a
// conn.log-like FlowRecord with consistent packet, IP-byte and history fields.

import type { ConnState, FlowRecord, TransportProto } from '../../collectors/record.js';
import { mulberry32 } from '../../agent/random.js';
import { pairKeyOf } from '../../detectors/beacon/key.js';
import type { LabelledPair, PairLabel } from './types.js';

export const HOUR = 3600;
export const DAY = 86400;

/** Random draws over one mulberry32 stream. */
export class Rand {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** A child stream, so that one component's draws do not shift another's. */
  fork(): Rand {
    return new Rand(Math.floor(this.next() * 4294967296));
  }
  u(a: number, b: number): number {
    return a + (b - a) * this.next();
  }
  /** Integer in [a, b] inclusive. */
  int(a: number, b: number): number {
    return a + Math.floor(this.next() * (b - a + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }
  /** Pick with weights. */
  wpick<T>(xs: readonly (readonly [T, number])[]): T {
    let total = 0;
    for (const [, w] of xs) total += w;
    let x = this.next() * total;
    for (const [v, w] of xs) {
      x -= w;
      if (x < 0) return v;
    }
    return xs[xs.length - 1][0];
  }
  normal(): number {
    const a = Math.max(this.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(a)) * Math.cos(2 * Math.PI * this.next());
  }
  /** Log-normal with the given median and log-space sigma. */
  logn(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal());
  }
  exp(mean: number): number {
    return -mean * Math.log(Math.max(1 - this.next(), 1e-12));
  }
  /** Zipf-like index in [0, n): rank r has weight 1/(r+1)^s. */
  zipf(n: number, s = 1.1): number {
    // Inverse transform over the continuous approximation, good enough for popularity ranks.
    const x = this.next();
    if (Math.abs(s - 1) < 1e-9) return Math.min(n - 1, Math.floor(Math.pow(n + 1, x)) - 1);
    const a = 1 - s;
    const hi = Math.pow(n + 1, a);
    const r = Math.pow(1 + x * (hi - 1), 1 / a) - 1;
    return Math.min(n - 1, Math.max(0, Math.floor(r)));
  }
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const t = xs[i];
      xs[i] = xs[j];
      xs[j] = t;
    }
    return xs;
  }
}

// ---------------------------------------------------------------------------------------------
// Intervals ([start, end) in epoch seconds, sorted, disjoint)

export type Interval = [number, number];

export function clipIntervals(iv: readonly Interval[], a: number, b: number): Interval[] {
  const out: Interval[] = [];
  for (const [s, e] of iv) {
    const s2 = Math.max(s, a);
    const e2 = Math.min(e, b);
    if (e2 > s2) out.push([s2, e2]);
  }
  return out;
}

export function inIntervals(iv: readonly Interval[], t: number): boolean {
  for (const [s, e] of iv) if (t >= s && t < e) return true;
  return false;
}

/** The start of the first interval that begins at or after t (Infinity when none). */
export function nextIntervalStart(iv: readonly Interval[], t: number): number {
  for (const [s] of iv) if (s >= t) return s;
  return Infinity;
}

export function totalLength(iv: readonly Interval[]): number {
  let n = 0;
  for (const [s, e] of iv) n += e - s;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Hosts

export type HostKind = 'ws' | 'server' | 'monitor' | 'iot';
export type Os = 'win' | 'mac' | 'linux' | 'embedded';

export interface Host {
  idx: number;
  ip: string;
  kind: HostKind;
  os: Os;
  /** Offset of the host's local time from UTC, hours. */
  tz: number;
  /** Workstation that is switched off / asleep at night. */
  laptop: boolean;
  /** Powered on. */
  on: Interval[];
  /** A user is at the machine (workstations on working days). */
  work: Interval[];
  /** The site resolver this host asks. */
  resolver: string;
}

/** Local midnight (epoch s) of the local day containing t, for a host at offset tz hours. */
export function localMidnight(t: number, tz: number): number {
  const off = tz * HOUR;
  return Math.floor((t + off) / DAY) * DAY - off;
}

/** Local weekday (0 Sunday .. 6 Saturday). */
export function localWeekday(t: number, tz: number): number {
  return new Date((t + tz * HOUR) * 1000).getUTCDay();
}

export function localHour(t: number, tz: number): number {
  const x = (t + tz * HOUR) % DAY;
  return (x < 0 ? x + DAY : x) / HOUR;
}

/** Office hours 08:00-18:00 on local weekdays, within [a, b). */
export function officeHours(tz: number, a: number, b: number): Interval[] {
  const out: Interval[] = [];
  for (let d = localMidnight(a, tz) - DAY; d < b + DAY; d += DAY) {
    const wd = localWeekday(d + 12 * HOUR, tz);
    if (wd === 0 || wd === 6) continue;
    out.push([d + 8 * HOUR, d + 18 * HOUR]);
  }
  return clipIntervals(out, a, b);
}

export function makeHosts(r: Rand, n: number, siteTz: number, w0: number, w1: number, subnet: number): Host[] {
  const hosts: Host[] = [];
  const resolvers = [`10.${subnet}.0.53`, `10.${subnet}.0.54`];
  for (let i = 0; i < n; i++) {
    const x = r.next();
    const kind: HostKind = i === 0 || i === 1 ? 'monitor' : x < 0.78 ? 'ws' : x < 0.93 ? 'server' : 'iot';
    let os: Os;
    if (kind === 'iot') os = 'embedded';
    else if (kind === 'server' || kind === 'monitor') os = r.chance(0.65) ? 'linux' : 'win';
    else os = r.wpick<Os>([['win', 0.7], ['mac', 0.2], ['linux', 0.1]]);
    const tz = kind === 'ws' && r.chance(0.08) ? r.pick([-8, -5, -3, 1, 2, 5.5, 8, 9]) : siteTz;
    const laptop = kind === 'ws' && r.chance(0.55);
    const on: Interval[] = [];
    const work: Interval[] = [];
    const a = w0 - 2 * DAY;
    const b = w1 + 2 * DAY;
    if (kind !== 'ws') {
      on.push([a, b]);
    } else {
      const earlyBird = r.u(-1, 1.2);
      const stay = r.u(7.5, 9.8);
      if (!laptop) on.push([a, b]);
      let prevOff = -Infinity;
      for (let d = localMidnight(a, tz); d < b; d += DAY) {
        const wd = localWeekday(d + 12 * HOUR, tz);
        const weekend = wd === 0 || wd === 6;
        const arrive = d + (8.4 + earlyBird + r.u(-0.5, 0.6)) * HOUR;
        const leave = arrive + (stay + r.u(-0.7, 0.7)) * HOUR;
        if (!weekend || r.chance(0.05)) {
          // Lunch away from the desk for a while.
          const lunch = d + r.u(11.8, 13.2) * HOUR;
          const back = lunch + r.u(0.4, 1) * HOUR;
          const wEnd = weekend ? arrive + r.u(1, 3) * HOUR : leave;
          if (lunch < wEnd && back < wEnd) {
            work.push([arrive, lunch], [back, wEnd]);
          } else work.push([arrive, wEnd]);
        }
        if (laptop) {
          // Off for 8-14 h at night: lid closed in the evening, opened in the morning.
          const offStart = d + r.u(18.5, 23.5) * HOUR;
          const maxDur = Math.min(14, 24 + 9.6 - (offStart - d) / HOUR);
          const dur = r.u(8, Math.max(8.01, maxDur)) * HOUR;
          on.push([prevOff === -Infinity ? a : prevOff, offStart]);
          prevOff = offStart + dur;
        }
      }
      if (laptop) on.push([prevOff, b]);
    }
    const onC = on.filter(([s, e]) => e > s);
    // Working hours only while the machine is on.
    const workOn: Interval[] = [];
    for (const [s, e] of work) for (const iv of clipIntervals(onC, s, e)) workOn.push(iv);
    hosts.push({
      idx: i,
      ip: `10.${subnet}.${1 + Math.floor(i / 250)}.${10 + (i % 250)}`,
      kind,
      os,
      tz,
      laptop,
      on: onC,
      work: workOn,
      resolver: resolvers[i % 2],
    });
  }
  return hosts;
}

// ---------------------------------------------------------------------------------------------
// Addresses and names

const PUBLIC_FIRST_OCTETS = [
  3, 4, 13, 18, 20, 23, 34, 35, 40, 45, 50, 51, 52, 54, 62, 64, 66, 69, 72, 74, 76, 78, 80, 81, 82, 85, 87, 88, 91, 93,
  94, 95, 104, 107, 108, 128, 130, 134, 137, 138, 139, 141, 142, 143, 144, 146, 147, 151, 152, 154, 157, 158, 159, 162,
  163, 165, 167, 170, 173, 176, 178, 185, 188, 193, 194, 195, 198, 199, 203, 204, 205, 206, 207, 208, 209, 212, 213,
  216, 217,
];

export class AddressBook {
  private used = new Set<string>();
  private names = new Set<string>();
  constructor(private r: Rand) {}
  ip(): string {
    for (;;) {
      const a = this.r.pick(PUBLIC_FIRST_OCTETS);
      const s = `${a}.${this.r.int(0, 255)}.${this.r.int(0, 255)}.${this.r.int(1, 254)}`;
      if (!this.used.has(s)) {
        this.used.add(s);
        return s;
      }
    }
  }
  ips(n: number): string[] {
    const base = this.ip().split('.').slice(0, 3).join('.');
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const s = i === 0 ? this.ip() : `${base}.${this.r.int(1, 254)}`;
      if (!this.used.has(s)) this.used.add(s);
      out.push(s);
    }
    return out;
  }
  /** Reserve a name; returns false when it was already taken. */
  claim(name: string): boolean {
    if (this.names.has(name)) return false;
    this.names.add(name);
    return true;
  }
}

const WORDS = [
  'cloud', 'data', 'sync', 'cdn', 'static', 'media', 'api', 'portal', 'secure', 'update', 'global', 'net', 'web',
  'app', 'soft', 'tech', 'micro', 'nova', 'blue', 'green', 'red', 'star', 'peak', 'river', 'stone', 'bright', 'swift',
  'north', 'metro', 'prime', 'core', 'edge', 'link', 'hub', 'point', 'wave', 'pixel', 'logic', 'smart', 'fast', 'open',
  'live', 'go', 'my', 'get', 'one', 'true', 'solid', 'vista', 'quant', 'orbit', 'atlas', 'zen', 'home', 'shop', 'news',
  'daily', 'world', 'travel', 'health', 'food', 'auto', 'market', 'trade', 'learn', 'code', 'dev', 'craft', 'studio',
  'lab', 'works', 'group', 'systems', 'solutions', 'services', 'digital', 'mobile', 'office', 'connect', 'trust',
];
const TLDS: readonly (readonly [string, number])[] = [
  ['com', 60], ['net', 12], ['org', 6], ['io', 6], ['co', 3], ['info', 2], ['de', 2], ['co.uk', 2], ['fr', 1],
  ['xyz', 1], ['online', 1], ['app', 1], ['us', 1], ['cloud', 1],
];

/** A plausible registered domain built from common words (benign long tail and C2 alike). */
export function wordDomain(r: Rand): string {
  const a = r.pick(WORDS);
  let b = r.pick(WORDS);
  while (b === a) b = r.pick(WORDS);
  const sep = r.chance(0.25) ? '-' : '';
  const n = r.chance(0.08) ? String(r.int(1, 99)) : '';
  return `${a}${sep}${b}${n}.${r.wpick(TLDS)}`;
}

export function randAlnum(r: Rand, n: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'): string {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(r.next() * alphabet.length)];
  return s;
}

// ---------------------------------------------------------------------------------------------
// Destinations and flows

export interface Dest {
  /** Responder addresses (a CDN name rotates among several). */
  ips: string[];
  port: number;
  proto: TransportProto;
  /** Zeek service when the connection completes (ssl, http, dns, ...). */
  service?: string;
  /** SNI / Host / DNS-join name. */
  name?: string;
  /** The responder is inside the site. */
  local?: boolean;
  /** Round-trip time to the responder, seconds. */
  rtt: number;
}

export interface PairMeta {
  label: PairLabel;
  family: string;
  period?: number;
  jitter?: number;
  corruption?: string;
}

const UID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Collects flows and the pair table. */
export class FlowSink {
  readonly flows: FlowRecord[] = [];
  readonly pairs = new Map<string, LabelledPair>();
  private counter = 0;
  private readonly uidMask: number;
  constructor(
    private r: Rand,
    readonly w0: number,
    readonly w1: number,
  ) {
    this.uidMask = Math.floor(r.next() * 4294967296) >>> 0;
  }

  private uid(): string {
    // 6 characters from a bijection of a counter (unique), 11 random ones (looks like Zeek's).
    let x = (Math.imul((this.counter++ ^ this.uidMask) >>> 0, 0x9e3779b1) >>> 0) ^ 0x5bd1e995;
    x >>>= 0;
    let s = 'C';
    for (let i = 0; i < 6; i++) {
      s += UID_ALPHABET[x % 62];
      x = Math.floor(x / 62);
    }
    for (let i = 0; i < 11; i++) s += UID_ALPHABET[Math.floor(this.r.next() * 62)];
    return s;
  }

  ephemeral(h: Host): number {
    if (h.os === 'linux') return this.r.int(32768, 60999);
    return this.r.int(49152, 65535);
  }

  /**
   * One connection. `state` SF (default) or a failure state; ob / rb are payload bytes; dur the
   * connection's duration. Returns the flow, or undefined when it falls outside the window.
   */
  conn(
    ts: number,
    h: Host,
    d: Dest,
    ob: number,
    rb: number,
    dur: number,
    meta: PairMeta,
    state: ConnState = 'SF',
    opts: { synTries?: number; history?: string } = {},
  ): FlowRecord | undefined {
    if (!(ts >= this.w0 && ts < this.w1)) return undefined;
    const r = this.r;
    const ip = d.ips.length === 1 ? d.ips[0] : d.ips[Math.floor(r.next() * d.ips.length)];
    const f: FlowRecord = {
      kind: 'flow',
      ts: Math.round(ts * 1e6) / 1e6,
      uid: this.uid(),
      orig_h: h.ip,
      orig_p: this.ephemeral(h),
      resp_h: ip,
      resp_p: d.port,
      proto: d.proto,
      local_orig: true,
      local_resp: d.local === true,
      missed_bytes: 0,
    };
    if (d.name !== undefined) f.server_name = d.name;
    ob = Math.max(0, Math.round(ob));
    rb = Math.max(0, Math.round(rb));
    dur = Math.max(0, dur);
    if (d.proto === 'udp') {
      const op = Math.max(1, Math.ceil(ob / 1200));
      if (state === 'S0') {
        f.conn_state = 'S0';
        f.history = 'D';
        f.orig_bytes = ob;
        f.resp_bytes = 0;
        f.orig_pkts = op;
        f.orig_ip_bytes = ob + 28 * op;
        f.resp_pkts = 0;
        f.resp_ip_bytes = 0;
        if (op > 1) f.duration = round6(dur);
      } else {
        const rp = Math.max(1, Math.ceil(rb / 1200));
        f.conn_state = 'SF';
        f.history = 'Dd';
        f.service = d.service;
        f.orig_bytes = ob;
        f.resp_bytes = rb;
        f.orig_pkts = op;
        f.resp_pkts = rp;
        f.orig_ip_bytes = ob + 28 * op;
        f.resp_ip_bytes = rb + 28 * rp;
        f.duration = round6(dur);
      }
      if (f.service === undefined) delete f.service;
      return this.push(f, meta);
    }
    switch (state) {
      case 'S0': {
        const tries = opts.synTries ?? 1;
        f.conn_state = 'S0';
        f.history = 'S';
        f.orig_bytes = 0;
        f.resp_bytes = 0;
        f.orig_pkts = tries;
        f.orig_ip_bytes = tries * 52;
        f.resp_pkts = 0;
        f.resp_ip_bytes = 0;
        if (tries > 1) f.duration = round6(dur);
        break;
      }
      case 'REJ':
        f.conn_state = 'REJ';
        f.history = 'Sr';
        f.orig_bytes = 0;
        f.resp_bytes = 0;
        f.orig_pkts = 1;
        f.orig_ip_bytes = 52;
        f.resp_pkts = 1;
        f.resp_ip_bytes = 40;
        f.duration = round6(d.rtt * r.u(0.9, 1.2));
        break;
      case 'SH':
        f.conn_state = 'SH';
        f.history = 'SF';
        f.orig_bytes = 0;
        f.resp_bytes = 0;
        f.orig_pkts = 2;
        f.orig_ip_bytes = 92;
        f.resp_pkts = 0;
        f.resp_ip_bytes = 0;
        f.duration = round6(dur);
        break;
      default: {
        const segO = Math.ceil(ob / 1448);
        const segR = Math.ceil(rb / 1448);
        const op = 2 + segO + Math.ceil(segR / 2) + (state === 'RSTR' ? 0 : 1);
        const rp = 1 + segR + Math.ceil(segO / 2) + (state === 'RSTO' ? 0 : 1);
        f.conn_state = state;
        f.history =
          opts.history ??
          (state === 'SF'
            ? r.chance(0.75)
              ? 'ShADadFf'
              : r.chance(0.5)
                ? 'ShADadfF'
                : 'ShADdaFf'
            : state === 'RSTO'
              ? 'ShADadR'
              : state === 'RSTR'
                ? 'ShADadr'
                : state === 'S1'
                  ? 'ShADad'
                  : 'ShADadFf');
        if (segO + segR > 400 && r.chance(0.5)) f.history = f.history.replace('Dad', 'DadtT');
        if (ob > 0 || rb > 0) f.service = d.service;
        f.orig_bytes = ob;
        f.resp_bytes = rb;
        f.orig_pkts = op;
        f.resp_pkts = rp;
        f.orig_ip_bytes = ob + 52 * op;
        f.resp_ip_bytes = rb + 52 * rp;
        f.duration = round6(dur);
        if (f.service === undefined) delete f.service;
      }
    }
    return this.push(f, meta);
  }

  private push(f: FlowRecord, meta: PairMeta): FlowRecord {
    const key = pairKeyOf(f);
    let p = this.pairs.get(key);
    if (p === undefined) {
      p = { key, label: meta.label, family: meta.family, conns: 0 };
      if (meta.period !== undefined) p.period = meta.period;
      if (meta.jitter !== undefined) p.jitter = meta.jitter;
      if (meta.corruption !== undefined) p.corruption = meta.corruption;
      if (meta.label === 'c2') p.checkins = 0;
      this.pairs.set(key, p);
    } else if (p.label !== meta.label) {
      throw new Error(`pair ${key} generated as both ${p.label} and ${meta.label}`);
    }
    p.conns++;
    this.flows.push(f);
    return f;
  }
}

export function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/** Duration of a small request/response exchange over TCP (handshake, request, reply, close). */
export function smallDur(r: Rand, d: Dest, ob: number, rb: number, tls: boolean): number {
  const rtts = (tls ? 3 : 2) + Math.ceil((ob + rb) / 60000);
  return d.rtt * rtts * r.u(0.95, 1.3) + r.u(0.005, 0.12) + (ob + rb) / r.u(2e6, 1.2e7);
}

/** What every traffic generator of the set works with: randomness, addresses, the sink, the hosts and the window [w0, w1). */
export interface GeneratorContext {
  r: Rand;
  book: AddressBook;
  sink: FlowSink;
  hosts: Host[];
  w0: number;
  w1: number;
}
