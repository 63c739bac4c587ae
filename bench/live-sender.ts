// The sender of `vigil bench live`: exactly `count` UDP datagrams over loopback, paced at `rate`
// packets/s in small bursts against a measured clock, spread over many flows.
//
//   node --import tsx bench/live-sender.ts '{"count":1000000,"rate":150000}'
//
// Prints one JSON line (SenderResult) on stdout when done.
//
// Flows: `sources` sockets bound to 127.0.1.1–127.0.1.50 (ephemeral ports) × `ports` destination
// ports on `dst` (127.0.0.77, from 40000). `concurrent` flows are active at a time, each sending
// `perFlow` packets round-robin with the others before the next group of flows takes over, so the
// flood holds thousands of distinct flows. Payload sizes are fixed per flow (64, 200, 512 or 1200
// bytes).
//
// Destinations: a datagram to a closed loopback port makes the kernel answer with an ICMP port
// unreachable, and on loopback those are not rate-limited (measured: 200,000 datagrams → 200,000
// ICMP messages). So every destination port has a bound socket here, with reading stopped (a tiny
// receive buffer that fills and drops, counted by the kernel as UdpRcvbufErrors): no ICMP, and no
// CPU spent receiving. Stopping the read uses the dgram handle's recvStop(), which Node does not
// document; where it is missing the sockets read and discard instead (`draining: "read"`).

import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

export interface SenderOptions {
  count: number;
  /** Target packets/s. */
  rate: number;
  dst?: string;
  firstPort?: number;
  ports?: number;
  sources?: number;
  concurrent?: number;
  perFlow?: number;
}

export interface SenderResult {
  /** Datagrams handed to the kernel without error. */
  sent: number;
  /** Sends that failed (not on the wire). */
  errors: number;
  /** From the first send to the last one leaving the socket. */
  seconds: number;
  /** sent / seconds. */
  rate: number;
  targetRate: number;
  /** Distinct 5-tuples used. */
  flows: number;
  /** How the destination sockets avoid ICMP: "stopped" (bound, never read) or "read". */
  draining: 'stopped' | 'read';
  /** Bursts sent (each paced against the clock). */
  bursts: number;
  /** CPU (user + system) this process used while sending, seconds. */
  cpuSeconds: number;
}

const SIZES = [64, 200, 512, 1200];
const MAX_BURST = 512;

function bind(sock: dgram.Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, address, () => {
      sock.off('error', reject);
      resolve();
    });
  });
}

/** Stops libuv reading from a bound socket; false when the internal handle is not reachable. */
function stopReading(sock: dgram.Socket): boolean {
  const sym = Object.getOwnPropertySymbols(sock).find((s) => s.description === 'state symbol');
  const state = sym ? ((sock as unknown as Record<symbol, { handle?: { recvStop?: () => number } }>)[sym] ?? undefined) : undefined;
  const stop = state?.handle?.recvStop;
  if (typeof stop !== 'function') return false;
  return stop.call(state?.handle) === 0;
}

export async function runSender(o: SenderOptions): Promise<SenderResult> {
  const dst = o.dst ?? '127.0.0.77';
  const firstPort = o.firstPort ?? 40000;
  const nPorts = o.ports ?? 250;
  const nSources = o.sources ?? 200;
  const concurrent = o.concurrent ?? 500;
  const perFlow = o.perFlow ?? 20;
  const total = nPorts * nSources;

  const sinks: dgram.Socket[] = [];
  const sources: dgram.Socket[] = [];
  let errors = 0;
  let draining: SenderResult['draining'] = 'stopped';
  try {
    for (let p = 0; p < nPorts; p++) {
      const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 4096 });
      sinks.push(s);
      await bind(s, firstPort + p, dst);
      if (!stopReading(s)) {
        draining = 'read';
        s.on('message', () => undefined);
      }
    }
    for (let i = 0; i < nSources; i++) {
      const s = dgram.createSocket({ type: 'udp4', sendBufferSize: 4 * 1024 * 1024 });
      s.on('error', () => {
        errors++;
      });
      sources.push(s);
      await bind(s, 0, `127.0.1.${1 + (i % 50)}`);
    }
    const payloads = SIZES.map((n) => Buffer.alloc(n, 0x76));

    // Packet j belongs to group g = floor(j / (concurrent * perFlow)), slot j % concurrent; the
    // flow number g * concurrent + slot picks a (source socket, destination port) pair.
    const groupPackets = concurrent * perFlow;
    const touched = Math.floor(o.count / groupPackets) * concurrent + Math.min(concurrent, o.count % groupPackets);
    const send = (j: number) => {
      const flow = (Math.floor(j / groupPackets) * concurrent + (j % concurrent)) % total;
      const src = flow % nSources;
      const port = firstPort + Math.floor(flow / nSources);
      sources[src].send(payloads[flow % payloads.length], port, dst);
    };

    let j = 0;
    let bursts = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      const step = () => {
        const due = Math.min(o.count, Math.ceil(((performance.now() - t0) / 1000) * o.rate));
        const until = Math.min(due, j + MAX_BURST);
        if (until > j) bursts++;
        while (j < until) send(j++);
        if (j >= o.count) {
          resolve();
          return;
        }
        // Ahead of the clock by a millisecond's worth or more: sleep instead of spinning.
        if (due - j <= 0 && o.rate / 1000 >= 1) setTimeout(step, 1);
        else setImmediate(step);
      };
      step();
    });
    // Every queued datagram has left its socket (libuv sends synchronously when it can).
    while (sources.some((s) => s.getSendQueueCount() > 0)) await new Promise((r) => setImmediate(r));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const sent = o.count - errors;
    return { cpuSeconds: (cpu.user + cpu.system) / 1e6, sent, errors, seconds, rate: sent / seconds, targetRate: o.rate, flows: Math.min(total, touched), draining, bursts };
  } finally {
    for (const s of [...sources, ...sinks]) {
      try {
        s.close();
      } catch {
        // not bound
      }
    }
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const opts = JSON.parse(process.argv[2] ?? '{}') as SenderOptions;
  runSender(opts).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
    },
    (err: unknown) => {
      process.stderr.write(`live-sender: ${(err as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
