import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../src/contracts/job.ts';
import { startLocalPostgres, type LocalPostgres } from '../src/jobs/localPostgres.ts';
import { loadBuiltin } from '../src/pipeline/io/datasets.ts';
import { encodeSafetensors } from '../src/pipeline/io/safetensors.ts';
import { nodeHost } from '../src/pipeline/runtime/nodeHost.ts';
import { storeFromEnv } from '../src/storage/env.ts';
import { keys, resultFiles } from '../src/storage/keys.ts';
import { startLocalS3, type LocalS3 } from '../src/storage/localS3.ts';
import { EXAMPLE, exampleRequest, waitFor } from './gpu-runner/helpers.ts';
import { sha256 } from './routes/helpers.ts';
import { freePort, spawnUntil, type Spawned } from './routes/processes.ts';

/**
 * The fault campaign of issue 12, on the real local stack: its own PostgreSQL and s3rver (so they
 * can be killed), the edge and three runners as processes. Merges are the committed Fashion-MNIST
 * MLP pair on 200 real test images uploaded as a dataset (parsing the built-in set would cost each
 * merge process more than the merge), so each takes seconds.
 */
describe('faults: nothing lost, nothing doubled', () => {
  const tenant = 'faults';
  const apiKey = 'faults-key';
  let dir: string;
  let postgres: LocalPostgres;
  let s3: LocalS3;
  let pgPort: number;
  let s3Port: number;
  let databaseUrl: string;
  let api: string;
  let edge: Spawned;
  const runners: Spawned[] = [];
  let sql: pg.Pool;
  let models: { upload: string }[];
  let data: { upload: string };

  const startPostgres = () => startLocalPostgres({ directory: join(dir, 'pg'), port: pgPort, flags: ['-c', 'fsync=off'] });
  const startS3 = () => startLocalS3({ directory: join(dir, 's3'), buckets: ['faults'], port: s3Port });
  const storage = () => ({ BASIN_S3_ENDPOINT: `http://127.0.0.1:${s3Port}`, BASIN_BUCKET: 'faults' });
  const startRunner = async () => {
    const r = await spawnUntil(process.execPath, ['--import', 'tsx', 'src/gpu-runner/main.ts'], {
      ...process.env, ...storage(), DATABASE_URL: databaseUrl, RUNNER_PORT: '0',
      BASIN_HEARTBEAT_SECONDS: '0.3', BASIN_STALE_SECONDS: '2',
    }, /"runner":"http/, 60_000);
    runners.push(r);
    return r;
  };
  const call = (path: string, init: RequestInit & { json?: unknown } = {}) =>
    fetch(`${api}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
      body: init.json === undefined ? init.body : JSON.stringify(init.json),
    });
  const upload = async (bytes: Uint8Array) => {
    const up = (await (await call('/v1/uploads', { method: 'POST', json: { size: bytes.length } })).json()) as { id: string; url: string };
    expect((await fetch(up.url, { method: 'PUT', body: bytes })).status).toBe(200);
    return up.id;
  };
  const small = (alpha = 0.5) => exampleRequest(models, { data: { calibration: data, evaluation: data }, sweep: { points: 3 }, output: { alpha } });
  const getJob = async (id: string) => (await (await call(`/v1/merges/${id}`)).json()) as Job;
  const untilEnded = (ids: string[], timeoutMs = 300_000) =>
    waitFor(`${ids.length} jobs to end`, async () => {
      const { rows } = await sql.query<{ id: string; status: string }>('SELECT id, status FROM basin.jobs WHERE id = ANY($1)', [ids]);
      return rows.length === ids.length && rows.every((r) => ['succeeded', 'failed', 'canceled'].includes(r.status)) && rows;
    }, timeoutMs, 250);
  const jobCount = async () => (await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM basin.jobs')).rows[0].n;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'basin-faults-'));
    [pgPort, s3Port] = [await freePort(), await freePort()];
    postgres = await startPostgres();
    await postgres.createDatabase('basin');
    databaseUrl = postgres.url('basin');
    s3 = await startS3();
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    edge = await spawnUntil(process.execPath, ['--import', 'tsx', 'src/routes/node.ts'], {
      ...process.env, ...storage(), DATABASE_URL: databaseUrl, PORT: String(port), BASIN_API_KEYS: `${sha256(apiKey)}:${tenant}`,
    }, /"listening"/, 60_000);
    sql = new pg.Pool({ connectionString: databaseUrl, max: 3 });
    sql.on('error', () => {}); // the server is killed below on purpose
    for (let i = 0; i < 3; i++) await startRunner();
    models = [];
    for (const seed of [1, 2]) models.push({ upload: await upload(await readFile(`${EXAMPLE}/seed${seed}.safetensors`)) });
    const images = await loadBuiltin(nodeHost.packageFiles, 'fashion-mnist', 'test', 200);
    data = { upload: await upload(encodeSafetensors({
      x: { kind: 'float', dtype: 'F32', shape: [images.n, ...images.sampleShape], data: images.x },
      y: { kind: 'int', dtype: 'I32', shape: [images.n], bytes: new Uint8Array(images.y.buffer, images.y.byteOffset, images.y.byteLength) },
    })) };
  }, 240_000);

  afterAll(async () => {
    for (const r of runners) await r.stop();
    await edge?.stop();
    await sql?.end().catch(() => {});
    await s3?.stop();
    await postgres?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('10 Idempotency-Keys x 3 concurrent requests each: 10 jobs', async () => {
    const before = await jobCount();
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => call('/v1/merges', { method: 'POST', json: small(), headers: { 'idempotency-key': `order-${i % 10}` } })),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(30).fill(202));
    const ids = await Promise.all(answers.map(async (a) => ((await a.json()) as Job).id));
    for (let k = 0; k < 10; k++) expect(new Set(ids.filter((_, i) => i % 10 === k)).size).toBe(1);
    expect(new Set(ids).size).toBe(10);
    expect(answers.filter((a) => a.headers.get('idempotent-replayed') === 'true')).toHaveLength(20);
    expect((await jobCount()) - before).toBe(10);
    for (const id of new Set(ids)) await call(`/v1/merges/${id}`, { method: 'DELETE' }); // keep the runners free
    await untilEnded([...new Set(ids)]);
  });

  it('6 concurrent deliveries of the event that completes a group: 1 merge', async () => {
    const { models: _m, ...merge } = small();
    const event = (run: string, checkpoint: { upload: string }) => ({ type: 'training_run.finished', run, checkpoint, group: { id: 'nightly-1', size: 2, merge } });
    const first = await call('/v1/hooks/training-run', { method: 'POST', json: event('run-a', models[0]) });
    expect(((await first.json()) as { job: null }).job).toBeNull();
    const before = await jobCount();
    const answers = await Promise.all(Array.from({ length: 6 }, () => call('/v1/hooks/training-run', { method: 'POST', json: event('run-b', models[1]) })));
    expect(answers.map((a) => a.status)).toEqual(Array(6).fill(202));
    const jobs = await Promise.all(answers.map(async (a) => ((await a.json()) as { job: Job }).job.id));
    expect(new Set(jobs).size).toBe(1);
    expect((await jobCount()) - before).toBe(1);
    const done = await untilEnded(jobs.slice(0, 1));
    expect(done[0].status).toBe('succeeded');
  });

  it('3 runners, 30 merges, one runner SIGKILLed mid-merge: every job succeeded once, outputs byte-identical to uninterrupted runs', async () => {
    const alphas = [0.3, 0.5, 0.7];
    const created: Array<{ id: string; alpha: number }> = [];
    for (let i = 0; i < 30; i++) {
      const alpha = alphas[i % 3];
      const res = await call('/v1/merges', { method: 'POST', json: small(alpha) });
      expect(res.status).toBe(202);
      created.push({ id: ((await res.json()) as Job).id, alpha });
    }
    // a merge under way on one of the runners: kill that runner (its merge process notices and exits)
    const victim = await waitFor('a merge past loading', async () => {
      const { rows } = await sql.query<{ id: string }>("SELECT id FROM basin.jobs WHERE id = ANY($1) AND status = 'running' AND stage IN ('align', 'repair', 'sweep')", [created.map((c) => c.id)]);
      for (const row of rows) {
        const runner = runners.find((r) => r.child.exitCode === null && r.output().includes(`"job":"${row.id}","attempt":1,`));
        if (runner) return { id: row.id, runner };
      }
      return undefined;
    }, 120_000, 20);
    process.kill(victim.runner.child.pid!, 'SIGKILL');
    runners.splice(runners.indexOf(victim.runner), 1);

    const ended = await untilEnded(created.map((c) => c.id), 400_000);
    expect(ended.map((r) => r.status)).toEqual(Array(30).fill('succeeded'));
    const { rows } = await sql.query<{ id: string; attempts: number }>('SELECT id, attempts FROM basin.jobs WHERE id = ANY($1)', [created.map((c) => c.id)]);
    const attempts = new Map(rows.map((r) => [r.id, r.attempts]));
    expect(attempts.get(victim.id)).toBe(2); // taken over once its heartbeat went stale
    expect([...attempts.values()].filter((a) => a !== 1)).toEqual([2]);

    const store = storeFromEnv(storage());
    const bytes = async (id: string, f: (typeof resultFiles)[number]) => Buffer.from((await store.getBytes(keys.jobFile(tenant, id, f)))!);
    for (const alpha of alphas) {
      const same = created.filter((c) => c.alpha === alpha);
      const reference = same.find((c) => c.id !== victim.id)!;
      const weights = await bytes(reference.id, 'merged.safetensors');
      expect(weights.length).toBeGreaterThan(100_000);
      for (const c of same) expect(Buffer.compare(await bytes(c.id, 'merged.safetensors'), weights), `${c.id} (alpha ${alpha})`).toBe(0);
      for (const c of same) expect(Buffer.compare(await bytes(c.id, 'report.svg'), await bytes(reference.id, 'report.svg'))).toBe(0);
    }
    await startRunner(); // three again
  }, 600_000);

  it('Postgres SIGKILLed mid-merge and restarted: no job lost; the edge and the runners reconnect', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(((await (await call('/v1/merges', { method: 'POST', json: small() })).json()) as Job).id);
    await waitFor('a merge under way', async () => (await sql.query("SELECT 1 FROM basin.jobs WHERE status = 'running' AND stage <> 'load'")).rowCount! > 0, 120_000, 20);
    process.kill(postgres.pid!, 'SIGKILL');
    await postgres.exited;
    // the edge answers a clean 503 meanwhile
    const down = await call('/v1/merges', { method: 'POST', json: small() });
    expect(down.status).toBe(503);
    expect(((await down.json()) as { code: string }).code).toBe('database_unavailable');
    await new Promise((r) => setTimeout(r, 1500));
    postgres = await startPostgres();
    const after = await call('/v1/merges', { method: 'POST', json: small() });
    expect(after.status).toBe(202);
    ids.push(((await after.json()) as Job).id);
    const ended = await untilEnded(ids, 300_000);
    expect(ended.map((r) => r.status)).toEqual(Array(ids.length).fill('succeeded'));
    for (const id of ids) expect((await getJob(id)).result.weights).toBe(`/v1/merges/${id}/weights`);
  }, 600_000);

  it('S3 unavailable during a create: a clean 503, no orphan job; the same request succeeds once S3 is back', async () => {
    // uploads the edge has not seen yet, so the create must reach S3
    const fresh = [await upload(await readFile(`${EXAMPLE}/seed1.safetensors`)), await upload(await readFile(`${EXAMPLE}/seed2.safetensors`))];
    const request = { ...small(), models: fresh.map((upload) => ({ upload })) };
    const before = await jobCount();
    await s3.stop();
    const down = await call('/v1/merges', { method: 'POST', json: request, headers: { 'idempotency-key': 'during-outage' } });
    expect(down.status).toBe(503);
    expect(((await down.json()) as { code: string }).code).toBe('storage_unavailable');
    expect(await jobCount()).toBe(before);
    s3 = await startS3();
    const up = await call('/v1/merges', { method: 'POST', json: request, headers: { 'idempotency-key': 'during-outage' } });
    expect(up.status).toBe(202);
    expect(await jobCount()).toBe(before + 1);
    const done = await untilEnded([((await up.json()) as Job).id]);
    expect(done[0].status).toBe('succeeded');
  });

  it('cancel racing claim, many rounds: every job ends in one valid state, and a 200 cancel is never undone', async () => {
    const rounds: Array<{ id: string; cancel: number }> = [];
    await Promise.all(Array.from({ length: 16 }, async (_, i) => {
      const id = ((await (await call('/v1/merges', { method: 'POST', json: small() })).json()) as Job).id;
      await new Promise((r) => setTimeout(r, (i * 37) % 600));
      rounds.push({ id, cancel: (await call(`/v1/merges/${id}`, { method: 'DELETE' })).status });
    }));
    await untilEnded(rounds.map((r) => r.id));
    const store = storeFromEnv(storage());
    for (const { id, cancel } of rounds) {
      const job = await getJob(id);
      expect([200, 409]).toContain(cancel);
      if (cancel === 200) {
        expect(job.status, id).toBe('canceled');
        for (const f of resultFiles) expect(await store.head(keys.jobFile(tenant, id, f))).toBeUndefined();
      } else {
        expect(job.status, id).toBe('succeeded');
      }
    }
    // nothing left behind in the queue for them
    const { rows } = await sql.query('SELECT 1 FROM graphile_worker.jobs WHERE key = ANY($1) AND locked_at IS NULL', [rounds.map((r) => r.id)]);
    expect(rows).toHaveLength(0);
  });
});
