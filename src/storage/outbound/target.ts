import { nonGlobalReason, parseAddress, type AddressBytes } from './addresses.ts';
import type { AllowList } from './allowList.ts';
import { refused } from './errors.ts';

export const NOT_PUBLIC = 'the host is not a public internet address (BASIN_OUTBOUND_ALLOW can admit an internal one)';
const PLAIN_HTTP = 'plain http is allowed only for hosts on BASIN_OUTBOUND_ALLOW; use https';

/** A URL that passed the checks that need no DNS. */
export interface Target {
  url: URL;
  /** the hostname without IPv6 brackets: what is resolved, and what SNI and Host carry */
  host: string;
  /** the address, when the URL names one instead of a host */
  literal?: AddressBytes;
  /** listed on the allow-list by name: the operator vouches for wherever it resolves */
  named: boolean;
}

/**
 * The checks before any DNS: http(s) only, no credentials, and a host written as an address (in any
 * spelling: the URL parser has already normalised it) must be global unicast or allow-listed, as must
 * `localhost` names, which resolve to loopback by definition (RFC 6761).
 */
export function checkUrl(raw: string | URL, allow: AllowList): Target {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refused('not a valid URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refused('only https URLs are fetched');
  if (url.username || url.password) throw refused('URLs with credentials are not fetched');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const literal = url.hostname.startsWith('[') || /^[\d.]+$/.test(host) ? parseAddress(host) : undefined;
  const target: Target = { url, host, literal, named: !literal && allow.hasName(host) };
  if (literal) checkAddresses(target, [literal], allow);
  else if (!target.named && /^(.+\.)?localhost\.?$|^$/.test(host)) throw refused(NOT_PUBLIC);
  return target;
}

/**
 * Every address the host resolved to must be global unicast or in an allow-listed range (one bad
 * record refuses the name), and plain http needs the host named, or all its addresses listed.
 */
export function checkAddresses(target: Target, addresses: readonly AddressBytes[], allow: AllowList): void {
  if (target.named) return;
  if (addresses.some((a) => nonGlobalReason(a) !== undefined && !allow.hasAddress(a))) throw refused(NOT_PUBLIC);
  if (target.url.protocol === 'http:' && !addresses.every((a) => allow.hasAddress(a))) throw refused(PLAIN_HTTP);
}

/** Where no DNS answer can be checked (Workers): plain http only to hosts named on the allow-list. */
export function checkUnresolved(target: Target): void {
  if (!target.literal && !target.named && target.url.protocol === 'http:') throw refused(PLAIN_HTTP);
}
