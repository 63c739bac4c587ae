// Generator of the demo's bundled conn.log: a small office network over four weeks, with two
// planted anomalies. Deterministic (seeded), so the bundled file can be regenerated and checked.

import type { ConnState, FlowRecord } from '../../collectors/record.js';
import { mulberry32 } from '../random.js';

export const DEMO_START = Date.UTC(2026, 9, 5) / 1000; // Monday 2026-10-05 00:00 UTC
export const DEMO_DAYS = 28;

/** What was planted, so the demo can say what to expect and tests can check it was found. */
export const DEMO_PLANTED = [
  {
    host: '10.20.0.10',
    day: '2026-10-22',
    what: 'mail relay opens ~3,000 SMTP connections to hundreds of outside servers (spam run)',
  },
  {
    host: '192.168.10.23',
    day: '2026-10-27',
    what: 'workstation uploads ~1.6 GB to one external server over HTTPS in the evening (exfiltration)',
  },
  {
    host: '192.168.10.15',
    day: '2026-10-28',
    what: 'workstation checks in with a C2 server every ~5 min, day and night (Cobalt Strike style, 20 % jitter)',
  },
] as const;

export const DEMO_NETWORK = {
  workstations: Array.from({ length: 12 }, (_, i) => `192.168.10.${11 + i * 2}`),
  servers: ['10.20.0.10', '10.20.0.11'],
  resolver: '192.168.10.2',
  fileServer: '10.20.0.20',
};

