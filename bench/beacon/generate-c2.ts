// C2 beacons of the benchmark: jitter semantics of real frameworks and the corruptions that real
// traffic adds to them (dropped check-ins, operator tasking, office hours, sleep changes, hosts
// switched off at night, unreachable servers).

import type { ConnState } from '../../collectors/record.js';
import { pairKeyOf } from '../../detectors/beacon/key.js';
import {
  type AddressBook,
  type Dest,
  type FlowSink,
  type Host,
  type Interval,
  type Rand,
  clipIntervals,
  inIntervals,
  nextIntervalStart,
  officeHours,
  randAlnum,
  smallDur,
  wordDomain,
  HOUR,
  type GeneratorContext,
} from './generate-util.js';

export const FAMILIES = ['cobaltstrike', 'symmetric', 'sliver', 'mythic'] as const;
export const PERIODS = [10, 30, 60, 120, 300, 600, 900, 1800, 3600] as const;
export const JITTERS = [0, 0.1, 0.25, 0.5, 0.75, 0.9] as const;
export const CORRUPTIONS = ['none', 'missed', 'tasking', 'officehours', 'sleepchange', 'offline', 'failed'] as const;

export interface Combo {
  family: string;
  period: number;
  jitter: number;
  corruption: string;
}

/**
 * Sleep between two check-ins, seconds, for a family's jitter semantics:
 * - cobaltstrike: the sleep is reduced by a random amount up to jitter% → U[S(1-j), S].
 * - symmetric: U[S(1-j), S(1+j)].
 * - sliver: the beacon's jitter is a duration J added on top: S + U[0, J), J = j·S.
 * - mythic: what the agents do with their integer jitter percentage J% = round(100 j):
 *   Apollo draws whole seconds in [floor(S(1-j)), floor(S(1+j))); Poseidon draws k in [0, J%),
 *   then sleeps S + floor(S·k/100) when k is even and S - floor(S·k/100) when odd.
 */
export function makeSleep(family: string, jitter: number, r: Rand, agent: 'apollo' | 'poseidon'): (s: number) => number {
  switch (family) {
    case 'cobaltstrike':
      return (s) => s * (1 - jitter * r.next());
    case 'symmetric':
      return (s) => s * (1 + jitter * (2 * r.next() - 1));
    case 'sliver':
      return (s) => s + jitter * s * r.next();
    case 'mythic': {
      const pct = Math.round(jitter * 100);
      if (agent === 'apollo') {
        return (s) => {
          if (pct === 0) return Math.round(s);
          const lo = Math.floor(s * (1 - pct / 100));
          const hi = Math.floor(s * (1 + pct / 100));
          return Math.floor(r.next() * (hi - lo) + lo);
        };
      }
      return (s) => {
        if (pct === 0) return Math.round(s);
        const k = Math.floor(r.next() * pct);
        const diff = Math.floor((s * k) / 100);
        return k % 2 === 0 ? Math.round(s) + diff : Math.round(s) - diff;
      };
    }
    default:
      throw new Error(`unknown beacon family ${family}`);
  }
}

type Transport = 'https' | 'http' | 'tcp' | 'mtls';

interface C2Server {
  family: string;
  transport: Transport;
  dest: Dest;
  users: number;
}

interface Planned {
  ts: number;
  ob: number;
  rb: number;
  dur: number;
  state: ConnState;
  tries?: number;
}

