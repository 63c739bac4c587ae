// The `zeek` collector: backfills Zeek's archive, reads conn.log files once, then follows live
// conn.logs across rotation; positions are checkpointed only for what the sink has accepted.

import path from 'node:path';
import type { Clock } from '../../agent/clock.js';
import type { IssueHandler } from '../../agent/issues.js';
import type { Counters, MetricsRegistry } from '../../agent/metrics.js';
import type { CheckpointStore } from '../../agent/state.js';
import { AcceptedPositions, type Collector, type RecordSink } from '../collector.js';
import type { FlowRecord } from '../record.js';
import { type ArchiveFile, compareArchiveFiles, listArchive, parseArchiveName } from './backfill.js';
import { parseConfigTime, type ZeekCollectorConfig } from './config.js';
import { ZeekConnParser, type ZeekParserState } from './parser.js';
import {
  archiveFor,
  findInArchive,
  fingerprintOf,
  isTailPosition,
  LineReader,
  logNameOf,
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
  /**
   * For followed paths: wall-clock ms when the position was accepted. Compared with file
   * modification times, it tells where in the archive to look for the file after a restart.
   */
  atMs?: number;
}

/** Saved for the archive: files up to `lastDone` (in time order) are read; `current` is under way. */
export interface BackfillCheckpoint {
  v: 1;
  lastDone?: string;
  current?: { relPath: string; position: TailPosition; parser: ZeekParserState };
  /**
   * Set when the backfill finished while a tail follows the archive's log: every file archived
   * after `after` (all of them when unset) is a rotated copy of what the tail follows, so the
   * tail reads it (from its own checkpoint), never the backfill.
   */
  handover?: { after?: string };
}

/** Checkpoint keys: one per followed path, per file read once, per archive directory. */
export const checkpointKeys = {
  tail: (p: string) => `zeek:tail:${path.resolve(p)}`,
  file: (p: string) => `zeek:file:${path.resolve(p)}`,
  backfill: (dir: string) => `zeek:backfill:${path.resolve(dir)}`,
};

export class ZeekCollector implements Collector {
  readonly name = 'zeek';
  readonly counters: Counters;
  private readonly accepted = new AcceptedPositions();
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
    const run = this.run(sink, stopper);
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

  /** See Collector.saveCheckpointSync: call it outside the sink (or at the start of the next sink call). */
  saveCheckpointSync(): void {
    this.accepted.saveTo(this.ctx.checkpoints);
  }

  // --- the stages -----------------------------------------------------------------------------

