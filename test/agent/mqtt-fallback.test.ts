// The publisher falls back to MQTT 3.1.1 when the broker refuses MQTT 5: against the embedded
// aedes broker (3.1.1 only) it still delivers the outbox and empties it. A TLS file that cannot
// be read is a configuration error naming the key.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { mqttConfigSchema } from '../../agent/config.js';
import { startEmbeddedBroker } from '../../agent/demo/broker.js';
import { MetricsRegistry } from '../../agent/metrics.js';
import { Publisher } from '../../agent/mqtt.js';
import { Outbox } from '../../agent/outbox.js';
import { StateStore } from '../../agent/state.js';
import { type Summary, topics } from '../../agent/wire.js';
import { waitUntil } from '../helpers/agent/mqtt-agent.js';
import { fakeSummary } from '../helpers/agent/summaries.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-fallback-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('Publisher configuration', () => {
  it('names an unreadable TLS file and what to do', () => {
    const state = StateStore.open(':memory:');
    const publisher = new Publisher({
      config: mqttConfigSchema.parse({ url: 'mqtts://127.0.0.1:1', tls: { ca: path.join(tmp, 'missing-ca.pem') } }),
      site: 'lab',
      sensor: 's1',
      outbox: new Outbox(state, 10),
      metrics: new MetricsRegistry(),
      version: 'test',
      collectors: [],
      log: () => {},
    });
    try {
      expect(() => publisher.start()).toThrow(/mqtt\.tls\.ca: cannot read .*missing-ca\.pem \(ENOENT\); fix the path/);
    } finally {
      state.close();
    }
  });
});

describe('Publisher protocol fallback', () => {
  it('uses MQTT 3.1.1 with a broker that refuses MQTT 5', async () => {
    const broker = await startEmbeddedBroker();
    const state = StateStore.open(path.join(tmp, 'f.db'));
    const outbox = new Outbox(state, 100);
    const lines: string[] = [];
    const publisher = new Publisher({
      config: mqttConfigSchema.parse({ url: broker.url, hubAck: false, reconnectMinMs: 100, batchIntervalMs: 10 }),
      site: 'lab',
      sensor: 's1',
      outbox,
      metrics: new MetricsRegistry(),
      version: 'test',
      collectors: [],
      log: (l) => lines.push(l),
    });
    const rx = mqtt.connect(broker.url, { protocolVersion: 4 });
    const got: Summary[] = [];
    rx.on('message', (_t, p) => got.push(...(JSON.parse(p.toString()) as Summary[])));
    try {
      await waitUntil(() => rx.connected, 5_000, 'receiver');
      await rx.subscribeAsync(topics.anomaly('lab', 's1', 'high'), { qos: 1 });
      const rows = [fakeSummary('high', 1), fakeSummary('high', 2)];
      outbox.add(rows);
      publisher.start();
      await waitUntil(() => got.length === 2 && outbox.depth === 0, 10_000, 'delivery', () => lines.join('\n'));
      expect(got.map((s) => s.id)).toEqual(rows.map((s) => s.id));
      expect(lines.some((l) => l.includes('MQTT 3.1.1'))).toBe(true);
    } finally {
      await publisher.stop(500);
      rx.end(true);
      state.close();
      await broker.close();
    }
  });
});