/** Which check-ins each combo should have, sampled so that every option value is covered. */
export function sampleCombos(r: Rand, scale: number, f: string[], p: number[], j: number[], c: string[]): Combo[] {
  const all: Combo[] = [];
  for (const family of f)
    for (const period of p) for (const jitter of j) for (const corruption of c) all.push({ family, period, jitter, corruption });
  const whole = Math.floor(scale);
  const out: Combo[] = [];
  for (let i = 0; i < whole; i++) out.push(...all);
  const rest = Math.round((scale - whole) * all.length);
  if (rest > 0) {
    const shuffled = r.shuffle([...all]);
    // Cover every value of every option first, then fill at random.
    const seen = new Set<string>();
    const chosen: Combo[] = [];
    const left: Combo[] = [];
    const keys = (x: Combo): string[] => [`f${x.family}`, `p${x.period}`, `j${x.jitter}`, `c${x.corruption}`];
    for (const x of shuffled) {
      if (keys(x).some((k) => !seen.has(k))) {
        chosen.push(x);
        for (const k of keys(x)) seen.add(k);
      } else left.push(x);
    }
    for (const x of left) if (chosen.length < Math.max(rest, 1)) chosen.push(x);
    out.push(...chosen);
  }
  return out;
}

const C2_SUBS = ['', '', 'api.', 'cdn.', 'static.', 'img.', 'update.', 'www.', 'content.', 'assets.', 'ajax.', 'mail.'];

function newServer(r: Rand, book: AddressBook, family: string): C2Server {
  const transport: Transport =
    family === 'sliver'
      ? r.wpick<Transport>([['https', 0.45], ['mtls', 0.3], ['http', 0.15], ['tcp', 0.1]])
      : r.wpick<Transport>([['https', 0.62], ['http', 0.23], ['tcp', 0.15]]);
  const rtt = r.u(0.015, 0.25);
  let name: string | undefined;
  if (transport === 'https' || transport === 'http') {
    for (;;) {
      const style = r.next();
      if (style < 0.12) name = `${randAlnum(r, r.int(10, 14))}.cloudfront.net`;
      else if (style < 0.2) name = `${randAlnum(r, r.int(6, 12), 'abcdefghijklmnopqrstuvwxyz')}.azureedge.net`;
      else if (style < 0.26) name = `${randAlnum(r, r.int(6, 10), 'abcdefghijklmnopqrstuvwxyz')}-${randAlnum(r, 4)}.workers.dev`;
      else name = `${r.pick(C2_SUBS)}${wordDomain(r)}`;
      if (book.claim(name)) break;
    }
  }
  // A name may resolve to a couple of redirectors; a bare address is one address.
  const ips = name !== undefined && r.chance(0.15) ? book.ips(2) : [book.ip()];
  let port: number;
  let service: string | undefined;
  switch (transport) {
    case 'https':
      port = r.wpick([[443, 0.85], [8443, 0.1], [4443, 0.05]]);
      service = 'ssl';
      break;
    case 'http':
      port = r.wpick([[80, 0.85], [8080, 0.15]]);
      service = 'http';
      break;
    case 'mtls':
      port = r.wpick([[8888, 0.6], [443, 0.25], [8443, 0.15]]);
      service = 'ssl';
      break;
    default:
      port = r.pick([443, 8443, 4444, 8080, 2222, 9001, 1337, 5555, 8000, 53]);
      if (port === 53) port = 993;
      service = undefined;
  }
  const dest: Dest = { ips, port, proto: 'tcp', rtt };
  if (service !== undefined) dest.service = service;
  if (name !== undefined) dest.name = name;
  return { family, transport, dest, users: 0 };
}

export type C2Context = GeneratorContext;

