import { readFile } from 'node:fs/promises';
import createClient from 'openapi-fetch';
import { expect } from 'vitest';
import type { paths } from '../../src/contracts/openapi.gen.ts';
import { startProcessStack, waitFor } from './helpers.ts';

/**
 * The local stack as deployed, for one tenant (startProcessStack: s3rver's test bucket, the runner
 * and edge processes), with a client generated from openapi.yaml and the calls every stack test
 * makes. Extra environment for either process comes in `env`.
 */
export async function startStack(tenant: string, env: { runner?: NodeJS.ProcessEnv; edge?: NodeJS.ProcessEnv } = {}) {
  const apiKey = `stack-key-${tenant}`;
  const stack = await startProcessStack(tenant, apiKey, env);
  const client = createClient<paths>({ baseUrl: stack.base, headers: { authorization: `Bearer ${apiKey}` } });
  return {
    ...stack, apiKey, client,
    /** Uploads a file (a path, or its bytes) through a presigned PUT, as a client does; the upload id. */
    async upload(file: string | Uint8Array): Promise<string> {
      const bytes = typeof file === 'string' ? await readFile(file) : file;
      const { data, response } = await client.POST('/v1/uploads', { body: { size: bytes.length, kind: 'checkpoint' } });
      expect(response.status).toBe(201);
      expect((await fetch(data!.url, { method: 'PUT', body: bytes, headers: data!.headers })).status).toBe(200);
      return data!.id;
    },
    untilDone: (id: string) => waitFor(`merge ${id}`, async () => {
      const { data } = await client.GET('/v1/merges/{id}', { params: { path: { id } } });
      return data && ['succeeded', 'failed', 'canceled'].includes(data.status) && data;
    }, 180_000, 250),
  };
}
