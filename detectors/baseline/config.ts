// Tunables of the volume baseline detector, with their defaults and meaning. Segments may
// override any of them (see agent/config.ts).

import { z } from 'zod';

export const baselineConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Run the volume baseline detector.'),
  bucketSeconds: z
    .number()
    .int()
    .min(60)
    .max(7 * 86400)
    .default(86400)
    .describe('Length of one bucket in seconds (default one day). Buckets are aligned to UTC.'),
  historyBuckets: z
    .number()
    .int()
    .min(2)
    .max(365)
    .default(7)
    .describe("How many past buckets of the host's own history form its baseline (rolling mean and std)."),
  minHistoryBuckets: z
    .number()
    .int()
    .min(2)
    .default(7)
    .describe(
      'Warm-up: no finding for a host until it has this many past buckets (counted from its first activity; quiet buckets count as zero).',
    ),
  zThreshold: z.number().gt(0).default(3).describe('A bucket is anomalous when (value - mean) / std exceeds this.'),
  minStdFraction: z
    .number()
    .min(0)
    .max(1)
    .default(0.1)
    .describe(
      'Floor on the std as a fraction of the mean, so a perfectly steady history does not turn a small change into an infinite z.',
    ),
  minExternalConns: z
    .number()
    .int()
    .min(0)
    .default(50)
    .describe('Ignore connection-count spikes below this many external connections in the bucket.'),
  minBytesOut: z
    .number()
    .min(0)
    .default(10 * 1024 * 1024)
    .describe('Ignore bytes-out spikes below this many bytes (payload sent by the host) in the bucket.'),
  latenessSeconds: z
    .number()
    .min(0)
    .default(3600)
    .describe(
      'How long after a bucket ends it stays open for late records (Zeek logs a connection when it ends, so its start time lags). Later records are counted as late and not scored.',
    ),
  maxEntities: z
    .number()
    .int()
    .min(1)
    .default(100_000)
    .describe('Most hosts tracked at once; the least recently active are evicted (counted as `evicted`).'),
});

export type BaselineConfig = z.infer<typeof baselineConfigSchema>;
