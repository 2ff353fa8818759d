import { describe, expect, it } from 'vitest';
import { parseApiKeys } from '../../src/routes/config.ts';
import { perCallDatabase } from '../../src/jobs/db.ts';
import { configFromEnv as withDb, DEV_API_KEY, DEV_API_KEYS, type BasinEnv } from '../../src/routes/env.ts';
import type { Outbound } from '../../src/storage/outbound/client.ts';
import { nodeOutbound } from '../../src/storage/outbound/node.ts';
import type { OutboundPolicy } from '../../src/storage/outbound/policy.ts';
import { sha256 } from './helpers.ts';

// nothing here connects: the database is only named
const configFromEnv = (env: BasinEnv, outboundFor: (policy: OutboundPolicy) => Outbound) => withDb(env, perCallDatabase('postgres://127.0.0.1:9/none'), outboundFor);

describe('configuration from the environment', () => {
  it('parses BASIN_API_KEYS as sha256hex:tenant pairs and refuses anything else', () => {
    const h = sha256('k1');
    expect(parseApiKeys(` ${h.toUpperCase()}:acme , ${sha256('k2')}:beta`)).toEqual(new Map([[h, 'acme'], [sha256('k2'), 'beta']]));
    expect(() => parseApiKeys('plainkey:acme')).toThrow(/sha256hex:tenant/);
    expect(() => parseApiKeys(`${h}:bad/tenant`)).toThrow();
  });

  it('falls back to the documented dev key only when no keys are configured', () => {
    expect(DEV_API_KEYS.split(':')[0]).toBe(sha256(DEV_API_KEY));
    expect([...configFromEnv({}, nodeOutbound).apiKeys.values()]).toEqual(['dev']);
    expect([...configFromEnv({ BASIN_API_KEYS: `${sha256('x')}:acme` }, nodeOutbound).apiKeys.values()]).toEqual(['acme']);
  });

  it('presigns with the public endpoint when one is set', async () => {
    const cfg = configFromEnv({ BASIN_S3_ENDPOINT: 'http://s3.internal:9000', BASIN_S3_PUBLIC_ENDPOINT: 'https://files.example.com', BASIN_BUCKET: 'b' }, nodeOutbound);
    const url = new URL(await cfg.store.presignGet('t/x/uploads/upl_abcdef', { expiresIn: 60 }));
    expect(url.origin).toBe('https://files.example.com');
    expect(url.pathname).toBe('/b/t/x/uploads/upl_abcdef');
    expect(cfg.limits.maxBodyBytes).toBeGreaterThan(0);
  });

  it('hands the outbound guard one allow-list from BASIN_OUTBOUND_ALLOW and its older name, and the DNS servers', () => {
    let seen: OutboundPolicy | undefined;
    configFromEnv({ BASIN_OUTBOUND_ALLOW: 'models.corp', BASIN_WEBHOOK_ALLOW: '10.0.0.0/8', BASIN_DNS_SERVERS: '127.0.0.1:5353, 10.0.0.2' }, (policy) => {
      seen = policy;
      return nodeOutbound(policy);
    });
    expect(seen!.allow.hasName('models.corp')).toBe(true);
    expect(seen!.allow.hasAddress(Uint8Array.from([10, 1, 2, 3]))).toBe(true);
    expect(seen!.dnsServers).toEqual(['127.0.0.1:5353', '10.0.0.2']);
    expect(() => configFromEnv({ BASIN_OUTBOUND_ALLOW: 'not a host' }, nodeOutbound)).toThrow(/BASIN_OUTBOUND_ALLOW/);
    expect(() => configFromEnv({ BASIN_DNS_SERVERS: 'nonsense:::1:2' }, nodeOutbound)).toThrow(/BASIN_DNS_SERVERS/);
  });
});
