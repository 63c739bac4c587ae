// The collector contract: where records come from. A collector pushes *batches* into a sink
// and awaits the sink's promise before reading more: that await is the backpressure. File and
// tail collectors block on it; live capture cannot, so it counts what it had to drop.

import type { Counters } from '../agent/metrics.js';
import type { CheckpointStore } from '../agent/state.js';
import type { VigilRecord } from './record.js';

/** Takes one batch; resolves when the batch has been processed (or durably queued). */
export type RecordSink = (batch: VigilRecord[]) => Promise<void>;

export interface Collector {
  /** Name used in counters, logs and checkpoints (`zeek`, `pcap:eth0`, ...). */
  readonly name: string;
  readonly counters: Counters;
  /**
   * Starts reading and resolves when the input is exhausted (file mode) or when `signal`
   * aborts (tail/live mode). Rejects only for errors that make going on impossible; bad input
   * is reported, counted and skipped.
   */
  start(sink: RecordSink, signal: AbortSignal): Promise<void>;
  /** Asks the collector to stop; resolves when in-flight work is done. */
  stop(): Promise<void>;
  /**
   * Writes, synchronously, the position up to which every record has been accepted by the sink
   * (every batch whose sink promise has resolved), so that a restart resumes with no record lost
   * and none read twice. The agent calls it between batches inside the transaction that saves the
   * detectors' snapshots, `state.transaction(() => { snapshots(); collector.saveCheckpointSync(); })`,
   * so records and positions commit together.
   */
  saveCheckpointSync(): void;
}

/** Per checkpoint key, the saved form of what the sink has accepted of that input. */
export class AcceptedPositions {
  private readonly positions = new Map<string, unknown>();

  set(key: string, value: unknown): void {
    this.positions.set(key, value);
  }

  /** Writes every accepted position (nothing without a store). */
  saveTo(store: CheckpointStore | undefined): void {
    if (!store) return;
    for (const [key, value] of this.positions) store.saveCheckpoint(key, value);
  }
}
