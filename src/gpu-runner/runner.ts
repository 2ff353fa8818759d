import { Hono } from 'hono';
import { poolDatabase } from '../jobs/db.ts';
import { consumeQueue, migrateDatabase, type QueueConsumer } from '../jobs/queue.ts';
import { JobStore } from '../jobs/store.ts';
import type { ChildMessage } from './child.ts';
import type { RunnerConfig } from './config.ts';
import { forkChild, runJob, type LifecycleDeps, type RunnerLog } from './lifecycle.ts';
import { WebhookSender, type WebhookSenderOptions } from './webhooks.ts';
import type { EngineInfo } from '../pipeline/runtime/engine.ts';

export interface BackendStatus {
  /** the tfjs backend */
  name: string | null;
  tried: { name: string; ok: boolean; reason?: string }[];
  /** the forward engine (ONNX Runtime, or tfjs as the fallback) */
  engine?: EngineInfo;
  engineTried?: { name: string; ok: boolean; reason?: string }[];
  error?: string;
}

/**
 * The runner: takes merge jobs from the queue in PostgreSQL (`concurrency` at a time; any number of
 * runners share one database), runs each in its own process (lifecycle.ts), offers again the jobs
 * of runners that died (the sweep), and sends the webhooks the outbox owes (webhooks.ts).
 */
export function createRunner(config: RunnerConfig, options: { webhooks?: WebhookSenderOptions; log?: RunnerLog } = {}) {
  const shutdown = new AbortController();
  const db = poolDatabase(config.databaseUrl, { max: config.concurrency + 6, name: config.runnerId });
  const jobs = new JobStore(db, { maxAttempts: config.maxAttempts, staleMs: config.staleMs });
  const webhooks = new WebhookSender(jobs, config.webhooks, options.webhooks);
  const log = options.log ?? ((entry) => console.log(JSON.stringify(entry)));
  const deps: LifecycleDeps = { config, jobs, shutdown: shutdown.signal, log };
  /** the latest jobs' outcomes, for logs and tests (bounded: a runner lives long) */
  const outcomes: { jobId: string; outcome: string; error?: string }[] = [];
  let running = 0;
  const work = async (jobId: string) => {
    running++;
    try {
      const { outcome, error } = await runJob(deps, jobId);
      outcomes.push({ jobId, outcome, ...(error ? { error: error.code } : {}) });
      if (outcomes.length > 100) outcomes.shift();
      log({ runner: config.runnerId, job: jobId, outcome, ...(error ? { error: error.code, message: error.message.slice(0, 500) } : {}) });
    } finally {
      running--;
    }
  };
  const backend: BackendStatus = { name: null, tried: [] };

  /** Which backend jobs will get, found by a child as jobs do (the runner itself loads no tfjs). */
  const probe = () =>
    new Promise<void>((done) => {
      const child = forkChild(['probe'], config.storage);
      child.on('message', (m: ChildMessage) => {
        if (m.type === 'backend') Object.assign(backend, { name: m.name, tried: m.tried, engine: m.engine, engineTried: m.engineTried });
      });
      child.once('exit', (code) => {
        if (!backend.name) backend.error = `backend probe exited with code ${code}`;
        done();
      });
    });

  let sweeping: Promise<void> | undefined;
  /** Jobs whose runner died, and queued jobs the queue lost, offered again. One pass at a time. */
  const sweep = () =>
    (sweeping ??= jobs.sweep(config.staleMs).then(
      (ids) => {
        if (ids.length) log({ runner: config.runnerId, offeredAgain: ids });
      },
      (err: unknown) => console.warn(`basin runner: sweep failed: ${(err as Error).message}`),
    ).finally(() => {
      sweeping = undefined;
    }));

  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok', runner: config.runnerId, backend, running, concurrency: config.concurrency }));

  let queue: QueueConsumer | undefined;
  let timer: NodeJS.Timeout | undefined;
  return {
    app,
    jobs,
    webhooks,
    backend,
    outcomes,
    sweep,
    /** Migrate (if first), probe the backend, and start taking jobs, sweeping and sending webhooks. */
    async start(): Promise<void> {
      await migrateDatabase(db.pool);
      void probe();
      queue = await consumeQueue({ pool: db.pool, concurrency: config.concurrency, pollMs: config.pollMs * 2, work });
      webhooks.start(config.pollMs);
      void sweep();
      timer = setInterval(() => void sweep(), Math.max(250, config.staleMs / 2));
      timer.unref();
    },
    /** Stop taking jobs; running ones go back to `queued` (their process is killed) for another runner. */
    async stop(): Promise<void> {
      clearInterval(timer);
      shutdown.abort();
      await queue?.stop();
      await webhooks.stop();
      await sweeping;
      await db.close();
    },
  };
}
export type Runner = ReturnType<typeof createRunner>;
