// `vigil bench hub`: how many summaries per second one hub validates and stores, the latency
// from a summary's creation to its stored row (p50/p99), and the bytes per summary. The same run
// measures a bare MQTT subscriber on the same broker as the transport's ceiling.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { ManualClock } from '../agent/clock.js';
import { UlidGenerator, ulidTime } from '../agent/ulid.js';
import { type Summary, topics } from '../agent/wire.js';
import { parseHubConfig } from '../hub/config.js';
import { Hub } from '../hub/hub.js';
import { startMosquitto } from './mosquitto.js';

export interface HubBenchResult {
  summaries: number;
  perMessage: number;
  bytesPerSummary: number;
  ceilingPerSec: number;
  hubPerSec: number;
  /** Under full load (the publisher as fast as the broker takes it): mostly queueing. */
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** At a steady rate well below capacity (`pacedPerSec`): what one summary waits. */
  pacedPerSec: number;
  pacedP50Ms: number;
  pacedP99Ms: number;
}

const SITE = 'bench';
const SENSOR = 'sensor-1';

function makeSummaries(n: number): Summary[] {
  const ids = new UlidGenerator(new ManualClock(0));
  const out: Summary[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      v: 1,
      id: ids.next(), // replaced at send time so the id carries the send time
      site: SITE,
      sensor: SENSOR,
      segment: i % 3 === 0 ? 'servers' : 'office',
      detector: 'baseline',
      type: 'volume.spike',
      entity: { type: 'host', id: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` },
      ts: 1_790_000_000 + i,
      window: [1_789_996_400 + i, 1_790_000_000 + i],
      score: 40 + (i % 60),
      severity: 'medium',
      mode: 'alert',
      tier: i % 2 ? 'low' : 'high',
      attack: ['T1048'],
      finding: `baseline:volume.spike:10.0.0.${i & 255}:${1_789_996_400 + i}`,
      summary: `10.0.0.${i & 255}: bytes out 1.65G vs mean 222.1k (z=471.5) over 7 previous buckets`,
      evidence: {
        bucket_s: 3600,
        metrics: { bytes_out: { value: 1648087078, mean: 222093.3, std: 162419.8, z: 471.46 } },
        top_destinations: [{ address: '203.0.113.77', conns: 40, bytes: 1647795807 }],
      },
    });
  }
  return out;
}

/** Publishes `summaries` in batches with a bounded number of unacknowledged messages. */
async function publishAll(url: string, summaries: Summary[], perMessage: number, pauseMs = 0): Promise<void> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: `bench-pub-${process.pid}` });
  const ids = new UlidGenerator();
  const window = 64;
  let inFlight = 0;
  let waiting: (() => void) | undefined;
  const topic = topics.anomaly(SITE, SENSOR, 'high');
  for (let i = 0; i < summaries.length; i += perMessage) {
    const batch = summaries.slice(i, i + perMessage);
    for (const s of batch) s.id = ids.next();
    while (inFlight >= window) await new Promise<void>((resolve) => (waiting = resolve));
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    inFlight++;
    client.publish(topic, JSON.stringify(batch), { qos: 1 }, () => {
      inFlight--;
      waiting?.();
      waiting = undefined;
    });
  }
  while (inFlight > 0) await new Promise<void>((resolve) => (waiting = resolve));
  await client.endAsync();
}

/** p50 and p99 of (stored − created) in ms; a ULID carries its creation time. */
function quantiles(rows: { id: string; received_at: number }[]): { p50: number; p99: number } {
  const latencies = rows.map((r) => r.received_at - ulidTime(r.id)).sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  return { p50: q(0.5), p99: q(0.99) };
}

async function until(check: () => boolean, deadlineMs: number, what: string): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export async function runHubBench(opts: { summaries?: number; perMessage?: number; log: (line: string) => void }): Promise<HubBenchResult> {
  const n = opts.summaries ?? 100_000;
  const perMessage = opts.perMessage ?? 50;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-hub-bench-'));
  const broker = await startMosquitto();
  try {
    const summaries = makeSummaries(n);
    const bytesPerSummary = Math.round(summaries.reduce((a, s) => a + JSON.stringify(s).length, 0) / n);

    // Ceiling: a subscriber that only counts the summaries in each message.
    const counter = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: `bench-count-${process.pid}` });
    let counted = 0;
    counter.on('message', (_t, payload) => {
      counted += (JSON.parse(payload.toString()) as unknown[]).length;
    });
    await counter.subscribeAsync(topics.anomalySubscription('bench-ceiling'), { qos: 1 });
    let started = performance.now();
    await publishAll(broker.url, summaries, perMessage);
    await until(() => counted >= n, 120_000, 'the counting subscriber');
    const ceilingSeconds = (performance.now() - started) / 1000;
    await counter.endAsync();
    opts.log(`ceiling (bare subscriber): ${Math.round(n / ceilingSeconds)} summaries/s`);

    const config = parseHubConfig({
      mqtt: { url: broker.url, sharedGroup: 'vigil-hub' },
      store: { path: path.join(dir, 'hub.sqlite') },
      http: { port: 0, token: 'bench-token-0123456789' },
    });
    const hub = new Hub({ config, log: () => undefined });
    await hub.start();
    const store = hub.store as NonNullable<Hub['store']>;
    const countStmt = store.db.prepare('SELECT count(*) AS n FROM anomalies');
    const count = () => (countStmt.get() as { n: number }).n;
    started = performance.now();
    await publishAll(broker.url, summaries, perMessage);
    await until(() => count() >= n, 300_000, 'the hub to store every summary');
    const hubSeconds = (performance.now() - started) / 1000;
    const rows = store.db.prepare('SELECT id, received_at FROM anomalies').all() as { id: string; received_at: number }[];
    const full = quantiles(rows);
    // Paced: batches of 10 every 5 ms (~2,000 summaries/s), a tenth of the load.
    store.db.exec('DELETE FROM anomalies');
    const paced = makeSummaries(Math.min(10_000, n)).map((s) => ({ ...s, segment: 'paced' }));
    const pacedStart = performance.now();
    await publishAll(broker.url, paced, 10, 5);
    await until(() => count() >= paced.length, 120_000, 'the hub to store the paced summaries');
    const pacedPerSec = paced.length / ((performance.now() - pacedStart) / 1000);
    const pacedRows = store.db.prepare('SELECT id, received_at FROM anomalies').all() as { id: string; received_at: number }[];
    const slow = quantiles(pacedRows);
    await hub.stop();
    opts.log(`hub: ${Math.round(n / hubSeconds)} summaries/s stored`);
    return {
      summaries: n,
      perMessage,
      bytesPerSummary,
      ceilingPerSec: n / ceilingSeconds,
      hubPerSec: n / hubSeconds,
      latencyP50Ms: full.p50,
      latencyP99Ms: full.p99,
      pacedPerSec,
      pacedP50Ms: slow.p50,
      pacedP99Ms: slow.p99,
    };
  } finally {
    await broker.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
