// Address parsing and CIDR membership for local-network and segment decisions.

import { describe, expect, it } from 'vitest';
import { CidrSet, DEFAULT_LOCAL_NETS, parseCidr, parseIPv4, parseIPv6 } from '../../agent/netaddr.js';

describe('addresses', () => {
  it('parses IPv4 and rejects near misses', () => {
    expect(parseIPv4('10.1.2.3')).toBe(0x0a010203);
    expect(parseIPv4('255.255.255.255')).toBe(0xffffffff);
    for (const bad of ['10.1.2', '10.1.2.3.4', '256.1.1.1', '1..2.3', 'a.b.c.d', '', '1.2.3.4 ']) {
      expect(parseIPv4(bad)).toBe(-1);
    }
  });

  it('parses IPv6 forms', () => {
    expect(parseIPv6('::1')).toBe(1n);
    expect(parseIPv6('fe80::1%eth0')).toBe((0xfe80n << 112n) | 1n);
    expect(parseIPv6('::ffff:10.0.0.1')).toBe((0xffffn << 32n) | 0x0a000001n);
    expect(parseIPv6('2001:db8:0:0:0:0:0:1')).toBe(parseIPv6('2001:db8::1'));
    for (const bad of ['1:2:3', '1::2::3', 'g::1', '1:2:3:4:5:6:7:8:9']) expect(parseIPv6(bad)).toBeUndefined();
  });

  it('matches CIDRs of both families', () => {
    const local = CidrSet.parse(DEFAULT_LOCAL_NETS);
    expect(local.has('10.200.3.4')).toBe(true);
    expect(local.has('172.31.255.1')).toBe(true);
    expect(local.has('172.32.0.1')).toBe(false);
    expect(local.has('100.64.0.1')).toBe(true);
    expect(local.has('8.8.8.8')).toBe(false);
    expect(local.has('fd12::1')).toBe(true);
    expect(local.has('2001:db8::1')).toBe(false);
    expect(local.has('not-an-ip')).toBe(false);
    expect(CidrSet.parse(['0.0.0.0/0']).has('1.2.3.4')).toBe(true);
    expect(CidrSet.parse(['192.0.2.7']).has('192.0.2.7')).toBe(true);
    expect(CidrSet.parse(['192.0.2.7']).has('192.0.2.8')).toBe(false);
  });

  it('explains a bad CIDR', () => {
    expect(() => parseCidr('10.0.0.0/33')).toThrow(/invalid IPv4 prefix/);
    expect(() => parseCidr('10.0.0/8')).toThrow(/not an IPv4 or IPv6/);
    expect(() => parseCidr('fc00::/129')).toThrow(/invalid IPv6 prefix/);
  });
});
