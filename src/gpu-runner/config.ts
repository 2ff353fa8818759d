import { randomBytes } from 'node:crypto';
import { allowedBucketsFromEnv, storeFromEnv, type StorageEnv } from '../storage/env.ts';
import { outboundPolicyFromEnv, type OutboundPolicy } from '../storage/outbound/policy.ts';
import type { BlobStore } from '../storage/store.ts';

/** What the runner reads from its environment (README's configuration table lists each). */
export interface RunnerEnv extends StorageEnv {
  /** the PostgreSQL that holds jobs and the queue (required) */
  DATABASE_URL?: string;
  /** /healthz only (jobs come from the queue); 0: any free port */
  RUNNER_PORT?: string;
  RUNNER_HOST?: string;
  /** merges run at once (default 1: one merge uses the whole accelerator) */
  BASIN_RUNNER_CONCURRENCY?: string;
  BASIN_HEARTBEAT_SECONDS?: string;
  /** a merge running longer than this is stopped and fails with job_timeout (default 7200) */
  BASIN_JOB_TIMEOUT_SECONDS?: string;
  /** a running job whose heartbeat is older than this is offered to another runner (default 30) */
  BASIN_STALE_SECONDS?: string;
  /** attempts of a job whose runner or merge process keeps dying before it is failed (default 3) */
  BASIN_MAX_ATTEMPTS?: string;
  /** `tenant:whsec_...,...`: each tenant's Standard Webhooks signing secret */
  BASIN_WEBHOOK_SECRETS?: string;
  BASIN_WEBHOOK_MAX_ATTEMPTS?: string;
  /** first retry delay; doubles each attempt, with jitter (default 5) */
  BASIN_WEBHOOK_RETRY_SECONDS?: string;
  BASIN_WEBHOOK_TIMEOUT_SECONDS?: string;
  /** comma list overriding the backend chain, e.g. `wasm` or `cpu` */
  BASIN_BACKEND?: string;
}

/**
 * The local stack's signing secret for tenant `dev`, used only when BASIN_WEBHOOK_SECRETS is unset
 * (as the edge's dev API key is): `npm start` prints it so a local receiver can verify.
 */
export const DEV_WEBHOOK_SECRET = 'whsec_YmFzaW4tbG9jYWwtd2ViaG9vay1zZWNyZXQ=';

export interface WebhookConfig {
  /** tenant -> secret */
  secrets: ReadonlyMap<string, string>;
  /** where receivers may be (BASIN_OUTBOUND_ALLOW; the job processes read the same setting for `url` inputs) */
  outbound: OutboundPolicy;
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  timeoutMs: number;
}

export interface RunnerConfig {
  /** the storage settings, handed on to each job's process */
  storage: StorageEnv;
  store: BlobStore;
  allowedBuckets: readonly string[];
  databaseUrl: string;
  concurrency: number;
  heartbeatMs: number;
  jobTimeoutMs: number;
  staleMs: number;
  maxAttempts: number;
  /** how often the queue is polled besides LISTEN/NOTIFY, and owed webhooks looked for */
  pollMs: number;
  webhooks: WebhookConfig;
  /** names this runner in logs */
  runnerId: string;
}

function num(v: string | undefined, fallback: number, min = 0): number {
  const n = v === undefined || v === '' ? NaN : Number(v);
  return Number.isFinite(n) && n >= min ? n : fallback;
}

export function parseWebhookSecrets(spec: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = entry.indexOf(':');
    if (i <= 0) throw new Error(`BASIN_WEBHOOK_SECRETS: expected tenant:secret, got "${entry}"`);
    out.set(entry.slice(0, i), entry.slice(i + 1));
  }
  return out;
}

export function runnerConfigFromEnv(env: RunnerEnv): RunnerConfig {
  if (!env.DATABASE_URL) throw new Error('DATABASE_URL is not set: the runner takes its jobs from that PostgreSQL');
  const storage: StorageEnv = {
    BASIN_S3_ENDPOINT: env.BASIN_S3_ENDPOINT, BASIN_S3_PUBLIC_ENDPOINT: env.BASIN_S3_PUBLIC_ENDPOINT, BASIN_S3_REGION: env.BASIN_S3_REGION,
    BASIN_S3_ACCESS_KEY_ID: env.BASIN_S3_ACCESS_KEY_ID, BASIN_S3_SECRET_ACCESS_KEY: env.BASIN_S3_SECRET_ACCESS_KEY,
    BASIN_BUCKET: env.BASIN_BUCKET, BASIN_ALLOWED_BUCKETS: env.BASIN_ALLOWED_BUCKETS,
    BASIN_OUTBOUND_ALLOW: env.BASIN_OUTBOUND_ALLOW, BASIN_WEBHOOK_ALLOW: env.BASIN_WEBHOOK_ALLOW, BASIN_DNS_SERVERS: env.BASIN_DNS_SERVERS,
  };
  return {
    storage,
    store: storeFromEnv(storage),
    allowedBuckets: allowedBucketsFromEnv(env),
    databaseUrl: env.DATABASE_URL,
    concurrency: Math.floor(num(env.BASIN_RUNNER_CONCURRENCY, 1, 1)),
    heartbeatMs: num(env.BASIN_HEARTBEAT_SECONDS, 5, 0.1) * 1000,
    jobTimeoutMs: num(env.BASIN_JOB_TIMEOUT_SECONDS, 7200, 1) * 1000,
    staleMs: num(env.BASIN_STALE_SECONDS, 30, 0.5) * 1000,
    maxAttempts: Math.floor(num(env.BASIN_MAX_ATTEMPTS, 3, 1)),
    pollMs: 1000,
    webhooks: {
      secrets: parseWebhookSecrets(env.BASIN_WEBHOOK_SECRETS ?? `dev:${DEV_WEBHOOK_SECRET}`),
      outbound: outboundPolicyFromEnv(storage),
      maxAttempts: Math.floor(num(env.BASIN_WEBHOOK_MAX_ATTEMPTS, 8, 1)),
      baseDelayMs: num(env.BASIN_WEBHOOK_RETRY_SECONDS, 5, 0) * 1000,
      maxDelayMs: 3600 * 1000,
      timeoutMs: num(env.BASIN_WEBHOOK_TIMEOUT_SECONDS, 10, 0.1) * 1000,
    },
    runnerId: `runner_${randomBytes(4).toString('hex')}`,
  };
}
