import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Report } from '../../src/contracts/report.ts';
import { createRunner, type Runner } from '../../src/gpu-runner/runner.ts';
import type { JobStore } from '../../src/jobs/store.ts';
import { readHeader, bufferSource } from '../../src/pipeline/io/safetensors.ts';
import { keys } from '../../src/storage/keys.ts';
import { testDatabase } from '../jobs/helpers.ts';
import { freshTenant } from '../storage/helpers.ts';
import { createJob, createTestBucket, EXAMPLE, exampleRequest, readJob, runnerConfig, seedExamplePair, untilStatus, waitFor, webhookReceiver, WEBHOOK_SECRET } from './helpers.ts';

/** The runner in this process (its jobs in real child processes) against the test s3rver and its own database. */
describe('runner: job lifecycle', () => {
  const tenant = freshTenant();
  let runner: Runner;
  let receiver: Awaited<ReturnType<typeof webhookReceiver>>;
  let models: { upload: string }[];
  let config: ReturnType<typeof runnerConfig>;
  let store: ReturnType<typeof runnerConfig>['store'];
  let db: Awaited<ReturnType<typeof testDatabase>>;
  let jobs: JobStore;
  const logged: Record<string, unknown>[] = [];
  const log = (entry: Record<string, unknown>) => void logged.push(entry);

  beforeAll(async () => {
    db = await testDatabase();
    jobs = db.jobs();
    config = runnerConfig({ bucket: await createTestBucket(), databaseUrl: db.url, maxAttempts: 2 }, { secrets: new Map([[tenant, WEBHOOK_SECRET]]) });
    store = config.store;
    receiver = await webhookReceiver();
    runner = createRunner(config, { log });
    await runner.start();
    models = await seedExamplePair(store, tenant, 'life');
  });
  afterAll(async () => {
    await runner?.stop();
    await receiver?.close();
    await db?.close();
  });

  it('runs a queued merge: status with stage, progress and heartbeat; results; a signed merge.succeeded webhook', async () => {
    const job = await createJob(jobs, tenant, exampleRequest(models, { webhook: { url: receiver.url } }));

    const seen = new Set<string>();
    const progress: number[] = [];
    const done = await waitFor('job to finish', async () => {
      const j = await readJob(jobs, tenant, job.id);
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
    for (const p of progress) expect(p).toBe(Math.round(p * 1000) / 1000); // 0.9, never 0.8999999999999999

    const report = Report.parse(JSON.parse(new TextDecoder().decode(await store.getBytes(keys.jobFile(tenant, job.id, 'report.json')))));
    expect(report.backend).toBe('wasm');
    expect(report.alphas).toHaveLength(5);
    expect(report.variants.repaired!.barrier.loss.max).toBeLessThan(report.variants.naive.barrier.loss.max);
    const weights = await store.getBytes(keys.jobFile(tenant, job.id, 'merged.safetensors'));
    const shapes = async (bytes: Uint8Array) => new Map([...(await readHeader(bufferSource(bytes))).entries].map(([k, e]) => [k, e.shape]));
    // the merged checkpoint has every tensor of its parents, in their shapes
    expect(await shapes(weights!)).toEqual(await shapes(await readFile(`${EXAMPLE}/seed1.safetensors`)));
    expect(new TextDecoder().decode(await store.getBytes(keys.jobFile(tenant, job.id, 'report.svg')))).toMatch(/^<svg/);
    expect(new TextDecoder().decode(await store.getBytes(keys.jobFile(tenant, job.id, 'report.html')))).toMatch(/^<!doctype html>[\s\S]*<svg/);

    await waitFor('webhook', async () => receiver.received.length > 0);
    const event = receiver.verify(receiver.received[0]);
    expect(event.type).toBe('merge.succeeded');
    expect(event.data).toMatchObject({ id: job.id, status: 'succeeded', progress: 1 });
    const delivery = await waitFor('delivery log', async () => (await readJob(jobs, tenant, job.id)).deliveries.at(-1));
    expect(delivery).toMatchObject({ event: 'merge.succeeded', attempt: 1, status: 204, error: null, nextAttemptAt: null, id: receiver.received[0].headers['webhook-id'] });
    expect(await runner.jobs.claimWebhooks(10, 1000)).toEqual([]); // nothing more owed
  });

  it('fails a job whose checkpoint is not a checkpoint: machine-readable error, no results, merge.failed', async () => {
    await store.putBytes(keys.upload(tenant, 'upl_garbage01'), new TextEncoder().encode('not a safetensors file at all'));
    const before = receiver.received.length;
    const job = await createJob(jobs, tenant, exampleRequest([models[0], { upload: 'upl_garbage01' }], { webhook: { url: receiver.url } }));
    const done = await untilStatus(jobs, tenant, job.id, ['succeeded', 'failed']);
    expect(done.status).toBe('failed');
    // sniffed from the bytes: not a format basin reads, said so (the message names what it looks like)
    expect(done.error).toMatchObject({ code: 'unsupported_format', message: expect.stringMatching(/^models\.1: .*first bytes 6e 6f 74/) });
    expect(done.result).toEqual({ self: `/v1/merges/${job.id}` });
    for (const f of ['merged.safetensors', 'report.json', 'report.svg', 'report.html'] as const) expect(await store.head(keys.jobFile(tenant, job.id, f))).toBeUndefined();
    // the outcome log says why, not only that it failed
    const line = await waitFor('the outcome log', async () => logged.find((l) => l.job === job.id && l.outcome));
    expect(line).toMatchObject({ outcome: 'failed', error: done.error!.code });
    expect(runner.outcomes.find((o) => o.jobId === job.id)).toEqual({ jobId: job.id, outcome: 'failed', error: done.error!.code });
    await waitFor('failure webhook', async () => receiver.received.length > before);
    const event = receiver.verify(receiver.received[before]);
    expect(event.type).toBe('merge.failed');
    expect(event.data.error).toEqual(done.error);
  });

  it('a cancel stops a running merge: it ends canceled, with no results and no webhook', async () => {
    // the whole test split: long enough to cancel in the middle
    const before = receiver.received.length;
    const job = await createJob(jobs, tenant, exampleRequest(models, {
      webhook: { url: receiver.url }, sweep: { points: 11 }, data: { evaluation: { builtin: 'fashion-mnist', split: 'test' } },
    }));
    await waitFor('the merge to be under way', async () => {
      const j = await readJob(jobs, tenant, job.id);
      return j.status === 'running' && ['align', 'repair', 'sweep'].includes(j.stage ?? '');
    }, 120_000, 50);
    const canceled = await jobs.cancel(tenant, job.id);
    expect('job' in canceled && canceled.job.status).toBe('canceled');
    await waitFor('the runner to let go', async () => runner.outcomes.find((o) => o.jobId === job.id));
    expect(runner.outcomes.find((o) => o.jobId === job.id)!.outcome).toBe('canceled');
    const after = await readJob(jobs, tenant, job.id);
    expect(after.status).toBe('canceled');
    expect(after.progress).toBeLessThan(1);
    for (const f of ['merged.safetensors', 'report.json'] as const) expect(await store.head(keys.jobFile(tenant, job.id, f))).toBeUndefined();
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.received.length).toBe(before);
  });

  it('stops a merge that outlives BASIN_JOB_TIMEOUT_SECONDS: failed with job_timeout, no results', async () => {
    const strictDb = await testDatabase();
    const strict = createRunner({ ...config, databaseUrl: strictDb.url, jobTimeoutMs: 1500 }, { log });
    try {
      await strict.start();
      const strictJobs = strictDb.jobs();
      const job = await createJob(strictJobs, tenant, exampleRequest(models, { sweep: { points: 11 }, data: { evaluation: { builtin: 'fashion-mnist', split: 'test' } } }));
      const done = await untilStatus(strictJobs, tenant, job.id, ['succeeded', 'failed']);
      expect(done.error!.code).toBe('job_timeout');
      expect(await store.head(keys.jobFile(tenant, job.id, 'merged.safetensors'))).toBeUndefined();
    } finally {
      await strict.stop();
      await strictDb.close();
    }
  });

  it('a job canceled while queued never starts', async () => {
    await runner.stop(); // nobody takes jobs while this one is created and canceled
    const job = await createJob(jobs, tenant, exampleRequest(models));
    await jobs.cancel(tenant, job.id);
    runner = createRunner(config, { log });
    await runner.start();
    await new Promise((r) => setTimeout(r, 1500));
    const after = await readJob(jobs, tenant, job.id);
    expect(after).toMatchObject({ status: 'canceled', attempts: 0 });
  });

  it('a merge process that keeps dying is tried BASIN_MAX_ATTEMPTS times, then dead-lettered failed with the reason', async () => {
    const job = await createJob(jobs, tenant, exampleRequest(models, { webhook: { url: receiver.url }, sweep: { points: 11 }, data: { evaluation: { builtin: 'fashion-mnist', split: 'test' } } }));
    for (const attempt of [1, 2]) {
      const line = await waitFor(`attempt ${attempt}`, async () => logged.find((l) => l.job === job.id && l.attempt === attempt), 120_000, 50);
      const pid = line.pid as number;
      process.kill(pid, 'SIGKILL'); // out of memory, say
    }
    const done = await untilStatus(jobs, tenant, job.id, ['succeeded', 'failed'], 120_000);
    expect(done).toMatchObject({ status: 'failed', attempts: 2, error: { code: 'runner_crashed' } });
    expect(done.error!.message).toMatch(/^gave up after 2 attempts; the last: the merge process was killed by SIGKILL/);
    await waitFor('merge.failed webhook', async () => receiver.received.some((r) => receiver.verify(r).data.id === job.id));
  });

  it('reports its backend and forward engine on /healthz', async () => {
    const health = await waitFor('backend probe', async () => {
      const h = (await (await runner.app.request('/healthz')).json()) as { backend: { name: string | null } };
      return h.backend.name && h;
    }, 60_000);
    expect(health).toMatchObject({ status: 'ok', backend: { name: 'wasm', engine: { name: 'onnxruntime', device: 'cpu' } }, concurrency: 1, running: 0 });
  });
});
