// `vigil agent` end to end: it tails a conn.log, is stopped (SIGTERM) part-way, restarts from
// its SQLite state, and ends with exactly the findings an offline replay of the whole log gives,
// every line read once.

import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../agent/config.js';
import { runReplay } from '../../agent/replay.js';
import type { Finding } from '../../detectors/detector.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-agent-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
});

interface Running {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

function startAgent(config: string, findings: string): Running {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(root, 'agent/cli.ts'), 'agent', '-c', config, '-o', findings],
    {
      cwd: root,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  children.push(child);
  let err = '';
  child.stderr?.on('data', (b: Buffer) => {
    err += b.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stderr: () => err, exited };
}

type Counts = Record<string, { received: number; errors: number; extra: Record<string, number> }>;

function lastCounters(stderr: string): Counts | undefined {
  const lines = stderr.split('\n').filter((l) => l.includes('counters {'));
  const last = lines[lines.length - 1];
  return last ? JSON.parse(last.slice(last.indexOf('{'))) : undefined;
}

/** Asks the agent for its counters until `done` holds; fails after a deadline instead of hanging. */
async function waitFor(agent: Running, done: (c: Counts) => boolean, deadlineMs = 60_000): Promise<Counts> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    // Before its handler is installed SIGUSR1 would terminate the process.
    if (agent.stderr().includes(': started')) agent.child.kill('SIGUSR1');
    await new Promise((r) => setTimeout(r, 300));
    const c = lastCounters(agent.stderr());
    if (c && done(c)) return c;
    if (Date.now() > until) throw new Error(`agent did not get there in time; stderr:\n${agent.stderr()}`);
  }
}

async function stop(agent: Running): Promise<Counts> {
  agent.child.kill('SIGTERM');
  const code = await agent.exited;
  expect(code).toBe(0);
  expect(agent.stderr()).toContain('vigil agent: stopped');
  return lastCounters(agent.stderr()) as Counts;
}

describe('vigil agent', () => {
  it('resumes from its state after a stop: same findings as a replay, every line once', async () => {
    const lines = zlib
      .gunzipSync(fs.readFileSync(path.join(root, 'agent/demo/sample-conn.log.gz')))
      .toString()
      .split('\n');
    const close = lines.findIndex((l) => l.startsWith('#close'));
    const header = lines.slice(0, 8);
    const data = lines.slice(8, close);
    const cut = Math.floor(data.length * 0.55);
    const log = path.join(tmp, 'conn.log');
    fs.writeFileSync(log, `${[...header, ...data.slice(0, cut)].join('\n')}\n`);
    const config = path.join(tmp, 'agent.yaml');
    fs.writeFileSync(
      config,
      `state:\n  path: ${path.join(tmp, 'state.db')}\n  snapshotIntervalSeconds: 0.5\ncollectors:\n  zeek:\n    tail: [${log}]\n    pollIntervalMs: 50\n`,
    );
    const findingsFile = path.join(tmp, 'findings.jsonl');

    const first = startAgent(config, findingsFile);
    await waitFor(first, (c) => c.zeek?.received === cut);
    const c1 = await stop(first);

    fs.appendFileSync(log, `${data.slice(cut).join('\n')}\n`);
    const second = startAgent(config, findingsFile);
    await waitFor(second, (c) => c.zeek?.received === data.length - cut);
    const c2 = await stop(second);

    expect(c1.zeek.received + c2.zeek.received).toBe(data.length);
    expect(c1.zeek.errors + c2.zeek.errors).toBe(0);
    expect(c2.baseline.extra.late ?? 0).toBe(0);

    const got = fs
      .readFileSync(findingsFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Finding);
    const expected: Finding[] = [];
    await runReplay({
      inputs: [log],
      resolved: resolveConfig({}),
      onIssue: (i) => {
        throw new Error(JSON.stringify(i));
      },
      onFindings: (f) => void expected.push(...f),
    });
    // The replay closes the last day at the end of input; the agent keeps it open (more may come).
    expect(got.map((f) => f.id)).toEqual(expected.map((f) => f.id));
    expect([...new Set(got.map((f) => f.entity.id.split('->')[0]))].sort()).toEqual(['10.20.0.10', '192.168.10.15', '192.168.10.23']);
    expect(got.map((f) => f.score)).toEqual(expected.map((f) => f.score));
  });
});
