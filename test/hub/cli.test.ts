// `vigil hub` and `vigil hub tune` as a user runs them: child processes of the real CLI against a
// private Mosquitto, with a hub.yaml on disk.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SegmentConfig, segmentConfigSchema, topics } from '../../agent/wire.js';
import { freePort, type Broker, startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, TOKEN, waitFor } from './helpers.js';

const CLI = path.resolve('agent/cli.ts');
let broker: Broker;

beforeAll(async () => {
  broker = await startMosquitto();
});
afterAll(async () => {
  await broker?.stop();
});

function writeConfig(dir: string, port = 0): string {
  const file = path.join(dir, 'hub.yaml');
  fs.writeFileSync(
    file,
    [
      'mqtt:',
      `  url: ${broker.url}`,
      'store:',
      `  path: ${path.join(dir, 'hub.sqlite')}`,
      'http:',
      `  port: ${port}`,
      `  token: ${TOKEN}`,
      '',
    ].join('\n'),
  );
  return file;
}

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function retainedConfig(segment: string): Promise<SegmentConfig> {
  const reader = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: `reader-${segment}-${Date.now()}` });
  try {
    const received = new Promise<SegmentConfig>((resolve) => {
      reader.on('message', (_t, payload) => resolve(segmentConfigSchema.parse(JSON.parse(payload.toString()))));
    });
    await reader.subscribeAsync(topics.config(segment), { qos: 1 });
    return await received;
  } finally {
    await reader.endAsync();
  }
}

describe('vigil hub tune', () => {
  it('publishes a retained configuration whose version goes up with each run', async () => {
    const config = writeConfig(tempDir());
    const first = await run(['hub', 'tune', '--config', config, '--segment', 'dmz', '--set', 'detectors.baseline.zThreshold=4']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ segment: 'dmz', version: 1 });

    const second = await run(['hub', 'tune', '--config', config, '--segment', 'dmz', '--set', 'mode=audit', '--set', 'tiers.high=90']);
    expect(second.code).toBe(0);
    const seen = await retainedConfig('dmz');
    expect(seen).toMatchObject({ version: 2, mode: 'audit', tiers: { low: 40, high: 90 }, detectors: { baseline: { zThreshold: 4 } } });
  });

  it('refuses a path that cannot be set, naming it, with exit code 2', async () => {
    const config = writeConfig(tempDir());
    const res = await run(['hub', 'tune', '--config', config, '--segment', 'dmz', '--set', 'version=7']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('set.version');
  });

  it('names the key of a bad hub.yaml', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'hub.yaml');
    fs.writeFileSync(file, 'http:\n  port: 80\nmqtt:\n  sharedGroup: "a/b"\n');
    const res = await run(['hub', '--config', file]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('http.token');
    expect(res.stderr).toContain('mqtt.sharedGroup');
  });
});

describe('vigil hub', () => {
  it('serves the API and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const config = writeConfig(tempDir(), port);
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'hub', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor('the hub to start', () => stderr.includes('started'), 30_000);
      const res = await fetch(`http://127.0.0.1:${port}/api/sensors`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(res.status).toBe(200);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stderr).toContain('vigil hub: stopped');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