export function generateC2(ctx: C2Context, combos: Combo[]): void {
  const { r, hosts } = ctx;
  const servers: C2Server[] = [];
  const used = new Set<string>();
  const alwaysOn = hosts.filter((h) => (h.kind === 'ws' && !h.laptop) || h.kind === 'server');
  const desks = alwaysOn.filter((h) => h.kind === 'ws');
  const srvs = alwaysOn.filter((h) => h.kind === 'server');
  const laptops = hosts.filter((h) => h.kind === 'ws' && h.laptop);
  const workers = hosts.filter((h) => h.kind === 'ws' && h.work.length > 0);
  const fallback = hosts.filter((h) => h.kind !== 'iot');
  const pickHost = (c: Combo): Host => {
    let pool: Host[];
    if (c.corruption === 'officehours') pool = workers;
    else if (c.corruption === 'offline') pool = laptops;
    else pool = srvs.length > 0 && r.chance(0.2) ? srvs : desks.length > 0 ? desks : alwaysOn;
    if (pool.length === 0) pool = fallback;
    return r.pick(pool);
  };
  for (const c of combos) {
    // The server: usually its own, sometimes shared with one or two other infected hosts.
    let server: C2Server | undefined;
    if (r.chance(0.08)) {
      const cands = servers.filter((s) => s.family === c.family && s.users < 3);
      if (cands.length > 0) server = r.pick(cands);
    }
    let host = pickHost(c);
    if (server !== undefined) {
      const keyOf = (h: Host): string => `${h.ip}>${server!.dest.name ?? server!.dest.ips[0]}`;
      let tries = 0;
      while (used.has(keyOf(host)) && tries++ < 20) host = pickHost(c);
      if (used.has(keyOf(host))) server = undefined;
    }
    if (server === undefined) {
      server = newServer(r, ctx.book, c.family);
      servers.push(server);
    }
    server.users++;
    used.add(`${host.ip}>${server.dest.name ?? server.dest.ips[0]}`);
    runBeacon(ctx, host, server, c);
  }
}

