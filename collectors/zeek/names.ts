// Server names for connections, from the Zeek logs written beside conn.log: TLS SNI from
// ssl.log and HTTP Host from http.log (joined on the connection uid), and DNS answers from
// dns.log (the name a host looked up before connecting to the address). A C2 channel behind a
// CDN or a web proxy changes addresses but keeps its name, so the beacon detector groups by name
// when there is one.
//
// A request through a web proxy (HTTP CONNECT, or a request with an absolute URI) is to the name
// it carries, not to the proxy: such a connection's responder is marked non-local, so that an
// outbound-only detector still sees it.

import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { IssueHandler } from '../../agent/issues.js';
import type { FlowRecord } from '../record.js';

export interface NameSources {
  ssl?: string;
  http?: string;
  dns?: string;
}

/** The ssl/http/dns logs beside a conn log: `conn.log` → `ssl.log`, `conn.15:00:00-16:00:00.log.gz` → `ssl.15:00:00-16:00:00.log.gz`. */
export function siblingLogs(connPath: string): NameSources {
  if (connPath === '-') return {};
  const dir = path.dirname(connPath);
  const base = path.basename(connPath);
  const m = /^(.*?)conn([._].*)$/.exec(base);
  if (!m) return {};
  const out: NameSources = {};
  for (const kind of ['ssl', 'http', 'dns'] as const) {
    const candidate = path.join(dir, `${m[1]}${kind}${m[2]}`);
    if (fs.existsSync(candidate)) out[kind] = candidate;
  }
  return out;
}

interface UidName {
  name: string;
  proxied: boolean;
}

/** Most DNS answers remembered per address (newest kept). */
const DNS_PER_ADDRESS = 4;
/** Most addresses with DNS answers remembered. */
const DNS_ADDRESSES = 500_000;
/** Most uids with names remembered. */
const UID_NAMES = 2_000_000;

export class ServerNames {
  private readonly byUid = new Map<string, UidName>();
  /** Address → [ts, name] answers, oldest first. */
  private readonly dns = new Map<string, [number, string][]>();
  readonly stats = { ssl: 0, http: 0, dns: 0, joined: 0, proxied: 0, skipped: 0 };

  constructor(private readonly onIssue: IssueHandler) {}

  async load(sources: NameSources): Promise<void> {
    if (sources.ssl) {
      await readLog(sources.ssl, this.onIssue, ['uid', 'server_name'], (get) => {
        const uid = get('uid');
        const name = get('server_name');
        if (uid && name) this.setUid(uid, { name, proxied: false }, 'ssl');
      }, () => this.stats.skipped++);
    }
    if (sources.http) {
      await readLog(sources.http, this.onIssue, ['uid', 'host', 'method', 'uri'], (get) => {
        const uid = get('uid');
        const host = get('host');
        if (!uid || !host) return;
        const method = get('method');
        const uri = get('uri') ?? '';
        const proxied = method === 'CONNECT' || /^[a-z][a-z0-9+.-]*:\/\//i.test(uri);
        // CONNECT's host may carry a port (`name:443`); IPv6 literals are bracketed.
        const name = host.startsWith('[') ? host : host.replace(/:\d+$/, '');
        // A name from TLS wins over one from HTTP for the same connection.
        if (!this.byUid.has(uid)) this.setUid(uid, { name, proxied }, 'http');
        else if (proxied) this.byUid.get(uid)!.proxied = true;
      }, () => this.stats.skipped++);
    }
    if (sources.dns) {
      await readLog(sources.dns, this.onIssue, ['ts', 'query', 'answers'], (get, getList) => {
        const ts = Number(get('ts'));
        const query = get('query');
        if (!query || !Number.isFinite(ts)) return;
        for (const a of getList('answers')) {
          if (!isAddress(a)) continue;
          let list = this.dns.get(a);
          if (!list) {
            if (this.dns.size >= DNS_ADDRESSES) continue;
            list = [];
            this.dns.set(a, list);
          }
          list.push([ts, query]);
          if (list.length > DNS_PER_ADDRESS) list.shift();
          this.stats.dns++;
        }
      }, () => this.stats.skipped++);
    }
  }

  private setUid(uid: string, v: UidName, kind: 'ssl' | 'http'): void {
    if (this.byUid.size >= UID_NAMES && !this.byUid.has(uid)) return;
    this.byUid.set(uid, v);
    this.stats[kind]++;
  }

