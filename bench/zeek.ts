// Benchmark of Zeek conn.log parsing: vigil's parser against awk (4-column extraction, as
// zeek-cut does it) on TSV and jq on JSON, all on one generated file and in the same run.

import { spawnSync } from 'node:child_process';
import { closeSync, createWriteStream, fsyncSync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { ManualClock } from '../agent/clock.js';
import { JsonLinesWriter, ZeekTsvWriter } from '../agent/flowformat.js';
import { Counters } from '../agent/metrics.js';
import { mulberry32 } from '../agent/random.js';
import type { ConnState, FlowRecord, TransportProto } from '../collectors/record.js';
import { readZeekFiles } from '../collectors/zeek/read.js';

export interface ZeekBenchRow {
  tool: string;
  format: 'tsv' | 'json';
  lines: number;
  seconds: number;
  linesPerSec: number;
  /** vigil's rate divided by this tool's rate (on tool rows). */
  ratio?: number;
}

export interface ZeekBenchOptions {
  /** Data lines to generate; default 1,000,000. */
  lines?: number;
  /** Where to put the temporary files; default the OS temp dir. */
  dir?: string;
  log: (line: string) => void;
}

const AWK_PROGRAM = '{print $3,$5,$6,$10}';
const JQ_PROGRAM = '[."id.orig_h", ."id.resp_h", ."id.resp_p", .orig_bytes]';
/** jq is slow; it gets at most this many lines and is compared per line. */
const JQ_MAX_LINES = 200_000;
const RUNS = 3;

export async function runZeekBench(opts: ZeekBenchOptions): Promise<{ rows: ZeekBenchRow[]; notes: string[] }> {
  const lines = opts.lines ?? 1_000_000;
  const log = opts.log;
  const dir = mkdtempSync(join(opts.dir ?? tmpdir(), 'vigil-zeek-bench-'));
  const rows: ZeekBenchRow[] = [];
  const notes: string[] = [];
  try {
    const tsvPath = join(dir, 'conn.log');
    const jsonPath = join(dir, 'conn.json');
    const jqPath = join(dir, 'conn-jq.json');
    const jqLines = Math.min(lines, JQ_MAX_LINES);
    log(`generating ${lines} conn.log lines (TSV and JSON) in ${dir}`);
    await generateConnLogs(lines, jqLines, tsvPath, jsonPath, jqPath);
    // Let the kernel finish writing the new files back first: writeback running during the
    // timed reads costs CPU and I/O that would be charged to whichever tool runs first.
    for (const file of [tsvPath, jsonPath, jqPath]) fsyncFile(file);
    notes.push(
      `input: ${lines} generated conn.log lines, TSV ${mb(tsvPath)} MB, JSON ${mb(jsonPath)} MB; ` +
        `vigil is timed in-process including file reads, best of ${RUNS}`,
    );

    const vigilTsv = await timeVigil(tsvPath, lines, notes);
    rows.push(row('vigil', 'tsv', lines, vigilTsv));
    log(`vigil TSV: ${fmtRate(lines / vigilTsv)}`);

    for (const awk of ['mawk', 'gawk']) {
      const version = toolVersion(awk, awk === 'mawk' ? ['-W', 'version'] : ['--version']);
      if (!version) {
        notes.push(`${awk} not found: no ${awk} row`);
        continue;
      }
      const seconds = timeTool(awk, ['-F', '\t', AWK_PROGRAM, tsvPath], RUNS);
      if (seconds === undefined) {
        notes.push(`${awk} failed on the TSV file: no ${awk} row`);
        continue;
      }
      rows.push(row(awk, 'tsv', lines, seconds, lines / vigilTsv));
      notes.push(`${awk} = ${version}; program ${awk} -F'\\t' '${AWK_PROGRAM}' > /dev/null`);
      log(`${awk} TSV: ${fmtRate(lines / seconds)}`);
    }
    const plainAwk = spawnSync('sh', ['-c', 'readlink -f "$(command -v awk)"'], { encoding: 'utf8' });
    if (plainAwk.status === 0 && plainAwk.stdout.trim()) notes.push(`plain 'awk' here is ${plainAwk.stdout.trim()}`);

    const vigilJson = await timeVigil(jsonPath, lines, notes);
    rows.push(row('vigil', 'json', lines, vigilJson));
    log(`vigil JSON: ${fmtRate(lines / vigilJson)}`);

    const jqVersion = toolVersion('jq', ['--version']);
    if (!jqVersion) {
      notes.push('jq not found: no jq row');
    } else {
      const seconds = timeTool('jq', ['-c', JQ_PROGRAM, jqPath], 1);
      if (seconds === undefined) {
        notes.push('jq failed on the JSON file: no jq row');
      } else {
        rows.push(row('jq', 'json', jqLines, seconds, lines / vigilJson));
        notes.push(
          `${jqVersion}; program jq -c '${JQ_PROGRAM}' > /dev/null on the first ${jqLines} JSON lines, one run`,
        );
        log(`jq JSON: ${fmtRate(jqLines / seconds)}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { rows, notes };
}

async function timeVigil(path: string, lines: number, notes: string[]): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let run = 0; run < RUNS; run++) {
    const counters = new Counters('zeek-bench');
    let issues = 0;
    const t0 = performance.now();
    await readZeekFiles([path], { counters, onIssue: () => issues++ }, () => {});
    const seconds = (performance.now() - t0) / 1000;
    best = Math.min(best, seconds);
    if (run === 0 && (counters.emitted !== lines || issues > 0)) {
      notes.push(`vigil parsed ${counters.emitted} of ${lines} lines of ${path} with ${issues} issues`);
    }
  }
  return best;
}

/** Best wall time of `runs` runs of a tool with stdout to /dev/null; undefined if it failed. */
function timeTool(cmd: string, args: string[], runs: number): number | undefined {
  let best = Number.POSITIVE_INFINITY;
  const devNull = openSync('/dev/null', 'w');
  try {
    for (let run = 0; run < runs; run++) {
      const t0 = performance.now();
      const r = spawnSync(cmd, args, { stdio: ['ignore', devNull, 'pipe'] });
      const seconds = (performance.now() - t0) / 1000;
      if (r.status !== 0) return undefined;
      best = Math.min(best, seconds);
    }
  } finally {
    closeSync(devNull);
  }
  return best;
}

function toolVersion(cmd: string, args: string[]): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) return undefined;
  return (r.stdout || r.stderr).split('\n')[0].trim();
}

function row(tool: string, format: 'tsv' | 'json', lines: number, seconds: number, vigilRate?: number): ZeekBenchRow {
  const linesPerSec = lines / seconds;
  const out: ZeekBenchRow = { tool, format, lines, seconds, linesPerSec };
  if (vigilRate !== undefined) out.ratio = vigilRate / linesPerSec;
  return out;
}

/** Flushes a generated input file so that every tool reads it from the same page cache state. */
export function fsyncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function mb(path: string): string {
  return (statSync(path).size / 1e6).toFixed(1);
}

function fmtRate(r: number): string {
  return `${(r / 1e6).toFixed(2)} M lines/s`;
}

// --- the generated conn.log -------------------------------------------------------------

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

interface Pick<T> {
  value: T;
  weight: number;
}

function picker<T>(items: Pick<T>[]): (r: number) => T {
  const total = items.reduce((s, i) => s + i.weight, 0);
  return (r) => {
    let x = r * total;
    for (const i of items) {
      x -= i.weight;
      if (x < 0) return i.value;
    }
    return items[items.length - 1].value;
  };
}

const tcpState = picker<ConnState>([
  { value: 'SF', weight: 55 },
  { value: 'S0', weight: 15 },
  { value: 'REJ', weight: 8 },
  { value: 'S1', weight: 5 },
  { value: 'RSTO', weight: 5 },
  { value: 'RSTR', weight: 4 },
  { value: 'SH', weight: 3 },
  { value: 'OTH', weight: 3 },
  { value: 'S3', weight: 1 },
  { value: 'RSTOS0', weight: 1 },
]);
const udpState = picker<ConnState>([
  { value: 'SF', weight: 60 },
  { value: 'S0', weight: 35 },
  { value: 'SHR', weight: 3 },
  { value: 'OTH', weight: 2 },
]);
const HISTORIES: Record<string, string[]> = {
  SF: ['ShADadFf', 'ShADadfF', 'ShAdDaFf', 'ShADdaFfR', 'ShADadtFf'],
  S0: ['S', 'S', 'D'],
  REJ: ['Sr'],
  S1: ['ShAD', 'ShADad'],
  RSTO: ['ShADadR', 'ShAdR'],
  RSTR: ['ShADadr', 'Shr'],
  SH: ['SF'],
  OTH: ['Cc', 'DadA', '^dA'],
  S3: ['ShADadf'],
  RSTOS0: ['SR'],
  SHR: ['^hf'],
};
const tcpPort = picker<number>([
  { value: 443, weight: 50 },
  { value: 80, weight: 15 },
  { value: 22, weight: 4 },
  { value: 25, weight: 2 },
  { value: 3389, weight: 2 },
  { value: 8080, weight: 3 },
  { value: 445, weight: 3 },
  { value: 0, weight: 21 },
]);
const udpPort = picker<number>([
  { value: 53, weight: 60 },
  { value: 123, weight: 10 },
  { value: 443, weight: 15 },
  { value: 5353, weight: 5 },
  { value: 0, weight: 10 },
]);
const SERVICES: Record<string, string> = {
  'tcp/443': 'ssl',
  'tcp/80': 'http',
  'tcp/8080': 'http',
  'tcp/22': 'ssh',
  'tcp/25': 'smtp',
  'tcp/3389': 'rdp',
  'tcp/445': 'smb,gssapi',
  'udp/53': 'dns',
  'udp/123': 'ntp',
  'udp/443': 'quic,ssl',
  'udp/5353': 'dns',
};

function makeGenerator(seed: number): () => FlowRecord {
  const rnd = mulberry32(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const skewed = (n: number, power: number) => Math.floor(n * rnd() ** power);
  const internal4 = Array.from({ length: 2000 }, () => `10.${int(64)}.${int(256)}.${1 + int(254)}`);
  const internal6 = Array.from({ length: 200 }, () => `fd00:${int(65536).toString(16)}::${int(65536).toString(16)}`);
  const external4 = Array.from({ length: 50000 }, () => `${11 + int(212)}.${int(256)}.${int(256)}.${1 + int(254)}`);
  const external6 = Array.from(
    { length: 5000 },
    () => `2a0${int(10)}:${int(65536).toString(16)}:${int(65536).toString(16)}::${int(65536).toString(16)}`,
  );
  let micros = 1_700_000_000_000_000;
  const uid = () => {
    let s = 'C';
    for (let i = 0; i < 17; i++) s += BASE62[int(62)];
    return s;
  };
  const lognormal = (median: number) => Math.floor(median * Math.exp((rnd() - 0.5) * 6));

  return () => {
    micros += int(2000);
    const v6 = rnd() < 0.1;
    const inbound = rnd() < 0.08;
    // Popularity is skewed, as in real traffic: a few hosts and services take most flows, and
    // a long tail of destinations is seen rarely.
    const inside = v6 ? internal6[skewed(internal6.length, 2)] : internal4[skewed(internal4.length, 2)];
    const outside = v6 ? external6[skewed(external6.length, 3)] : external4[skewed(external4.length, 3)];
    const pr = rnd();
    const proto: TransportProto = pr < 0.7 ? 'tcp' : pr < 0.97 ? 'udp' : 'icmp';
    let orig_p: number;
    let resp_p: number;
    let state: ConnState;
    if (proto === 'icmp') {
      orig_p = [8, 3, 11][int(3)];
      resp_p = orig_p === 3 ? int(4) : 0;
      state = 'OTH';
    } else {
      orig_p = 1024 + int(64511);
      const p = proto === 'tcp' ? tcpPort(rnd()) : udpPort(rnd());
      resp_p = p === 0 ? 1 + int(65535) : p;
      state = proto === 'tcp' ? tcpState(rnd()) : udpState(rnd());
    }
    const singlePacket = state === 'S0' && rnd() < 0.7;
    const service = state === 'SF' || state === 'S1' ? SERVICES[`${proto}/${resp_p}`] : undefined;
    const hist = HISTORIES[state];
    const history = proto === 'icmp' ? undefined : hist[int(hist.length)];
    const origBytes = singlePacket ? undefined : state === 'S0' || state === 'REJ' ? 0 : lognormal(600);
    const respBytes = singlePacket ? undefined : state === 'S0' || state === 'REJ' ? 0 : lognormal(4000);
    const origPkts = singlePacket ? 1 : 1 + int(40);
    const respPkts = state === 'S0' ? 0 : 1 + int(40);
    const header = v6 ? 60 : proto === 'udp' ? 28 : 40;
    const r = rnd();
    return {
      kind: 'flow',
      ts: micros / 1e6,
      uid: uid(),
      orig_h: inbound ? outside : inside,
      orig_p,
      resp_h: inbound ? inside : outside,
      resp_p,
      proto,
      service,
      duration: singlePacket ? undefined : int(300_000_000) / 1e6,
      orig_bytes: origBytes,
      resp_bytes: respBytes,
      conn_state: state,
      local_orig: !inbound,
      local_resp: inbound,
      missed_bytes: r < 0.01 ? lognormal(1000) : 0,
      history,
      orig_pkts: origPkts,
      orig_ip_bytes: origPkts * header + (origBytes ?? 0),
      resp_pkts: respPkts,
      resp_ip_bytes: respPkts * header + (respBytes ?? 0),
      tunnel_parents: r > 0.995 ? [uid()] : undefined,
    };
  };
}

/**
 * Writes `lines` generated flows as a Zeek TSV conn.log and the same flows as Zeek JSON lines;
 * the first `jqLines` of the JSON also go to jqPath. Deterministic: same arguments, same bytes.
 */
export async function generateConnLogs(
  lines: number,
  jqLines: number,
  tsvPath: string,
  jsonPath: string,
  jqPath: string,
): Promise<void> {
  const next = makeGenerator(0x5eed);
  const clock = new ManualClock(Date.UTC(2023, 10, 14, 22, 13, 20));
  const tsvOut = createWriteStream(tsvPath);
  const jsonOut = createWriteStream(jsonPath);
  const jqOut = createWriteStream(jqPath);
  const tsv = new ZeekTsvWriter(tsvOut, { clock });
  const json = new JsonLinesWriter(jsonOut);
  const jq = new JsonLinesWriter(jqOut);
  const batch: FlowRecord[] = [];
  for (let i = 0; i < lines; i++) {
    batch.push(next());
    if (batch.length === 10_000 || i === lines - 1) {
      await Promise.all([tsv.write(batch), json.write(batch)]);
      const jqLeft = jqLines - (i + 1 - batch.length);
      if (jqLeft > 0) await jq.write(batch.slice(0, jqLeft));
      batch.length = 0;
    }
  }
  await Promise.all([tsv.end(), json.end(), jq.end()]);
  await Promise.all([tsvOut, jsonOut, jqOut].map((s) => new Promise((res) => s.end(res))));
}

// `npx tsx bench/zeek.ts [lines]` runs this suite alone.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const lines = process.argv[2] ? Number(process.argv[2]) : undefined;
  const { rows, notes } = await runZeekBench({ lines, log: (l) => console.error(l) });
  for (const r of rows) {
    console.log(
      `${r.tool.padEnd(6)} ${r.format.padEnd(5)} ${String(r.lines).padStart(8)} lines ` +
        `${r.seconds.toFixed(3).padStart(8)} s ${fmtRate(r.linesPerSec).padStart(18)}` +
        (r.ratio !== undefined ? `   vigil/tool = ${r.ratio.toFixed(2)}x` : ''),
    );
  }
  for (const n of notes) console.log(`note: ${n}`);
}