  private async run(sink: RecordSink, stopper: AbortController): Promise<void> {
    const { config } = this.ctx;
    const signal = stopper.signal;
    this.reader = new LineReader({
      counters: this.counters,
      onIssue: this.ctx.onIssue,
      readBufferBytes: config.readBufferBytes,
      maxLineBytes: config.maxLineBytes,
    });
    const archives = this.tailArchives();
    let handover: { after?: string } | undefined;
    if (config.archiveDir !== undefined) {
      handover = await this.backfill(config.archiveDir, sink, signal, archives.handoverTail);
    }
    for (const file of config.files) {
      if (signal.aborted) return;
      await this.readOnce(file, sink, signal);
    }
    if (signal.aborted || config.tail.length === 0) return;
    // One failing tail (the sink rejected) stops the others; start() returns after all ended.
    const results = await Promise.allSettled(
      config.tail.map((p) =>
        this.follow(p, sink, signal, {
          archiveDir: archives.dirOf.get(p),
          catchUp: p === archives.handoverTail ? handover : undefined,
        }).catch((err) => {
          stopper.abort();
          throw err;
        }),
      ),
    );
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  /**
   * Which archive each followed path searches for its rotated copies, and which one (if any)
   * takes over the archive from the backfill. The configured archiveDir serves the paths whose
   * log name no other followed path has: with two `conn` logs, the archive could not tell whose
   * rotation a file is, so those fall back to zeekctl's layout (the parent of `current`).
   */
  private tailArchives(): { dirOf: Map<string, string | undefined>; handoverTail?: string } {
    const { config } = this.ctx;
    const dirOf = new Map<string, string | undefined>();
    const byLog = new Map<string, string[]>();
    for (const p of config.tail) byLog.set(logNameOf(p), [...(byLog.get(logNameOf(p)) ?? []), p]);
    let handoverTail: string | undefined;
    for (const [log, paths] of byLog) {
      const unique = paths.length === 1;
      for (const p of paths) dirOf.set(p, unique ? config.archiveDir : undefined);
      if (config.archiveDir === undefined) continue;
      if (unique && log === config.archiveLog) handoverTail = paths[0];
      else if (!unique) {
        this.ctx.onIssue({
          component: 'zeek',
          message:
            `${paths.length} followed paths have the log name ${log} (${paths.join(', ')}); archiveDir is not searched for ` +
            'their rotated copies, since it cannot tell whose they are' +
            (log === config.archiveLog ? ', and the backfill does not hand over to them' : ''),
        });
      }
    }
    return { dirOf, handoverTail };
  }

  /**
   * Reads the archive in time order. With `tail` (a followed path whose rotations land in this
   * archive) the reading is split so that no file is read twice: the backfill reads what was
   * archived before it first finished and then hands over; files archived later are rotated
   * copies of the followed file and are read by its tail. Returns the hand-over point, if any.
   */
  private async backfill(
    dir: string,
    sink: RecordSink,
    signal: AbortSignal,
    tail?: string,
  ): Promise<{ after?: string } | undefined> {
    const { config } = this.ctx;
    const key = checkpointKeys.backfill(dir);
    const saved = this.load(key, isBackfillCheckpoint) ?? { v: 1 };
    this.accepted.set(key, saved);
    if (tail !== undefined && saved.handover) return saved.handover;
    const tz = config.archiveTimeZone;
    let lastDone = saved.lastDone ? parseRel(dir, saved.lastDone, tz) : undefined;
    let current = saved.current;
    // A tail that ran before the backfill was configured: its file, and everything after it, is
    // the tail's to read from its checkpoint.
    const stopAt = tail !== undefined ? await this.tailFileInArchive(dir, tail, signal) : undefined;
    const sinceMs = config.backfillSince ? parseConfigTime(config.backfillSince, tz) : undefined;
    const untilMs = config.backfillUntil ? parseConfigTime(config.backfillUntil, tz) : undefined;
    const listOpts = { log: config.archiveLog, timeZone: tz, counters: this.counters, onIssue: this.ctx.onIssue };
    // List again after each pass: a live file may have been archived while we read.
    for (let pass = 0; !signal.aborted; pass++) {
      // Listed whole, filtered here: the hand-over point is the newest file, wanted or not.
      const listing = await listArchive(
        dir,
        pass === 0 ? listOpts : { ...listOpts, onIssue: undefined, counters: undefined },
      );
      const todo = listing.files.filter(
        (f) =>
          (sinceMs === undefined || f.endMs > sinceMs) &&
          (untilMs === undefined || f.startMs < untilMs) &&
          (!lastDone || compareArchiveFiles(f, lastDone) > 0) &&
          (!stopAt || compareArchiveFiles(f, stopAt) < 0),
      );
      if (todo.length === 0) {
        if (tail === undefined) return undefined;
        const newest = listing.files.at(-1);
        const handover = newest ? { after: newest.relPath } : {};
        this.accepted.set(key, { v: 1, lastDone: lastDone?.relPath, handover } satisfies BackfillCheckpoint);
        return handover;
      }
      for (const f of todo) {
        if (signal.aborted) return undefined;
        const resumeAt = current?.relPath === f.relPath ? current : undefined;
        const done = await this.readFileStream({
          file: f.path,
          resume: resumeAt ? { position: resumeAt.position, parser: resumeAt.parser } : undefined,
          sink,
          signal,
          save: (position, parser) => {
            const value: BackfillCheckpoint = {
              v: 1,
              lastDone: lastDone?.relPath,
              current: { relPath: f.relPath, position, parser },
            };
            this.accepted.set(key, value);
          },
        });
        if (!done) return undefined;
        lastDone = f;
        current = undefined;
        this.counters.add('archive_files');
        this.accepted.set(key, { v: 1, lastDone: f.relPath });
      }
    }
    return undefined;
  }

  /** The archived file holding the followed path's checkpointed position, when it is archived. */
  private async tailFileInArchive(dir: string, tail: string, signal: AbortSignal): Promise<ArchiveFile | undefined> {
    // Read without reporting: follow() loads (and reports) it again.
    const saved = this.ctx.checkpoints?.loadCheckpoint(checkpointKeys.tail(tail));
    if (!isStreamCheckpoint(saved)) return undefined;
    const loc = archiveFor(tail, dir);
    if (!loc) return undefined;
    // A copy still being compressed is waited for (a few seconds at most): deciding without it
    // would hand the tail's file to the backfill.
    for (;;) {
      const found = await findInArchive(loc, saved.position, {
        aroundMs: saved.atMs,
        reader: this.reader as LineReader,
      });
      if (found !== 'wait' || signal.aborted) return found === 'wait' ? undefined : found;
      await new Promise((r) => setTimeout(r, this.ctx.config.pollIntervalMs));
    }
  }

  private async readOnce(file: string, sink: RecordSink, signal: AbortSignal): Promise<void> {
    const key = checkpointKeys.file(file);
    const saved = this.load(key, isStreamCheckpoint);
    if (saved) this.accepted.set(key, saved);
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
      save: (position, parser, done) => this.accepted.set(key, { v: 1, position, parser, done }),
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

  private async follow(
    livePath: string,
    sink: RecordSink,
    signal: AbortSignal,
    archive: { archiveDir?: string; catchUp?: { after?: string } },
  ): Promise<void> {
    const { config } = this.ctx;
    const key = checkpointKeys.tail(livePath);
    const saved = this.load(key, isStreamCheckpoint);
    const parser = new ZeekConnParser({ file: livePath, counters: this.counters, onIssue: this.ctx.onIssue });
    let from: TailPosition | undefined;
    if (saved) {
      this.accepted.set(key, saved);
      if (this.restoreParser(parser, saved.parser, livePath)) from = saved.position;
    }
    const tailer = new ZeekTailer({
      path: livePath,
      from,
      fromTimeMs: from ? saved?.atMs : undefined,
      archiveDir: archive.archiveDir,
      // Only a tail that never saved a position takes over from the backfill's hand-over point;
      // one that did continues from its position and reads what was archived after it.
      catchUp: saved === undefined ? archive.catchUp : undefined,
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
        // Real time, not the injected clock: it is compared with file modification times.
        this.accepted.set(key, { v: 1, position, parser: state, atMs: Date.now() } satisfies StreamCheckpoint);
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
  return (
    c.v === 1 &&
    isTailPosition(c.position) &&
    isParserState(c.parser) &&
    (c.atMs === undefined || (typeof c.atMs === 'number' && Number.isFinite(c.atMs)))
  );
}

function isBackfillCheckpoint(v: unknown): v is BackfillCheckpoint {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  if (c.v !== 1) return false;
  if (c.lastDone !== undefined && typeof c.lastDone !== 'string') return false;
  if (c.handover !== undefined) {
    const h = c.handover as Record<string, unknown>;
    if (typeof h !== 'object' || h === null || (h.after !== undefined && typeof h.after !== 'string')) return false;
  }
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
