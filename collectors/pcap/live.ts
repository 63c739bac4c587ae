// Live capture: libpcap (through the `cap` package) → the allocation-free decoder → the flow table.
//
// What `cap` 0.2.1 does and does not do (see DESIGN.md §8 and cap's src/binding.cc):
// - it copies each packet into ONE caller-supplied buffer and emits ('packet', caplen, truncated);
//   the buffer is overwritten by the next packet, so packets are decoded inside the callback and
//   nothing is kept from it;
// - it gives no timestamps (the time is taken in the callback), no wire length and no pcap_stats;
// - snaplen is fixed at 65535 and promiscuous mode is always on;
// - a Cap whose open() failed, or that was closed, crashes the process when it is garbage
//   collected (its destructor touches an uninitialised / stopped libuv handle), so every Cap and
//   its buffer stay referenced in a module-level array for the life of the process.
//
// Loss, and what can and cannot be seen of it:
// - packets dropped in the kernel's capture ring (libpcap's ps_drop, the packet socket's
//   tp_drops) are NOT visible: cap 0.2.1 has no pcap_stats. A ring that overflows because this
//   process is too slow loses packets silently. cap's immediate mode makes libpcap use fixed ring
//   slots, sized by the MTU only when the interface has no segmentation or receive offload, by
//   the snaplen otherwise: one 128 KiB slot per packet (measured on lo, see bench/live.ts), so the
//   default 128 MiB ring holds ~1,000 packets. start() warns when offloads are on (ethtool -k);
// - the interface's own counters (/sys/class/net/<iface>/statistics: rx_packets, rx_dropped,
//   rx_missed_errors, rx_fifo_errors) are read at start and every second and published as deltas
//   since start (`iface_rx_packets`, `iface_rx_dropped`, `iface_rx_missed`, `iface_rx_fifo`). They
//   count drops before the capture (NIC, driver, backlog), not the capture ring's; interfaces
//   without such files (`any`) publish none;
// - a Zeek-style capture-loss estimate from the flow table (Zeek's get_gap_stats): `ack_events`
//   (acknowledgements of new data on established TCP connections) and `gap_events` (those that
//   acknowledged data never seen). 100 * gap_events / ack_events is the loss percent Zeek's
//   capture-loss script reports; it sees ring drops indirectly, and only on TCP.
//
// Detectors are not run here: flows are handed to `onFlow`, and the agent consumes them in batches
// off this path so the JS thread stays free for the capture callback. They still share the thread:
// a detector batch or a SQLite snapshot delays the callback while the ring fills. A worker thread
// is not an option with cap 0.2.1: it registers its poll handle on uv_default_loop() (the main
// thread's loop), so a Cap opened in a worker emits packets from the main thread into the
// worker's isolate and V8 aborts the process (tried: fatal error in node::MakeCallback from
// Pcap::EmitPacket). Moving the capture off the detectors' thread needs a child process.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type { IssueHandler } from '../../agent/issues.js';
import type { Counters } from '../../agent/metrics.js';
import type { FlowRecord } from '../record.js';
import { createDecodeResult, decodePacket, LinkType, Reason, REASON_NAMES } from './decode.js';
import { FlowTable } from './flowtable.js';

export interface LiveCaptureOptions {
  /** Interface name as libpcap knows it (`eth0`, `lo`, `any`). */
  interface: string;
  /** BPF filter expression (tcpdump syntax). */
  filter?: string;
  /** Kernel ring buffer size in bytes (default 128 MiB). */
  bufferBytes?: number;
  /**
   * Promiscuous mode (default true). `cap` 0.2.1 always enables it; `false` is reported as an
   * issue at start and the capture runs promiscuous anyway.
   */
  promiscuous?: boolean;
  /** Checksum handling (default 'ignore': NIC checksum offload makes local packets look bad). */
  checksums?: 'verify' | 'ignore';
  maxFlows?: number;
  interimSeconds?: number;
  /** Counters for this capture: the flow table's received/emitted/dropped plus capture extras. */
  counters: Counters;
  onFlow: (f: FlowRecord) => void;
  onIssue: IssueHandler;
}

