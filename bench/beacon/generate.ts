// Labelled traffic generator of the beacon benchmark: a small office's day of conn.log-like flows
// with C2 beacons (label `c2`) hidden among benign traffic (label `benign`).
//
// Positives: one pair per beacon for every (family × period × jitter × corruption) combination
// (generate-c2.ts). Negatives: the periodic and irregular services of ordinary hosts, popular ones
// shared by many hosts and a share (~5%) of periodic services unique to one host
// (generate-benign.ts). DNS lookups to the site resolvers follow the names contacted, cached for
// the name's TTL. Everything is drawn from mulberry32 streams seeded by `seed`.

import type { FlowRecord } from '../../collectors/record.js';
import { generateBenign } from './generate-benign.js';
import { CORRUPTIONS, FAMILIES, JITTERS, PERIODS, generateC2, sampleCombos } from './generate-c2.js';
import { AddressBook, type Dest, FlowSink, type Host, HOUR, Rand, inIntervals, makeHosts, wordDomain } from './generate-util.js';
import type { GeneratedSet } from './types.js';

export { CORRUPTIONS, FAMILIES, JITTERS, PERIODS, makeSleep } from './generate-c2.js';
export { localHour, localWeekday, officeHours } from './generate-util.js';

export interface GenerateOptions {
  seed: number;
  /** Internal hosts at scale 1, default 400 (the site shrinks with scale, min 8). */
  hosts?: number;
  /** Window length in hours, default 24. */
  hours?: number;
  /** Window start, epoch s; default 2026-10-05T00:00:00Z (a Monday). */
  start?: number;
  /** Multiplies the number of pairs of every kind; default 1. */
  scale?: number;
  families?: string[];
  periods?: number[];
  jitters?: number[];
  corruptions?: string[];
}

/** The generated set with the site's facts the labels depend on. */
export interface GeneratedBeaconSet extends GeneratedSet {
  /** UTC offset (hours) of each internal host's local time (for office hours / nights). */
  hostTz: Record<string, number>;
}

export const DEFAULT_START = Date.UTC(2026, 9, 5, 0, 0, 0) / 1000;

/** Share of benign pairs that are periodic services unique to one host (hard negatives). */
const UNIQUE_PERIODIC_SHARE = 0.05;

