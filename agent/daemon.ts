// `vigil agent`: the long-running sensor. Starts the configured collectors into the pipeline,
// restores detector state from SQLite, and every `state.snapshotIntervalSeconds` writes the
// detector snapshots and the collectors' checkpoints in one transaction, so a restart resumes
// exactly where the saved state left off. With an `mqtt` section, findings become summaries
// (agent/summary.ts) written to the durable outbox (agent/outbox.ts) in the same place they were
// written before, i.e. before the checkpoint moves past their records, and the publisher
// (agent/mqtt.ts) sends them; without it they go to a JSON-lines sink. Finding ids are stable,
// so a finding re-emitted after a crash can be recognised downstream.

import type { Writable } from 'node:stream';
import type { Collector } from '../collectors/collector.js';
import { PcapCollector } from '../collectors/pcap/collector.js';
import type { PcapCollectorConfig } from '../collectors/pcap/config.js';
import { ZeekCollector } from '../collectors/zeek/collector.js';
import type { Detector, Finding } from '../detectors/detector.js';
import { type Clock, systemClock } from './clock.js';
import type { ResolvedConfig } from './config.js';
import { createDetectors } from './detectors.js';
import { findingToJson } from './findingformat.js';
import type { IssueHandler } from './issues.js';
import { MetricsRegistry } from './metrics.js';
import { Publisher } from './mqtt.js';
import { Outbox } from './outbox.js';
import { Pipeline } from './pipeline.js';
import { StateStore } from './state.js';
import { Summarizer } from './summary.js';
import { Tuning } from './tuning.js';
import { packageInfo } from './version.js';
import { topics } from './wire.js';

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
  private collector?: Collector;
  private pipeline?: Pipeline;
  private timer?: NodeJS.Timeout;
  private readonly abort = new AbortController();
  /** True while a batch is inside the pipeline: detectors have seen more than is checkpointed. */
  private busy = false;
  private saveDue = false;
  private summarizer?: Summarizer;
  private outbox?: Outbox;
  private publisher?: Publisher;

  /** Does nothing but remember its context; `run()` does the work. */
  constructor(private readonly ctx: AgentContext) {
    this.metrics = ctx.metrics ?? new MetricsRegistry();
  }

  /** Runs until the input ends (files only) or `stop()` is called. */
  async run(): Promise<void> {
    const { config } = this.ctx.resolved;
    const clock = this.ctx.clock ?? systemClock;
    if (!config.collectors.zeek && !config.collectors.pcap) {
      throw new Error('no collector is configured: set collectors.zeek or collectors.pcap (see systemd/agent.example.yaml)');
    }
    if (config.collectors.zeek && config.collectors.pcap) {
      throw new Error('collectors.zeek and collectors.pcap are both set: one input per agent (run a second agent for the other)');
    }
    this.state = StateStore.open(config.state.path, { nowMs: () => clock.now() });
    const { detectors, segments } = createDetectors(this.ctx.resolved, this.metrics);
    this.detectors = detectors;
    for (const d of detectors) {
      const snap = this.state.loadSnapshot(d.name);
      if (snap) d.restore(snap.state);
    }
    if (config.mqtt) {
      const m = config.mqtt;
      const pipelineRef = () => this.pipeline;
      this.summarizer = new Summarizer({
        site: config.sensor.site,
        sensor: config.sensor.name,
        suppressRepeatsSeconds: m.suppressRepeatsSeconds,
        counters: this.metrics.counters('summarizer'),
        nowMs: () => clock.now(),
      });
      this.outbox = new Outbox(this.state, m.outbox.maxRows, () => clock.now());
      const tuning = new Tuning({
        resolved: this.ctx.resolved,
        segments,
        summarizer: this.summarizer,
        state: this.state,
        site: config.sensor.site,
        sensor: config.sensor.name,
        counters: this.metrics.counters('tuning'),
        log: this.ctx.log,
        nowMs: () => clock.now(),
      });
      // Tuning applied by a previous run is in force before the first record is read.
      tuning.restore();
      const publisher = new Publisher({
        config: m,
        site: config.sensor.site,
        sensor: config.sensor.name,
        outbox: this.outbox,
        metrics: this.metrics,
        version: packageInfo().version,
        collectors: ['zeek'],
        lagSeconds: () => {
          const w = pipelineRef()?.watermark;
          return w === undefined || !Number.isFinite(w) ? null : clock.now() / 1000 - w;
        },
        log: this.ctx.log,
        nowMs: () => clock.now(),
        configVersions: () => tuning.versions(),
        // Subscribing here, not once at start: MQTT.js does not queue subscriptions while offline.
        onConnect: (client) => {
          client.subscribe(tuning.topics(), { qos: 1 }, (err) => {
            if (err) this.ctx.log(`vigil agent: could not subscribe to segment configuration: ${err.message}`);
          });
        },
        onMessage: (topic, payload) => {
          const ack = tuning.handleMessage(topic, payload);
          if (!ack) return;
          publisher.safePublish(topics.configApplied(config.sensor.site, config.sensor.name), JSON.stringify(ack), false);
          // The retained status carries the versions in force.
          if (ack.status === 'applied') publisher.announce();
        },
      });
      this.publisher = publisher;
      // Rows left by a previous run are published as soon as the broker accepts us.
      try {
        publisher.start();
      } catch (err) {
        // Unreadable TLS files: nothing has run yet; release the state file for the next start.
        this.state.close();
        throw err;
      }
    }
    this.pipeline = new Pipeline({
      detectors,
      metrics: this.metrics,
      onFindings: (findings) => this.emit(findings),
    });
    this.collector = config.collectors.zeek
      ? new ZeekCollector({
          config: config.collectors.zeek,
          checkpoints: this.state,
          metrics: this.metrics,
          onIssue: this.ctx.onIssue,
          clock,
        })
      : new PcapCollector({
          config: config.collectors.pcap as PcapCollectorConfig,
          checkpoints: this.state,
          metrics: this.metrics,
          onIssue: this.ctx.onIssue,
          batchSize: config.pipeline.batchSize,
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
      // Input ended (files, no tail): deliver what is queued before exiting; what is left
      // stays in the outbox for the next run.
      if (this.publisher && !this.abort.signal.aborted) {
        const left = await this.publisher.drain((config.mqtt?.drainOnExitSeconds ?? 0) * 1000);
        if (left > 0) this.ctx.log(`vigil agent: ${left} summaries still in the outbox; they are sent on the next run`);
      }
      // Acknowledgements delete outbox rows, so the publisher stops before the state closes.
      await this.publisher?.stop();
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
    if (this.summarizer && this.outbox) {
      const summaries = [];
      for (const f of findings) {
        const s = this.summarizer.summarize(f);
        if (s) summaries.push(s);
      }
      const dropped = this.outbox.add(summaries);
      if (dropped > 0) this.metrics.counters('outbox').dropped += dropped;
      this.publisher?.notify();
      return;
    }
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
