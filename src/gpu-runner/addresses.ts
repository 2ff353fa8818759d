import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/**
 * Webhook targets must be public: a tenant must not be able to make the runner POST into its own
 * network (cloud metadata at 169.254.169.254, services on loopback, the VPC). Private, loopback,
 * link-local, CGNAT, multicast and reserved ranges are refused unless the allow-list names the host
 * or a range holding its address.
 */
const blocked = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96]] as const) blocked.addSubnet(net, bits, 'ipv6');

export function isPrivateAddress(ip: string): boolean {
  // IPv4-mapped IPv6 (::ffff:10.0.0.1) reaches the IPv4 host: judge it as that
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return isPrivateAddress(mapped[1]);
  const family = isIP(ip);
  if (!family) return true; // not an address: refuse rather than guess
  return blocked.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

export class TargetRefused extends Error {
  readonly code = 'webhook_target_refused';
}

type Lookup = (host: string) => Promise<{ address: string }[]>;
const systemLookup: Lookup = (host) => dnsLookup(host, { all: true, verbatim: true });

/** An allow-list entry matches a host name exactly, an address exactly, or a CIDR range. */
function allowed(allow: readonly string[], host: string, address?: string): boolean {
  for (const entry of allow) {
    if (entry.toLowerCase() === host.toLowerCase() || (address && entry === address)) return true;
    const cidr = /^(.+)\/(\d{1,3})$/.exec(entry);
    if (cidr && address) {
      const family = isIP(cidr[1]);
      if (!family || isIP(address) !== family) continue;
      const list = new BlockList();
      list.addSubnet(cidr[1], Number(cidr[2]), family === 4 ? 'ipv4' : 'ipv6');
      if (list.check(address, family === 4 ? 'ipv4' : 'ipv6')) return true;
    }
  }
  return false;
}

/**
 * Throws TargetRefused when `url` resolves to any non-public address the allow-list does not name
 * (every address counts: a name with one public and one private record is refused).
 */
export async function checkWebhookTarget(url: string, allow: readonly string[], lookup: Lookup = systemLookup): Promise<void> {
  const u = new URL(url);
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new TargetRefused(`webhook URL must be http(s), got ${u.protocol}`);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (allowed(allow, host)) return;
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await lookup(host)).map((a) => a.address);
    } catch (err) {
      throw new Error(`cannot resolve ${host}: ${(err as Error).message}`);
    }
  }
  for (const address of addresses) {
    if (isPrivateAddress(address) && !allowed(allow, host, address)) {
      throw new TargetRefused(`${host} resolves to ${address}, a private, loopback or link-local address (not on BASIN_WEBHOOK_ALLOW)`);
    }
  }
}
