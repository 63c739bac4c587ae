// The `pcap` collector: capture files (read once, checkpointed per file) or a live interface.
// Live capture cannot wait for the detectors: finished flows queue up to `maxQueue` and are
// handed on in batches every 200 ms; what does not fit is dropped and counted. The capture's
// counters (packets, interface counters, Zeek-style ack/gap events: see live.ts) are in the
// `flows` component; `pcap` has the queue's received/dropped and `live_captures` (1 while open).

import fs from 'node:fs';
import path from 'node:path';
import type { IssueHandler } from '../../agent/issues.js';
import type { Counters, MetricsRegistry } from '../../agent/metrics.js';
import type { CheckpointStore } from '../../agent/state.js';
import type { Collector, RecordSink } from '../collector.js';
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

export class PcapCollector implements Collector {
  readonly name = 'pcap';
  readonly counters: Counters;
  private live?: LiveCapture;
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
      const done = this.ctx.checkpoints?.loadCheckpoint(fileKey(file)) as { size: number; mtimeMs: number } | undefined;
      if (done && done.size === st.size && done.mtimeMs === st.mtimeMs) continue;
      await readCaptureFlows(
        [file],
        { metrics: this.ctx.metrics, onIssue: this.ctx.onIssue, checksums: config.checksums, batchSize, maxFlows: config.maxFlows },
        (batch) => sink(batch),
      );
      this.ctx.checkpoints?.saveCheckpoint(fileKey(file), { size: st.size, mtimeMs: st.mtimeMs });
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

  async checkpoint(): Promise<void> {
    // Files are checkpointed when read to their end; a live capture has no position.
  }
}
