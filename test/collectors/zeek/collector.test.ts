// The zeek collector: exactly-once delivery through SIGKILL and restart of a tailing process (also
// when zeekctl moves the rotated files into its archive while the process is down), archive
// backfill and tail each reading an archived file once, checkpoints that cover only what the sink
// accepted, bad lines reported, and its config schema.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InputIssue } from '../../../agent/issues.js';
import { MetricsRegistry } from '../../../agent/metrics.js';
import { type CheckpointStore, StateStore } from '../../../agent/state.js';
import type { FlowRecord, VigilRecord } from '../../../collectors/record.js';
import {
  type BackfillCheckpoint,
  checkpointKeys,
  type StreamCheckpoint,
  ZeekCollector,
} from '../../../collectors/zeek/collector.js';
import { type ZeekCollectorConfig, zeekCollectorConfigSchema } from '../../../collectors/zeek/config.js';
import { type Child, exitWithin, killAll, startScript, waitFor, waitForProgress } from '../../helpers/zeek/children.js';
import {
  type CollectorRunnerOptions,
  RUNNER_BATCH_KEY,
  RUNNER_BATCHES_KEY,
} from '../../helpers/zeek/collector-runner.js';
import { connLine, type WriterOptions, zeekHeader } from '../../helpers/zeek/rotating-writer.js';
import { type RunnerOptions, UID_BATCH_KEY, UID_BATCHES_KEY } from '../../helpers/zeek/tail-runner.js';
import {
  archiveRel,
  FIRST_PERIOD_MS,
  PERIOD_MS,
  type ZeekctlLayout,
  type ZeekctlWriterOptions,
  zeekctlRotate,
} from '../../helpers/zeek/zeekctl-writer.js';

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

/** Archived conn files (any day folder) under `archiveDir`. */
const archivedConnFiles = (archiveDir: string) =>
  fs.existsSync(archiveDir)
    ? fs
        .readdirSync(archiveDir)
        .filter((d) => /^\d{4}-\d{2}-\d{2}$/.test(d))
        .flatMap((d) => fs.readdirSync(path.join(archiveDir, d)).filter((n) => /^conn\..*\.log(\.gz)?$/.test(n))).length
    : 0;

/** `n` conn lines with uids `C<prefix>x<from>`…, as the writers make them. */
const connLines = (prefix: string, from: number, n: number) =>
  Array.from({ length: n }, (_, i) => connLine(`C${prefix}x${from + i}`, from + i)).join('');
const connUids = (prefix: string, from: number, n: number) =>
  Array.from({ length: n }, (_, i) => `C${prefix}x${from + i}`);

/** An archived file written `ageSeconds` ago (archived long ago: its modification time says so). */
function putArchived(archiveDir: string, rel: string, text: string, ageSeconds: number): void {
  const file = path.join(archiveDir, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, rel.endsWith('.gz') ? zlib.gzipSync(text) : text);
  const t = Date.now() / 1000 - ageSeconds;
  fs.utimesSync(file, t, t);
}

/** The text of rotation period `k`'s file: its header, then `n` lines of `prefix` from `from`. */
const periodText = (k: number, prefix: string, from: number, n: number) =>
  zeekHeader(FIRST_PERIOD_MS + k * PERIOD_MS) + connLines(prefix, from, n);

