// IP address and CIDR matching for local-network and segment decisions. IPv4 is matched as a
// 32-bit number, IPv6 as two 64-bit halves (BigInt only at parse time of the CIDR list).

export interface Cidr {
  /** The text it was parsed from, for messages. */
  text: string;
  v6: boolean;
  /** IPv4: network as uint32. */
  net4: number;
  mask4: number;
  /** IPv6: network and mask as 128-bit BigInts. */
  net6: bigint;
  mask6: bigint;
  prefix: number;
}

/** Default local networks: RFC 1918, CGNAT (RFC 6598), ULA, link-local (v4 and v6). */
export const DEFAULT_LOCAL_NETS = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  '169.254.0.0/16',
  'fc00::/7',
  'fe80::/10',
];

/** Parses dotted-quad IPv4 to uint32, or -1 when it is not one. */
export function parseIPv4(s: string): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else if (c === 46) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + part;
}

/** Parses an IPv6 address (with `::` and an optional embedded IPv4 tail) to a BigInt, or undefined. */
export function parseIPv6(s: string): bigint | undefined {
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (s.indexOf(':') < 0) return undefined;
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (i === items.length - 1 && item.includes('.')) {
        const v4 = parseIPv4(item);
        if (v4 < 0) return undefined;
        out.push(Math.floor(v4 / 65536), v4 % 65536);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(item)) return undefined;
      out.push(Number.parseInt(item, 16));
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  let v = 0n;
  for (const g of all) v = (v << 16n) | BigInt(g);
  return v;
}

const ALL_ONES_128 = (1n << 128n) - 1n;

/** Parses `a.b.c.d/n`, `x::/n` or a bare address (host route). Throws with a readable reason. */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  const addr = slash >= 0 ? text.slice(0, slash) : text;
  const prefixText = slash >= 0 ? text.slice(slash + 1) : undefined;
  const v4 = parseIPv4(addr);
  if (v4 >= 0) {
    const prefix = prefixText === undefined ? 32 : Number(prefixText);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) {
      throw new Error(`"${text}" has an invalid IPv4 prefix length (0-32)`);
    }
    const mask4 = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    return { text, v6: false, net4: (v4 & mask4) >>> 0, mask4, net6: 0n, mask6: 0n, prefix };
  }
  const v6 = parseIPv6(addr);
  if (v6 === undefined) throw new Error(`"${text}" is not an IPv4 or IPv6 address or CIDR`);
  const prefix = prefixText === undefined ? 128 : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 128) {
    throw new Error(`"${text}" has an invalid IPv6 prefix length (0-128)`);
  }
  const mask6 = prefix === 0 ? 0n : (ALL_ONES_128 << BigInt(128 - prefix)) & ALL_ONES_128;
  return { text, v6: true, net4: 0, mask4: 0, net6: v6 & mask6, mask6, prefix };
}

/**
 * A set of CIDRs answering "is this address inside?". Results for IPv6 strings are cached in a
 * bounded map because parsing them is comparatively slow; IPv4 is parsed every time.
 */
export class CidrSet {
  private readonly v4: Cidr[];
  private readonly v6: Cidr[];
  private readonly cache6 = new Map<string, boolean>();

  constructor(
    readonly cidrs: readonly Cidr[],
    private readonly cacheLimit = 10_000,
  ) {
    // Longest prefixes first, so callers that need the most specific match can rely on order.
    this.v4 = cidrs.filter((c) => !c.v6).sort((a, b) => b.prefix - a.prefix);
    this.v6 = cidrs.filter((c) => c.v6).sort((a, b) => b.prefix - a.prefix);
  }

  static parse(texts: readonly string[]): CidrSet {
    return new CidrSet(texts.map(parseCidr));
  }

  get size(): number {
    return this.cidrs.length;
  }

  has(address: string): boolean {
    const v4 = parseIPv4(address);
    if (v4 >= 0) {
      for (const c of this.v4) if ((v4 & c.mask4) >>> 0 === c.net4) return true;
      return false;
    }
    if (this.v6.length === 0) return false;
    const hit = this.cache6.get(address);
    if (hit !== undefined) return hit;
    const v6 = parseIPv6(address);
    let found = false;
    if (v6 !== undefined) {
      for (const c of this.v6) {
        if ((v6 & c.mask6) === c.net6) {
          found = true;
          break;
        }
      }
    }
    if (this.cache6.size >= this.cacheLimit) this.cache6.clear();
    this.cache6.set(address, found);
    return found;
  }
}
