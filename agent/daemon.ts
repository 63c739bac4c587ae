// `vigil agent`: the long-running sensor. Starts the configured collectors into the pipeline,
// restores detector state from SQLite, and every `state.snapshotIntervalSeconds` writes the
// detector snapshots and the collectors' checkpoints in one transaction, so a restart resumes
// exactly where the saved state left off. Findings go to a JSON-lines sink (MQTT comes later);
// their ids are stable, so a finding re-emitted after a crash can be recognised downstream.

import type { Writable } from 'node:stream';
import { ZeekCollector } from '../collectors/zeek/collector.js';
import type { Detector, Finding } from '../detectors/detector.js';
import { type Clock, systemClock } from './clock.js';
import type { ResolvedConfig } from './config.js';
import { createDetectors } from './detectors.js';
import { findingToJson } from './findingformat.js';
import type { IssueHandler } from './issues.js';
import { MetricsRegistry } from './metrics.js';
import { Pipeline } from './pipeline.js';
import { StateStore } from './state.js';

export interface AgentContext {
  resolved: ResolvedConfig;
  /** Where findings are written, one JSON object per line. */
  findingsOut: Writable;
  onIssue: IssueHandler;
  /** Operational messages (started, snapshot written, stopping). */
  log: (line: string) => void;
  clock?: Clock;
  metrics?: MetricsRegistry;
}

export class Agent {
  readonly metrics: MetricsRegistry;
  private state?: StateStore;
  private detectors: Detector[] = [];
  private collector?: ZeekCollector;
  private pipeline?: Pipeline;
  private timer?: NodeJS.Timeout;
  private readonly abort = new AbortController();
  /** True while a batch is inside the pipeline: detectors have seen more than is checkpointed. */
  private busy = false;
  private saveDue = false;

  /** Does nothing but remember its context; `run()` does the work. */
  constructor(private readonly ctx: AgentContext) {
    this.metrics = ctx.metrics ?? new MetricsRegistry();
  }

  /** Runs until the input ends (files only) or `stop()` is called. */
  async run(): Promise<void> {
    const { config } = this.ctx.resolved;
    const clock = this.ctx.clock ?? systemClock;
    if (!config.collectors.zeek) {
      throw new Error('no collector is configured: set collectors.zeek (see systemd/agent.example.yaml)');
    }
    this.state = StateStore.open(config.state.path, { nowMs: () => clock.now() });
    const { detectors } = createDetectors(this.ctx.resolved, this.metrics);
    this.detectors = detectors;
    for (const d of detectors) {
      const snap = this.state.loadSnapshot(d.name);
      if (snap) d.restore(snap.state);
    }
    this.pipeline = new Pipeline({
      detectors,
      metrics: this.metrics,
      onFindings: (findings) => this.emit(findings),
    });
    this.collector = new ZeekCollector({
      config: config.collectors.zeek,
      checkpoints: this.state,
      metrics: this.metrics,
      onIssue: this.ctx.onIssue,
      clock,
    });
    const sink = async (batch: Parameters<Pipeline['sink']>[0]) => {
      if (this.saveDue) this.saveState();
      this.busy = true;
      try {
        await (this.pipeline as Pipeline).sink(batch);
      } finally {
        this.busy = false;
      }
    };
    // A save waits for the batch in flight: the collector advances its checkpoint only after
    // the sink resolves, and the snapshot must describe exactly the same records.
    this.timer = setInterval(() => {
      if (this.busy) this.saveDue = true;
      else this.saveState();
    }, config.state.snapshotIntervalSeconds * 1000);
    this.timer.unref();
    this.ctx.log(`vigil agent ${config.sensor.site}/${config.sensor.name}: started (state ${config.state.path})`);
    try {
      await this.collector.start(sink, this.abort.signal);
      // Input ended (no tailing configured): close every window, then save.
      if (!this.abort.signal.aborted) await this.pipeline.finish();
    } finally {
      clearInterval(this.timer);
      this.saveState();
      this.state.close();
      this.ctx.log(`vigil agent: stopped; counters ${JSON.stringify(this.metrics.snapshot())}`);
    }
  }

  /** Stops the collectors; `run()` resolves once the final state is written. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.collector?.stop();
  }

  private async emit(findings: Finding[]): Promise<void> {
    for (const f of findings) {
      if (!this.ctx.findingsOut.write(`${findingToJson(f)}\n`)) {
        await new Promise<void>((resolve) => this.ctx.findingsOut.once('drain', () => resolve()));
      }
    }
  }

  /** Snapshots and checkpoints move together: both describe the same point in the input. */
  private saveState(): void {
    const state = this.state;
    const pipeline = this.pipeline;
    if (!state || !pipeline) return;
    this.saveDue = false;
    try {
      state.transaction(() => {
        for (const d of this.detectors) {
          state.saveSnapshot(d.name, { schemaVersion: 1, eventTime: pipeline.watermark, state: d.snapshot() });
        }
        this.collector?.saveCheckpointSync();
      });
    } catch (err) {
      this.metrics.counters('state').errors++;
      this.ctx.log(`vigil agent: could not save state: ${(err as Error).message}`);
    }
  }
}
