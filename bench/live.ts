// `vigil bench live`: a bounded loopback flood captured by a real `vigil agent`.
//
// The agent runs as a child process (`vigil agent --config`, from the sources through tsx or from
// dist/) capturing on `lo` with a BPF filter that matches only the flood, its default detectors,
// a SQLite state file snapshotted every 2 s and findings to a file. Once its capture is open (its
// `pcap` counters show `live_captures: 1`, asked for with SIGUSR1), a sender child
// (bench/live-sender.ts) sends exactly `count` UDP datagrams at a paced rate; when the capture
// count stops growing the agent is stopped with SIGTERM and its final counters (the line it
// prints when it stops) give what it captured. Loss is sent − captured: cap 0.2.1 has no
// pcap_stats, so the kernel ring's drops are only visible this way.
//
// Loopback: AF_PACKET sees each datagram on `lo` once (libpcap discards the outgoing copy);
// measured with this filter: 1,000 and 200,000 datagrams sent → exactly as many captured.
//
// Flows: UDP flows end after Zeek's 60 s of inactivity, longer than the flood, so with the
// default maxFlows every flow would reach the detectors only when the agent stops, and the
// detectors would never compete with the capture. The agent here runs with maxFlows 1000: the
// sender's flows (500 active at a time, 20 packets each) are evicted and handed to the detectors
// while the flood goes on, about one finished flow per 20 packets.
//
// The same flood is run a second time with both detectors disabled, to show what they cost.
//
// The ring on lo is shallow: cap turns on libpcap's immediate mode, which on Linux means a
// TPACKET_V2 ring of fixed-size slots, and libpcap sizes a slot for the snaplen (65535, fixed by
// cap) capped by the interface MTU, which on lo is 65536. Measured by stalling a LiveCapture's
// thread while 20,000 datagrams were sent: a 32 / 128 / 256 MiB ring kept 256 / 1,023 / 2,046
// packets, i.e. one 128 KiB slot per packet whatever its size. The agent's default 128 MiB ring
// thus absorbs ~10 ms at 100 k packets/s on lo (on Ethernet, MTU 1500, the same ring should hold
// tens of thousands: not measured here). `--buffer-mib` sets the agent's ring for the flood; the
// whole ring is resident and shows in the agent's peak RSS. On the 2-core machine this was written
// on, even a bare cap → decode → flow table loop (no agent, no detectors, one flow with sequence
// numbers) lost packets at 150 k packets/s now and then: in bursts of 100–600 at random points of
// the flood, i.e. the capture thread was held up for 10–15 ms while the 1,023-slot ring filled.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ComponentCounts } from '../agent/metrics.js';
import type { SenderOptions, SenderResult } from './live-sender.js';

export interface LiveBenchOptions {
  /** Datagrams to send; default 1,000,000. */
  count?: number;
  /** Target send rate, packets/s; default 150,000. */
  rate?: number;
  /** collectors.pcap.bufferMiB of the agent (default: the agent's default, 128). */
  bufferMiB?: number;
  /** Also run the flood with the detectors disabled (default true). */
  withoutDetectors?: boolean;
  /**
   * Run agent and sender in a private network namespace whose loopback has MTU 1500, the size of
   * an Ethernet tap's frames (default true where `ip netns` works); false: the host's lo (MTU 65536).
   */
  netns?: boolean;
  /** Where to put the temporary files; default the OS temp dir. */
  dir?: string;
  log: (line: string) => void;
}

export interface LiveBenchRun {
  detectors: boolean;
  sent: number;
  /** Packets the agent's capture callback saw (`capture_packets`). */
  captured: number;
  /** sent − captured. */
  loss: number;
  lossPercent: number;
  sendSeconds: number;
  /** The rate the sender achieved. */
  sendRate: number;
  /** captured / the sender's active seconds. */
  captureRate: number;
  /** Interface counters over the agent's capture (all traffic on lo, not only the flood). */
  ifaceRxPackets?: number;
  ifaceRxDropped?: number;
  /** Distinct flows the sender used. */
  senderFlows: number;
  /** Flow records the agent emitted (the `flows` counter), and those evicted at maxFlows. */
  flows: number;
  evicted: number;
  /** Flows dropped because the queue to the detectors was full. */
  queueDropped: number;
  /** Records the detectors received (the first detector's `received`; 0 without detectors). */
  detectorRecords: number;
  findings: number;
  findingsByDetector: Record<string, number>;
  /** Zeek-style capture loss from the agent (TCP only: 0 ACKs for a UDP flood). */
  ackEvents: number;
  gapEvents: number;
  /** CPU the agent and the sender used while the sender ran, in cores (1 = one core busy). */
  agentCpu?: number;
  senderCpu: number;
  /** Peak resident set of the agent (VmHWM, sampled every 100 ms until it exits), MB. */
  peakRssMb?: number;
  draining: SenderResult['draining'];
}

