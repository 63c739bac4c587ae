// Real data from ../shared (GPL: read in place, never copied): RITA's proxy beacon is found with
// its period, Slips' 2-second TLS beacon is found from its pcap, Slips' port scan is not a beacon.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const shared = path.resolve(root, '../shared/fixtures');
const rita = path.join(shared, 'rita-activecm/test_data');
const slips = path.join(shared, 'slips-stratosphere/dataset');

function beacons(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'agent/cli.ts'), 'beacons', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('vigil beacons on real captures', () => {
  it('rita-activecm proxy: the beacon through the web proxy, named from http.log, every 200-300 s', (ctx) => {
    ctx.skip(!existsSync(rita), `${path.relative(root, rita)} not found: skipped`);
    const r = beacons('--format', 'jsonl', path.join(rita, 'proxy/conn.log'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows).toHaveLength(1);
    const b = rows[0];
    expect(b).toMatchObject({
      src: '10.136.0.18',
      dst: '10.136.0.16',
      dport: 3128,
      proto: 'tcp',
      server: 'www.honestimnotevil.com',
      alert: true,
    });
    expect(b.period_s as number).toBeGreaterThan(200);
    expect(b.period_s as number).toBeLessThan(300);
    expect(b.count as number).toBeGreaterThanOrEqual(390);
    expect(b.score as number).toBeGreaterThanOrEqual(0.7); // the default alertScore
    // DESIGN §6 fields, in order.
    expect(Object.keys(b).slice(0, 13)).toEqual([
      'src', 'dst', 'dport', 'proto', 'server', 'score', 'alert', 'period_s', 'jitter', 'count', 'conns', 'failed', 'first',
    ]);
    for (const v of Object.values(b.subscores as Record<string, number>)) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
  });

  it('slips-stratosphere horizontal port scan: no beacon reported', (ctx) => {
    ctx.skip(!existsSync(slips), `${path.relative(root, slips)} not found: skipped`);
    const file = path.join(slips, 'port-scans/horizontal/conn.log');
    const alerts = beacons('--format', 'jsonl', file);
    expect(alerts.code).toBe(0);
    expect(alerts.stdout).toBe('');
    const table = beacons(file);
    expect(table.stdout).toMatch(/^41 connections in 1 file\(s\); 0 named from ssl\/http\/dns logs; 0 beacon\(s\)\n$/);
  });

  it('rita-activecm proxy_rolling (two hourly gzip files with ssl/http/dns beside them): no multicast or local pairs', (ctx) => {
    ctx.skip(!existsSync(rita), `${path.relative(root, rita)} not found: skipped`);
    const r = beacons('--format', 'jsonl', '--all', path.join(rita, 'proxy_rolling'));
    expect(r.code).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { dst: string; server?: string; score: number });
    expect(rows.length).toBeGreaterThan(5);
    expect(rows.filter((x) => x.dst.startsWith('239.') || x.dst.startsWith('ff0'))).toEqual([]);
    expect(rows.filter((x) => x.server !== undefined).length).toBeGreaterThan(0);
    // Sorted by score, best first.
    for (let i = 1; i < rows.length; i++) expect(rows[i].score).toBeLessThanOrEqual(rows[i - 1].score);
  });

  it('slips-stratosphere test-cc pcap: the TLS beacon every ~2.2 s, from packets', (ctx) => {
    const pcap = path.join(slips, 'test-cc/test-cc-capture-1.pcap');
    ctx.skip(!existsSync(pcap), `${path.relative(root, pcap)} not found: skipped`);
    // The capture's network (CTU, 147.32.0.0/16) is the local one.
    const config = path.join(mkdtempSync(path.join(tmpdir(), 'vigil-beacons-')), 'ctu.yaml');
    writeFileSync(config, 'localNets: [147.32.0.0/16]\n');
    const r = beacons('--format', 'jsonl', '--config', config, pcap);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, number | string | boolean>);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ src: '147.32.80.37', dst: '141.193.213.21', dport: 443, proto: 'tcp', alert: true });
    expect(rows[0].period_s as number).toBeGreaterThan(2.0);
    expect(rows[0].period_s as number).toBeLessThan(2.4);
    expect(rows[0].count as number).toBeGreaterThanOrEqual(290);
  });

  it('exits 2 with a one-line reason for a missing input', () => {
    const r = beacons('/nonexistent/conn.log');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^vigil: \/nonexistent\/conn\.log: no such file or directory\n$/);
  });
});
