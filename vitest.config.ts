import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The engine runs real tfjs math on 2 cores: generous per-test limits, never asserted as speed.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // One real s3rver and one real PostgreSQL (child processes, free loopback ports) for every test.
    globalSetup: ['test/storage/globalSetup.ts', 'test/jobs/globalSetup.ts'],
    reporters: ['default'],
    // The AWS SDK warns that its 2027 releases need Node 22; the version in package.json is pinned.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
