import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobLinks } from '../../src/contracts/job.ts';
import { WebhookSender } from '../../src/gpu-runner/webhooks.ts';
import { keys } from '../../src/storage/keys.ts';
import { publicOnly } from '../../src/storage/outbound/policy.ts';
import { freshTenant } from '../storage/helpers.ts';
import { createJob, readJob, runnerConfig, waitFor, webhookReceiver, WEBHOOK_SECRET } from './helpers.ts';

const tenant = freshTenant();
const config = runnerConfig({}, { secrets: new Map([[tenant, WEBHOOK_SECRET]]), baseDelayMs: 50 });
const store = config.store;

/** A job that has just succeeded, as the runner leaves it before its webhook goes out. */
async function finishedJob() {
  const job = await createJob(store, tenant, { models: [] });
  await store.putJson(keys.jobFile(tenant, job.id, 'status.json'), { ...job, status: 'succeeded', progress: 1, result: jobLinks(job.id, 'succeeded') });
  return job;
}

describe('outbound webhooks', () => {
  let receiver: Awaited<ReturnType<typeof webhookReceiver>>;
  beforeAll(async () => {
    receiver = await webhookReceiver([500, 503]); // the first two deliveries fail
  });
  afterAll(() => receiver?.close());

  it('retries after receiver failures with growing delays, same webhook-id, every attempt logged', async () => {
    const sender = new WebhookSender(store, config.webhooks);
    const job = await finishedJob();
    await sender.record(tenant, job.id, 'merge.succeeded', receiver.url);
    await sender.start(job.id);
    await sender.settled();
    expect(receiver.received.map((r) => r.answered)).toEqual([500, 503, 204]);
    const events = receiver.received.map((r) => receiver.verify(r));
    expect(events.every((e) => e.type === 'merge.succeeded' && e.data.id === job.id)).toBe(true);
    expect(new Set(receiver.received.map((r) => r.headers['webhook-id'])).size).toBe(1);
    const { deliveries } = await readJob(store, tenant, job.id);
    expect(deliveries.map((d) => [d.attempt, d.status])).toEqual([[1, 500], [2, 503], [3, 204]]);
    expect(deliveries[0].nextAttemptAt).not.toBeNull();
    expect(deliveries[0].error).toMatch(/500/);
    expect(deliveries[2]).toMatchObject({ error: null, nextAttemptAt: null });
    expect(await store.head(keys.pendingWebhook(job.id))).toBeUndefined();
  });

  it('gives up after maxAttempts and says so in the log', async () => {
    const failing = await webhookReceiver([500, 500, 500, 500]);
    try {
      const sender = new WebhookSender(store, { ...config.webhooks, maxAttempts: 2 });
      const job = await finishedJob();
      await sender.record(tenant, job.id, 'merge.failed', failing.url);
      await sender.start(job.id);
      await sender.settled();
      expect(failing.received).toHaveLength(2);
      const last = (await readJob(store, tenant, job.id)).deliveries.at(-1)!;
      expect(last).toMatchObject({ attempt: 2, status: 500, nextAttemptAt: null });
      expect(last.error).toMatch(/gave up after 2 attempts/);
    } finally {
      await failing.close();
    }
  });

  it('refuses a loopback target that is not allow-listed: nothing is sent, the refusal is logged', async () => {
    const refused = await webhookReceiver();
    try {
      const sender = new WebhookSender(store, { ...config.webhooks, outbound: publicOnly });
      const job = await finishedJob();
      await sender.record(tenant, job.id, 'merge.succeeded', refused.url);
      await sender.start(job.id);
      await sender.settled();
      expect(refused.received).toHaveLength(0);
      const [d] = (await readJob(store, tenant, job.id)).deliveries;
      expect(d).toMatchObject({ attempt: 1, status: null, nextAttemptAt: null });
      expect(d.error).toMatch(/^webhook_target_refused: the host is not a public internet address/);
    } finally {
      await refused.close();
    }
  });

  it('logs network failures in its own words (no error text from the network stack, no address)', async () => {
    const sender = new WebhookSender(store, { ...config.webhooks, maxAttempts: 1 });
    const job = await finishedJob();
    await sender.record(tenant, job.id, 'merge.succeeded', 'http://127.0.0.1:9/hooks'); // nothing listens on port 9
    await sender.start(job.id);
    await sender.settled();
    const [d] = (await readJob(store, tenant, job.id)).deliveries;
    expect(d).toMatchObject({ status: null, error: 'webhook_unreachable: the connection failed; gave up after 1 attempts' });
  });

  it('does not send unsigned: a tenant without a secret gets a logged refusal', async () => {
    const sender = new WebhookSender(store, { ...config.webhooks, secrets: new Map() });
    const job = await finishedJob();
    const before = receiver.received.length;
    await sender.record(tenant, job.id, 'merge.succeeded', receiver.url);
    await sender.start(job.id);
    await sender.settled();
    expect(receiver.received.length).toBe(before);
    expect((await readJob(store, tenant, job.id)).deliveries[0].error).toMatch(/no webhook signing secret/);
  });

  it('an owed webhook survives the sender (a runner crash): the next one resumes it', async () => {
    const ok = await webhookReceiver();
    try {
      const job = await finishedJob();
      await new WebhookSender(store, config.webhooks).record(tenant, job.id, 'merge.succeeded', ok.url); // and then "crashes"
      const next = new WebhookSender(store, config.webhooks);
      expect(await next.resume()).toBeGreaterThanOrEqual(1);
      await waitFor('resumed delivery', async () => ok.received.length > 0);
      await next.settled();
      expect(ok.verify(ok.received[0]).data.id).toBe(job.id);
    } finally {
      await ok.close();
    }
  });

  it('backs off exponentially with jitter, capped', () => {
    const at = (r: number) => new WebhookSender(store, { ...config.webhooks, baseDelayMs: 1000, maxDelayMs: 8000 }, { random: () => r });
    expect([1, 2, 3, 4, 5].map((a) => at(0.5).backoff(a))).toEqual([1000, 2000, 4000, 8000, 8000]);
    expect(at(0).backoff(3)).toBe(2000);
    expect(at(0.999).backoff(3)).toBeCloseTo(5996, 0);
  });
});
