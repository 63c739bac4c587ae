// The README and the bundled demo sample stay true: the configuration reference is what the
// schema says, and the sample is exactly what its generator writes.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  CONFIG_DOC_END,
  CONFIG_DOC_START,
  HUB_CONFIG_DOC_END,
  HUB_CONFIG_DOC_START,
  configReferenceMarkdown,
} from '../../agent/configdoc.js';
import { hubConfigSchema } from '../../hub/config.js';
import { demoSampleText } from '../../agent/demo/write-sample.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('documentation and bundled data', () => {
  it('README configuration reference matches the schema (run `npm run docs:config` to refresh)', () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    const start = readme.indexOf(CONFIG_DOC_START);
    const end = readme.indexOf(CONFIG_DOC_END);
    expect(start).toBeGreaterThan(0);
    expect(readme.slice(start + CONFIG_DOC_START.length, end).trim()).toBe(configReferenceMarkdown().trim());
    expect(configReferenceMarkdown()).toContain('`detectors.baseline.zThreshold`');
    const hubStart = readme.indexOf(HUB_CONFIG_DOC_START);
    const hubEnd = readme.indexOf(HUB_CONFIG_DOC_END);
    expect(hubStart).toBeGreaterThan(0);
    expect(readme.slice(hubStart + HUB_CONFIG_DOC_START.length, hubEnd).trim()).toBe(
      configReferenceMarkdown(hubConfigSchema).trim(),
    );
    expect(configReferenceMarkdown(hubConfigSchema)).toContain('`http.token`');
  });

  it('the bundled demo sample is what agent/demo/sample.ts generates (run `npm run demo:sample` to refresh)', async () => {
    const bundled = zlib.gunzipSync(fs.readFileSync(path.join(root, 'agent/demo/sample-conn.log.gz'))).toString('utf8');
    const generated = await demoSampleText();
    expect(bundled.length).toBe(generated.length);
    expect(bundled === generated).toBe(true);
  });
});
