import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookSender } from '../../src/gpu-runner/webhooks.ts';
import type { JobStore } from '../../src/jobs/store.ts';
import { publicOnly } from '../../src/storage/outbound/policy.ts';
import { testDatabase } from '../jobs/helpers.ts';
import { freshTenant } from '../storage/helpers.ts';
import { createJob, readJob, runnerConfig, waitFor, webhookReceiver, WEBHOOK_SECRET } from './helpers.ts';

const tenant = freshTenant();
let db: Awaited<ReturnType<typeof testDatabase>>;
let jobs: JobStore;
let config: ReturnType<typeof runnerConfig>;

/** A job that has just ended as a runner ends it: the status and its outbox row in one transaction. */
async function finishedJob(url: string, how: 'succeed' | 'fail' = 'succeed') {
  const job = await createJob(jobs, tenant, { models: [], webhook: { url } });
  expect((await jobs.apply(job.id, { type: 'claim', lease: 'w' }))!.transition.ok).toBe(true);
  const end = how === 'succeed' ? { type: 'succeed' as const, lease: 'w' } : { type: 'fail' as const, lease: 'w', error: { code: 'shape_mismatch', message: 'no' } };
  expect((await jobs.apply(job.id, end))!.transition.ok).toBe(true);
  return job;
}

/** Delivers until the job's webhook is delivered or given up (retries come due after their backoff). */
async function drain(sender: WebhookSender, jobId: string) {
  await waitFor('the outbox to settle', async () => {
    await sender.deliverDue();
    const { rows } = await db.db.query("SELECT 1 FROM basin.webhook_outbox WHERE job_id = $1 AND state = 'pending'", [jobId]);
    return rows.length === 0;
  }, 30_000, 20);
}

beforeAll(async () => {
  db = await testDatabase();
  jobs = db.jobs();
  config = runnerConfig({ databaseUrl: db.url }, { secrets: new Map([[tenant, WEBHOOK_SECRET]]), baseDelayMs: 50 });
});
afterAll(() => db?.close());

describe('outbound webhooks from the outbox', () => {
  let receiver: Awaited<ReturnType<typeof webhookReceiver>>;
  beforeAll(async () => {
    receiver = await webhookReceiver([500, 503]); // the first two deliveries fail
  });
  afterAll(() => receiver?.close());

  it('nothing is owed before the job ends; then retries after receiver failures, same webhook-id, every attempt logged', async () => {
    const pending = await createJob(jobs, tenant, { models: [], webhook: { url: receiver.url } });
    expect((await jobs.claimWebhooks(10, 1000)).filter((e) => e.jobId === pending.id)).toEqual([]);
    const sender = new WebhookSender(jobs, config.webhooks);
    const job = await finishedJob(receiver.url);
    await drain(sender, job.id);
    expect(receiver.received.map((r) => r.answered)).toEqual([500, 503, 204]);
    const events = receiver.received.map((r) => receiver.verify(r));
    expect(events.every((e) => e.type === 'merge.succeeded' && e.data.id === job.id && e.data.status === 'succeeded')).toBe(true);
    expect(new Set(receiver.received.map((r) => r.headers['webhook-id'])).size).toBe(1);
    const { deliveries } = await readJob(jobs, tenant, job.id);
    expect(deliveries.map((d) => [d.attempt, d.status])).toEqual([[1, 500], [2, 503], [3, 204]]);
    expect(deliveries[0].nextAttemptAt).not.toBeNull();
    expect(deliveries[0].error).toMatch(/500/);
    expect(deliveries[2]).toMatchObject({ error: null, nextAttemptAt: null });
  });

  it('gives up after maxAttempts and says so in the log', async () => {
    const failing = await webhookReceiver([500, 500, 500, 500]);
    try {
      const sender = new WebhookSender(jobs, { ...config.webhooks, maxAttempts: 2 });
      const job = await finishedJob(failing.url, 'fail');
      await drain(sender, job.id);
      expect(failing.received).toHaveLength(2);
      expect(failing.verify(failing.received[0]).type).toBe('merge.failed');
      const last = (await readJob(jobs, tenant, job.id)).deliveries.at(-1)!;
      expect(last).toMatchObject({ attempt: 2, status: 500, nextAttemptAt: null });
      expect(last.error).toMatch(/gave up after 2 attempts/);
    } finally {
      await failing.close();
    }
  });

  it('refuses a loopback target that is not allow-listed: nothing is sent, the refusal is logged', async () => {
    const refused = await webhookReceiver();
    try {
      const sender = new WebhookSender(jobs, { ...config.webhooks, outbound: publicOnly });
      const job = await finishedJob(refused.url);
      await drain(sender, job.id);
      expect(refused.received).toHaveLength(0);
      const [d] = (await readJob(jobs, tenant, job.id)).deliveries;
      expect(d).toMatchObject({ attempt: 1, status: null, nextAttemptAt: null });
      expect(d.error).toMatch(/^webhook_target_refused: the host is not a public internet address/);
    } finally {
      await refused.close();
    }
  });

  it('logs network failures in its own words (no error text from the network stack, no address)', async () => {
    const sender = new WebhookSender(jobs, { ...config.webhooks, maxAttempts: 1 });
    const job = await finishedJob('http://127.0.0.1:9/hooks'); // nothing listens on port 9
    await drain(sender, job.id);
    const [d] = (await readJob(jobs, tenant, job.id)).deliveries;
    expect(d).toMatchObject({ status: null, error: 'webhook_unreachable: the connection failed; gave up after 1 attempts' });
  });

  it('does not send unsigned: a tenant without a secret gets a logged refusal', async () => {
    const sender = new WebhookSender(jobs, { ...config.webhooks, secrets: new Map() });
    const job = await finishedJob(receiver.url);
    const before = receiver.received.length;
    await drain(sender, job.id);
    expect(receiver.received.length).toBe(before);
    expect((await readJob(jobs, tenant, job.id)).deliveries[0].error).toMatch(/no webhook signing secret/);
  });

  it('a sender that dies mid-send loses nothing: the entry comes due again, same webhook-id', async () => {
    const ok = await webhookReceiver();
    try {
      const job = await finishedJob(ok.url);
      // a sender takes the entry for a short lease and "dies" before sending
      const taken = await jobs.claimWebhooks(10, 200);
      expect(taken.map((e) => e.jobId)).toContain(job.id);
      await new Promise((r) => setTimeout(r, 300));
      await drain(new WebhookSender(jobs, config.webhooks), job.id);
      expect(ok.received).toHaveLength(1);
      expect(ok.received[0].headers['webhook-id']).toBe(`msg_${job.id}_succeeded`);
      expect((await readJob(jobs, tenant, job.id)).deliveries.map((d) => d.attempt)).toEqual([2]);
    } finally {
      await ok.close();
    }
  });

  it('backs off exponentially with jitter, capped', () => {
    const at = (r: number) => new WebhookSender(jobs, { ...config.webhooks, baseDelayMs: 1000, maxDelayMs: 8000 }, { random: () => r });
    expect([1, 2, 3, 4, 5].map((a) => at(0.5).backoff(a))).toEqual([1000, 2000, 4000, 8000, 8000]);
    expect(at(0).backoff(3)).toBe(2000);
    expect(at(0.999).backoff(3)).toBeCloseTo(5996, 0);
  });
});
