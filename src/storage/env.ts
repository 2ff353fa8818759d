import { createS3Client } from './client.ts';
import { LOCAL_S3_CREDENTIALS } from './credentials.ts';
import type { OutboundEnv } from './outbound/policy.ts';
import { BlobStore } from './store.ts';

/**
 * The storage settings every process reads (edge, runner, job child): one meaning for each variable.
 * Reading from wherever a caller points (an https model) is storage too: its guard's settings are here.
 */
export interface StorageEnv extends OutboundEnv {
  BASIN_S3_ENDPOINT?: string;
  /** endpoint in presigned URLs, when clients reach S3 by another address than the service does */
  BASIN_S3_PUBLIC_ENDPOINT?: string;
  BASIN_S3_REGION?: string;
  BASIN_S3_ACCESS_KEY_ID?: string;
  BASIN_S3_SECRET_ACCESS_KEY?: string;
  BASIN_BUCKET?: string;
  /** buckets `s3://` references may name, comma-separated */
  BASIN_ALLOWED_BUCKETS?: string;
}

/** The service's bucket (default `basin`), with s3rver's credentials where none are configured. */
export function storeFromEnv(env: StorageEnv): BlobStore {
  const settings = {
    endpoint: env.BASIN_S3_ENDPOINT,
    region: env.BASIN_S3_REGION,
    accessKeyId: env.BASIN_S3_ACCESS_KEY_ID ?? LOCAL_S3_CREDENTIALS.accessKeyId,
    secretAccessKey: env.BASIN_S3_SECRET_ACCESS_KEY ?? LOCAL_S3_CREDENTIALS.secretAccessKey,
  };
  const s3 = createS3Client(settings);
  const presigner = env.BASIN_S3_PUBLIC_ENDPOINT ? createS3Client({ ...settings, endpoint: env.BASIN_S3_PUBLIC_ENDPOINT }) : s3;
  return new BlobStore(s3, env.BASIN_BUCKET ?? 'basin', presigner);
}

export function allowedBucketsFromEnv(env: StorageEnv): string[] {
  return (env.BASIN_ALLOWED_BUCKETS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}
