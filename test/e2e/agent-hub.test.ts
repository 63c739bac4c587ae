// End to end, sensor → Mosquitto → hub: the real agent (a child process tailing a conn.log built
// from the demo sample) publishes to a private Mosquitto, and an in-process hub with a fixed
// client id (persistent session) stores the summaries in SQLite. Across a 10 s broker outage and
// across a SIGKILL + restart of the agent, the hub's store must hold every finding an offline
// replay of the same log gives, each exactly once; the hub's sensor row and API must show the
// sensor offline (its last will) after the kill and online again after the restart. Likewise
// across a stop and restart of the hub itself.

import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHubConfig } from '../../hub/config.js';
import { Hub } from '../../hub/hub.js';
import type { SensorRow } from '../../hub/store.js';
import { MANY_FINDINGS, expectedFindingIds, sampleLines, startAgent, waitUntil } from '../helpers/agent/mqtt-agent.js';
import { type Broker, startMosquitto } from '../helpers/mosquitto.js';

const SITE = 'lab';
const TOKEN = 'e2e-token-0123456789abcdef';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-e2e-'));
const children: ChildProcess[] = [];
const hubLog: string[] = [];
let broker: Broker | undefined;
let hub: Hub | undefined;
const { header, data } = sampleLines();
const cut = Math.floor(data.length * 0.5);
/** Finding ids an offline replay of the whole log gives: what the hub must hold for each sensor. */
const expected = new Set<string>();

beforeAll(async () => {
  for (const id of await expectedFindingIds(tmp)) expected.add(id);
  // Persistence on: the hub's persistent session (and what is queued for it) survives the broker restart.
  broker = await startMosquitto({ persistence: true });
  // MQTT 5 with the shared subscription, as deployed. The sensor keeps each summary until the
  // hub acknowledges it (mqtt.hubAck), so what the broker accepted but no hub received (Mosquitto
  // 2.0 restores a persistent shared subscription broken after a restart) is sent again.
  hub = await startHub();
}, 40_000);

/** The hub, always with the same client id (persistent session) and the same store. */
async function startHub(): Promise<Hub> {
  const started = new Hub({
    config: parseHubConfig({
      mqtt: { url: broker!.url, clientId: 'vigil-e2e-hub' },
      // Retention counts from event time; the sample is weeks old, so keep it for the test.
      store: { path: path.join(tmp, 'hub.sqlite'), batchMaxDelayMs: 20, retentionDays: 3650 },
      http: { host: '127.0.0.1', port: 0, token: TOKEN },
    }),
    log: (line) => void hubLog.push(line),
  });
  await started.start();
  return started;
}

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await hub?.stop();
  await broker?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
}, 20_000);

function writeConfig(name: string, log: string): string {
  const file = path.join(tmp, `${name}.yaml`);
  fs.writeFileSync(
    file,
    [
      `sensor: { site: ${SITE}, name: ${name} }`,
      `state: { path: ${path.join(tmp, `${name}.db`)}, snapshotIntervalSeconds: 0.5 }`,
      `collectors: { zeek: { tail: [${log}], pollIntervalMs: 50 } }`,
      `detectors: ${JSON.stringify(MANY_FINDINGS)}`,
      `mqtt: { url: '${broker!.url}', clientId: vigil-e2e-${name}, hubAckTimeoutSeconds: 2, healthIntervalSeconds: 0.5, reconnectMinMs: 200, reconnectMaxMs: 1000, batchIntervalMs: 50 }`,
      '',
    ].join('\n'),
  );
  return file;
}

/** Every `finding` the hub's store holds for `sensor`, one entry per row. */
function storedFindings(sensor: string): string[] {
  return (
    hub!.store!.db.prepare('SELECT finding FROM anomalies WHERE site = ? AND sensor = ?').all(SITE, sensor) as { finding: string }[]
  ).map((r) => r.finding);
}
const storedSet = (sensor: string) => new Set(storedFindings(sensor));
const missing = (sensor: string) => () => {
  const got = storedSet(sensor);
  return `${[...expected].filter((id) => !got.has(id)).length} of ${expected.size} findings missing; hub log: ${hubLog.slice(-5).join(' | ')}`;
};
const sensorRow = (sensor: string): SensorRow | undefined => hub!.store!.listSensors().find((s) => s.site === SITE && s.sensor === sensor);

