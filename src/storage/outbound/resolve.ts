import { lookup, Resolver } from 'node:dns/promises';
import { unreachable } from './errors.ts';

/** A host name's addresses, every one of them (the caller checks them all). */
export type Resolve = (host: string) => Promise<string[]>;

const DOES_NOT_RESOLVE = 'the host name does not resolve';

/**
 * The system resolver (getaddrinfo: /etc/hosts, then DNS), or, with `servers`, those DNS servers
 * asked directly for A and AAAA records (operators who want outbound names resolved by a resolver
 * of their choosing; tests that run their own).
 */
export function dnsResolver(servers: readonly string[]): Resolve {
  if (servers.length === 0) {
    return async (host) => {
      try {
        return (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
      } catch (err) {
        throw unreachable(DOES_NOT_RESOLVE, err);
      }
    };
  }
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  try {
    resolver.setServers([...servers]);
  } catch (err) {
    throw new Error(`BASIN_DNS_SERVERS: ${(err as Error).message}`);
  }
  return async (host) => {
    const answers = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
    const addresses = answers.flatMap((a) => (a.status === 'fulfilled' ? a.value : []));
    if (addresses.length === 0) throw unreachable(DOES_NOT_RESOLVE, answers.map((a) => (a.status === 'rejected' ? a.reason : undefined)));
    return addresses;
  };
}
