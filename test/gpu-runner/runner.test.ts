import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DispatchHeaders } from '../../src/contracts/job.ts';
import { Report } from '../../src/contracts/report.ts';
import { createRunner, type Runner } from '../../src/gpu-runner/runner.ts';
import { readHeader, bufferSource } from '../../src/pipeline/io/safetensors.ts';
import { JobStore } from '../../src/routes/jobs.ts';
import { keys } from '../../src/storage/keys.ts';
import { freshTenant } from '../storage/helpers.ts';
import { createJob, createTestBucket, EXAMPLE, exampleRequest, readJob, runnerConfig, seedExamplePair, untilStatus, waitFor, webhookReceiver, WEBHOOK_SECRET } from './helpers.ts';

/** The runner in this process (its jobs in real child processes) against the test s3rver. */
describe('runner: job lifecycle', () => {
  const tenant = freshTenant();
  let runner: Runner;
  let receiver: Awaited<ReturnType<typeof webhookReceiver>>;
  let models: { upload: string }[];
  let config: ReturnType<typeof runnerConfig>;
  let store: ReturnType<typeof runnerConfig>['store'];

  beforeAll(async () => {
    // its own bucket: start() scans for open jobs, which must be this file's only
    config = runnerConfig({ bucket: await createTestBucket() }, { secrets: new Map([[tenant, WEBHOOK_SECRET]]) });
    store = config.store;
    receiver = await webhookReceiver();
    runner = createRunner(config);
    models = await seedExamplePair(store, tenant, 'life');
  });
  afterAll(async () => {
    await runner?.stop();
    await receiver?.close();
  });

  const sign = (body: string, ts = Math.floor(Date.now() / 1000), secret = 'test-runner-secret') => ({
    'content-type': 'application/json',
    [DispatchHeaders.timestamp]: String(ts),
    [DispatchHeaders.signature]: `sha256=${createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex')}`,
  });
  const dispatch = (jobId: string, headers?: Record<string, string>) => {
    const body = JSON.stringify({ jobId, tenant });
    return runner.app.request('/v1/dispatch', { method: 'POST', body, headers: headers ?? sign(body) });
  };

  it('refuses unsigned, wrongly signed and stale dispatches (401) and bad bodies (400)', async () => {
    const body = JSON.stringify({ jobId: 'job_0000000000aaaaaaaaaa', tenant });
    expect((await runner.app.request('/v1/dispatch', { method: 'POST', body })).status).toBe(401);
    expect((await dispatch('job_0000000000aaaaaaaaaa', sign(body, undefined, 'other-secret'))).status).toBe(401);
    expect((await dispatch('job_0000000000aaaaaaaaaa', sign(body, Math.floor(Date.now() / 1000) - 3600))).status).toBe(401);
    const junk = '{"jobId": 5}';
    expect((await runner.app.request('/v1/dispatch', { method: 'POST', body: junk, headers: sign(junk) })).status).toBe(400);
    expect(runner.queue.queued + runner.queue.running).toBe(0);
  });

  it('runs a dispatched merge: status with stage, progress and heartbeat; results; a signed merge.succeeded webhook', async () => {
    const job = await createJob(store, tenant, exampleRequest(models, { webhook: { url: receiver.url } }));
    expect(await store.head(keys.openJob(job.id))).toBeDefined();
    const res = await dispatch(job.id);
    expect(res.status).toBe(202);
    expect(((await (await dispatch(job.id)).json()) as { duplicate: boolean }).duplicate).toBe(true);

    const seen = new Set<string>();
    const progress: number[] = [];
    const done = await waitFor('job to finish', async () => {
      const j = await readJob(store, tenant, job.id);
      if (j.status === 'running') {
        seen.add(j.stage!);
        progress.push(j.progress);
        expect(j.heartbeatAt).not.toBeNull();
      }
      return ['succeeded', 'failed'].includes(j.status) && j;
    }, 120_000, 50);
    expect(done.error).toBeNull();
    expect(done.status).toBe('succeeded');
    expect(done.progress).toBe(1);
    expect(done.attempts).toBe(1);
    expect(done.result.weights).toBe(`/v1/merges/${job.id}/weights`);
    expect(seen.size).toBeGreaterThan(0);
    expect(progress).toEqual([...progress].sort((a, b) => a - b)); // never goes backwards
    expect(await store.head(keys.openJob(job.id))).toBeUndefined();

    const report = Report.parse(await store.getJson(keys.jobFile(tenant, job.id, 'report.json')));
    expect(report.backend).toBe('wasm');
    expect(report.alphas).toHaveLength(5);
    expect(report.variants.repaired!.barrier.loss.max).toBeLessThan(report.variants.naive.barrier.loss.max);
    const weights = await store.getBytes(keys.jobFile(tenant, job.id, 'merged.safetensors'));
    const shapes = async (bytes: Uint8Array) => new Map([...(await readHeader(bufferSource(bytes))).entries].map(([k, e]) => [k, e.shape]));
    // the merged checkpoint has every tensor of its parents, in their shapes
    expect(await shapes(weights!)).toEqual(await shapes(await readFile(`${EXAMPLE}/seed1.safetensors`)));
    expect(new TextDecoder().decode(await store.getBytes(keys.jobFile(tenant, job.id, 'report.svg')))).toMatch(/^<svg/);

    await waitFor('webhook', async () => receiver.received.length > 0);
    const event = receiver.verify(receiver.received[0]);
    expect(event.type).toBe('merge.succeeded');
    expect(event.data).toMatchObject({ id: job.id, status: 'succeeded', progress: 1 });
    const logged = await waitFor('delivery log', async () => (await readJob(store, tenant, job.id)).deliveries.at(-1));
    expect(logged).toMatchObject({ event: 'merge.succeeded', attempt: 1, status: 204, error: null, nextAttemptAt: null, id: receiver.received[0].headers['webhook-id'] });
    expect(await store.head(keys.pendingWebhook(job.id))).toBeUndefined();
  });

  it('fails a job whose checkpoint is not a checkpoint: machine-readable error, no results, merge.failed', async () => {
    await store.putBytes(keys.upload(tenant, 'upl_garbage01'), new TextEncoder().encode('not a safetensors file at all'));
    const job = await createJob(store, tenant, exampleRequest([models[0], { upload: 'upl_garbage01' }], { webhook: { url: receiver.url } }));
    const before = receiver.received.length;
    expect((await dispatch(job.id)).status).toBe(202);
    const done = await untilStatus(store, tenant, job.id, ['succeeded', 'failed']);
    expect(done.status).toBe('failed');
    expect(done.error!.code).toMatch(/^(header_too_large|truncated|bad_header_json|bad_header)$/);
    expect(done.result).toEqual({ self: `/v1/merges/${job.id}` });
    for (const f of ['merged.safetensors', 'report.json', 'report.svg'] as const) expect(await store.head(keys.jobFile(tenant, job.id, f))).toBeUndefined();
    await waitFor('failure webhook', async () => receiver.received.length > before);
    const event = receiver.verify(receiver.received[before]);
    expect(event.type).toBe('merge.failed');
    expect(event.data.error).toEqual(done.error);
  });

  it('a cancel stops a running merge: it ends canceled, with no results and no webhook', async () => {
    // the whole test split: long enough to cancel in the middle
    const job = await createJob(store, tenant, exampleRequest(models, {
      webhook: { url: receiver.url }, sweep: { points: 11 }, data: { evaluation: { builtin: 'fashion-mnist', split: 'test' } },
    }));
    const before = receiver.received.length;
    expect((await dispatch(job.id)).status).toBe(202);
    await waitFor('the merge to be under way', async () => {
      const j = await readJob(store, tenant, job.id);
      return j.status === 'running' && ['align', 'repair', 'sweep'].includes(j.stage ?? '');
    }, 120_000, 50);
    const canceled = await new JobStore(store).cancel(tenant, job.id);
    expect(canceled.status).toBe('canceled');
    await waitFor('the runner to let go', async () => runner.outcomes.find((o) => o.jobId === job.id));
    expect(runner.outcomes.find((o) => o.jobId === job.id)!.outcome).toBe('canceled');
    const after = await readJob(store, tenant, job.id);
    expect(after.status).toBe('canceled');
    expect(after.progress).toBeLessThan(1);
    for (const f of ['merged.safetensors', 'report.json'] as const) expect(await store.head(keys.jobFile(tenant, job.id, f))).toBeUndefined();
    expect(await store.head(keys.openJob(job.id))).toBeUndefined();
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.received.length).toBe(before);
  });

  it('stops a merge that outlives BASIN_JOB_TIMEOUT_SECONDS: failed with job_timeout, no results', async () => {
    const strict = createRunner({ ...config, jobTimeoutMs: 1500 });
    try {
      const job = await createJob(store, tenant, exampleRequest(models, { sweep: { points: 11 }, data: { evaluation: { builtin: 'fashion-mnist', split: 'test' } } }));
      const body = JSON.stringify({ jobId: job.id, tenant });
      expect((await strict.app.request('/v1/dispatch', { method: 'POST', body, headers: sign(body) })).status).toBe(202);
      const done = await untilStatus(store, tenant, job.id, ['succeeded', 'failed']);
      expect(done.error!.code).toBe('job_timeout');
      expect(await store.head(keys.jobFile(tenant, job.id, 'merged.safetensors'))).toBeUndefined();
    } finally {
      await strict.stop();
    }
  });

  it('skips jobs that were canceled while queued, and removes them from the index', async () => {
    const job = await createJob(store, tenant, exampleRequest(models));
    await new JobStore(store).cancel(tenant, job.id);
    expect((await dispatch(job.id)).status).toBe(202);
    await waitFor('the runner to look at it', async () => runner.outcomes.find((o) => o.jobId === job.id));
    expect(runner.outcomes.find((o) => o.jobId === job.id)!.outcome).toBe('skipped');
    expect(await store.head(keys.openJob(job.id))).toBeUndefined();
  });

  it('reports its backend and forward engine on /healthz', async () => {
    await runner.start();
    const health = await waitFor('backend probe', async () => {
      const h = (await (await runner.app.request('/healthz')).json()) as { backend: { name: string | null } };
      return h.backend.name && h;
    }, 60_000);
    expect(health).toMatchObject({ status: 'ok', backend: { name: 'wasm', engine: { name: 'onnxruntime', device: 'cpu' } }, concurrency: 1 });
  });
});
