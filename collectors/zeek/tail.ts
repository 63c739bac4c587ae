// Follows one live Zeek log across rotation (rename + new file, copytruncate, gzip of the rotated
// copy) and yields chunks of complete lines with their position, so no line is lost or read twice.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { type Clock, systemClock } from '../../agent/clock.js';
import type { IssueHandler } from '../../agent/issues.js';
import type { Counters } from '../../agent/metrics.js';
import { type ArchiveFile, compareArchiveFiles, parseArchiveName } from './backfill.js';

const NEWLINE = 0x0a;
const HASH_SIGN = 0x23;

/**
 * Most bytes a fingerprint covers. Every Zeek TSV log starts with the same `#separator` line, so
 * the fingerprint runs from the start across the `#` header lines through the first data line
 * (whose uid makes it unique); the header block is far below this size.
 */
export const FINGERPRINT_MAX_BYTES = 16 * 1024;

/** Which file a position belongs to. */
export interface FileIdentity {
  /** Device and inode of the file the bytes were read from (a rotated copy has its own). */
  dev: number;
  inode: number;
  /**
   * sha1 (hex) of the first `fingerprintBytes` bytes of the (decompressed) content: the first
   * line, extended across leading `#` header lines through the first data line. A rotated copy
   * (renamed, copied or gzipped) has the same leading bytes, which is how it is found again.
   */
  firstLineHash: string;
  fingerprintBytes: number;
}

/** A resumable position: everything before `offset` has been consumed. */
export interface TailPosition extends FileIdentity {
  /** Byte offset (in the decompressed content) just after the last consumed line. */
  offset: number;
  /** 1-based number of the line that starts at `offset`. */
  lineNo: number;
}

/** Complete lines `buf[start, end)`, valid only until the consumer asks for the next chunk. */
export interface TailChunk {
  /** The file the bytes came from: the live path, or a rotated copy being finished. */
  file: string;
  identity: FileIdentity;
  buf: Buffer;
  start: number;
  /** Just past a newline, or the end of a finished file whose last line has none. */
  end: number;
  /** File offset of `buf[start]`. */
  offset: number;
  /** 1-based line number of the line at `start`. */
  firstLine: number;
  /** Number of lines in the chunk. */
  lines: number;
}

/** The position just after `index` in a chunk, `lineNo` being the number of the next line. */
export function positionAt(chunk: TailChunk, index: number, lineNo: number): TailPosition {
  return { ...chunk.identity, offset: chunk.offset + (index - chunk.start), lineNo };
}

/** True when `value` has the shape of a TailPosition (checkpoints come from disk). */
export function isTailPosition(value: unknown): value is TailPosition {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const nonNegative = (k: string) => typeof v[k] === 'number' && Number.isInteger(v[k]) && (v[k] as number) >= 0;
  return (
    nonNegative('dev') &&
    nonNegative('inode') &&
    nonNegative('offset') &&
    nonNegative('fingerprintBytes') &&
    typeof v.lineNo === 'number' &&
    Number.isInteger(v.lineNo) &&
    v.lineNo >= 1 &&
    typeof v.firstLineHash === 'string'
  );
}

/** Schedules a callback; injected so tests and replays control the polling. Returns a cancel. */
export interface PollTimer {
  after(ms: number, fn: () => void): () => void;
}

export const realTimer: PollTimer = {
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

// ---------------------------------------------------------------------------------------------
// Fingerprints

export interface Fingerprint {
  bytes: number;
  hash: string;
  /** False while the file has no data line yet: the fingerprint grows as the file does. */
  final: boolean;
}

function sha1(b: Buffer): string {
  return createHash('sha1').update(b).digest('hex');
}

/** The fingerprint of a file whose first `prefix.length` bytes (at most the maximum) are given. */
export function fingerprintOf(prefix: Buffer): Fingerprint {
  let pos = 0;
  while (pos < prefix.length) {
    const nl = prefix.indexOf(NEWLINE, pos);
    if (nl < 0) break;
    const header = prefix[pos] === HASH_SIGN;
    pos = nl + 1;
    if (!header) return { bytes: pos, hash: sha1(prefix.subarray(0, pos)), final: true };
  }
  const final = prefix.length >= FINGERPRINT_MAX_BYTES;
  return { bytes: prefix.length, hash: sha1(prefix), final };
}

/** An empty fingerprint says nothing about a file, so it matches none. */
export function prefixMatches(prefix: Buffer, fp: { bytes: number; hash: string }): boolean {
  return fp.bytes > 0 && prefix.length >= fp.bytes && sha1(prefix.subarray(0, fp.bytes)) === fp.hash;
}

function fingerprintFromPosition(p: FileIdentity): Fingerprint {
  return { bytes: p.fingerprintBytes, hash: p.firstLineHash, final: false };
}

async function readAt(fh: FileHandle, buf: Buffer, at: number, len: number, pos: number): Promise<number> {
  const { bytesRead } = await fh.read(buf, at, len, pos);
  return bytesRead;
}

async function readPrefix(fh: FileHandle, scratch: Buffer, n: number): Promise<Buffer> {
  let got = 0;
  while (got < n) {
    const r = await readAt(fh, scratch, got, n - got, got);
    if (r === 0) break;
    got += r;
  }
  return scratch.subarray(0, got);
}

async function isGzipFile(fh: FileHandle): Promise<boolean> {
  const magic = Buffer.alloc(2);
  return (await readAt(fh, magic, 0, 2, 0)) === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
}

/** The first `n` decompressed bytes of a gzip file (fewer when it is shorter or corrupt). */
export async function gunzipPrefix(file: string, n: number): Promise<Buffer> {
  return (await gunzipHead(file, n)).bytes;
}

/**
 * The first `n` decompressed bytes of a gzip file; `complete` is false when the data ended or
 * broke before `n` bytes without a clean end: a file still being compressed looks like that.
 */
export function gunzipHead(file: string, n: number): Promise<{ bytes: Buffer; complete: boolean }> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let got = 0;
    let done = false;
    const input = fs.createReadStream(file, { highWaterMark: 16 * 1024 });
    const gunzip = zlib.createGunzip();
    const finish = (complete: boolean) => {
      if (done) return;
      done = true;
      input.destroy();
      gunzip.destroy();
      resolve({ bytes: Buffer.concat(parts).subarray(0, n), complete });
    };
    gunzip.on('data', (d: Buffer) => {
      parts.push(d);
      got += d.length;
      if (got >= n) finish(true);
    });
    gunzip.on('end', () => finish(true));
    gunzip.on('error', () => finish(false));
    input.on('error', () => finish(false));
    input.pipe(gunzip);
  });
}

