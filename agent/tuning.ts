// Live segment tuning (DESIGN §2, §5): the hub publishes a retained, versioned configuration
// per segment on `vigil/v1/config/<segment>`. The agent validates it (wire schema, then the
// detector overrides merged over its own settings with the same rules as the config file),
// applies it without a restart (detector settings, summarizer mode/tiers/suppressions),
// persists it in SQLite so a restart keeps it, and answers on `…/config/applied`. A refused
// configuration leaves the previous one in force; an older or equal version is ignored.

import type Database from 'better-sqlite3';
import { type DetectorsConfig, formatProblem, mergeSegmentDetectors, type ResolvedConfig } from './config.js';
import type { Counters } from './metrics.js';
import { DEFAULT_SEGMENT, type SegmentMap } from './segments.js';
import type { StateStore } from './state.js';
import type { Summarizer } from './summary.js';
import { type ConfigApplied, type SegmentConfig, WIRE_VERSION, segmentConfigSchema, topics } from './wire.js';

export interface TuningOptions {
  resolved: ResolvedConfig;
  segments: SegmentMap;
  summarizer: Summarizer;
  state: StateStore;
  site: string;
  sensor: string;
  counters: Counters;
  log: (line: string) => void;
  nowMs?: () => number;
}

export type TuningResult =
  | { status: 'applied'; version: number }
  | { status: 'rejected'; version: number; reason: string }
  | { status: 'ignored'; reason: string };

export class Tuning {
  private readonly db: Database.Database;
  private readonly versionsNow = new Map<string, number>();
  private readonly nowMs: () => number;

  constructor(private readonly opts: TuningOptions) {
    this.db = opts.state.database;
    this.nowMs = opts.nowMs ?? Date.now;
  }

  /** The segments this sensor listens for: its configured ones plus `default`. */
  get segmentNames(): string[] {
    return [...new Set([...this.opts.resolved.segmentDetectors.keys(), DEFAULT_SEGMENT])].sort();
  }

  /** Segment → version in force (for the birth status). */
  versions(): Record<string, number> {
    return Object.fromEntries(this.versionsNow);
  }

  /** Applies what was persisted by a previous run; a row that no longer validates is logged and skipped. */
  restore(): void {
    const rows = this.db.prepare('SELECT segment, config FROM segment_configs').all() as {
      segment: string;
      config: string;
    }[];
    for (const row of rows) {
      const result = this.consider(row.segment, JSON.parse(row.config) as unknown, false);
      if (result.status !== 'applied') {
        this.opts.log(
          `vigil agent: stored configuration of segment ${row.segment} not applied: ${'reason' in result ? result.reason : ''}`,
        );
      }
    }
  }

  /** Topics to subscribe to (in the MQTT connect handler). */
  topics(): string[] {
    return this.segmentNames.map((s) => topics.config(s));
  }

  /**
   * A message on a config topic. Returns the acknowledgement to publish (undefined when the
   * message is ignored: not ours, empty, or not newer than the version in force).
   */
  handleMessage(topic: string, payload: Buffer): ConfigApplied | undefined {
    const segment = topic.split('/').at(-1) ?? '';
    if (!this.segmentNames.includes(segment) || topic !== topics.config(segment)) return undefined;
    // An empty retained message clears the topic; the configuration in force stays.
    if (payload.length === 0) return undefined;
    let raw: unknown;
    try {
      raw = JSON.parse(payload.toString('utf8'));
    } catch (err) {
      return this.ack(segment, versionOf(undefined), `payload is not JSON: ${(err as Error).message}`);
    }
    const result = this.consider(segment, raw, true);
    if (result.status === 'ignored') return undefined;
    return this.ack(segment, result.version, result.status === 'rejected' ? result.reason : undefined);
  }

  private ack(segment: string, version: number, reason?: string): ConfigApplied {
    if (reason !== undefined) {
      this.opts.counters.add('config_rejected');
      this.opts.log(`vigil agent: configuration ${version} of segment ${segment} refused: ${reason}`);
    } else {
      this.opts.counters.add('config_applied');
      this.opts.log(`vigil agent: configuration ${version} of segment ${segment} applied`);
    }
    return {
      v: WIRE_VERSION,
      site: this.opts.site,
      sensor: this.opts.sensor,
      segment,
      version,
      status: reason === undefined ? 'applied' : 'rejected',
      ...(reason === undefined ? {} : { reason: reason.slice(0, 4096) }),
      at: this.nowMs(),
    };
  }

  /** Validates and (when valid and newer) applies a configuration for `segment`. */
  consider(segment: string, raw: unknown, persist: boolean): TuningResult {
    const parsed = segmentConfigSchema.safeParse(raw);
    const version = versionOf(raw);
    if (!parsed.success) {
      const reason = parsed.error.issues
        .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(message)'}: ${i.message}`)
        .join('; ');
      return { status: 'rejected', version, reason };
    }
    const cfg = parsed.data;
    const current = this.versionsNow.get(segment);
    if (current !== undefined && cfg.version <= current) {
      return { status: 'ignored', reason: `version ${cfg.version} is not newer than ${current}` };
    }
    const problems: string[] = [];
    if (cfg.segment !== segment) problems.push(`segment: is ${cfg.segment} but the topic is for ${segment}`);
    if (cfg.tiers.low > cfg.tiers.high) problems.push('tiers.low: must be <= tiers.high');
    // The segment's settings from the agent's own file are the base the hub's overrides refine.
    const base = this.opts.resolved.segmentDetectors.get(segment) ?? this.opts.resolved.config.detectors;
    const merged = mergeSegmentDetectors(base, cfg.detectors, ['detectors']);
    problems.push(...merged.problems.map(formatProblem));
    if (problems.length > 0 || !merged.detectors) {
      return { status: 'rejected', version: cfg.version, reason: problems.join('; ') };
    }
    this.apply(segment, cfg, merged.detectors);
    if (persist) {
      this.db
        .prepare(
          'INSERT INTO segment_configs (segment, version, config, applied_ms) VALUES (?, ?, ?, ?) ' +
            'ON CONFLICT(segment) DO UPDATE SET version = excluded.version, config = excluded.config, applied_ms = excluded.applied_ms',
        )
        .run(segment, cfg.version, JSON.stringify(cfg), this.nowMs());
    }
    return { status: 'applied', version: cfg.version };
  }

  private apply(segment: string, cfg: SegmentConfig, detectors: DetectorsConfig): void {
    const map = new Map<string, DetectorsConfig>();
    for (const name of this.opts.segments.names) map.set(name, this.opts.segments.detectorsFor(name));
    map.set(segment, detectors);
    this.opts.segments.setDetectors(map);
    this.opts.summarizer.setPolicy(segment, { mode: cfg.mode, tiers: cfg.tiers, suppressions: cfg.suppressions });
    this.versionsNow.set(segment, cfg.version);
  }
}

/** The version a (possibly invalid) message claims, for the acknowledgement; 0 when it has none. */
function versionOf(raw: unknown): number {
  const v = (raw as { version?: unknown } | null | undefined)?.version;
  return typeof v === 'number' && Number.isInteger(v) ? v : 0;
}