/** Interface counters (/sys/class/net/<iface>/statistics) as differences since the capture started. */
export interface InterfaceCounters {
  rxPackets: number;
  rxDropped: number;
  rxMissed: number;
  rxFifo: number;
}

export interface LiveCaptureStats {
  /** Packets the capture callback received (what libpcap delivered; ring drops are not in it). */
  packets: number;
  bytes: number;
  decodeErrors: number;
  flowsOpen: number;
  /** Zeek's capture-loss inputs: ACKs of new data on established TCP connections, and those over a gap. */
  ackEvents: number;
  gapEvents: number;
  /** Zeek's capture-loss percent: 100 * gapEvents / ackEvents (0 when there were no ACKs). */
  captureLossPercent: number;
  /** Interface counters since start; null when the interface has none (e.g. `any`). */
  iface: InterfaceCounters | null;
}

/** The statistics files read, in the order of IFACE_COUNTERS. */
const IFACE_FILES = ['rx_packets', 'rx_dropped', 'rx_missed_errors', 'rx_fifo_errors'] as const;
const IFACE_COUNTERS = ['iface_rx_packets', 'iface_rx_dropped', 'iface_rx_missed', 'iface_rx_fifo'] as const;

/** Reads one interface statistics file; undefined when it does not exist or is unreadable. */
function readIfaceStat(iface: string, file: string): number | undefined {
  try {
    const n = Number(readFileSync(`/sys/class/net/${iface}/statistics/${file}`, 'utf8').trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

export class LiveCaptureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LiveCaptureError';
  }
}

/** The part of cap's native binding used here. */
interface CapDevice {
  name: string;
  description?: string;
}
interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  close(): boolean;
  on(event: 'packet', listener: (nbytes: number, truncated: boolean) => void): unknown;
}
interface CapModule {
  Cap: { new (): CapHandle; deviceList(): CapDevice[] };
}

/** Every Cap object and buffer ever created: never released (see the header comment). */
const KEEP_ALIVE: unknown[] = [];

const SNAPLEN = 65535;
const DEFAULT_BUFFER = 128 * 1024 * 1024;
const MAX_BUFFER = 0x7fffffff; // cap passes the size as a C int
/** Wire length passed for packets that filled the snaplen (cap does not report the real one). */
const SNAPPED_ORIG_LEN = 0x40000;

const OFFLOAD_FEATURES: readonly [string, string][] = [
  ['tso', 'tcp-segmentation-offload'],
  ['gso', 'generic-segmentation-offload'],
  ['gro', 'generic-receive-offload'],
  ['lro', 'large-receive-offload'],
];

/** The offloads that `ethtool -k` output reports on (short names: tso, gso, gro, lro). */
export function offloadsFromEthtool(text: string): string[] {
  return OFFLOAD_FEATURES.filter(([, key]) => new RegExp(`^${key}: on`, 'm').test(text)).map(([name]) => name);
}

/**
 * Segmentation and receive offloads switched on for `iface` (`ethtool -k`, run with `prefix`
 * before it, e.g. `ip netns exec NS`); undefined when ethtool is missing or cannot tell. They
 * matter for capture: with any of them on, libpcap (pcap-linux.c) sizes every slot of the
 * immediate-mode ring cap uses by the snaplen, 64 KiB, instead of by the MTU.
 */
export function offloadsOn(iface: string, prefix: readonly string[] = []): string[] | undefined {
  const argv = [...prefix, 'ethtool', '-k', iface];
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 5000 });
  if (r.status !== 0 || !r.stdout) return undefined;
  return offloadsFromEthtool(r.stdout);
}

let capModule: CapModule | undefined;

