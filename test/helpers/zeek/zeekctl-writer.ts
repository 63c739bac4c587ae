// Test helper: writes a Zeek conn.log and rotates it the way zeekctl does — Zeek renames it to
// `conn.YYYY-MM-DD-HH-MM-SS.log` next to itself and opens a new one, then archive-log writes
// `<archive>/YYYY-MM-DD/conn.HH:MM:SS-HH:MM:SS.log.gz` (or moves the file there uncompressed) and
// removes the renamed file. Usable in-process (`zeekctlRotate`) or as a child process:
//
//   node --import tsx test/helpers/zeek/zeekctl-writer.ts '<ZeekctlWriterOptions as JSON>'
//
// As a child it appends lines with uids `C<uidPrefix>x<n>` at a fixed rate, rotates on a timer and
// prints `{"written":…,"rotations":…}` at the end.

import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import zlib from 'node:zlib';
import { connLine, zeekHeader } from './rotating-writer.js';

/** Where the rotation periods start: archive names are synthetic, one period per rotation. */
export const FIRST_PERIOD_MS = Date.UTC(2026, 10, 21, 10, 0, 0);
export const PERIOD_MS = 3600_000;

const pad = (n: number) => String(n).padStart(2, '0');
const day = (d: Date) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
const clock = (d: Date) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;

/** Archive path (relative to the archive directory) of rotation period `k` of `log`. */
export function archiveRel(k: number, log = 'conn', compress = true): string {
  const from = new Date(FIRST_PERIOD_MS + k * PERIOD_MS);
  const to = new Date(FIRST_PERIOD_MS + (k + 1) * PERIOD_MS);
  return `${day(from)}/${log}.${clock(from)}-${clock(to)}.log${compress ? '.gz' : ''}`;
}

/** Zeek's own name for the file of period `k` right after rotating it. */
export function zeekRotatedName(k: number, log = 'conn'): string {
  const from = new Date(FIRST_PERIOD_MS + k * PERIOD_MS);
  return `${log}.${day(from)}-${clock(from).replaceAll(':', '-')}.log`;
}

export interface ZeekctlLayout {
  /** Directory of the live file (zeekctl: `<logdir>/current`). */
  liveDir: string;
  /** Archive directory holding the day folders (zeekctl: `<logdir>`). */
  archiveDir: string;
  /** Live file name (default conn.log). */
  name?: string;
  /** gzip into the archive (default), or move the file there as it is. */
  compress?: boolean;
}

/** Zeek's half of a rotation: rename the live file to its rotated name. Returns that path. */
export function zeekRename(layout: ZeekctlLayout, k: number): string {
  const name = layout.name ?? 'conn.log';
  const rotated = path.join(layout.liveDir, zeekRotatedName(k, name.split('.')[0]));
  fs.renameSync(path.join(layout.liveDir, name), rotated);
  return rotated;
}

/** archive-log's half: gzip (new file, new inode) or move (same inode) into the archive, then remove. */
export function archiveLog(layout: ZeekctlLayout, k: number, rotated: string): string {
  const compress = layout.compress ?? true;
  const dest = path.join(layout.archiveDir, archiveRel(k, path.basename(rotated).split('.')[0], compress));
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  if (compress) {
    // Like `gzip < file > dest`: the copy is a new file written now.
    fs.writeFileSync(dest, zlib.gzipSync(fs.readFileSync(rotated)));
    fs.unlinkSync(rotated);
  } else {
    fs.renameSync(rotated, dest);
  }
  return dest;
}

/** One whole zeekctl rotation of period `k`; the live path is left absent. Returns the archived path. */
export function zeekctlRotate(layout: ZeekctlLayout, k: number): string {
  return archiveLog(layout, k, zeekRename(layout, k));
}

export interface ZeekctlWriterOptions extends ZeekctlLayout {
  linesPerSecond: number;
  rotateEveryMs: number;
  durationMs: number;
  uidPrefix: string;
  /** Lines start (and the clock for rate and rotation) only once this file exists. */
  goFile?: string;
}

function run(opts: ZeekctlWriterOptions): void {
  const live = path.join(opts.liveDir, opts.name ?? 'conn.log');
  fs.mkdirSync(opts.liveDir, { recursive: true });
  let fd = fs.openSync(live, 'a');
  fs.writeSync(fd, zeekHeader(FIRST_PERIOD_MS));
  const start = () => {
    const t0 = Date.now();
    let written = 0;
    let rotation = 0;
    let nextRotate = t0 + opts.rotateEveryMs;
    const tick = () => {
      const now = Date.now();
      const elapsed = Math.min(now - t0, opts.durationMs);
      const due = Math.floor((opts.linesPerSecond * elapsed) / 1000) - written;
      if (due > 0) {
        let text = '';
        for (let i = 0; i < due; i++) text += connLine(`C${opts.uidPrefix}x${written + i}`, written + i);
        fs.writeSync(fd, text);
        written += due;
      }
      if (now - t0 >= opts.durationMs) {
        fs.closeSync(fd);
        process.stdout.write(`${JSON.stringify({ written, rotations: rotation })}\n`);
        return;
      }
      if (now >= nextRotate) {
        fs.writeSync(fd, '#close\t2026-11-21-00-00-00\n');
        fs.closeSync(fd);
        const rotated = zeekRename(opts, rotation);
        fd = fs.openSync(live, 'a');
        fs.writeSync(fd, zeekHeader(FIRST_PERIOD_MS + (rotation + 1) * PERIOD_MS));
        archiveLog(opts, rotation, rotated);
        rotation++;
        nextRotate += opts.rotateEveryMs;
      }
      setTimeout(tick, 5);
    };
    tick();
  };
  const go = opts.goFile;
  const waitForGo = () => {
    if (!go || fs.existsSync(go)) start();
    else setTimeout(waitForGo, 5);
  };
  waitForGo();
}

// Run only as a script: the tests import the rotation functions above.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run(JSON.parse(process.argv[2]) as ZeekctlWriterOptions);
}
