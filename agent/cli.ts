#!/usr/bin/env node
// The `vigil` command: one executable with a subcommand per job (DESIGN §6). Exit codes: 0 done,
// 1 failed while running, 2 bad usage or bad input (with a one-line reason on stderr).

import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { Command, CommanderError, Option } from 'commander';
import type { BenchOptions } from '../bench/index.js';
import { isCaptureFile, peekCapture, readCaptureFlows } from '../collectors/pcap/read.js';
import type { FlowRecord } from '../collectors/record.js';
import { readZeekFiles } from '../collectors/zeek/read.js';
import { registerHubCommands } from '../hub/cli.js';
import { beaconTable, beaconToJson, runBeacons } from './beacons.js';
import { ConfigError, formatProblem, loadConfigFile, type ResolvedConfig, resolveConfig } from './config.js';
import { Agent } from './daemon.js';
import { runDemo } from './demo/run.js';
import { findingRow, findingToJson, formatTable, TABLE_HEADER } from './findingformat.js';
import { JsonLinesWriter, ZEEK_CONN_COLUMNS, ZEEK_IP_PROTO_COLUMN, ZeekTsvWriter } from './flowformat.js';
import { expandInputs, InputError } from './inputs.js';
import { formatIssue, IssueLog } from './issues.js';
import { MetricsRegistry } from './metrics.js';
import { runReplay } from './replay.js';
import { StateError } from './state.js';
import { packageInfo } from './version.js';

/** Bad usage or input: printed as one line, exit code 2. */
class UsageError extends Error {}

/** A commander option parser for a whole number in [min, max], with a usage error naming the option. */
function wholeNumber(option: string, min: number, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? (min > 0 ? ` >= ${min}` : '') : ` from ${min} to ${max}`;
      throw new UsageError(`${option} must be a whole number${range}, got "${v}"`);
    }
    return n;
  };
}

const SHOWN_ISSUES = 20;

function makeIssueLog(): IssueLog {
  const log: IssueLog = new IssueLog(SHOWN_ISSUES, (issue) => {
    if (log.total <= SHOWN_ISSUES) process.stderr.write(`vigil: warning: ${formatIssue(issue)}\n`);
  });
  return log;
}

function reportIssues(log: IssueLog): void {
  if (log.total > SHOWN_ISSUES) {
    process.stderr.write(
      `vigil: warning: ${log.total} input problems in all; the first ${SHOWN_ISSUES} are shown above\n`,
    );
  }
}

function loadConfig(file: string | undefined): ResolvedConfig {
  return file ? loadConfigFile(file) : resolveConfig({});
}

