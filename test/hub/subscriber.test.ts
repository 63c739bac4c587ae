// The hub's MQTT intake against a real Mosquitto: refusals by reason, de-duplication, and two
// hubs in one shared-subscription group splitting the summaries without losing or doubling any.

import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PAYLOAD_BYTES, topics } from '../../agent/wire.js';
import { Hub } from '../../hub/hub.js';
import { type Broker, startMosquitto } from '../helpers/mosquitto.js';
import { makeSummary, tempDir, testConfig, testUlid, waitFor } from './helpers.js';

let broker: Broker;
let publisher: MqttClient;
const quiet = () => undefined;

beforeAll(async () => {
  broker = await startMosquitto();
  publisher = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'test-sensor' });
});

afterAll(async () => {
  await publisher?.endAsync();
  await broker?.stop();
});

const anomalyTopic = topics.anomaly('site1', 'sensorA', 'high');

function storedIds(hub: Hub): string[] {
  return (hub.store!.db.prepare('SELECT id FROM anomalies ORDER BY id').all() as { id: string }[]).map((r) => r.id);
}

describe('hub subscriber', () => {
  it('acknowledges stored summaries to the sensor that sent them, duplicates included', async () => {
    const hub = new Hub({ config: testConfig(broker.url, path.join(tempDir(), 'hub.sqlite')), log: quiet });
    await hub.start();
    const sensor = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'ack-listener' });
    try {
      const acked: string[] = [];
      sensor.on('message', (_t, payload) => acked.push(...(JSON.parse(payload.toString()) as { ids: string[] }).ids));
      await sensor.subscribeAsync(topics.ack('site1', 'sensorA'), { qos: 1 });
      const other: string[] = [];
      const otherSensor = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'ack-other' });
      otherSensor.on('message', (_t, payload) => other.push(payload.toString()));
      await otherSensor.subscribeAsync(topics.ack('site1', 'sensorB'), { qos: 1 });
      await publisher.publishAsync(anomalyTopic, JSON.stringify([makeSummary(901), makeSummary(902)]), { qos: 1 });
      await waitFor('the acknowledgement', () => acked.length === 2);
      // The same summary again (a sensor that did not get the first acknowledgement) is acknowledged again.
      await publisher.publishAsync(anomalyTopic, JSON.stringify([makeSummary(901)]), { qos: 1 });
      await waitFor('the second acknowledgement', () => acked.length === 3);
      expect(acked).toEqual([testUlid(901), testUlid(902), testUlid(901)]);
      expect(storedIds(hub)).toEqual([testUlid(901), testUlid(902)]);
      expect(other).toEqual([]);
      await otherSensor.endAsync();
    } finally {
      await sensor.endAsync();
      await hub.stop();
    }
  });

  it('refuses oversized, malformed, schema-invalid and spoofed messages by reason and keeps storing valid ones', async () => {
    const dir = tempDir();
    const hub = new Hub({ config: testConfig(broker.url, path.join(dir, 'hub.sqlite')), log: quiet });
    await hub.start();
    try {
      await publisher.publishAsync(anomalyTopic, JSON.stringify([makeSummary(1)]), { qos: 1 });
      await waitFor('the first valid summary', () => storedIds(hub).length === 1);

      await publisher.publishAsync(anomalyTopic, Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 0x20), { qos: 1 });
      await publisher.publishAsync(anomalyTopic, '[{"v":1,', { qos: 1 });
      await publisher.publishAsync(anomalyTopic, JSON.stringify([{ ...makeSummary(2), score: 101 }]), { qos: 1 });
      await publisher.publishAsync(anomalyTopic, JSON.stringify([makeSummary(3, { sensor: 'sensorB' })]), { qos: 1 });
      await publisher.publishAsync(
        topics.health('site1', 'sensorA'),
        JSON.stringify({ v: 1, site: 'site9', sensor: 'sensorA', at: 1, lagSeconds: null, rssBytes: 1, outboxDepth: 0, outboxDropped: 0, counters: {} }),
        { qos: 1 },
      );
      // Messages from one publisher arrive in order, so once this one is stored all the bad ones were seen.
      await publisher.publishAsync(anomalyTopic, JSON.stringify([makeSummary(4), makeSummary(5)]), { qos: 1 });
      await waitFor('the valid summaries after the bad ones', () => storedIds(hub).length === 3);

      expect(storedIds(hub)).toEqual([testUlid(1), testUlid(4), testUlid(5)]);
      expect(hub.subscriber!.stats.refused).toMatchObject({ oversized: 1, json: 1, schema: 1, spoofed: 2 });
    } finally {
      await hub.stop();
    }
  });

  it('stores a summary id once however often it arrives', async () => {
    const dir = tempDir();
    const hub = new Hub({ config: testConfig(broker.url, path.join(dir, 'hub.sqlite')), log: quiet });
    await hub.start();
    try {
      await publisher.publishAsync(anomalyTopic, JSON.stringify([makeSummary(10), makeSummary(10)]), { qos: 1 });
      await publisher.publishAsync(anomalyTopic, JSON.stringify([makeSummary(10), makeSummary(11)]), { qos: 1 });
      await waitFor('both ids', () => hub.subscriber!.stats.summariesStored + hub.subscriber!.stats.summariesDuplicate === 4);
      expect(storedIds(hub)).toEqual([testUlid(10), testUlid(11)]);
      expect(hub.subscriber!.stats.summariesDuplicate).toBe(2);
    } finally {
      await hub.stop();
    }
  });

  it("records a sensor's birth and its last will (offline) from the status topic", async () => {
    const dir = tempDir();
    const hub = new Hub({ config: testConfig(broker.url, path.join(dir, 'hub.sqlite')), log: quiet });
    await hub.start();
    const statusTopic = topics.status('site1', 'sensorW');
    const sensor = await mqtt.connectAsync(broker.url, {
      protocolVersion: 5,
      clientId: 'test-sensor-with-will',
      reconnectPeriod: 0,
      will: { topic: statusTopic, payload: Buffer.from(JSON.stringify({ v: 1, state: 'offline', site: 'site1', sensor: 'sensorW' })), qos: 1, retain: true },
    });
    try {
      await sensor.publishAsync(statusTopic, JSON.stringify({ v: 1, state: 'online', site: 'site1', sensor: 'sensorW', at: 1, version: '0.1.0' }), { qos: 1, retain: true });
      await waitFor('the birth', () => hub.store!.listSensors().some((s) => s.sensor === 'sensorW' && s.status === 'online'));
      // Dropping the socket without DISCONNECT makes the broker publish the will.
      sensor.stream.destroy();
      await waitFor('the last will', () => hub.store!.listSensors().some((s) => s.sensor === 'sensorW' && s.status === 'offline'));
      const row = hub.store!.listSensors().find((s) => s.sensor === 'sensorW')!;
      expect(row).toMatchObject({ version: '0.1.0', status: 'offline' });
      expect(row.lastBirth).not.toBeNull();
      expect(row.lastWill).not.toBeNull();
    } finally {
      await sensor.endAsync(true);
      await publisher.publishAsync(statusTopic, '', { qos: 1, retain: true });
      await hub.stop();
    }
  });

  it('splits summaries between two hubs in one shared group, each stored exactly once', async () => {
    const dir = tempDir();
    const hubs = ['a', 'b'].map(
      (name) =>
        new Hub({
          config: testConfig(broker.url, path.join(dir, `hub-${name}.sqlite`), {
            mqtt: { url: broker.url, sharedGroup: 'split-test', clientId: `hub-${name}` },
          }),
          log: quiet,
        }),
    );
    await Promise.all(hubs.map((h) => h.start()));
    try {
      const total = 300;
      // Published in bounded windows rather than 300 calls in one tick (DESIGN §8).
      for (let start = 0; start < total; start += 50) {
        await Promise.all(
          Array.from({ length: 50 }, (_, k) =>
            publisher.publishAsync(anomalyTopic, JSON.stringify([makeSummary(1000 + start + k)]), { qos: 1 }),
          ),
        );
      }
      await waitFor('every summary in one of the hubs', () => hubs.reduce((n, h) => n + storedIds(h).length, 0) >= total);
      const [idsA, idsB] = hubs.map(storedIds);
      expect(idsA.length).toBeGreaterThan(0);
      expect(idsB.length).toBeGreaterThan(0);
      expect(idsA.filter((id) => idsB.includes(id))).toEqual([]);
      const union = new Set([...idsA, ...idsB]);
      expect(union.size).toBe(total);
      for (let n = 1000; n < 1000 + total; n++) expect(union.has(testUlid(n))).toBe(true);
    } finally {
      await Promise.all(hubs.map((h) => h.stop()));
    }
  });
});