function loadCap(): CapModule {
  if (capModule) return capModule;
  try {
    const require = createRequire(import.meta.url);
    capModule = require('cap') as CapModule;
    return capModule;
  } catch (e) {
    throw new LiveCaptureError(
      `live capture needs the native 'cap' package built against libpcap (apt-get install libpcap-dev; npm rebuild cap): ${(e as Error).message}`,
    );
  }
}

/** cap's open() return value → pcap LINKTYPE_* number (null when not decodable). */
export function capLinkType(s: string): number | null {
  switch (s) {
    case 'NULL':
      return LinkType.NULL;
    case 'ETHERNET':
      return LinkType.ETHERNET;
    case 'IEEE802_11_RADIO':
      return LinkType.IEEE802_11_RADIOTAP;
    case 'LINKTYPE_LINUX_SLL':
      return LinkType.LINUX_SLL;
    case 'RAW':
      return LinkType.RAW;
    default: {
      // "Unknown linktype N" (a DLT_ value; for the ones decoded here equal to the LINKTYPE_ value).
      const m = /^Unknown linktype (\d+)$/.exec(s);
      if (!m) return null;
      const n = Number(m[1]);
      return (Object.values(LinkType) as number[]).includes(n) ? n : null;
    }
  }
}

function permissionMessage(iface: string): string {
  return `capture on ${iface} needs root or CAP_NET_RAW: setcap cap_net_raw+ep $(readlink -f $(which node)) or run as root`;
}

export class LiveCapture {
  private readonly opts: LiveCaptureOptions;
  private cap: CapHandle | null = null;
  private table: FlowTable | null = null;
  private timer: NodeJS.Timeout | null = null;
  private linkType = 0;
  private readonly decoded = createDecodeResult();
  /** Wall-clock milliseconds at performance.now() === 0, fixed at start (monotonic timestamps). */
  private clockBase = 0;
  private lastTs = 0;
  private packets = 0;
  private bytes = 0;
  private decodeErrors = 0;
  private nonIp = 0;
  private snapped = 0;
  private truncated = 0;
  // Values already added to the counters' extras (synced once a second, not per packet).
  private synced = { packets: 0, bytes: 0, decodeErrors: 0, nonIp: 0, snapped: 0, truncated: 0 };
  /** Interface counters at start (undefined: that file does not exist); null before start. */
  private ifaceBase: (number | undefined)[] | null = null;
  /** Latest differences since start, and what of them is already in the counters. */
  private readonly ifaceDelta = [0, 0, 0, 0];
  private readonly ifaceSynced = [0, 0, 0, 0];
  private lossSynced = { ackEvents: 0, gapEvents: 0 };
  private readonly reportedReasons = new Set<number>();
  private finished = false;

  constructor(opts: LiveCaptureOptions) {
    this.opts = opts;
  }

  /** Seconds since the epoch, sub-millisecond, never going backwards. */
  private now(): number {
    let t = (this.clockBase + performance.now()) / 1000;
    if (t < this.lastTs) t = this.lastTs;
    this.lastTs = t;
    return t;
  }

