// Reads everything sensors publish: anomaly summaries (through the shared subscription, so hubs
// in one group split them), status, health and config answers. Every message is checked before
// it is stored; refused ones are counted by reason and never stop the hub.

import type { MqttClient } from 'mqtt';
import {
  configAppliedSchema,
  healthSchema,
  MAX_PAYLOAD_BYTES,
  parseSensorTopic,
  segmentConfigSchema,
  statusSchema,
  summaryBatchSchema,
  type Ack,
  type Summary,
  topics,
  WIRE_VERSION,
} from '../agent/wire.js';
import type { HubStore } from './store.js';

/** Why a message was refused. */
export type RefusalReason = 'oversized' | 'topic' | 'json' | 'schema' | 'spoofed' | 'store';

export interface SubscriberStats {
  messages: number;
  summariesStored: number;
  summariesDuplicate: number;
  /** End-to-end acknowledgements published to sensors, and those the broker did not accept. */
  acksSent: number;
  ackErrors: number;
  refused: Record<RefusalReason, number>;
}

export interface SubscriberContext {
  client: MqttClient;
  store: HubStore;
  /** MQTT 5 shared-subscription group; undefined subscribes to the plain filter (one hub). */
  sharedGroup?: string;
  batchSize: number;
  batchMaxDelayMs: number;
  now: () => number;
  log: (line: string) => void;
}

/** Topic filter for the retained segment configurations (kept in the store so versions only grow). */
const CONFIG_SUBSCRIPTION = 'vigil/v1/config/+';

