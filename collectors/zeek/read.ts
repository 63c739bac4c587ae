// Reads whole Zeek conn.log files (plain or gzip, `-` for standard input) in large chunks through
// reused buffers, and hands the parsed FlowRecords on in batches, awaiting each batch.

import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { describeError, type IssueHandler } from '../../agent/issues.js';
import type { Counters } from '../../agent/metrics.js';
import type { FlowRecord } from '../record.js';
import { ZeekConnParser } from './parser.js';

export interface ReadZeekOptions {
  counters: Counters;
  onIssue: IssueHandler;
  /** Records per onBatch call (the last batch of a file may be smaller); default 8192. */
  batchSize?: number;
  /** Bytes read at a time; default 1 MiB. */
  chunkSize?: number;
  /** What `-` reads; default process.stdin. */
  stdin?: Readable;
}

export type FlowBatchHandler = (batch: FlowRecord[]) => Promise<void> | void;

const DEFAULT_BATCH = 8192;
const DEFAULT_CHUNK = 1 << 20;
/** Bytes of complete lines parsed before full batches are handed on (about 2,000 conn lines). */
const SLICE = 256 << 10;
/** A longer line is reported and skipped instead of growing the buffer without bound. */
const MAX_LINE = 64 << 20;

/**
 * Reads each file in turn and calls onBatch with its records; the returned promise of onBatch is
 * awaited before reading on (backpressure). Bad lines, missing files and damaged gzip data are
 * reported through onIssue and counted; reading goes on with the next line or file. Records of
 * one file never share a batch with the next file's.
 */
export async function readZeekFiles(paths: string[], opts: ReadZeekOptions, onBatch: FlowBatchHandler): Promise<void> {
  const batchSize = Math.max(1, opts.batchSize ?? DEFAULT_BATCH);
  const chunkSize = Math.max(4096, opts.chunkSize ?? DEFAULT_CHUNK);
  const lines = new LineBuffer(chunkSize);
  try {
    for (const path of paths) {
      const parser = new ZeekConnParser({ file: path, counters: opts.counters, onIssue: opts.onIssue });
      const sink = new BatchSink(batchSize, onBatch);
      lines.start(path, parser, opts);
      if (path === '-') {
        await readStream(opts.stdin ?? process.stdin, path, lines, sink, opts);
      } else {
        await readFile(path, lines, sink, opts);
      }
      await sink.flush();
    }
  } catch (err) {
    // The consumer's own failure is not bad input: it ends the read, as it came.
    throw err instanceof SinkFailure ? err.cause : err;
  }
}

/** Wraps an error thrown by onBatch, so that input-error handlers let it through. */
class SinkFailure {
  constructor(readonly cause: unknown) {}
}

async function readFile(path: string, lines: LineBuffer, sink: BatchSink, opts: ReadZeekOptions): Promise<void> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    report(opts, path, undefined, `cannot open: ${describeError(err)}`);
    opts.counters.errors++;
    opts.counters.add('open_errors');
    return;
  }
  try {
    const magic = Buffer.alloc(2);
    const { bytesRead } = await fh.read(magic, 0, 2, 0);
    if (bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b) {
      await readStream(
        fh.createReadStream({ start: 0, highWaterMark: lines.chunkSize, autoClose: false }),
        path,
        lines,
        sink,
        opts,
      );
      return;
    }
    // Plain file: read straight into the line buffer, after the carried-over partial line. The
    // next read is started before the complete lines are parsed, so disk and parser overlap.
    let position = 0;
    let target = lines.space();
    let reading = fh.read(target.buffer, target.offset, target.length, position);
    for (;;) {
      const { bytesRead: n } = await reading;
      if (n === 0) break;
      position += n;
      lines.added(n);
      const done = lines.completeEnd();
      if (done === 0) {
        target = lines.space();
        reading = fh.read(target.buffer, target.offset, target.length, position);
        continue;
      }
      const full = lines.detach(done);
      target = lines.space();
      reading = fh.read(target.buffer, target.offset, target.length, position);
      // In slices, each batch handed on as soon as it is full: records waiting for the consumer
      // are what the young-generation GC has to copy, so fewer wait at a time.
      for (let at = 0; at < done; ) {
        let to = at + SLICE >= done ? done : full.lastIndexOf(10, at + SLICE) + 1;
        if (to <= at) to = done; // a line longer than a slice
        lines.parse(full, at, to, sink.records);
        at = to;
        await sink.drain();
      }
    }
    lines.finish(sink.records);
  } catch (err) {
    readFailed(err, opts, path, lines, sink.records);
  } finally {
    await fh.close();
  }
}