  start(): void {
    if (this.cap) throw new LiveCaptureError(`capture on ${this.opts.interface} is already running`);
    if (this.finished) throw new LiveCaptureError(`capture on ${this.opts.interface} was stopped; create a new LiveCapture`);
    const o = this.opts;
    const iface = o.interface;
    const bufferBytes = o.bufferBytes ?? DEFAULT_BUFFER;
    if (!Number.isInteger(bufferBytes) || bufferBytes < SNAPLEN || bufferBytes > MAX_BUFFER) {
      throw new LiveCaptureError(`capture on ${iface}: bufferBytes must be an integer from ${SNAPLEN} to ${MAX_BUFFER}, got ${bufferBytes}`);
    }
    const { Cap } = loadCap();

    let devices: CapDevice[];
    try {
      devices = Cap.deviceList();
    } catch (e) {
      throw new LiveCaptureError(`capture on ${iface}: cannot list interfaces: ${(e as Error).message}`);
    }
    const names = devices.map((d) => d.name);
    if (!names.includes(iface)) {
      throw new LiveCaptureError(
        `capture interface ${iface} does not exist; available: ${names.length > 0 ? names.join(', ') : '(none visible)'}`,
      );
    }

    const cap = new Cap();
    const buffer = Buffer.alloc(SNAPLEN);
    KEEP_ALIVE.push(cap, buffer);
    let linkName: string;
    try {
      linkName = cap.open(iface, o.filter ?? '', bufferBytes, buffer);
    } catch (e) {
      // The failed Cap stays in KEEP_ALIVE and must not be closed (its libuv handle was never set up).
      const msg = (e as Error).message;
      if (/permission|not permitted|EPERM|EACCES/i.test(msg) || (typeof process.getuid === 'function' && process.getuid() !== 0 && /socket/i.test(msg))) {
        throw new LiveCaptureError(`${permissionMessage(iface)} (libpcap: ${msg})`);
      }
      if (/no such device/i.test(msg)) {
        throw new LiveCaptureError(`capture interface ${iface} does not exist; available: ${names.join(', ')} (libpcap: ${msg})`);
      }
      const what = o.filter ? ` with filter "${o.filter}"` : '';
      throw new LiveCaptureError(`capture on ${iface}${what} failed: ${msg}`);
    }
    const lt = capLinkType(linkName);
    if (lt === null) {
      cap.close();
      throw new LiveCaptureError(`capture on ${iface}: link type not supported by the decoder (${linkName})`);
    }
    this.linkType = lt;
    this.cap = cap;

    if (iface !== 'any') {
      const on = offloadsOn(iface);
      if (on && on.length > 0) {
        // 128 KiB per slot measured on lo: the 64 KiB frame rounded up to libpcap's block size.
        const slots = Math.floor(bufferBytes / 131072);
        o.onIssue({
          component: 'live',
          file: iface,
          message:
            `offloads on (${on.join(', ')}): libpcap then gives every packet a snaplen-sized slot of the capture ring, so its ` +
            `${Math.round(bufferBytes / 1048576)} MiB hold only ~${slots} packets and a pause of a few milliseconds drops packets; ` +
            `turn them off on a capture interface: ethtool -K ${iface} ${on.map((x) => `${x} off`).join(' ')}`,
        });
      }
    }

    if (o.promiscuous === false) {
      o.onIssue({
        component: 'live',
        file: iface,
        message: 'promiscuous: false is not supported by the cap package (it always enables promiscuous mode); capturing promiscuously',
      });
    }

    this.table = new FlowTable({
      checksums: o.checksums ?? 'ignore',
      maxFlows: o.maxFlows,
      interimSeconds: o.interimSeconds,
      counters: o.counters,
      onFlow: o.onFlow,
    });
    // The loss figures are published from the start (as 0), so that "none" reads differently
    // from "not measured": interface counters only where the statistics files exist.
    this.ifaceBase = this.readIface();
    this.ifaceBase.forEach((v, i) => {
      if (v !== undefined) o.counters.add(IFACE_COUNTERS[i], 0);
    });
    o.counters.add('ack_events', 0);
    o.counters.add('gap_events', 0);

    this.clockBase = Date.now() - performance.now();
    const table = this.table;
    const decoded = this.decoded;
    const linkType = this.linkType;
    cap.on('packet', (nbytes: number, truncated: boolean) => {
      const ts = this.now();
      this.packets++;
      this.bytes += nbytes;
      let origLen = nbytes;
      if (truncated) this.truncated++;
      if (truncated || nbytes >= SNAPLEN) {
        this.snapped++;
        origLen = SNAPPED_ORIG_LEN;
      }
      if (!decodePacket(decoded, linkType, buffer, 0, nbytes, origLen)) {
        const reason = decoded.reason;
        if (reason === Reason.NOT_IP) this.nonIp++;
        else {
          this.decodeErrors++;
          if (!this.reportedReasons.has(reason)) {
            this.reportedReasons.add(reason);
            o.onIssue({
              component: 'live',
              file: iface,
              message: `undecodable packet (${REASON_NAMES[reason] ?? reason}); further packets with this problem are only counted`,
            });
          }
        }
      }
      table.packet(ts, decoded);
    });

    this.timer = setInterval(() => {
      table.advance(this.now());
      this.syncCounters();
    }, 1000);
    this.timer.unref();
  }

