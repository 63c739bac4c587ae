// Lists a Zeek archive directory (`YYYY-MM-DD/conn.HH:MM:SS-HH:MM:SS.log.gz`, or plain `.log`)
// in time order, so archived days can be read before the live files are tailed.

import type { Dirent } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { IssueHandler } from '../../agent/issues.js';
import type { Counters } from '../../agent/metrics.js';

/** One archived log file. */
export interface ArchiveFile {
  path: string;
  /** Path relative to the archive directory (`2024-05-01/conn.00:00:00-01:00:00.log.gz`). */
  relPath: string;
  /** Log name (`conn`, `dns`, ...). */
  log: string;
  /** The day directory (`2024-05-01`). */
  day: string;
  /** Seconds after midnight at which the file starts; orders files within a day. */
  startSecond: number;
  /** Start and end of the period the file covers, ms since the epoch (end past midnight when it wraps). */
  startMs: number;
  endMs: number;
  gzip: boolean;
}

export interface ListArchiveOptions {
  /** Which log to list (default `conn`); other logs are skipped and counted. */
  log?: string;
  /** Keep only files whose period ends after this time (ms since the epoch). */
  sinceMs?: number;
  /** Keep only files whose period starts before this time (ms since the epoch). */
  untilMs?: number;
  /** Zone the archive names are written in: zeekctl names them in the host's local time. */
  timeZone?: 'local' | 'utc';
  counters?: Counters;
  onIssue?: IssueHandler;
  component?: string;
}

export interface ArchiveListing {
  files: ArchiveFile[];
  /** Entries whose names are not archive names (relative paths). */
  unrecognised: string[];
  /** Archive files of other logs (dns, ssl, ...). */
  otherLogs: number;
}

const DAY_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const FILE_RE = /^([A-Za-z0-9_-]+)\.(\d{2}):(\d{2}):(\d{2})-(\d{2}):(\d{2}):(\d{2})\.log(\.gz)?$/;
const DAY_SECONDS = 86_400;

/** Time order: day, then start time, then name (two logs of one period). */
export function compareArchiveFiles(a: ArchiveFile, b: ArchiveFile): number {
  if (a.day !== b.day) return a.day < b.day ? -1 : 1;
  if (a.startSecond !== b.startSecond) return a.startSecond - b.startSecond;
  return a.relPath < b.relPath ? -1 : a.relPath > b.relPath ? 1 : 0;
}

/** Parses `YYYY-MM-DD` + `log.HH:MM:SS-HH:MM:SS.log[.gz]`; undefined when either is not one. */
export function parseArchiveName(
  archiveDir: string,
  day: string,
  name: string,
  timeZone: 'local' | 'utc' = 'local',
): ArchiveFile | undefined {
  const d = DAY_RE.exec(day);
  const f = FILE_RE.exec(name);
  if (!d || !f) return undefined;
  const [year, month, date] = [Number(d[1]), Number(d[2]), Number(d[3])];
  const [sh, sm, ss, eh, em, es] = f.slice(2, 8).map(Number);
  if (sh > 23 || sm > 59 || ss > 60 || eh > 24 || em > 59 || es > 60) return undefined;
  const midnight = timeZone === 'utc' ? Date.UTC(year, month - 1, date) : new Date(year, month - 1, date).getTime();
  // Reject 2024-02-30 and the like: the date must survive the round trip.
  const check = new Date(midnight);
  const [cy, cm, cd] =
    timeZone === 'utc'
      ? [check.getUTCFullYear(), check.getUTCMonth() + 1, check.getUTCDate()]
      : [check.getFullYear(), check.getMonth() + 1, check.getDate()];
  if (cy !== year || cm !== month || cd !== date) return undefined;
  const startSecond = sh * 3600 + sm * 60 + ss;
  let endSecond = eh * 3600 + em * 60 + es;
  if (endSecond <= startSecond) endSecond += DAY_SECONDS; // the period crosses midnight
  const relPath = `${day}/${name}`;
  return {
    path: path.join(archiveDir, day, name),
    relPath,
    log: f[1],
    day,
    startSecond,
    startMs: midnight + startSecond * 1000,
    endMs: midnight + endSecond * 1000,
    gzip: f[8] !== undefined,
  };
}

/** zeekctl's own folders beside the day folders (live logs, statistics). */
const ZEEKCTL_DIRS = new Set(['current', 'stats']);

/**
 * Lists the archive in time order. A missing directory is reported and gives an empty list;
 * names that are not archive names are skipped, counted (`archive_unrecognised`) and reported
 * once per listing with a few examples.
 */
export async function listArchive(archiveDir: string, opts: ListArchiveOptions = {}): Promise<ArchiveListing> {
  const log = opts.log ?? 'conn';
  const component = opts.component ?? 'zeek';
  const result: ArchiveListing = { files: [], unrecognised: [], otherLogs: 0 };
  let days: Dirent[];
  try {
    days = await fsp.readdir(archiveDir, { withFileTypes: true });
  } catch (err) {
    opts.counters?.add('archive_errors');
    opts.onIssue?.({
      component,
      file: archiveDir,
      message: `cannot list the Zeek archive directory (${(err as Error).message}); nothing is backfilled. Check archiveDir`,
    });
    return result;
  }
  for (const day of days) {
    // zeekctl keeps its live logs in `current/` and its own statistics in `stats/` beside the
    // day folders: they are expected there and not worth a warning.
    if (day.isDirectory() && ZEEKCTL_DIRS.has(day.name)) continue;
    if (!day.isDirectory() || !DAY_RE.test(day.name)) {
      result.unrecognised.push(day.name);
      continue;
    }
    let names: string[];
    try {
      names = await fsp.readdir(path.join(archiveDir, day.name));
    } catch (err) {
      opts.counters?.add('archive_errors');
      opts.onIssue?.({
        component,
        file: path.join(archiveDir, day.name),
        message: `cannot list this archive day (${(err as Error).message}); its files are skipped`,
      });
      continue;
    }
    for (const name of names) {
      const file = parseArchiveName(archiveDir, day.name, name, opts.timeZone);
      if (!file) {
        result.unrecognised.push(`${day.name}/${name}`);
        continue;
      }
      if (file.log !== log) {
        result.otherLogs++;
        continue;
      }
      if (opts.sinceMs !== undefined && file.endMs <= opts.sinceMs) continue;
      if (opts.untilMs !== undefined && file.startMs >= opts.untilMs) continue;
      result.files.push(file);
    }
  }
  result.files.sort(compareArchiveFiles);
  if (result.unrecognised.length > 0) {
    opts.counters?.add('archive_unrecognised', result.unrecognised.length);
    const examples = result.unrecognised.slice(0, 3).join(', ');
    opts.onIssue?.({
      component,
      file: archiveDir,
      message:
        `skipped ${result.unrecognised.length} entries whose names are not Zeek archive names ` +
        `(YYYY-MM-DD/<log>.HH:MM:SS-HH:MM:SS.log[.gz]), e.g. ${examples}`,
    });
  }
  return result;
}
