import createClient from 'openapi-fetch';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { paths } from '../../src/contracts/openapi.gen.ts';
import { testDatabase } from '../jobs/helpers.ts';
import { TEST_BUCKET, freshTenant } from '../storage/helpers.ts';
import { mergeBody, sha256 } from './helpers.ts';
import { freePort, spawnUntil, type Spawned } from './processes.ts';

/** The Node server as `npm start` runs it, driven by a client generated from openapi.yaml. */
describe('end to end: generated client -> Node edge -> PostgreSQL and s3rver', () => {
  const tenant = freshTenant();
  const key = `e2e-key-${tenant}`;
  let server: Spawned;
  let client: ReturnType<typeof createClient<paths>>;
  let db: Awaited<ReturnType<typeof testDatabase>>;

  beforeAll(async () => {
    db = await testDatabase();
    const port = await freePort();
    server = await spawnUntil(
      process.execPath,
      ['--import', 'tsx', 'src/routes/node.ts'],
      { ...process.env, PORT: String(port), BASIN_S3_ENDPOINT: inject('s3Endpoint'), BASIN_BUCKET: TEST_BUCKET, DATABASE_URL: db.url, BASIN_API_KEYS: `${sha256(key)}:${tenant}` },
      /"listening"/,
      60_000,
    );
    client = createClient<paths>({ baseUrl: `http://127.0.0.1:${port}`, headers: { authorization: `Bearer ${key}` } });
  }, 90_000);
  afterAll(async () => {
    await server?.stop();
    await db?.close();
  });

  it('uploads two checkpoints, creates, reads, lists and cancels a merge', async () => {
    const ids: string[] = [];
    for (const text of ['first checkpoint', 'second checkpoint']) {
      const bytes = new TextEncoder().encode(text);
      const { data, response } = await client.POST('/v1/uploads', { body: { size: bytes.length, kind: 'checkpoint' } });
      expect(response.status).toBe(201);
      expect((await fetch(data!.url, { method: 'PUT', body: bytes, headers: data!.headers })).status).toBe(200);
      ids.push(data!.id);
    }
    const created = await client.POST('/v1/merges', {
      body: mergeBody(ids) as paths['/v1/merges']['post']['requestBody']['content']['application/json'],
      params: { header: { 'idempotency-key': 'e2e-1' } },
    });
    expect(created.response.status).toBe(202);
    const job = created.data!;
    expect(job.status).toBe('queued');

    const got = await client.GET('/v1/merges/{id}', { params: { path: { id: job.id } } });
    expect(got.data).toEqual(job);
    const list = await client.GET('/v1/merges', { params: { query: { limit: 10 } } });
    expect(list.data!.items.map((j) => j.id)).toEqual([job.id]);

    const report = await client.GET('/v1/merges/{id}/report', { params: { path: { id: job.id } } });
    expect(report.response.status).toBe(404);
    expect(report.error).toMatchObject({ code: 'result_not_ready' });

    const canceled = await client.DELETE('/v1/merges/{id}', { params: { path: { id: job.id } } });
    expect(canceled.data!.status).toBe('canceled');

    const invalid = await client.POST('/v1/merges', { body: { models: [] } as never });
    expect(invalid.response.status).toBe(422);
    expect(invalid.error).toMatchObject({ code: 'validation_failed' });
  });
});
