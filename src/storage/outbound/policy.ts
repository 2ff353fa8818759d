import { AllowList } from './allowList.ts';

/** The settings every process that fetches caller-supplied URLs reads (edge, runner, job process). */
export interface OutboundEnv {
  /** hosts, addresses or CIDR ranges outbound requests may reach although not public */
  BASIN_OUTBOUND_ALLOW?: string;
  /** the older name of BASIN_OUTBOUND_ALLOW, from when only webhooks were checked: still honoured */
  BASIN_WEBHOOK_ALLOW?: string;
  /** DNS servers (`host[:port]`, comma-separated) for outbound names; default the system resolver */
  BASIN_DNS_SERVERS?: string;
}

export interface OutboundPolicy {
  allow: AllowList;
  /** empty: the system resolver (getaddrinfo) */
  dnsServers: readonly string[];
}

/** The strictest policy: public internet only, over https, names resolved by the system. */
export const publicOnly: OutboundPolicy = { allow: AllowList.none, dnsServers: [] };

export function outboundPolicyFromEnv(env: OutboundEnv): OutboundPolicy {
  const allow = [env.BASIN_OUTBOUND_ALLOW, env.BASIN_WEBHOOK_ALLOW].filter(Boolean).join(',');
  return {
    allow: AllowList.parse(allow),
    dnsServers: (env.BASIN_DNS_SERVERS ?? '').split(',').map((s) => s.trim()).filter(Boolean),
  };
}
