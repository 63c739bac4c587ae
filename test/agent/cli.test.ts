// The `vigil` command as a user runs it: help on every subcommand, exit codes with one-line
// reasons, validate, deterministic replay, flows in both formats, and the demo.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO_PLANTED } from '../../agent/demo/sample.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-cli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function vigil(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'agent/cli.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const SAMPLE = path.join(root, 'agent/demo/sample-conn.log.gz');

describe('vigil command line', () => {
  it('has --help on every subcommand', () => {
    const top = vigil('--help');
    expect(top.code).toBe(0);
    for (const cmd of ['agent', 'hub', 'replay', 'flows', 'validate', 'demo', 'bench']) {
      expect(top.stdout).toContain(cmd);
      const r = vigil(cmd, '--help');
      expect(r.code, `${cmd} --help`).toBe(0);
      expect(r.stdout).toContain(`Usage: vigil ${cmd}`);
    }
  });

  it('validate: ok for a good file, every problem with its path and exit 2 for a bad one', () => {
    const good = path.join(tmp, 'good.yaml');
    fs.writeFileSync(good, 'detectors:\n  baseline:\n    zThreshold: 4\nsegments:\n  dmz:\n    cidrs: [10.9.0.0/16]\n');
    const ok = vigil('validate', '--config', good);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe(`${good}: ok (segments: default, dmz)\n`);

    const bad = path.join(tmp, 'bad.yaml');
    fs.writeFileSync(bad, 'detectors:\n  baseline:\n    zThreshold: -1\n    colour: blue\n');
    const r = vigil('validate', '--config', bad);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${bad}: line 3: detectors.baseline.zThreshold: must be > 0`);
    expect(r.stderr).toContain('detectors.baseline.colour: unknown key');
  });

  it('exits 2 with a one-line reason for a missing input or an unknown option', () => {
    const r = vigil('replay', path.join(tmp, 'missing.log'));
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([`vigil: ${path.join(tmp, 'missing.log')}: no such file or directory`]);
    const u = vigil('replay', '--frobnicate', SAMPLE);
    expect(u.code).toBe(2);
    expect(u.stderr).toContain("unknown option '--frobnicate'");
    const f = vigil('replay', '--format', 'xml', SAMPLE);
    expect(f.code).toBe(2);
    expect(f.stderr).toContain('Allowed choices are jsonl, table');
  });

  it('replay gives the same findings on every run, as JSON lines', () => {
    const a = vigil('replay', '--format', 'jsonl', '--config', path.join(root, 'agent/demo/demo.yaml'), SAMPLE);
    const b = vigil('replay', '--format', 'jsonl', '--config', path.join(root, 'agent/demo/demo.yaml'), SAMPLE);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    const findings = a.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // Every planted anomaly is found on its host and day, and nothing else is reported.
    const hostOf = (f: { entity: { id: string } }) => f.entity.id.split('->')[0];
    expect([...new Set(findings.map(hostOf))].sort()).toEqual(DEMO_PLANTED.map((p) => p.host).sort());
    for (const p of DEMO_PLANTED) {
      const days = findings.filter((f) => hostOf(f) === p.host).map((f) => new Date(f.window[0] * 1000).toISOString().slice(0, 10));
      expect(days).toContain(p.day);
    }
    expect(findings.filter((f) => f.detector === 'baseline').map((f) => [f.entity.id, f.segment]).slice(0, 2)).toEqual([
      ['10.20.0.10', 'servers'],
      ['192.168.10.23', 'office'],
    ]);
    // The C2 beacon: reported once per day while it runs, with its period (mean sleep 270 s).
    const beacon = findings.filter((f) => f.entity.id === '192.168.10.15->203.0.113.200:443/tcp');
    expect(beacon.length).toBeGreaterThanOrEqual(4);
    for (const b of beacon) {
      expect(b).toMatchObject({ type: 'beacon.periodic', attack: ['T1071', 'T1573'] });
      expect(b.evidence.period_s).toBeGreaterThan(250);
      expect(b.evidence.period_s).toBeLessThan(290);
    }
    expect(new Set(beacon.map((b) => b.id)).size).toBe(beacon.length);
    expect(a.stderr).toMatch(new RegExp(`vigil: \\d+ records from 1 file\\(s\\), ${findings.length} finding\\(s\\), 0 input problem\\(s\\)`));
  });

  it('flows reads a capture file into Zeek conn.log lines (Zeek btest GRE trace, as zeek -C)', () => {
    const dir = path.join(root, 'test/fixtures/zeek-btest/dev/core.tunnels.gre');
    const r = vigil('flows', '--checksums', 'ignore', path.join(dir, 'gre-sample.pcap'));
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const key = (l: string) => {
      const c = l.split('\t');
      // 5-tuple, duration, bytes, state, missed bytes, history, packets and IP bytes, ip_proto
      return [c[2], c[3], c[4], c[5], c[6], c[8], c[9], c[10], c[11], c[14], c[15], c[16], c[17], c[18], c[19], c[21]].join(' ');
    };
    const ours = r.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map(key).sort();
    const zeek = fs
      .readFileSync(path.join(dir, 'conn.log'), 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map(key)
      .sort();
    expect(ours).toEqual(zeek);
    // Zeek 7's header: the 21 classic columns, then ip_proto.
    const fieldsLine = (t: string) => t.split('\n').find((l) => l.startsWith('#fields'));
    expect(fieldsLine(r.stdout)).toBe(fieldsLine(fs.readFileSync(path.join(dir, 'conn.log'), 'utf8')));
    // The same capture on standard input (`-`): recognised by its magic number.
    const piped = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'agent/cli.ts'), 'flows', '--checksums', 'ignore', '-'], {
      cwd: root,
      encoding: 'utf8',
      input: fs.readFileSync(path.join(dir, 'gre-sample.pcap')),
      timeout: 120_000,
    });
    expect(piped.status).toBe(0);
    expect(piped.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map(key).sort()).toEqual(zeek);
    const bad = vigil('flows', '--checksums', 'maybe', path.join(dir, 'gre-sample.pcap'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Allowed choices are verify, ignore');
  });

  it('flows prints the same conn.log whether the input was Zeek TSV or JSON', () => {
    const tsv = vigil('flows', SAMPLE);
    expect(tsv.code).toBe(0);
    const jsonl = vigil('flows', '--format', 'jsonl', SAMPLE);
    expect(jsonl.code).toBe(0);
    const asJson = path.join(tmp, 'conn.json');
    fs.writeFileSync(asJson, jsonl.stdout);
    const again = vigil('flows', asJson);
    const strip = (s: string) =>
      s
        .split('\n')
        .filter((l) => !l.startsWith('#open') && !l.startsWith('#close'))
        .join('\n');
    expect(strip(again.stdout)).toBe(strip(tsv.stdout));
    expect(tsv.stdout.split('\n').find((l) => l.startsWith('#fields'))).toBe(
      '#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents',
    );
  });

  it('keeps going past bad lines and names them', () => {
    const file = path.join(tmp, 'mixed.log');
    const header = [
      '#separator \\x09',
      '#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto',
      '#types\ttime\tstring\taddr\tport\taddr\tport\tenum',
    ];
    fs.writeFileSync(
      file,
      [
        ...header,
        '1700000000.000000\tC1\t10.0.0.1\t1\t8.8.8.8\t53\tudp',
        'garbage line',
        '1700000001.000000\tC2\t10.0.0.1\t2\t8.8.8.8\t53\tudp',
        '',
      ].join('\n'),
    );
    const r = vigil('flows', '--format', 'jsonl', file);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(2);
    expect(r.stderr).toContain(`${file}:5`);
  });

  it('demo runs broker, hub and sensor and shows what the hub stored and where the sample came from', () => {
    const r = vigil('demo', '--no-wait');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('agent/demo/sample.ts');
    expect(r.stdout).toMatch(/2026-10-22\s+baseline\s+servers\s+10\.20\.0\.10/);
    expect(r.stdout).toMatch(/2026-10-27\s+baseline\s+office\s+192\.168\.10\.23/);
    expect(r.stdout).toMatch(/2026-10-28\s+beacon\s+office\s+192\.168\.10\.15->203\.0\.113\.200:443\/tcp/);
    const [, findings, published] = /(\d+) finding\(s\), (\d+) summary\(ies\) published/.exec(r.stdout) ?? [];
    expect(Number(findings)).toBeGreaterThanOrEqual(DEMO_PLANTED.length);
    expect(published).toBe(findings);
    expect(r.stdout).toContain(`hub      stored ${findings} anomaly summary(ies)`);
    expect(r.stdout).toMatch(/hub API {3}http:\/\/127\.0\.0\.1:\d+\/api\/anomalies/);
  });

  it('demo serves the hub API until Ctrl-C, then stops cleanly', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'agent/cli.ts'), 'demo'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
      });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const deadline = Date.now() + 60_000;
      while (!out.includes('Serving until Ctrl-C')) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`demo did not start serving:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const [, url, token] = /hub API {3}(\S+) {3}\(token (\w+)\)/.exec(out) ?? [];
      const refused = await fetch(url);
      expect(refused.status).toBe(401);
      const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { total: number; items: { entity: { id: string } }[] };
      expect(body.total).toBeGreaterThanOrEqual(DEMO_PLANTED.length);
      expect([...new Set(body.items.map((a) => a.entity.id.split('->')[0]))].sort()).toEqual(
        DEMO_PLANTED.map((p) => p.host).sort(),
      );
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(out).toContain('vigil demo: stopped');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
