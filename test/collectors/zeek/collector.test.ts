// The zeek collector: exactly-once delivery through SIGKILL and restart of a tailing process,
// checkpoints that cover only what the sink accepted, bad lines reported, and its config schema.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InputIssue } from '../../../agent/issues.js';
import { MetricsRegistry } from '../../../agent/metrics.js';
import { type CheckpointStore, StateStore } from '../../../agent/state.js';
import type { FlowRecord, VigilRecord } from '../../../collectors/record.js';
import { checkpointKeys, type StreamCheckpoint, ZeekCollector } from '../../../collectors/zeek/collector.js';
import { type ZeekCollectorConfig, zeekCollectorConfigSchema } from '../../../collectors/zeek/config.js';
import { type Child, exitWithin, killAll, startScript, waitFor, waitForProgress } from '../../helpers/zeek/children.js';
import { connLine, type WriterOptions, zeekHeader } from '../../helpers/zeek/rotating-writer.js';
import { type RunnerOptions, UID_BATCH_KEY, UID_BATCHES_KEY } from '../../helpers/zeek/tail-runner.js';

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-zeek-'));
});

afterEach(async () => {
  await killAll();
  fs.rmSync(dir, { recursive: true, force: true });
});

class MemoryStore implements CheckpointStore {
  readonly values = new Map<string, string>();
  loadCheckpoint(key: string): unknown {
    const v = this.values.get(key);
    return v === undefined ? undefined : JSON.parse(v);
  }
  saveCheckpoint(key: string, value: unknown): void {
    this.values.set(key, JSON.stringify(value));
  }
}

function collector(config: Partial<ZeekCollectorConfig>, checkpoints?: CheckpointStore) {
  const issues: InputIssue[] = [];
  const metrics = new MetricsRegistry();
  const c = new ZeekCollector({
    config: zeekCollectorConfigSchema.parse(config),
    checkpoints,
    metrics,
    onIssue: (i) => issues.push(i),
  });
  return { c, issues, counters: metrics.counters('zeek') };
}

/** The highest N of the writer's rotated files conn.log.N[.gz]. */
const highestRotation = (d: string) =>
  Math.max(0, ...fs.readdirSync(d).map((n) => Number(/^conn\.log\.(\d+)/.exec(n)?.[1] ?? 0)));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const uidsOf = (batch: VigilRecord[]) => batch.map((r) => (r as FlowRecord).uid);

