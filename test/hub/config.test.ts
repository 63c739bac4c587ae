// hub.yaml: defaults, a documented schema, and errors that name the file, line and key.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { hubConfigSchema, HubConfigError, loadHubConfig, parseHubConfig } from '../../hub/config.js';
import { tempDir, TOKEN } from './helpers.js';

/** Every key path in the schema whose declaration has no description. */
function undocumented(schema: z.ZodType, at: string): string[] {
  let inner: z.ZodType = schema;
  const missing: string[] = [];
  if (!inner.description && at) missing.push(at);
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional) inner = inner.unwrap() as z.ZodType;
  if (inner instanceof z.ZodObject) {
    for (const [key, child] of Object.entries(inner.shape as Record<string, z.ZodType>)) {
      missing.push(...undocumented(child, at ? `${at}.${key}` : key));
    }
  }
  return missing;
}

describe('hub configuration', () => {
  it('fills defaults around the one required key', () => {
    const config = parseHubConfig({ http: { token: TOKEN } });
    expect(config.mqtt).toMatchObject({ sharedGroup: 'vigil-hub', protocolVersion: 5 });
    expect(config.http).toMatchObject({ host: '127.0.0.1', token: TOKEN });
    expect(config.store.retentionDays).toBe(30);
  });

  it('documents every key', () => {
    expect(undocumented(hubConfigSchema, '')).toEqual([]);
  });

  it('names the key path of each problem and refuses unknown keys', () => {
    try {
      parseHubConfig({ http: { token: TOKEN, prot: 1 }, store: { retentionDays: -1 } }, 'hub.yaml');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(HubConfigError);
      const problems = (err as HubConfigError).problems.join('\n');
      expect(problems).toContain('http');
      expect(problems).toContain('prot');
      expect(problems).toContain('store.retentionDays');
    }
  });

  it('names the line of a YAML syntax error and the path of a missing file', () => {
    const dir = tempDir();
    const file = path.join(dir, 'hub.yaml');
    fs.writeFileSync(file, 'http:\n  token: [unclosed\n');
    expect(() => loadHubConfig(file)).toThrow(/hub\.yaml: not valid YAML at line \d/);
    expect(() => loadHubConfig(path.join(dir, 'missing.yaml'))).toThrow(/missing\.yaml: cannot read the file \(ENOENT\)/);
  });
});

describe('hub/hub.sample.yaml', () => {
  it('is a valid hub configuration', () => {
    expect(loadHubConfig(path.resolve('hub/hub.sample.yaml')).http.port).toBe(8470);
  });
});
