// Live segment tuning: validation (every problem with its path), version ordering, persistence
// across a reopen, and end to end against a real Mosquitto: a retained configuration pushed to
// a running agent is acknowledged within 2 s and changes the summaries that follow; an invalid
// one is refused with its reasons and the previous one stays in force, also after a restart.

import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../agent/config.js';
import { MetricsRegistry } from '../../agent/metrics.js';
import { SegmentMap } from '../../agent/segments.js';
import { StateStore } from '../../agent/state.js';
import { Summarizer } from '../../agent/summary.js';
import { Tuning } from '../../agent/tuning.js';
import { topics } from '../../agent/wire.js';
import { MANY_FINDINGS, expectedFindingIds, Receiver, sampleLines, startAgent, waitUntil } from '../helpers/agent/mqtt-agent.js';
import { type Broker, startMosquitto } from '../helpers/mosquitto.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-tuning-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
});

function makeTuning(file: string) {
  const resolved = resolveConfig({ segments: { lab: { cidrs: ['10.30.0.0/16'] } } });
  const segments = new SegmentMap(resolved);
  const metrics = new MetricsRegistry();
  const summarizer = new Summarizer({
    site: 'lab',
    sensor: 's1',
    suppressRepeatsSeconds: 0,
    counters: metrics.counters('summarizer'),
  });
  const state = StateStore.open(file);
  const tuning = new Tuning({
    resolved,
    segments,
    summarizer,
    state,
    site: 'lab',
    sensor: 's1',
    counters: metrics.counters('tuning'),
    log: () => {},
  });
  return { tuning, segments, summarizer, state };
}

const msg = (body: unknown) => Buffer.from(JSON.stringify(body));

describe('Tuning', () => {
  it('applies a newer valid configuration, refuses an invalid one with every path, ignores old versions', () => {
    const { tuning, segments, summarizer, state } = makeTuning(path.join(tmp, 'unit.db'));
    try {
      expect(tuning.topics()).toEqual([topics.config('default'), topics.config('lab')]);
      const ok = tuning.handleMessage(
        topics.config('lab'),
        msg({ v: 1, segment: 'lab', version: 3, mode: 'audit', detectors: { baseline: { zThreshold: 5 } } }),
      );
      expect(ok).toMatchObject({ status: 'applied', version: 3, segment: 'lab' });
      expect(segments.detectorsFor('lab').baseline.zThreshold).toBe(5);
      expect(segments.detectorsFor('default').baseline.zThreshold).toBe(3);
      expect(summarizer.policyFor('lab').mode).toBe('audit');

      const bad = tuning.handleMessage(
        topics.config('lab'),
        msg({
          v: 1,
          segment: 'lab',
          version: 4,
          detectors: { baseline: { zThreshold: -1, bucketSeconds: 60, nope: true } },
        }),
      );
      expect(bad?.status).toBe('rejected');
      expect(bad?.version).toBe(4);
      expect(bad?.reason).toContain('detectors.baseline.zThreshold');
      expect(bad?.reason).toContain('detectors.baseline.bucketSeconds: is sensor-wide');
      expect(bad?.reason).toContain('detectors.baseline.nope: unknown key');
      expect(segments.detectorsFor('lab').baseline.zThreshold).toBe(5);
      expect(summarizer.policyFor('lab').mode).toBe('audit');

      const wrong = tuning.handleMessage(topics.config('lab'), msg({ v: 1, segment: 'lab', version: 'x' }));
      expect(wrong?.status).toBe('rejected');
      expect(wrong?.reason).toContain('version');

      expect(
        tuning.handleMessage(topics.config('lab'), msg({ v: 1, segment: 'lab', version: 3, mode: 'alert' })),
      ).toBeUndefined();
      expect(summarizer.policyFor('lab').mode).toBe('audit');
      expect(tuning.handleMessage(topics.config('other'), msg({ v: 1, segment: 'other', version: 9 }))).toBeUndefined();
      expect(tuning.versions()).toEqual({ lab: 3 });
    } finally {
      state.close();
    }
  });

  it('keeps the applied configuration across a reopen', () => {
    const file = path.join(tmp, 'persist.db');
    const a = makeTuning(file);
    a.tuning.handleMessage(
      topics.config('default'),
      msg({ v: 1, segment: 'default', version: 2, tiers: { low: 10, high: 20 }, detectors: { baseline: { zThreshold: 7 } } }),
    );
    a.state.close();
    const b = makeTuning(file);
    try {
      b.tuning.restore();
      expect(b.tuning.versions()).toEqual({ default: 2 });
      expect(b.segments.detectorsFor('default').baseline.zThreshold).toBe(7);
      expect(b.summarizer.policyFor('default').tiers).toEqual({ low: 10, high: 20 });
    } finally {
      b.state.close();
    }
  });
});

