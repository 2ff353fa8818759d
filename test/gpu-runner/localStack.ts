import { readFile } from 'node:fs/promises';
import createClient from 'openapi-fetch';
import { expect } from 'vitest';
import type { paths } from '../../src/contracts/openapi.gen.ts';
import type { StorageEnv } from '../../src/storage/env.ts';
import { sha256 } from '../routes/helpers.ts';
import { freePort, spawnUntil } from '../routes/processes.ts';
import { createTestBucket, testStorage, waitFor } from './helpers.ts';

/**
 * The local stack as deployed, for one tenant: s3rver (the test one, a bucket of its own), the runner
 * process and the edge process (Node), with a client generated from openapi.yaml. Extra environment
 * for either process comes in `env`.
 */
export async function startStack(tenant: string, env: { runner?: Record<string, string>; edge?: Record<string, string> } = {}) {
  const storage: StorageEnv = testStorage(await createTestBucket());
  const apiKey = `stack-key-${tenant}`;
  const [runnerPort, edgePort] = [await freePort(), await freePort()];
  const shared = { ...process.env, ...storage, RUNNER_SECRET: 'stack-runner-secret' };
  const runner = await spawnUntil(process.execPath, ['--import', 'tsx', 'src/gpu-runner/main.ts'], {
    ...shared, RUNNER_PORT: String(runnerPort), BASIN_HEARTBEAT_SECONDS: '0.5', ...env.runner,
  }, /"dispatch"/, 60_000);
  const edge = await spawnUntil(process.execPath, ['--import', 'tsx', 'src/routes/node.ts'], {
    ...shared, PORT: String(edgePort), RUNNER_URL: `http://127.0.0.1:${runnerPort}/v1/dispatch`,
    BASIN_API_KEYS: `${sha256(apiKey)}:${tenant}`, ...env.edge,
  }, /"listening"/, 60_000).catch(async (e) => { await runner.stop(); throw e; });
  const base = `http://127.0.0.1:${edgePort}`;
  const client = createClient<paths>({ baseUrl: base, headers: { authorization: `Bearer ${apiKey}` } });
  return {
    storage, apiKey, base, client,
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
    async stop(): Promise<void> {
      await edge.stop();
      await runner.stop();
    },
  };
}
