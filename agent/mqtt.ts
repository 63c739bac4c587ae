// The MQTT transport (DESIGN §5, STYLE "The daemon"): publishes the outbox's summaries in
// batches (a JSON array per anomaly/<tier> topic, QoS 1), a retained birth status with a
// retained last will (offline), and periodic health. MQTT 5, falling back to 3.1.1 when the
// broker refuses v5. Publishing is windowed (at most `maxInflight` unacknowledged messages) and
// never throws: failures are counted and the rows stay in the outbox until a PUBACK deletes them.

import fs from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { ConfigError, type MqttConfig } from './config.js';
import type { Counters, MetricsRegistry } from './metrics.js';
import type { Outbox, OutboxRow } from './outbox.js';
import { type Health, type Status, type Tier, WIRE_VERSION, ackSchema, topics } from './wire.js';

export interface PublisherOptions {
  config: MqttConfig;
  site: string;
  sensor: string;
  outbox: Outbox;
  metrics: MetricsRegistry;
  version: string;
  collectors: string[];
  /** Segment → configuration version in force, for the birth status. */
  configVersions?: () => Record<string, number>;
  /** Seconds the input lags wall time (newest event time seen), or null before any input. */
  lagSeconds?: () => number | null;
  log: (line: string) => void;
  /** Called on every (re)connect after the birth message: subscribe here (DESIGN §8). */
  onConnect?: (client: MqttClient) => void;
  onMessage?: (topic: string, payload: Buffer) => void;
  nowMs?: () => number;
}

/** CONNACK codes meaning "this broker does not speak MQTT 5" (v3 code 1, v5 code 0x84). */
const UNSUPPORTED_PROTOCOL = new Set([1, 132]);

export class Publisher {
  private client?: MqttClient;
  private protocolVersion: 4 | 5 = 5;
  private readonly counters: Counters;
  /** Highest outbox seq handed to the client; rows after it are what to publish next. */
  private cursor = 0;
  /** Seqs published and not yet acknowledged (they are skipped when the cursor is rewound). */
  private readonly inflightSeqs = new Set<number>();
  private inflightMessages = 0;
  private batchTimer?: NodeJS.Timeout;
  private healthTimer?: NodeJS.Timeout;
  private reconnectDelay: number;
  private stopping = false;
  private idleWaiters: (() => void)[] = [];
  private readonly nowMs: () => number;