// ---------------------------------------------------------------------------------------------
// Reading lines with one reused buffer

/** Where the next unread line of a file starts. */
interface Cursor {
  file: string;
  identity: FileIdentity;
  offset: number;
  lineNo: number;
}

/** A file to read to its end, starting at a line boundary. */
export interface FileSource {
  file: string;
  /** Fingerprint recorded in positions (a rotated copy carries the original's). */
  fp: Fingerprint;
  offset: number;
  lineNo: number;
}

export interface FinishedFile {
  status: 'done' | 'vanished' | 'aborted';
  dev: number;
  inode: number;
  mtimeNs: bigint;
  gzip: boolean;
}

export interface LineReaderOptions {
  counters: Counters;
  onIssue: IssueHandler;
  /** Initial size of the read buffer. */
  readBufferBytes?: number;
  /** Longest line kept; the buffer grows up to this, longer lines are reported and skipped. */
  maxLineBytes?: number;
  component?: string;
}

/**
 * Turns file contents into chunks of complete lines through one buffer that is reused for every
 * read. A partial last line stays in the buffer until its newline arrives (or the file is done).
 */
export class LineReader {
  buf: Buffer;
  /** Bytes of an incomplete line at the start of `buf`. */
  len = 0;
  private skipping = false;
  private skipped = 0;
  private readonly maxLineBytes: number;
  private readonly component: string;
  readonly scratch = Buffer.alloc(FINGERPRINT_MAX_BYTES);

  constructor(private readonly opts: LineReaderOptions) {
    this.buf = Buffer.alloc(opts.readBufferBytes ?? 1024 * 1024);
    this.maxLineBytes = Math.max(opts.maxLineBytes ?? 1024 * 1024, this.buf.length);
    this.component = opts.component ?? 'zeek';
  }

  reset(): void {
    this.len = 0;
    this.skipping = false;
    this.skipped = 0;
  }

  /** File offset of the next byte to read for `cur`. */
  readPos(cur: Cursor): number {
    return cur.offset + this.skipped + this.len;
  }

  /** Makes room for a read; a full buffer holds no newline, so the line is grown into or skipped. */
  makeRoom(cur: Cursor): void {
    if (this.len < this.buf.length) return;
    if (this.buf.length < this.maxLineBytes) {
      const bigger = Buffer.alloc(Math.min(this.buf.length * 2, this.maxLineBytes));
      this.buf.copy(bigger, 0, 0, this.len);
      this.buf = bigger;
      return;
    }
    this.opts.onIssue({
      component: this.component,
      file: cur.file,
      line: cur.lineNo,
      offset: cur.offset,
      message: `line is longer than maxLineBytes (${this.maxLineBytes} bytes); skipped. Raise maxLineBytes if such lines are expected`,
    });
    this.opts.counters.dropped++;
    this.opts.counters.add('long_lines');
    this.skipping = true;
    this.skipped += this.len;
    this.len = 0;
  }

  /** Yields the complete lines in the buffer (and, when `final`, an unterminated last line). */
  *emit(cur: Cursor, final: boolean): Generator<TailChunk, void, void> {
    if (this.skipping) {
      const nl = this.len > 0 ? this.buf.indexOf(NEWLINE) : -1;
      if (nl >= 0 && nl < this.len) {
        this.consumeSkipped(cur, nl + 1);
      } else if (final) {
        this.consumeSkipped(cur, this.len);
        return;
      } else {
        this.skipped += this.len;
        this.len = 0;
        return;
      }
    }
    if (this.len === 0) return;
    let end = this.buf.lastIndexOf(NEWLINE, this.len - 1) + 1;
    if (end === 0 && !final) return;
    let lines = countNewlines(this.buf, 0, end);
    if (final && end < this.len) {
      end = this.len;
      lines++;
    }
    yield {
      file: cur.file,
      identity: cur.identity,
      buf: this.buf,
      start: 0,
      end,
      offset: cur.offset,
      firstLine: cur.lineNo,
      lines,
    };
    cur.offset += end;
    cur.lineNo += lines;
    this.buf.copyWithin(0, end, this.len);
    this.len -= end;
  }

  private consumeSkipped(cur: Cursor, upTo: number): void {
    cur.offset += this.skipped + upTo;
    cur.lineNo++;
    this.buf.copyWithin(0, upTo, this.len);
    this.len -= upTo;
    this.skipping = false;
    this.skipped = 0;
  }

  /** Device, inode, kind and leading bytes of a file, or undefined when it cannot be opened. */
  async identify(file: string): Promise<{ dev: number; inode: number; gzip: boolean; prefix: Buffer } | undefined> {
    let fh: FileHandle;
    try {
      fh = await fsp.open(file, 'r');
    } catch {
      return undefined;
    }
    try {
      const st = await fh.stat();
      const gzip = await isGzipFile(fh);
      const prefix = gzip
        ? await gunzipPrefix(file, FINGERPRINT_MAX_BYTES)
        : Buffer.from(await readPrefix(fh, this.scratch, FINGERPRINT_MAX_BYTES));
      return { dev: st.dev, inode: st.ino, gzip, prefix };
    } finally {
      await fh.close();
    }
  }

  /**
   * Reads a finished (or at least no longer written) file from `src.offset` to its end, plain or
   * gzip (recognised by its magic bytes). Returns `vanished` when the file cannot be opened.
   */
  async *readFile(src: FileSource, signal: AbortSignal): AsyncGenerator<TailChunk, FinishedFile, void> {
    let fh: FileHandle;
    try {
      fh = await fsp.open(src.file, 'r');
    } catch {
      return { status: 'vanished', dev: 0, inode: 0, mtimeNs: 0n, gzip: false };
    }
    try {
      const st = await fh.stat({ bigint: true });
      const gzip = await isGzipFile(fh);
      const cur: Cursor = {
        file: src.file,
        identity: {
          dev: Number(st.dev),
          inode: Number(st.ino),
          firstLineHash: src.fp.hash,
          fingerprintBytes: src.fp.bytes,
        },
        offset: src.offset,
        lineNo: src.lineNo,
      };
      this.opts.counters.add('files');
      this.reset();
      const complete = gzip ? yield* this.readGzip(fh, cur, signal) : yield* this.readPlain(fh, cur, signal);
      const end = await fh.stat({ bigint: true });
      return {
        status: complete ? 'done' : 'aborted',
        dev: cur.identity.dev,
        inode: cur.identity.inode,
        mtimeNs: end.mtimeNs,
        gzip,
      };
    } finally {
      this.reset();
      await fh.close();
    }
  }

