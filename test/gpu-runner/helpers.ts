import { readFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import type { Job, MergeEvent } from '../../src/contracts/job.ts';
import type { MergeRequestInput } from '../../src/contracts/mergeRequest.ts';
import type { RunnerConfig } from '../../src/gpu-runner/config.ts';
import type { JobStore } from '../../src/jobs/store.ts';
import { newId } from '../../src/routes/crypto.ts';
import { keys } from '../../src/storage/keys.ts';
import { AllowList } from '../../src/storage/outbound/allowList.ts';
import type { BlobStore } from '../../src/storage/store.ts';
import { inject } from 'vitest';
import { storeFromEnv, type StorageEnv } from '../../src/storage/env.ts';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { testS3, testStore, EXTERNAL_BUCKET, TEST_BUCKET } from '../storage/helpers.ts';
import { sha256 } from '../routes/helpers.ts';
import { freePort, spawnUntil, type Spawned } from '../routes/processes.ts';
import { testDatabase } from '../jobs/helpers.ts';

export const WEBHOOK_SECRET = 'whsec_dGVzdC13ZWJob29rLXNlY3JldC1mb3ItYmFzaW4=';
export const EXAMPLE = 'examples/fashion-mlp6x128';

/** A request on the committed Fashion-MNIST MLP pair, small enough for a test (seconds, not minutes). */
export function exampleRequest(models: MergeRequestInput['models'], overrides: Partial<MergeRequestInput> = {}): MergeRequestInput {
  return {
    models,
    architecture: { template: 'mlp', layout: 'pytorch', input: [1, 28, 28], widths: [128, 128, 128, 128, 128, 128], classes: 10, norm: 'none' },
    data: { calibration: { builtin: 'fashion-mnist', split: 'train', limit: 1000 }, evaluation: { builtin: 'fashion-mnist', split: 'test', limit: 1000 } },
    alignment: { method: 'weight', seed: 0 },
    sweep: { points: 5 },
    ...overrides,
  } as MergeRequestInput;
}

/** A bucket of the test s3rver for one test file (its jobs have a database of their own: test/jobs/helpers.ts). */
export async function createTestBucket(): Promise<string> {
  const bucket = `basin-${randomUUID().slice(0, 8)}`;
  await testS3().send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

/** The runner's storage settings for the test s3rver (its job processes get the same). */
export function testStorage(bucket = TEST_BUCKET): StorageEnv {
  return { BASIN_S3_ENDPOINT: inject('s3Endpoint'), BASIN_BUCKET: bucket, BASIN_ALLOWED_BUCKETS: EXTERNAL_BUCKET };
}

export function runnerConfig(overrides: Partial<RunnerConfig> & { bucket?: string; databaseUrl: string }, webhooks: Partial<RunnerConfig['webhooks']> = {}): RunnerConfig {
  const { bucket, ...rest } = overrides;
  const storage = testStorage(bucket);
  return {
    storage,
    store: storeFromEnv(storage),
    allowedBuckets: [EXTERNAL_BUCKET],
    concurrency: 1,
    heartbeatMs: 200,
    jobTimeoutMs: 600_000,
    staleMs: 60_000,
    maxAttempts: 3,
    pollMs: 200,
    runnerId: 'runner_test',
    ...rest,
    // the receivers in these tests listen on loopback
    webhooks: { secrets: new Map(), outbound: { allow: AllowList.parse('127.0.0.1'), dnsServers: [] }, maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1000, timeoutMs: 5000, ...webhooks },
  };
}

/** Uploads the example pair for `tenant` as a client's presigned PUTs would; returns the upload refs. */
export async function seedExamplePair(store: BlobStore, tenant: string, suffix: string): Promise<{ upload: string }[]> {
  const refs = [];
  for (const seed of [1, 2]) {
    const id = `upl_seed${seed}${suffix}`;
    await store.putBytes(keys.upload(tenant, id), await readFile(`${EXAMPLE}/seed${seed}.safetensors`));
    refs.push({ upload: id });
  }
  return refs;
}

/** Creates the job the way the edge does (one transaction: the row and its queue entry). */
export async function createJob(jobs: JobStore, tenant: string, request: unknown): Promise<Job> {
  const out = await jobs.create({ tenant, id: newId('job'), request, requestHash: '0'.repeat(64) });
  if (!('job' in out)) throw new Error('not created');
  return out.job;
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 120_000, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const readJob = async (jobs: JobStore, tenant: string, id: string) => (await jobs.find(tenant, id))!;
export const untilStatus = (jobs: JobStore, tenant: string, id: string, statuses: string[], timeoutMs?: number) =>
  waitFor(`job ${id} to be ${statuses.join('/')}`, async () => {
    const job = await readJob(jobs, tenant, id);
    return statuses.includes(job.status) && job;
  }, timeoutMs);

export interface Received { headers: IncomingHttpHeaders; body: string; answered: number }

/** A webhook receiver on loopback answering each request with the next status in `plan` (then 204). */
export async function webhookReceiver(plan: number[] = []) {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const answered = plan[received.length] ?? 204;
      received.push({ headers: req.headers, body, answered });
      res.writeHead(answered).end();
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/basin`;
  return {
    url,
    received,
    /** verifies a delivery with the Standard Webhooks library (independent of our signer) and parses it */
    verify(r: Received, secret = WEBHOOK_SECRET): MergeEvent {
      return new Webhook(secret).verify(r.body, r.headers as Record<string, string>) as MergeEvent;
    },
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

export { testStore };

/**
 * The stack as deployed, each part its own process: the edge (Node) and the runner on a database
 * of their own (the test PostgreSQL) and a fresh bucket of the test s3rver, with one API key for
 * `tenant` whose webhooks are signed with WEBHOOK_SECRET.
 */
export async function startProcessStack(tenant: string, apiKey: string, extra: { edge?: NodeJS.ProcessEnv; runner?: NodeJS.ProcessEnv } = {}) {
  const storage = testStorage(await createTestBucket());
  const db = await testDatabase();
  const [runnerPort, edgePort] = [await freePort(), await freePort()];
  const shared = { ...process.env, ...storage, DATABASE_URL: db.url };
  const started: Spawned[] = [];
  const stop = async () => {
    for (const part of started.reverse()) await part.stop();
    await db.close();
  };
  try {
    started.push(await spawnUntil(process.execPath, ['--import', 'tsx', 'src/routes/node.ts'], {
      ...shared, PORT: String(edgePort), BASIN_API_KEYS: `${sha256(apiKey)}:${tenant}`, ...extra.edge,
    }, /"listening"/, 60_000));
    started.push(await spawnUntil(process.execPath, ['--import', 'tsx', 'src/gpu-runner/main.ts'], {
      ...shared, RUNNER_PORT: String(runnerPort), BASIN_HEARTBEAT_SECONDS: '0.5',
      BASIN_WEBHOOK_SECRETS: `${tenant}:${WEBHOOK_SECRET}`, BASIN_WEBHOOK_ALLOW: '127.0.0.1', ...extra.runner,
    }, /"runner":"http/, 60_000));
  } catch (err) {
    await stop();
    throw err;
  }
  const [edge, runner] = started;
  return { base: `http://127.0.0.1:${edgePort}`, storage, db, edge, runner, stop };
}