export function buildProgram(): Command {
  const program = new Command('vigil')
    .description('Edge network sensor: flows, baselines and explained anomaly summaries')
    .version(packageInfo().version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (str, write) => write(str) })
    .exitOverride();

  program
    .command('agent')
    .description('run the sensor: collectors → detectors, state in SQLite, summaries over MQTT or findings as JSON lines')
    .requiredOption('-c, --config <file>', 'agent configuration (YAML)')
    .option('-o, --findings <file>', 'append findings to this file instead of stdout')
    .action(async (opts: { config: string; findings?: string }) => {
      const resolved = loadConfigFile(opts.config);
      const issues = makeIssueLog();
      const out = opts.findings ? fs.createWriteStream(opts.findings, { flags: 'a' }) : process.stdout;
      const agent = new Agent({
        resolved,
        findingsOut: out,
        onIssue: issues.report,
        log: (line) => process.stderr.write(`${line}\n`),
      });
      const stop = () => void agent.stop();
      // SIGUSR1 prints every component's counters without stopping (as dd does for progress).
      const counters = () =>
        process.stderr.write(`vigil agent: counters ${JSON.stringify(agent.metrics.snapshot())}\n`);
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      process.on('SIGUSR1', counters);
      try {
        await agent.run();
      } finally {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        process.off('SIGUSR1', counters);
        if (out !== process.stdout) await new Promise<void>((resolve) => out.end(resolve));
      }
      reportIssues(issues);
    });

  registerHubCommands(program);

  program
    .command('replay')
    .description('run the full pipeline offline in event time over the inputs and print the findings')
    .argument('<inputs...>', 'Zeek conn.log files (TSV or JSON, plain or gzip), directories of them, or - for stdin')
    .option('-c, --config <file>', 'agent configuration (YAML); built-in defaults when omitted')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['jsonl', 'table']).default('table'))
    .option('--stats', 'print the counters of every component to stderr at the end')
    .action(async (inputs: string[], opts: { config?: string; format: 'jsonl' | 'table'; stats?: boolean }) => {
      const resolved = loadConfig(opts.config);
      const issues = makeIssueLog();
      const rows: string[][] = [];
      const result = await runReplay({
        inputs,
        resolved,
        onIssue: issues.report,
        onFindings: (findings) => {
          for (const f of findings) {
            if (opts.format === 'jsonl') process.stdout.write(`${findingToJson(f)}\n`);
            else rows.push(findingRow(f));
          }
        },
      });
      if (opts.format === 'table') {
        process.stdout.write(rows.length > 0 ? `${formatTable(TABLE_HEADER, rows)}\n` : 'no findings\n');
      }
      reportIssues(issues);
      process.stderr.write(
        `vigil: ${result.records} records from ${result.files.length} file(s), ${result.findings} finding(s), ${issues.total} input problem(s)\n`,
      );
      if (opts.stats) process.stderr.write(`${JSON.stringify(result.metrics.snapshot(), null, 2)}\n`);
    });

  program
    .command('flows')
    .description('print flows from any flow source as a Zeek conn.log (TSV with header) or JSON lines')
    .argument(
      '<inputs...>',
      'pcap/pcapng capture files, Zeek conn.log files (TSV or JSON, plain or gzip), directories of conn logs, or - for either on stdin',
    )
    .addOption(new Option('-f, --format <format>', 'output format').choices(['zeek', 'jsonl']).default('zeek'))
    .addOption(
      new Option('--checksums <mode>', 'captures: verify drops bad-checksum packets as Zeek does; ignore keeps them, as zeek -C')
        .choices(['verify', 'ignore'])
        .default('verify'),
    )
    .action(async (inputs: string[], opts: { format: 'zeek' | 'jsonl'; checksums: 'verify' | 'ignore' }) => {
      const files = expandInputs(inputs);
      const issues = makeIssueLog();
      const metrics = new MetricsRegistry();
      // Standard input may hold a capture or a conn.log: its first bytes decide.
      let stdin: { capture: boolean; stream: Readable } | undefined;
      if (files.includes('-')) stdin = await peekCapture(process.stdin);
      const isCapture = (f: string) => (f === '-' ? (stdin?.capture ?? false) : isCaptureFile(f));
      // Flows made from packets carry ip_proto, as Zeek 7's conn.log: its column is then written.
      const fields = files.some(isCapture) ? [...ZEEK_CONN_COLUMNS.map((c) => c.name), ZEEK_IP_PROTO_COLUMN.name] : undefined;
      const writer = opts.format === 'zeek' ? new ZeekTsvWriter(process.stdout, { fields }) : new JsonLinesWriter(process.stdout);
      // Consecutive files of one kind are read together, in the order given.
      for (let i = 0; i < files.length; ) {
        const capture = isCapture(files[i]);
        let j = i;
        while (j < files.length && isCapture(files[j]) === capture) j++;
        const group = files.slice(i, j);
        const write = async (batch: FlowRecord[]) => {
          await writer.write(batch);
        };
        if (capture) {
          await readCaptureFlows(group, { metrics, onIssue: issues.report, checksums: opts.checksums, stdin: stdin?.stream }, write);
        } else {
          await readZeekFiles(group, { counters: metrics.counters('zeek'), onIssue: issues.report, stdin: stdin?.stream }, write);
        }
        i = j;
      }
      await writer.end();
      reportIssues(issues);
    });

  program
    .command('beacons')
    .description(
      'rank beacon candidates (C2 check-ins) in Zeek logs or capture files; ssl/http/dns logs beside each conn log give server names',
    )
    .argument('<inputs...>', 'Zeek conn.log files (TSV or JSON, plain or gzip), directories of them, pcap/pcapng files, or - for stdin')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['jsonl', 'table']).default('table'))
    .option('--all', 'print every pair that was scored, not only alerts')
    .option('-c, --config <file>', 'agent configuration (local networks, segments, detectors.beacon)')
    .action(async (inputs: string[], opts: { format: 'jsonl' | 'table'; all?: boolean; config?: string }) => {
      const resolved = loadConfig(opts.config);
      const issues = makeIssueLog();
      const report = await runBeacons({ inputs, resolved, onIssue: issues.report, all: opts.all === true });
      if (opts.format === 'jsonl') {
        for (const r of report.results) process.stdout.write(`${beaconToJson(r)}\n`);
      } else {
        const alerts = report.results.filter((r) => r.alert).length;
        process.stdout.write(
          `${report.records} connections in ${report.files.length} file(s); ${report.names.joined} named from ssl/http/dns logs; ${alerts} beacon(s)\n`,
        );
        if (report.results.length > 0) process.stdout.write(`${beaconTable(report.results)}\n`);
      }
      reportIssues(issues);
    });

  program
    .command('validate')
    .description('check a configuration file and print every problem with its path')
    .requiredOption('-c, --config <file>', 'agent configuration (YAML)')
    .action((opts: { config: string }) => {
      const resolved = loadConfigFile(opts.config);
      const segments = [...resolved.segmentDetectors.keys()].sort();
      process.stdout.write(`${opts.config}: ok (segments: ${segments.join(', ')})\n`);
    });

  program
    .command('demo')
    .description(
      'run an embedded broker, a hub and a sensor on the bundled sample network; show what the hub stored and serve its API until Ctrl-C',
    )
    .addOption(new Option('-f, --format <format>', 'output format').choices(['jsonl', 'table']).default('table'))
    .option('--no-wait', 'exit after printing instead of serving the hub API until Ctrl-C')
    .option('--port <port>', 'port of the hub API (default: a free one)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--port must be 0-65535, got "${v}"`);
      return n;
    })
    .action(async (opts: { format: 'jsonl' | 'table'; wait: boolean; port?: number }) => {
      await runDemo({ format: opts.format, out: process.stdout, err: process.stderr, wait: opts.wait, port: opts.port ?? 0 });
    });

  program
    .command('bench')
    .description('run benchmarks against reference tools in the same run and print the table')
    .argument(
      '[suite]',
      'which benchmark: zeek (conn.log parsing vs awk, jq), hub (summaries stored per second) beacon (labelled beacon set, vigil vs the RITA v5 score) pcap (capture → flows vs nfpcapd, softflowd, argus) or live (a loopback flood captured by a running agent; root or CAP_NET_RAW)',
      'zeek',
    )
    .option('--lines <n>', 'lines in the generated conn.log (zeek suite)', wholeNumber('--lines', 1000))
    .option('--scale <x>', 'size of the generated set (beacon suite; 1 = 58 k pairs, 2.8 M connections)', (v) => {
      const n = Number(v);
      if (!(n > 0 && n <= 4)) throw new UsageError(`--scale must be a number in (0, 4], got "${v}"`);
      return n;
    })
    .option('--seed <n>', 'seed of the generated set (beacon suite)', wholeNumber('--seed', 0))
    .option('--fit', 'beacon suite: fit the score weights on training seeds and print the model instead')
    .option('--packets <n>', 'packets in the generated capture (pcap suite, default 3,000,000)', wholeNumber('--packets', 10_000))
    .option('--count <n>', 'datagrams in the loopback flood (live suite, default 1,000,000)', wholeNumber('--count', 1000))
    .option('--rate <pps>', 'target send rate of the flood, packets/s (live suite, default 150,000)', wholeNumber('--rate', 1000))
    .option(
      '--buffer-mib <n>',
      "live suite: the agent's capture ring, MiB (collectors.pcap.bufferMiB; default the agent's 128)",
      wholeNumber('--buffer-mib', 8, 4096),
    )
    .option('--detectors-only', 'live suite: skip the second flood with the detectors disabled')
    .option('--host-lo', "live suite: flood the host's lo (MTU 65536) instead of a private network namespace's (MTU 1500)")
    .action(
      async (
        suite: string,
        opts: Omit<BenchOptions, 'out'>,
      ) => {
        const { runBenchSuite } = await import('../bench/index.js');
        await runBenchSuite(suite, { ...opts, out: process.stdout });
      },
    );

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed its message (help, version, or a usage error).
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof ConfigError) {
      for (const p of err.problems) process.stderr.write(`${err.file}: ${formatProblem(p)}\n`);
      process.stderr.write(`vigil: ${err.file}: ${err.problems.length} problem(s) in the configuration\n`);
      return 2;
    }
    if (err instanceof UsageError || err instanceof InputError || err instanceof StateError) {
      process.stderr.write(`vigil: ${err.message}\n`);
      return 2;
    }
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') return 0; // output closed early (| head)
    process.stderr.write(`vigil: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

const invokedDirectly =
  process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(new URL(import.meta.url).pathname);
if (invokedDirectly) {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
  });
  void main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
