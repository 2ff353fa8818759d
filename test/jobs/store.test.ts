import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { poolDatabase } from '../../src/jobs/db.ts';
import type { JobStore } from '../../src/jobs/store.ts';
import { freshTenant } from '../storage/helpers.ts';
import { testDatabase } from './helpers.ts';

const REQ = { models: [{ upload: 'upl_a' }, { upload: 'upl_b' }], webhook: { url: 'http://127.0.0.1:9/hook' } };
let n = 0;
const jobId = () => `job_${Date.now().toString(36).padStart(10, '0')}${(n++).toString(36).padStart(10, 'a')}`;

describe('JobStore on PostgreSQL', () => {
  let t: Awaited<ReturnType<typeof testDatabase>>;
  let jobs: JobStore;
  beforeAll(async () => {
    t = await testDatabase();
    jobs = t.jobs({ staleMs: 300, maxAttempts: 2 });
  });
  afterAll(() => t?.close());

  const create = (tenant: string, extra: { key?: string; hash?: string } = {}) =>
    jobs.create({ tenant, id: jobId(), request: REQ, requestHash: extra.hash ?? 'a'.repeat(64), idempotencyKeyHash: extra.key });

  it('creates a queued job and its queue entry in one transaction', async () => {
    const tenant = freshTenant();
    const out = await create(tenant);
    if ('conflict' in out) throw new Error('conflict');
    expect(out.job).toMatchObject({ status: 'queued', tenant, attempts: 0, progress: 0, deliveries: [] });
    const q = await t.db.query('SELECT key FROM graphile_worker.jobs WHERE key = $1', [out.job.id]);
    expect(q.rowCount).toBe(1);
  });

  it('concurrent requests with one Idempotency-Key, on separate connections, make one job', async () => {
    const tenant = freshTenant();
    // three pools: three connections that really race in the server
    const pools = [0, 1, 2].map(() => poolDatabase(t.url, { max: 2 }));
    try {
      const others = pools.map((db) => new (jobs.constructor as typeof JobStore)(db));
      for (let round = 0; round < 10; round++) {
        const key = `k${round}`.padEnd(64, '0');
        const outs = await Promise.all(others.map((s) => s.create({ tenant, id: jobId(), request: REQ, requestHash: 'b'.repeat(64), idempotencyKeyHash: key })));
        const ids = new Set(outs.map((o) => ('job' in o ? o.job.id : 'conflict')));
        expect(ids.size).toBe(1);
        expect(outs.filter((o) => 'replayed' in o && !o.replayed)).toHaveLength(1);
      }
      const { rows } = await t.db.query('SELECT count(*)::int AS n FROM basin.jobs WHERE tenant = $1', [tenant]);
      expect(rows[0].n).toBe(10);
      const other = await others[0].create({ tenant, id: jobId(), request: REQ, requestHash: 'c'.repeat(64), idempotencyKeyHash: 'k0'.padEnd(64, '0') });
      expect(other).toEqual({ conflict: true });
    } finally {
      await Promise.all(pools.map((p) => p.close()));
    }
  });

  it('lists by keyset, oldest first; an unreadable row is named and skipped, never blocking the page', async () => {
    const tenant = freshTenant();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const out = await create(tenant);
      if ('job' in out) ids.push(out.job.id);
    }
    // a row the API cannot turn into a job (a hand edit, a bug elsewhere): stage over its limit
    await t.db.query('ALTER TABLE basin.jobs DROP CONSTRAINT jobs_stage_check');
    await t.db.query("UPDATE basin.jobs SET stage = repeat('x', 300) WHERE id = $1", [ids[2]]);
    try {
      const seen: string[] = [];
      const bad: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await jobs.list(tenant, 2, cursor);
        seen.push(...page.items.map((j) => j.id));
        bad.push(...(page.unreadable ?? []).map((u) => u.id));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(seen).toEqual(ids.filter((_, i) => i !== 2));
      expect(bad).toEqual([ids[2]]);
      await expect(jobs.find(tenant, ids[2])).rejects.toThrow(/cannot be read: stage/);
      expect((await jobs.find(tenant, ids[3]))!.id).toBe(ids[3]);
    } finally {
      await t.db.query("UPDATE basin.jobs SET stage = NULL WHERE id = $1", [ids[2]]);
      await t.db.query('ALTER TABLE basin.jobs ADD CONSTRAINT jobs_stage_check CHECK (length(stage) <= 100)');
    }
  });

  it('cancel racing claim, many rounds on separate connections: every job ends in one valid state', async () => {
    const tenant = freshTenant();
    const edge = poolDatabase(t.url, { max: 2 });
    const runner = poolDatabase(t.url, { max: 2 });
    try {
      const edgeJobs = new (jobs.constructor as typeof JobStore)(edge, jobs.policy);
      const runnerJobs = new (jobs.constructor as typeof JobStore)(runner, jobs.policy);
      const outcomes = new Map<string, number>();
      for (let round = 0; round < 60; round++) {
        const out = await create(tenant);
        if (!('job' in out)) throw new Error('no job');
        const id = out.job.id;
        const lease = `r${round}`;
        const [cancel, claim] = await Promise.all([
          new Promise((r) => setTimeout(r, round % 3)).then(() => edgeJobs.cancel(tenant, id)),
          new Promise((r) => setTimeout(r, (round >> 1) % 3)).then(() => runnerJobs.apply(id, { type: 'claim', lease })),
        ]);
        // the runner then finishes if it holds the lease
        const done = claim!.transition.ok ? await runnerJobs.apply(id, { type: 'succeed', lease }) : undefined;
        const final = (await jobs.find(tenant, id))!;
        const key = `${'job' in cancel ? 'cancel ok' : cancel.refused}/${claim!.transition.ok ? 'claimed' : claim!.transition.refusal}/${done ? (done.transition.ok ? 'succeeded' : done.transition.refusal) : '-'} -> ${final.status}`;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        expect(['canceled', 'succeeded']).toContain(final.status);
        if ('job' in cancel) expect(final.status).toBe('canceled'); // a cancel that answered 200 is never undone
        else expect(final.status).toBe('succeeded');
        if (!claim!.transition.ok) expect(final.attempts).toBe(0); // a canceled job never started
      }
      // both orders happened
      expect([...outcomes.keys()].some((k) => k.startsWith('cancel ok/canceled'))).toBe(true);
    } finally {
      await edge.close();
      await runner.close();
    }
  });

  it('heartbeats hold the lease; a stale one lets another runner take over; attempts run out into failed', async () => {
    const tenant = freshTenant();
    const out = await create(tenant);
    if (!('job' in out)) throw new Error('no job');
    const id = out.job.id;
    expect((await jobs.apply(id, { type: 'claim', lease: 'A' }))!.transition.ok).toBe(true);
    expect((await jobs.apply(id, { type: 'claim', lease: 'B' }))!.transition).toEqual({ ok: false, refusal: 'leased' });
    expect((await jobs.apply(id, { type: 'heartbeat', lease: 'A', stage: 'align', progress: 0.2 }))!.transition.ok).toBe(true);
    await new Promise((r) => setTimeout(r, 400)); // A dies: no heartbeat for longer than staleMs
    expect(await jobs.sweep(0.2 * 1000)).toContain(id); // offered to the queue again
    const taken = await jobs.apply(id, { type: 'claim', lease: 'B' });
    expect(taken!.state).toMatchObject({ status: 'running', attempts: 2, lease: 'B' });
    expect((await jobs.apply(id, { type: 'succeed', lease: 'A' }))!.transition).toEqual({ ok: false, refusal: 'lease_lost' }); // A's late result is fenced off
    await new Promise((r) => setTimeout(r, 400)); // B dies too; attempts (2) are used up
    const last = await jobs.apply(id, { type: 'claim', lease: 'C' });
    expect(last!.state).toMatchObject({ status: 'failed', error: { code: 'runner_lost' } });
    const job = (await jobs.find(tenant, id))!;
    expect(job.error!.message).toMatch(/^gave up after 2 attempts/);
    // ending failed owes its webhook: the outbox row committed with the status
    const due = await jobs.claimWebhooks(10, 60_000);
    expect(due.filter((d) => d.jobId === id)).toEqual([expect.objectContaining({ event: 'merge.failed', messageId: `msg_${id}_failed`, attempt: 1 })]);
  });

  it('records group members once each, in run-id order', async () => {
    const tenant = freshTenant();
    const g = { id: 'nightly', size: 2 };
    await jobs.recordGroupMember(tenant, g, 'run-b', { upload: 'upl_b' });
    await jobs.recordGroupMember(tenant, g, 'run-b', { upload: 'upl_other' });
    const done = await jobs.recordGroupMember(tenant, g, 'run-a', { upload: 'upl_a' });
    expect(done).toEqual({ size: 2, jobId: null, members: [{ run: 'run-a', checkpoint: { upload: 'upl_a' } }, { run: 'run-b', checkpoint: { upload: 'upl_b' } }] });
  });
});