/** Stdin or a gzip file: decompresses when the first bytes are gzip's magic number. */
async function readStream(
  source: Readable,
  path: string,
  lines: LineBuffer,
  sink: BatchSink,
  opts: ReadZeekOptions,
): Promise<void> {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  // The magic number needs two bytes, and a stream may deliver fewer at first.
  let head = Buffer.alloc(0);
  let ended = false;
  try {
    while (head.length < 2) {
      const r = await it.next();
      if (r.done) {
        ended = true;
        break;
      }
      head = Buffer.concat([head, toBuffer(r.value)]);
    }
  } catch (err) {
    report(opts, path, undefined, `cannot read: ${describeError(err)}`);
    opts.counters.errors++;
    opts.counters.add('read_errors');
    return;
  }
  const isGzip = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
  const rest = (async function* () {
    if (head.length > 0) yield head;
    while (!ended) {
      const r = await it.next();
      if (r.done) return;
      yield toBuffer(r.value);
    }
  })();

  if (!isGzip) {
    try {
      for await (const chunk of rest) {
        lines.append(chunk, sink.records);
        await sink.drain();
      }
      lines.finish(sink.records);
    } catch (err) {
      readFailed(err, opts, path, lines, sink.records);
    }
    return;
  }

  const gunzip = createGunzip({ chunkSize: 1 << 18 });
  const compressed = Readable.from(rest, { objectMode: false });
  compressed.on('error', (err) => gunzip.destroy(err));
  compressed.pipe(gunzip);
  let decompressed = 0;
  try {
    for await (const chunk of gunzip) {
      decompressed += (chunk as Buffer).length;
      lines.append(chunk as Buffer, sink.records);
      await sink.drain();
    }
    lines.finish(sink.records);
  } catch (err) {
    compressed.destroy();
    await it.return?.();
    if (err instanceof SinkFailure) throw err;
    const dropped = lines.discard();
    report(
      opts,
      path,
      decompressed,
      `damaged gzip data (${describeError(err)}) after ${decompressed} decompressed bytes; ` +
        `records before the damage were kept${dropped > 0 ? `, the incomplete last line (${dropped} bytes) was dropped` : ''}`,
    );
    opts.counters.errors++;
    opts.counters.add('gzip_errors');
  }
}

/**
 * The reused input buffers: complete lines go to the parser, the partial line at the end is
 * moved to the front (of the other buffer, when reading ahead) and completed by the next read.
 */
class LineBuffer {
  private buf: Buffer;
  /** The second buffer of the plain-file path: filled while the other one is parsed. */
  private spare: Buffer;
  private len = 0;
  private line = 1;
  private skipping = false;
  private parser!: ZeekConnParser;
  private path = '';
  private opts!: ReadZeekOptions;

  constructor(readonly chunkSize: number) {
    this.buf = Buffer.allocUnsafe(chunkSize);
    this.spare = Buffer.allocUnsafe(chunkSize);
  }

  start(path: string, parser: ZeekConnParser, opts: ReadZeekOptions): void {
    this.len = 0;
    this.line = 1;
    this.skipping = false;
    this.path = path;
    this.parser = parser;
    this.opts = opts;
  }

  /** Where the next read may write: after the carried-over bytes, growing for long lines. */
  space(): { buffer: Buffer; offset: number; length: number } {
    if (this.buf.length - this.len < this.chunkSize / 2) this.grow();
    return { buffer: this.buf, offset: this.len, length: this.buf.length - this.len };
  }

  /** Bytes were written at offset `len` by the caller. */
  added(n: number): void {
    this.len += n;
  }