export interface LiveBenchResult {
  count: number;
  targetRate: number;
  filter: string;
  /** Where the flood ran. */
  iface: string;
  runs: LiveBenchRun[];
  notes: string[];
}

/** No permission to capture. Its stack is the message alone: the CLI prints it as one line (exit 1). */
export class LiveBenchPermissionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LiveBenchPermissionError';
    this.stack = message;
  }
}

const HERE = dirname(fileURLToPath(import.meta.url));
const DST = '127.0.0.77';
const FIRST_PORT = 40000;
const PORTS = 250;
export const LIVE_FILTER = `udp and dst host ${DST} and dst portrange ${FIRST_PORT}-${FIRST_PORT + 999}`;
/** MTU of the private namespace's loopback: an Ethernet tap's frame size. */
const NETNS_MTU = 1500;

/**
 * A private network namespace for the flood, its loopback up with MTU 1500 (libpcap sizes ring
 * slots by the MTU, so this is what the capture ring holds on an Ethernet tap, where the host's lo,
 * MTU 65536, gives one 128 KiB slot per packet). Undefined, with a note, where it cannot be made.
 */
function makeNamespace(notes: string[]): string | undefined {
  const ns = `vigil-bench-${process.pid}`;
  const add = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8' });
  if (add.status !== 0) {
    notes.push(`no private network namespace (ip netns add: ${(add.stderr || add.error?.message || '').trim()}): the flood ran on the host's lo`);
    return undefined;
  }
  const up = spawnSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'mtu', String(NETNS_MTU), 'up'], { encoding: 'utf8' });
  if (up.status !== 0) {
    spawnSync('ip', ['netns', 'del', ns]);
    notes.push(`no private network namespace (lo MTU: ${up.stderr.trim()}): the flood ran on the host's lo`);
    return undefined;
  }
  // libpcap sizes ring slots by the MTU only when the interface does no segmentation or receive
  // offload (pcap-linux.c); otherwise by the snaplen, 64 KiB. Turn them off, as on a capture NIC.
  const off = spawnSync('ip', ['netns', 'exec', ns, 'ethtool', '-K', 'lo', 'tso', 'off', 'gso', 'off', 'gro', 'off'], { encoding: 'utf8' });
  if (off.status !== 0) notes.push(`offloads could not be turned off in the namespace (ethtool: ${(off.stderr || off.error?.message || '').trim()}): ring slots stay 64 KiB`);
  return ns;
}

/** Command and arguments that run node with `args`, inside namespace `ns` when given (ip execs node: same pid). */
function nodeCommand(args: string[], ns: string | undefined): [string, string[]] {
  return ns ? ['ip', ['netns', 'exec', ns, process.execPath, ...args]] : [process.execPath, args];
}

/** The goal from issue 5. */
const TARGET_RATE = 100_000;

/** node arguments running a module of this project: the .ts source through tsx, or dist's .js. */
function nodeArgs(relTs: string): string[] {
  const ts = join(HERE, relTs);
  if (existsSync(ts)) return ['--import', 'tsx', ts];
  const js = join(HERE, relTs.replace(/\.ts$/, '.js'));
  if (existsSync(js)) return [js];
  throw new Error(`cannot find ${ts} or its compiled .js`);
}

/** Root, or CAP_NET_RAW in the effective set (bit 13 of CapEff). */
function canCapture(): boolean {
  if (process.getuid?.() === 0) return true;
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m !== null && (BigInt(`0x${m[1]}`) & (1n << 13n)) !== 0n;
  } catch {
    return false;
  }
}

