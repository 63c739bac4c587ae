// The sensor's configuration: one YAML file validated against a schema composed from each
// component's own schema (declared next to its code), with per-segment detector overrides
// merged over the defaults. Every problem is reported with its path (and YAML line).

import fs from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { zeekCollectorConfigSchema } from '../collectors/zeek/config.js';
import { pcapCollectorConfigSchema } from '../collectors/pcap/config.js';
import { baselineConfigSchema } from '../detectors/baseline/config.js';
import { BEACON_SENSOR_WIDE_KEYS, beaconConfigSchema } from '../detectors/beacon/config.js';
import { DEFAULT_LOCAL_NETS, parseCidr } from './netaddr.js';

const cidrList = z.array(z.string()).superRefine((list, ctx) => {
  list.forEach((text, i) => {
    try {
      parseCidr(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: [i], message: (err as Error).message });
    }
  });
});

export const detectorsConfigSchema = z
  .strictObject({
    baseline: baselineConfigSchema.prefault({}),
    beacon: beaconConfigSchema.prefault({}),
  })
  .describe('Detector tunables; each may be overridden per segment.');

/** Settings of the volume detector that cannot differ between segments (they shape its state). */
const SENSOR_WIDE_KEYS: Record<string, readonly string[]> = {
  baseline: ['bucketSeconds', 'historyBuckets', 'maxEntities', 'latenessSeconds'],
  beacon: BEACON_SENSOR_WIDE_KEYS,
};

const segmentSchema = z.strictObject({
  cidrs: cidrList.default([]).describe('Address ranges that belong to this segment.'),
  vlans: z
    .array(z.number().int().min(0).max(4095))
    .default([])
    .describe('802.1Q VLAN ids that belong to this segment (matched when a record carries a VLAN).'),
  detectors: z
    .record(z.string(), z.unknown())
    .default({})
    .describe('Overrides of the `detectors` section for this segment; anything not set is inherited.'),
});

/** The MQTT transport (DESIGN §5); without this section the agent writes JSON lines. */
export const mqttConfigSchema = z.strictObject({
  url: z
    .string()
    .regex(/^(mqtts?|wss?|tcp|ssl):\/\//, 'must be a broker URL such as mqtt://host:1883 or mqtts://host:8883')
    .describe('Broker URL (`mqtt://`, `mqtts://` for TLS).'),
  clientId: z
    .string()
    .min(1)
    .max(128)
    .optional()
    .describe('MQTT client id; default `vigil-<site>-<sensor>`.'),
  username: z.string().optional().describe('User name for the broker.'),
  password: z.string().optional().describe('Password for the broker.'),
  tls: z
    .strictObject({
      ca: z.string().optional().describe('File with the CA certificate(s) that signed the broker’s certificate.'),
      cert: z.string().optional().describe('File with this sensor’s client certificate (mutual TLS).'),
      key: z.string().optional().describe('File with the private key of the client certificate.'),
      rejectUnauthorized: z
        .boolean()
        .default(true)
        .describe('Refuse a broker whose certificate does not verify (turn off only for tests).'),
    })
    .optional()
    .describe('TLS settings (used with `mqtts://`).'),
  keepaliveSeconds: z.number().int().min(5).max(3600).default(30).describe('MQTT keepalive interval.'),
  reconnectMinMs: z
    .number()
    .int()
    .min(100)
    .default(1000)
    .describe('First reconnect delay; it doubles after each failed attempt.'),
  reconnectMaxMs: z.number().int().min(100).default(30_000).describe('Cap on the reconnect delay.'),
  healthIntervalSeconds: z.number().gt(0).default(60).describe('How often health is published.'),
  hubAck: z
    .boolean()
    .default(true)
    .describe(
      'Keep each summary in the outbox until the hub acknowledges it stored it (end to end), not only until the broker accepts it; needs a vigil hub on the broker. Set false when something else consumes the summaries.',
    ),
  hubAckTimeoutSeconds: z
    .number()
    .gt(0)
    .default(60)
    .describe('A summary the broker accepted but the hub has not acknowledged after this long is sent again (the hub de-duplicates).'),
  drainOnExitSeconds: z
    .number()
    .min(0)
    .default(30)
    .describe(
      'When the input ends (files only, no tail), how long the agent waits for the broker to acknowledge every queued summary before it exits; what is left stays in the outbox for the next run.',
    ),
  batchMaxSummaries: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(100)
    .describe('Most summaries in one message (a JSON array per anomaly/<tier> topic).'),
  batchIntervalMs: z
    .number()
    .int()
    .min(0)
    .max(60_000)
    .default(200)
    .describe('How long summaries may wait to be batched before they are sent.'),
  maxInflight: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(100)
    .describe('Most messages published and not yet acknowledged (PUBACK) at any time.'),
  outbox: z
    .strictObject({
      maxRows: z
        .number()
        .int()
        .min(1)
        .default(100_000)
        .describe('Most summaries kept while the broker is unreachable; beyond it the oldest of the lowest tier are dropped (counted).'),
    })
    .prefault({}),
  suppressRepeatsSeconds: z
    .number()
    .min(0)
    .default(3600)
    .describe('A finding with the same id is not sent again within this many seconds.'),
});

export type MqttConfig = z.infer<typeof mqttConfigSchema>;

export const agentConfigSchema = z.strictObject({
  sensor: z
    .strictObject({
      site: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/, 'must be letters, digits, - or _ (it is an MQTT topic level)')
        .default('local')
        .describe('Site name (an MQTT topic level).'),
      name: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/, 'must be letters, digits, - or _ (it is an MQTT topic level)')
        .default('sensor')
        .describe('This sensor’s name, unique within its site.'),
    })
    .prefault({}),
  state: z
    .strictObject({
      path: z
        .string()
        .default(':memory:')
        .describe('SQLite file for checkpoints and detector state (`:memory:` keeps nothing across restarts).'),
      snapshotIntervalSeconds: z
        .number()
        .gt(0)
        .default(60)
        .describe('How often (wall time) detector state and collector checkpoints are written together.'),
    })
    .prefault({}),
  localNets: cidrList
    .default([...DEFAULT_LOCAL_NETS])
    .describe('Networks whose hosts are local (internal). Zeek’s local_orig/local_resp take precedence when present.'),
  collectors: z
    .strictObject({
      zeek: zeekCollectorConfigSchema.optional().describe('Zeek log input (files, tailing, archive backfill).'),
      pcap: pcapCollectorConfigSchema
        .optional()
        .describe('Packet input (capture files or a live interface); one of zeek or pcap per agent.'),
    })
    .prefault({}),
  detectors: detectorsConfigSchema.prefault({}),
  segments: z
    .record(z.string().regex(/^[A-Za-z0-9_-]+$/, 'segment names must be letters, digits, - or _'), segmentSchema)
    .default({})
    .describe('Named network segments; hosts outside all of them are in segment `default`.'),
  pipeline: z
    .strictObject({
      batchSize: z
        .number()
        .int()
        .min(1)
        .max(1_000_000)
        .default(4096)
        .describe('Records per batch handed to the detectors.'),
    })
    .prefault({}),
  mqtt: mqttConfigSchema
    .optional()
    .describe('Publish summaries, status and health to an MQTT broker; absent: findings are written as JSON lines.'),
});

