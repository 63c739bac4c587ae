// `npm run docs:config`: rewrites the configuration reference between its markers in README.md.

import fs from 'node:fs';
import path from 'node:path';
import { hubConfigSchema } from '../hub/config.js';
import {
  CONFIG_DOC_END,
  CONFIG_DOC_START,
  HUB_CONFIG_DOC_END,
  HUB_CONFIG_DOC_START,
  configReferenceMarkdown,
} from './configdoc.js';
import { packageInfo } from './version.js';

const readme = path.join(packageInfo().root, 'README.md');
let text = fs.readFileSync(readme, 'utf8');
for (const [startMark, endMark, table] of [
  [CONFIG_DOC_START, CONFIG_DOC_END, configReferenceMarkdown()],
  [HUB_CONFIG_DOC_START, HUB_CONFIG_DOC_END, configReferenceMarkdown(hubConfigSchema)],
] as const) {
  const start = text.indexOf(startMark);
  const end = text.indexOf(endMark);
  if (start < 0 || end < start) {
    process.stderr.write(`${readme}: markers ${startMark} … ${endMark} not found\n`);
    process.exit(1);
  }
  text = `${text.slice(0, start + startMark.length)}\n${table}\n${text.slice(end)}`;
}
fs.writeFileSync(readme, text);
process.stdout.write(`${readme}: configuration references updated\n`);
