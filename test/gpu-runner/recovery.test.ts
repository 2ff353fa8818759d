import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Report } from '../../src/contracts/report.ts';
import { keys } from '../../src/storage/keys.ts';
import type { BlobStore } from '../../src/storage/store.ts';
import { freePort, spawnUntil, type Spawned } from '../routes/processes.ts';
import { createJob, createTestBucket, exampleRequest, readJob, runnerConfig, seedExamplePair, testStorage, untilStatus, waitFor } from './helpers.ts';
import { freshTenant } from '../storage/helpers.ts';

/**
 * Nothing lost (DESIGN 2): a runner process killed with SIGKILL in the middle of a real merge; a new
 * runner finds the job by its stale heartbeat, runs it again, and writes what an uninterrupted run
 * writes, byte for byte.
 */
describe('crash recovery', () => {
  const tenant = freshTenant();
  let bucket: string;
  let store: BlobStore;
  const runners: Spawned[] = [];

  const startRunner = async () => {
    const port = await freePort();
    const r = await spawnUntil(process.execPath, ['--import', 'tsx', 'src/gpu-runner/main.ts'], {
      ...process.env, ...testStorage(bucket), RUNNER_SECRET: 'recovery-secret', RUNNER_PORT: String(port),
      BASIN_HEARTBEAT_SECONDS: '0.25', BASIN_STALE_SECONDS: '2', BASIN_SCAN_SECONDS: '0.5',
    }, /"dispatch"/, 60_000);
    runners.push(r);
    return r;
  };

  beforeAll(async () => {
    bucket = await createTestBucket();
    store = runnerConfig({ bucket }).store;
  });
  afterAll(async () => {
    for (const r of runners) await r.stop();
  });

  it('SIGKILL mid-merge: the job is taken over and ends succeeded, outputs byte-identical to an uninterrupted run', async () => {
    const models = await seedExamplePair(store, tenant, 'crash');
    const request = exampleRequest(models, { sweep: { points: 11 }, data: {
      calibration: { builtin: 'fashion-mnist', split: 'train', limit: 2000 }, evaluation: { builtin: 'fashion-mnist', split: 'test', limit: 5000 },
    } });
    const job = await createJob(store, tenant, request);

    const first = await startRunner();
    await waitFor('the merge to reach its sweep', async () => {
      const j = await readJob(store, tenant, job.id);
      return j.status === 'running' && j.stage === 'sweep';
    }, 120_000, 50);
    const childPid = Number(/"job":"[^"]+","attempt":1,"pid":(\d+)/.exec(first.output())![1]);
    process.kill(first.child.pid!, 'SIGKILL'); // the runner only: its job process must notice by itself
    await waitFor('the orphaned job process to exit', async () => {
      try {
        process.kill(childPid, 0);
        return false;
      } catch {
        return true;
      }
    }, 30_000);
    const interrupted = await readJob(store, tenant, job.id);
    expect(interrupted.status).toBe('running');
    expect(interrupted.progress).toBeLessThan(1);

    await startRunner(); // scans on start, and again every 0.5 s until the heartbeat is 2 s old
    const done = await untilStatus(store, tenant, job.id, ['succeeded', 'failed'], 180_000);
    expect(done.error).toBeNull();
    expect(done.status).toBe('succeeded');
    expect(done.attempts).toBe(2);

    // the same request, never interrupted
    const clean = await createJob(store, tenant, request);
    const cleanDone = await untilStatus(store, tenant, clean.id, ['succeeded', 'failed'], 180_000);
    expect(cleanDone.attempts).toBe(1);

    const bytes = (id: string, f: 'merged.safetensors' | 'report.svg' | 'report.json') => store.getBytes(keys.jobFile(tenant, id, f));
    const recovered = await bytes(job.id, 'merged.safetensors');
    expect(recovered!.length).toBeGreaterThan(100_000);
    expect(Buffer.compare(Buffer.from(recovered!), Buffer.from((await bytes(clean.id, 'merged.safetensors'))!))).toBe(0);
    expect(Buffer.compare(Buffer.from((await bytes(job.id, 'report.svg'))!), Buffer.from((await bytes(clean.id, 'report.svg'))!))).toBe(0);
    // the report is the same but for how long things took
    const report = async (id: string) => {
      const { timings: _t, ...rest } = JSON.parse(new TextDecoder().decode((await bytes(id, 'report.json'))!)) as Report;
      return rest;
    };
    expect(await report(job.id)).toEqual(await report(clean.id));
  });
});
