// The hub's HTTP API over real HTTP on 127.0.0.1, with a real Mosquitto and SQLite file behind it:
// authentication, filters and paging, feedback and precision, and suppression by feedback.

import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SegmentConfig, segmentConfigSchema, topics } from '../../agent/wire.js';
import { Hub } from '../../hub/hub.js';
import { type Broker, startMosquitto } from '../helpers/mosquitto.js';
import { makeSummary, tempDir, testConfig, testUlid, TOKEN, waitFor } from './helpers.js';

let broker: Broker;
let publisher: MqttClient;
let hub: Hub;
let base: string;
let nowMs = 1_700_000_500_000;

beforeAll(async () => {
  broker = await startMosquitto();
  publisher = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'test-sensor' });
  hub = new Hub({
    config: testConfig(broker.url, path.join(tempDir(), 'hub.sqlite'), { silentAfterSeconds: 60 }),
    log: () => undefined,
    now: () => nowMs,
  });
  await hub.start();
  base = hub.api!.url;
  // 30 summaries: two sensors, two segments, two detectors.
  const batchA = Array.from({ length: 20 }, (_, i) => makeSummary(i));
  const batchB = Array.from({ length: 10 }, (_, i) =>
    makeSummary(100 + i, { sensor: 'sensorB', segment: 'lab', detector: 'novelty', type: 'novelty.newdest', tier: 'low', summary: `new destination dns-${i}.example` }),
  );
  await publisher.publishAsync(topics.anomaly('site1', 'sensorA', 'high'), JSON.stringify(batchA), { qos: 1 });
  await publisher.publishAsync(topics.anomaly('site1', 'sensorB', 'low'), JSON.stringify(batchB), { qos: 1 });
  await publisher.publishAsync(
    topics.health('site1', 'sensorA'),
    JSON.stringify({ v: 1, site: 'site1', sensor: 'sensorA', at: nowMs, lagSeconds: 2, rssBytes: 1000, outboxDepth: 0, outboxDropped: 0, counters: {} }),
    { qos: 1 },
  );
  await waitFor('30 stored summaries and one health', () => {
    const n = (hub.store!.db.prepare('SELECT count(*) AS n FROM anomalies').get() as { n: number }).n;
    return n === 30 && hub.store!.listSensors().length === 1;
  });
});

afterAll(async () => {
  await hub?.stop();
  await publisher?.endAsync();
  await broker?.stop();
});