function runBeacon(ctx: C2Context, host: Host, server: C2Server, c: Combo): void {
  const { r, sink, w0, w1 } = ctx;
  const meta = { label: 'c2' as const, family: c.family, period: c.period, jitter: c.jitter, corruption: c.corruption };
  const agent = r.chance(0.5) ? 'apollo' : 'poseidon';
  const sleep = makeSleep(c.family, c.jitter, r, agent);
  const d = server.dest;
  const tls = server.transport === 'https' || server.transport === 'mtls';
  // Message sizes: a fixed profile per implant with the family's small variation.
  const req0 = r.u(200, 600);
  const resp0 = server.transport === 'tcp' ? r.u(40, 200) : r.u(80, 700);
  const tlsO = tls ? r.u(220, 560) : 0;
  const tlsR = tls ? (r.chance(0.4) ? r.u(2600, 5200) : r.u(140, 260)) : 0;
  const vary = (x: number, big: boolean): number => {
    switch (c.family) {
      case 'cobaltstrike':
        return x + 4 * r.int(0, 3);
      case 'sliver':
        return x * (big ? r.u(0.8, 1.4) : r.u(0.9, 1.15));
      case 'mythic':
        return x + r.int(0, 40);
      default:
        return x + r.int(-20, 20);
    }
  };
  let allowed: Interval[];
  if (c.corruption === 'officehours') allowed = clipIntervals(officeHours(host.tz, w0, w1), w0, w1);
  else if (c.corruption === 'offline') allowed = clipIntervals(host.on, w0, w1);
  else allowed = [[w0, w1]];

  const span = w1 - w0;
  let best: { plan: Planned[]; checkins: number } | undefined;
  for (let attempt = 0; attempt < 30; attempt++) {
    const minSpan = Math.min(0.5 * span, Math.max(8 * c.period, 3 * HOUR));
    let start = r.u(w0, Math.max(w0 + 1, w1 - minSpan));
    if (attempt > 20) start = r.u(w0, w0 + 0.2 * span);
    const res = plan(start);
    if (best === undefined || res.checkins > best.checkins) best = res;
    if (res.checkins >= 4) break;
  }
  if (best === undefined || best.plan.length === 0) {
    best = { plan: [{ ts: w0 + r.u(0, 60), ob: req0, rb: resp0, dur: smallDur(r, d, req0, resp0, tls), state: 'SF' }], checkins: 1 };
  }
  let first: ReturnType<FlowSink['conn']>;
  for (const p of best.plan) {
    const f = sink.conn(p.ts, host, d, p.ob, p.rb, p.dur, meta, p.state, { synTries: p.tries });
    first ??= f;
  }
  if (first !== undefined) {
    const pair = sink.pairs.get(pairKeyOf(first));
    if (pair !== undefined) pair.checkins = (pair.checkins ?? 0) + best.checkins;
  }

  function plan(start: number): { plan: Planned[]; checkins: number } {
    const out: Planned[] = [];
    let checkins = 0;
    let t = start;
    if (!inIntervals(allowed, t)) {
      const ns = nextIntervalStart(allowed, t);
      t = ns + r.u(5, 600);
    }
    const end = w1;
    const tChange = start + r.u(0.25, 0.75) * (end - start);
    const s2 = Math.max(5, c.period * r.pick([0.1, 0.2, 0.5, 2, 5]));
    const pMiss = r.u(0.1, 0.3);
    const fStart = start + r.u(0.2, 0.6) * (end - start);
    const fLen = Math.max(4 * c.period, r.u(0.1, 0.3) * (end - start));
    const failState: ConnState = r.chance(0.7) ? 'S0' : 'REJ';
    const bursts: number[] = [];
    if (c.corruption === 'tasking') {
      const n = r.int(1, 4);
      for (let i = 0; i < n; i++) bursts.push(start + r.u(0.05, 0.95) * (end - start));
      bursts.sort((a, b) => a - b);
    }
    let pendingOutput = 0;
    while (t < end) {
      if (!inIntervals(allowed, t)) {
        const ns = nextIntervalStart(allowed, t);
        if (ns === Infinity) break;
        // The implant restarts with the machine / the user's session (persistence).
        t = ns + r.u(20, 400);
        continue;
      }
      const s = c.corruption === 'sleepchange' && t >= tChange ? s2 : c.period;
      let dur = 0;
      if (c.corruption === 'missed' && r.chance(pMiss)) {
        // Dropped: no connection at this turn.
      } else if (c.corruption === 'failed' && t >= fStart && t < fStart + fLen) {
        checkins++;
        const tries = failState === 'S0' ? r.int(1, 3) : 1;
        dur = failState === 'S0' ? (tries === 1 ? 0 : tries === 2 ? r.u(0.95, 1.1) : r.u(2.9, 3.2)) : d.rtt;
        out.push({ ts: t, ob: 0, rb: 0, dur, state: failState, tries });
        if (r.chance(0.35)) {
          const t2 = t + dur + r.u(0.8, 2.2);
          out.push({ ts: t2, ob: 0, rb: 0, dur: failState === 'S0' ? 0 : d.rtt, state: failState, tries: 1 });
          dur = t2 - t + (failState === 'S0' ? 0 : d.rtt);
        }
      } else {
        checkins++;
        let ob = vary(req0, false) + tlsO + (pendingOutput > 0 ? pendingOutput : 0);
        let rb = vary(resp0, false) + tlsR;
        pendingOutput = 0;
        if (bursts.length > 0 && t >= bursts[0]) {
          bursts.shift();
          // The operator queued work: a big response, then rapid exchanges while working.
          rb += r.logn(20000, 1.6);
          dur = smallDur(r, d, ob, rb, tls);
          out.push({ ts: t, ob, rb, dur, state: 'SF' });
          let tb = t + dur;
          const n = r.int(3, 20);
          for (let i = 0; i < n; i++) {
            tb += r.u(0.4, 6);
            ob = vary(req0, true) + tlsO + r.logn(6000, 1.5);
            rb = vary(resp0, true) + tlsR + (r.chance(0.5) ? r.logn(3000, 1.5) : 0);
            const db = smallDur(r, d, ob, rb, tls);
            out.push({ ts: tb, ob, rb, dur: db, state: 'SF' });
            tb += db;
          }
          pendingOutput = r.logn(1500, 1);
          dur = tb - t;
        } else {
          dur = Math.min(1.2, smallDur(r, d, ob, rb, tls));
          out.push({ ts: t, ob, rb, dur, state: 'SF' });
        }
      }
      t += dur + r.u(0.001, 0.03) + sleep(s);
    }
    return { plan: out, checkins };
  }
}
