// Shared pieces of the hub tests: summaries with valid ULIDs, a hub configuration pointing at a
// test broker, and a deadline-bounded wait.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Summary } from '../../agent/wire.js';
import { type HubConfig, parseHubConfig } from '../../hub/config.js';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A valid ULID whose random part encodes `n` (unique per n within a test). */
export function testUlid(n: number): string {
  let tail = '';
  let rest = BigInt(n);
  for (let i = 0; i < 16; i++) {
    tail = CROCKFORD[Number(rest % 32n)] + tail;
    rest /= 32n;
  }
  return `01JD8XQ7ZK${tail}`;
}

export function makeSummary(n: number, overrides: Partial<Summary> = {}): Summary {
  return {
    v: 1,
    id: testUlid(n),
    site: 'site1',
    sensor: 'sensorA',
    segment: 'office',
    detector: 'beacon',
    type: 'beacon.periodic',
    entity: { type: 'host', id: `10.0.0.${n % 250}` },
    ts: 1_700_000_000 + n,
    window: [1_700_000_000 + n - 60, 1_700_000_000 + n],
    score: 80,
    severity: 'high',
    mode: 'alert',
    tier: 'high',
    attack: ['T1071.001'],
    finding: `beacon:10.0.0.${n % 250}:${n}`,
    summary: `host 10.0.0.${n % 250} beacons every 60 s`,
    evidence: { periodSeconds: 60, count: n },
    ...overrides,
  };
}

export const TOKEN = 'test-token-0123456789abcdef';

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-hub-test-'));
}

export function testConfig(brokerUrl: string, dbFile: string, extra: Partial<Record<string, unknown>> = {}): HubConfig {
  return parseHubConfig({
    mqtt: { url: brokerUrl, sharedGroup: 'vigil-hub' },
    store: { path: dbFile, batchMaxDelayMs: 20 },
    http: { host: '127.0.0.1', port: 0, token: TOKEN },
    ...extra,
  });
}

/** Polls `check` until it returns true; fails with `what` after the deadline. */
export async function waitFor(what: string, check: () => boolean, deadlineMs = 15_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
