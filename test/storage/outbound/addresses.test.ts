import { describe, expect, it } from 'vitest';
import { nonGlobalReason, parseAddress, parseCidr } from '../../../src/storage/outbound/addresses.ts';
import { AllowList } from '../../../src/storage/outbound/allowList.ts';
import { OutboundError } from '../../../src/storage/outbound/errors.ts';
import { checkUrl } from '../../../src/storage/outbound/target.ts';
import { INTERNAL_HOSTS } from '../../security/spellings.ts';

/** [address, why it is refused]: the first and last address of every refused range, and a few inside. */
const REFUSED: Array<[string, string]> = [
  ['0.0.0.0', 'this network'], ['0.255.255.255', 'this network'],
  ['10.0.0.0', 'private'], ['10.255.255.255', 'private'],
  ['100.64.0.0', 'shared address space (CGNAT)'], ['100.127.255.255', 'shared address space (CGNAT)'],
  ['127.0.0.0', 'loopback'], ['127.255.255.255', 'loopback'],
  ['169.254.0.0', 'link-local (cloud metadata)'], ['169.254.169.254', 'link-local (cloud metadata)'], ['169.254.255.255', 'link-local (cloud metadata)'],
  ['172.16.0.0', 'private'], ['172.31.255.255', 'private'],
  ['192.0.0.0', 'IETF protocol assignments'], ['192.0.0.255', 'IETF protocol assignments'],
  ['192.0.2.0', 'documentation'], ['192.0.2.255', 'documentation'],
  ['192.88.99.0', '6to4 relay anycast'], ['192.88.99.255', '6to4 relay anycast'],
  ['192.168.0.0', 'private'], ['192.168.255.255', 'private'],
  ['198.18.0.0', 'benchmarking'], ['198.19.255.255', 'benchmarking'],
  ['198.51.100.0', 'documentation'], ['198.51.100.255', 'documentation'],
  ['203.0.113.0', 'documentation'], ['203.0.113.255', 'documentation'],
  ['224.0.0.0', 'multicast'], ['239.255.255.255', 'multicast'],
  ['240.0.0.0', 'reserved'], ['255.255.255.254', 'reserved'], ['255.255.255.255', 'broadcast'],
  ['::', 'unspecified'], ['::1', 'loopback'],
  ['::ffff:0.0.0.0', 'IPv4-mapped'], ['::ffff:8.8.8.8', 'IPv4-mapped'], ['::ffff:255.255.255.255', 'IPv4-mapped'],
  ['::ffff:0:8.8.8.8', 'IPv4-translated'], ['::ffff:0:ffff:ffff', 'IPv4-translated'],
  ['::2', 'IPv4-compatible'], ['::8.8.8.8', 'IPv4-compatible'], ['::ffff:ffff', 'IPv4-compatible'],
  ['64:ff9b::', 'NAT64'], ['64:ff9b::8.8.8.8', 'NAT64'], ['64:ff9b::ffff:ffff', 'NAT64'],
  ['64:ff9b:1::', 'local NAT64'], ['64:ff9b:1:ffff:ffff:ffff:ffff:ffff', 'local NAT64'],
  ['100::', 'discard-only'], ['100::ffff:ffff:ffff:ffff', 'discard-only'],
  ['2001::', 'Teredo'], ['2001:0:ffff:ffff:ffff:ffff:ffff:ffff', 'Teredo'],
  ['2001:1::1', 'IETF protocol assignments'], ['2001:2::1', 'IETF protocol assignments'], ['2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff', 'IETF protocol assignments'],
  ['2001:db8::', 'documentation'], ['2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', 'documentation'],
  ['2002::', '6to4'], ['2002:7f00:1::', '6to4'], ['2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '6to4'],
  ['3fff::', 'documentation'], ['3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff', 'documentation'],
  ['fc00::', 'unique local'], ['fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'unique local'],
  ['fe80::', 'link-local'], ['febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'link-local'],
  ['fec0::', 'site-local'], ['feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'site-local'],
  ['ff00::', 'multicast'], ['ff02::1', 'multicast'], ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'multicast'],
  ['1::', 'not global unicast'], ['1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'not global unicast'], ['4000::', 'not global unicast'], ['e000::1', 'not global unicast'],
];

/** Global unicast, many of them right next to a refused range. */
const GLOBAL = [
  '1.0.0.0', '8.8.8.8', '9.255.255.255', '11.0.0.0', '100.63.255.255', '100.128.0.0', '126.255.255.255', '128.0.0.0',
  '169.253.255.255', '169.255.0.0', '172.15.255.255', '172.32.0.0', '192.0.1.0', '192.0.3.0', '192.88.98.255', '192.88.100.0',
  '192.167.255.255', '192.169.0.0', '198.17.255.255', '198.20.0.0', '198.51.99.255', '198.51.101.0', '203.0.112.255',
  '203.0.114.0', '223.255.255.255',
  '2000::', '2001:200::', '2001:db7:ffff:ffff:ffff:ffff:ffff:ffff', '2001:db9::', '2001:4860:4860::8888', '2003::',
  '2606:4700:4700::1111', '2a00:1450:4001::1', '3ffe::1', '3fff:1000::', '3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
];

describe('the address classifier: only global unicast passes', () => {
  it.each(REFUSED)('%s is refused as %s', (address, reason) => {
    expect(nonGlobalReason(address)).toBe(reason);
  });

  it.each(GLOBAL)('%s is global unicast', (address) => {
    expect(nonGlobalReason(address)).toBeUndefined();
  });

  it('refuses what is not an address rather than guessing', () => {
    for (const text of ['', 'example.com', '1.2.3.4.5', '256.0.0.1', '::g', 'fe80::1%eth0', '1:2:3:4:5:6:7:8:9']) {
      expect(nonGlobalReason(text), text).toBe('not an IP address');
    }
  });

  it('parses every spelling the URL standard accepts, to the same bytes', () => {
    const loop = [127, 0, 0, 1];
    for (const s of ['127.0.0.1', '2130706433', '0x7f000001', '0177.0.0.1', '0x7f.1', '127.1', '127.0.1']) expect([...parseAddress(s)!], s).toEqual(loop);
    expect([...parseAddress('::ffff:127.0.0.1')!]).toEqual([...new Array(10).fill(0), 255, 255, ...loop]);
    expect([...parseAddress('[::127.0.0.1]')!]).toEqual([...new Array(12).fill(0), ...loop]);
    expect(parseAddress('1::2:3:4:5:6:7')).toHaveLength(16);
  });

  it('parses CIDR ranges and refuses malformed ones', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ bytes: Uint8Array.from([10, 0, 0, 0]), bits: 8 });
    expect(parseCidr('fd00::/8')?.bits).toBe(8);
    expect(parseCidr('10.1.2.3')?.bits).toBe(32);
    for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/8/8', 'host/8', '10.0.0.0/-1']) expect(parseCidr(bad), bad).toBeUndefined();
  });
});

describe('the allow-list', () => {
  const allow = AllowList.parse(' models.corp , *.store.internal, 10.20.0.0/16, fd00:1::/32, 192.0.2.7 ');

  it('names hosts exactly or by suffix, addresses by range', () => {
    expect(allow.hasName('models.corp')).toBe(true);
    expect(allow.hasName('MODELS.corp.')).toBe(true);
    expect(allow.hasName('evil-models.corp')).toBe(false);
    expect(allow.hasName('a.store.internal')).toBe(true);
    expect(allow.hasName('store.internal')).toBe(false);
    expect(allow.hasName('store.internal.evil.com')).toBe(false);
    expect(allow.hasAddress(parseAddress('10.20.3.4')!)).toBe(true);
    expect(allow.hasAddress(parseAddress('10.21.0.1')!)).toBe(false);
    expect(allow.hasAddress(parseAddress('fd00:1::5')!)).toBe(true);
    expect(allow.hasAddress(parseAddress('192.0.2.7')!)).toBe(true);
    // an IPv4 range does not admit the IPv4-mapped IPv6 form of its addresses: no cross-family tricks
    expect(allow.hasAddress(parseAddress('::ffff:10.20.3.4')!)).toBe(false);
  });

  it('refuses a malformed entry with the setting\'s name', () => {
    expect(() => AllowList.parse('10.0.0.0/40')).toThrow(/BASIN_OUTBOUND_ALLOW: "10.0.0.0\/40"/);
    expect(() => AllowList.parse('http://x')).toThrow(/is not a host name/);
  });
});

describe('URL checks before any DNS', () => {
  const refusal = (url: string, allow = AllowList.none) => {
    try {
      checkUrl(url, allow);
      return undefined;
    } catch (err) {
      expect(err).toBeInstanceOf(OutboundError);
      return err as OutboundError;
    }
  };

  it.each(INTERNAL_HOSTS)('refuses https://%s', (host) => {
    expect(refusal(`https://${host}:8443/secret`)?.kind).toBe('refused');
  });

  it('refuses other schemes and credentials, and names no address in its messages', () => {
    expect(refusal('ftp://example.com/x')?.message).toMatch(/only https/);
    expect(refusal('file:///etc/passwd')?.kind).toBe('refused');
    expect(refusal('https://user:pw@example.com/x')?.message).toMatch(/credentials/);
    expect(refusal('https://:pw@example.com/x')?.message).toMatch(/credentials/);
    expect(refusal('https://10.1.2.3/x')?.message).not.toMatch(/10\.1/);
  });

  it('passes public hosts; an allow-listed name or range admits internal ones', () => {
    expect(refusal('https://example.com/model.safetensors')).toBeUndefined();
    expect(refusal('https://8.8.8.8/x')).toBeUndefined();
    expect(refusal('http://8.8.8.8/x')?.message).toMatch(/plain http/);
    const allow = AllowList.parse('localhost,10.0.0.0/8');
    expect(refusal('http://localhost:9000/x', allow)).toBeUndefined();
    expect(refusal('http://10.9.8.7/x', allow)).toBeUndefined();
    expect(refusal('http://0xa090807/x', allow)).toBeUndefined(); // 10.9.8.7
    expect(refusal('https://127.0.0.1/x', allow)?.kind).toBe('refused');
    expect(refusal('https://169.254.169.254/x', allow)?.kind).toBe('refused');
  });
});
