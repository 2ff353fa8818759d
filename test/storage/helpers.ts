import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { BlobStore, createS3Client, LOCAL_S3_CREDENTIALS } from '../../src/storage/index.ts';
import { TEST_BUCKET } from './globalSetup.ts';

// The SDK warns once per process that its 2027 releases need Node 22; ours is pinned, so hush it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

export { TEST_BUCKET, EXTERNAL_BUCKET, WORKER_BUCKET } from './globalSetup.ts';

export function testS3() {
  return createS3Client({ endpoint: inject('s3Endpoint'), ...LOCAL_S3_CREDENTIALS });
}

export function testStore(bucket = TEST_BUCKET): BlobStore {
  return new BlobStore(testS3(), bucket);
}

/** A tenant nobody else uses: test files share one s3rver and run in parallel. */
export function freshTenant(): string {
  return `tn${randomUUID().replaceAll('-', '').slice(0, 12)}`;
}
