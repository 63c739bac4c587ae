// The `zeek` collector: backfills Zeek's archive, reads conn.log files once, then follows live
// conn.logs across rotation; positions are checkpointed only for what the sink has accepted.

import path from 'node:path';
import type { Clock } from '../../agent/clock.js';
import type { IssueHandler } from '../../agent/issues.js';
import type { Counters, MetricsRegistry } from '../../agent/metrics.js';
import type { CheckpointStore } from '../../agent/state.js';
import type { Collector, RecordSink } from '../collector.js';
import type { FlowRecord } from '../record.js';
import { type ArchiveFile, compareArchiveFiles, listArchive, parseArchiveName } from './backfill.js';
import { parseConfigTime, type ZeekCollectorConfig } from './config.js';
import { ZeekConnParser, type ZeekParserState } from './parser.js';
import {
  fingerprintOf,
  isTailPosition,
  LineReader,
  nthLineEnd,
  positionAt,
  prefixMatches,
  type TailChunk,
  type TailPosition,
  ZeekTailer,
} from './tail.js';

export interface ZeekCollectorContext {
  config: ZeekCollectorConfig;
  /** Where positions are saved; without it every start reads from the beginning. */
  checkpoints?: CheckpointStore;
  metrics: MetricsRegistry;
  onIssue: IssueHandler;
  clock?: Clock;
}

/** Saved for one followed path or one file read once. */
export interface StreamCheckpoint {
  v: 1;
  position: TailPosition;
  parser: ZeekParserState;
  /** For files read once: read to the end. */
  done?: boolean;
}

/** Saved for the archive: files up to `lastDone` (in time order) are read; `current` is under way. */
export interface BackfillCheckpoint {
  v: 1;
  lastDone?: string;
  current?: { relPath: string; position: TailPosition; parser: ZeekParserState };
}

/** Checkpoint keys: one per followed path, per file read once, per archive directory. */
export const checkpointKeys = {
  tail: (p: string) => `zeek:tail:${path.resolve(p)}`,
  file: (p: string) => `zeek:file:${path.resolve(p)}`,
  backfill: (dir: string) => `zeek:backfill:${path.resolve(dir)}`,
};

/** What the sink has accepted of one input, ready to be saved. */
interface Accepted {
  value: unknown;
}

export class ZeekCollector implements Collector {
  readonly name = 'zeek';
  readonly counters: Counters;
  private readonly accepted = new Map<string, Accepted>();
  private stopper?: AbortController;
  private running?: Promise<void>;
  private sinkQueue: Promise<void> = Promise.resolve();
  private reader?: LineReader;

  /** Remembers its context; `start()` does the work. */
  constructor(private readonly ctx: ZeekCollectorContext) {
    this.counters = ctx.metrics.counters('zeek');
  }

