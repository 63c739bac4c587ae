// Tunables of the beacon detector, with their defaults and meaning. Segments may override the
// scoring and allow-list settings; the settings that shape the pair table are sensor-wide
// (agent/config.ts lists them).

import { z } from 'zod';

/** Services that poll on a timer by design and that nearly every network reaches. */
export const DEFAULT_ALLOW_SERVERS: readonly string[] = [
  // time
  '*.pool.ntp.org',
  'time.windows.com',
  'time.apple.com',
  'time.google.com',
  'time.cloudflare.com',
  // operating-system updates and certificate revocation
  '*.windowsupdate.com',
  '*.update.microsoft.com',
  '*.delivery.mp.microsoft.com',
  'swscan.apple.com',
  'ocsp.digicert.com',
  'ocsp.pki.goog',
  // operating-system telemetry and connectivity checks
  '*.events.data.microsoft.com',
  'www.msftconnecttest.com',
  'connectivity-check.ubuntu.com',
  'captive.apple.com',
];

const allowSchema = z
  .strictObject({
    servers: z
      .array(z.string().min(1))
      .default([...DEFAULT_ALLOW_SERVERS])
      .describe(
        'Server names never reported (exact, or `*.example.com` for the name and every name under it). Compared with the SNI / HTTP Host / DNS name of the pair.',
      ),
    services: z
      .array(z.string().regex(/^\d{1,5}\/(tcp|udp)$/, 'expected port/proto, e.g. 123/udp'))
      .default(['123/udp'])
      .describe('Responder port/transport pairs never reported (default: NTP).'),
    cidrs: z
      .array(z.string())
      .default([])
      .describe('Destination networks never reported (e.g. your own cloud ranges).'),
  })
  .describe('Allow-list: pairs matching any entry are tracked but never scored or reported.');

export const beaconConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Run the beacon detector.'),
  scope: z
    .enum(['outbound', 'all'])
    .default('outbound')
    .describe(
      '`outbound`: only local sources to non-local destinations (a proxied request counts as outbound); `all`: every pair.',
    ),
  maxPairs: z
    .number()
    .int()
    .min(1000)
    .default(1_000_000)
    .describe('Most (source, destination) pairs tracked at once; the least recently active are evicted (`evicted`).'),
  maxDestinations: z
    .number()
    .int()
    .min(1000)
    .default(200_000)
    .describe('Most destinations whose prevalence (distinct sources) is tracked; least recently seen evicted.'),
  mergeSeconds: z
    .number()
    .min(0)
    .default(2)
    .describe(
      'Connections of a pair that start within max(mergeSeconds, mergeFraction × period) of a check-in are one check-in (retries, parallel requests).',
    ),
  mergeFraction: z.number().min(0).max(0.5).default(0.02).describe('See mergeSeconds.'),
  minCheckins: z.number().int().min(4).default(8).describe('Check-ins a pair needs before it is scored.'),
  minSpanPeriods: z
    .number()
    .min(2)
    .default(4)
    .describe('A pair is scored only once its check-ins span this many periods.'),
  candidateMaxSpread: z
    .number()
    .gt(0)
    .default(1.4)
    .describe(
      'Stage 1 regularity gate: the inter-quartile range of the gaps divided by their median must be at most this (Poisson traffic is about 1.6).',
    ),
  rescoreSeconds: z
    .number()
    .min(0)
    .default(300)
    .describe('Stage 2 scores a candidate at most once per this many seconds of event time.'),
  alertScore: z
    .number()
    .min(0)
    .max(1)
    .default(0.64)
    .describe(
      'Pairs scoring at least this are reported. The default gives a false-positive rate of 1e-3 per pair on the training seeds of `vigil bench beacon` (`--fit` prints it).',
    ),
  strobeRate: z
    .number()
    .gt(0)
    .default(0.5)
    .describe('Connections per second above which a pair is a strobe (reported apart from beacons).'),
  minStrobeConns: z.number().int().min(1).default(1000).describe('Connections a pair needs to be called a strobe.'),
  allow: allowSchema.prefault({}),
});

export type BeaconConfig = z.infer<typeof beaconConfigSchema>;

/** Settings that shape the pair table; they cannot differ between segments. */
export const BEACON_SENSOR_WIDE_KEYS = ['maxPairs', 'maxDestinations', 'scope'] as const;
