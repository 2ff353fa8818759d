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
 * The local stack as deployed: s3rver, the runner process, the edge process (Node), a client
 * generated from openapi.yaml, and a webhook receiver. Nothing in-process, nothing faked.
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
    stack = await startStack(tenant, {
      runner: { BASIN_WEBHOOK_SECRETS: `${tenant}:${WEBHOOK_SECRET}`, BASIN_WEBHOOK_ALLOW: '127.0.0.1' },
      edge: { BASIN_HOOK_SECRET: HOOK_SECRET },
    });
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
});