  private async *readPlain(fh: FileHandle, cur: Cursor, signal: AbortSignal): AsyncGenerator<TailChunk, boolean, void> {
    for (;;) {
      if (signal.aborted) return false;
      this.makeRoom(cur);
      const n = await readAt(fh, this.buf, this.len, this.buf.length - this.len, this.readPos(cur));
      if (n === 0) break;
      this.len += n;
      yield* this.emit(cur, false);
    }
    yield* this.emit(cur, true);
    return true;
  }

  private async *readGzip(fh: FileHandle, cur: Cursor, signal: AbortSignal): AsyncGenerator<TailChunk, boolean, void> {
    let toSkip = cur.offset;
    // Not fh.createReadStream: destroying that stream closes the handle we still need.
    const input = Readable.from(fileBytes(fh), { objectMode: false });
    const gunzip = zlib.createGunzip({ chunkSize: 64 * 1024 });
    input.on('error', (err) => gunzip.destroy(err));
    input.pipe(gunzip);
    try {
      for await (const piece of gunzip as AsyncIterable<Buffer>) {
        if (signal.aborted) return false;
        let p = 0;
        if (toSkip > 0) {
          p = Math.min(toSkip, piece.length);
          toSkip -= p;
        }
        while (p < piece.length) {
          this.makeRoom(cur);
          const copied = piece.copy(this.buf, this.len, p);
          this.len += copied;
          p += copied;
          if (this.len === this.buf.length) yield* this.emit(cur, false);
        }
      }
      if (toSkip > 0) {
        this.opts.onIssue({
          component: this.component,
          file: cur.file,
          offset: cur.offset,
          message: `resume offset ${cur.offset} is past the end of the decompressed file (${cur.offset - toSkip} bytes); nothing more is read from it`,
        });
      }
      yield* this.emit(cur, true);
      return true;
    } catch (err) {
      // The lines before the damage are good; only the partial line at the break is not.
      yield* this.emit(cur, false);
      const at = this.readPos(cur);
      this.opts.counters.add('gzip_errors');
      this.opts.counters.errors++;
      this.opts.onIssue({
        component: this.component,
        file: cur.file,
        offset: at,
        message:
          `gzip data is truncated or corrupt after ${at} decompressed bytes (${(err as Error).message}); ` +
          `the ${cur.lineNo - 1} lines before were read, the rest of this file is skipped. Check whether the file was still being written or was damaged`,
      });
      this.reset();
      return true;
    } finally {
      input.destroy();
      gunzip.destroy();
    }
  }
}

async function* fileBytes(fh: FileHandle): AsyncGenerator<Buffer, void, void> {
  let pos = 0;
  for (;;) {
    const piece = Buffer.allocUnsafe(64 * 1024);
    const n = await readAt(fh, piece, 0, piece.length, pos);
    if (n === 0) return;
    pos += n;
    yield piece.subarray(0, n);
  }
}

function countNewlines(buf: Buffer, from: number, to: number): number {
  let n = 0;
  let i = buf.indexOf(NEWLINE, from);
  while (i >= 0 && i < to) {
    n++;
    i = buf.indexOf(NEWLINE, i + 1);
  }
  return n;
}

/** Index just past the `n`-th newline in `buf[from, to)`, or `to` when there are fewer. */
export function nthLineEnd(buf: Buffer, from: number, to: number, n: number): number {
  let pos = from;
  for (let k = 0; k < n; k++) {
    const nl = buf.indexOf(NEWLINE, pos);
    if (nl < 0 || nl >= to) return to;
    pos = nl + 1;
  }
  return pos;
}

// ---------------------------------------------------------------------------------------------
// Zeek's archive: where zeekctl moves rotated logs (`<logdir>/YYYY-MM-DD/conn.HH:MM:SS-HH:MM:SS.log.gz`)

/** A Zeek archive directory and the log (`conn`) whose rotated copies are looked for in it. */
export interface ArchiveLocation {
  dir: string;
  log: string;
}

/** A file that may hold lines of the followed log: a rotated sibling or an archived copy. */
interface Candidate {
  file: string;
  dev: number;
  inode: number;
  mtimeNs: bigint;
  size: number;
  gzip: boolean;
  /** For archived files: the parsed archive name (time order). */
  archive?: ArchiveFile;
  /** For siblings: named the way Zeek renames a log it rotates (`conn.2024-05-01-10-00-00.log`). */
  zeekRotated?: boolean;
}

/** Most archived files whose first bytes are compared in one search for a checkpointed file. */
const ARCHIVE_MAX_CHECKS = 256;
/**
 * Most archived files looked at (listed and stat'ed) in one listing, newest first: over two years
 * of hourly conn logs. Only a backlog longer than that would have its oldest files passed over.
 */
const ARCHIVE_MAX_FILES = 20_000;
/**
 * Archive day folders are listed newest first; a folder whose files were all modified this long
 * before the time searched for ends the listing (older folders hold older files still).
 */
const ARCHIVE_SLACK_NS = 24n * 3600n * 1_000_000_000n;
/**
 * A .gz that cannot be decompressed as far as a fingerprint and was modified this recently is
 * taken to be still under compression (zeekctl compresses into the archive after rotating).
 */
const GZIP_SETTLE_NS = 10n * 1_000_000_000n;
const DAY_NAME = /^\d{4}-\d{2}-\d{2}$/;
const MS_NS = 1_000_000n;

