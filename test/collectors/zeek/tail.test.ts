// The Zeek tailer: every line exactly once across rename, copytruncate and gzip rotation while a
// writer process appends at 20 k lines/s; resuming from positions; shrinking and missing files;
// rotated files found in zeekctl's archive (`logs/YYYY-MM-DD/conn.HH:MM:SS-HH:MM:SS.log.gz`).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InputIssue } from '../../../agent/issues.js';
import { Counters } from '../../../agent/metrics.js';
import { positionAt, type TailOptions, type TailPosition, ZeekTailer } from '../../../collectors/zeek/tail.js';
import { exitWithin, killAll, startScript, waitFor, waitForProgress } from '../../helpers/zeek/children.js';
import { connLine, type WriterOptions, zeekHeader } from '../../helpers/zeek/rotating-writer.js';
import {
  archiveRel,
  FIRST_PERIOD_MS,
  PERIOD_MS,
  type ZeekctlLayout,
  type ZeekctlWriterOptions,
  zeekctlRotate,
  zeekRename,
} from '../../helpers/zeek/zeekctl-writer.js';

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-tail-'));
});

afterEach(async () => {
  await killAll();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs a tailer in the background and records every line it yields. */
function runTail(opts: Partial<TailOptions> & { path: string }, perChunkDelayMs = 0) {
  const counters = new Counters('zeek');
  const issues: InputIssue[] = [];
  const tailer = new ZeekTailer({ pollIntervalMs: 40, counters, onIssue: (i) => issues.push(i), ...opts });
  const ac = new AbortController();
  const lines: string[] = [];
  const uidCounts = new Map<string, number>();
  let dataLines = 0;
  let position: TailPosition | undefined;
  const done = (async () => {
    for await (const chunk of tailer.chunks(ac.signal)) {
      const text = chunk.buf.toString('utf8', chunk.start, chunk.end);
      const parts = text.split('\n');
      if (text.endsWith('\n')) parts.pop();
      expect(parts.length).toBe(chunk.lines);
      for (const line of parts) {
        lines.push(line);
        if (line.startsWith('#')) continue;
        const uid = line.split('\t')[1] ?? line;
        uidCounts.set(uid, (uidCounts.get(uid) ?? 0) + 1);
        dataLines++;
      }
      position = positionAt(chunk, chunk.end, chunk.firstLine + chunk.lines);
      if (perChunkDelayMs > 0) await sleep(perChunkDelayMs);
    }
  })();
  return {
    counters,
    issues,
    lines,
    uidCounts,
    dataLines: () => dataLines,
    data: () => lines.filter((l) => !l.startsWith('#')),
    position: () => position as TailPosition,
    stop: async () => {
      ac.abort();
      await done;
    },
  };
}

const uids = (prefix: string, from: number, n: number) => Array.from({ length: n }, (_, i) => `C${prefix}x${from + i}`);
const lines = (prefix: string, from: number, n: number) =>
  uids(prefix, from, n)
    .map((u, i) => connLine(u, from + i))
    .join('');
const dataUids = (t: ReturnType<typeof runTail>) => t.data().map((l) => l.split('\t')[1]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ZeekTailer under a writer that rotates every second', () => {
  it.each([
    ['rename', 'rotations'],
    ['copytruncate', 'truncations'],
    ['gzip', 'rotations'],
  ] as const)('reads every line exactly once across %s rotation', async (style, counter) => {
    const live = path.join(dir, 'conn.log');
    const opts: WriterOptions = {
      dir,
      styles: [style],
      linesPerSecond: 20_000,
      rotateEveryMs: 1000,
      durationMs: 4000,
      uidPrefix: style,
      gzipDelayMs: 150,
    };
    const writer = startScript('test/helpers/zeek/rotating-writer.ts', [JSON.stringify(opts)]);
    await waitFor('the writer to create conn.log', 15_000, () => fs.existsSync(live));
    const t = runTail({ path: live });

    const exit = await exitWithin(writer, 30_000);
    expect(exit.code, writer.stderr).toBe(0);
    const { written, rotations } = JSON.parse(writer.stdout[0]) as { written: number; rotations: number };
    expect(written).toBe(80_000);
    expect(rotations).toBeGreaterThanOrEqual(3);

    await waitForProgress(`the tail to read ${written} lines`, t.dataLines, written, { idleMs: 3000, maxMs: 30_000 });
    await sleep(300); // a duplicate read late would show up here
    await t.stop();

    const duplicated = [...t.uidCounts].filter(([, n]) => n > 1).map(([uid]) => uid);
    expect(duplicated).toEqual([]);
    const missing = uids(style, 0, written).filter((u) => !t.uidCounts.has(u));
    expect(missing).toEqual([]);
    expect(t.uidCounts.size).toBe(written);
    expect(t.dataLines()).toBe(written);
    expect(t.counters.get(counter)).toBeGreaterThanOrEqual(rotations);
    expect(t.issues).toEqual([]);
    if (style === 'gzip') expect(fs.readdirSync(dir).filter((n) => n.endsWith('.gz')).length).toBe(rotations);
  });
});

describe('ZeekTailer behind a writer', () => {
  it.each([
    ['all three styles in turn', ['rename', 'copytruncate', 'gzip']],
    ['copytruncate', ['copytruncate']],
  ] as const)('reads every line once when a slow consumer falls several rotations behind (%s)', async (_, styles) => {
    const live = path.join(dir, 'conn.log');
    const opts: WriterOptions = {
      dir,
      styles: [...styles],
      linesPerSecond: 20_000,
      rotateEveryMs: 600,
      durationMs: 3000,
      uidPrefix: 'slow',
      gzipDelayMs: 100,
    };
    const writer = startScript('test/helpers/zeek/rotating-writer.ts', [JSON.stringify(opts)]);
    await waitFor('the writer to create conn.log', 15_000, () => fs.existsSync(live));
    // 64 KiB chunks (about 400 lines) at 50 ms each: under half the writer's speed.
    const t = runTail({ path: live, readBufferBytes: 64 * 1024, maxLineBytes: 64 * 1024 }, 50);
    const exit = await exitWithin(writer, 30_000);
    expect(exit.code, writer.stderr).toBe(0);
    const { written, rotations } = JSON.parse(writer.stdout[0]) as { written: number; rotations: number };
    expect(t.dataLines(), 'the consumer must have fallen behind').toBeLessThan(written * 0.7);
    await waitForProgress(`the tail to read ${written} lines`, t.dataLines, written, { idleMs: 3000, maxMs: 30_000 });
    await sleep(300);
    await t.stop();
    const duplicated = [...t.uidCounts].filter(([, n]) => n > 1).map(([uid]) => uid);
    expect(duplicated).toEqual([]);
    expect(uids('slow', 0, written).filter((u) => !t.uidCounts.has(u))).toEqual([]);
    expect(t.dataLines()).toBe(written);
    expect(t.counters.get('rotations') + t.counters.get('truncations')).toBeGreaterThanOrEqual(rotations);
    expect(t.issues).toEqual([]);
  });
});

describe('ZeekTailer on prepared files', () => {
  it('holds a partial last line until its newline arrives', async () => {
    const live = path.join(dir, 'conn.log');
    fs.writeFileSync(live, `${zeekHeader(0)}${lines('p', 0, 2)}CpartialStart`);
    const t = runTail({ path: live });
    await waitFor('two lines', 5000, () => t.dataLines() >= 2);
    await sleep(150);
    expect(dataUids(t)).toEqual(uids('p', 0, 2));
    fs.appendFileSync(live, 'AndEnd\tx\n');
    await waitFor('the completed line', 5000, () => t.dataLines() >= 3);
    await t.stop();
    expect(t.data()[2]).toBe('CpartialStartAndEnd\tx');
  });

  it('reports a file that shrinks without a rotated copy, with sizes, and reads it again from 0', async () => {
    const live = path.join(dir, 'conn.log');
    const first = `${zeekHeader(0)}${lines('s', 0, 50)}`;
    fs.writeFileSync(live, first);
    const t = runTail({ path: live });
    await waitFor('50 lines', 5000, () => t.dataLines() >= 50);
    fs.truncateSync(live, 0);
    fs.appendFileSync(live, lines('t', 0, 3));
    await waitFor('3 lines after the shrink', 5000, () => t.dataLines() >= 53);
    await sleep(150);
    await t.stop();
    expect(dataUids(t)).toEqual([...uids('s', 0, 50), ...uids('t', 0, 3)]);
    expect(t.counters.get('truncations')).toBe(1);
    expect(t.counters.get('lost_files')).toBe(1);
    expect(t.issues).toHaveLength(1);
    expect(t.issues[0].file).toBe(live);
    expect(t.issues[0].message).toContain(`shrank from ${first.length} to`);
    expect(t.issues[0].message).toContain('may be lost');
  });

  it('reports a missing directory once, keeps polling, and reads the file once it appears', async () => {
    const live = path.join(dir, 'not-yet', 'conn.log');
    const t = runTail({ path: live });
    await waitFor('the missing directory to be reported', 5000, () => t.issues.length > 0);
    await sleep(200); // several polls: still one report
    expect(t.issues).toHaveLength(1);
    expect(t.issues[0].message).toContain(`directory ${path.dirname(live)} does not exist`);
    fs.mkdirSync(path.dirname(live));
    fs.writeFileSync(live, `${zeekHeader(0)}${lines('m', 0, 4)}`);
    await waitFor('4 lines', 5000, () => t.dataLines() >= 4);
    await t.stop();
    expect(dataUids(t)).toEqual(uids('m', 0, 4));
  });

  it('skips and reports a line longer than maxLineBytes and reads on', async () => {
    const live = path.join(dir, 'conn.log');
    fs.writeFileSync(live, `${lines('l', 0, 2)}${'x'.repeat(20_000)}\n${lines('l', 2, 2)}`);
    const t = runTail({ path: live, readBufferBytes: 4096, maxLineBytes: 8192 });
    await waitFor('4 lines', 5000, () => t.dataLines() >= 4);
    await t.stop();
    expect(dataUids(t)).toEqual(uids('l', 0, 4));
    expect(t.issues).toHaveLength(1);
    expect(t.issues[0]).toMatchObject({ file: live, line: 3 });
    expect(t.counters.dropped).toBe(1);
    // Line numbers stay right after the skipped line.
    expect(t.position().lineNo).toBe(6);
  });

  it('starts at the end of the file when asked, counting the lines it skipped', async () => {
    const live = path.join(dir, 'conn.log');
    fs.writeFileSync(live, `${zeekHeader(0)}${lines('e', 0, 5)}`);
    const t = runTail({ path: live, startAt: 'end' });
    await sleep(150);
    fs.appendFileSync(live, lines('e', 5, 2));
    await waitFor('2 appended lines', 5000, () => t.dataLines() >= 2);
    await t.stop();
    expect(dataUids(t)).toEqual(uids('e', 5, 2));
    expect(t.position().lineNo).toBe(8 + 5 + 2 + 1);
  });
});

describe('ZeekTailer resuming from a position', () => {
  /** Reads `n` data lines of a fresh conn.log and returns the position after them. */
  async function firstRun(live: string, prefix: string, n: number): Promise<TailPosition> {
    fs.writeFileSync(live, `${zeekHeader(0)}${lines(prefix, 0, n)}`);
    const t = runTail({ path: live });
    await waitFor(`${n} lines`, 5000, () => t.dataLines() >= n);
    await t.stop();
    return t.position();
  }

  it('resumes in the same file', async () => {
    const live = path.join(dir, 'conn.log');
    const pos = await firstRun(live, 'r', 5);
    fs.appendFileSync(live, lines('r', 5, 3));
    const t = runTail({ path: live, from: pos });
    await waitFor('3 lines', 5000, () => t.dataLines() >= 3);
    await sleep(150);
    await t.stop();
    expect(dataUids(t)).toEqual(uids('r', 5, 3));
    expect(t.lines.length).toBe(3);
  });

  it('finishes a file renamed and gzipped while stopped, then later rotations in order, then the current file', async () => {
    const live = path.join(dir, 'conn.log');
    const pos = await firstRun(live, 'a', 5);
    fs.appendFileSync(live, lines('a', 5, 2));
    const t0 = Date.now() / 1000 - 100;
    fs.utimesSync(live, t0, t0);
    fs.renameSync(live, `${live}.1`);
    fs.writeFileSync(`${live}.1.gz`, zlib.gzipSync(fs.readFileSync(`${live}.1`)));
    fs.utimesSync(`${live}.1.gz`, t0, t0);
    fs.unlinkSync(`${live}.1`);
    fs.writeFileSync(live, `${zeekHeader(1000)}${lines('b', 0, 3)}`);
    fs.utimesSync(live, t0 + 10, t0 + 10);
    fs.renameSync(live, `${live}.2`);
    fs.writeFileSync(live, `${zeekHeader(2000)}${lines('c', 0, 2)}`);
    // An older rotated file that was read long ago must not be read again.
    fs.writeFileSync(`${live}.0`, `${zeekHeader(-1000)}${lines('old', 0, 2)}`);
    fs.utimesSync(`${live}.0`, t0 - 50, t0 - 50);

    const t = runTail({ path: live, from: pos });
    await waitFor('7 lines', 5000, () => t.dataLines() >= 7);
    await sleep(200);
    await t.stop();
    expect(dataUids(t)).toEqual([...uids('a', 5, 2), ...uids('b', 0, 3), ...uids('c', 0, 2)]);
    expect(t.issues).toEqual([]);
  });

  it('finishes a copytruncate copy made while stopped, then the live file from 0', async () => {
    const live = path.join(dir, 'conn.log');
    const pos = await firstRun(live, 'k', 5);
    fs.appendFileSync(live, lines('k', 5, 2));
    fs.copyFileSync(live, `${live}.1`);
    fs.truncateSync(live, 0);
    fs.appendFileSync(live, lines('k', 7, 3));
    const t = runTail({ path: live, from: pos });
    await waitFor('5 lines', 5000, () => t.dataLines() >= 5);
    await sleep(200);
    await t.stop();
    expect(dataUids(t)).toEqual(uids('k', 5, 5));
    expect(t.issues).toEqual([]);
  });

  it('reports a checkpointed file that shrank while stopped, with sizes, and reads it from 0', async () => {
    const live = path.join(dir, 'conn.log');
    const pos = await firstRun(live, 'w', 5);
    const keep = pos.fingerprintBytes + 10; // the start is still there, the rest is gone
    fs.truncateSync(live, keep);
    fs.appendFileSync(live, '\n');
    const t = runTail({ path: live, from: pos });
    await waitFor('the shrink to be reported', 5000, () => t.issues.length > 0);
    await waitFor('the first data line again', 5000, () => t.dataLines() >= 1);
    await t.stop();
    expect(t.issues).toHaveLength(1);
    expect(t.issues[0].message).toContain(`shrank from ${pos.offset} to ${keep + 1} bytes`);
    expect(t.lines[0]).toBe('#separator \\x09');
    expect(dataUids(t)[0]).toBe('Cwx0');
  });

  it('reports a checkpointed file that cannot be found and reads the current file from 0', async () => {
    const live = path.join(dir, 'conn.log');
    const pos = await firstRun(live, 'g', 5);
    fs.unlinkSync(live);
    fs.writeFileSync(live, `${zeekHeader(5000)}${lines('h', 0, 2)}`);
    const t = runTail({ path: live, from: pos });
    await waitFor('2 lines', 5000, () => t.dataLines() >= 2);
    await t.stop();
    expect(dataUids(t)).toEqual(uids('h', 0, 2));
    expect(t.issues).toHaveLength(1);
    expect(t.issues[0].message).toContain(`inode ${pos.inode}, line ${pos.lineNo}, byte ${pos.offset}`);
    expect(t.issues[0].message).toContain('may be lost');
  });
});

describe("ZeekTailer and zeekctl's archive", () => {
  /** zeekctl's layout: logs/current/conn.log, rotated into logs/YYYY-MM-DD/. */
  function zeekctlLayout(): ZeekctlLayout & { logs: string; live: string } {
    const logs = path.join(dir, 'logs');
    const liveDir = path.join(logs, 'current');
    fs.mkdirSync(liveDir, { recursive: true });
    return { logs, liveDir, archiveDir: logs, live: path.join(liveDir, 'conn.log') };
  }

  /** The live file of rotation period `k`, holding `n` lines of `prefix` from `from` on. */
  const periodFile = (k: number, prefix: string, from: number, n: number) =>
    `${zeekHeader(FIRST_PERIOD_MS + k * PERIOD_MS)}${lines(prefix, from, n)}`;

  /** Reads the first `n` data lines of period 0's live file and returns the position after them. */
  async function readFirst(live: string, prefix: string, n: number, opts: Partial<TailOptions> = {}) {
    fs.writeFileSync(live, periodFile(0, prefix, 0, n));
    const t = runTail({ path: live, ...opts });
    await waitFor(`${n} lines`, 5000, () => t.dataLines() >= n);
    await t.stop();
    return t.position();
  }

  /** Writes an archived file with the given mtime (seconds ago). */
  function putArchived(archiveDir: string, rel: string, text: string, ageSeconds: number): void {
    const file = path.join(archiveDir, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, rel.endsWith('.gz') ? zlib.gzipSync(text) : text);
    const t = Date.now() / 1000 - ageSeconds;
    fs.utimesSync(file, t, t);
  }

  it('finishes the checkpointed file from the archive after zeekctl rotated twice while stopped, then the later one, then the live file', async () => {
    const z = zeekctlLayout();
    // Archived long ago (and so read long ago), and another log of the same period: neither is read.
    putArchived(z.logs, archiveRel(-30), periodFile(-30, 'old', 0, 2), 30 * 3600);
    putArchived(z.logs, archiveRel(0, 'dns'), periodFile(0, 'dns', 0, 2), 0);
    const pos = await readFirst(z.live, 'a', 5);
    fs.appendFileSync(z.live, lines('a', 5, 2));
    zeekctlRotate(z, 0);
    fs.writeFileSync(z.live, periodFile(1, 'b', 0, 3));
    zeekctlRotate(z, 1);
    fs.writeFileSync(z.live, periodFile(2, 'c', 0, 2));
    expect(fs.readdirSync(z.liveDir)).toEqual(['conn.log']);
    expect(fs.existsSync(path.join(z.logs, '2026-11-21', 'conn.10:00:00-11:00:00.log.gz'))).toBe(true);

    const t = runTail({ path: z.live, from: pos, fromTimeMs: Date.now() - 1000 });
    await waitFor('7 lines', 5000, () => t.dataLines() >= 7);
    await sleep(200); // a duplicate read late would show up here
    await t.stop();
    expect(dataUids(t)).toEqual([...uids('a', 5, 2), ...uids('b', 0, 3), ...uids('c', 0, 2)]);
    expect(t.issues).toEqual([]);
  });

  it('searches an archive given explicitly (files moved there uncompressed), and only then', async () => {
    const spool = path.join(dir, 'spool');
    const archive = path.join(dir, 'archive');
    fs.mkdirSync(spool);
    const z: ZeekctlLayout = { liveDir: spool, archiveDir: archive, compress: false };
    const live = path.join(spool, 'conn.log');
    const pos = await readFirst(live, 'a', 5, { archiveDir: archive });
    fs.appendFileSync(live, lines('a', 5, 2));
    zeekctlRotate(z, 0);
    fs.writeFileSync(live, periodFile(1, 'b', 0, 3));
    zeekctlRotate(z, 1);
    fs.writeFileSync(live, periodFile(2, 'c', 0, 2));

    // The live directory is not named `current`: without archiveDir nothing says where to look.
    const blind = runTail({ path: live, from: pos });
    await waitFor('the current file', 5000, () => blind.dataLines() >= 2);
    await blind.stop();
    expect(dataUids(blind)).toEqual(uids('c', 0, 2));
    expect(blind.issues).toHaveLength(1);
    expect(blind.issues[0].message).toContain('may be lost');
    expect(blind.issues[0].message).not.toContain(archive);

    const t = runTail({ path: live, from: pos, archiveDir: archive });
    await waitFor('7 lines', 5000, () => t.dataLines() >= 7);
    await sleep(200);
    await t.stop();
    expect(dataUids(t)).toEqual([...uids('a', 5, 2), ...uids('b', 0, 3), ...uids('c', 0, 2)]);
    expect(t.issues).toEqual([]);
  });

  it("reads the checkpointed file from Zeek's renamed copy while it is being compressed, and not again from the finished .gz", async () => {
    const z = zeekctlLayout();
    const pos = await readFirst(z.live, 'm', 5);
    fs.appendFileSync(z.live, lines('m', 5, 2));
    const rotated = zeekRename(z, 0);
    fs.writeFileSync(z.live, periodFile(1, 'n', 0, 2));
    const dest = path.join(z.logs, archiveRel(0));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    const whole = zlib.gzipSync(fs.readFileSync(rotated));
    fs.writeFileSync(dest, whole.subarray(0, 20)); // archive-log has only begun

    const t = runTail({ path: z.live, from: pos });
    await waitFor('the rest of the checkpointed file', 5000, () => t.dataLines() >= 2);
    fs.writeFileSync(dest, whole); // archive-log is done
    fs.unlinkSync(rotated);
    await waitFor('the live file', 15_000, () => t.dataLines() >= 4);
    await sleep(300);
    await t.stop();
    expect(dataUids(t)).toEqual([...uids('m', 5, 2), ...uids('n', 0, 2)]);
    expect(t.issues).toEqual([]);
  });

  it('reports a checkpointed file that is in neither the directory nor the archive, naming both', async () => {
    const z = zeekctlLayout();
    const pos = await readFirst(z.live, 'g', 5);
    fs.unlinkSync(z.live);
    fs.writeFileSync(z.live, periodFile(1, 'h', 0, 2));
    putArchived(z.logs, archiveRel(-1), periodFile(-1, 'x', 0, 2), 7200);
    const t = runTail({ path: z.live, from: pos });
    await waitFor('2 lines', 5000, () => t.dataLines() >= 2);
    await t.stop();
    expect(dataUids(t)).toEqual(uids('h', 0, 2));
    expect(t.issues).toHaveLength(1);
    expect(t.issues[0].message).toContain(`${z.liveDir} or the archive ${z.logs}`);
  });

  it('reads every line once when a slow consumer falls several zeekctl rotations behind', async () => {
    const z = zeekctlLayout();
    const opts: ZeekctlWriterOptions = {
      ...z,
      linesPerSecond: 20_000,
      rotateEveryMs: 600,
      durationMs: 3000,
      uidPrefix: 'zk',
      goFile: path.join(dir, 'go'),
    };
    const writer = startScript('test/helpers/zeek/zeekctl-writer.ts', [JSON.stringify(opts)]);
    await waitFor('the writer to create conn.log', 15_000, () => fs.existsSync(z.live));
    const t = runTail({ path: z.live, readBufferBytes: 64 * 1024, maxLineBytes: 64 * 1024 }, 50);
    // Without a position the tail starts with the current file: it must be open before the first rotation.
    await waitFor('the tail to open conn.log', 5000, () => t.counters.get('files') >= 1);
    fs.writeFileSync(opts.goFile as string, '');
    const exit = await exitWithin(writer, 30_000);
    expect(exit.code, writer.stderr).toBe(0);
    const { written, rotations } = JSON.parse(writer.stdout[0]) as { written: number; rotations: number };
    expect(rotations).toBeGreaterThanOrEqual(4);
    expect(t.dataLines(), 'the consumer must have fallen behind').toBeLessThan(written * 0.7);
    await waitForProgress(`the tail to read ${written} lines`, t.dataLines, written, { idleMs: 3000, maxMs: 30_000 });
    await sleep(300);
    await t.stop();
    const duplicated = [...t.uidCounts].filter(([, n]) => n > 1).map(([uid]) => uid);
    expect(duplicated, 'read twice').toEqual([]);
    expect(
      uids('zk', 0, written).filter((u) => !t.uidCounts.has(u)),
      'never read',
    ).toEqual([]);
    expect(t.dataLines()).toBe(written);
    // The file being followed is finished before the rotations that came after it.
    expect(
      dataUids(t).every((u, i) => u === `Czkx${i}`),
      'read in the order written',
    ).toBe(true);
    expect(t.issues).toEqual([]);
    expect(fs.readdirSync(z.liveDir)).toEqual(['conn.log']);
  });
});