export class HubSubscriber {
  readonly stats: SubscriberStats = {
    messages: 0,
    summariesStored: 0,
    summariesDuplicate: 0,
    acksSent: 0,
    ackErrors: 0,
    refused: { oversized: 0, topic: 0, json: 0, schema: 0, spoofed: 0, store: 0 },
  };
  private pending: Summary[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private subscribed: (err?: Error) => void = () => undefined;
  private readonly onConnect = (connack: { sessionPresent?: boolean }) => {
    // Mosquitto 2.0 restores a persistent session's shared subscription after a broker restart
    // in a state that receives nothing, and a second SUBSCRIBE does not repair it: drop the
    // shared one first, then subscribe afresh. Messages queued for the session are kept.
    if (connack?.sessionPresent && this.ctx.sharedGroup) {
      this.ctx.client.unsubscribe(topics.anomalySubscription(this.ctx.sharedGroup), () => this.subscribe());
    } else this.subscribe();
  };
  private readonly onMessage = (topic: string, payload: Buffer) => this.handle(topic, payload);

  /** Per the house rule the constructor does nothing; `start` attaches to the client. */
  constructor(private readonly ctx: SubscriberContext) {}

  /** Resolves once the broker has acknowledged the first set of subscriptions. */
  start(): Promise<void> {
    const first = new Promise<void>((resolve, reject) => {
      this.subscribed = (err) => (err ? reject(err) : resolve());
    });
    this.ctx.client.on('connect', this.onConnect);
    this.ctx.client.on('message', this.onMessage);
    // MQTT.js refuses subscribe() while offline, so subscriptions are (re)made on every connect.
    if (this.ctx.client.connected) this.subscribe();
    return first;
  }

  /** Detaches from the client and writes what is still pending. */
  stop(): void {
    this.ctx.client.off('connect', this.onConnect);
    this.ctx.client.off('message', this.onMessage);
    this.flush();
  }

  private subscribe(): void {
    const filters = [topics.anomalySubscription(this.ctx.sharedGroup), ...topics.sensorSubscriptions(), CONFIG_SUBSCRIPTION];
    this.ctx.client.subscribe(filters, { qos: 1 }, (err, granted) => {
      if (err) {
        this.ctx.log(`vigil hub: subscribing failed: ${err.message}`);
        this.subscribed(new Error(`the broker did not accept the hub's subscriptions: ${err.message}`));
      }
      const refused = (granted ?? []).filter((g) => g.qos >= 128);
      for (const g of refused) {
        this.ctx.log(`vigil hub: the broker refused the subscription ${g.topic} (reason ${g.qos}); does it support MQTT 5?`);
      }
      if (!err) this.subscribed();
      this.subscribed = () => undefined;
    });
  }

  private refuse(reason: RefusalReason, topic: string, detail: string): void {
    this.stats.refused[reason]++;
    // Only the first few of each reason are logged: a misbehaving sensor must not flood the log.
    if (this.stats.refused[reason] <= 5) this.ctx.log(`vigil hub: refused a message on ${topic} (${reason}): ${detail}`);
  }

  /** Checks one message and stores it (or queues it for the next batch); never throws. */
  handle(topic: string, payload: Buffer): void {
    this.stats.messages++;
    if (payload.length > MAX_PAYLOAD_BYTES) {
      this.refuse('oversized', topic, `${payload.length} bytes, the limit is ${MAX_PAYLOAD_BYTES}`);
      return;
    }
    // An empty payload clears a retained message; there is nothing to record.
    if (payload.length === 0) return;
    const configSegment = topic.startsWith('vigil/v1/config/') ? topic.slice('vigil/v1/config/'.length) : undefined;
    const where = configSegment === undefined ? parseSensorTopic(topic) : undefined;
    if (configSegment === undefined && !where) {
      this.refuse('topic', topic, 'not a vigil/v1 sensor topic');
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch (err) {
      this.refuse('json', topic, (err as Error).message);
      return;
    }
    try {
      if (configSegment !== undefined) this.handleConfig(topic, configSegment, body);
      else if (where) this.handleSensor(topic, where, body);
    } catch (err) {
      this.refuse('store', topic, (err as Error).message);
    }
  }

  private handleConfig(topic: string, segment: string, body: unknown): void {
    const parsed = segmentConfigSchema.safeParse(body);
    if (!parsed.success) return this.refuse('schema', topic, parsed.error.issues[0]?.message ?? 'invalid');
    if (parsed.data.segment !== segment) return this.refuse('spoofed', topic, `names segment ${parsed.data.segment}`);
    this.ctx.store.recordSegmentConfig(parsed.data, this.ctx.now());
  }

  private handleSensor(
    topic: string,
    where: NonNullable<ReturnType<typeof parseSensorTopic>>,
    body: unknown,
  ): void {
    const schema =
      where.kind === 'anomaly'
        ? summaryBatchSchema
        : where.kind === 'status'
          ? statusSchema
          : where.kind === 'health'
            ? healthSchema
            : configAppliedSchema;
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return this.refuse('schema', topic, `${issue?.path.join('.') || '(payload)'}: ${issue?.message ?? 'invalid'}`);
    }
    // A sensor may only speak for itself: the site/sensor inside must be the topic's.
    const claims = Array.isArray(parsed.data) ? parsed.data : [parsed.data];
    const liar = claims.find((c) => c.site !== where.site || c.sensor !== where.sensor);
    if (liar) {
      return this.refuse('spoofed', topic, `payload names ${liar.site}/${liar.sensor}, topic is ${where.site}/${where.sensor}`);
    }
    const now = this.ctx.now();
    switch (where.kind) {
      case 'anomaly':
        this.enqueue(parsed.data as Summary[]);
        break;
      case 'status':
        this.ctx.store.recordStatus(statusSchema.parse(parsed.data), now);
        break;
      case 'health':
        this.ctx.store.recordHealth(healthSchema.parse(parsed.data), now);
        break;
      case 'config/applied':
        this.ctx.store.recordConfigApplied(configAppliedSchema.parse(parsed.data));
        break;
    }
  }

  private enqueue(batch: Summary[]): void {
    this.pending.push(...batch);
    if (this.pending.length >= this.ctx.batchSize) this.flush();
    else if (!this.flushTimer) this.flushTimer = setTimeout(() => this.flush(), this.ctx.batchMaxDelayMs);
  }

  /** Writes the pending summaries, in transactions of at most batchSize. */
  flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    while (this.pending.length) {
      const batch = this.pending.splice(0, this.ctx.batchSize);
      try {
        const result = this.ctx.store.insertSummaries(batch, this.ctx.now());
        this.stats.summariesStored += result.inserted;
        this.stats.summariesDuplicate += result.duplicates;
        this.acknowledge(batch);
      } catch (err) {
        this.refuse('store', 'anomaly batch', (err as Error).message);
      }
    }
  }

  /**
   * Tells each sensor which of its summaries are now stored (duplicates included: they were
   * stored before), so it can delete them from its outbox: the end-to-end acknowledgement.
   */
  private acknowledge(batch: readonly Summary[]): void {
    const bySensor = new Map<string, { site: string; sensor: string; ids: string[] }>();
    for (const s of batch) {
      const key = `${s.site}/${s.sensor}`;
      let entry = bySensor.get(key);
      if (!entry) {
        entry = { site: s.site, sensor: s.sensor, ids: [] };
        bySensor.set(key, entry);
      }
      entry.ids.push(s.id);
    }
    for (const { site, sensor, ids } of bySensor.values()) {
      const ack: Ack = { v: WIRE_VERSION, ids };
      // Not acknowledged (hub offline): the sensor sends the summaries again and they are acknowledged then.
      this.ctx.client.publish(topics.ack(site, sensor), JSON.stringify(ack), { qos: 1 }, (err) => {
        if (err) this.stats.ackErrors++;
      });
      this.stats.acksSent++;
    }
  }
}