describe('ZeekCollector, tail process killed with SIGKILL', () => {
  const committed = (child: Child) => {
    const last = [...child.stdout].reverse().find((l) => l.startsWith('committed '));
    return last ? Number(last.slice('committed '.length)) : 0;
  };

  it('delivers every line exactly once across two SIGKILLs and restarts while the writer rotates', async () => {
    const live = path.join(dir, 'conn.log');
    const statePath = path.join(dir, 'state.db');
    const writerOpts: WriterOptions = {
      dir,
      styles: ['rename', 'copytruncate', 'gzip'],
      linesPerSecond: 20_000,
      rotateEveryMs: 1000,
      durationMs: 8000,
      uidPrefix: 'k',
      gzipDelayMs: 150,
      goFile: path.join(dir, 'go'),
    };
    const runnerOpts: RunnerOptions = { statePath, livePath: live, pollIntervalMs: 50 };
    const writer = startScript('test/helpers/zeek/rotating-writer.ts', [JSON.stringify(writerOpts)]);
    await waitFor('the writer to create conn.log', 15_000, () => fs.existsSync(live));

    const runners: Child[] = [];
    let killedAt = 0;
    for (let round = 0; round < 2; round++) {
      const runner = startScript('test/helpers/zeek/tail-runner.ts', [JSON.stringify(runnerOpts)]);
      runners.push(runner);
      if (round === 0) {
        // Without a checkpoint the tail reads the current file only: it must be open before
        // the writer's first rotation, or that file's lines are (rightly) never read.
        await waitFor('the first runner to open conn.log', 20_000, () => runner.stdout.includes('following'));
        fs.writeFileSync(writerOpts.goFile as string, '');
      }
      await waitFor(`round ${round} to commit 15000 more uids`, 30_000, () => committed(runner) >= killedAt + 15_000);
      expect(writer.proc.exitCode, 'the writer must still be writing at the kill').toBeNull();
      process.kill(runner.proc.pid as number, 'SIGKILL');
      expect((await exitWithin(runner, 10_000)).signal).toBe('SIGKILL');
      killedAt = committed(runner);
    }
    // Stay down long enough for the file to rotate at least twice: the restart must find the
    // checkpointed file among the rotated ones and read every later one, in order.
    const rotatedBefore = highestRotation(dir);
    await waitFor('two rotations while the tail is down', 10_000, () => highestRotation(dir) >= rotatedBefore + 2);

    const last = startScript('test/helpers/zeek/tail-runner.ts', [JSON.stringify(runnerOpts)]);
    runners.push(last);
    const exit = await exitWithin(writer, 40_000);
    expect(exit.code, writer.stderr).toBe(0);
    const { written, rotations } = JSON.parse(writer.stdout[0]) as { written: number; rotations: number };
    expect(written).toBe(160_000);
    expect(rotations).toBeGreaterThanOrEqual(6);
    await waitForProgress(`the runner to commit ${written} uids`, () => committed(last), written, {
      idleMs: 4000,
      maxMs: 40_000,
    });
    await sleep(500); // a duplicate read late would show up here
    process.kill(last.proc.pid as number, 'SIGTERM');
    expect((await exitWithin(last, 10_000)).code, last.stderr).toBe(0);
    for (const r of runners) expect(r.stderr, 'no issue was reported').toBe('');

    const state = StateStore.open(statePath);
    const counts = new Map<string, number>();
    try {
      const batches = state.loadCheckpoint(UID_BATCHES_KEY) as number;
      for (let n = 0; n < batches; n++) {
        for (const uid of state.loadCheckpoint(UID_BATCH_KEY(n)) as string[])
          counts.set(uid, (counts.get(uid) ?? 0) + 1);
      }
      expect(state.loadCheckpoint(checkpointKeys.tail(live))).toBeDefined();
    } finally {
      state.close();
    }
    const duplicated = [...counts].filter(([, n]) => n > 1).map(([uid]) => uid);
    expect(duplicated).toEqual([]);
    const missing: string[] = [];
    for (let n = 0; n < written; n++) if (!counts.has(`Ckx${n}`)) missing.push(`Ckx${n}`);
    expect(missing).toEqual([]);
    expect(counts.size).toBe(written);
  });
});

describe('ZeekCollector reading files', () => {
  it('reports malformed lines with file and line, counts them, and reads the rest', async () => {
    const file = path.join(dir, 'conn.log');
    const good = (n: number) => connLine(`Cgood${n}`, n);
    const header = zeekHeader(0);
    const headerLines = header.split('\n').length - 1;
    fs.writeFileSync(
      file,
      `${header}${good(0)}this is not a conn line\n${good(1)}` +
        `1700000000.000000\tCbadport\t10.0.0.1\tnot-a-port\t10.0.0.2\t80\ttcp\t-\t-\t-\t-\tS0\t-\t-\t0\tS\t1\t60\t0\t0\t-\n` +
        `${good(2)}{"ts": 1700000000.5, "uid": "Cjson"\n${good(3)}`,
    );
    const { c, issues, counters } = collector({ files: [file] });
    const got: string[] = [];
    await c.start(async (batch) => {
      got.push(...uidsOf(batch));
    }, new AbortController().signal);
    expect(got).toEqual(['Cgood0', 'Cgood1', 'Cgood2', 'Cgood3']);
    expect(issues.map((i) => [i.file, i.line])).toEqual([
      [file, headerLines + 2],
      [file, headerLines + 4],
      [file, headerLines + 6],
    ]);
    expect(counters.errors).toBe(3);
    expect(counters.received).toBe(7);
    expect(counters.get('files')).toBe(1);
  });

  it('checkpoints only what the sink accepted, and does not read a finished file again', async () => {
    const file = path.join(dir, 'conn.log');
    const header = zeekHeader(0);
    const data = Array.from({ length: 25 }, (_, n) => connLine(`Cc${n}`, n)).join('');
    fs.writeFileSync(file, header + data);
    const store = new MemoryStore();
    const key = checkpointKeys.file(file);
    const { c } = collector({ files: [file], batchSize: 10 }, store);
    const batches: string[][] = [];
    const seenInsideSink: (StreamCheckpoint | undefined)[] = [];
    let release = () => {};
    const firstHeld = new Promise<void>((r) => {
      release = r;
    });
    const run = c.start(async (batch) => {
      c.saveCheckpointSync();
      seenInsideSink.push(store.loadCheckpoint(key) as StreamCheckpoint | undefined);
      batches.push(uidsOf(batch));
      if (batches.length === 1) await firstHeld;
    }, new AbortController().signal);
    await waitFor('the first batch', 5000, () => batches.length === 1);
    c.saveCheckpointSync();
    expect(store.loadCheckpoint(key), 'nothing is accepted while the sink holds the first batch').toBeUndefined();
    release();
    await run;
    c.saveCheckpointSync();

    const headerLines = header.split('\n').length - 1;
    // Batches are 10 lines: the first holds the header and 2 data lines.
    expect(batches.map((b) => b.length)).toEqual([10 - headerLines, 10, 10, 25 - (10 - headerLines) - 20]);
    const second = seenInsideSink[1] as StreamCheckpoint;
    expect(second.position.lineNo).toBe(11);
    expect(second.position.offset).toBe(
      Buffer.byteLength(
        header +
          data
            .split('\n')
            .slice(0, 10 - headerLines)
            .join('\n'),
      ) + 1,
    );
    const final = store.loadCheckpoint(key) as StreamCheckpoint;
    expect(final.done).toBe(true);
    expect(final.position.offset).toBe(fs.statSync(file).size);

    const again = collector({ files: [file] }, store);
    let calls = 0;
    await again.c.start(async () => {
      calls++;
    }, new AbortController().signal);
    expect(calls).toBe(0);
    expect(again.counters.get('files_already_read')).toBe(1);
  });

  it('reports a missing file and goes on with the next', async () => {
    const missing = path.join(dir, 'nope.log');
    const file = path.join(dir, 'conn.log');
    fs.writeFileSync(file, zeekHeader(0) + connLine('Cafter', 1));
    const { c, issues, counters } = collector({ files: [missing, file] });
    const got: string[] = [];
    await c.start(async (b) => {
      got.push(...uidsOf(b));
    }, new AbortController().signal);
    expect(got).toEqual(['Cafter']);
    expect(issues).toHaveLength(1);
    expect(issues[0].file).toBe(missing);
    expect(issues[0].message).toContain('cannot open');
    expect(counters.get('open_errors')).toBe(1);
  });
});

