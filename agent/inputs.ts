// Expands command-line inputs into the files to read, in time order: a directory is searched
// (recursively) for Zeek conn logs, whose archive names (`YYYY-MM-DD/conn.HH:MM:SS-….log.gz`)
// sort chronologically as text.

import fs from 'node:fs';
import path from 'node:path';

const CONN_LOG = /^conn(\.[^/]*)?\.log(\.gz)?$|^conn\.log(\.\d+)?(\.gz)?$/;

export class InputError extends Error {}

export function expandInputs(inputs: readonly string[]): string[] {
  const files: string[] = [];
  for (const input of inputs) {
    if (input === '-') {
      files.push(input);
      continue;
    }
    let stat: fs.Stats;
    try {
      stat = fs.statSync(input);
    } catch (err) {
      throw new InputError(
        `${input}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`,
      );
    }
    if (!stat.isDirectory()) {
      files.push(input);
      continue;
    }
    const found: string[] = [];
    walk(input, found);
    if (found.length === 0)
      throw new InputError(`${input}: directory holds no Zeek conn logs (conn*.log, conn*.log.gz)`);
    files.push(...found.sort());
  }
  return files;
}

function walk(dir: string, out: string[]): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(full, out);
    else if (entry.isFile() && CONN_LOG.test(entry.name)) out.push(full);
  }
}
