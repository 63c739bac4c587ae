// The wire contract between sensors and the hub (DESIGN §5): MQTT topics, the anomaly summary,
// sensor status and health, segment configuration pushed by the hub, and the sensor's answer.
// The hub imports this module and nothing else from the sensor side.

import { z } from 'zod';
import { ULID_PATTERN } from './ulid.js';

export const WIRE_VERSION = 1;

/** Names used as topic levels: no MQTT wildcards or separators. */
export const TOPIC_LEVEL = /^[A-Za-z0-9_-]{1,64}$/;

export const TIERS = ['info', 'low', 'high'] as const;
export type Tier = (typeof TIERS)[number];

export const MODES = ['alert', 'audit'] as const;
export type Mode = (typeof MODES)[number];

export const topics = {
  status: (site: string, sensor: string) => `vigil/v1/${site}/${sensor}/status`,
  health: (site: string, sensor: string) => `vigil/v1/${site}/${sensor}/health`,
  anomaly: (site: string, sensor: string, tier: Tier) => `vigil/v1/${site}/${sensor}/anomaly/${tier}`,
  config: (segment: string) => `vigil/v1/config/${segment}`,
  configApplied: (site: string, sensor: string) => `vigil/v1/${site}/${sensor}/config/applied`,
  /** The hub's end-to-end acknowledgement of stored summaries, to the sensor that sent them. */
  ack: (site: string, sensor: string) => `vigil/v1/${site}/${sensor}/ack`,
  /** What a hub subscribes to for summaries; `$share/<group>/…` splits them between hubs. */
  anomalySubscription: (group?: string) =>
    group ? `$share/${group}/vigil/v1/+/+/anomaly/#` : 'vigil/v1/+/+/anomaly/#',
  /** Status, health and config acknowledgements: every hub needs all of them (not shared). */
  sensorSubscriptions: () => ['vigil/v1/+/+/status', 'vigil/v1/+/+/health', 'vigil/v1/+/+/config/applied'],
};

/** Splits `vigil/v1/<site>/<sensor>/<kind>[/<tier>]`; undefined for anything else. */
export function parseSensorTopic(
  topic: string,
): { site: string; sensor: string; kind: 'status' | 'health' | 'anomaly' | 'config/applied'; tier?: Tier } | undefined {
  const parts = topic.split('/');
  if (parts.length < 5 || parts[0] !== 'vigil' || parts[1] !== 'v1' || parts[2] === 'config') return undefined;
  const [, , site, sensor, kind, extra] = parts;
  if (!TOPIC_LEVEL.test(site) || !TOPIC_LEVEL.test(sensor)) return undefined;
  if (parts.length === 5 && (kind === 'status' || kind === 'health')) return { site, sensor, kind };
  if (parts.length === 6 && kind === 'anomaly' && (TIERS as readonly string[]).includes(extra)) {
    return { site, sensor, kind, tier: extra as Tier };
  }
  if (parts.length === 6 && kind === 'config' && extra === 'applied') return { site, sensor, kind: 'config/applied' };
  return undefined;
}

/** Largest summary accepted on the wire (bytes of JSON); the summarizer trims evidence to fit. */
export const MAX_SUMMARY_BYTES = 4096;
/** Largest MQTT payload the hub accepts on any topic (a batch of summaries). */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;

export const summarySchema = z.strictObject({
  v: z.literal(WIRE_VERSION),
  /** Unique id of this summary (ULID); the hub de-duplicates on it. */
  id: z.string().regex(ULID_PATTERN, 'must be a ULID'),
  site: z.string().regex(TOPIC_LEVEL),
  sensor: z.string().regex(TOPIC_LEVEL),
  segment: z.string().regex(TOPIC_LEVEL),
  detector: z.string().min(1).max(64),
  type: z.string().min(1).max(128),
  entity: z.strictObject({ type: z.string().min(1).max(32), id: z.string().min(1).max(512) }),
  /** Event time of the finding, seconds since the epoch. */
  ts: z.number().finite(),
  window: z.tuple([z.number().finite(), z.number().finite()]),
  /** 0–100. */
  score: z.number().int().min(0).max(100),
  severity: z.enum(['info', 'low', 'medium', 'high', 'critical']),
  mode: z.enum(MODES),
  tier: z.enum(TIERS),
  attack: z.array(z.string().regex(/^T\d{4}(\.\d{3})?$/)).max(16),
  /** The finding's stable identifier (same detector, entity and window → same value). */
  finding: z.string().min(1).max(512),
  summary: z.string().max(512),
  evidence: z.record(z.string(), z.unknown()),
});
export type Summary = z.infer<typeof summarySchema>;

