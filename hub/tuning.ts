// Segment tuning: edits a segment's configuration, gives it the next version and publishes it
// retained on `vigil/v1/config/<segment>`, where every sensor of the segment picks it up.

import { type SegmentConfig, segmentConfigSchema, type Suppression, topics, TOPIC_LEVEL } from '../agent/wire.js';
import type { HubStore } from './store.js';

/** An edit that cannot be applied: `field` names what was wrong (e.g. `set.tiers.low`). */
export class TuningError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** Publishes retained at QoS 1 and resolves once the broker has it. */
export type RetainedPublisher = (topic: string, payload: string) => Promise<void>;

export interface TunerContext {
  store: HubStore;
  publish: RetainedPublisher;
  now: () => number;
}

/** Top-level keys an edit may touch; v, segment and version belong to the hub. */
const EDITABLE_ROOTS = new Set(['mode', 'tiers', 'detectors', 'suppressions']);
const FORBIDDEN_KEYS = new Set(['__proto__', 'prototype', 'constructor']);

/** Sets `value` at a dotted path (`detectors.baseline.zThreshold`) in a copy of `config`. */
export function setPath(config: SegmentConfig, path: string, value: unknown, field = path): SegmentConfig {
  const keys = path.split('.');
  if (keys.some((k) => k.length === 0 || FORBIDDEN_KEYS.has(k))) throw new TuningError(field, 'is not a valid path');
  if (!EDITABLE_ROOTS.has(keys[0])) {
    throw new TuningError(field, `cannot be set; editable keys start with ${[...EDITABLE_ROOTS].join(', ')}`);
  }
  const copy = structuredClone(config) as Record<string, unknown>;
  let node: Record<string, unknown> = copy;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (next === undefined) node[key] = {};
    else if (typeof next !== 'object' || next === null || Array.isArray(next)) {
      throw new TuningError(field, `"${key}" is not an object, so nothing can be set inside it`);
    }
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]] = value;
  return copy as SegmentConfig;
}

export class SegmentTuner {
  // Edits run one after another so two concurrent ones never get the same version.
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly ctx: TunerContext) {}

  /** The configuration in force for a segment (version 0 if the hub never published one). */
  current(segment: string): SegmentConfig {
    const stored = this.ctx.store.latestSegmentConfig(segment);
    if (stored) return stored;
    // Schema defaults (alert mode, default tiers, no overrides) at version 0: the first edit is 1.
    return { ...segmentConfigSchema.parse({ v: 1, segment, version: 1 }), version: 0 };
  }

  /** Applies `edit`, checks the result against the wire schema, publishes the next version. */
  update(segment: string, edit: (config: SegmentConfig) => SegmentConfig): Promise<SegmentConfig> {
    const run = async () => {
      if (!TOPIC_LEVEL.test(segment)) throw new TuningError('segment', 'must be 1–64 letters, digits, _ or -');
      const base = this.current(segment);
      const now = this.ctx.now();
      const edited = { ...edit(base), v: 1, segment, version: base.version + 1, publishedAt: now };
      const checked = segmentConfigSchema.safeParse(edited);
      if (!checked.success) {
        const issue = checked.error.issues[0];
        throw new TuningError(issue.path.join('.') || 'config', issue.message);
      }
      await this.ctx.publish(topics.config(segment), JSON.stringify(checked.data));
      this.ctx.store.recordSegmentConfig(checked.data, now);
      return checked.data;
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Sets several dotted paths at once (one new version). */
  set(segment: string, values: Record<string, unknown>): Promise<SegmentConfig> {
    return this.update(segment, (config) =>
      Object.entries(values).reduce((c, [path, value]) => setPath(c, path, value, `set.${path}`), config),
    );
  }

  /** Adds a suppression rule unless an identical one is already there. */
  addSuppression(segment: string, rule: Suppression): Promise<SegmentConfig> {
    return this.update(segment, (config) => {
      const same = (r: Suppression) => r.detector === rule.detector && r.type === rule.type && r.entity === rule.entity;
      if (config.suppressions.some(same)) return config;
      return { ...config, suppressions: [...config.suppressions, rule] };
    });
  }
}
