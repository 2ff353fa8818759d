import { describe, expect, it } from 'vitest';
import { parseApiKeys } from '../../src/routes/config.ts';
import { perCallDatabase } from '../../src/jobs/db.ts';
import { configFromEnv as withDb, DEV_API_KEY, DEV_API_KEYS, type BasinEnv } from '../../src/routes/env.ts';
import { sha256 } from './helpers.ts';

// nothing here connects: the database is only named
const configFromEnv = (env: BasinEnv) => withDb(env, perCallDatabase('postgres://127.0.0.1:9/none'));

describe('configuration from the environment', () => {
  it('parses BASIN_API_KEYS as sha256hex:tenant pairs and refuses anything else', () => {
    const h = sha256('k1');
    expect(parseApiKeys(` ${h.toUpperCase()}:acme , ${sha256('k2')}:beta`)).toEqual(new Map([[h, 'acme'], [sha256('k2'), 'beta']]));
    expect(() => parseApiKeys('plainkey:acme')).toThrow(/sha256hex:tenant/);
    expect(() => parseApiKeys(`${h}:bad/tenant`)).toThrow();
  });

  it('falls back to the documented dev key only when no keys are configured', () => {
    expect(DEV_API_KEYS.split(':')[0]).toBe(sha256(DEV_API_KEY));
    expect([...configFromEnv({}).apiKeys.values()]).toEqual(['dev']);
    expect([...configFromEnv({ BASIN_API_KEYS: `${sha256('x')}:acme` }).apiKeys.values()]).toEqual(['acme']);
  });

  it('presigns with the public endpoint when one is set', async () => {
    const cfg = configFromEnv({ BASIN_S3_ENDPOINT: 'http://s3.internal:9000', BASIN_S3_PUBLIC_ENDPOINT: 'https://files.example.com', BASIN_BUCKET: 'b' });
    const url = new URL(await cfg.store.presignGet('t/x/uploads/upl_abcdef', { expiresIn: 60 }));
    expect(url.origin).toBe('https://files.example.com');
    expect(url.pathname).toBe('/b/t/x/uploads/upl_abcdef');
    expect(cfg.limits.maxBodyBytes).toBeGreaterThan(0);
  });
});