describe('ZeekCollector tailing', () => {
  it('never calls the sink concurrently for two followed paths, and stop() ends a tail promptly', async () => {
    const a = path.join(dir, 'a', 'conn.log');
    const b = path.join(dir, 'b', 'conn.log');
    for (const [f, p] of [
      [a, 'a'],
      [b, 'b'],
    ]) {
      fs.mkdirSync(path.dirname(f));
      fs.writeFileSync(f, zeekHeader(0) + Array.from({ length: 50 }, (_, n) => connLine(`C${p}${n}`, n)).join(''));
    }
    const { c } = collector({ tail: [a, b], batchSize: 7, pollIntervalMs: 20 });
    let inside = 0;
    let overlapped = false;
    const got: string[] = [];
    const ac = new AbortController();
    const run = c.start(async (batch) => {
      inside++;
      if (inside > 1) overlapped = true;
      await sleep(1);
      got.push(...uidsOf(batch));
      inside--;
    }, ac.signal);
    await waitFor('100 records', 10_000, () => got.length >= 100);
    await c.stop();
    await run;
    expect(overlapped).toBe(false);
    expect(new Set(got).size).toBe(100);
  });
});

describe('zeekCollectorConfigSchema', () => {
  it('fills defaults and describes every field', () => {
    const cfg = zeekCollectorConfigSchema.parse({ tail: ['/opt/zeek/logs/current/conn.log'] });
    expect(cfg).toMatchObject({ files: [], pollIntervalMs: 250, startAt: 'beginning', batchSize: 1000, watch: true });
    for (const [key, field] of Object.entries(zeekCollectorConfigSchema.shape)) {
      expect(field.description, key).toMatch(/\w+ \w+/);
    }
  });

  it('rejects what can never work, naming the field', () => {
    const bad = zeekCollectorConfigSchema.safeParse({ tail: ['x'], pollIntervalMs: 0, tial: [] });
    expect(bad.success).toBe(false);
    const messages = bad.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');
    expect(messages).toContain('pollIntervalMs');
    expect(messages).toContain('tial');
    const empty = zeekCollectorConfigSchema.safeParse({});
    expect(empty.error?.issues[0].message).toContain('set at least one of files, tail or archiveDir');
    expect(zeekCollectorConfigSchema.safeParse({ archiveDir: '/a', backfillSince: 'yesterday' }).success).toBe(false);
    expect(zeekCollectorConfigSchema.safeParse({ archiveDir: '/a', backfillSince: '2024-05-01' }).success).toBe(true);
  });
});
