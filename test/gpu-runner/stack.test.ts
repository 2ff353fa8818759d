import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { paths } from '../../src/contracts/openapi.gen.ts';
import { Report } from '../../src/contracts/report.ts';
import { bufferSource, readHeader } from '../../src/pipeline/io/safetensors.ts';
import { freshTenant } from '../storage/helpers.ts';
import { EXAMPLE, exampleRequest, waitFor, webhookReceiver, WEBHOOK_SECRET } from './helpers.ts';
import { startStack } from './localStack.ts';

type Body = paths['/v1/merges']['post']['requestBody']['content']['application/json'];
const HOOK_SECRET = `whsec_${Buffer.from('training pipeline to basin').toString('base64')}`;

/**
 * The local stack as deployed: PostgreSQL, s3rver, the runner process, the edge process (Node), a
 * client generated from openapi.yaml, and a webhook receiver. Nothing in-process, nothing faked.
 */
describe('end to end: client -> edge -> runner -> S3 -> webhook', () => {
  const tenant = freshTenant();
  let stack: Awaited<ReturnType<typeof startStack>>;
  let receiver: Awaited<ReturnType<typeof webhookReceiver>>;
  let client: typeof stack.client;
  let base: string;
  let apiKey: string;

  beforeAll(async () => {
    receiver = await webhookReceiver();
    stack = await startStack(tenant, { edge: { BASIN_HOOK_SECRET: HOOK_SECRET } });
    ({ client, base, apiKey } = stack);
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    await receiver?.close();
  });

  const upload = (path: string) => stack.upload(path);
  const untilDone = (id: string) => stack.untilDone(id);

  it('uploads two checkpoints, merges through POST /merge, gets a verified webhook, downloads weights and report', async () => {
    const models = [{ upload: await upload(`${EXAMPLE}/seed1.safetensors`) }, { upload: await upload(`${EXAMPLE}/seed2.safetensors`) }];
    const created = await client.POST('/merge', { body: exampleRequest(models, { webhook: { url: receiver.url } }) as Body });
    expect(created.response.status).toBe(202);
    const job = created.data!;
    expect(job.status).toBe('queued');

    await waitFor('the webhook', async () => receiver.received.length > 0, 180_000);
    const event = new Webhook(WEBHOOK_SECRET).verify(receiver.received[0].body, receiver.received[0].headers as Record<string, string>) as { type: string; data: { id: string; status: string } };
    expect(event.type).toBe('merge.succeeded');
    expect(event.data).toMatchObject({ id: job.id, status: 'succeeded' });
    expect(() => new Webhook(`whsec_${Buffer.from('someone else').toString('base64')}`).verify(receiver.received[0].body, receiver.received[0].headers as Record<string, string>)).toThrow();

    const done = await untilDone(job.id);
    expect(done).toMatchObject({ status: 'succeeded', progress: 1, error: null, attempts: 1 });
    expect(done.result.weights).toBe(`/v1/merges/${job.id}/weights`);
    await waitFor('the delivery log', async () => {
      const { data } = await client.GET('/v1/merges/{id}', { params: { path: { id: job.id } } });
      return data!.deliveries.some((d) => d.status === 204);
    });

    const redirect = await fetch(`${base}${done.result.weights}`, { headers: { authorization: `Bearer ${apiKey}` }, redirect: 'manual' });
    expect(redirect.status).toBe(302);
    const weights = new Uint8Array(await (await fetch(redirect.headers.get('location')!)).arrayBuffer());
    const header = await readHeader(bufferSource(weights));
    expect(header.entries.size).toBe(14);
    expect(header.metadata).toMatchObject({ producer: 'basin', variant: 'repaired', alpha: '0.5' });

    const report = Report.parse((await client.GET('/v1/merges/{id}/report', { params: { path: { id: job.id } } })).data);
    expect(report.models).toBe(2);
    expect(report.reduction.alignment!).toBeGreaterThan(0.5); // weight matching removes most of this pair's barrier
    const svg = await fetch(`${base}/v1/merges/${job.id}/report.svg`, { headers: { authorization: `Bearer ${apiKey}` } });
    expect(svg.headers.get('content-type')).toBe('image/svg+xml');
  });

  it('two signed training-run events complete a group, and its merge runs by itself; redelivery is a no-op; bad signatures 401', async () => {
    const { models: _m, webhook: _w, ...template } = exampleRequest([]);
    const send = async (run: string, checkpoint: { upload: string }, secret = HOOK_SECRET) => {
      const body = JSON.stringify({ type: 'training_run.finished', run, checkpoint, group: { id: `nightly-${tenant}`, size: 2, merge: template } });
      const id = `msg_${run}`;
      const headers = { 'content-type': 'application/json', authorization: `Bearer ${apiKey}`, 'webhook-id': id, 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': new Webhook(secret).sign(id, new Date(), body) };
      return fetch(`${base}/v1/hooks/training-run`, { method: 'POST', body, headers });
    };
    const a = { upload: await upload(`${EXAMPLE}/seed1.safetensors`) };
    const b = { upload: await upload(`${EXAMPLE}/seed2.safetensors`) };
    expect((await send('run-b', b, `whsec_${Buffer.from('forged').toString('base64')}`)).status).toBe(401);
    const first = (await (await send('run-b', b)).json()) as { members: number; job: null };
    expect(first).toMatchObject({ members: 1, job: null });
    const second = (await (await send('run-a', a)).json()) as { job: { id: string } };
    expect(second.job.id).toMatch(/^job_/);
    const again = (await (await send('run-a', a)).json()) as { job: { id: string } };
    expect(again.job.id).toBe(second.job.id);
    const done = await untilDone(second.job.id);
    expect(done.status).toBe('succeeded');
    expect(done.attempts).toBe(1);
  });

  /**
   * A second generator, run on the committed openapi.yaml now (so a spec it cannot read fails here):
   * its types refuse what the server refuses, and its SDK runs a whole merge with only a base URL
   * and the key set.
   */
  it('@hey-api/openapi-ts: generated types refuse misplaced options; its SDK merges and fetches the weights link', async () => {
    const out = await mkdtemp(join(tmpdir(), 'basin-hey-api-'));
    try {
      const gen = spawnSync(process.execPath, ['node_modules/@hey-api/openapi-ts/bin/run.js', '-i', 'openapi.yaml', '-o', out, '-c', '@hey-api/client-fetch', '--no-log-file', '--silent'], { encoding: 'utf8', timeout: 120_000 });
      expect(gen.status, gen.stderr + gen.stdout).toBe(0);
      // What the server refuses with 422 must not compile; what it takes must.
      await writeFile(join(out, 'check.ts'), [
        "import type { MergeRequest } from './types.gen.js';",
        "type Alignment = MergeRequest['alignment'];",
        "export const ok: Alignment[] = [{ method: 'weight', seed: 1 }, { method: 'ste', maxSteps: 5 }, { method: 'sinkhorn', loss: 'midpoint', temperature: 0.5 }];",
        "// @ts-expect-error maxSteps is an option of ste and sinkhorn only",
        "export const misplaced: Alignment = { method: 'weight', maxSteps: 5 };",
        "// @ts-expect-error temperature is sinkhorn's",
        "export const steTemperature: Alignment = { method: 'ste', temperature: 2 };",
        "// @ts-expect-error no such method",
        "export const unknown: Alignment = { method: 'magic' };",
        "// @ts-expect-error the method is required to tell the variants apart",
        "export const bare: Alignment = { seed: 1 };",
      ].join('\n'));
      const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--lib', 'es2023,dom', join(out, 'check.ts')], { encoding: 'utf8', timeout: 120_000 });
      expect(tsc.status, tsc.stdout).toBe(0);

      const sdk = await import(join(out, 'sdk.gen.ts'));
      const { client: heyClient } = await import(join(out, 'client.gen.ts'));
      heyClient.setConfig({ baseUrl: base, auth: () => apiKey });
      const models = [];
      for (const seed of [1, 2]) {
        const bytes = await readFile(`${EXAMPLE}/seed${seed}.safetensors`);
        const { data, response } = await sdk.createUpload({ body: { size: bytes.length, kind: 'checkpoint' } });
        expect(response.status).toBe(201);
        expect((await fetch(data.url, { method: 'PUT', body: bytes, headers: data.headers })).status).toBe(200);
        models.push({ upload: data.id });
      }
      const created = await sdk.createMerge({ body: exampleRequest(models), headers: { 'idempotency-key': `hey-${tenant}` } });
      expect(created.response.status).toBe(202);
      const done = await waitFor('the hey-api merge', async () => {
        const { data } = await sdk.getMerge({ path: { id: created.data.id } });
        return ['succeeded', 'failed', 'canceled'].includes(data.status) && data;
      }, 180_000, 250);
      expect(done.status).toBe('succeeded');
      const report = await sdk.getReport({ path: { id: done.id } });
      expect(Report.parse(report.data).variants.repaired).toBeDefined();
      const refused = await sdk.createMerge({ body: { ...exampleRequest(models), alignment: { method: 'weight', maxSteps: 3 } } });
      expect(refused.response.status).toBe(422);
      expect(refused.error.errors[0].message).toMatch(/alignment.maxSteps does not apply to alignment.method "weight"/);
      // JSON instead of a redirect when asked: the typed link, fetched without the key
      const link = await sdk.getWeights({ path: { id: done.id }, headers: { accept: 'application/json' } });
      expect(link.response.status).toBe(200);
      expect(Date.parse(link.data.expiresAt)).toBeGreaterThan(Date.now());
      const header = await readHeader(bufferSource(new Uint8Array(await (await fetch(link.data.url)).arrayBuffer())));
      expect(header.metadata).toMatchObject({ producer: 'basin' });
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it('openapi-fetch: the weights link is typed JSON when asked for', async () => {
    const { data: list } = await client.GET('/v1/merges', { params: { query: { limit: 100 } } });
    const done = list!.items.find((j) => j.status === 'succeeded')!;
    const { data, response } = await client.GET('/v1/merges/{id}/weights', { params: { path: { id: done.id } }, headers: { accept: 'application/json' } });
    expect(response.status).toBe(200);
    expect(data!.url).toMatch(/^http/);
  });
});
