// Which segment a host belongs to: the segment whose CIDR is the most specific match for its
// address, else the segment that lists the record's VLAN, else `default`. Lookups are cached
// (bounded) because detectors ask for every new entity.

import type { AgentConfig, DetectorsConfig, ResolvedConfig } from './config.js';
import { CidrSet, parseCidr } from './netaddr.js';

export const DEFAULT_SEGMENT = 'default';

interface SegmentCidr {
  segment: string;
  set: CidrSet;
  prefix: number;
}

export class SegmentMap {
  private readonly cidrs: SegmentCidr[] = [];
  private readonly vlans = new Map<number, string>();
  private readonly local: CidrSet;
  private readonly cache = new Map<string, string>();
  private detectors: Map<string, DetectorsConfig>;

  constructor(
    resolved: ResolvedConfig,
    private readonly cacheLimit = 50_000,
  ) {
    const config: AgentConfig = resolved.config;
    this.detectors = resolved.segmentDetectors;
    for (const [name, seg] of Object.entries(config.segments)) {
      for (const text of seg.cidrs) {
        const cidr = parseCidr(text);
        this.cidrs.push({ segment: name, set: new CidrSet([cidr]), prefix: cidr.prefix });
      }
      for (const vlan of seg.vlans) this.vlans.set(vlan, name);
    }
    this.cidrs.sort((a, b) => b.prefix - a.prefix || (a.segment < b.segment ? -1 : 1));
    this.local = CidrSet.parse(config.localNets);
  }

  /** The segment names, `default` included. */
  get names(): string[] {
    return [...this.detectors.keys()].sort();
  }

  segmentOf(address: string, vlan?: number): string {
    const key = vlan === undefined ? address : `${address}|${vlan}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    let segment: string | undefined;
    for (const c of this.cidrs) {
      if (c.set.has(address)) {
        segment = c.segment;
        break;
      }
    }
    if (segment === undefined && vlan !== undefined) segment = this.vlans.get(vlan);
    segment ??= DEFAULT_SEGMENT;
    if (this.cache.size >= this.cacheLimit) this.cache.clear();
    this.cache.set(key, segment);
    return segment;
  }

  isLocal(address: string): boolean {
    return this.local.has(address);
  }

  /** Effective detector configuration for a segment (unknown names fall back to `default`). */
  detectorsFor(segment: string): DetectorsConfig {
    return this.detectors.get(segment) ?? (this.detectors.get(DEFAULT_SEGMENT) as DetectorsConfig);
  }

  /** Replaces the per-segment tuning (live reconfiguration); segment membership is unchanged. */
  setDetectors(detectors: Map<string, DetectorsConfig>): void {
    this.detectors = detectors;
  }
}