describe('Tuning over MQTT (real Mosquitto)', () => {
  let broker: Broker;
  let rx: Receiver;
  let hub: MqttClient;
  const expected = new Set<string>();
  const { header, data } = sampleLines();

  beforeAll(async () => {
    broker = await startMosquitto();
    rx = await Receiver.connect(broker.url, 'vigil-test-tuning-rx');
    hub = mqtt.connect(broker.url, { protocolVersion: 5 });
    await waitUntil(() => hub.connected, 10_000, 'hub client connect');
    for (const id of await expectedFindingIds(tmp)) expected.add(id);
  }, 30_000);
  afterAll(async () => {
    hub?.end(true);
    await rx?.close();
    await broker?.stop();
  });

  const push = (body: unknown) =>
    hub.publishAsync(topics.config('default'), JSON.stringify(body), { qos: 1, retain: true });

  it('applies a pushed configuration within 2 s, refuses an invalid one, keeps it after a restart', async () => {
    const log = path.join(tmp, 't-conn.log');
    fs.writeFileSync(log, `${header.join('\n')}\n`);
    const config = path.join(tmp, 't.yaml');
    fs.writeFileSync(
      config,
      [
        'sensor: { site: lab, name: t }',
        `state: { path: ${path.join(tmp, 't.db')}, snapshotIntervalSeconds: 0.5 }`,
        `collectors: { zeek: { tail: [${log}], pollIntervalMs: 50 } }`,
        `detectors: ${JSON.stringify(MANY_FINDINGS)}`,
        `mqtt: { url: '${broker.url}', hubAck: false, healthIntervalSeconds: 0.5, batchIntervalMs: 50 }`,
        '',
      ].join('\n'),
    );
    const agent = startAgent(config, children);
    const statuses = () => rx.statuses.filter((s) => s.sensor === 't');
    await waitUntil(() => statuses().at(-1)?.state === 'online', 15_000, 'online', agent.stderr);

    await push({ v: 1, segment: 'default', version: 1, mode: 'audit', tiers: { low: 90, high: 95 } });
    await waitUntil(() => rx.applied.some((a) => a.version === 1), 2_000, 'acknowledgement of version 1', agent.stderr);
    expect(rx.applied.find((a) => a.version === 1)).toMatchObject({ status: 'applied', segment: 'default', sensor: 't' });

    await push({ v: 1, segment: 'default', version: 2, mode: 'alert', detectors: { baseline: { zThreshold: 0 } } });
    await waitUntil(() => rx.applied.some((a) => a.version === 2), 2_000, 'acknowledgement of version 2', agent.stderr);
    const refused = rx.applied.find((a) => a.version === 2);
    expect(refused?.status).toBe('rejected');
    expect(refused?.reason).toContain('detectors.baseline.zThreshold');
    await waitUntil(() => statuses().at(-1)?.configVersions?.default === 1, 5_000, 'status with version 1');

    // The input arrives after the tuning: every summary carries version 1's mode and tiers.
    fs.appendFileSync(log, `${data.join('\n')}\n`);
    const got = () => rx.summaries.filter((s) => s.sensor === 't');
    await waitUntil(
      () => [...expected].every((id) => got().some((s) => s.finding === id)),
      40_000,
      'every finding',
      agent.stderr,
    );
    expect(got().every((s) => s.mode === 'audit')).toBe(true);
    expect(got().every((s) => s.tier === (s.score >= 95 ? 'high' : s.score >= 90 ? 'low' : 'info'))).toBe(true);
    expect(got().some((s) => s.tier === 'info')).toBe(true);

    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    // Clear the retained configuration: after a restart only the persisted state can supply it.
    await hub.publishAsync(topics.config('default'), '', { qos: 1, retain: true });
    const before = statuses().length;
    const again = startAgent(config, children);
    await waitUntil(
      () => statuses().length > before && statuses().at(-1)?.state === 'online',
      15_000,
      'online after restart',
      again.stderr,
    );
    expect(statuses().at(-1)?.configVersions).toEqual({ default: 1 });
    again.child.kill('SIGTERM');
    expect(await again.exited).toBe(0);
  }, 90_000);
});
