// Capture files → flow records: the streaming reader, the allocation-free decoder and the flow
// table, per file (a file is one trace, as for `zeek -r`). Finished flows are handed on in batches
// while the file is read (between reads, once a batch is full), and the rest at its end, so memory
// is bounded by the flow table's size and one batch, whatever the size of the capture.

import fs from 'node:fs';
import { Readable } from 'node:stream';
import type { IssueHandler } from '../../agent/issues.js';
import type { MetricsRegistry } from '../../agent/metrics.js';
import type { FlowRecord } from '../record.js';
import { createDecodeResult, decodePacket } from './decode.js';
import { FlowTable } from './flowtable.js';
import { readCapture } from './reader.js';

export interface ReadCaptureFlowsOptions {
  metrics: MetricsRegistry;
  onIssue: IssueHandler;
  checksums: 'verify' | 'ignore';
  batchSize?: number;
  maxFlows?: number;
  stdin?: NodeJS.ReadableStream;
  /**
   * Stops between reads when aborted: the file's open connections are then NOT reported (they
   * would be cut short), so what was handed on is a prefix of what a whole read hands on.
   */
  signal?: AbortSignal;
}

const PCAP_MAGICS = new Set([0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0x0a0d0d0a]);

/**
 * Looks at the first bytes of a stream (standard input) without losing them: whether it holds a
 * capture, and a stream that yields everything from the first byte again.
 */
export async function peekCapture(stream: NodeJS.ReadableStream): Promise<{ capture: boolean; stream: Readable }> {
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  let head = Buffer.alloc(0);
  let ended = false;
  while (head.length < 4) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    head = Buffer.concat([head, typeof r.value === 'string' ? Buffer.from(r.value) : r.value]);
  }
  const capture = head.length >= 4 && PCAP_MAGICS.has(head.readUInt32BE(0));
  const again = Readable.from(
    (async function* () {
      if (head.length > 0) yield head;
      while (!ended) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    })(),
    { objectMode: false },
  );
  return { capture, stream: again };
}

/** True when the file starts with a classic pcap or pcapng magic number. */
export function isCaptureFile(path: string): boolean {
  if (path === '-') return false;
  let fd: number | undefined;
  try {
    fd = fs.openSync(path, 'r');
    const b = Buffer.alloc(4);
    if (fs.readSync(fd, b, 0, 4, 0) < 4) return false;
    return PCAP_MAGICS.has(b.readUInt32BE(0));
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

export async function readCaptureFlows(
  paths: readonly string[],
  opts: ReadCaptureFlowsOptions,
  onBatch: (batch: FlowRecord[]) => Promise<void> | void,
): Promise<void> {
  const batchSize = Math.max(1, opts.batchSize ?? 8192);
  const decoded = createDecodeResult();
  const pcapCounters = opts.metrics.counters('pcap');
  const flowCounters = opts.metrics.counters('flows');
  for (const path of paths) {
    let flows: FlowRecord[] = [];
    // Hands on full batches (all: also the last, partial one).
    const handOn = async (all: boolean): Promise<void> => {
      while ((flows.length >= batchSize || (all && flows.length > 0)) && !opts.signal?.aborted) {
        let batch: FlowRecord[];
        if (flows.length > batchSize) batch = flows.splice(0, batchSize);
        else {
          batch = flows;
          flows = [];
        }
        await onBatch(batch);
      }
    };
    const table = new FlowTable({
      checksums: opts.checksums,
      counters: flowCounters,
      onFlow: (f) => flows.push(f),
      maxFlows: opts.maxFlows,
    });
    let nextSweep = Number.NEGATIVE_INFINITY;
    // Big reads: fewer awaits per megabyte (the reader is otherwise idle between them).
    const readOpts = {
      counters: pcapCounters,
      onIssue: opts.onIssue,
      stdin: opts.stdin,
      chunkSize: 8 << 20,
      beforeRead: () => handOn(false),
      signal: opts.signal,
    };
    await readCapture(path, readOpts, (p) => {
      // Timeouts advance with packet time, once per second of it.
      if (p.ts >= nextSweep) {
        table.advance(p.ts);
        nextSweep = p.ts + 1;
      }
      decodePacket(decoded, p.linkType, p.data, p.offset, p.caplen, p.origLen);
      table.packet(p.ts, decoded);
    });
    if (opts.signal?.aborted) return;
    table.finish();
    await handOn(true);
  }
}
