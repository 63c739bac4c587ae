// Server names from ssl/http/dns logs: sibling file names, joins on uid, proxied requests,
// DNS answers, and damaged lines reported with file and line.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import type { InputIssue } from '../../../agent/issues.js';
import type { FlowRecord } from '../../../collectors/record.js';
import { ServerNames, siblingLogs } from '../../../collectors/zeek/names.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-names-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function tsv(pathName: string, fields: string[], rows: string[][]): string {
  return [
    '#separator \\x09',
    '#set_separator\t,',
    '#empty_field\t(empty)',
    '#unset_field\t-',
    `#path\t${pathName}`,
    `#fields\t${fields.join('\t')}`,
    ...rows.map((r) => r.join('\t')),
    '#close\t2026-10-05-01-00-00',
    '',
  ].join('\n');
}

function flow(uid: string, resp: string, ts = 1000): FlowRecord {
  return { kind: 'flow', ts, uid, orig_h: '10.0.0.5', orig_p: 50000, resp_h: resp, resp_p: 443, proto: 'tcp' };
}

describe('server names beside conn.log', () => {
  it('finds ssl/http/dns logs named like the conn log, rotated and gzip names included', () => {
    const hour = path.join(dir, 'hour');
    fs.mkdirSync(hour);
    for (const f of ['conn.15:00:00-16:00:00.log.gz', 'ssl.15:00:00-16:00:00.log.gz', 'dns.15:00:00-16:00:00.log.gz']) {
      fs.writeFileSync(path.join(hour, f), '');
    }
    expect(siblingLogs(path.join(hour, 'conn.15:00:00-16:00:00.log.gz'))).toEqual({
      ssl: path.join(hour, 'ssl.15:00:00-16:00:00.log.gz'),
      dns: path.join(hour, 'dns.15:00:00-16:00:00.log.gz'),
    });
    expect(siblingLogs('-')).toEqual({});
  });

  it('joins SNI and HTTP Host on uid, marks proxied requests as outbound, and uses DNS answers by address', async () => {
    const ssl = path.join(dir, 'ssl.log');
    const http = path.join(dir, 'http.log.gz');
    const dns = path.join(dir, 'dns.log');
    fs.writeFileSync(ssl, tsv('ssl', ['ts', 'uid', 'server_name'], [['1000', 'C1', 'c2.example.net'], ['1001', 'C4', '-']]));
    fs.writeFileSync(
      http,
      gzipSync(
        tsv('http', ['ts', 'uid', 'method', 'host', 'uri'], [
          ['1000', 'C2', 'CONNECT', 'www.honestimnotevil.com:443', 'www.honestimnotevil.com:443'],
          ['1000', 'C3', 'GET', 'intranet.corp', '/index.html'],
          ['1000', 'C1', 'GET', 'other.example', '/'],
        ]),
      ),
    );
    fs.writeFileSync(
      dns,
      `${tsv('dns', ['ts', 'uid', 'query', 'answers'], [
        ['900', 'D1', 'update.example.org', '198.51.100.7,cdn.example.org'],
        ['2000', 'D2', 'later.example.org', '198.51.100.7'],
      ])}this line is damaged\n`,
    );
    const issues: InputIssue[] = [];
    const names = new ServerNames((i) => issues.push(i));
    await names.load({ ssl, http, dns });

    const tls = flow('C1', '203.0.113.5');
    names.annotate(tls);
    expect(tls.server_name).toBe('c2.example.net'); // TLS wins over HTTP on the same uid

    const proxied = flow('C2', '10.0.0.16');
    proxied.local_resp = true;
    names.annotate(proxied);
    expect(proxied).toMatchObject({ server_name: 'www.honestimnotevil.com', local_resp: false });

    const plain = flow('C3', '10.0.0.20');
    names.annotate(plain);
    expect(plain.server_name).toBe('intranet.corp');
    expect(plain.local_resp).toBeUndefined();

    const byDns = flow('C9', '198.51.100.7', 1500);
    names.annotate(byDns);
    expect(byDns.server_name).toBe('update.example.org'); // the answer given before the connection

    const unknown = flow('C10', '192.0.2.1');
    names.annotate(unknown);
    expect(unknown.server_name).toBeUndefined();

    expect(issues).toEqual([
      expect.objectContaining({ file: dns, line: 10, message: expect.stringContaining('skipped') }),
    ]);
    expect(names.stats).toMatchObject({ ssl: 1, http: 2, joined: 4, proxied: 1, skipped: 1 });
  });

  it('reports a missing file and goes on', async () => {
    const issues: InputIssue[] = [];
    const names = new ServerNames((i) => issues.push(i));
    await names.load({ ssl: path.join(dir, 'nope.log') });
    expect(issues[0]).toMatchObject({ file: path.join(dir, 'nope.log'), message: expect.stringContaining('cannot') });
  });
});