export async function runLiveBench(opts: LiveBenchOptions): Promise<LiveBenchResult> {
  const count = opts.count ?? 1_000_000;
  const rate = opts.rate ?? 150_000;
  if (!canCapture()) {
    throw new LiveBenchPermissionError(
      'vigil bench live captures on lo and needs root or CAP_NET_RAW (run it as root, or: setcap cap_net_raw+ep $(readlink -f $(which node)))',
    );
  }
  const notes: string[] = [];
  const ns = opts.netns === false ? undefined : makeNamespace(notes);
  const dir = mkdtempSync(join(opts.dir ?? tmpdir(), 'vigil-live-bench-'));
  const runs: LiveBenchRun[] = [];
  try {
    const variants = opts.withoutDetectors === false ? [true] : [true, false];
    for (const detectors of variants) {
      opts.log(`flood of ${count.toLocaleString('en-US')} packets at ${rate.toLocaleString('en-US')} packets/s, detectors ${detectors ? 'on' : 'off'}`);
      const run = await floodOnce(join(dir, detectors ? 'with' : 'without'), detectors, count, rate, opts.bufferMiB, ns, opts.log);
      runs.push(run);
      opts.log(
        `  sent ${run.sent.toLocaleString('en-US')} at ${fmt(run.sendRate)}/s, captured ${run.captured.toLocaleString('en-US')} (loss ${run.loss.toLocaleString('en-US')}, ${run.lossPercent.toFixed(3)} %), ${run.flows.toLocaleString('en-US')} flows, ${run.findings} findings`,
      );
    }
    const mib = opts.bufferMiB ?? 128;
    if (!ns) {
      notes.push(
        `the agent's ${mib} MiB ring holds about ${(mib * 8).toLocaleString('en-US')} packets on lo (one 128 KiB slot per packet, measured; see bench/live.ts), ` +
          `${Math.round((mib * 8 * 1000) / Math.max(1, ...runs.map((r) => r.captureRate)))} ms at the highest capture rate here`,
      );
    }
    if (runs.some((r) => r.sendRate < 0.9 * rate)) {
      notes.push(`the sender fell short of the target rate ${rate.toLocaleString('en-US')} packets/s (one process, one core; the kernel's loopback delivery is charged to it)`);
    }
    if (runs.some((r) => r.draining === 'read')) notes.push('destination sockets could not stop reading: the sender also received the flood');
    const iface = ns ? `lo in a private network namespace (MTU ${NETNS_MTU}, TSO/GSO/GRO off)` : "the host's lo (MTU 65536)";
    return { count, targetRate: rate, filter: LIVE_FILTER, iface, runs, notes };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (ns) spawnSync('ip', ['netns', 'del', ns]);
  }
}

interface AgentChild {
  child: ChildProcess;
  stderr: string[];
  exited: Promise<number | null>;
}

const COUNTERS_RE = /^vigil agent: (?:stopped; )?counters (\{.*\})$/;

function lastCounters(lines: string[], from: number, stopped: boolean): Record<string, ComponentCounts> | undefined {
  for (let i = lines.length - 1; i >= from; i--) {
    const l = lines[i];
    if (stopped && !l.startsWith('vigil agent: stopped; counters ')) continue;
    const m = COUNTERS_RE.exec(l);
    if (m) return JSON.parse(m[1]) as Record<string, ComponentCounts>;
  }
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function startAgent(configFile: string, findingsFile: string, ns: string | undefined): AgentChild {
  const [cmd, args] = nodeCommand([...nodeArgs('../agent/cli.ts'), 'agent', '--config', configFile, '--findings', findingsFile], ns);
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr: string[] = [];
  let partial = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    const parts = (partial + d).split('\n');
    partial = parts.pop() ?? '';
    stderr.push(...parts);
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => {
      if (partial) stderr.push(partial);
      partial = '';
      resolve(code);
    });
  });
  return { child, stderr, exited };
}

/** Asks the agent for its counters (SIGUSR1) and waits for the line; undefined if it exited. */
async function askCounters(a: AgentChild, alive: () => boolean): Promise<Record<string, ComponentCounts> | undefined> {
  const from = a.stderr.length;
  a.child.kill('SIGUSR1');
  for (let i = 0; i < 100 && alive(); i++) {
    await sleep(20);
    const c = lastCounters(a.stderr, from, false);
    if (c) return c;
  }
  return undefined;
}

/** user + system CPU seconds of a process (/proc/<pid>/stat; clock ticks of 1/100 s). */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) in parentheses.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return undefined;
  }
}

