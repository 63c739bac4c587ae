// `npm run demo:sample`: (re)writes the bundled demo conn.log from the seeded generator.
// The test suite checks that the bundled file is exactly what this produces.

import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import zlib from 'node:zlib';
import { ManualClock } from '../clock.js';
import { ZeekTsvWriter } from '../flowformat.js';
import { packageInfo } from '../version.js';
import { DEMO_DAYS, DEMO_START, generateDemoFlows } from './sample.js';

/** The sample as Zeek TSV text; `#open`/`#close` are pinned to the sample's own time span. */
export async function demoSampleText(): Promise<string> {
  const sink = new PassThrough();
  const parts: Buffer[] = [];
  sink.on('data', (b: Buffer) => parts.push(b));
  const writer = new ZeekTsvWriter(sink, { clock: new ManualClock((DEMO_START + DEMO_DAYS * 86400) * 1000) });
  await writer.write(generateDemoFlows());
  await writer.end();
  return Buffer.concat(parts).toString('utf8');
}

if (process.argv[1] && path.resolve(process.argv[1]).endsWith(path.join('demo', 'write-sample.ts'))) {
  const file = path.join(packageInfo().root, 'agent/demo/sample-conn.log.gz');
  const text = await demoSampleText();
  fs.writeFileSync(file, zlib.gzipSync(text, { level: 9 }));
  process.stdout.write(`${file}: ${text.split('\n').length} lines\n`);
}
