// hub.yaml: the hub's configuration schema (every key documented where it is declared) and a small
// loader whose errors name the file, the key path and what to do.

import fs from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';

const tlsFilesSchema = z
  .strictObject({
    ca: z.string().optional().describe('CA certificate file (PEM) to verify the other side with.'),
    cert: z.string().optional().describe('Client certificate file (PEM) for mutual TLS.'),
    key: z.string().optional().describe('Private key file (PEM) matching `cert`.'),
  });

export const hubConfigSchema = z
  .strictObject({
    mqtt: z
      .strictObject({
        url: z.string().min(1).default('mqtt://127.0.0.1:1883').describe('Broker URL (mqtt://, mqtts://, ws://, wss://).'),
        clientId: z
          .string()
          .min(1)
          .max(128)
          .optional()
          .describe('MQTT client id. Default `vigil-hub-main-<host>-<pid>` (unique, clean session); set a fixed one per hub for a persistent session (see sessionExpirySeconds).'),
        username: z.string().optional().describe('Broker user name, if the broker needs one.'),
        password: z.string().optional().describe('Broker password for `username`.'),
        tls: tlsFilesSchema.optional().describe('TLS files for the broker connection; omit for plain MQTT or system CAs.'),
        sharedGroup: z
          .string()
          .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only (it is a topic level)')
          .default('vigil-hub')
          .describe('MQTT 5 shared-subscription group: hubs in one group split the anomaly summaries.'),
        protocolVersion: z
          .union([z.literal(5), z.literal(4)])
          .default(5)
          .describe(
            'MQTT protocol version: 5 (shared subscriptions, so several hubs can split the load), or 4 (MQTT 3.1.1, for brokers such as the demo’s embedded one: one hub only, `sharedGroup` is not used).',
          ),
        sessionExpirySeconds: z
          .number()
          .int()
          .min(0)
          .default(7 * 86400)
          .describe(
            'With a fixed `clientId`, the broker keeps the hub’s session (and queues summaries for it) this long while the hub is down, so a hub restart loses nothing. 0, or no `clientId`: a clean session each time.',
          ),
      })
      .default({ url: 'mqtt://127.0.0.1:1883', sharedGroup: 'vigil-hub', protocolVersion: 5, sessionExpirySeconds: 7 * 86400 })
      .describe('Where the hub reads summaries from and publishes segment configuration to.'),
    store: z
      .strictObject({
        path: z.string().min(1).default('vigil-hub.sqlite').describe('SQLite database file (created if missing).'),
        retentionDays: z
          .number()
          .positive()
          .default(30)
          .describe('Anomalies older than this many days (by event time) are purged; sensors and configs are kept.'),
        batchSize: z
          .number()
          .int()
          .min(1)
          .max(10_000)
          .default(500)
          .describe('Largest number of summaries written in one transaction.'),
        batchMaxDelayMs: z
          .number()
          .int()
          .min(0)
          .max(10_000)
          .default(200)
          .describe('Longest a received summary waits before its batch is written (milliseconds).'),
      })
      .default({ path: 'vigil-hub.sqlite', retentionDays: 30, batchSize: 500, batchMaxDelayMs: 200 })
      .describe('Where anomalies, sensors, configurations and feedback are kept.'),
    http: z
      .strictObject({
        host: z.string().min(1).default('127.0.0.1').describe('Address the API listens on; loopback unless you mean it.'),
        port: z.number().int().min(0).max(65535).default(8470).describe('TCP port of the API (0: any free port).'),
        token: z
          .string()
          .min(16, 'must be at least 16 characters')
          .describe('Bearer token every API request must carry (`Authorization: Bearer <token>`). Required.'),
        tls: z
          .strictObject({
            cert: z.string().min(1).describe('Server certificate file (PEM).'),
            key: z.string().min(1).describe('Private key file (PEM) for `cert`.'),
          })
          .optional()
          .describe('Serve HTTPS with this certificate; omit for plain HTTP.'),
      })
      .describe('The JSON API for analysts and tools.'),
    silentAfterSeconds: z
      .number()
      .positive()
      .default(180)
      .describe('A sensor whose health has not arrived for this long is shown as silent.'),
  })
  .describe('vigil hub configuration (hub.yaml).');

export type HubConfig = z.infer<typeof hubConfigSchema>;

/** A configuration that cannot be used: every problem with its key path. */
export class HubConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: ${problems.join('; ')}`);
  }
}

/** Checks an already-parsed object; `file` is only used in error messages. */
export function parseHubConfig(raw: unknown, file = '<config>'): HubConfig {
  const result = hubConfigSchema.safeParse(raw ?? {});
  if (!result.success) {
    throw new HubConfigError(
      file,
      result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`),
    );
  }
  return result.data;
}

export function loadHubConfig(file: string): HubConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new HubConfigError(file, [`cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)}); pass --config <path to hub.yaml>`]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const where = err.linePos?.[0] ? `line ${err.linePos[0].line}, column ${err.linePos[0].col}` : 'somewhere';
      throw new HubConfigError(file, [`not valid YAML at ${where}: ${err.message.split('\n')[0]}`]);
    }
    throw err;
  }
  return parseHubConfig(raw, file);
}