  /**
   * Stops capturing and reports every open flow (as `zeek` does when it exits). The Cap object
   * stays referenced forever (a closed Cap that is garbage-collected crashes the process).
   */
  stop(): void {
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
    if (this.cap) {
      this.cap.close();
      this.cap = null;
    }
    if (this.table && !this.finished) {
      this.finished = true;
      this.table.advance(this.now());
      this.table.finish();
    }
    this.syncCounters();
  }

  stats(): LiveCaptureStats {
    const loss = this.table?.captureLoss();
    const ackEvents = loss?.ackEvents ?? 0;
    const gapEvents = loss?.gapEvents ?? 0;
    const base = this.ifaceBase;
    const d = this.ifaceDelta;
    return {
      packets: this.packets,
      bytes: this.bytes,
      decodeErrors: this.decodeErrors,
      flowsOpen: this.table?.size ?? 0,
      ackEvents,
      gapEvents,
      captureLossPercent: ackEvents > 0 ? (100 * gapEvents) / ackEvents : 0,
      iface: base && base.some((v) => v !== undefined) ? { rxPackets: d[0], rxDropped: d[1], rxMissed: d[2], rxFifo: d[3] } : null,
    };
  }

  /** The interface statistics files now (undefined where a file does not exist). */
  private readIface(): (number | undefined)[] {
    const iface = this.opts.interface;
    // The name was checked against libpcap's device list; never build a path from anything else.
    if (iface.includes('/') || iface === '.' || iface === '..') return IFACE_FILES.map(() => undefined);
    return IFACE_FILES.map((f) => readIfaceStat(iface, f));
  }

  private syncCounters(): void {
    const c = this.opts.counters;
    const base = this.ifaceBase;
    if (base && base.some((v) => v !== undefined)) {
      const now = this.readIface();
      for (let i = 0; i < IFACE_FILES.length; i++) {
        const b = base[i];
        const v = now[i];
        if (b === undefined || v === undefined) continue;
        // A counter that went backwards (interface re-created) keeps the last difference.
        if (v >= b) this.ifaceDelta[i] = v - b;
        const diff = this.ifaceDelta[i] - this.ifaceSynced[i];
        if (diff !== 0) c.add(IFACE_COUNTERS[i], diff);
        this.ifaceSynced[i] = this.ifaceDelta[i];
      }
    }
    if (this.table) {
      const loss = this.table.captureLoss();
      const ls = this.lossSynced;
      if (loss.ackEvents !== ls.ackEvents) c.add('ack_events', loss.ackEvents - ls.ackEvents);
      if (loss.gapEvents !== ls.gapEvents) c.add('gap_events', loss.gapEvents - ls.gapEvents);
      this.lossSynced = { ackEvents: loss.ackEvents, gapEvents: loss.gapEvents };
    }
    const s = this.synced;
    if (this.packets !== s.packets) c.add('capture_packets', this.packets - s.packets);
    if (this.bytes !== s.bytes) c.add('capture_bytes', this.bytes - s.bytes);
    if (this.decodeErrors !== s.decodeErrors) c.add('decode_errors', this.decodeErrors - s.decodeErrors);
    if (this.nonIp !== s.nonIp) c.add('non_ip', this.nonIp - s.nonIp);
    if (this.snapped !== s.snapped) c.add('snapped', this.snapped - s.snapped);
    if (this.truncated !== s.truncated) c.add('truncated', this.truncated - s.truncated);
    this.synced = {
      packets: this.packets,
      bytes: this.bytes,
      decodeErrors: this.decodeErrors,
      nonIp: this.nonIp,
      snapped: this.snapped,
      truncated: this.truncated,
    };
  }
}
