// Real findings for agent tests: the baseline detector replayed over the demo sample conn.log
// (agent/demo/sample-conn.log.gz), written out as a plain conn.log in a temp directory.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { resolveConfig } from '../../../agent/config.js';
import { runReplay } from '../../../agent/replay.js';
import type { Finding } from '../../../detectors/detector.js';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Writes the demo sample, uncompressed, to `file`. */
export function writeSampleLog(file: string): void {
  fs.writeFileSync(file, zlib.gunzipSync(fs.readFileSync(path.join(root, 'agent/demo/sample-conn.log.gz'))));
}

/** The findings the baseline detector gives over the sample with `detectors` settings. */
export async function sampleFindings(dir: string, detectors: Record<string, unknown> = {}): Promise<Finding[]> {
  const log = path.join(dir, 'sample-conn.log');
  if (!fs.existsSync(log)) writeSampleLog(log);
  const out: Finding[] = [];
  await runReplay({
    inputs: [log],
    resolved: resolveConfig({ detectors }),
    onIssue: (i) => {
      throw new Error(JSON.stringify(i));
    },
    onFindings: (f) => void out.push(...f),
  });
  return out;
}
