import { Logger, run, runMigrations, type Runner as GraphileRunner } from 'graphile-worker';
import type pg from 'pg';
import { migrate } from './migrations.ts';
import { MERGE_TASK } from './store.ts';

/**
 * Dispatch through graphile-worker (Node only; the edge needs none of this: it enqueues with one
 * SQL call, `graphile_worker.add_job`, inside the transaction that creates the job). Why this queue:
 * enqueueing is plain SQL, so the Workers edge needs no queue library and the enqueue commits with
 * the job; LISTEN/NOTIFY wakes an idle runner at once; claims are exclusive (SKIP LOCKED); a job key
 * keeps one queue entry per job. Its locks only expire after 4 hours, so the lease a merge runs
 * under is ours (heartbeats in the job row; the store's `sweep` offers a dead runner's job again).
 */

/** graphile-worker's debug and info lines are noise here; warnings and errors are kept. */
const logger = new Logger((scope) => (level, message) => {
  if (level === 'error' || level === 'warning') console.warn(`basin queue${scope.workerId ? ` ${scope.workerId}` : ''}: ${message}`);
});

/** Brings the queue's schema and ours up to date, one process at a time (an advisory lock). */
export async function migrateDatabase(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await migrate(client, () => runMigrations({ pgPool: pool, logger }));
  } finally {
    client.release();
  }
}

export interface QueueConsumer {
  stop(): Promise<void>;
}

/**
 * Takes merge jobs, `concurrency` at a time, and hands each job id to `work`. `work` resolves when
 * the job needs the queue no more (finished, refused or handed back, see lifecycle.ts); it throws
 * only when the database could not be told, and the entry is then retried by the queue.
 */
export async function consumeQueue(opts: { pool: pg.Pool; concurrency: number; pollMs: number; work: (jobId: string) => Promise<void> }): Promise<QueueConsumer> {
  const runner: GraphileRunner = await run({
    pgPool: opts.pool,
    concurrency: opts.concurrency,
    pollInterval: opts.pollMs,
    noHandleSignals: true,
    logger,
    taskList: {
      [MERGE_TASK]: async (payload) => {
        const jobId = (payload as { jobId?: unknown } | null)?.jobId;
        if (typeof jobId === 'string') await opts.work(jobId);
      },
    },
  });
  return { stop: () => runner.stop() };
}