export type AgentConfig = z.infer<typeof agentConfigSchema>;
export type DetectorsConfig = z.infer<typeof detectorsConfigSchema>;

export interface ConfigProblem {
  /** Dotted path of the offending key (`detectors.baseline.zThreshold`), or `` for the file. */
  path: string;
  /** 1-based line in the YAML file, when known. */
  line?: number;
  message: string;
}

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: ConfigProblem[],
  ) {
    super(`${file}: ${problems.map(formatProblem).join('; ')}`);
    this.name = 'ConfigError';
  }
}

export function formatProblem(p: ConfigProblem): string {
  const where = p.line !== undefined ? `line ${p.line}: ` : '';
  return `${where}${p.path || '(file)'}: ${p.message}`;
}

/** The effective configuration: validated, with each segment’s detector settings resolved. */
export interface ResolvedConfig {
  config: AgentConfig;
  /** Segment name → merged detector configuration; always has `default`. */
  segmentDetectors: Map<string, DetectorsConfig>;
}

/** Reads and validates a YAML file. Throws ConfigError listing every problem. */
export function loadConfigFile(file: string): ResolvedConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [
      { path: '', message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` },
    ]);
  }
  return parseConfigText(text, file);
}

export function parseConfigText(text: string, file = '<config>'): ResolvedConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({
        path: '',
        line: lineCounter.linePos(e.pos[0]).line,
        message: `YAML syntax: ${e.message.split('\n')[0]}`,
      })),
    );
  }
  const raw = doc.toJS() ?? {};
  const lineOf = (path: (string | number)[]): number | undefined => {
    // Point at the deepest node that exists on the path (an unknown key's parent, say).
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      const pair = n > 0 ? findKeyNode(doc, path.slice(0, n)) : undefined;
      const offset = pair ?? node?.range?.[0];
      if (offset !== undefined) return lineCounter.linePos(offset).line;
    }
    return undefined;
  };
  return resolveConfig(raw, file, lineOf);
}

/** Validates an already-parsed object (for configuration pushed over MQTT, or tests). */
export function resolveConfig(
  raw: unknown,
  file = '<config>',
  lineOf: (path: (string | number)[]) => number | undefined = () => undefined,
): ResolvedConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(file, [{ path: '', message: 'must be a mapping of settings (key: value)' }]);
  }
  const problems: ConfigProblem[] = [];
  const parsed = agentConfigSchema.safeParse(raw);
  if (!parsed.success) problems.push(...zodProblems(parsed.error.issues, [], lineOf));
  const segmentDetectors = new Map<string, DetectorsConfig>();
  const rawObj = raw as Record<string, unknown>;
  const baseDetectors = isObject(rawObj.detectors) ? rawObj.detectors : {};
  const rawSegments = isObject(rawObj.segments) ? rawObj.segments : {};
  for (const [name, seg] of Object.entries(rawSegments)) {
    if (name === 'default') {
      problems.push({
        path: 'segments.default',
        line: lineOf(['segments', name]),
        message: '`default` is implicit: set its values under the top-level `detectors`',
      });
      continue;
    }
    const overrides = isObject(seg) && isObject(seg.detectors) ? seg.detectors : {};
    const merged = mergeSegmentDetectors(baseDetectors, overrides, ['segments', name, 'detectors'], lineOf);
    if (merged.detectors) segmentDetectors.set(name, merged.detectors);
    problems.push(...merged.problems);
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(file, dedupe(problems));
  segmentDetectors.set('default', parsed.data.detectors);
  return { config: parsed.data, segmentDetectors };
}

/**
 * One segment's detector settings: `overrides` merged over `baseDetectors` and validated, with
 * the problems the overrides themselves introduced (paths under `prefix`); sensor-wide keys may
 * not be overridden. Used for the file's segments and for tuning pushed over MQTT.
 */
export function mergeSegmentDetectors(
  baseDetectors: unknown,
  overrides: Record<string, unknown>,
  prefix: (string | number)[],
  lineOf: (path: (string | number)[]) => number | undefined = () => undefined,
): { detectors?: DetectorsConfig; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  for (const [detector, keys] of Object.entries(SENSOR_WIDE_KEYS)) {
    const o = overrides[detector];
    if (!isObject(o)) continue;
    for (const key of keys) {
      if (key in o) {
        const path = [...prefix, detector, key];
        problems.push({
          path: path.join('.'),
          line: lineOf(path),
          message: 'is sensor-wide and cannot be set per segment',
        });
      }
    }
  }
  const merged = detectorsConfigSchema.safeParse(deepMerge(baseDetectors, overrides));
  if (merged.success) return { detectors: problems.length === 0 ? merged.data : undefined, problems };
  // Report only what the override itself introduced; base problems are reported elsewhere.
  const own: z.core.$ZodIssue[] = [];
  for (const issue of merged.error.issues) {
    const at = issue.path as (string | number)[];
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.filter((k) => overrideHas(overrides, [...at, k]));
      if (keys.length > 0) own.push({ ...issue, keys });
    } else if (overrideHas(overrides, at)) own.push(issue);
  }
  problems.push(...zodProblems(own, prefix, lineOf));
  return { problems };
}

function zodProblems(
  issues: readonly z.core.$ZodIssue[],
  prefix: (string | number)[],
  lineOf: (path: (string | number)[]) => number | undefined,
): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of issues) {
    const base = [...prefix, ...(issue.path as (string | number)[])];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const path = [...base, key];
        out.push({
          path: path.join('.'),
          line: lineOf(path),
          message: 'unknown key (see the configuration reference in README.md)',
        });
      }
      continue;
    }
    out.push({ path: base.join('.'), line: lineOf(base), message: describeIssue(issue) });
  }
  return out;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'too_small': {
      const min = Number(issue.minimum);
      if (issue.origin === 'array' || issue.origin === 'string')
        return `must have at least ${min} ${issue.origin === 'array' ? 'entries' : 'characters'}`;
      return `must be ${issue.inclusive ? '>=' : '>'} ${min}`;
    }
    case 'too_big': {
      const max = Number(issue.maximum);
      if (issue.origin === 'array' || issue.origin === 'string')
        return `must have at most ${max} ${issue.origin === 'array' ? 'entries' : 'characters'}`;
      return `must be ${issue.inclusive ? '<=' : '<'} ${max}`;
    }
    case 'invalid_type':
      if (issue.expected === 'int') return 'must be a whole number';
      return `must be ${article(issue.expected)}${'input' in issue && issue.input === undefined ? ' (missing)' : ''}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_format':
      return issue.message ?? 'has the wrong format';
    default:
      return issue.message;
  }
}

function article(expected: string): string {
  if (expected === 'object' || expected === 'record') return 'a mapping (key: value)';
  if (expected === 'array') return 'a list';
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function findKeyNode(doc: ReturnType<typeof parseDocument>, path: (string | number)[]): number | undefined {
  const parent = path.length > 1 ? doc.getIn(path.slice(0, -1), true) : doc.contents;
  const items = (parent as { items?: { key?: { value?: unknown; range?: [number, number, number] } }[] } | null)?.items;
  if (!items) return undefined;
  const last = path[path.length - 1];
  if (typeof last === 'number') {
    const item = items[last] as { range?: [number, number, number] } | undefined;
    return item?.range?.[0];
  }
  for (const item of items) if (item.key?.value === last) return item.key.range?.[0];
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Objects merge key by key; anything else (lists included) in `over` replaces `base`. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

/** True when the override itself sets the value at `path`. */
function overrideHas(obj: unknown, path: (string | number)[]): boolean {
  let cur: unknown = obj;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object' || !(key in cur)) return false;
    cur = (cur as Record<string | number, unknown>)[key];
  }
  return true;
}

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}|${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