describe("ZeekCollector with zeekctl's archive, process killed with SIGKILL", () => {
  const committed = (child: Child) => {
    const last = [...child.stdout].reverse().find((l) => l.startsWith('committed '));
    return last ? Number(last.slice('committed '.length)) : 0;
  };

  /**
   * A zeekctl-style writer appends 20 k lines/s to `liveDir`/conn.log and rotates every second into
   * `archiveDir`; the collector process is SIGKILLed mid-file twice and each time stays down
   * while the writer rotates (once, then twice). Every line, and each of `extraUids` (archived
   * before the start), must be committed exactly once.
   */
  async function killedAcrossZeekctlRotations(s: {
    liveDir: string;
    archiveDir: string;
    config: Record<string, unknown>;
    filesBeforeFollowing: number;
    extraUids: string[];
  }): Promise<void> {
    const statePath = path.join(dir, 'state.db');
    const writerOpts: ZeekctlWriterOptions = {
      liveDir: s.liveDir,
      archiveDir: s.archiveDir,
      linesPerSecond: 20_000,
      rotateEveryMs: 1000,
      durationMs: 9000,
      uidPrefix: 'z',
      goFile: path.join(dir, 'go'),
    };
    const runnerOpts: CollectorRunnerOptions = {
      statePath,
      config: { pollIntervalMs: 50, batchSize: 700, ...s.config },
      filesBeforeFollowing: s.filesBeforeFollowing,
    };
    const writer = startScript('test/helpers/zeek/zeekctl-writer.ts', [JSON.stringify(writerOpts)]);
    await waitFor('the writer to create conn.log', 15_000, () => fs.existsSync(path.join(s.liveDir, 'conn.log')));

    const runners: Child[] = [];
    let killedAt = 0;
    for (let round = 0; round < 2; round++) {
      const runner = startScript('test/helpers/zeek/collector-runner.ts', [JSON.stringify(runnerOpts)]);
      runners.push(runner);
      if (round === 0) {
        // Without a position the tail starts with the current file: open it before the first rotation.
        await waitFor('the first runner to open conn.log', 20_000, () => runner.stdout.includes('following'));
        fs.writeFileSync(writerOpts.goFile as string, '');
      }
      await waitFor(`round ${round} to commit 12000 more uids`, 30_000, () => committed(runner) >= killedAt + 12_000);
      expect(writer.proc.exitCode, 'the writer must still be writing at the kill').toBeNull();
      process.kill(runner.proc.pid as number, 'SIGKILL');
      expect((await exitWithin(runner, 10_000)).signal).toBe('SIGKILL');
      killedAt = committed(runner);
      // Down while zeekctl moves the file we were reading (and then more) into the archive.
      const archivedBefore = archivedConnFiles(s.archiveDir);
      await waitFor(
        `${round + 1} rotations while down`,
        10_000,
        () => archivedConnFiles(s.archiveDir) >= archivedBefore + round + 1,
      );
    }

    const last = startScript('test/helpers/zeek/collector-runner.ts', [JSON.stringify(runnerOpts)]);
    runners.push(last);
    const exit = await exitWithin(writer, 40_000);
    expect(exit.code, writer.stderr).toBe(0);
    const { written, rotations } = JSON.parse(writer.stdout[0]) as { written: number; rotations: number };
    expect(written).toBe(180_000);
    expect(rotations).toBeGreaterThanOrEqual(7);
    const total = written + s.extraUids.length;
    await waitForProgress(`the runner to commit ${total} uids`, () => committed(last), total, {
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
      const batches = state.loadCheckpoint(RUNNER_BATCHES_KEY) as number;
      for (let n = 0; n < batches; n++) {
        for (const uid of state.loadCheckpoint(RUNNER_BATCH_KEY(n)) as string[])
          counts.set(uid, (counts.get(uid) ?? 0) + 1);
      }
    } finally {
      state.close();
    }
    const duplicated = [...counts].filter(([, n]) => n > 1).map(([uid]) => uid);
    expect(duplicated, 'committed twice').toEqual([]);
    const expected = [...connUids('z', 0, written), ...s.extraUids];
    expect(
      expected.filter((u) => !counts.has(u)),
      'never committed',
    ).toEqual([]);
    expect(counts.size).toBe(expected.length);
  }

  it('reads every line once when the tail of logs/current/conn.log is down across zeekctl rotations', async () => {
    const logs = path.join(dir, 'logs');
    const live = path.join(logs, 'current', 'conn.log');
    fs.mkdirSync(path.dirname(live), { recursive: true });
    await killedAcrossZeekctlRotations({
      liveDir: path.dirname(live),
      archiveDir: logs,
      config: { tail: [live] },
      filesBeforeFollowing: 0,
      extraUids: [],
    });
  });

  it('reads every line once with archiveDir configured: backfilled files once, then the tail reads what is archived later', async () => {
    const spool = path.join(dir, 'spool');
    const archive = path.join(dir, 'archive');
    fs.mkdirSync(spool);
    // Archived before the collector first started: the backfill reads them, once.
    putArchived(archive, archiveRel(-2), periodText(-2, 'old', 0, 40), 7200);
    putArchived(archive, archiveRel(-1), periodText(-1, 'old', 40, 40), 3600);
    putArchived(archive, archiveRel(-1, 'dns'), periodText(-1, 'dns', 0, 5), 3600);
    await killedAcrossZeekctlRotations({
      liveDir: spool,
      archiveDir: archive,
      config: { tail: [path.join(spool, 'conn.log')], archiveDir: archive, archiveTimeZone: 'utc' },
      filesBeforeFollowing: 2,
      extraUids: connUids('old', 0, 80),
    });
  });
});

describe('ZeekCollector backfill and tail of the same archive', () => {
  /** zeekctl's layout with two files archived long ago and a live file of period 0. */
  function setup() {
    const logs = path.join(dir, 'logs');
    const live = path.join(logs, 'current', 'conn.log');
    fs.mkdirSync(path.dirname(live), { recursive: true });
    putArchived(logs, archiveRel(-2), periodText(-2, 'o', 0, 2), 7200);
    putArchived(logs, archiveRel(-1), periodText(-1, 'o', 2, 2), 3600);
    fs.writeFileSync(live, periodText(0, 'l0', 0, 3));
    const layout: ZeekctlLayout = { liveDir: path.dirname(live), archiveDir: logs };
    const config: Partial<ZeekCollectorConfig> = {
      archiveDir: logs,
      archiveTimeZone: 'utc',
      tail: [live],
      pollIntervalMs: 20,
    };
    return { logs, live, layout, config };
  }

  /**
   * Issues other than listArchive's report of zeekctl's `current` directory, which sits in the
   * archive directory but is no archive day (backfill.ts reports such entries once per start).
   */
  const realIssues = (issues: InputIssue[]) => issues.filter((i) => !i.message.includes('not Zeek archive names'));

  /** Starts a collector that records the uids it delivers; `stop` also saves its checkpoints. */
  function startCollector(config: Partial<ZeekCollectorConfig>, store: MemoryStore) {
    const { c, issues } = collector(config, store);
    const got: string[] = [];
    const run = c.start(async (batch) => {
      got.push(...uidsOf(batch));
    }, new AbortController().signal);
    const stop = async () => {
      await sleep(200); // a duplicate read late would show up here
      await c.stop();
      await run;
      c.saveCheckpointSync();
    };
    return { got, issues, stop };
  }

  /** Runs a collector until it has delivered `n` uids (and a little longer), then stops it. */
  async function runUntil(config: Partial<ZeekCollectorConfig>, store: MemoryStore, n: number) {
    const r = startCollector(config, store);
    await waitFor(`${n} uids`, 10_000, () => r.got.length >= n);
    await r.stop();
    return r;
  }

  /** Stopped: two more lines in period 0's file, zeekctl rotates it and period 1's, period 2 is live. */
  function rotateTwiceWhileStopped(s: ReturnType<typeof setup>) {
    fs.appendFileSync(s.live, connLines('l0', 3, 2));
    zeekctlRotate(s.layout, 0);
    fs.writeFileSync(s.live, periodText(1, 'l1', 0, 2));
    zeekctlRotate(s.layout, 1);
    fs.writeFileSync(s.live, periodText(2, 'l2', 0, 2));
  }

  it('hands the archive over to the tail: after a restart the tail reads the rotated files, the backfill none', async () => {
    const s = setup();
    const store = new MemoryStore();
    const first = startCollector(s.config, store);
    await waitFor('7 uids', 10_000, () => first.got.length >= 7);
    // Rotated while followed: the tail reads it through its open file; it must not be backfilled later.
    fs.appendFileSync(s.live, connLines('l0', 3, 2));
    zeekctlRotate(s.layout, 0);
    fs.writeFileSync(s.live, periodText(1, 'l1', 0, 2));
    await waitFor('9 uids', 10_000, () => first.got.length >= 9);
    await first.stop();
    expect(first.got).toEqual([...connUids('o', 0, 4), ...connUids('l0', 0, 5), ...connUids('l1', 0, 2)]);
    const backfill = store.loadCheckpoint(checkpointKeys.backfill(s.logs)) as BackfillCheckpoint;
    expect(backfill.handover).toEqual({ after: archiveRel(-1) });

    // Stopped: two more lines in period 1, which zeekctl archives, then period 2; period 3 is live.
    fs.appendFileSync(s.live, connLines('l1', 2, 2));
    zeekctlRotate(s.layout, 1);
    fs.writeFileSync(s.live, periodText(2, 'l2', 0, 2));
    zeekctlRotate(s.layout, 2);
    fs.writeFileSync(s.live, periodText(3, 'l3', 0, 2));
    const second = await runUntil(s.config, store, 6);
    expect(second.got).toEqual([...connUids('l1', 2, 2), ...connUids('l2', 0, 2), ...connUids('l3', 0, 2)]);
    expect(realIssues([...first.issues, ...second.issues])).toEqual([]);
  });

  it('a tail that never saved a position reads every file archived after the hand-over, then the live one', async () => {
    const s = setup();
    const store = new MemoryStore();
    await runUntil(s.config, store, 7);
    // As if killed after the backfill's checkpoint was saved but before the tail's first one.
    store.values.delete(checkpointKeys.tail(s.live));
    rotateTwiceWhileStopped(s);
    const second = await runUntil(s.config, store, 9);
    expect(second.got).toEqual([...connUids('l0', 0, 5), ...connUids('l1', 0, 2), ...connUids('l2', 0, 2)]);
    expect(realIssues(second.issues)).toEqual([]);
  });

  it('a tail that ran before archiveDir was configured keeps its file: the backfill stops before it', async () => {
    const s = setup();
    const store = new MemoryStore();
    const first = await runUntil({ ...s.config, archiveDir: undefined }, store, 3);
    expect(first.got).toEqual(connUids('l0', 0, 3));
    rotateTwiceWhileStopped(s);
    const second = await runUntil(s.config, store, 10);
    expect(second.got).toEqual([
      ...connUids('o', 0, 4),
      ...connUids('l0', 3, 2),
      ...connUids('l1', 0, 2),
      ...connUids('l2', 0, 2),
    ]);
    expect(realIssues(second.issues)).toEqual([]);
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
