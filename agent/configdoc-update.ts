// `npm run docs:config`: rewrites the configuration reference between its markers in README.md.

import fs from 'node:fs';
import path from 'node:path';
import { CONFIG_DOC_END, CONFIG_DOC_START, configReferenceMarkdown } from './configdoc.js';
import { packageInfo } from './version.js';

const readme = path.join(packageInfo().root, 'README.md');
const text = fs.readFileSync(readme, 'utf8');
const start = text.indexOf(CONFIG_DOC_START);
const end = text.indexOf(CONFIG_DOC_END);
if (start < 0 || end < start) {
  process.stderr.write(`${readme}: configuration reference markers not found\n`);
  process.exit(1);
}
const updated = `${text.slice(0, start + CONFIG_DOC_START.length)}\n${configReferenceMarkdown()}\n${text.slice(end)}`;
fs.writeFileSync(readme, updated);
process.stdout.write(`${readme}: configuration reference updated\n`);
