import { BlobStore } from '../storage/store.ts';
import { createS3Client } from '../storage/client.ts';
import { LOCAL_S3_CREDENTIALS } from '../storage/credentials.ts';
import { defaultLimits, parseApiKeys, type AppConfig } from './config.ts';

/** The environment both entry points read (Node: process.env; Workers: vars and secrets). */
export interface BasinEnv {
  BASIN_S3_ENDPOINT?: string;
  /** endpoint in presigned URLs, when clients reach S3 by another address than the service does */
  BASIN_S3_PUBLIC_ENDPOINT?: string;
  BASIN_S3_REGION?: string;
  BASIN_S3_ACCESS_KEY_ID?: string;
  BASIN_S3_SECRET_ACCESS_KEY?: string;
  BASIN_BUCKET?: string;
  /** `sha256hex:tenant,...` */
  BASIN_API_KEYS?: string;
  BASIN_ALLOWED_BUCKETS?: string;
  RUNNER_URL?: string;
  RUNNER_SECRET?: string;
  BASIN_HOOK_SECRET?: string;
  BASIN_MAX_BODY_BYTES?: string;
  BASIN_MAX_UPLOAD_BYTES?: string;
  BASIN_PRESIGN_SECONDS?: string;
  /** how often jobs the runner did not take are offered again (default 60) */
  BASIN_REOFFER_SECONDS?: string;
}

/**
 * The local stack's key, `basin-dev-key` (tenant `dev`), used only when BASIN_API_KEYS is unset so
 * `npm start` works with no set-up. Stored as its hash, like every other key.
 */
export const DEV_API_KEY = 'basin-dev-key';
export const DEV_API_KEYS = 'bfefcebe695448e413efdfad8b8d5e16e4688fffd46c6ba54ad41cc7d6a6dab7:dev';

function int(v: string | undefined, fallback: number): number {
  const n = v === undefined || v === '' ? NaN : Number(v);
  return Number.isSafeInteger(n) && n > 0 ? n : fallback;
}

export function configFromEnv(env: BasinEnv): AppConfig {
  const settings = {
    endpoint: env.BASIN_S3_ENDPOINT,
    region: env.BASIN_S3_REGION,
    accessKeyId: env.BASIN_S3_ACCESS_KEY_ID ?? LOCAL_S3_CREDENTIALS.accessKeyId,
    secretAccessKey: env.BASIN_S3_SECRET_ACCESS_KEY ?? LOCAL_S3_CREDENTIALS.secretAccessKey,
  };
  const s3 = createS3Client(settings);
  const presigner = env.BASIN_S3_PUBLIC_ENDPOINT ? createS3Client({ ...settings, endpoint: env.BASIN_S3_PUBLIC_ENDPOINT }) : s3;
  return {
    store: new BlobStore(s3, env.BASIN_BUCKET ?? 'basin', presigner),
    apiKeys: parseApiKeys(env.BASIN_API_KEYS || DEV_API_KEYS),
    allowedBuckets: (env.BASIN_ALLOWED_BUCKETS ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    hookSecret: env.BASIN_HOOK_SECRET || undefined,
    runner: env.RUNNER_URL ? { url: env.RUNNER_URL, secret: env.RUNNER_SECRET ?? '' } : undefined,
    reofferIntervalMs: int(env.BASIN_REOFFER_SECONDS, 60) * 1000,
    limits: {
      maxBodyBytes: int(env.BASIN_MAX_BODY_BYTES, defaultLimits.maxBodyBytes),
      maxUploadBytes: int(env.BASIN_MAX_UPLOAD_BYTES, defaultLimits.maxUploadBytes),
      presignSeconds: int(env.BASIN_PRESIGN_SECONDS, defaultLimits.presignSeconds),
      maxPageSize: defaultLimits.maxPageSize,
    },
  };
}