export function generateBeaconSet(opts: GenerateOptions): GeneratedBeaconSet {
  const seed = opts.seed >>> 0;
  const scale = opts.scale ?? 1;
  const hours = opts.hours ?? 24;
  const w0 = opts.start ?? DEFAULT_START;
  const w1 = w0 + hours * HOUR;
  if (!(scale > 0) || !(hours > 0)) throw new Error('scale and hours must be positive');
  const families = opts.families ?? [...FAMILIES];
  const periods = opts.periods ?? [...PERIODS];
  const jitters = opts.jitters ?? [...JITTERS];
  const corruptions = opts.corruptions ?? [...CORRUPTIONS];
  for (const f of families) if (!(FAMILIES as readonly string[]).includes(f)) throw new Error(`unknown family ${f}`);
  for (const c of corruptions) if (!(CORRUPTIONS as readonly string[]).includes(c)) throw new Error(`unknown corruption ${c}`);

  const root = new Rand(seed ^ 0x5eed1e55);
  const rHosts = root.fork();
  const rBenign = root.fork();
  const rC2 = root.fork();
  const rCombos = root.fork();
  const rDns = root.fork();
  const rSink = root.fork();
  const rBook = root.fork();

  const subnet = 16 + (seed % 200);
  const siteTz = rHosts.pick([0, 1, 2, -5, -6, -8]);
  const nHosts = Math.max(8, Math.round((opts.hosts ?? 400) * scale));
  const hosts = makeHosts(rHosts, nHosts, siteTz, w0, w1, subnet);
  const book = new AddressBook(rBook);
  const sink = new FlowSink(rSink, w0, w1);
  const org = wordDomain(rHosts);
  book.claim(org);

  generateBenign({ r: rBenign, book, sink, hosts, w0, w1, subnet, org }, UNIQUE_PERIODIC_SHARE);
  const combos = sampleCombos(rCombos, scale, families, periods, jitters, corruptions);
  generateC2({ r: rC2, book, sink, hosts, w0, w1 }, combos);
  addDns(rDns, sink, hosts, subnet);

  const flows = sink.flows;
  flows.sort((a, b) => a.ts - b.ts);
  const pairs = [...sink.pairs.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const hostTz: Record<string, number> = {};
  for (const h of hosts) hostTz[h.ip] = h.tz;
  return { flows, pairs, window: [w0, w1], localNets: [`10.${subnet}.0.0/16`], hostTz };
}

/** DNS queries before connections to names not in the host's cache, plus background lookups. */
function addDns(r: Rand, sink: FlowSink, hosts: Host[], subnet: number): void {
  const flows = [...sink.flows].sort((a, b) => a.ts - b.ts);
  const byIp = new Map<string, Host>();
  for (const h of hosts) byIp.set(h.ip, h);
  const resolvers = new Map<string, Dest>();
  const resolverOf = (h: Host): Dest => {
    let d = resolvers.get(h.resolver);
    if (d === undefined) {
      d = { ips: [h.resolver], port: 53, proto: 'udp', service: 'dns', local: true, rtt: 0.002 };
      resolvers.set(h.resolver, d);
    }
    return d;
  };
  // A few hosts ask a public resolver directly.
  const external: Dest[] = [
    { ips: ['8.8.8.8'], port: 53, proto: 'udp', service: 'dns', rtt: 0.012 },
    { ips: ['1.1.1.1'], port: 53, proto: 'udp', service: 'dns', rtt: 0.01 },
  ];
  const publicResolver = new Map<string, Dest>();
  for (const h of hosts) if (r.chance(0.04)) publicResolver.set(h.ip, r.pick(external));
  const ttlOf = (name: string): number => {
    let x = 0;
    for (let i = 0; i < name.length; i++) x = (Math.imul(x, 31) + name.charCodeAt(i)) >>> 0;
    return [60, 300, 300, 300, 600, 900, 3600, 3600][x % 8];
  };
  const last = new Map<string, number>();
  const meta = { label: 'benign' as const, family: 'dns' };
  const query = (h: Host, t: number, name: string): void => {
    const d = publicResolver.get(h.ip) ?? resolverOf(h);
    const ob = 17 + name.length + 2 + 4;
    const fail = r.chance(0.003);
    sink.conn(t, h, d, ob, fail ? 0 : ob + r.int(16, 220), d.rtt * r.u(1, 8), meta, fail ? 'S0' : 'SF');
  };
  for (const f of flows) {
    if (f.server_name === undefined || f.local_resp === true) continue;
    const h = byIp.get(f.orig_h);
    if (h === undefined) continue;
    const k = `${f.orig_h}|${f.server_name}`;
    const prev = last.get(k);
    if (prev !== undefined && f.ts - prev < ttlOf(f.server_name)) continue;
    last.set(k, f.ts);
    // Application caches (browsers, runtimes) hide part of the expiries from the wire.
    if (prev !== undefined && r.chance(0.35)) continue;
    query(h, f.ts - r.u(0.002, 0.06), f.server_name);
  }
  // Background lookups of internal names (domain services, printers, WPAD, ...).
  for (const h of hosts) {
    if (h.kind === 'iot') continue;
    const mean = h.os === 'win' ? 600 : 1800;
    for (const [a, b] of h.on) {
      let t = Math.max(a, sink.w0) + r.exp(mean);
      const end = Math.min(b, sink.w1);
      while (t < end) {
        if (inIntervals(h.on, t)) query(h, t, `_ldap._tcp.dc._msdcs.corp${subnet}.local`);
        t += r.exp(mean);
      }
    }
  }
}

export type { FlowRecord };
