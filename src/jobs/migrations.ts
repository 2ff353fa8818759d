import type pg from 'pg';

/**
 * The schema, versioned: each entry runs once, in order, in its own transaction, and is recorded in
 * basin.schema_migrations. Never edit an applied entry; add the next one.
 */
export const migrations: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'jobs, idempotency keys, training-run groups, webhook outbox',
    sql: `
CREATE TABLE basin.jobs (
  id text PRIMARY KEY CHECK (id ~ '^job_[0-9a-z]{10,40}$'),
  tenant text NOT NULL,
  status text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
  stage text CHECK (length(stage) <= 100),
  progress double precision NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz,
  error jsonb,
  last_error jsonb,
  request jsonb NOT NULL,
  request_hash text NOT NULL,
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  lease text,
  -- when the queue was last handed this job (see queue.ts: a job not taken is offered again)
  offered_at timestamptz NOT NULL DEFAULT now()
);
-- listing: one tenant's jobs in id (= creation) order, by keyset
CREATE INDEX jobs_tenant_id ON basin.jobs (tenant, id);
-- the sweep: unfinished jobs only
CREATE INDEX jobs_open ON basin.jobs (offered_at) WHERE status IN ('queued', 'running');

CREATE TABLE basin.idempotency_keys (
  tenant text NOT NULL,
  key_hash text NOT NULL,
  request_hash text NOT NULL,
  job_id text NOT NULL REFERENCES basin.jobs (id) DEFERRABLE INITIALLY DEFERRED,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, key_hash)
);

CREATE TABLE basin.groups (
  tenant text NOT NULL,
  id text NOT NULL,
  size integer NOT NULL,
  job_id text REFERENCES basin.jobs (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, id)
);
CREATE TABLE basin.group_members (
  tenant text NOT NULL,
  group_id text NOT NULL,
  run text NOT NULL,
  checkpoint jsonb NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, group_id, run),
  FOREIGN KEY (tenant, group_id) REFERENCES basin.groups (tenant, id)
);

-- the transactional outbox: written in the transaction that ends the job, sent after it commits
CREATE TABLE basin.webhook_outbox (
  job_id text NOT NULL REFERENCES basin.jobs (id),
  event text NOT NULL CHECK (event IN ('merge.succeeded', 'merge.failed')),
  tenant text NOT NULL,
  url text NOT NULL,
  message_id text NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'gave_up')),
  due_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, event)
);
CREATE INDEX webhook_outbox_due ON basin.webhook_outbox (due_at) WHERE state = 'pending';
CREATE TABLE basin.webhook_deliveries (
  job_id text NOT NULL REFERENCES basin.jobs (id),
  seq bigserial,
  event text NOT NULL,
  message_id text NOT NULL,
  attempt integer NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  status integer,
  error text,
  next_attempt_at timestamptz,
  PRIMARY KEY (job_id, seq)
);

-- uploads the edge has seen in S3 (presigned PUTs expire, so a present upload stays present)
CREATE TABLE basin.verified_uploads (
  tenant text NOT NULL,
  id text NOT NULL,
  size bigint NOT NULL,
  PRIMARY KEY (tenant, id)
);
`,
  },
];

/** Any fixed number: the advisory lock every migrating process takes, so one migrates at a time. */
const MIGRATION_LOCK = 7_251_903_117;

/**
 * Applies what is missing, under an advisory lock held on one connection: processes starting at
 * once (edge, runners) wait for the first, then find nothing to do. `before` runs under the same
 * lock first (the queue library's own schema).
 */
export async function migrate(client: pg.ClientBase, before?: () => Promise<void>): Promise<number[]> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
  try {
    await before?.();
    await client.query('CREATE SCHEMA IF NOT EXISTS basin');
    await client.query('CREATE TABLE IF NOT EXISTS basin.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    const { rows } = await client.query<{ version: number }>('SELECT version FROM basin.schema_migrations');
    const done = new Set(rows.map((r) => r.version));
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO basin.schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw new Error(`migration ${m.version} (${m.name}) failed: ${(err as Error).message}`);
      }
      applied.push(m.version);
    }
    return applied;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
  }
}
