// Zeek archive backfill: listing in time order over a generated archive tree, skipping and
// counting names that are not archive names, and reading through damaged or missing archives.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InputIssue } from '../../../agent/issues.js';
import { Counters, MetricsRegistry } from '../../../agent/metrics.js';
import type { FlowRecord } from '../../../collectors/record.js';
import { listArchive } from '../../../collectors/zeek/backfill.js';
import { ZeekCollector } from '../../../collectors/zeek/collector.js';
import { type ZeekCollectorConfig, zeekCollectorConfigSchema } from '../../../collectors/zeek/config.js';
import { connLine, zeekHeader } from '../../helpers/zeek/rotating-writer.js';

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-backfill-'));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Writes `rel` under the archive with `n` conn lines whose uids start with `prefix`. */
function put(rel: string, prefix: string, n: number): void {
  const file = path.join(dir, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const text = zeekHeader(0) + Array.from({ length: n }, (_, i) => connLine(`C${prefix}${i}`, i)).join('');
  fs.writeFileSync(file, file.endsWith('.gz') ? zlib.gzipSync(text) : text);
}

describe('listArchive', () => {
  // Created out of order so that directory order cannot pass for time order.
  const tree = [
    '2024-01-10/conn.00:00:00-01:00:00.log.gz',
    '2024-01-02/conn.01:00:00-02:00:00.log',
    '2024-01-01/conn.23:00:00-00:00:00.log.gz',
    '2024-01-02/conn.00:00:00-01:00:00.log.gz',
    '2024-01-01/conn.10:00:00-11:00:00.log.gz',
    '2023-12-31/conn.22:00:00-23:00:00.log.gz',
    '2024-01-01/conn.09:00:00-10:00:00.log.gz',
  ];
  const others = ['2024-01-01/dns.09:00:00-10:00:00.log.gz', '2024-01-01/conn-summary.09:00:00-10:00:00.log.gz'];
  const junk = [
    'notaday/conn.00:00:00-01:00:00.log.gz',
    '2024-02-30/conn.00:00:00-01:00:00.log.gz',
    '2024-01-01/conn.log',
    '2024-01-01/conn.25:00:00-26:00:00.log.gz',
  ];

  beforeEach(() => {
    for (const rel of [...tree, ...others, ...junk]) put(rel, 'x', 1);
    fs.writeFileSync(path.join(dir, 'README'), 'not an archive day');
  });

  it('lists conn logs by day then start time, and skips, counts and reports the rest', async () => {
    const counters = new Counters('zeek');
    const issues: InputIssue[] = [];
    const listing = await listArchive(dir, { timeZone: 'utc', counters, onIssue: (i) => issues.push(i) });
    expect(listing.files.map((f) => f.relPath)).toEqual([
      '2023-12-31/conn.22:00:00-23:00:00.log.gz',
      '2024-01-01/conn.09:00:00-10:00:00.log.gz',
      '2024-01-01/conn.10:00:00-11:00:00.log.gz',
      '2024-01-01/conn.23:00:00-00:00:00.log.gz',
      '2024-01-02/conn.00:00:00-01:00:00.log.gz',
      '2024-01-02/conn.01:00:00-02:00:00.log',
      '2024-01-10/conn.00:00:00-01:00:00.log.gz',
    ]);
    expect(listing.files.map((f) => f.gzip)).toEqual([true, true, true, true, true, false, true]);
    const wrapped = listing.files[3];
    expect(wrapped.endMs - wrapped.startMs).toBe(3600_000);
    expect(new Date(wrapped.endMs).toISOString()).toBe('2024-01-02T00:00:00.000Z');
    expect(listing.otherLogs).toBe(2);
    expect(listing.unrecognised.sort()).toEqual(
      [
        '2024-01-01/conn.25:00:00-26:00:00.log.gz',
        '2024-01-01/conn.log',
        '2024-02-30/conn.00:00:00-01:00:00.log.gz',
        'README',
        'notaday',
      ].sort(),
    );
    expect(counters.get('archive_unrecognised')).toBe(5);
    expect(issues).toHaveLength(1);
    expect(issues[0].message).toContain('skipped 5 entries');
  });

  it('keeps only files overlapping since/until', async () => {
    const listing = await listArchive(dir, {
      timeZone: 'utc',
      sinceMs: Date.parse('2024-01-01T10:30:00Z'),
      untilMs: Date.parse('2024-01-02T01:00:00Z'),
    });
    expect(listing.files.map((f) => f.relPath)).toEqual([
      '2024-01-01/conn.10:00:00-11:00:00.log.gz',
      '2024-01-01/conn.23:00:00-00:00:00.log.gz',
      '2024-01-02/conn.00:00:00-01:00:00.log.gz',
    ]);
  });

  it('orders by local time names when told the archive is in local time', async () => {
    const listing = await listArchive(dir, { timeZone: 'local' });
    expect(listing.files[0].startMs).toBe(new Date(2023, 11, 31, 22).getTime());
    expect(listing.files.map((f) => f.relPath)[6]).toBe('2024-01-10/conn.00:00:00-01:00:00.log.gz');
  });
});

describe('ZeekCollector backfill', () => {
  function run(config: Partial<ZeekCollectorConfig>, checkpoints?: Map<string, string>) {
    const issues: InputIssue[] = [];
    const metrics = new MetricsRegistry();
    const store = checkpoints && {
      loadCheckpoint: (k: string) => (checkpoints.has(k) ? JSON.parse(checkpoints.get(k) as string) : undefined),
      saveCheckpoint: (k: string, v: unknown) => void checkpoints.set(k, JSON.stringify(v)),
    };
    const c = new ZeekCollector({
      config: zeekCollectorConfigSchema.parse(config),
      checkpoints: store,
      metrics,
      onIssue: (i) => issues.push(i),
    });
    const uids: string[] = [];
    const done = c
      .start(async (batch) => {
        for (const r of batch) uids.push((r as FlowRecord).uid);
      }, new AbortController().signal)
      .then(() => c.saveCheckpointSync());
    return { done, uids, issues, counters: metrics.counters('zeek') };
  }

  it('reads the good part of a truncated gzip, reports it, and goes on with the next files', async () => {
    put('2024-01-01/conn.00:00:00-01:00:00.log.gz', 'a', 5);
    const text = zeekHeader(0) + Array.from({ length: 4000 }, (_, i) => connLine(`Cb${i}`, i)).join('');
    const gz = zlib.gzipSync(text);
    const damaged = path.join(dir, '2024-01-01/conn.01:00:00-02:00:00.log.gz');
    fs.writeFileSync(damaged, gz.subarray(0, Math.floor(gz.length / 2)));
    put('2024-01-01/conn.02:00:00-03:00:00.log', 'c', 3);
    const after = path.join(os.tmpdir(), `${path.basename(dir)}-after.log`);
    fs.writeFileSync(after, zeekHeader(0) + connLine('Cafter', 0));
    try {
      const r = run({ archiveDir: dir, archiveTimeZone: 'utc', files: [after] });
      await r.done;
      const b = r.uids.filter((u) => u.startsWith('Cb'));
      expect(r.uids.slice(0, 5)).toEqual(['Ca0', 'Ca1', 'Ca2', 'Ca3', 'Ca4']);
      expect(b.length).toBeGreaterThan(0);
      expect(b.length).toBeLessThan(4000);
      expect(b).toEqual(Array.from({ length: b.length }, (_, i) => `Cb${i}`));
      expect(r.uids.slice(5 + b.length)).toEqual(['Cc0', 'Cc1', 'Cc2', 'Cafter']);
      expect(r.counters.get('gzip_errors')).toBe(1);
      expect(r.counters.get('archive_files')).toBe(3);
      expect(r.issues).toHaveLength(1);
      expect(r.issues[0].file).toBe(damaged);
      expect(r.issues[0].message).toContain('truncated or corrupt');
      expect(r.issues[0].message).toContain(`the ${b.length + 8} lines before were read`);
    } finally {
      fs.rmSync(after, { force: true });
    }
  });

  it('reports a missing archive directory and still reads the files', async () => {
    const after = path.join(dir, 'conn.log');
    fs.writeFileSync(after, zeekHeader(0) + connLine('Cafter', 0));
    const r = run({ archiveDir: path.join(dir, 'no-archive'), files: [after] });
    await r.done;
    expect(r.uids).toEqual(['Cafter']);
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0].file).toBe(path.join(dir, 'no-archive'));
    expect(r.issues[0].message).toContain('nothing is backfilled');
  });

  it('does not read archived files again after a restart, only newer ones', async () => {
    put('2024-01-01/conn.00:00:00-01:00:00.log.gz', 'a', 3);
    put('2024-01-01/conn.01:00:00-02:00:00.log.gz', 'b', 2);
    const checkpoints = new Map<string, string>();
    const first = run({ archiveDir: dir }, checkpoints);
    await first.done;
    expect(first.uids).toEqual(['Ca0', 'Ca1', 'Ca2', 'Cb0', 'Cb1']);

    put('2024-01-02/conn.00:00:00-01:00:00.log.gz', 'c', 2);
    const second = run({ archiveDir: dir }, checkpoints);
    await second.done;
    expect(second.uids).toEqual(['Cc0', 'Cc1']);
  });
});