  constructor(private readonly opts: PublisherOptions) {
    this.counters = opts.metrics.counters('mqtt');
    this.reconnectDelay = opts.config.reconnectMinMs;
    this.nowMs = opts.nowMs ?? Date.now;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Connects (in the background: reconnects forever until `stop`). Throws (ConfigError) only on unreadable TLS files. */
  start(): void {
    const c = this.opts.config;
    const tls: Partial<IClientOptions> = {};
    if (c.tls) {
      const read = (what: string, file?: string) => {
        if (file === undefined) return undefined;
        try {
          return fs.readFileSync(file);
        } catch (err) {
          throw new ConfigError('agent configuration', [
            {
              path: `mqtt.tls.${what}`,
              message: `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); fix the path or install the file`,
            },
          ]);
        }
      };
      tls.ca = read('ca', c.tls.ca);
      tls.cert = read('cert', c.tls.cert);
      tls.key = read('key', c.tls.key);
      tls.rejectUnauthorized = c.tls.rejectUnauthorized;
    }
    this.tlsOptions = tls;
    this.connect();
    this.healthTimer = setInterval(() => this.publishHealth(), c.healthIntervalSeconds * 1000);
    this.healthTimer.unref();
    if (c.hubAck) {
      // Rows the hub has not acknowledged in time are due again: rescan the outbox from the start.
      this.resendTimer = setInterval(
        () => {
          this.cursor = 0;
          this.pump();
        },
        Math.max(250, (c.hubAckTimeoutSeconds * 1000) / 2),
      );
      this.resendTimer.unref();
    }
  }

  private resendTimer?: NodeJS.Timeout;

  private tlsOptions: Partial<IClientOptions> = {};

  private connect(): void {
    const c = this.opts.config;
    const { site, sensor } = this.opts;
    const will: Status = { v: WIRE_VERSION, state: 'offline', site, sensor };
    const client = mqtt.connect(c.url, {
      ...this.tlsOptions,
      protocolVersion: this.protocolVersion,
      clientId: c.clientId ?? `vigil-${site}-${sensor}`,
      username: c.username,
      password: c.password,
      keepalive: c.keepaliveSeconds,
      reconnectPeriod: this.reconnectDelay,
      connectTimeout: 10_000,
      clean: true,
      will: { topic: topics.status(site, sensor), payload: Buffer.from(JSON.stringify(will)), qos: 1, retain: true },
    });
    this.client = client;
    client.on('connect', () => {
      this.reconnectDelay = c.reconnectMinMs;
      client.options.reconnectPeriod = this.reconnectDelay;
      this.counters.add('connects');
      this.opts.log(`vigil agent: connected to ${c.url} (MQTT ${this.protocolVersion === 5 ? '5' : '3.1.1'})`);
      this.publishStatus('online');
      // Clean session: the acknowledgement topic is subscribed on every connect.
      if (c.hubAck) {
        client.subscribe(topics.ack(site, sensor), { qos: 1 }, (err) => {
          if (err) this.opts.log(`vigil agent: could not subscribe to hub acknowledgements: ${err.message}`);
        });
      }
      try {
        this.opts.onConnect?.(client);
      } catch (err) {
        this.counters.errors++;
        this.opts.log(`vigil agent: mqtt connect handler failed: ${(err as Error).message}`);
      }
      // Rows whose publish failed before the disconnect are sent again from the cursor.
      this.pump();
    });
    const ackTopic = topics.ack(site, sensor);
    client.on('message', (topic, payload) => {
      if (topic === ackTopic) this.handleAck(payload);
      else this.opts.onMessage?.(topic, payload);
    });
    client.on('close', () => {
      // Backoff: each failed attempt doubles the delay up to the cap; a connect resets it.
      this.reconnectDelay = Math.min(this.reconnectDelay * 2, c.reconnectMaxMs);
      client.options.reconnectPeriod = this.reconnectDelay;
    });
    client.on('error', (err) => {
      const code = (err as Error & { code?: number }).code;
      if (this.protocolVersion === 5 && typeof code === 'number' && UNSUPPORTED_PROTOCOL.has(code)) {
        this.opts.log(`vigil agent: ${c.url} refused MQTT 5; using MQTT 3.1.1`);
        this.protocolVersion = 4;
        client.end(true, () => {
          if (!this.stopping) this.connect();
        });
        return;
      }
      this.counters.errors++;
      this.opts.log(`vigil agent: mqtt ${c.url}: ${err.message} (retrying in ${this.reconnectDelay} ms)`);
    });
  }

  /** New rows are in the outbox: publish them once the batch interval has passed. */
  notify(): void {
    if (this.batchTimer || this.stopping) return;
    this.batchTimer = setTimeout(() => {
      this.batchTimer = undefined;
      this.pump();
    }, this.opts.config.batchIntervalMs);
  }

  /** With hubAck: rows marked sent before this time (ms) and not acknowledged are due again. */
  private resendBefore(): number {
    const c = this.opts.config;
    return c.hubAck ? this.nowMs() - c.hubAckTimeoutSeconds * 1000 : 0;
  }

  /** The hub's acknowledgement: the summaries it stored leave the outbox. */
  private handleAck(payload: Buffer): void {
    let ids: string[];
    try {
      const parsed = ackSchema.safeParse(JSON.parse(payload.toString('utf8')));
      if (!parsed.success) throw new Error(parsed.error.issues[0]?.message ?? 'invalid');
      ids = parsed.data.ids;
    } catch (err) {
      this.counters.errors++;
      this.counters.add('bad_acks');
      this.opts.log(`vigil agent: ignored a malformed hub acknowledgement: ${(err as Error).message}`);
      return;
    }
    try {
      this.counters.add('hub_acked', this.opts.outbox.ackIds(ids));
    } catch (err) {
      // The state file closed under us (shutdown): the rows are sent again and acknowledged later.
      this.counters.errors++;
      this.opts.log(`vigil agent: could not delete acknowledged rows: ${(err as Error).message}`);
    }
  }

  /** Publishes outbox rows in order while connected and the in-flight window has room. */
  private pump(): void {
    const client = this.client;
    const c = this.opts.config;
    try {
      while (client?.connected && !this.stopping && this.inflightMessages < c.maxInflight) {
        const rows = this.opts.outbox
          .next(this.cursor, c.batchMaxSummaries, this.resendBefore())
          .filter((r) => !this.inflightSeqs.has(r.seq));
        if (rows.length === 0) {
          // Everything after the cursor may be in flight already; move the cursor past them.
          const more = this.opts.outbox.next(this.cursor, c.batchMaxSummaries, this.resendBefore());
          if (more.length === 0) break;
          this.cursor = more[more.length - 1].seq;
          continue;
        }
        this.cursor = rows[rows.length - 1].seq;
        const byTier = new Map<Tier, OutboxRow[]>();
        for (const r of rows) {
          const list = byTier.get(r.tier) ?? [];
          list.push(r);
          byTier.set(r.tier, list);
        }
        for (const [tier, batch] of byTier) this.publishBatch(client, tier, batch);
      }
    } catch (err) {
      this.counters.errors++;
      this.opts.log(`vigil agent: could not read the outbox: ${(err as Error).message}`);
    }
  }

  private publishBatch(client: MqttClient, tier: Tier, batch: OutboxRow[]): void {
    const { site, sensor } = this.opts;
    const seqs = batch.map((r) => r.seq);
    for (const s of seqs) this.inflightSeqs.add(s);
    this.inflightMessages++;
    const payload = JSON.stringify(batch.map((r) => r.summary));
    client.publish(topics.anomaly(site, sensor, tier), payload, { qos: 1 }, (err) => {
      this.inflightMessages--;
      for (const s of seqs) this.inflightSeqs.delete(s);
      if (err) {
        // Not acknowledged: the rows stay in the outbox; rewind so they are published again.
        this.counters.errors++;
        this.cursor = Math.min(this.cursor, seqs[0] - 1);
      } else {
        this.counters.emitted += batch.length;
        this.counters.add('messages');
        try {
          // End to end: the broker has it, but only the hub's acknowledgement removes it.
          if (this.opts.config.hubAck) this.opts.outbox.markSent(seqs, this.nowMs());
          else this.opts.outbox.ack(seqs);
        } catch (e) {
          // The state file closed under us (shutdown): the rows are simply published again later.
          this.counters.errors++;
          this.opts.log(`vigil agent: could not delete acknowledged rows: ${(e as Error).message}`);
        }
      }
      if (this.inflightMessages === 0) this.wakeIdle();
      this.pump();
    });
  }

  /** Publishes the retained online status again (after the configuration versions changed). */
  announce(): void {
    this.publishStatus('online');
  }

  private publishStatus(state: 'online' | 'offline', cb?: () => void): void {
    const { site, sensor } = this.opts;
    const status: Status = {
      v: WIRE_VERSION,
      state,
      site,
      sensor,
      at: this.nowMs(),
      version: this.opts.version,
      collectors: this.opts.collectors,
      configVersions: this.opts.configVersions?.() ?? {},
    };
    this.safePublish(topics.status(site, sensor), JSON.stringify(status), true, cb);
  }

  /** The health message (wire healthSchema) as it would be published now. */
  health(): Health {
    const counters: Health['counters'] = {};
    for (const [name, c] of Object.entries(this.opts.metrics.snapshot())) counters[name] = c;
    return {
      v: WIRE_VERSION,
      site: this.opts.site,
      sensor: this.opts.sensor,
      at: this.nowMs(),
      lagSeconds: this.opts.lagSeconds?.() ?? null,
      rssBytes: process.memoryUsage.rss(),
      outboxDepth: this.opts.outbox.depth,
      outboxDropped: this.opts.outbox.dropped,
      counters,
    };
  }

  private publishHealth(): void {
    if (!this.connected) return;
    try {
      this.safePublish(topics.health(this.opts.site, this.opts.sensor), JSON.stringify(this.health()), false);
    } catch (err) {
      this.counters.errors++;
      this.opts.log(`vigil agent: could not build health: ${(err as Error).message}`);
    }
  }

  /** Publishes a message that is not an outbox row (status, health, acknowledgements); never throws. */
  safePublish(topic: string, payload: string, retain: boolean, cb?: () => void): void {
    const client = this.client;
    if (!client?.connected) {
      cb?.();
      return;
    }
    try {
      client.publish(topic, payload, { qos: 1, retain }, (err) => {
        if (err) this.counters.errors++;
        cb?.();
      });
    } catch (err) {
      this.counters.errors++;
      this.opts.log(`vigil agent: publish to ${topic} failed: ${(err as Error).message}`);
      cb?.();
    }
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Clean stop: sends what is pending, publishes the offline status (a clean disconnect does not
   * fire the will), waits up to `waitMs` for outstanding PUBACKs, then disconnects. Rows not
   * acknowledged by then stay in the outbox for the next start.
   */
  /**
   * Waits until the outbox is empty (every summary acknowledged by the broker) or `waitMs` has
   * passed; returns the rows still waiting. For an agent whose input has ended (files), so that
   * it exits only once its findings are delivered.
   */
  async drain(waitMs: number): Promise<number> {
    const until = Date.now() + waitMs;
    this.notify();
    while (this.opts.outbox.depth > 0 && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return this.opts.outbox.depth;
  }

  async stop(waitMs = 2000): Promise<void> {
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    clearInterval(this.healthTimer);
    clearInterval(this.resendTimer);
    const client = this.client;
    if (!client) return;
    this.pump();
    this.stopping = true;
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, waitMs).unref());
    if (this.inflightMessages > 0) {
      await Promise.race([new Promise<void>((resolve) => this.idleWaiters.push(resolve)), deadline]);
    }
    await Promise.race([new Promise<void>((resolve) => this.publishStatus('offline', resolve)), deadline]);
    await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
  }
}
