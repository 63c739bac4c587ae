// Configuration of the `zeek` collector: which conn.log files to read once, which live paths to
// follow, which archive to backfill from, and how to poll and buffer. Defaults are declared here.

import { z } from 'zod';

const dateOrDateTime = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()])
  .describe('ISO 8601 date (2024-05-01, midnight in archiveTimeZone) or date-time with zone (2024-05-01T06:00:00Z)');

export const zeekCollectorConfigSchema = z
  .strictObject({
    files: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'conn.log files (TSV or JSON, plain or gzip) read once from start to end, after the backfill and before tailing. ' +
          'A file already read to its end (per the checkpoint) is not read again.',
      ),
    tail: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'Live conn.log paths to follow, e.g. /opt/zeek/logs/current/conn.log. Rotation (rename + new file, copytruncate, ' +
          'gzip of the rotated copy in the same directory, or zeekctl moving it into its archive) is followed, and the ' +
          'position is checkpointed. Rotated copies are looked for by content in the same directory and in the archive: ' +
          'archiveDir, or else the parent of a directory named current (zeekctl’s layout).',
      ),
    startAt: z
      .enum(['beginning', 'end'])
      .default('beginning')
      .describe(
        'Where to start a tailed file that has no checkpoint yet: its beginning, or only the lines appended from now on.',
      ),
    archiveDir: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Zeek's archive directory (YYYY-MM-DD/conn.HH:MM:SS-HH:MM:SS.log.gz, as zeekctl writes it) to read, in time order, " +
          'before anything else. Unset: no backfill. It is also where followed paths look for their rotated copies; when ' +
          'a followed path has the archiveLog name, files archived after the backfill first finished are its rotations ' +
          'and are read by its tail, never by the backfill again.',
      ),
    backfillSince: dateOrDateTime
      .optional()
      .describe('Backfill only archived files that end after this time. Unset: the whole archive.'),
    backfillUntil: dateOrDateTime
      .optional()
      .describe('Backfill only archived files that start before this time. Unset: up to the newest file.'),
    archiveTimeZone: z
      .enum(['local', 'utc'])
      .default('local')
      .describe('Time zone of the times in archive names; zeekctl uses the host’s local time.'),
    archiveLog: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .default('conn')
      .describe('Which archived log to backfill (the name before the first dot).'),
    pollIntervalMs: z
      .number()
      .int()
      .positive()
      .default(250)
      .describe(
        'How often (milliseconds) a tailed file is checked for new lines and rotation; fs.watch may wake it earlier.',
      ),
    watch: z
      .boolean()
      .default(true)
      .describe('Use fs.watch on the log directory as a hint to read sooner; polling alone is used when false.'),
    batchSize: z
      .number()
      .int()
      .positive()
      .max(1_000_000)
      .default(1000)
      .describe('Most lines parsed into one batch handed to the pipeline; a checkpoint can fall after any batch.'),
    readBufferBytes: z
      .number()
      .int()
      .min(4096)
      .max(256 * 1024 * 1024)
      .default(1024 * 1024)
      .describe('Size of the read buffer (bytes), reused for every read.'),
    maxLineBytes: z
      .number()
      .int()
      .min(1024)
      .max(256 * 1024 * 1024)
      .default(1024 * 1024)
      .describe('Longest line kept (bytes); the buffer grows up to this and longer lines are reported and skipped.'),
    reportIntervalMs: z
      .number()
      .int()
      .positive()
      .default(300_000)
      .describe('How often (milliseconds) a persisting problem, such as a missing tailed file, is reported again.'),
  })
  .refine((c) => c.files.length > 0 || c.tail.length > 0 || c.archiveDir !== undefined, {
    message: 'nothing to read: set at least one of files, tail or archiveDir',
  })
  .describe('Zeek conn.log input: archive backfill, files read once, and live files followed across rotation.');

export type ZeekCollectorConfig = z.infer<typeof zeekCollectorConfigSchema>;

/** ms since the epoch of a backfillSince/backfillUntil value (a bare date is midnight in `timeZone`). */
export function parseConfigTime(value: string, timeZone: 'local' | 'utc'): number {
  const bare = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!bare) return Date.parse(value);
  const [y, m, d] = [Number(bare[1]), Number(bare[2]) - 1, Number(bare[3])];
  return timeZone === 'utc' ? Date.UTC(y, m, d) : new Date(y, m, d).getTime();
}