  append(chunk: Buffer, out: FlowRecord[]): void {
    let at = 0;
    while (at < chunk.length) {
      const target = this.space();
      const n = Math.min(target.length, chunk.length - at);
      chunk.copy(this.buf, this.len, at, at + n);
      at += n;
      this.len += n;
      const done = this.completeEnd();
      if (done > 0) {
        this.parse(this.buf, 0, done, out);
        const rest = this.len - done;
        if (rest > 0) this.buf.copy(this.buf, 0, done, this.len);
        this.len = rest;
      }
    }
  }

  /**
   * Where the complete lines in the buffer end (0 if there are none yet). The rest of a line
   * too long to keep is dropped here.
   */
  completeEnd(): number {
    if (this.skipping) {
      const nl = this.buf.indexOf(10);
      if (nl < 0 || nl >= this.len) {
        this.len = 0;
        return 0;
      }
      this.skipping = false;
      this.line++;
      this.buf.copy(this.buf, 0, nl + 1, this.len);
      this.len -= nl + 1;
    }
    return this.len > 0 ? this.buf.lastIndexOf(10, this.len - 1) + 1 : 0;
  }

  /**
   * Hands over the buffer holding complete lines up to `done` and continues in the spare one,
   * which gets the partial line after them.
   */
  detach(done: number): Buffer {
    const full = this.buf;
    const rest = this.len - done;
    if (this.spare.length < rest + this.chunkSize)
      this.spare = Buffer.allocUnsafe(Math.max(full.length, rest + this.chunkSize));
    full.copy(this.spare, 0, done, this.len);
    this.buf = this.spare;
    this.spare = full;
    this.len = rest;
    return full;
  }

  /** Parses the complete lines buf[from, done). */
  parse(buf: Buffer, from: number, done: number, out: FlowRecord[]): void {
    this.line += this.parser.parseLines(buf, from, done, this.line, out);
  }

  /** End of input: the last line may lack its newline. */
  finish(out: FlowRecord[]): void {
    if (this.len > 0 && !this.skipping) this.parse(this.buf, 0, this.len, out);
    this.len = 0;
  }

  /** Drops the partial line (damaged input); returns its length. */
  discard(): number {
    const n = this.len;
    this.len = 0;
    return n;
  }

  private grow(): void {
    if (this.buf.length >= MAX_LINE) {
      this.opts.counters.errors++;
      report(this.opts, this.path, undefined, `line ${this.line} is longer than ${MAX_LINE >> 20} MiB; skipped`);
      this.skipping = true;
      this.len = 0;
      return;
    }
    const bigger = Buffer.allocUnsafe(this.buf.length * 2);
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
  }
}

/** Collects records and hands them on in batches of batchSize, awaiting each. */
class BatchSink {
  records: FlowRecord[] = [];

  constructor(
    private readonly batchSize: number,
    private readonly onBatch: FlowBatchHandler,
  ) {}

  private async hand(batch: FlowRecord[]): Promise<void> {
    try {
      await this.onBatch(batch);
    } catch (err) {
      throw new SinkFailure(err);
    }
  }

  /** Hands on every full batch. */
  async drain(): Promise<void> {
    const all = this.records;
    if (all.length < this.batchSize) return;
    if (all.length === this.batchSize) {
      this.records = [];
      await this.hand(all);
      return;
    }
    let at = 0;
    while (all.length - at >= this.batchSize) {
      await this.hand(all.slice(at, at + this.batchSize));
      at += this.batchSize;
    }
    this.records = all.slice(at);
  }

  /** Hands on everything, the last batch possibly smaller. */
  async flush(): Promise<void> {
    await this.drain();
    if (this.records.length > 0) {
      const rest = this.records;
      this.records = [];
      await this.hand(rest);
    }
  }
}

function toBuffer(chunk: Buffer | string): Buffer {
  return typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
}

/** A read error: reported and counted; lines complete so far are kept. The sink's own failure is rethrown. */
function readFailed(err: unknown, opts: ReadZeekOptions, file: string, lines: LineBuffer, out: FlowRecord[]): void {
  if (err instanceof SinkFailure) throw err;
  report(opts, file, undefined, `cannot read: ${describeError(err)}`);
  opts.counters.errors++;
  opts.counters.add('read_errors');
  lines.finish(out);
}

function report(opts: ReadZeekOptions, file: string, offset: number | undefined, message: string): void {
  opts.onIssue({ component: 'zeek', file, offset, message });
}