async function api(route: string, init: RequestInit & { token?: string | null } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const token = init.token === undefined ? TOKEN : init.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${base}${route}`, { ...init, headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('hub API', () => {
  it('answers 401 without a token or with a wrong one', async () => {
    expect((await api('/api/anomalies', { token: null })).status).toBe(401);
    expect((await api('/api/anomalies', { token: `${TOKEN}x` })).status).toBe(401);
    expect((await api('/api/sensors', { token: 'short' })).status).toBe(401);
    expect((await api('/api/anomalies')).status).toBe(200);
  });

  it('filters and pages anomalies, newest first, with the total', async () => {
    const all = await api('/api/anomalies?limit=7&offset=0');
    expect(all.body.total).toBe(30);
    const first = all.body.items as { id: string; ts: number }[];
    expect(first).toHaveLength(7);
    const second = (await api('/api/anomalies?limit=7&offset=7')).body.items as { id: string; ts: number }[];
    expect(second[0].ts).toBeLessThan(first[6].ts);

    const lab = await api('/api/anomalies?segment=lab&detector=novelty&tier=low');
    expect(lab.body.total).toBe(10);
    expect(await api('/api/anomalies?sensor=sensorA')).toMatchObject({ body: { total: 20 } });
    // ts of summary n is 1_700_000_000 + n: from/to are inclusive.
    expect(await api('/api/anomalies?from=1700000005&to=1700000009')).toMatchObject({ body: { total: 5 } });
    const text = await api('/api/anomalies?q=dns-3');
    expect((text.body.items as { id: string }[]).map((i) => i.id)).toEqual([testUlid(103)]);

    const one = await api(`/api/anomalies/${testUlid(3)}`);
    expect(one.body).toMatchObject({ id: testUlid(3), evidence: { periodSeconds: 60, count: 3 } });
    expect((await api(`/api/anomalies/${testUlid(9999)}`)).status).toBe(404);
  });

  it('answers 400 naming the field for bad input', async () => {
    expect(await api('/api/anomalies?limit=0')).toMatchObject({ status: 400, body: { field: 'limit' } });
    expect(await api('/api/anomalies?tier=urgent')).toMatchObject({ status: 400, body: { field: 'tier' } });
    expect(await api('/api/anomalies?from=yesterday')).toMatchObject({ status: 400, body: { field: 'from' } });
    const bad = await api(`/api/anomalies/${testUlid(1)}/feedback`, { method: 'POST', body: JSON.stringify({ verdict: 'maybe' }) });
    expect(bad).toMatchObject({ status: 400, body: { field: 'verdict' } });
    const badSet = await api('/api/segments/office', { method: 'PUT', body: JSON.stringify({ set: { 'tiers.low': 'high' } }) });
    expect(badSet).toMatchObject({ status: 400, body: { field: 'tiers.low' } });
    const badRoot = await api('/api/segments/office', { method: 'PUT', body: JSON.stringify({ set: { version: 99 } }) });
    expect(badRoot).toMatchObject({ status: 400, body: { field: 'set.version' } });
  });

  it('turns feedback into precision per detector and segment (latest verdict counts)', async () => {
    for (const [n, verdict] of [[1, 'tp'], [2, 'tp'], [3, 'fp'], [4, 'tp'], [101, 'fp']] as const) {
      const res = await api(`/api/anomalies/${testUlid(n)}/feedback`, { method: 'POST', body: JSON.stringify({ verdict }) });
      expect(res.status).toBe(200);
    }
    // Changing one's mind: anomaly 4 becomes a false positive.
    await api(`/api/anomalies/${testUlid(4)}/feedback`, { method: 'POST', body: JSON.stringify({ verdict: 'fp', note: 'backup job' }) });
    const { body } = await api('/api/precision');
    expect(body.precision).toEqual([
      { detector: 'beacon', segment: 'office', tp: 2, fp: 2, precision: 0.5 },
      { detector: 'novelty', segment: 'lab', tp: 0, fp: 1, precision: 0 },
    ]);
  });

  it('adds a suppression from a false positive and republishes the segment config retained', async () => {
    const before = await api('/api/segments/office', { method: 'PUT', body: JSON.stringify({ set: { 'detectors.beacon.minCount': 5 } }) });
    const firstVersion = (before.body.config as SegmentConfig).version;

    const res = await api(`/api/anomalies/${testUlid(7)}/feedback`, {
      method: 'POST',
      body: JSON.stringify({ verdict: 'fp', note: 'NTP', suppress: true }),
    });
    expect(res.status).toBe(200);
    expect((res.body.config as SegmentConfig).version).toBe(firstVersion + 1);

    // A sensor subscribing afterwards gets the retained configuration with the rule in it.
    const sensor = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'test-config-reader' });
    try {
      const received = new Promise<SegmentConfig>((resolve) => {
        sensor.on('message', (_topic, payload) => resolve(segmentConfigSchema.parse(JSON.parse(payload.toString()))));
      });
      await sensor.subscribeAsync(topics.config('office'), { qos: 1 });
      const config = await received;
      expect(config.version).toBe(firstVersion + 1);
      expect(config.detectors).toEqual({ beacon: { minCount: 5 } });
      expect(config.suppressions).toEqual([
        expect.objectContaining({ detector: 'beacon', type: 'beacon.periodic', entity: '10.0.0.7' }),
      ]);
    } finally {
      await sensor.endAsync();
    }
    const segments = (await api('/api/segments')).body.segments as { segment: string; versions: unknown[] }[];
    expect(segments.find((s) => s.segment === 'office')?.versions).toHaveLength(firstVersion + 1);
  });

  it("shows which sensor applied or rejected which version of a segment's configuration", async () => {
    const answer = (sensor: string, version: number, status: 'applied' | 'rejected', reason?: string) =>
      publisher.publishAsync(
        topics.configApplied('site1', sensor),
        JSON.stringify({ v: 1, site: 'site1', sensor, segment: 'office', version, status, at: nowMs, ...(reason ? { reason } : {}) }),
        { qos: 1 },
      );
    await answer('sensorA', 1, 'applied');
    await answer('sensorB', 1, 'rejected', 'detectors.beacon.minCount: unknown key');
    const office = async () =>
      ((await api('/api/segments')).body.segments as { segment: string; answers: { sensor: string; status: string; reason: string | null }[] }[]).find(
        (s) => s.segment === 'office',
      );
    const until = Date.now() + 10_000;
    while (((await office())?.answers.length ?? 0) < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect((await office())?.answers).toEqual([
      expect.objectContaining({ sensor: 'sensorA', version: 1, status: 'applied', reason: null }),
      expect.objectContaining({ sensor: 'sensorB', version: 1, status: 'rejected', reason: 'detectors.beacon.minCount: unknown key' }),
    ]);
  });

  it('lists sensors with their health and a silent flag that follows the clock', async () => {
    const sensors = () => api('/api/sensors').then((r) => r.body.sensors as { sensor: string; silent: boolean; health: unknown }[]);
    expect(await sensors()).toEqual([expect.objectContaining({ sensor: 'sensorA', silent: false, health: expect.objectContaining({ lagSeconds: 2 }) })]);
    nowMs += 61_000;
    expect((await sensors())[0].silent).toBe(true);
  });
});
