import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startLocalS3 } from '../../src/storage/localS3.ts';

/** Buckets the tests use: the service's own, and an allow-listed one for `s3://` references. */
export const TEST_BUCKET = 'basin-test';
export const EXTERNAL_BUCKET = 'basin-external';
/** The wrangler dev test's own bucket. */
export const WORKER_BUCKET = 'basin-worker';

declare module 'vitest' {
  export interface ProvidedContext {
    s3Endpoint: string;
  }
}

/** One real s3rver over HTTP for the whole run (no in-memory stand-in), on a free loopback port. */
export default async function setup(project: TestProject) {
  const directory = await mkdtemp(join(tmpdir(), 'basin-s3rver-'));
  const s3 = await startLocalS3({ directory, buckets: [TEST_BUCKET, EXTERNAL_BUCKET, WORKER_BUCKET] });
  project.provide('s3Endpoint', s3.endpoint);
  return async () => {
    await s3.stop();
    await rm(directory, { recursive: true, force: true });
  };
}
