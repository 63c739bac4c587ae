// Configuration: defaults, every problem reported with its path and line, segment overrides
// merged over defaults, and the example configurations shipped with the project are valid.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, type ConfigProblem, loadConfigFile, parseConfigText } from '../../agent/config.js';
import { SegmentMap } from '../../agent/segments.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function problems(yaml: string): ConfigProblem[] {
  try {
    parseConfigText(yaml, 'agent.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected the configuration to be refused');
}

describe('agent configuration', () => {
  it('fills every default from an empty file', () => {
    const { config, segmentDetectors } = parseConfigText('');
    expect(config.detectors.baseline.zThreshold).toBe(3);
    expect(config.detectors.baseline.bucketSeconds).toBe(86400);
    expect(config.localNets).toContain('192.168.0.0/16');
    expect(config.state.path).toBe(':memory:');
    expect([...segmentDetectors.keys()]).toEqual(['default']);
  });

  it('reports a bad value with its path and line', () => {
    const p = problems('detectors:\n  baseline:\n    zThreshold: 0\n');
    expect(p).toEqual([{ path: 'detectors.baseline.zThreshold', line: 3, message: 'must be > 0' }]);
  });

  it('reports every problem at once, unknown keys included', () => {
    const p = problems(
      [
        'sensor:',
        '  name: "tap 01"',
        'detectors:',
        '  baseline:',
        '    zThreshhold: 4',
        '    historyBuckets: one',
        'colectors: {}',
      ].join('\n'),
    );
    const byPath = Object.fromEntries(p.map((x) => [x.path, x]));
    expect(byPath['sensor.name'].message).toMatch(/letters, digits/);
    expect(byPath['detectors.baseline.zThreshhold'].message).toMatch(/unknown key/);
    expect(byPath['detectors.baseline.zThreshhold'].line).toBe(5);
    expect(byPath['detectors.baseline.historyBuckets'].message).toBe('must be a number');
    expect(byPath.colectors.message).toMatch(/unknown key/);
    expect(p).toHaveLength(4);
  });

  it('rejects bad CIDRs in local networks and segments, naming the entry', () => {
    const p = problems('localNets: [10.0.0.0/8, 10.0.0.0/40]\nsegments:\n  dmz:\n    cidrs: [bogus]\n');
    expect(p.map((x) => x.path).sort()).toEqual(['localNets.1', 'segments.dmz.cidrs.0']);
  });

  it('merges segment overrides over the defaults', () => {
    const resolved = parseConfigText(
      [
        'detectors:',
        '  baseline:',
        '    zThreshold: 3.5',
        '    minBytesOut: 1000',
        'segments:',
        '  servers:',
        '    cidrs: [10.20.0.0/16]',
        '    detectors:',
        '      baseline:',
        '        zThreshold: 5',
        '  guests:',
        '    vlans: [30]',
      ].join('\n'),
    );
    const servers = resolved.segmentDetectors.get('servers');
    expect(servers?.baseline.zThreshold).toBe(5);
    expect(servers?.baseline.minBytesOut).toBe(1000); // inherited from the top level
    expect(resolved.segmentDetectors.get('guests')?.baseline.zThreshold).toBe(3.5);
    const map = new SegmentMap(resolved);
    expect(map.segmentOf('10.20.3.4')).toBe('servers');
    expect(map.segmentOf('10.21.3.4')).toBe('default');
    expect(map.segmentOf('10.21.3.4', 30)).toBe('guests');
    expect(map.detectorsFor('servers').baseline.zThreshold).toBe(5);
    expect(map.detectorsFor('nonexistent').baseline.zThreshold).toBe(3.5);
  });

  it('reports bad segment overrides under the segment, and refuses sensor-wide keys there', () => {
    const p = problems(
      [
        'segments:',
        '  dmz:',
        '    detectors:',
        '      baseline:',
        '        zThreshold: -2',
        '        bucketSeconds: 3600',
        '        nope: 1',
      ].join('\n'),
    );
    const paths = p.map((x) => `${x.path}: ${x.message}`).sort();
    expect(paths).toEqual([
      'segments.dmz.detectors.baseline.bucketSeconds: is sensor-wide and cannot be set per segment',
      'segments.dmz.detectors.baseline.nope: unknown key (see the configuration reference in README.md)',
      'segments.dmz.detectors.baseline.zThreshold: must be > 0',
    ]);
    expect(p.find((x) => x.path.endsWith('zThreshold'))?.line).toBe(5);
  });

  it('beacon: per-segment scoring and allow-lists, sensor-wide table settings refused per segment', () => {
    const resolved = parseConfigText(
      [
        'detectors:',
        '  beacon:',
        '    alertScore: 0.6',
        'segments:',
        '  servers:',
        '    cidrs: [10.20.0.0/16]',
        '    detectors:',
        '      beacon:',
        '        alertScore: 0.8',
        '        allow: { servers: ["*.corp-backup.example"], services: ["8443/tcp"] }',
      ].join('\n'),
    );
    const map = new SegmentMap(resolved);
    expect(map.detectorsFor('default').beacon).toMatchObject({ alertScore: 0.6, maxPairs: 1_000_000 });
    expect(map.detectorsFor('servers').beacon).toMatchObject({
      alertScore: 0.8,
      allow: { servers: ['*.corp-backup.example'], services: ['8443/tcp'], cidrs: [] },
    });
    const p = problems(
      ['segments:', '  dmz:', '    detectors:', '      beacon:', '        maxPairs: 5000', '        allow: { services: ["ntp"] }'].join('\n'),
    );
    expect(p.map((x) => `${x.path}: ${x.message}`).sort()).toEqual([
      'segments.dmz.detectors.beacon.allow.services.0: expected port/proto, e.g. 123/udp',
      'segments.dmz.detectors.beacon.maxPairs: is sensor-wide and cannot be set per segment',
    ]);
  });

  it('the most specific CIDR decides the segment', () => {
    const map = new SegmentMap(
      parseConfigText(
        'segments:\n  wide:\n    cidrs: [10.0.0.0/8]\n  narrow:\n    cidrs: [10.5.0.0/16, "2001:db8::/32"]\n',
      ),
    );
    expect(map.segmentOf('10.5.1.1')).toBe('narrow');
    expect(map.segmentOf('10.6.1.1')).toBe('wide');
    expect(map.segmentOf('2001:db8::5')).toBe('narrow');
  });

  it('reports YAML syntax errors with their line', () => {
    const p = problems('detectors:\n  baseline: [\n');
    expect(p[0].message).toMatch(/^YAML syntax/);
    expect(p[0].line).toBeGreaterThanOrEqual(2);
  });

  it('reports an unreadable file by name', () => {
    expect(() => loadConfigFile('/nonexistent/agent.yaml')).toThrow(/\/nonexistent\/agent.yaml: .*cannot read: ENOENT/);
  });

  it('accepts the configurations shipped with the project and the README example', () => {
    loadConfigFile(path.join(root, 'agent/demo/demo.yaml'));
    loadConfigFile(path.join(root, 'systemd/agent.example.yaml'));
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
    expect(blocks.length).toBeGreaterThan(0);
    for (const block of blocks) parseConfigText(block, 'README.md');
  });
});
