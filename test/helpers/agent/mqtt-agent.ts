// Helpers for MQTT integration tests: the agent as a child process (`vigil agent -c …`, killed
// by PID), a conn.log built from the demo sample, and a plain mqtt.js receiver that records
// summaries, status and health as they arrive.

import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import mqtt, { type MqttClient } from 'mqtt';
import { resolveConfig } from '../../../agent/config.js';
import { runReplay } from '../../../agent/replay.js';
import type { ConfigApplied, Health, Status, Summary } from '../../../agent/wire.js';
import { root } from './findings.js';

/** Detector settings that make the sample yield ~2000 findings (hourly buckets, low thresholds). */
export const MANY_FINDINGS = {
  baseline: {
    bucketSeconds: 3600,
    historyBuckets: 24,
    minHistoryBuckets: 3,
    zThreshold: 1,
    minExternalConns: 1,
    minBytesOut: 1000,
  },
};

/**
 * The sample's header and data lines, plus one trailing record from a new host three days after
 * the end: it closes every bucket in the agent (which otherwise keeps the last one open for more
 * input) and, having no history, yields no finding itself. So the agent's findings equal an
 * offline replay's.
 */
export function sampleLines(): { header: string[]; data: string[] } {
  const lines = zlib.gunzipSync(fs.readFileSync(path.join(root, 'agent/demo/sample-conn.log.gz'))).toString().split('\n');
  const close = lines.findIndex((l) => l.startsWith('#close'));
  const header = lines.slice(0, 8);
  const data = lines.slice(8, close);
  const last = data[data.length - 1].split('\t');
  last[0] = (Number(last[0]) + 3 * 86400).toFixed(6);
  last[1] = 'Ctrailing0000000001';
  last[2] = '10.99.99.99';
  data.push(last.join('\t'));
  return { header, data };
}

/**
 * Finding ids an offline replay of the whole sample gives with MANY_FINDINGS: what an agent run
 * over the same lines must deliver. The log is written into `dir`.
 */
export async function expectedFindingIds(dir: string): Promise<Set<string>> {
  const { header, data } = sampleLines();
  const log = path.join(dir, 'replay-conn.log');
  fs.writeFileSync(log, `${[...header, ...data].join('\n')}\n`);
  const ids = new Set<string>();
  await runReplay({
    inputs: [log],
    resolved: resolveConfig({ detectors: MANY_FINDINGS }),
    onIssue: (i) => {
      throw new Error(JSON.stringify(i));
    },
    onFindings: (f) => {
      for (const x of f) ids.add(x.id);
    },
  });
  return ids;
}

export interface RunningAgent {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

export function startAgent(config: string, children: ChildProcess[]): RunningAgent {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'agent/cli.ts'), 'agent', '-c', config], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let err = '';
  child.stderr?.on('data', (b: Buffer) => {
    err += b.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stderr: () => err, exited };
}

/** Records what a sensor publishes. A persistent session, so a broker restart loses nothing queued. */
export class Receiver {
  readonly summaries: Summary[] = [];
  readonly statuses: Status[] = [];
  readonly applied: ConfigApplied[] = [];
  lastHealth?: Health;
  private constructor(readonly client: MqttClient) {}

  static async connect(url: string, clientId: string): Promise<Receiver> {
    const client = mqtt.connect(url, {
      protocolVersion: 5,
      clientId,
      clean: false,
      properties: { sessionExpiryInterval: 600 },
      reconnectPeriod: 200,
    });
    const r = new Receiver(client);
    client.on('message', (topic, payload) => {
      // Config topics (and cleared retained messages) match the wildcard too: not recorded.
      if (topic.startsWith('vigil/v1/config/')) return;
      const body = JSON.parse(payload.toString()) as unknown;
      if (topic.includes('/anomaly/')) r.summaries.push(...(body as Summary[]));
      else if (topic.endsWith('/status')) r.statuses.push(body as Status);
      else if (topic.endsWith('/health')) r.lastHealth = body as Health;
      else if (topic.endsWith('/config/applied')) r.applied.push(body as ConfigApplied);
    });
    client.on('connect', (ack) => {
      // A resumed session keeps its subscriptions; subscribing again is harmless.
      if (!ack.sessionPresent) client.subscribe('vigil/v1/+/+/#', { qos: 1 });
    });
    await waitUntil(() => client.connected, 10_000, 'receiver connect');
    await new Promise((r2) => setTimeout(r2, 200));
    return r;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.client.end(true, {}, () => resolve()));
  }
}

/** Polls `cond` until it holds; throws (instead of hanging) after `ms`. */
export async function waitUntil(cond: () => boolean, ms: number, what: string, detail?: () => string): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}${detail ? `: ${detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
