// The example Mosquitto ACL (systemd/mosquitto/acl.example) on a real broker: a sensor may
// publish only under its own topic and read only its segments' configuration; the hub reads
// every sensor (also through a shared subscription) and publishes configuration.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Broker, startMosquitto } from '../helpers/mosquitto.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let broker: Broker;
const clients: MqttClient[] = [];

beforeAll(async () => {
  broker = await startMosquitto({
    files: { 'vigil.acl': fs.readFileSync(path.join(root, 'systemd/mosquitto/acl.example'), 'utf8') },
    extraConfig: 'acl_file {dir}/vigil.acl\n',
  });
});
afterAll(async () => {
  for (const c of clients) c.end(true);
  await broker?.stop();
});

async function connect(username: string): Promise<MqttClient> {
  const client = mqtt.connect(broker.url, { username, protocolVersion: 5, reconnectPeriod: 0, clientId: `${username}-${clients.length}` });
  clients.push(client);
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  return client;
}

function topicsOf(client: MqttClient): string[] {
  const topics: string[] = [];
  client.on('message', (topic) => topics.push(topic));
  return topics;
}

async function until(check: () => boolean, what: string, deadlineMs = 5000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('example Mosquitto ACL', () => {
  it('lets a sensor publish only under its own topic', async () => {
    const hub = await connect('vigil-hub');
    const seen = topicsOf(hub);
    await hub.subscribeAsync('$share/vigil-hub/vigil/v1/+/+/anomaly/#', { qos: 1 });
    const tap1 = await connect('hq.tap-01');
    // MQTT 5: the broker answers the publish with "not authorized" and drops it.
    await expect(tap1.publishAsync('vigil/v1/hq/tap-02/anomaly/high', 'spoofed', { qos: 1 })).rejects.toThrow(
      /Not authorized/,
    );
    await tap1.publishAsync('vigil/v1/hq/tap-01/anomaly/high', 'own', { qos: 1 });
    // Messages from one client arrive in order: once `own` is here, `spoofed` would have been too.
    await until(() => seen.includes('vigil/v1/hq/tap-01/anomaly/high'), 'the allowed message');
    expect(seen).toEqual(['vigil/v1/hq/tap-01/anomaly/high']);
  });

  it("lets a sensor read only its segments' configuration, which only the hub may write", async () => {
    const hub = await connect('vigil-hub');
    await hub.publishAsync('vigil/v1/config/servers', '{"v":1}', { qos: 1, retain: true });
    await hub.publishAsync('vigil/v1/config/office', '{"v":1}', { qos: 1, retain: true });
    const tap1 = await connect('hq.tap-01');
    const seen: string[] = [];
    tap1.on('message', (topic, payload) => seen.push(`${topic} ${payload.toString()}`));
    // Mosquitto 2.0 grants the subscription but checks read access on every delivery.
    await tap1.subscribeAsync(['vigil/v1/config/servers', 'vigil/v1/config/office'], { qos: 1 });
    await until(() => seen.length > 0, 'the retained servers configuration');
    await hub.publishAsync('vigil/v1/config/office', '{"v":2}', { qos: 1, retain: true });
    await hub.publishAsync('vigil/v1/config/servers', '{"v":2}', { qos: 1, retain: true });
    await until(() => seen.length > 1, 'the new servers configuration');
    expect(seen).toEqual(['vigil/v1/config/servers {"v":1}', 'vigil/v1/config/servers {"v":2}']);
    // A sensor cannot push configuration to the others.
    await expect(tap1.publishAsync('vigil/v1/config/servers', '{"v":666}', { qos: 1, retain: true })).rejects.toThrow(
      /Not authorized/,
    );
    const reader = await connect('vigil-hub');
    const retained: string[] = [];
    reader.on('message', (_t, payload) => retained.push(payload.toString()));
    await reader.subscribeAsync('vigil/v1/config/servers', { qos: 1 });
    await until(() => retained.length > 0, 'the retained servers configuration');
    expect(retained).toEqual(['{"v":2}']);
  });
});
