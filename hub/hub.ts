// The running hub: one MQTT connection shared by the subscriber and the tuner, the SQLite store,
// the HTTP API and the retention purge. Started in stages and stopped in reverse order.

import fs from 'node:fs';
import os from 'node:os';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { type RunningApi, startApi } from './api.js';
import type { HubConfig } from './config.js';
import { HubStore } from './store.js';
import { HubSubscriber } from './subscriber.js';
import { type RetainedPublisher, SegmentTuner } from './tuning.js';

/** How often old anomalies are purged. */
const PURGE_INTERVAL_MS = 60 * 60 * 1000;

export interface HubContext {
  config: HubConfig;
  log: (line: string) => void;
  /** Wall clock (ms); injected so tests can move time. */
  now?: () => number;
}

export function mqttOptions(config: HubConfig, role: string): IClientOptions {
  const m = config.mqtt;
  const tls = m.tls;
  const persistent = role === 'main' && m.clientId !== undefined && m.sessionExpirySeconds > 0;
  return {
    protocolVersion: m.protocolVersion,
    clientId: m.clientId ?? `vigil-hub-${role}-${os.hostname().replace(/[^A-Za-z0-9_-]/g, '')}-${process.pid}`,
    username: m.username,
    password: m.password,
    ca: tls?.ca ? fs.readFileSync(tls.ca) : undefined,
    cert: tls?.cert ? fs.readFileSync(tls.cert) : undefined,
    key: tls?.key ? fs.readFileSync(tls.key) : undefined,
    // A hub with a fixed client id keeps a persistent session: summaries published while it is
    // down (and already acknowledged to the sensors by the broker) wait for it at the broker.
    ...(persistent
      ? m.protocolVersion === 5
        ? { clean: false, properties: { sessionExpiryInterval: m.sessionExpirySeconds } }
        : { clean: false }
      : { clean: true }),
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
  };
}

/** Connects and waits for the first CONNACK; the error names the broker and what to check. */
export async function connectMqtt(config: HubConfig, role: string): Promise<MqttClient> {
  const client = mqtt.connect(config.mqtt.url, mqttOptions(config, role));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`could not connect to the broker at ${config.mqtt.url} within 10 s; check mqtt.url in the hub configuration and that the broker is running`)),
        10_000,
      );
      client.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      client.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`the broker at ${config.mqtt.url} refused the connection: ${err.message}`));
      });
    });
  } catch (err) {
    await client.endAsync(true);
    throw err;
  }
  return client;
}

export function retainedPublisher(client: MqttClient): RetainedPublisher {
  return async (topic, payload) => {
    await client.publishAsync(topic, payload, { qos: 1, retain: true });
  };
}

export class Hub {
  store: HubStore | undefined;
  subscriber: HubSubscriber | undefined;
  tuner: SegmentTuner | undefined;
  api: RunningApi | undefined;
  private client: MqttClient | undefined;
  private purgeTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly ctx: HubContext) {
    this.now = ctx.now ?? Date.now;
  }

  async start(): Promise<void> {
    const { config } = this.ctx;
    try {
      this.store = new HubStore(config.store.path);
      const store = this.store;
      this.purge();
      this.client = await connectMqtt(config, 'main');
      this.client.on('error', (err) => this.ctx.log(`vigil hub: mqtt: ${err.message}`));
      this.tuner = new SegmentTuner({ store, publish: retainedPublisher(this.client), now: this.now });
      this.subscriber = new HubSubscriber({
        client: this.client,
        store,
        // MQTT 3.1.1 has no shared subscriptions: a lone hub subscribes to the plain filter.
        sharedGroup: config.mqtt.protocolVersion === 5 ? config.mqtt.sharedGroup : undefined,
        batchSize: config.store.batchSize,
        batchMaxDelayMs: config.store.batchMaxDelayMs,
        now: this.now,
        log: this.ctx.log,
      });
      await this.subscriber.start();
      const subscriber = this.subscriber;
      this.api = await startApi(
        {
          store,
          tuner: this.tuner,
          token: config.http.token,
          silentAfterSeconds: config.silentAfterSeconds,
          now: this.now,
          stats: () => subscriber.stats,
        },
        config.http,
      );
      this.purgeTimer = setInterval(() => this.purge(), PURGE_INTERVAL_MS);
      this.purgeTimer.unref();
      this.ctx.log(`vigil hub: started; API on ${this.api.url}, broker ${config.mqtt.url}, store ${config.store.path}`);
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  private purge(): void {
    const removed = this.store?.purge(this.ctx.config.store.retentionDays, this.now()) ?? 0;
    if (removed) this.ctx.log(`vigil hub: purged ${removed} anomalies older than ${this.ctx.config.store.retentionDays} days`);
  }

  /** Stops in reverse order; each stage's failure is logged and does not skip the others. */
  async stop(): Promise<void> {
    if (this.purgeTimer) clearInterval(this.purgeTimer);
    this.purgeTimer = undefined;
    const stages: [string, () => Promise<void> | void][] = [
      ['api', async () => this.api?.close()],
      // The connection ends before the subscriber detaches, so messages that arrive while it
      // closes are still handled, then everything pending is written.
      ['mqtt', async () => void (await this.client?.endAsync())],
      ['subscriber', () => this.subscriber?.stop()],
      ['store', () => this.store?.close()],
    ];
    for (const [name, stage] of stages) {
      try {
        await stage();
      } catch (err) {
        this.ctx.log(`vigil hub: stopping ${name} failed: ${(err as Error).message}`);
      }
    }
    this.api = undefined;
    this.subscriber = undefined;
    this.client = undefined;
  }
}