  /** Sets server_name (and local_resp for proxied requests) on a flow when a name is known. */
  annotate(f: FlowRecord): void {
    if (f.server_name !== undefined) return;
    const byUid = this.byUid.get(f.uid);
    if (byUid) {
      f.server_name = byUid.name;
      if (byUid.proxied) {
        f.local_resp = false;
        this.stats.proxied++;
      }
      this.stats.joined++;
      return;
    }
    const answers = this.dns.get(f.resp_h);
    if (!answers) return;
    // The newest answer given before the connection started (a second of slack for clock skew).
    for (let i = answers.length - 1; i >= 0; i--) {
      if (answers[i][0] <= f.ts + 1) {
        f.server_name = answers[i][1];
        this.stats.joined++;
        return;
      }
    }
  }

  get size(): number {
    return this.byUid.size + this.dns.size;
  }
}

function isAddress(s: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(s) || (s.includes(':') && /^[0-9a-f:.]+$/i.test(s));
}

type Getter = (field: string) => string | undefined;
type ListGetter = (field: string) => string[];

/**
 * Reads a Zeek TSV or JSON-lines log (plain or gzip, by magic) and calls `row` with accessors
 * for the wanted fields. Damaged lines are reported with file and line and skipped.
 */
async function readLog(
  file: string,
  onIssue: IssueHandler,
  wanted: string[],
  row: (get: Getter, getList: ListGetter) => void,
  skipped: () => void,
): Promise<void> {
  let stream: NodeJS.ReadableStream;
  try {
    const fd = fs.openSync(file, 'r');
    const magic = Buffer.alloc(2);
    fs.readSync(fd, magic, 0, 2, 0);
    fs.closeSync(fd);
    const raw = fs.createReadStream(file);
    stream = magic[0] === 0x1f && magic[1] === 0x8b ? raw.pipe(createGunzip()) : raw;
    stream.on('error', (err: Error) => onIssue({ component: 'zeek', file, message: `cannot read: ${err.message}` }));
  } catch (err) {
    onIssue({ component: 'zeek', file, message: `cannot open: ${(err as Error).message}` });
    return;
  }
  const rl = readline.createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  let sep = '\t';
  let setSep = ',';
  let unset = '-';
  let empty = '(empty)';
  let index = new Map<string, number>();
  let lineNo = 0;
  try {
    for await (const line of rl) {
      lineNo++;
      if (line === '') continue;
      if (line.startsWith('#')) {
        if (line.startsWith('#separator ')) sep = unescapeSep(line.slice(11));
        else {
          const parts = line.split(sep);
          const key = parts[0];
          if (key === '#set_separator') setSep = parts[1] ?? ',';
          else if (key === '#unset_field') unset = parts[1] ?? '-';
          else if (key === '#empty_field') empty = parts[1] ?? '(empty)';
          else if (key === '#fields') index = new Map(parts.slice(1).map((f, i) => [f, i]));
        }
        continue;
      }
      if (line.startsWith('{')) {
        let obj: Record<string, unknown>;
        try {
          obj = JSON.parse(line) as Record<string, unknown>;
        } catch {
          onIssue({ component: 'zeek', file, line: lineNo, message: 'not valid JSON; line skipped' });
          skipped();
          continue;
        }
        row(
          (f) => {
            const v = obj[f];
            return v === undefined || v === null ? undefined : String(v);
          },
          (f) => {
            const v = obj[f];
            return Array.isArray(v) ? v.map(String) : v === undefined || v === null ? [] : [String(v)];
          },
        );
        continue;
      }
      if (index.size === 0 || !wanted.some((w) => index.has(w))) {
        onIssue({ component: 'zeek', file, line: lineNo, message: 'data line before a #fields header naming the needed columns; skipped' });
        skipped();
        continue;
      }
      const cols = line.split(sep);
      if (cols.length !== index.size) {
        onIssue({
          component: 'zeek',
          file,
          line: lineNo,
          message: `expected ${index.size} columns as #fields says, found ${cols.length}; line skipped`,
        });
        skipped();
        continue;
      }
      const get: Getter = (f) => {
        const i = index.get(f);
        if (i === undefined) return undefined;
        const v = cols[i];
        return v === undefined || v === unset || v === empty ? undefined : v;
      };
      row(get, (f) => {
        const v = get(f);
        return v === undefined ? [] : v.split(setSep);
      });
    }
  } catch (err) {
    onIssue({ component: 'zeek', file, line: lineNo, message: `read failed: ${(err as Error).message}` });
  }
}

function unescapeSep(s: string): string {
  return s.replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
}
