import { Job, jobLinks, terminalStatuses, type JobList } from '../contracts/job.ts';
import { keys } from '../storage/keys.ts';
import type { BlobStore } from '../storage/store.ts';
import { newId, sha256Hex } from './crypto.ts';
import { ProblemError } from './problem.ts';

/** Job ids come from URLs: anything not shaped like one is simply not found (never a key error). */
const JOB_ID = /^job_[0-9a-z]{10,40}$/;

/** Job documents in S3. Another tenant's job is indistinguishable from a missing one. */
export class JobStore {
  constructor(private readonly store: BlobStore) {}

  async create(tenant: string, request: unknown, requestHash: string, id = newId('job')): Promise<Job> {
    const now = new Date().toISOString();
    const job: Job = {
      id,
      tenant,
      status: 'queued',
      stage: null,
      progress: 0,
      createdAt: now,
      updatedAt: now,
      heartbeatAt: null,
      error: null,
      result: jobLinks(id, 'queued'),
      requestHash,
      attempts: 0,
      deliveries: [],
    };
    // request first: a status.json never points at a missing request
    await this.store.putJson(keys.jobFile(tenant, id, 'request.json'), request);
    await this.store.putJson(keys.jobFile(tenant, id, 'status.json'), job);
    // the runners' index of unfinished jobs (they remove the marker when the job ends)
    await this.store.putJson(keys.openJob(id), { jobId: id, tenant });
    return job;
  }

  async find(tenant: string, id: string): Promise<Job | undefined> {
    if (!JOB_ID.test(id)) return undefined;
    const raw = await this.store.getJson(keys.jobFile(tenant, id, 'status.json'));
    if (raw === undefined) return undefined;
    const job = Job.parse(raw);
    return job.tenant === tenant ? job : undefined;
  }

  async get(tenant: string, id: string): Promise<Job> {
    const job = await this.find(tenant, id);
    if (!job) throw new ProblemError(404, 'not_found', `no merge ${id}`);
    return job;
  }

  /**
   * One page, oldest first (ids sort by creation time). The cursor is the last id returned: S3
   * servers differ in how MaxKeys counts common prefixes, so pages are cut here, not by S3.
   */
  async list(tenant: string, limit: number, cursor?: string): Promise<JobList> {
    if (cursor !== undefined && !JOB_ID.test(cursor)) {
      throw new ProblemError(422, 'validation_failed', 'invalid cursor', [{ path: 'cursor', message: 'not a cursor from this API' }]);
    }
    const prefix = keys.jobs(tenant);
    // '~' sorts after every file name in a job folder, so the listing resumes at the next job
    const startAfter = cursor ? `${prefix}${cursor}/~` : undefined;
    const ids: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.store.list(prefix, { delimiter: '/', limit: 1000, cursor: token, startAfter });
      ids.push(...page.prefixes.map((p) => p.slice(prefix.length, -1)));
      token = page.cursor;
    } while (token && ids.length <= limit);
    const pageIds = ids.slice(0, limit);
    const items = (await Promise.all(pageIds.map((id) => this.find(tenant, id)))).filter((j): j is Job => j !== undefined);
    return { items, nextCursor: ids.length > limit ? pageIds[pageIds.length - 1] : null };
  }

  /**
   * queued/running -> canceled; canceling twice is fine. The cancel request is its own object, which
   * the runner checks with every heartbeat: a status write racing this one cannot erase it.
   */
  async cancel(tenant: string, id: string): Promise<Job> {
    const job = await this.get(tenant, id);
    if (job.status === 'canceled') return job;
    if (terminalStatuses.includes(job.status)) throw new ProblemError(409, 'job_not_cancelable', `merge ${id} is ${job.status}`);
    await this.store.putJson(keys.jobFile(tenant, id, 'cancel.json'), { at: new Date().toISOString() });
    const next: Job = { ...job, status: 'canceled', stage: null, updatedAt: new Date().toISOString() };
    await this.store.putJson(keys.jobFile(tenant, id, 'status.json'), next);
    return next;
  }

  /** Idempotency-Key -> the job it created (with that request's hash). */
  async idempotent(tenant: string, key: string): Promise<{ jobId: string; requestHash: string } | undefined> {
    return (await this.store.getJson(keys.idempotency(tenant, await sha256Hex(key)))) as { jobId: string; requestHash: string } | undefined;
  }

  /**
   * Binds an Idempotency-Key to a job id before the job is written, so two concurrent requests with
   * one key agree on one id (where the store honours If-None-Match). Returns the binding that won.
   */
  async claim(tenant: string, key: string, jobId: string, requestHash: string): Promise<{ jobId: string; requestHash: string }> {
    const recordKey = keys.idempotency(tenant, await sha256Hex(key));
    if (await this.store.putJsonIfAbsent(recordKey, { jobId, requestHash })) return { jobId, requestHash };
    return ((await this.store.getJson(recordKey)) as { jobId: string; requestHash: string } | undefined) ?? { jobId, requestHash };
  }
}