/** The log name of a path: its base name up to the first dot (`conn` for conn.log). */
export function logNameOf(file: string): string {
  const base = path.basename(file);
  const dot = base.indexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

/**
 * The archive searched for rotated copies of `livePath`: `archiveDir` when given, else the
 * parent of the live file's directory when that is named `current` (zeekctl's layout), else none.
 */
export function archiveFor(livePath: string, archiveDir?: string | false): ArchiveLocation | undefined {
  if (archiveDir === false) return undefined;
  const liveDir = path.dirname(path.resolve(livePath));
  const dir = archiveDir ?? (path.basename(liveDir) === 'current' ? path.dirname(liveDir) : undefined);
  return dir === undefined ? undefined : { dir: path.resolve(dir), log: logNameOf(livePath) };
}

/**
 * Archived files of `loc.log`, listing day folders newest first: after `after` in time order
 * when given; stopping after a folder whose files are all older than `olderThanNs`, or after
 * ARCHIVE_MAX_FILES files. A .gz next to a plain file of the same name is being written: skipped.
 */
async function listArchived(
  loc: ArchiveLocation,
  opts: { olderThanNs?: bigint; after?: ArchiveFile },
): Promise<Candidate[]> {
  let days: string[];
  try {
    days = (await fsp.readdir(loc.dir)).filter((d) => DAY_NAME.test(d));
  } catch {
    return [];
  }
  days.sort().reverse();
  const out: Candidate[] = [];
  for (const day of days) {
    if (opts.after && day < opts.after.day) break;
    let names: string[];
    try {
      names = await fsp.readdir(path.join(loc.dir, day));
    } catch {
      continue;
    }
    const present = new Set(names);
    let newest = -1n;
    for (const name of names) {
      // The zone only moves startMs; the time order (day, then start second) does not depend on it.
      const a = parseArchiveName(loc.dir, day, name, 'utc');
      if (!a || a.log !== loc.log) continue;
      if (opts.after && compareArchiveFiles(a, opts.after) <= 0) continue;
      if (a.gzip && present.has(name.slice(0, -3))) continue;
      const st = await fsp.stat(a.path, { bigint: true }).catch(() => undefined);
      if (!st?.isFile()) continue;
      out.push({
        file: a.path,
        dev: Number(st.dev),
        inode: Number(st.ino),
        mtimeNs: st.mtimeNs,
        size: Number(st.size),
        gzip: a.gzip,
        archive: a,
      });
      if (st.mtimeNs > newest) newest = st.mtimeNs;
      if (out.length >= ARCHIVE_MAX_FILES) return out;
    }
    if (opts.olderThanNs !== undefined && newest >= 0n && newest < opts.olderThanNs) break;
  }
  return out;
}

/**
 * Archived files that may hold a file last seen at `aroundMs` (wall clock, compared with
 * modification times): nearest modification time first, at most ARCHIVE_MAX_CHECKS. A file
 * rotated away after a checkpoint is closed, and so last modified, soon after it however long
 * the agent was stopped: the search reads a few candidates, not the whole archive.
 */
async function archivedNear(loc: ArchiveLocation, aroundMs: number): Promise<Candidate[]> {
  const around = BigInt(Math.round(aroundMs)) * MS_NS;
  const cands = await listArchived(loc, { olderThanNs: around - ARCHIVE_SLACK_NS });
  const distance = (c: Candidate) => (c.mtimeNs > around ? c.mtimeNs - around : around - c.mtimeNs);
  cands.sort((a, b) => {
    const d = distance(a) - distance(b);
    return d < 0n ? -1 : d > 0n ? 1 : compareCandidates(a, b);
  });
  return cands.slice(0, ARCHIVE_MAX_CHECKS);
}

/** Oldest first: modification time, then archive time order, then path. */
function compareCandidates(a: Candidate, b: Candidate): number {
  if (a.mtimeNs !== b.mtimeNs) return a.mtimeNs < b.mtimeNs ? -1 : 1;
  if (a.archive && b.archive) {
    const c = compareArchiveFiles(a.archive, b.archive);
    if (c !== 0) return c;
  }
  return a.file < b.file ? -1 : a.file > b.file ? 1 : 0;
}

/**
 * The first bytes of a candidate (decompressed), and whether they can be trusted to be all there
 * is up to FINGERPRINT_MAX_BYTES; undefined when it is gone since it was listed.
 */
async function candidateHead(
  c: Candidate,
  reader: LineReader,
): Promise<{ prefix: Buffer; settled: boolean } | undefined> {
  if (!c.gzip) {
    const id = await reader.identify(c.file);
    return id && { prefix: id.prefix, settled: true };
  }
  if (!(await statOrUndefined(c.file))) return undefined;
  const head = await gunzipHead(c.file, FINGERPRINT_MAX_BYTES);
  // A .gz still being written ends early; once it is old enough it is simply damaged.
  const young = BigInt(Date.now()) * MS_NS - c.mtimeNs < GZIP_SETTLE_NS;
  return { prefix: head.bytes, settled: head.complete || !young };
}

/**
 * Looks in the archive for the file a position belongs to (matched by fingerprint, long enough
 * to hold its offset). `wait` when a candidate is still being compressed; undefined when not found.
 */
export async function findInArchive(
  loc: ArchiveLocation,
  position: TailPosition,
  opts: { aroundMs?: number; reader: LineReader },
): Promise<ArchiveFile | 'wait' | undefined> {
  const fp = fingerprintFromPosition(position);
  if (fp.bytes === 0) return undefined;
  const found = await matchCopy(await archivedNear(loc, opts.aroundMs ?? Date.now()), fp, position.offset, opts.reader);
  return found === 'wait' || found === undefined ? found : found.archive;
}

/** The first candidate that starts with `fp` and is long enough to hold `offset`, with its own fingerprint. */
async function matchCopy(
  cands: Candidate[],
  fp: Fingerprint,
  offset: number,
  reader: LineReader,
): Promise<(Candidate & { fp: Fingerprint }) | 'wait' | undefined> {
  let unsettled = false;
  for (const c of cands) {
    if (!c.gzip && c.size < offset) continue;
    const head = await candidateHead(c, reader);
    // Gone since listed (zeekctl removes Zeek's renamed copy once the .gz is written): what it
    // held may be in a file the listing missed, so the search is done again.
    if (!head) return 'wait';
    if (prefixMatches(head.prefix, fp)) {
      // A .gz that matches but ends early is read later, once written: now it would lose lines.
      if (!head.settled) return 'wait';
      return { ...c, fp: fingerprintOf(head.prefix) };
    }
    if (!head.settled) unsettled = true;
  }
  return unsettled ? 'wait' : undefined;
}

// ---------------------------------------------------------------------------------------------
// The tailer

export interface TailOptions {
  /** The live path, e.g. /opt/zeek/logs/current/conn.log. */
  path: string;
  counters: Counters;
  onIssue: IssueHandler;
  /** Checkpoint to resume from. */
  from?: TailPosition;
  /**
   * Wall-clock ms at which `from` was saved. The archive search for the checkpointed file starts
   * with the files modified nearest to it; without it, with the newest.
   */
  fromTimeMs?: number;
  /**
   * Zeek's archive (`<dir>/YYYY-MM-DD/<log>.HH:MM:SS-HH:MM:SS.log[.gz]`), searched by fingerprint
   * for rotated copies besides the live file's directory. Unset: the parent of the live file's
   * directory when that is named `current` (zeekctl's layout); `false`: no archive.
   */
  archiveDir?: string | false;
  /**
   * Without `from`: read first the archived files of this log that come after `after` (archive
   * time order; all of them when unset), then the live file. A backfill of the same archive that
   * stopped at `after` hands over this way. Ignored with startAt `end`.
   */
  catchUp?: { after?: string };
  /** Without a checkpoint: read the current file from its beginning or only what is appended. */
  startAt?: 'beginning' | 'end';
  pollIntervalMs?: number;
  readBufferBytes?: number;
  maxLineBytes?: number;
  /** Use fs.watch on the directory to wake up early; polling stays the source of truth. */
  watch?: boolean;
  /** How often a persisting problem (file missing) is reported again. */
  reportIntervalMs?: number;
  timer?: PollTimer;
  clock?: Clock;
  component?: string;
}

interface LiveFile {
  fh: FileHandle;
  dev: number;
  inode: number;
  fp: Fingerprint;
  cursor: Cursor;
  /** Truncated in place (copytruncate): read again from 0 once the copy is finished. */
  restart: boolean;
}

/** A file that must be finished before the live one: the checkpoint's, or a copytruncate copy. */
interface Wanted {
  fp: Fingerprint;
  offset: number;
  lineNo: number;
  reason: 'resume' | 'truncated';
  /** For `truncated`: where we were and what was left. */
  readPos?: number;
  size?: number;
  from?: TailPosition;
  attempts: number;
}

/** Files recently finished, so their renamed or gzipped copies are not read again. */
interface Recent {
  dev: number;
  inode: number;
  fp: Fingerprint;
}

const RECENT_KEEP = 16;

/**
 * Follows `path` and yields chunks of complete lines. Rotation is followed by identity (device,
 * inode and fingerprint), never by name: the old file is read to its end before the new one; a
 * copytruncate copy is found by fingerprint and finished from our offset; files rotated more than
 * once while we lagged or were stopped are read in modification-time order. Consume each chunk
 * before asking for the next: the buffer is reused.
 *
 * Assumptions, stated because they bound what can be recovered: rotated copies are either in the
 * live file's directory under the live name plus a suffix (`conn.log.1`, `conn.log-20240501.gz`)
 * or Zeek's own rotated name (`conn.2024-05-01-10-00-00.log`), or in Zeek's archive (see
 * `archiveDir`) under the same log name; a later rotation is modified later (a compressor either
 * keeps the time, as gzip and logrotate do, or writes the copy right after rotating, as zeekctl
 * does); a checkpointed file counts as found when a file with its fingerprint is at the path,
 * whatever its inode. The archive search is bounded: see `archivedNear` and `findNewer`.
 */
export class ZeekTailer {
  private readonly dir: string;
  private readonly base: string;
  /** Zeek's name for a rotated copy of this log in the live directory: `<log>.<date-time><ext>`. */
  private readonly zeekRotatedName: RegExp;
  private readonly archive?: ArchiveLocation;
  /** While set, archived files after `after` are read before the live file (see TailOptions.catchUp). */
  private catchUp?: { after?: ArchiveFile };
  private readonly reader: LineReader;
  private readonly pollMs: number;
  private readonly timer: PollTimer;
  private readonly clock: Clock;
  private readonly component: string;
  private signal: AbortSignal = new AbortController().signal;
  private live?: LiveFile;
  private wanted?: Wanted;
  private lastFinished?: { mtimeNs: bigint };
  private recent: Recent[] = [];
  private startAtEnd: boolean;
  private watcher?: fs.FSWatcher;
  private woken = false;
  private wakeSleeper?: () => void;
  private lastReport?: { key: string; atMs: number };

  constructor(private readonly opts: TailOptions) {
    this.dir = path.dirname(opts.path);
    this.base = path.basename(opts.path);
    const stem = logNameOf(opts.path);
    const ext = this.base.slice(stem.length);
    this.zeekRotatedName = new RegExp(
      `^${escapeRegExp(stem)}\\.\\d{4}-\\d{2}-\\d{2}-\\d{2}-\\d{2}-\\d{2}${escapeRegExp(ext)}(\\.gz)?$`,
    );
    this.archive = archiveFor(opts.path, opts.archiveDir);
    this.reader = new LineReader(opts);
    this.pollMs = opts.pollIntervalMs ?? 250;
    this.timer = opts.timer ?? realTimer;
    this.clock = opts.clock ?? systemClock;
    this.component = opts.component ?? 'zeek';
    this.startAtEnd = !opts.from && opts.startAt === 'end';
  }

  async *chunks(signal: AbortSignal): AsyncGenerator<TailChunk, void, void> {
    this.signal = signal;
    let resumed = false;
    try {
      while (!signal.aborted) {
        try {
          if (!resumed) {
            await this.resume();
            resumed = true;
          }
          yield* this.step();
        } catch (err) {
          // A read error (EIO, a directory where the file was, ...) must not end the tail: the
          // state is kept, so the same step is tried again after the poll interval.
          const message = `reading failed (${(err as Error).message}); retrying every ${this.pollMs} ms. Check the file and its disk`;
          if (this.report(message)) this.opts.counters.errors++;
          await this.sleep(false);
        }
      }
    } finally {
      this.cancelSleep();
      this.watcher?.close();
      this.watcher = undefined;
      if (this.live) await this.live.fh.close().catch(() => {});
      this.live = undefined;
    }
  }

  /** One decision: finish a wanted file, read a newer rotated one, or follow the live file. */
  private async *step(): AsyncGenerator<TailChunk, void, void> {
    if (this.wanted) {
      yield* this.finishWanted(this.wanted);
      return;
    }
    if (!this.live) await this.openLive();
    else if (this.live.restart) await this.restartLive(this.live);
    if (this.lastFinished) {
      const next = await this.findNewer();
      if (next === 'wait') {
        await this.sleep();
        return;
      }
      if (next) {
        yield* this.readRotated(next);
        return;
      }
      if (!this.live) {
        await this.sleep();
        return;
      }
      this.lastFinished = undefined;
      this.catchUp = undefined;
    }
    if (!this.live) {
      await this.sleep();
      return;
    }
    yield* this.followLive(this.live);
  }

  // --- starting -------------------------------------------------------------------------------

  private async resume(): Promise<void> {
    const from = this.opts.from;
    if (!from) {
      this.startCatchUp();
      return;
    }
    const fp = fingerprintFromPosition(from);
    if (fp.bytes === 0) return; // nothing was ever read from that file
    let fh: FileHandle | undefined;
    try {
      fh = await fsp.open(this.opts.path, 'r');
    } catch {
      fh = undefined;
    }
    if (fh) {
      const opened = fh;
      const [st, prefix] = await Promise.all([
        opened.stat(),
        readPrefix(opened, this.reader.scratch, FINGERPRINT_MAX_BYTES),
      ]).catch(async (err) => {
        await opened.close();
        throw err;
      });
      if (prefixMatches(prefix, fp) && st.size >= from.offset) {
        const now = fingerprintOf(prefix);
        this.live = {
          fh,
          dev: st.dev,
          inode: st.ino,
          fp: now,
          cursor: {
            file: this.opts.path,
            identity: identityOf(st.dev, st.ino, now),
            offset: from.offset,
            lineNo: from.lineNo,
          },
          restart: false,
        };
        this.opts.counters.add('files');
        return;
      }
      await fh.close();
      if (prefixMatches(prefix, fp)) {
        // Our file, but shorter than where we were: cut in place, perhaps after a copy.
        this.wanted = {
          fp,
          offset: from.offset,
          lineNo: from.lineNo,
          reason: 'truncated',
          readPos: from.offset,
          size: st.size,
          attempts: 0,
        };
        return;
      }
    }
    this.wanted = { fp, offset: from.offset, lineNo: from.lineNo, reason: 'resume', from, attempts: 0 };
  }

  /** Without a checkpoint: archived files after the hand-over point are read before the live file. */
  private startCatchUp(): void {
    const c = this.opts.catchUp;
    if (!c || !this.archive || this.opts.startAt === 'end') return;
    let after: ArchiveFile | undefined;
    if (c.after !== undefined) {
      const slash = c.after.indexOf('/');
      after =
        slash > 0
          ? parseArchiveName(this.archive.dir, c.after.slice(0, slash), c.after.slice(slash + 1), 'utc')
          : undefined;
      // Not an archive name: reading the whole archive instead would read what was read already.
      if (!after) return;
    }
    this.catchUp = { after };
    this.lastFinished = { mtimeNs: 0n };
  }

  private async openLive(): Promise<void> {
    let fh: FileHandle;
    try {
      fh = await fsp.open(this.opts.path, 'r');
    } catch (err) {
      await this.reportOpenError(err as NodeJS.ErrnoException);
      return;
    }
    this.lastReport = undefined;
    const [st, prefix] = await Promise.all([
      fh.stat(),
      readPrefix(fh, this.reader.scratch, FINGERPRINT_MAX_BYTES),
    ]).catch(async (err) => {
      await fh.close();
      throw err;
    });
    const fp = fingerprintOf(prefix);
    const cursor: Cursor = { file: this.opts.path, identity: identityOf(st.dev, st.ino, fp), offset: 0, lineNo: 1 };
    this.live = { fh, dev: st.dev, inode: st.ino, fp, cursor, restart: false };
    this.opts.counters.add('files');
    if (this.startAtEnd) {
      this.startAtEnd = false;
      await this.skipToEnd(this.live);
    }
  }

  /** Positions after the last complete line, counting lines so later line numbers are right. */
  private async skipToEnd(live: LiveFile): Promise<void> {
    const buf = this.reader.buf;
    let pos = 0;
    let lines = 0;
    let lastLineEnd = 0;
    for (;;) {
      const n = await readAt(live.fh, buf, 0, buf.length, pos);
      if (n === 0) break;
      let i = buf.indexOf(NEWLINE, 0);
      while (i >= 0 && i < n) {
        lines++;
        lastLineEnd = pos + i + 1;
        i = buf.indexOf(NEWLINE, i + 1);
      }
      pos += n;
    }
    live.cursor.offset = lastLineEnd;
    live.cursor.lineNo = lines + 1;
  }

  private async restartLive(live: LiveFile): Promise<void> {
    live.restart = false;
    live.fp = fingerprintOf(await readPrefix(live.fh, this.reader.scratch, FINGERPRINT_MAX_BYTES));
    live.cursor = { file: this.opts.path, identity: identityOf(live.dev, live.inode, live.fp), offset: 0, lineNo: 1 };
  }

  // --- following the live file ----------------------------------------------------------------

  private async *followLive(live: LiveFile): AsyncGenerator<TailChunk, void, void> {
    const reader = this.reader;
    const cur = live.cursor;
    reader.reset();
    while (!this.signal.aborted) {
      reader.makeRoom(cur);
      const n = await readAt(live.fh, reader.buf, reader.len, reader.buf.length - reader.len, reader.readPos(cur));
      if (n > 0) {
        reader.len += n;
        // Checked after the read: if the start of the file is still ours now, it was ours when
        // these bytes were read (a truncated file never gets its old content back).
        if (!(await this.checkFingerprint(live))) {
          const readPos = reader.readPos(cur) - n;
          reader.reset();
          this.onTruncated(live, readPos, (await live.fh.stat()).size);
          return;
        }
        yield* reader.emit(cur, false);
        continue;
      }
      const atPath = await statOrUndefined(this.opts.path);
      if (atPath && (atPath.dev !== live.dev || atPath.ino !== live.inode)) {
        yield* this.finishRenamed(live);
        return;
      }
      const size = (await live.fh.stat()).size;
      const readPos = reader.readPos(cur);
      if (!(await this.checkFingerprint(live)) || size < readPos) {
        reader.reset();
        this.onTruncated(live, readPos, size);
        return;
      }
      await this.sleep();
    }
  }

  /** True when the live file still starts with the bytes we fingerprinted. */
  private async intact(live: LiveFile): Promise<boolean> {
    return prefixMatches(await readPrefix(live.fh, this.reader.scratch, live.fp.bytes), live.fp);
  }

  /** Re-reads the file's first bytes: false when they are no longer the ones we fingerprinted. */
  private async checkFingerprint(live: LiveFile): Promise<boolean> {
    const want = live.fp.final ? live.fp.bytes : FINGERPRINT_MAX_BYTES;
    const prefix = await readPrefix(live.fh, this.reader.scratch, want);
    if (live.fp.bytes > 0 && !prefixMatches(prefix, live.fp)) return false;
    if (!live.fp.final && prefix.length > live.fp.bytes) {
      live.fp = fingerprintOf(prefix);
      live.cursor.identity = identityOf(live.dev, live.inode, live.fp);
    }
    return true;
  }

  /**
   * The path now names another file: read ours to its end. Read it again one poll interval
   * later, for writers that finish a last write after the rename (logrotate + reopen signal).
   */
  private async *finishRenamed(live: LiveFile): AsyncGenerator<TailChunk, void, void> {
    yield* this.drain(live);
    await this.sleep(false);
    yield* this.drain(live);
    if (this.signal.aborted) return;
    yield* this.reader.emit(live.cursor, true);
    const st = await live.fh.stat({ bigint: true });
    this.finished(live.dev, live.inode, live.fp, st.mtimeNs);
    this.opts.counters.add('rotations');
    this.live = undefined;
    await live.fh.close();
  }

  private async *drain(live: LiveFile): AsyncGenerator<TailChunk, void, void> {
    const reader = this.reader;
    const cur = live.cursor;
    while (!this.signal.aborted) {
      reader.makeRoom(cur);
      const n = await readAt(live.fh, reader.buf, reader.len, reader.buf.length - reader.len, reader.readPos(cur));
      if (n === 0) return;
      reader.len += n;
      yield* reader.emit(cur, false);
    }
  }

  private onTruncated(live: LiveFile, readPos: number, size: number): void {
    this.opts.counters.add('truncations');
    live.restart = true;
    const cur = live.cursor;
    // Even with nothing consumed yet, a known start means there was content to find in a copy.
    if (live.fp.bytes === 0) return;
    this.wanted = {
      fp: live.fp,
      offset: cur.offset,
      lineNo: cur.lineNo,
      reason: 'truncated',
      readPos,
      size,
      attempts: 0,
    };
  }

  // --- rotated files --------------------------------------------------------------------------

  private async *finishWanted(w: Wanted): AsyncGenerator<TailChunk, void, void> {
    const copy = await this.findCopy(w.fp, w.offset, w.reason === 'resume' ? this.opts.fromTimeMs : undefined);
    if (copy === 'wait') {
      await this.sleep();
      return;
    }
    if (!copy) {
      this.wanted = undefined;
      this.reportLost(w);
      return;
    }
    // The copy's own fingerprint reaches its first data line even when ours was taken before
    // there was one; positions and the recent list carry the longer one.
    const result = yield* this.reader.readFile(
      { file: copy.file, fp: copy.fp, offset: w.offset, lineNo: w.lineNo },
      this.signal,
    );
    if (result.status === 'aborted') return;
    if (result.status === 'vanished') {
      // Usually gzip removing the plain copy between listing and opening: look again.
      if (++w.attempts >= 5) {
        this.wanted = undefined;
        this.reportLost(w);
      }
      return;
    }
    this.wanted = undefined;
    this.finished(result.dev, result.inode, copy.fp, result.mtimeNs);
  }

  private async *readRotated(c: Candidate & { fp: Fingerprint }): AsyncGenerator<TailChunk, void, void> {
    const result = yield* this.reader.readFile({ file: c.file, fp: c.fp, offset: 0, lineNo: 1 }, this.signal);
    if (result.status !== 'done') return; // vanished: the next listing sees its gzip
    this.opts.counters.add('rotations');
    this.finished(result.dev, result.inode, c.fp, result.mtimeNs);
  }

  private finished(dev: number, inode: number, fp: Fingerprint, mtimeNs: bigint): void {
    this.lastFinished = { mtimeNs };
    this.recent.push({ dev, inode, fp });
    if (this.recent.length > RECENT_KEEP) this.recent.shift();
  }

  private reportLost(w: Wanted): void {
    this.opts.counters.errors++;
    this.opts.counters.add('lost_files');
    const where = `${this.opts.path}`;
    if (w.reason === 'truncated') {
      this.opts.onIssue({
        component: this.component,
        file: where,
        offset: w.offset,
        line: w.lineNo,
        message:
          `file shrank from ${w.readPos} to ${w.size} bytes and no rotated copy starting with the same first line was found in ${this.searched()}; ` +
          `lines after byte ${w.offset} (line ${w.lineNo}) may be lost; reading the file again from the start`,
      });
    } else {
      const f = w.from as TailPosition;
      this.opts.onIssue({
        component: this.component,
        file: where,
        offset: w.offset,
        line: w.lineNo,
        message:
          `the checkpointed file (device ${f.dev}, inode ${f.inode}, line ${w.lineNo}, byte ${w.offset}) is neither at the path ` +
          `nor among the rotated copies in ${this.searched()} (matched by first-line hash); lines written after the checkpoint may be lost; ` +
          'reading the current file from the start',
      });
    }
  }

  /** Where rotated copies are looked for, for messages. */
  private searched(): string {
    return this.archive ? `${this.dir} or the archive ${this.archive.dir}` : this.dir;
  }

  /**
   * Rotated siblings of the live file: same directory, name = live name + `.`, `-` or `_` +
   * anything, or Zeek's own name for a rotated log (where it waits for zeekctl to archive it).
   */
  private async listRotated(): Promise<Candidate[]> {
    let names: string[];
    try {
      names = await fsp.readdir(this.dir);
    } catch {
      return [];
    }
    const present = new Set(names);
    const out: Candidate[] = [];
    for (const name of names) {
      const zeekRotated = this.zeekRotatedName.test(name);
      const suffixed = name !== this.base && name.startsWith(this.base) && '.-_'.includes(name[this.base.length]);
      if (!suffixed && !zeekRotated) continue;
      // While gzip runs both exist and the .gz is incomplete; the plain one is the whole file.
      if (name.endsWith('.gz') && present.has(name.slice(0, -3))) continue;
      const file = path.join(this.dir, name);
      const st = await fsp.stat(file, { bigint: true }).catch(() => undefined);
      if (!st?.isFile()) continue;
      out.push({
        file,
        dev: Number(st.dev),
        inode: Number(st.ino),
        mtimeNs: st.mtimeNs,
        size: Number(st.size),
        gzip: name.endsWith('.gz'),
        zeekRotated,
      });
    }
    return out;
  }

  /** True for a candidate that is the live file itself (renamed or moved while we read it). */
  private isLive(c: Candidate): boolean {
    const live = this.live;
    return live !== undefined && c.dev === live.dev && c.inode === live.inode;
  }

  /**
   * A rotated file that starts with `fp` and is long enough to hold `offset`: the newest such
   * sibling, else the archived one modified nearest to `aroundMs`. `wait` while a candidate is
   * still being compressed.
   */
  private async findCopy(
    fp: Fingerprint,
    offset: number,
    aroundMs?: number,
  ): Promise<(Candidate & { fp: Fingerprint }) | 'wait' | undefined> {
    // The directory is listed before the archive: zeekctl removes Zeek's renamed copy here only
    // once its .gz there is complete, so a file rotated before the first listing is in one of
    // them. While both exist the plain one is complete, and it is compared first.
    const local = await this.listRotated();
    local.sort((a, b) => compareCandidates(b, a));
    const archived = this.archive ? await archivedNear(this.archive, aroundMs ?? Date.now()) : [];
    const cands = [...local, ...archived].filter((c) => !this.isLive(c));
    return matchCopy(cands, fp, offset, this.reader);
  }

  /**
   * The oldest rotated file modified after the last one we finished that we have not read: what
   * was rotated away while we lagged behind or were stopped; while catching up (TailOptions.
   * catchUp), only archived files after the hand-over point. `wait` while the next candidate is
   * still being compressed. The archive listing ends at day folders modified a day before the
   * last finished file.
   */
  private async findNewer(): Promise<(Candidate & { fp: Fingerprint }) | 'wait' | undefined> {
    const since = this.lastFinished?.mtimeNs ?? 0n;
    const catchUp = this.catchUp;
    // Directory before archive, as in findCopy (listed the other way round, a rotation between
    // the two listings would hide a file from both). A file rotated after the directory listing
    // is the one we hold open, whose .gz is recognised below as a copy of the live file. Equal
    // times are kept in the archive: a copy written there can share its time with the file
    // finished before it, and the recent list tells a file already read.
    const local = (await this.listRotated()).filter((c) =>
      catchUp ? c.zeekRotated && c.mtimeNs >= since : c.mtimeNs > since,
    );
    const archived = this.archive
      ? (
          await listArchived(this.archive, {
            olderThanNs: since > 0n ? since - ARCHIVE_SLACK_NS : undefined,
            after: catchUp?.after,
          })
        ).filter((c) => c.mtimeNs >= since)
      : [];
    const cands = [...local, ...archived].filter((c) => !this.isLive(c));
    cands.sort(compareCandidates);
    const live = this.live;
    // A live file opened before its first data line has a start that every file with the same
    // header shares: look at it again, so that a copy of it is told from a file not yet read.
    if (live && !live.fp.final) await this.checkFingerprint(live);
    for (const c of cands) {
      const head = await candidateHead(c, this.reader);
      // Gone since listed: its content may be in a file the listing missed; list again.
      if (!head) return 'wait';
      // Taking it now could read half a file, or miss that it is a copy of one we read.
      if (!head.settled) return 'wait';
      const prefix = head.prefix;
      if (prefix.length === 0) continue;
      // Read already: the same start, and either a start that reaches a data line (headers
      // alone are alike in every file) or the same inode. An inode alone is not enough: a freed
      // inode is soon given to the next new file.
      const seen = (r: Recent) =>
        prefixMatches(prefix, r.fp) && (r.fp.final || (r.dev === c.dev && r.inode === c.inode));
      if (this.recent.some(seen)) continue;
      if (live?.fp.final && prefixMatches(prefix, live.fp)) {
        // A copy of the live file. While our descriptor still shows the same start, it is
        // read there (a gzip of the renamed file, or a copytruncate copy whose truncation is
        // yet to come), and first: the candidates after this one were rotated after it.
        // Otherwise the file was truncated before we read any of it: all of it is in this
        // copy, and the live file starts again after it.
        if (await this.intact(live)) return undefined;
        this.opts.counters.add('truncations');
        live.restart = true;
        return { ...c, fp: live.fp };
      }
      return { ...c, fp: fingerprintOf(prefix) };
    }
    return undefined;
  }

  // --- waiting and reporting ------------------------------------------------------------------

  private async reportOpenError(err: NodeJS.ErrnoException): Promise<void> {
    const code = err.code ?? 'EUNKNOWN';
    let message: string;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      const dirThere = (await statOrUndefined(this.dir))?.isDirectory() ?? false;
      message = dirThere
        ? `file does not exist (yet); waiting for Zeek to create it, checking every ${this.pollMs} ms`
        : `directory ${this.dir} does not exist; check the path (is Zeek writing its logs there?); checking again every ${this.pollMs} ms`;
    } else {
      message = `cannot open the file (${err.message}); check that the agent's user may read it; retrying every ${this.pollMs} ms`;
    }
    if (this.report(message)) this.opts.counters.add('open_errors');
  }

  /** Reports a persisting problem once, and again only every reportIntervalMs. */
  private report(message: string): boolean {
    const now = this.clock.now();
    const interval = this.opts.reportIntervalMs ?? 5 * 60_000;
    if (this.lastReport && this.lastReport.key === message && now - this.lastReport.atMs < interval) return false;
    this.lastReport = { key: message, atMs: now };
    this.opts.onIssue({ component: this.component, file: this.opts.path, message });
    return true;
  }

  private ensureWatch(): void {
    if (this.opts.watch === false || this.watcher) return;
    try {
      const w = fs.watch(this.dir, { persistent: false }, () => this.wake());
      w.on('error', () => {
        w.close();
        if (this.watcher === w) this.watcher = undefined;
      });
      this.watcher = w;
    } catch {
      // No directory yet, or no inotify watches left: polling alone still works.
    }
  }

  private wake(): void {
    if (this.wakeSleeper) this.wakeSleeper();
    else this.woken = true;
  }

  private cancelSleep(): void {
    this.wakeSleeper?.();
  }

  /** Waits one poll interval; less when the signal aborts or (if `wakeable`) fs.watch reports a change. */
  private sleep(wakeable = true): Promise<void> {
    this.ensureWatch();
    if (this.signal.aborted || (wakeable && this.woken)) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      let settled = false;
      let cancel = () => {};
      const done = () => {
        if (settled) return;
        settled = true;
        cancel();
        this.signal.removeEventListener('abort', done);
        if (this.wakeSleeper === done) this.wakeSleeper = undefined;
        resolve();
      };
      cancel = this.timer.after(this.pollMs, done);
      if (settled) cancel();
      this.signal.addEventListener('abort', done, { once: true });
      if (wakeable) this.wakeSleeper = done;
    });
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function identityOf(dev: number, inode: number, fp: Fingerprint): FileIdentity {
  return { dev, inode, firstLineHash: fp.hash, fingerprintBytes: fp.bytes };
}

async function statOrUndefined(p: string): Promise<fs.Stats | undefined> {
  try {
    return await fsp.stat(p);
  } catch {
    return undefined;
  }
}
