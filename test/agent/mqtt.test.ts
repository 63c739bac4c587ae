// The MQTT transport against a real Mosquitto: the agent (a child process) keeps every summary
// through a 10 s broker outage and through a SIGKILL + restart (durable outbox, ordered replay),
// the retained status flips to offline (last will) and back to online, rows stranded in the
// outbox of a killed agent are published by the next run, and a full outbox drops
// the oldest rows of the lowest tier first while the broker is down.

import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mqttConfigSchema } from '../../agent/config.js';
import { MetricsRegistry } from '../../agent/metrics.js';
import { Publisher } from '../../agent/mqtt.js';
import { Outbox } from '../../agent/outbox.js';
import { StateStore } from '../../agent/state.js';
import { type Status, healthSchema, statusSchema, topics } from '../../agent/wire.js';
import { type Broker, startMosquitto } from '../helpers/mosquitto.js';
import { MANY_FINDINGS, expectedFindingIds, Receiver, sampleLines, startAgent, waitUntil } from '../helpers/agent/mqtt-agent.js';
import { fakeSummary } from '../helpers/agent/summaries.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-mqtt-'));
const children: ChildProcess[] = [];
let broker: Broker;
let rx: Receiver;
const { header, data } = sampleLines();
const cut = Math.floor(data.length * 0.5);
/** Finding ids an offline replay of the whole log gives: what each agent run must deliver. */
const expected = new Set<string>();

