// The API over HTTPS when http.tls names a certificate and key (a throwaway self-signed pair).

import { execFileSync } from 'node:child_process';
import https from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hub } from '../../hub/hub.js';
import { type Broker, startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, testConfig, TOKEN } from './helpers.js';

let broker: Broker;
let hub: Hub;

beforeAll(async () => {
  broker = await startMosquitto();
  const dir = tempDir();
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], {
    stdio: 'ignore',
  });
  hub = new Hub({
    config: testConfig(broker.url, path.join(dir, 'hub.sqlite'), { http: { host: '127.0.0.1', port: 0, token: TOKEN, tls: { cert, key } } }),
    log: () => undefined,
  });
  await hub.start();
});

afterAll(async () => {
  await hub?.stop();
  await broker?.stop();
});

function get(url: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    // The certificate is self-signed for this test only.
    https
      .get(url, { rejectUnauthorized: false, headers: { authorization: `Bearer ${token}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}

describe('hub API over HTTPS', () => {
  it('serves https and still checks the token', async () => {
    expect(hub.api!.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await get(`${hub.api!.url}/api/sensors`, TOKEN)).toBe(200);
    expect(await get(`${hub.api!.url}/api/sensors`, 'nope')).toBe(401);
  });
});
