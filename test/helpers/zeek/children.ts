// Test helper: starts TypeScript helper scripts as child processes (node --import tsx), collects
// their output, waits for conditions with hard deadlines, and kills what is left by PID.

import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export interface Child {
  proc: ChildProcess;
  stdout: string[];
  stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();

/** Starts `node --import tsx <script> <args…>` from the repository root. */
export function startScript(script: string, args: string[]): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, script), ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  const child: Child = {
    proc,
    stdout: [],
    stderr: '',
    exited: new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        running.delete(proc);
        resolve({ code, signal });
      });
    }),
  };
  let partial = '';
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
    const parts = (partial + d).split('\n');
    partial = parts.pop() ?? '';
    child.stdout.push(...parts);
  });
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
    child.stderr += d;
  });
  return child;
}

/** Kills every child still running (SIGKILL, by PID); for afterEach. */
export async function killAll(): Promise<void> {
  const waits: Promise<unknown>[] = [];
  for (const proc of running) {
    if (proc.pid !== undefined && proc.exitCode === null && proc.signalCode === null) {
      waits.push(new Promise((r) => proc.once('exit', r)));
      try {
        process.kill(proc.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  await Promise.all(waits);
  running.clear();
}

/** Polls `cond` every 20 ms; throws `what` once `ms` have passed without it holding. */
export async function waitFor(what: string, ms: number, cond: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves with the child's exit, or throws after `ms`. */
export async function exitWithin(
  child: Child,
  ms: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`child ${child.proc.pid} did not exit within ${ms} ms: ${child.stderr}`)),
      ms,
    );
  });
  try {
    return await Promise.race([child.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits until `value()` reaches `target` or stops growing for `idleMs` (then the caller's
 * assertions say what is missing, instead of a bare timeout); throws after `maxMs` in any case.
 */
export async function waitForProgress(
  what: string,
  value: () => number,
  target: number,
  opts: { idleMs: number; maxMs: number },
): Promise<number> {
  const deadline = Date.now() + opts.maxMs;
  let last = value();
  let lastChange = Date.now();
  for (;;) {
    const now = value();
    if (now >= target) return now;
    if (now !== last) {
      last = now;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > opts.idleMs) {
      return now;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${opts.maxMs} ms waiting for ${what} (${now} of ${target})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
