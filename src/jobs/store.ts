import { Job, jobLinks, type JobList, type WebhookDelivery } from '../contracts/job.ts';
import type { Database, Queryable } from './db.ts';
import { initialState, transition, type JobEvent, type JobState, type Policy, type Transition } from './machine.ts';

/** graphile-worker's task name for "run this merge"; the payload is `{jobId}` (queue.ts runs it). */
export const MERGE_TASK = 'basin_merge';

export const defaultPolicy: Policy = { maxAttempts: 3, staleMs: 60_000 };

/** A job row that does not make a valid job document: named, and kept out of everyone's way. */
export class UnreadableJob extends Error {
  constructor(readonly jobId: string, reason: string) {
    super(`job ${jobId} cannot be read: ${reason}`);
  }
}

const iso = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** The public job document, built in one query: the row and its latest 100 delivery attempts. */
const JOB_SELECT = `
SELECT j.id, j.tenant, j.status, j.stage, j.progress, ${iso('j.created_at')} AS created_at, ${iso('j.updated_at')} AS updated_at,
  ${iso('j.heartbeat_at')} AS heartbeat_at, j.error, j.request_hash, j.attempts,
  COALESCE((
    SELECT json_agg(json_build_object('event', d.event, 'id', d.message_id, 'attempt', d.attempt, 'at', ${iso('d.at')},
      'status', d.status, 'error', d.error, 'nextAttemptAt', ${iso('d.next_attempt_at')}) ORDER BY d.seq)
    FROM (SELECT * FROM basin.webhook_deliveries WHERE job_id = j.id ORDER BY seq DESC LIMIT 100) d
  ), '[]'::json) AS deliveries
FROM basin.jobs j`;

interface JobRow {
  id: string; tenant: string; status: string; stage: string | null; progress: number; created_at: string; updated_at: string;
  heartbeat_at: string | null; error: unknown; request_hash: string; attempts: number; deliveries: unknown;
}

