import { expect } from 'vitest';
import { createHash } from 'node:crypto';
import { JobStore } from '../../src/jobs/store.ts';
import { createApp } from '../../src/routes/app.ts';
import { defaultLimits, type AppConfig } from '../../src/routes/config.ts';
import { keys } from '../../src/storage/keys.ts';
import { nodeOutbound } from '../../src/storage/outbound/node.ts';
import { publicOnly } from '../../src/storage/outbound/policy.ts';
import { fileDatabase } from '../jobs/helpers.ts';
import { EXTERNAL_BUCKET, freshTenant, testStore } from '../storage/helpers.ts';

export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Two tenants with one key each, on the shared s3rver and the file's own database. */
export function testApp(overrides: Partial<AppConfig> = {}) {
  const tenantA = freshTenant();
  const tenantB = freshTenant();
  const keyA = `key-a-${tenantA}`;
  const keyB = `key-b-${tenantB}`;
  const store = testStore();
  const jobs = new JobStore(fileDatabase());
  const app = createApp({
    store,
    jobs,
    apiKeys: new Map([
      [sha256(keyA), tenantA],
      [sha256(keyB), tenantB],
    ]),
    allowedBuckets: [EXTERNAL_BUCKET],
    limits: { ...defaultLimits, maxBodyBytes: 64 * 1024, maxUploadBytes: 1024 ** 3 },
    // the real guard: these tests' `url` references are refused or fail without leaving the machine
    outbound: nodeOutbound(publicOnly),
    ...overrides,
  });
  const call = (key: string | undefined) => (path: string, init: RequestInit & { json?: unknown } = {}) => {
    const headers = new Headers(init.headers);
    if (key) headers.set('authorization', `Bearer ${key}`);
    let body = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    }
    return app.request(path, { ...init, headers, body });
  };
  /** Puts a small object where an upload id points, as a client's presigned PUT would. */
  const seedUpload = async (tenant: string, id: string) => store.putBytes(keys.upload(tenant, id), new Uint8Array([1, 2, 3, 4]));
  return { app, store, jobs, tenantA, tenantB, asA: call(keyA), asB: call(keyB), anon: call(undefined), seedUpload };
}

export function mergeBody(models: string[] = ['upl_modelaaa1', 'upl_modelbbb2']) {
  return {
    models: models.map((upload) => ({ upload })),
    architecture: { layout: 'pytorch', input: [784], layers: [{ type: 'linear', name: '0' }, { type: 'relu' }, { type: 'linear', name: '2' }] },
    data: { evaluation: { builtin: 'fashion-mnist', split: 'test', limit: 100 } },
    alignment: { method: 'weight', seed: 0 },
  };
}

export async function problemOf(res: Response) {
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as { code: string; status: number; errors?: Array<{ path: string; message: string }> };
  expect(body.status).toBe(res.status);
  return body;
}