/** Payload of an anomaly topic: one batch of summaries. */
export const summaryBatchSchema = z.array(summarySchema).min(1).max(1000);

export const statusSchema = z.strictObject({
  v: z.literal(WIRE_VERSION),
  state: z.enum(['online', 'offline']),
  site: z.string().regex(TOPIC_LEVEL),
  sensor: z.string().regex(TOPIC_LEVEL),
  /** Wall time the message was made, ms since the epoch (absent in the last will). */
  at: z.number().optional(),
  version: z.string().optional(),
  collectors: z.array(z.string()).optional(),
  /** Segment → configuration version in force. */
  configVersions: z.record(z.string(), z.number().int()).optional(),
});
export type Status = z.infer<typeof statusSchema>;

export const healthSchema = z.strictObject({
  v: z.literal(WIRE_VERSION),
  site: z.string().regex(TOPIC_LEVEL),
  sensor: z.string().regex(TOPIC_LEVEL),
  at: z.number(),
  /** Seconds between wall time and the newest event time seen (how far behind the input is). */
  lagSeconds: z.number().nullable(),
  rssBytes: z.number().int().min(0),
  outboxDepth: z.number().int().min(0),
  outboxDropped: z.number().int().min(0),
  /** Component → its counters. */
  counters: z.record(
    z.string(),
    z.strictObject({
      received: z.number(),
      emitted: z.number(),
      dropped: z.number(),
      errors: z.number(),
      extra: z.record(z.string(), z.number()),
    }),
  ),
});
export type Health = z.infer<typeof healthSchema>;

/** A suppression rule (from analyst feedback): findings matching all given fields are not sent. */
export const suppressionSchema = z.strictObject({
  detector: z.string().min(1).optional(),
  type: z.string().min(1).optional(),
  entity: z.string().min(1).optional(),
  /** Wall time (ms) after which the rule lapses; absent: until removed. */
  until: z.number().optional(),
  reason: z.string().max(512).optional(),
});
export type Suppression = z.infer<typeof suppressionSchema>;

/**
 * Retained on `vigil/v1/config/<segment>`. `detectors` overrides the sensor's own detector
 * settings for the segment (validated by the sensor against its schema); `mode` and `tiers`
 * steer the summarizer.
 */
export const segmentConfigSchema = z.strictObject({
  v: z.literal(WIRE_VERSION),
  segment: z.string().regex(TOPIC_LEVEL),
  /** Increases with every change the hub publishes. */
  version: z.number().int().min(1),
  mode: z.enum(MODES).default('alert'),
  /** Lowest score (0–100) of each tier: a summary goes to the highest tier it reaches. */
  tiers: z
    .strictObject({ low: z.number().int().min(0).max(100), high: z.number().int().min(0).max(100) })
    .default({ low: 40, high: 75 }),
  detectors: z.record(z.string(), z.unknown()).default({}),
  suppressions: z.array(suppressionSchema).max(10_000).default([]),
  publishedAt: z.number().optional(),
});
export type SegmentConfig = z.infer<typeof segmentConfigSchema>;

/**
 * Sent by the hub on `…/<sensor>/ack` once summaries are stored (or found stored already): the
 * sensor deletes them from its outbox only then, so a summary the broker accepted but no hub
 * received is sent again.
 */
export const ackSchema = z.strictObject({
  v: z.literal(WIRE_VERSION),
  ids: z.array(z.string().regex(ULID_PATTERN, 'must be a ULID')).min(1).max(10_000),
});
export type Ack = z.infer<typeof ackSchema>;

/** The sensor's answer on `…/config/applied`. */
export const configAppliedSchema = z.strictObject({
  v: z.literal(WIRE_VERSION),
  site: z.string().regex(TOPIC_LEVEL),
  sensor: z.string().regex(TOPIC_LEVEL),
  segment: z.string().regex(TOPIC_LEVEL),
  version: z.number().int(),
  status: z.enum(['applied', 'rejected']),
  /** Why it was refused (every problem with its path); the previous version stays in force. */
  reason: z.string().max(4096).optional(),
  at: z.number(),
});
export type ConfigApplied = z.infer<typeof configAppliedSchema>;