  async start(sink: RecordSink, signal: AbortSignal): Promise<void> {
    if (this.running)
      throw new Error('zeek collector: start() was called twice; create a new collector to start again');
    const stopper = new AbortController();
    this.stopper = stopper;
    const onAbort = () => stopper.abort();
    if (signal.aborted) stopper.abort();
    else signal.addEventListener('abort', onAbort, { once: true });
    const run = this.run(sink, stopper.signal);
    this.running = run.then(
      () => {},
      () => {},
    );
    try {
      await run;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  async stop(): Promise<void> {
    this.stopper?.abort();
    await this.running;
  }

  async checkpoint(): Promise<void> {
    this.saveCheckpointSync();
  }

  /**
   * Writes, synchronously, the position of everything the sink has accepted: every batch whose
   * sink promise has resolved. Call it outside the sink (or at the start of the next sink call)
   * inside the caller's own transaction, `state.transaction(() => { ownWrites();
   * collector.saveCheckpointSync(); })`, and records and positions commit together.
   */
  saveCheckpointSync(): void {
    const store = this.ctx.checkpoints;
    if (!store) return;
    for (const [key, a] of this.accepted) store.saveCheckpoint(key, a.value);
  }

  // --- the stages -----------------------------------------------------------------------------

  private async run(sink: RecordSink, signal: AbortSignal): Promise<void> {
    const { config } = this.ctx;
    this.reader = new LineReader({
      counters: this.counters,
      onIssue: this.ctx.onIssue,
      readBufferBytes: config.readBufferBytes,
      maxLineBytes: config.maxLineBytes,
    });
    if (config.archiveDir !== undefined) await this.backfill(config.archiveDir, sink, signal);
    for (const file of config.files) {
      if (signal.aborted) return;
      await this.readOnce(file, sink, signal);
    }
    if (signal.aborted || config.tail.length === 0) return;
    await Promise.all(config.tail.map((p) => this.follow(p, sink, signal)));
  }

  private async backfill(dir: string, sink: RecordSink, signal: AbortSignal): Promise<void> {
    const { config } = this.ctx;
    const key = checkpointKeys.backfill(dir);
    const saved = this.load(key, isBackfillCheckpoint) ?? { v: 1 };
    this.accepted.set(key, { value: saved });
    const tz = config.archiveTimeZone;
    let lastDone = saved.lastDone ? parseRel(dir, saved.lastDone, tz) : undefined;
    let current = saved.current;
    const listOpts = {
      log: config.archiveLog,
      timeZone: tz,
      sinceMs: config.backfillSince ? parseConfigTime(config.backfillSince, tz) : undefined,
      untilMs: config.backfillUntil ? parseConfigTime(config.backfillUntil, tz) : undefined,
      counters: this.counters,
      onIssue: this.ctx.onIssue,
    };
    // List again after each pass: a live file may have been archived while we read.
    for (let pass = 0; !signal.aborted; pass++) {
      const listing = await listArchive(
        dir,
        pass === 0 ? listOpts : { ...listOpts, onIssue: undefined, counters: undefined },
      );
      const todo = listing.files.filter((f) => !lastDone || compareArchiveFiles(f, lastDone) > 0);
      if (todo.length === 0) return;
      for (const f of todo) {
        if (signal.aborted) return;
        const resumeAt = current?.relPath === f.relPath ? current : undefined;
        const done = await this.readFileStream({
          file: f.path,
          resume: resumeAt ? { position: resumeAt.position, parser: resumeAt.parser } : undefined,
          sink,
          signal,
          save: (position, parser) => {
            this.accepted.set(key, {
              value: { v: 1, lastDone: lastDone?.relPath, current: { relPath: f.relPath, position, parser } },
            });
          },
        });
        if (!done) return;
        lastDone = f;
        current = undefined;
        this.counters.add('archive_files');
        this.accepted.set(key, { value: { v: 1, lastDone: f.relPath } });
      }
    }
  }

  private async readOnce(file: string, sink: RecordSink, signal: AbortSignal): Promise<void> {
    const key = checkpointKeys.file(file);
    const saved = this.load(key, isStreamCheckpoint);
    if (saved) this.accepted.set(key, { value: saved });
    if (saved?.done) {
      const id = await this.reader?.identify(file);
      if (
        id &&
        prefixMatches(id.prefix, { bytes: saved.position.fingerprintBytes, hash: saved.position.firstLineHash })
      ) {
        this.counters.add('files_already_read');
        return;
      }
    }
    await this.readFileStream({
      file,
      resume: saved && !saved.done ? saved : undefined,
      sink,
      signal,
      save: (position, parser, done) => this.accepted.set(key, { value: { v: 1, position, parser, done } }),
    });
  }

  /**
   * Reads one finished file (resuming inside it when its checkpoint still matches its first
   * bytes) with its own parser. Returns false when stopped before the end.
   */
  private async readFileStream(opts: {
    file: string;
    resume?: { position: TailPosition; parser: ZeekParserState };
    sink: RecordSink;
    signal: AbortSignal;
    save: (position: TailPosition, parser: ZeekParserState, done?: boolean) => void;
  }): Promise<boolean> {
    const reader = this.reader as LineReader;
    const { file, resume, signal } = opts;
    const id = await reader.identify(file);
    if (!id) {
      this.counters.errors++;
      this.counters.add('open_errors');
      this.ctx.onIssue({
        component: 'zeek',
        file,
        message: 'cannot open the file (missing or not readable); skipped. Check the path and permissions',
      });
      return true;
    }
    const parser = new ZeekConnParser({ file, counters: this.counters, onIssue: this.ctx.onIssue });
    const fp = fingerprintOf(id.prefix);
    let offset = 0;
    let lineNo = 1;
    if (resume) {
      const matches = prefixMatches(id.prefix, {
        bytes: resume.position.fingerprintBytes,
        hash: resume.position.firstLineHash,
      });
      if (matches && this.restoreParser(parser, resume.parser, file)) {
        offset = resume.position.offset;
        lineNo = resume.position.lineNo;
      } else if (!matches) {
        this.ctx.onIssue({
          component: 'zeek',
          file,
          message:
            'the file no longer starts with the lines it had when its checkpoint was written; reading it from the start',
        });
      }
    }
    const chunks = reader.readFile({ file, fp, offset, lineNo }, signal);
    let last: TailPosition | undefined;
    for (;;) {
      const next = await chunks.next();
      if (next.done) {
        const ok = next.value.status === 'done';
        if (ok) {
          const end = last ?? {
            dev: next.value.dev,
            inode: next.value.inode,
            firstLineHash: fp.hash,
            fingerprintBytes: fp.bytes,
            offset,
            lineNo,
          };
          opts.save(end, parser.saveState(), true);
        }
        return ok;
      }
      const stopped = await this.deliverChunk(next.value, parser, opts.sink, signal, (position, state) => {
        last = position;
        opts.save(position, state);
      });
      if (stopped) {
        await chunks.return(undefined as never);
        return false;
      }
    }
  }

  private async follow(livePath: string, sink: RecordSink, signal: AbortSignal): Promise<void> {
    const { config } = this.ctx;
    const key = checkpointKeys.tail(livePath);
    const saved = this.load(key, isStreamCheckpoint);
    const parser = new ZeekConnParser({ file: livePath, counters: this.counters, onIssue: this.ctx.onIssue });
    let from: TailPosition | undefined;
    if (saved) {
      this.accepted.set(key, { value: saved });
      if (this.restoreParser(parser, saved.parser, livePath)) from = saved.position;
    }
    const tailer = new ZeekTailer({
      path: livePath,
      from,
      startAt: config.startAt,
      pollIntervalMs: config.pollIntervalMs,
      readBufferBytes: config.readBufferBytes,
      maxLineBytes: config.maxLineBytes,
      watch: config.watch,
      reportIntervalMs: config.reportIntervalMs,
      counters: this.counters,
      onIssue: this.ctx.onIssue,
      clock: this.ctx.clock,
    });
    // Headers are not reset between rotated files: a copytruncated file continues without
    // them, and a new file that has them replaces the old ones at its first line.
    for await (const chunk of tailer.chunks(signal)) {
      const stopped = await this.deliverChunk(chunk, parser, sink, signal, (position, state) => {
        this.accepted.set(key, { value: { v: 1, position, parser: state } satisfies StreamCheckpoint });
      });
      if (stopped) break;
    }
  }

  /**
   * Parses a chunk in batches of at most `batchSize` lines; after each batch is accepted by the
   * sink, `accept` records the position after it. Returns true when stopped part way.
   */
  private async deliverChunk(
    chunk: TailChunk,
    parser: ZeekConnParser,
    sink: RecordSink,
    signal: AbortSignal,
    accept: (position: TailPosition, parser: ZeekParserState) => void,
  ): Promise<boolean> {
    const batchLines = this.ctx.config.batchSize;
    let pos = chunk.start;
    let lineNo = chunk.firstLine;
    while (pos < chunk.end) {
      if (signal.aborted) return true;
      const stop = nthLineEnd(chunk.buf, pos, chunk.end, batchLines);
      const batch: FlowRecord[] = [];
      lineNo += parser.parseLines(chunk.buf, pos, stop, lineNo, batch);
      const state = parser.saveState();
      const position = positionAt(chunk, stop, lineNo);
      if (batch.length > 0) await this.toSink(sink, batch);
      accept(position, state);
      pos = stop;
    }
    return false;
  }

  /** Followed paths run concurrently; the sink sees one batch at a time. */
  private toSink(sink: RecordSink, batch: FlowRecord[]): Promise<void> {
    const delivered = this.sinkQueue.then(() => sink(batch));
    this.sinkQueue = delivered.catch(() => {});
    return delivered;
  }

  private restoreParser(parser: ZeekConnParser, state: ZeekParserState, file: string): boolean {
    try {
      parser.restoreState(state);
      return true;
    } catch (err) {
      parser.reset();
      this.ctx.onIssue({
        component: 'zeek',
        file,
        message: `the saved parser state cannot be restored (${(err as Error).message}); reading from the start`,
      });
      return false;
    }
  }

  private load<T>(key: string, valid: (v: unknown) => v is T): T | undefined {
    const value = this.ctx.checkpoints?.loadCheckpoint(key);
    if (value === undefined) return undefined;
    if (valid(value)) return value;
    this.counters.add('checkpoint_errors');
    this.ctx.onIssue({
      component: 'zeek',
      message: `checkpoint ${key} has an unexpected shape and is ignored; that input is read from the start`,
    });
    return undefined;
  }
}

function parseRel(dir: string, relPath: string, tz: 'local' | 'utc'): ArchiveFile | undefined {
  const slash = relPath.indexOf('/');
  if (slash < 0) return undefined;
  return parseArchiveName(dir, relPath.slice(0, slash), relPath.slice(slash + 1), tz);
}

function isParserState(v: unknown): v is ZeekParserState {
  return typeof v === 'object' && v !== null && (v as { version?: unknown }).version === 1;
}

function isStreamCheckpoint(v: unknown): v is StreamCheckpoint {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  return c.v === 1 && isTailPosition(c.position) && isParserState(c.parser);
}

function isBackfillCheckpoint(v: unknown): v is BackfillCheckpoint {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  if (c.v !== 1) return false;
  if (c.lastDone !== undefined && typeof c.lastDone !== 'string') return false;
  if (c.current === undefined) return true;
  const cur = c.current as Record<string, unknown>;
  return (
    typeof cur === 'object' &&
    cur !== null &&
    typeof cur.relPath === 'string' &&
    isTailPosition(cur.position) &&
    isParserState(cur.parser)
  );
}