async function apiSensor(sensor: string): Promise<{ status: string | null; lastWill: number | null; lastBirth: number | null } | undefined> {
  const res = await fetch(`${hub!.api!.url}/api/sensors`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { sensors: { site: string; sensor: string; status: string | null; lastWill: number | null; lastBirth: number | null }[] };
  return body.sensors.find((s) => s.site === SITE && s.sensor === sensor);
}

/** The store holds exactly the expected findings for `sensor`, each in one row. */
function expectExactlyOnce(sensor: string): void {
  const rows = storedFindings(sensor);
  const set = new Set(rows);
  expect(rows.length).toBe(set.size);
  expect(set.size).toBe(expected.size);
  expect([...set].filter((id) => !expected.has(id))).toEqual([]);
  expect([...expected].filter((id) => !set.has(id))).toEqual([]);
  // Checked independently of the (site, sensor, finding) index: no finding appears twice.
  const dup = hub!.store!.db
    .prepare('SELECT finding, count(*) AS n FROM anomalies WHERE site = ? AND sensor = ? GROUP BY finding HAVING n > 1')
    .all(SITE, sensor);
  expect(dup).toEqual([]);
}

describe('agent → Mosquitto → hub (end to end)', () => {
  it('stores every finding exactly once across a 10 s broker outage', async () => {
    expect(expected.size).toBeGreaterThan(1000);
    const log = path.join(tmp, 'a-conn.log');
    fs.writeFileSync(log, `${[...header, ...data.slice(0, cut)].join('\n')}\n`);
    const agent = startAgent(writeConfig('a', log), children);
    try {
      await waitUntil(() => storedFindings('a').length > 0, 20_000, 'first summaries in the hub', agent.stderr);
      await waitUntil(() => sensorRow('a')?.status === 'online', 5_000, 'the birth (online) in the hub');

      await broker!.stop();
      fs.appendFileSync(log, `${data.slice(cut).join('\n')}\n`);
      await new Promise((r) => setTimeout(r, 10_000));
      // The outage really held findings back: the second half's cannot have reached the hub yet.
      expect(storedSet('a').size).toBeLessThan(expected.size);
      await broker!.restart();

      await waitUntil(() => storedSet('a').size >= expected.size, 20_000, 'every finding in the hub', missing('a'));
      // The agent's outbox is empty (its health, as stored by the hub), so nothing is still on its way.
      await waitUntil(() => sensorRow('a')?.health?.outboxDepth === 0, 10_000, 'an empty outbox in stored health');
      expectExactlyOnce('a');
      expect(sensorRow('a')?.health?.outboxDropped).toBe(0);
      expect(sensorRow('a')?.health?.counters.zeek.received).toBe(data.length);
    } finally {
      if (agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill('SIGTERM');
      await Promise.race([agent.exited, new Promise((r) => setTimeout(r, 5_000))]);
    }
    await waitUntil(() => sensorRow('a')?.status === 'offline', 5_000, 'offline after a clean stop');
  }, 60_000);

  it('stores every finding exactly once across a SIGKILL and restart; the hub shows it offline, then online', async () => {
    const log = path.join(tmp, 'b-conn.log');
    fs.writeFileSync(log, `${[...header, ...data.slice(0, cut)].join('\n')}\n`);
    const config = writeConfig('b', log);
    const first = startAgent(config, children);
    await waitUntil(() => storedFindings('b').length > 50, 20_000, 'first summaries in the hub', first.stderr);
    await waitUntil(() => sensorRow('b')?.status === 'online', 5_000, 'online before the kill');
    expect(sensorRow('b')?.lastWill ?? null).toBeNull();
    // Mid-stream: killed while it reads a freshly appended quarter; the last quarter arrives only
    // after the kill, so the findings from it can reach the hub only through the restarted agent.
    const cut2 = Math.floor(data.length * 0.75);
    fs.appendFileSync(log, `${data.slice(cut, cut2).join('\n')}\n`);
    await new Promise((r) => setTimeout(r, 100));
    first.child.kill('SIGKILL');
    await first.exited;
    expect(first.child.signalCode).toBe('SIGKILL');
    fs.appendFileSync(log, `${data.slice(cut2).join('\n')}\n`);

    await waitUntil(() => sensorRow('b')?.status === 'offline', 15_000, 'the last will (offline) in the hub');
    const killedAt = sensorRow('b')?.lastWill;
    expect(killedAt).toEqual(expect.any(Number));
    expect(await apiSensor('b')).toMatchObject({ status: 'offline', lastWill: killedAt });
    const beforeRestart = storedSet('b').size;
    expect(beforeRestart).toBeLessThan(expected.size);

    const second = startAgent(config, children);
    try {
      await waitUntil(() => sensorRow('b')?.status === 'online', 15_000, 'online again in the hub', second.stderr);
      expect(await apiSensor('b')).toMatchObject({ status: 'online' });
      await waitUntil(() => storedSet('b').size >= expected.size, 25_000, 'every finding in the hub', missing('b'));
      await waitUntil(() => sensorRow('b')?.health?.outboxDepth === 0, 10_000, 'an empty outbox in stored health');
      expectExactlyOnce('b');
    } finally {
      if (second.child.exitCode === null && second.child.signalCode === null) second.child.kill('SIGTERM');
      await Promise.race([second.exited, new Promise((r) => setTimeout(r, 5_000))]);
    }
  }, 60_000);

  it('stores every finding exactly once when the hub itself is down for a while', async () => {
    const log = path.join(tmp, 'c-conn.log');
    fs.writeFileSync(log, `${[...header, ...data.slice(0, cut)].join('\n')}\n`);
    const agent = startAgent(writeConfig('c', log), children);
    try {
      await waitUntil(() => storedFindings('c').length > 0, 20_000, 'first summaries in the hub', agent.stderr);
      await hub!.stop();
      // The broker accepts the second half's summaries while no hub is connected.
      fs.appendFileSync(log, `${data.slice(cut).join('\n')}\n`);
      await new Promise((r) => setTimeout(r, 5_000));
      hub = await startHub();
      await waitUntil(() => storedSet('c').size >= expected.size, 25_000, 'every finding in the hub', missing('c'));
      await waitUntil(() => sensorRow('c')?.health?.outboxDepth === 0, 10_000, 'an empty outbox in stored health');
      expectExactlyOnce('c');
    } finally {
      if (agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill('SIGTERM');
      await Promise.race([agent.exited, new Promise((r) => setTimeout(r, 5_000))]);
    }
  }, 60_000);
});
