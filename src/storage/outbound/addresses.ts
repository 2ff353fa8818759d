/**
 * Which IP addresses a caller-supplied URL may reach: only global unicast. Everything else
 * (loopback, private, link-local and cloud metadata, CGNAT, multicast, reserved, documentation,
 * and every IPv6 form that embeds or tunnels to an IPv4 address) is refused, so no spelling of an
 * internal address gets through.
 *
 * Addresses are parsed by the WHATWG URL parser, the same one that normalises URL hostnames
 * (decimal, octal, hex and short IPv4 forms become dotted quads; IPv6 becomes its compressed
 * form): one parser for hostnames, DNS answers and allow-list entries, available on Node and on
 * Workers alike.
 */

/** 4 bytes (IPv4) or 16 (IPv6). */
export type AddressBytes = Uint8Array;

const IPV4_CHARS = /^[0-9a-fA-FxX.]+$/;
const IPV6_CHARS = /^[0-9a-fA-F:.]+$/;
const DOTTED_QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** The bytes of an IP address in any spelling the URL standard accepts; undefined for anything else (a name). */
export function parseAddress(text: string): AddressBytes | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (bare.includes(':')) {
    if (!IPV6_CHARS.test(bare)) return undefined;
    let host: string;
    try {
      host = new URL(`http://[${bare}]/`).hostname;
    } catch {
      return undefined;
    }
    return ipv6Bytes(host.slice(1, -1));
  }
  if (!IPV4_CHARS.test(bare)) return undefined;
  let host: string;
  try {
    host = new URL(`http://${bare}/`).hostname;
  } catch {
    return undefined; // e.g. an IPv4 part over 255
  }
  const quad = DOTTED_QUAD.exec(host);
  return quad ? Uint8Array.from(quad.slice(1), Number) : undefined;
}

/** The URL serializer's IPv6 form: lowercase hex groups, at most one `::`, no embedded IPv4. */
function ipv6Bytes(canonical: string): AddressBytes | undefined {
  const [head, tail] = canonical.split('::');
  const groups = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const left = groups(head);
  const right = groups(tail);
  const words = tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  if (words.length !== 8 || words.some((w) => !(w >= 0 && w <= 0xffff))) return undefined;
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

export interface Cidr {
  bytes: AddressBytes;
  bits: number;
}

/** `10.0.0.0/8`, `fc00::/7`, or a bare address (a /32 or /128). */
export function parseCidr(text: string): Cidr | undefined {
  const [address, length, extra] = text.split('/');
  const bytes = extra === undefined ? parseAddress(address) : undefined;
  if (!bytes) return undefined;
  if (length === undefined) return { bytes, bits: bytes.length * 8 };
  if (!/^\d{1,3}$/.test(length) || Number(length) > bytes.length * 8) return undefined;
  return { bytes, bits: Number(length) };
}

export function inCidr(address: AddressBytes, cidr: Cidr): boolean {
  if (address.length !== cidr.bytes.length) return false;
  for (let bit = 0; bit < cidr.bits; bit += 8) {
    const take = Math.min(8, cidr.bits - bit);
    const mask = (0xff << (8 - take)) & 0xff;
    if ((address[bit / 8] & mask) !== (cidr.bytes[bit / 8] & mask)) return false;
  }
  return true;
}

const table = (rows: Array<[string, string]>) =>
  rows.map(([cidr, name]) => {
    const parsed = parseCidr(cidr);
    if (!parsed) throw new Error(`bad range ${cidr}`);
    return { ...parsed, name };
  });

/** IPv4 special-purpose blocks (IANA registry): none is a place to fetch a model from. */
const IPV4_REFUSED = table([
  ['0.0.0.0/8', 'this network'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'shared address space (CGNAT)'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local (cloud metadata)'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'IETF protocol assignments'],
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', '6to4 relay anycast'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['240.0.0.0/4', 'reserved'],
]);

/** Global unicast IPv6 is 2000::/3; the named blocks outside it only explain a refusal. */
const IPV6_GLOBAL = parseCidr('2000::/3')!;
const IPV6_REFUSED = table([
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['::ffff:0:0/96', 'IPv4-mapped'],
  ['::ffff:0:0:0/96', 'IPv4-translated'],
  ['::/96', 'IPv4-compatible'],
  ['64:ff9b::/96', 'NAT64'],
  ['64:ff9b:1::/48', 'local NAT64'],
  ['100::/64', 'discard-only'],
  ['2001::/32', 'Teredo'],
  ['2001:db8::/32', 'documentation'],
  ['2001::/23', 'IETF protocol assignments'],
  ['2002::/16', '6to4'],
  ['3fff::/20', 'documentation'],
  ['fc00::/7', 'unique local'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'site-local'],
  ['ff00::/8', 'multicast'],
]);

/**
 * Why `address` is not a global unicast address (`loopback`, `private`, `IPv4-mapped`, ...), or
 * undefined when it is one. Text that is not an address is refused too: never guess.
 */
export function nonGlobalReason(address: string | AddressBytes): string | undefined {
  const bytes = typeof address === 'string' ? parseAddress(address) : address;
  if (!bytes) return 'not an IP address';
  if (bytes.length === 4) return IPV4_REFUSED.find((r) => inCidr(bytes, r))?.name;
  const named = IPV6_REFUSED.find((r) => inCidr(bytes, r))?.name;
  return named ?? (inCidr(bytes, IPV6_GLOBAL) ? undefined : 'not global unicast');
}
