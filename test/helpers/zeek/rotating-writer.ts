// Test helper run as a child process: appends Zeek TSV conn.log lines with unique uids at a fixed
// rate and rotates the file the way Zeek/logrotate setups do, then prints how many it wrote.
//
//   node --import tsx test/helpers/zeek/rotating-writer.ts '<WriterOptions as JSON>'
//
// uids are `C<uidPrefix>x<n>` for n = 0 … written-1, so a reader can check it saw each exactly once.

import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import zlib from 'node:zlib';

export type RotationStyle = 'rename' | 'copytruncate' | 'gzip';

export interface WriterOptions {
  dir: string;
  /** Live file name in `dir` (default conn.log). */
  name?: string;
  /** One style, or several used in turn. */
  styles: RotationStyle[];
  linesPerSecond: number;
  rotateEveryMs: number;
  durationMs: number;
  uidPrefix: string;
  /** For `gzip`: how long after the rename the rotated file is compressed. */
  gzipDelayMs?: number;
  /**
   * When set, the file is created with its header at once, but lines (and the clock for rate and
   * rotation) start only when this file exists: a reader can start following first.
   */
  goFile?: string;
}

const FIELDS = [
  'ts',
  'uid',
  'id.orig_h',
  'id.orig_p',
  'id.resp_h',
  'id.resp_p',
  'proto',
  'service',
  'duration',
  'orig_bytes',
  'resp_bytes',
  'conn_state',
  'local_orig',
  'local_resp',
  'missed_bytes',
  'history',
  'orig_pkts',
  'orig_ip_bytes',
  'resp_pkts',
  'resp_ip_bytes',
  'tunnel_parents',
];
const TYPES = [
  'time',
  'string',
  'addr',
  'port',
  'addr',
  'port',
  'enum',
  'string',
  'interval',
  'count',
  'count',
  'string',
  'bool',
  'bool',
  'count',
  'string',
  'count',
  'count',
  'count',
  'count',
  'set[string]',
];

function zeekTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}-${p(d.getUTCHours())}-${p(d.getUTCMinutes())}-${p(d.getUTCSeconds())}`;
}

export function zeekHeader(openedMs: number): string {
  return (
    '#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n' +
    `#open\t${zeekTime(openedMs)}\n#fields\t${FIELDS.join('\t')}\n#types\t${TYPES.join('\t')}\n`
  );
}

export function connLine(uid: string, n: number): string {
  const ts = (1_700_000_000 + n / 1000).toFixed(6);
  const a = n & 0xff;
  const b = (n >> 8) & 0xff;
  return `${ts}\t${uid}\t10.0.${b}.${a}\t${40000 + (n % 20000)}\t192.0.2.${a}\t443\ttcp\tssl\t0.250000\t512\t4096\tSF\tT\tF\t0\tShADadFf\t8\t932\t7\t4468\t-\n`;
}

function run(opts: WriterOptions): void {
  const live = path.join(opts.dir, opts.name ?? 'conn.log');
  const fd = fs.openSync(live, 'a');
  fs.writeSync(fd, zeekHeader(Date.now()));
  const go = opts.goFile;
  if (go && !fs.existsSync(go)) {
    const waitForGo = () => (fs.existsSync(go) ? write(opts, live, fd) : setTimeout(waitForGo, 5));
    waitForGo();
    return;
  }
  write(opts, live, fd);
}

function write(opts: WriterOptions, live: string, firstFd: number): void {
  let fd = firstFd;
  const start = Date.now();
  let written = 0;
  let rotation = 0;
  let nextRotate = start + opts.rotateEveryMs;
  const pendingGzip: { file: string; at: number }[] = [];

  const gzipDue = (force: boolean) => {
    while (pendingGzip.length > 0 && (force || pendingGzip[0].at <= Date.now())) {
      const { file } = pendingGzip.shift() as { file: string; at: number };
      const st = fs.statSync(file);
      // Like `gzip FILE`: write FILE.gz, keep FILE's times, then remove FILE.
      fs.writeFileSync(`${file}.gz`, zlib.gzipSync(fs.readFileSync(file)));
      fs.utimesSync(`${file}.gz`, st.atime, st.mtime);
      fs.unlinkSync(file);
    }
  };

  const rotate = () => {
    const style = opts.styles[rotation % opts.styles.length];
    rotation++;
    const rotated = `${live}.${rotation}`;
    if (style === 'copytruncate') {
      fs.copyFileSync(live, rotated);
      fs.ftruncateSync(fd, 0);
      return;
    }
    fs.writeSync(fd, `#close\t${zeekTime(Date.now())}\n`);
    fs.closeSync(fd);
    fs.renameSync(live, rotated);
    fd = fs.openSync(live, 'a');
    fs.writeSync(fd, zeekHeader(Date.now()));
    if (style === 'gzip') pendingGzip.push({ file: rotated, at: Date.now() + (opts.gzipDelayMs ?? 200) });
  };

  const tick = () => {
    const now = Date.now();
    const elapsed = Math.min(now - start, opts.durationMs);
    const due = Math.floor((opts.linesPerSecond * elapsed) / 1000) - written;
    if (due > 0) {
      let text = '';
      for (let i = 0; i < due; i++) text += connLine(`C${opts.uidPrefix}x${written + i}`, written + i);
      fs.writeSync(fd, text);
      written += due;
    }
    gzipDue(false);
    if (now - start >= opts.durationMs) {
      gzipDue(true);
      fs.closeSync(fd);
      process.stdout.write(`${JSON.stringify({ written, rotations: rotation })}\n`);
      return;
    }
    if (now >= nextRotate) {
      rotate();
      nextRotate += opts.rotateEveryMs;
    }
    setTimeout(tick, 5);
  };
  tick();
}

// Run only as a script: the test files import the line builders above.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run(JSON.parse(process.argv[2]) as WriterOptions);
}
