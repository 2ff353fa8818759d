import { inCidr, parseCidr, type AddressBytes, type Cidr } from './addresses.ts';

/**
 * The operator's exceptions to "public internet only" (an internal model store, a webhook receiver
 * on the VPC): host names (`models.corp`, or `*.corp` for every name under it), addresses and CIDR
 * ranges. A named host may resolve anywhere and be reached over plain http; an address in a listed
 * range may be reached whatever name led to it.
 */
export class AllowList {
  private constructor(
    private readonly names: ReadonlySet<string>,
    private readonly suffixes: readonly string[],
    private readonly ranges: readonly Cidr[],
  ) {}

  static readonly none = new AllowList(new Set(), [], []);

  /** Comma-separated entries; a malformed one is a configuration error, reported with `setting`. */
  static parse(spec: string, setting = 'BASIN_OUTBOUND_ALLOW'): AllowList {
    const names = new Set<string>();
    const suffixes: string[] = [];
    const ranges: Cidr[] = [];
    for (const raw of spec.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)) {
      const range = parseCidr(raw);
      const name = hostName(raw.startsWith('*.') ? raw.slice(2) : raw);
      if (range) ranges.push(range);
      else if (name && raw.startsWith('*.')) suffixes.push(`.${name}`);
      else if (name) names.add(name);
      else throw new Error(`${setting}: "${raw}" is not a host name, an IP address or a CIDR range`);
    }
    return new AllowList(names, suffixes, ranges);
  }

  /** Is this host name (not an address) listed, by name or under a `*.` entry? */
  hasName(host: string): boolean {
    const name = hostName(host);
    return name !== undefined && (this.names.has(name) || this.suffixes.some((s) => name.endsWith(s)));
  }

  hasAddress(address: AddressBytes): boolean {
    return this.ranges.some((r) => inCidr(address, r));
  }
}

/** Lowercase, without a trailing dot; undefined for anything that is not a DNS name. */
function hostName(text: string): string | undefined {
  const name = text.toLowerCase().replace(/\.$/, '');
  return /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/.test(name) ? name : undefined;
}