export function generateDemoFlows(seed = 20261005): FlowRecord[] {
  const rand = mulberry32(seed);
  const normal = () => {
    // Box-Muller; one value per call is enough here.
    const u = Math.max(rand(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)];
  const uidAlphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const uid = () => {
    let s = 'C';
    for (let i = 0; i < 17; i++) s += uidAlphabet[Math.floor(rand() * uidAlphabet.length)];
    return s;
  };
  // Documentation ranges (RFC 5737 / RFC 3849): external-looking, never anyone's real host.
  const web = Array.from({ length: 120 }, (_, i) => `${i % 2 ? '198.51.100' : '203.0.113'}.${10 + i}`);
  const web6 = Array.from({ length: 20 }, (_, i) => `2001:db8:${(i % 4) + 1}::${(i * 7 + 3).toString(16)}`);
  const mx = Array.from({ length: 40 }, (_, i) => `192.0.2.${100 + i}`);

  const flows: FlowRecord[] = [];
  const add = (
    ts: number,
    orig: string,
    resp: string,
    resp_p: number,
    proto: 'tcp' | 'udp',
    service: string | undefined,
    sent: number,
    received: number,
    state: ConnState = 'SF',
  ) => {
    const duration = proto === 'udp' ? 0.002 + rand() * 0.05 : 0.05 + rand() * 4 + sent / 2e6;
    const origPkts = Math.max(1, Math.ceil(sent / 1400) + 3);
    const respPkts = state === 'SF' ? Math.max(1, Math.ceil(received / 1400) + 2) : 0;
    const header = proto === 'tcp' ? 52 : 28;
    const v6 = orig.includes(':') || resp.includes(':');
    const ipHeader = header + (v6 ? 20 : 0);
    flows.push({
      kind: 'flow',
      ts: Math.round(ts * 1e6) / 1e6,
      uid: uid(),
      orig_h: orig,
      orig_p: 49152 + Math.floor(rand() * 16000),
      resp_h: resp,
      resp_p,
      proto,
      service,
      duration: Math.round(duration * 1e6) / 1e6,
      orig_bytes: sent,
      resp_bytes: state === 'SF' ? received : 0,
      conn_state: state,
      missed_bytes: 0,
      history: proto === 'udp' ? (state === 'SF' ? 'Dd' : 'D') : state === 'SF' ? 'ShADadFf' : 'S',
      orig_pkts: origPkts,
      orig_ip_bytes: sent + origPkts * ipHeader,
      resp_pkts: respPkts,
      resp_ip_bytes: state === 'SF' ? received + respPkts * ipHeader : 0,
    });
  };
  // Web request sizes: lognormal around 2 kB up, 40 kB down, capped so that no ordinary day
  // comes near the detector's 10 MB minimum for a bytes-out finding.
  const upload = () => Math.min(Math.round(Math.exp(7.6 + 1.0 * normal())), 400_000);
  const download = () => Math.min(Math.round(Math.exp(10.6 + 1.5 * normal())), 20_000_000);

  for (let day = 0; day < DEMO_DAYS; day++) {
    const dayStart = DEMO_START + day * 86400;
    const weekday = day % 7 < 5;
    for (const ws of DEMO_NETWORK.workstations) {
      // Office hours on weekdays; a trickle of update checks at the weekend.
      const conns = weekday ? Math.max(0, Math.round(90 + 15 * normal())) : Math.round(4 + 2 * rand());
      for (let i = 0; i < conns; i++) {
        const ts = weekday ? dayStart + 8 * 3600 + rand() * 10 * 3600 : dayStart + rand() * 86400;
        const dst = rand() < 0.1 ? pick(web6) : pick(web);
        add(ts, ws, dst, rand() < 0.85 ? 443 : 80, 'tcp', rand() < 0.85 ? 'ssl' : 'http', upload(), download());
        if (rand() < 0.5) add(ts - 0.01, ws, DEMO_NETWORK.resolver, 53, 'udp', 'dns', 40, 120);
      }
      if (weekday) {
        const shares = Math.round(10 + 5 * rand());
        for (let i = 0; i < shares; i++) {
          add(
            dayStart + 8 * 3600 + rand() * 10 * 3600,
            ws,
            DEMO_NETWORK.fileServer,
            445,
            'tcp',
            'smb',
            upload() * 5,
            download(),
          );
        }
      }
    }
    for (const server of DEMO_NETWORK.servers) {
      // Servers work every day at a steady rate.
      const conns = Math.max(0, Math.round(260 + 16 * normal()));
      for (let i = 0; i < conns; i++) {
        const ts = dayStart + rand() * 86400;
        if (server === '10.20.0.10')
          add(ts, server, pick(mx), 25, 'tcp', 'smtp', 8000 + Math.round(30000 * rand()), 600);
        else add(ts, server, pick(web), 443, 'tcp', 'ssl', upload(), download());
      }
      add(dayStart + 3 * 3600 + rand() * 600, server, '198.51.100.123', 123, 'udp', 'ntp', 48, 48);
    }
  }

  // Planted 1: the exfiltration, day 22 (Tuesday 2026-10-27), 19:00-21:00 UTC.
  {
    const dayStart = DEMO_START + 22 * 86400;
    for (let i = 0; i < 40; i++) {
      const ts = dayStart + 19 * 3600 + i * 180 + rand() * 60;
      add(ts, '192.168.10.23', '203.0.113.77', 443, 'tcp', 'ssl', 38_000_000 + Math.round(6_000_000 * rand()), 9000);
    }
  }
  // Planted 2: the spam run, day 17 (Thursday 2026-10-22): many SMTP attempts, most refused.
  {
    const dayStart = DEMO_START + 17 * 86400;
    for (let i = 0; i < 3000; i++) {
      const ts = dayStart + 2 * 3600 + rand() * 4 * 3600;
      const dst = `198.51.100.${Math.floor(rand() * 250) + 1}`;
      const accepted = rand() < 0.3;
      add(
        ts,
        '10.20.0.10',
        dst,
        25,
        'tcp',
        accepted ? 'smtp' : undefined,
        accepted ? 2500 : 0,
        accepted ? 400 : 0,
        accepted ? 'SF' : 'S0',
      );
    }
  }

  // Planted 3: a C2 beacon from day 23 (Wednesday 2026-10-28) to the end: sleep 300 s with
  // Cobalt Strike's jitter (each sleep 300 × (1 − U[0, 0.2])), small fixed-size check-ins.
  {
    let ts = DEMO_START + 23 * 86400 + 10 * 3600 + 17 * 60;
    const end = DEMO_START + DEMO_DAYS * 86400;
    while (ts < end) {
      add(ts, '192.168.10.15', '203.0.113.200', 443, 'tcp', 'ssl', 340 + Math.round(8 * rand()), 210);
      ts += 300 * (1 - 0.2 * rand());
    }
  }

  // Zeek writes a connection when it ends, so the log is in end-time order (ts slightly out of order).
  flows.sort((a, b) => a.ts + (a.duration ?? 0) - (b.ts + (b.duration ?? 0)) || (a.uid < b.uid ? -1 : 1));
  return flows;
}
