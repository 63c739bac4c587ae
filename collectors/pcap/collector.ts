// The `pcap` collector: capture files (read once; the position is the number of connections
// handed on, so an interrupted file resumes without repeating any) or a live interface.
// Live capture cannot wait for the detectors: finished flows queue up to `maxQueue` and are
// handed on in batches every 200 ms; what does not fit is dropped and counted. The capture's
// counters (packets, interface counters, Zeek-style ack/gap events: see live.ts) are in the
// `flows` component; `pcap` has the queue's received/dropped and `live_captures` (1 while open).

import fs from 'node:fs';
import path from 'node:path';
import type { IssueHandler } from '../../agent/issues.js';
import type { Counters, MetricsRegistry } from '../../agent/metrics.js';
import type { CheckpointStore } from '../../agent/state.js';
import { AcceptedPositions, type Collector, type RecordSink } from '../collector.js';
import type { FlowRecord } from '../record.js';
import type { PcapCollectorConfig } from './config.js';
import { LiveCapture } from './live.js';
import { readCaptureFlows } from './read.js';

export interface PcapCollectorContext {
  config: PcapCollectorConfig;
  checkpoints?: CheckpointStore;
  metrics: MetricsRegistry;
  onIssue: IssueHandler;
  batchSize?: number;
}

const fileKey = (p: string) => `pcap:file:${path.resolve(p)}`;

/** Position in one capture file: its identity, connections handed on, and whether it is done. */
interface FileCheckpoint {
  size: number;
  mtimeMs: number;
  delivered?: number;
  done?: boolean;
  /** The flow-table settings the file was read with: another setting may give other connections. */
  settings?: string;
}

export class PcapCollector implements Collector {
  readonly name = 'pcap';
  readonly counters: Counters;
  private live?: LiveCapture;
  /** Positions accepted by the sink (per file: a FileCheckpoint), written by saveCheckpointSync. */
  private readonly accepted = new AcceptedPositions();
  private stopper?: AbortController;

  constructor(private readonly ctx: PcapCollectorContext) {
    this.counters = ctx.metrics.counters('pcap');
  }

  async start(sink: RecordSink, signal: AbortSignal): Promise<void> {
    const { config } = this.ctx;
    const batchSize = this.ctx.batchSize ?? 4096;
    for (const file of config.files) {
      if (signal.aborted) return;
      let st: fs.Stats;
      try {
        st = fs.statSync(file);
      } catch (err) {
        this.ctx.onIssue({ component: 'pcap', file, message: `cannot read: ${(err as Error).message}` });
        continue;
      }
      const key = fileKey(file);
      const saved = this.ctx.checkpoints?.loadCheckpoint(key) as FileCheckpoint | undefined;
      const same = saved !== undefined && saved.size === st.size && saved.mtimeMs === st.mtimeMs;
      // Checkpoints written before `delivered` existed meant "read to the end".
      if (same && (saved.done ?? true)) continue;
      // A file interrupted half-way is read again from its start (the flow table must see every
      // packet), and the connections the detectors already had are skipped: for the same file the
      // flow table hands on the same connections in the same order.
      const settings = `checksums=${config.checksums} maxFlows=${config.maxFlows}`;
      let skip = same && saved.settings === settings ? (saved.delivered ?? 0) : 0;
      if (same && saved.settings !== settings && (saved.delivered ?? 0) > 0) {
        this.ctx.onIssue({
          component: 'pcap',
          file,
          message: `flow settings changed since this file was partly read (${saved.settings} -> ${settings}): reading it again from the start; its first ${saved.delivered} connection(s) reach the detectors again`,
        });
      }
      const position: Required<FileCheckpoint> = { size: st.size, mtimeMs: st.mtimeMs, delivered: 0, done: false, settings };
      await readCaptureFlows(
        [file],
        {
          metrics: this.ctx.metrics,
          onIssue: this.ctx.onIssue,
          checksums: config.checksums,
          batchSize,
          maxFlows: config.maxFlows,
          signal,
        },
        async (batch) => {
          let b = batch;
          if (skip > 0) {
            const n = Math.min(skip, b.length);
            b = b.slice(n);
            skip -= n;
            this.counters.add('resumed_skipped', n);
          }
          if (b.length > 0) await sink(b);
          position.delivered += batch.length;
          this.accepted.set(key, { ...position });
        },
      );
      if (signal.aborted) return;
      this.accepted.set(key, { ...position, done: true });
    }
    if (config.interface === undefined || signal.aborted) return;
    await this.runLive(config, sink, signal, batchSize);
  }

  private async runLive(config: PcapCollectorConfig, sink: RecordSink, signal: AbortSignal, batchSize: number): Promise<void> {
    let queue: FlowRecord[] = [];
    const flows = this.ctx.metrics.counters('flows');
    const live = new LiveCapture({
      interface: config.interface as string,
      filter: config.filter,
      bufferBytes: config.bufferMiB * 1024 * 1024,
      checksums: config.checksums,
      maxFlows: config.maxFlows,
      interimSeconds: config.interimSeconds,
      counters: flows,
      onIssue: this.ctx.onIssue,
      onFlow: (f) => {
        if (queue.length >= config.maxQueue) {
          this.counters.dropped++;
          return;
        }
        queue.push(f);
      },
    });
    this.live = live;
    live.start(); // throws LiveCaptureError (missing interface, no permission): the agent reports it
    // 1 while the capture is open (health and `vigil bench live` read it to know capture has begun).
    this.counters.add('live_captures', 1);
    const stopper = new AbortController();
    this.stopper = stopper;
    const stopped = new Promise<void>((resolve) => {
      const done = () => resolve();
      signal.addEventListener('abort', done, { once: true });
      stopper.signal.addEventListener('abort', done, { once: true });
    });
    const deliver = async () => {
      while (queue.length > 0) {
        // Take the whole queue; the capture callback fills a fresh one meanwhile.
        const taken = queue;
        queue = [];
        for (let i = 0; i < taken.length; i += batchSize) {
          const batch = taken.slice(i, i + batchSize);
          this.counters.received += batch.length;
          await sink(batch);
        }
      }
    };
    try {
      while (!signal.aborted && !stopper.signal.aborted) {
        await Promise.race([stopped, new Promise((r) => setTimeout(r, 200).unref())]);
        await deliver();
      }
    } finally {
      live.stop(); // reports every open flow
      this.counters.add('live_captures', -1);
      await deliver();
    }
  }

  async stop(): Promise<void> {
    this.stopper?.abort();
  }

  /**
   * See Collector.saveCheckpointSync: how far each capture file has been handed on (connections
   * accepted by the sink, and whether the file was read to its end). A live capture has no position.
   */
  saveCheckpointSync(): void {
    this.accepted.saveTo(this.ctx.checkpoints);
  }
}