beforeAll(async () => {
  broker = await startMosquitto({ persistence: true });
  rx = await Receiver.connect(broker.url, 'vigil-test-rx');
  for (const id of await expectedFindingIds(tmp)) expected.add(id);
}, 30_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await rx?.close();
  await broker?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function writeConfig(name: string, log: string): string {
  const file = path.join(tmp, `${name}.yaml`);
  fs.writeFileSync(
    file,
    [
      `sensor: { site: lab, name: ${name} }`,
      `state: { path: ${path.join(tmp, `${name}.db`)}, snapshotIntervalSeconds: 0.5 }`,
      `collectors: { zeek: { tail: [${log}], pollIntervalMs: 50 } }`,
      `detectors: ${JSON.stringify(MANY_FINDINGS)}`,
      `mqtt: { url: '${broker.url}', hubAck: false, healthIntervalSeconds: 0.5, reconnectMinMs: 200, reconnectMaxMs: 1000, batchIntervalMs: 50 }`,
      '',
    ].join('\n'),
  );
  return file;
}

const findingsOf = (sensor: string) => new Set(rx.summaries.filter((s) => s.sensor === sensor).map((s) => s.finding));
const missing = (sensor: string) => () => {
  const got = findingsOf(sensor);
  return `${[...expected].filter((id) => !got.has(id)).length} of ${expected.size} findings missing`;
};
/** The last counters an agent printed on SIGUSR1. */
function countersOf(stderr: string): Record<string, { emitted: number }> | undefined {
  const line = stderr
    .split('\n')
    .filter((l) => l.includes('counters {'))
    .at(-1);
  return line ? (JSON.parse(line.slice(line.indexOf('{'))) as Record<string, { emitted: number }>) : undefined;
}
const lastStatus = (sensor: string): Status | undefined => rx.statuses.filter((s) => s.sensor === sensor).at(-1);

describe('MQTT transport (real Mosquitto)', () => {
  it('delivers every summary across a 10 s broker outage', async () => {
    expect(expected.size).toBeGreaterThan(1000);
    const log = path.join(tmp, 'a-conn.log');
    fs.writeFileSync(log, `${[...header, ...data.slice(0, cut)].join('\n')}\n`);
    const agent = startAgent(writeConfig('a', log), children);
    await waitUntil(() => findingsOf('a').size > 0, 30_000, 'first summaries', agent.stderr);
    expect(lastStatus('a')?.state).toBe('online');
    expect(statusSchema.parse(lastStatus('a'))).toMatchObject({ collectors: ['zeek'], configVersions: {} });

    await broker.stop();
    fs.appendFileSync(log, `${data.slice(cut).join('\n')}\n`);
    await new Promise((r) => setTimeout(r, 10_000));
    const beforeRestart = findingsOf('a').size;
    expect(beforeRestart).toBeLessThan(expected.size);
    await broker.restart();

    await waitUntil(() => [...expected].every((id) => findingsOf('a').has(id)), 40_000, 'every finding', missing('a'));
    // Every summary the agent made (counted in health) arrived, and nothing is left in its outbox.
    await waitUntil(
      () => rx.lastHealth?.sensor === 'a' && rx.lastHealth.outboxDepth === 0,
      10_000,
      'an empty outbox in health',
    );
    expect(healthSchema.parse(rx.lastHealth)).toEqual(rx.lastHealth);
    expect(rx.lastHealth?.counters.zeek.received).toBe(data.length);
    const made = rx.lastHealth?.counters.summarizer.emitted;
    expect(new Set(rx.summaries.filter((s) => s.sensor === 'a').map((s) => s.id)).size).toBe(made);
    expect([...findingsOf('a')].every((id) => expected.has(id))).toBe(true);
    expect(rx.lastHealth?.outboxDropped).toBe(0);

    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    await waitUntil(() => lastStatus('a')?.state === 'offline', 5_000, 'offline status after a clean stop');
  }, 90_000);

  it('delivers every summary across a SIGKILL and restart; the will marks it offline', async () => {
    const log = path.join(tmp, 'b-conn.log');
    fs.writeFileSync(log, `${[...header, ...data.slice(0, cut)].join('\n')}\n`);
    const config = writeConfig('b', log);
    const first = startAgent(config, children);
    await waitUntil(() => findingsOf('b').size > 50, 30_000, 'first summaries', first.stderr);
    fs.appendFileSync(log, `${data.slice(cut).join('\n')}\n`);
    first.child.kill('SIGKILL');
    await first.exited;
    await waitUntil(() => lastStatus('b')?.state === 'offline', 10_000, 'the last will (offline)');
    // It is retained: a client arriving now is told the sensor is offline.
    const late = mqtt.connect(broker.url, { protocolVersion: 5 });
    try {
      const retained = await new Promise<Status>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no retained status within 5 s')), 5_000);
        late.on('message', (_t, p) => {
          clearTimeout(timer);
          resolve(JSON.parse(p.toString()) as Status);
        });
        late.on('connect', () => late.subscribe(topics.status('lab', 'b'), { qos: 1 }));
      });
      expect(retained.state).toBe('offline');
    } finally {
      late.end(true);
    }

    // Killed again while the broker is down: what its outbox holds must arrive after the restart.
    await broker.stop();
    const second = startAgent(config, children);
    await waitUntil(
      () => {
        if (second.stderr().includes(': started')) second.child.kill('SIGUSR1');
        return (countersOf(second.stderr())?.summarizer?.emitted ?? 0) > 0;
      },
      30_000,
      'summaries made while the broker is down',
      second.stderr,
    );
    second.child.kill('SIGKILL');
    await second.exited;
    const stateFile = StateStore.open(path.join(tmp, 'b.db'));
    const stranded = new Outbox(stateFile, 1_000_000).next(0, 1_000_000).map((r) => r.summary.id);
    stateFile.close();
    expect(stranded.length).toBeGreaterThan(0);
    await broker.restart();

    const third = startAgent(config, children);
    await waitUntil(() => lastStatus('b')?.state === 'online', 15_000, 'online again', third.stderr);
    await waitUntil(() => [...expected].every((id) => findingsOf('b').has(id)), 40_000, 'every finding', missing('b'));
    const ids = () => new Set(rx.summaries.map((s) => s.id));
    await waitUntil(() => stranded.every((id) => ids().has(id)), 10_000, 'the stranded outbox rows');
    expect([...findingsOf('b')].every((id) => expected.has(id))).toBe(true);
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
  }, 90_000);

  it('with the broker down, a full outbox drops the oldest of the lowest tier first and counts it', async () => {
    const state = StateStore.open(path.join(tmp, 'c.db'));
    const outbox = new Outbox(state, 4);
    const metrics = new MetricsRegistry();
    await broker.stop();
    const publisher = new Publisher({
      config: mqttConfigSchema.parse({ url: broker.url, hubAck: false, reconnectMinMs: 200, reconnectMaxMs: 500, batchIntervalMs: 10 }),
      site: 'lab',
      sensor: 'c',
      outbox,
      metrics,
      version: 'test',
      collectors: [],
      log: () => {},
    });
    try {
      publisher.start();
      const rows = [
        fakeSummary('high', 1),
        fakeSummary('info', 2),
        fakeSummary('low', 3),
        fakeSummary('info', 4),
        fakeSummary('low', 5),
        fakeSummary('high', 6),
      ].map((s) => ({ ...s, sensor: 'c' }));
      for (const s of rows) {
        outbox.add([s]);
        publisher.notify();
      }
      expect(outbox.dropped).toBe(2);
      expect(publisher.health().outboxDropped).toBe(2);
      await broker.restart();
      const kept = [rows[0], rows[2], rows[4], rows[5]].map((s) => s.id);
      const got = () => rx.summaries.filter((s) => s.sensor === 'c').map((s) => s.id);
      await waitUntil(() => kept.every((id) => got().includes(id)), 20_000, 'the kept rows');
      await waitUntil(() => outbox.depth === 0, 5_000, 'acknowledgements');
      expect(got().filter((id) => id === rows[1].id || id === rows[3].id)).toEqual([]);
    } finally {
      await publisher.stop(500);
      state.close();
    }
  }, 40_000);
});