function vmHwmKb(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s*(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

async function floodOnce(
  dir: string,
  detectors: boolean,
  count: number,
  rate: number,
  bufferMiB: number | undefined,
  ns: string | undefined,
  log: (l: string) => void,
): Promise<LiveBenchRun> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const configFile = join(dir, 'agent.yaml');
  const findingsFile = join(dir, 'findings.jsonl');
  // JSON is YAML.
  const config = {
    sensor: { site: 'bench', name: detectors ? 'live' : 'live-nodetect' },
    state: { path: join(dir, 'state.sqlite'), snapshotIntervalSeconds: 2 },
    collectors: { pcap: { interface: 'lo', filter: LIVE_FILTER, maxFlows: 1000, ...(bufferMiB === undefined ? {} : { bufferMiB }) } },
    ...(detectors ? {} : { detectors: { baseline: { enabled: false }, beacon: { enabled: false } } }),
  };
  writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`);

  const a = startAgent(configFile, findingsFile, ns);
  let alive = true;
  void a.exited.then(() => {
    alive = false;
  });
  let peakKb: number | undefined;
  const sampler = setInterval(() => {
    const kb = a.child.pid === undefined ? undefined : vmHwmKb(a.child.pid);
    if (kb !== undefined) peakKb = Math.max(peakKb ?? 0, kb);
  }, 100);
  const failed = (what: string) => new Error(`vigil agent ${what}:\n${a.stderr.slice(-20).join('\n')}`);
  try {
    // The SIGUSR1 handler is installed before the agent logs that it started.
    for (let t = 0; !a.stderr.some((l) => /^vigil agent .*: started/.test(l)); t += 50) {
      if (!alive) throw permissionOr(failed('exited before starting'), a.stderr);
      if (t > 60_000) throw failed('did not start within 60 s');
      await sleep(50);
    }
    for (let t = 0; ; t += 100) {
      const c = await askCounters(a, () => alive);
      if (!alive) throw permissionOr(failed('exited before capturing'), a.stderr);
      if (c?.pcap?.extra.live_captures === 1) break;
      if (t > 30_000) throw failed('did not open its capture within 30 s');
      await sleep(100);
    }
    log('  agent capturing; starting the sender');

    const senderOpts: SenderOptions = { count, rate, dst: DST, firstPort: FIRST_PORT, ports: PORTS };
    const cpu0 = cpuSeconds(a.child.pid);
    const sender = await runChild(nodeArgs('live-sender.ts'), JSON.stringify(senderOpts), ns);
    const cpu1 = cpuSeconds(a.child.pid);
    const s = JSON.parse(sender.trim().split('\n').pop() ?? '') as SenderResult;

    // Wait until the capture count stops growing (the capture counters are synced once a second).
    let last = -1;
    for (let t = 0; t < 30_000; t += 1100) {
      await sleep(1100);
      const c = await askCounters(a, () => alive);
      if (!alive) throw failed('exited during the flood');
      const n = c?.flows?.extra.capture_packets ?? 0;
      if (n >= s.sent || n === last) break;
      last = n;
    }
    a.child.kill('SIGTERM');
    let stopTimer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      a.exited,
      new Promise<'timeout'>((r) => {
        stopTimer = setTimeout(() => r('timeout'), 120_000);
      }),
    ]);
    clearTimeout(stopTimer);
    if (code === 'timeout') {
      a.child.kill('SIGKILL');
      throw failed('did not stop within 120 s of SIGTERM');
    }
    if (code !== 0) throw failed(`exited with code ${code}`);
    const fin = lastCounters(a.stderr, 0, true);
    if (!fin) throw failed('printed no final counters');
    const flows = fin.flows?.extra ?? {};
    const captured = flows.capture_packets ?? 0;
    const findingsByDetector: Record<string, number> = {};
    let findings = 0;
    if (existsSync(findingsFile)) {
      for (const line of readFileSync(findingsFile, 'utf8').split('\n')) {
        if (!line) continue;
        findings++;
        const det = (JSON.parse(line) as { detector?: string }).detector ?? '?';
        findingsByDetector[det] = (findingsByDetector[det] ?? 0) + 1;
      }
    }
    const firstDetector = fin.baseline ?? fin.beacon;
    return {
      detectors,
      sent: s.sent,
      captured,
      loss: s.sent - captured,
      lossPercent: s.sent > 0 ? (100 * (s.sent - captured)) / s.sent : 0,
      sendSeconds: s.seconds,
      sendRate: s.rate,
      captureRate: captured / s.seconds,
      ifaceRxPackets: flows.iface_rx_packets,
      ifaceRxDropped: flows.iface_rx_dropped,
      senderFlows: s.flows,
      flows: flows.flows ?? 0,
      evicted: flows.evicted ?? 0,
      queueDropped: fin.pcap?.dropped ?? 0,
      detectorRecords: detectors ? (firstDetector?.received ?? 0) : 0,
      findings,
      findingsByDetector,
      ackEvents: flows.ack_events ?? 0,
      gapEvents: flows.gap_events ?? 0,
      // The sender's own figure covers its setup too; both are over its active seconds.
      agentCpu: cpu0 === undefined || cpu1 === undefined ? undefined : (cpu1 - cpu0) / s.seconds,
      senderCpu: s.cpuSeconds / s.seconds,
      peakRssMb: peakKb === undefined ? undefined : peakKb / 1024,
      draining: s.draining,
    };
  } finally {
    clearInterval(sampler);
    if (alive) {
      a.child.kill('SIGKILL');
      await a.exited;
    }
  }
}

function permissionOr(err: Error, stderr: string[]): Error {
  const line = stderr.find((l) => l.includes('needs root or CAP_NET_RAW'));
  return line ? new LiveBenchPermissionError(line) : err;
}

function runChild(args: string[], arg: string, ns: string | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const [cmd, cmdArgs] = nodeCommand([...args, arg], ns);
    const child = spawn(cmd, cmdArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`live-sender failed (${code}): ${err}`))));
  });
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** The result as a Markdown table (one column per run) and notes. */
export function formatLiveBench(r: LiveBenchResult): string[] {
  const cols = r.runs.map((x) => (x.detectors ? 'detectors on' : 'detectors off'));
  const lines = [
    `${r.count.toLocaleString('en-US')} UDP datagrams on ${r.iface}, target ${fmt(r.targetRate)} packets/s; filter: ${r.filter}`,
    '',
    `| measure | ${cols.join(' | ')} |`,
    `|---|${cols.map(() => '---:').join('|')}|`,
  ];
  const row = (name: string, f: (x: LiveBenchRun) => string) => lines.push(`| ${name} | ${r.runs.map(f).join(' | ')} |`);
  row('packets sent', (x) => fmt(x.sent));
  row('sender rate achieved, packets/s', (x) => fmt(x.sendRate));
  row('packets captured (capture_packets)', (x) => fmt(x.captured));
  row('loss = sent − captured', (x) => `${fmt(x.loss)} (${x.lossPercent.toFixed(3)} %)`);
  row('capture rate, packets/s (captured ÷ sender seconds)', (x) => fmt(x.captureRate));
  row('lo rx_packets / rx_dropped during the capture', (x) =>
    x.ifaceRxPackets === undefined ? 'n/a' : `${fmt(x.ifaceRxPackets)} / ${fmt(x.ifaceRxDropped ?? 0)}`,
  );
  row('flows emitted (evicted at maxFlows 1000)', (x) => `${fmt(x.flows)} (${fmt(x.evicted)})`);
  row('flows dropped at the detector queue', (x) => fmt(x.queueDropped));
  row('records through the detectors', (x) => (x.detectors ? fmt(x.detectorRecords) : '—'));
  row('findings', (x) =>
    x.detectors ? `${x.findings}${x.findings > 0 ? ` (${Object.entries(x.findingsByDetector).map(([k, v]) => `${k} ${v}`).join(', ')})` : ''}` : '—',
  );
  row('CPU while sending, cores: agent / sender', (x) => `${x.agentCpu === undefined ? '?' : x.agentCpu.toFixed(2)} / ${x.senderCpu.toFixed(2)}`);
  row('peak RSS of the agent, MB', (x) => (x.peakRssMb === undefined ? '?' : x.peakRssMb.toFixed(0)));
  row(`target ≥ ${fmt(TARGET_RATE)} packets/s with zero loss`, (x) => (x.captureRate >= TARGET_RATE && x.loss === 0 ? 'met' : 'not met'));
  lines.push('');
  lines.push(
    'loss is what the capture callback never saw (cap 0.2.1 has no pcap_stats: kernel ring drops are only visible this way); the interface counters cover all of lo',
  );
  for (const n of r.notes) lines.push(`note: ${n}`);
  return lines;
}