function toJob(row: JobRow): Job {
  const parsed = Job.safeParse({
    id: row.id, tenant: row.tenant, status: row.status, stage: row.stage, progress: row.progress,
    createdAt: row.created_at, updatedAt: row.updated_at, heartbeatAt: row.heartbeat_at, error: row.error ?? null,
    result: jobLinks(row.id, row.status as Job['status']), requestHash: row.request_hash, attempts: row.attempts,
    deliveries: row.deliveries,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UnreadableJob(row.id, `${issue?.path.join('.') || 'row'}: ${issue?.message}`);
  }
  return parsed.data;
}

/** The row's state-machine fields, and the database's clock (one clock for every runner). */
interface StateRow {
  tenant: string; status: JobState['status']; attempts: number; lease: string | null; heartbeat_ms: number | null;
  stage: string | null; progress: number; error: JobState['error']; last_error: JobState['lastError']; now_ms: number; webhook_url: string | null;
}
const STATE_SELECT = `SELECT tenant, status, attempts, lease, (extract(epoch FROM heartbeat_at) * 1000)::float8 AS heartbeat_ms, stage, progress,
  error, last_error, (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now_ms, request #>> '{webhook,url}' AS webhook_url
FROM basin.jobs WHERE id = $1`;

const toState = (r: StateRow): JobState => ({
  status: r.status, attempts: r.attempts, lease: r.lease, heartbeatAt: r.heartbeat_ms, stage: r.stage, progress: r.progress,
  error: r.error, lastError: r.last_error,
});

/** Hands the job to the queue (again): one graphile-worker job per basin job, keyed by its id. */
const OFFER = `SELECT graphile_worker.add_job($2, json_build_object('jobId', $1::text), run_at := $3::timestamptz, job_key := $1::text, max_attempts := 25)`;

/** A runner's event; the store stamps it with the database's clock. */
export type RunnerEvent = Exclude<JobEvent, { type: 'cancel' }> extends infer E ? (E extends unknown ? Omit<E, 'now'> : never) : never;

export type CreateResult = { job: Job; replayed: boolean } | { conflict: true };

export interface RunnerView {
  transition: Transition;
  tenant: string;
  /** the state as written (when the transition was allowed) */
  state?: JobState;
}

/**
 * The one owner of job state (DESIGN 1: jobs/). Every read and write of jobs, idempotency keys,
 * training-run groups and the webhook outbox goes through here; every status change through the
 * state machine, in a transaction that holds the job's row lock.
 */
export class JobStore {
  readonly policy: Policy;
  constructor(readonly db: Database, policy: Partial<Policy> = {}) {
    this.policy = { ...defaultPolicy, ...policy };
  }

  /** The job an Idempotency-Key (its SHA-256) was bound to, and that request's hash. */
  async idempotencyBinding(tenant: string, keyHash: string): Promise<{ jobId: string; requestHash: string } | undefined> {
    const { rows } = await this.db.query<{ job_id: string; request_hash: string }>(
      'SELECT job_id, request_hash FROM basin.idempotency_keys WHERE tenant = $1 AND key_hash = $2', [tenant, keyHash], 'basin_binding');
    return rows[0] && { jobId: rows[0].job_id, requestHash: rows[0].request_hash };
  }

  /**
   * One statement, so one transaction: the key's binding (its unique constraint decides between
   * concurrent requests: a second insert waits for the first to commit, then does nothing), the
   * `queued` row with its request, the queue's entry and the group's link. Either all of it exists
   * afterwards or none of it. A key already bound answers that job (or a conflict).
   */
  async create(input: { tenant: string; id: string; request: unknown; requestHash: string; idempotencyKeyHash?: string; group?: string }): Promise<CreateResult> {
    const state = initialState();
    const { rows } = await this.db.query<JobRow & { offered: number }>(
      `WITH k AS (
         INSERT INTO basin.idempotency_keys (tenant, key_hash, request_hash, job_id)
         SELECT $2, $6::text, $5, $1 WHERE $6::text IS NOT NULL
         ON CONFLICT DO NOTHING RETURNING job_id
       ), j AS (
         INSERT INTO basin.jobs (id, tenant, status, request, request_hash, attempts)
         SELECT $1, $2, $8, $3::jsonb, $5, $9 WHERE $6::text IS NULL OR EXISTS (SELECT 1 FROM k)
         RETURNING *
       ), q AS (
         SELECT graphile_worker.add_job($4, json_build_object('jobId', j.id), job_key := j.id, max_attempts := 25) FROM j
       ), g AS (
         UPDATE basin.groups SET job_id = j.id FROM j WHERE groups.tenant = j.tenant AND groups.id = $7::text AND groups.job_id IS NULL RETURNING 1
       )
       SELECT j.id, j.tenant, j.status, j.stage, j.progress, ${iso('j.created_at')} AS created_at, ${iso('j.updated_at')} AS updated_at,
         ${iso('j.heartbeat_at')} AS heartbeat_at, j.error, j.request_hash, j.attempts, '[]'::json AS deliveries,
         (SELECT count(*) FROM q) AS offered -- a plain SELECT in WITH runs only where it is read
       FROM j`,
      [input.id, input.tenant, JSON.stringify(input.request), MERGE_TASK, input.requestHash, input.idempotencyKeyHash ?? null, input.group ?? null, state.status, state.attempts],
      'basin_create');
    if (rows[0]) return { job: toJob(rows[0]), replayed: false };
    // the key was bound first by another request (which has committed: the insert waited for it)
    const binding = (await this.idempotencyBinding(input.tenant, input.idempotencyKeyHash!))!;
    if (binding.requestHash !== input.requestHash) return { conflict: true };
    return { job: (await this.find(input.tenant, binding.jobId))!, replayed: true };
  }

  /** The tenant's job; undefined for a missing one or another tenant's. Throws UnreadableJob. */
  async find(tenant: string, id: string): Promise<Job | undefined> {
    const { rows } = await this.db.query<JobRow>(`${JOB_SELECT} WHERE j.id = $1 AND j.tenant = $2`, [id, tenant], 'basin_find');
    return rows[0] && toJob(rows[0]);
  }

  /**
   * One page, oldest first, by keyset on (tenant, id): ids sort by creation time. A row that does
   * not read is named in `unreadable` and skipped; the page and the cursor go on past it.
   */
  async list(tenant: string, limit: number, cursor?: string): Promise<JobList> {
    const { rows } = await this.db.query<JobRow>(
      `${JOB_SELECT} WHERE j.tenant = $1 AND ($2::text IS NULL OR j.id > $2) ORDER BY j.id LIMIT $3`, [tenant, cursor ?? null, limit + 1], 'basin_list');
    const page = rows.slice(0, limit);
    const items: Job[] = [];
    const unreadable: Array<{ id: string; error: string }> = [];
    for (const row of page) {
      try {
        items.push(toJob(row));
      } catch (err) {
        if (!(err instanceof UnreadableJob)) throw err;
        unreadable.push({ id: row.id, error: err.message });
      }
    }
    return { items, nextCursor: rows.length > limit ? page[page.length - 1].id : null, ...(unreadable.length ? { unreadable } : {}) };
  }

  /** The stored request of a job (the runner hands it to the merge process). */
  async request(id: string): Promise<unknown> {
    const { rows } = await this.db.query<{ request: unknown }>('SELECT request FROM basin.jobs WHERE id = $1', [id]);
    return rows[0]?.request;
  }

  /** Cancel: the state machine decides; the queue's entry goes with it (a running job stops at its next heartbeat). */
  async cancel(tenant: string, id: string): Promise<{ job: Job } | { refused: 'not_found' | 'not_cancelable' }> {
    const result = await this.db.transaction(async (tx) => {
      const cur = await this.lock(tx, id);
      if (!cur || cur.tenant !== tenant) return 'not_found' as const;
      const t = transition(toState(cur), { type: 'cancel', now: cur.now_ms }, this.policy);
      if (!t.ok) return 'not_cancelable' as const;
      await this.write(tx, id, t.state);
      await tx.query('SELECT graphile_worker.remove_job($1)', [id]);
      return 'ok' as const;
    });
    if (result !== 'ok') return { refused: result };
    return { job: (await this.find(tenant, id))! };
  }

  /**
   * A runner's event (claim, heartbeat, release, succeed, fail) under the job's row lock, with what
   * follows from it in the same transaction: a released job goes back to the queue; a job that ends
   * succeeded or failed owes its webhook (the outbox row commits with the status, never before).
   */
  async apply(id: string, event: RunnerEvent, retryDelayMs = 0): Promise<RunnerView | undefined> {
    return this.db.transaction(async (tx) => {
      const cur = await this.lock(tx, id);
      if (!cur) return undefined;
      const ev = { ...event, now: cur.now_ms } as JobEvent;
      const t = transition(toState(cur), ev, this.policy);
      if (!t.ok) return { transition: t, tenant: cur.tenant };
      await this.write(tx, id, t.state);
      const from = cur.status;
      const to = t.state.status;
      if (to === 'queued' && from !== 'queued') {
        // back to the queue, due after the retry delay (the sweep leaves it alone until then)
        const due = new Date(cur.now_ms + retryDelayMs).toISOString();
        await tx.query(OFFER, [id, MERGE_TASK, due]);
        await tx.query('UPDATE basin.jobs SET offered_at = $2 WHERE id = $1', [id, due]);
      }
      if ((to === 'succeeded' || to === 'failed') && from !== to && cur.webhook_url) {
        const event = to === 'succeeded' ? 'merge.succeeded' : 'merge.failed';
        await tx.query(
          `INSERT INTO basin.webhook_outbox (job_id, event, tenant, url, message_id) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
          [id, event, cur.tenant, cur.webhook_url, `msg_${id}_${to}`]);
      }
      return { transition: t, tenant: cur.tenant, state: t.state };
    });
  }

  /**
   * Offers again what the queue may have lost: queued jobs not taken since `staleMs` (a runner died
   * between taking one and claiming it) and running jobs whose heartbeat is that old (their runner
   * died). Re-offering is harmless: the claim decides, under the row lock. Returns the job ids.
   */
  async sweep(staleMs: number, limit = 100): Promise<string[]> {
    const { rows } = await this.db.query<{ id: string }>(
      `WITH due AS (
         SELECT id, created_at FROM basin.jobs
         WHERE status IN ('queued', 'running') AND offered_at < now() - make_interval(secs => $1)
           AND (status = 'queued' OR heartbeat_at IS NULL OR heartbeat_at < now() - make_interval(secs => $1))
         ORDER BY offered_at LIMIT $2 FOR UPDATE SKIP LOCKED
       ), offered AS (
         UPDATE basin.jobs j SET offered_at = now() FROM due WHERE j.id = due.id RETURNING j.id, due.created_at
       )
       SELECT id, graphile_worker.add_job($3, json_build_object('jobId', id), run_at := created_at, job_key := id, max_attempts := 25) IS NOT NULL AS offered FROM offered`,
      [staleMs / 1000, limit, MERGE_TASK]);
    return rows.map((r) => r.id);
  }

  private async lock(tx: Queryable, id: string): Promise<StateRow | undefined> {
    const { rows } = await tx.query<StateRow>(`${STATE_SELECT} FOR UPDATE`, [id], 'basin_lock');
    return rows[0];
  }

  private async write(tx: Queryable, id: string, s: JobState): Promise<void> {
    await tx.query(
      `UPDATE basin.jobs SET status = $2, attempts = $3, lease = $4, heartbeat_at = to_timestamp($5::float8 / 1000), stage = $6,
         progress = $7, error = $8, last_error = $9, updated_at = now() WHERE id = $1`,
      [id, s.status, s.attempts, s.lease, s.heartbeatAt, s.stage, s.progress, s.error && JSON.stringify(s.error), s.lastError && JSON.stringify(s.lastError)]);
  }

  // --- training-run groups ---

  /**
   * Records a finished run (a redelivered run changes nothing) and answers the group's members in
   * run-id order. The group's row lock serialises concurrent deliveries of one group.
   */
  async recordGroupMember(tenant: string, group: { id: string; size: number }, run: string, checkpoint: unknown): Promise<{ members: Array<{ run: string; checkpoint: unknown }>; size: number; jobId: string | null }> {
    return this.db.transaction(async (tx) => {
      await tx.query('INSERT INTO basin.groups (tenant, id, size) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [tenant, group.id, group.size]);
      const g = await tx.query<{ size: number; job_id: string | null }>('SELECT size, job_id FROM basin.groups WHERE tenant = $1 AND id = $2 FOR UPDATE', [tenant, group.id]);
      await tx.query('INSERT INTO basin.group_members (tenant, group_id, run, checkpoint) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
        [tenant, group.id, run, JSON.stringify(checkpoint)]);
      const m = await tx.query<{ run: string; checkpoint: unknown }>(
        'SELECT run, checkpoint FROM basin.group_members WHERE tenant = $1 AND group_id = $2 ORDER BY run COLLATE "C"', [tenant, group.id]);
      return { members: m.rows, size: g.rows[0].size, jobId: g.rows[0].job_id };
    });
  }

  // --- uploads seen in S3 ---

  async verifiedUploads(tenant: string, ids: string[]): Promise<Map<string, number>> {
    if (ids.length === 0) return new Map();
    const { rows } = await this.db.query<{ id: string; size: number }>('SELECT id, size FROM basin.verified_uploads WHERE tenant = $1 AND id = ANY($2)', [tenant, ids], 'basin_uploads');
    return new Map(rows.map((r) => [r.id, r.size]));
  }

  async rememberUpload(tenant: string, id: string, size: number): Promise<void> {
    await this.db.query('INSERT INTO basin.verified_uploads (tenant, id, size) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [tenant, id, size]);
  }

  // --- the webhook outbox ---

  /**
   * Takes up to `limit` due webhooks for `leaseMs` (pushed forward, so no other sender takes them
   * meanwhile; a sender that dies lets them come due again). Each comes with its attempt number.
   */
  async claimWebhooks(limit: number, leaseMs: number): Promise<OutboxEntry[]> {
    const { rows } = await this.db.query<OutboxEntry>(
      `UPDATE basin.webhook_outbox o SET attempts = o.attempts + 1, due_at = now() + make_interval(secs => $2)
       FROM (SELECT job_id, event FROM basin.webhook_outbox WHERE state = 'pending' AND due_at <= now()
             ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED) due
       WHERE o.job_id = due.job_id AND o.event = due.event
       RETURNING o.job_id AS "jobId", o.tenant, o.event, o.url, o.message_id AS "messageId", o.attempts AS attempt`,
      [limit, leaseMs / 1000]);
    return rows;
  }

  /** The attempt's outcome, logged on the job; `nextAttemptAt` null ends the entry (delivered or given up). */
  async recordWebhookAttempt(entry: OutboxEntry, result: { status: number | null; error: string | null; nextAttemptAt: number | null; delivered: boolean }): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO basin.webhook_deliveries (job_id, event, message_id, attempt, status, error, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7::float8 / 1000))`,
        [entry.jobId, entry.event, entry.messageId, entry.attempt, result.status, result.error?.slice(0, 1000) ?? null, result.nextAttemptAt]);
      await tx.query(
        `UPDATE basin.webhook_outbox SET state = $3, due_at = COALESCE(to_timestamp($4::float8 / 1000), due_at) WHERE job_id = $1 AND event = $2`,
        [entry.jobId, entry.event, result.delivered ? 'delivered' : result.nextAttemptAt === null ? 'gave_up' : 'pending', result.nextAttemptAt]);
    });
  }
}

export interface OutboxEntry {
  jobId: string;
  tenant: string;
  event: WebhookDelivery['event'];
  url: string;
  /** the `webhook-id`: one per event, the same on every retry */
  messageId: string;
  attempt: number;
}
