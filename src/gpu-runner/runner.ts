import { Hono } from 'hono';
import { DispatchMessage } from '../contracts/job.ts';
import type { RunnerConfig } from './config.ts';
import { forkChild, runJob, type LifecycleDeps } from './lifecycle.ts';
import { JobQueue } from './queue.ts';
import { scanOpenJobs } from './recovery.ts';
import { verifyDispatch } from './verify.ts';
import { WebhookSender, type WebhookSenderOptions } from './webhooks.ts';
import type { ChildMessage } from './child.ts';
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
 * The runner: a signed dispatch endpoint and a periodic S3 scan feed one bounded queue; each job
 * runs in its own process (lifecycle.ts); webhooks go out on their own schedule (webhooks.ts).
 */
export function createRunner(config: RunnerConfig, options: { webhooks?: WebhookSenderOptions } = {}) {
  const shutdown = new AbortController();
  const webhooks = new WebhookSender(config.store, config.webhooks, options.webhooks);
  const deps: LifecycleDeps = { config, webhooks, shutdown: shutdown.signal };
  /** the latest jobs' outcomes, for logs and tests (bounded: a runner lives long) */
  const outcomes: { jobId: string; outcome: string }[] = [];
  const queue = new JobQueue(config.concurrency, config.queueLimit, async (msg) => {
    const outcome = await runJob(deps, msg);
    outcomes.push({ jobId: msg.jobId, outcome });
    if (outcomes.length > 100) outcomes.shift();
    console.log(JSON.stringify({ runner: config.runnerId, job: msg.jobId, outcome }));
  });
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

  let scanning: Promise<void> | undefined;
  /** Queued and orphaned jobs from S3, and owed webhooks. One pass at a time. */
  const scan = () =>
    (scanning ??= (async () => {
      try {
        const found = await scanOpenJobs(config.store, config.staleMs);
        for (const msg of found.take) if (queue.offer(msg) === 'full') break;
        await webhooks.resume();
      } catch (err) {
        console.warn(`basin runner: scan failed: ${(err as Error).message}`);
      }
    })().finally(() => {
      scanning = undefined;
    }));

  const app = new Hono();
  const problem = (status: 401 | 400 | 503, code: string, detail: string) =>
    new Response(JSON.stringify({ type: 'about:blank', title: code, status, code, detail }), { status, headers: { 'content-type': 'application/problem+json' } });
  app.post('/v1/dispatch', async (c) => {
    const body = await c.req.text();
    const bad = verifyDispatch(config.secret, c.req.raw.headers, body);
    if (bad) return problem(401, 'unauthorized', `dispatch signature: ${bad}`);
    let msg: DispatchMessage;
    try {
      msg = DispatchMessage.parse(JSON.parse(body));
    } catch {
      return problem(400, 'bad_request', 'expected {"jobId", "tenant"}');
    }
    const offer = queue.offer(msg);
    if (offer === 'full') return problem(503, 'runner_busy', 'the queue is full; the job stays queued in S3 and is offered again');
    return c.json({ accepted: true, jobId: msg.jobId, duplicate: offer === 'duplicate' }, 202);
  });
  app.get('/healthz', (c) =>
    c.json({ status: 'ok', runner: config.runnerId, backend, running: queue.running, queued: queue.queued, concurrency: config.concurrency }),
  );

  let timer: NodeJS.Timeout | undefined;
  return {
    app,
    queue,
    webhooks,
    backend,
    outcomes,
    scan,
    /** Probe the backend, take what S3 holds, and keep scanning. */
    async start(): Promise<void> {
      void probe();
      await scan();
      timer = setInterval(() => void scan(), config.scanMs);
      timer.unref();
    },
    /** Stop taking jobs; running ones go back to `queued` (their child is killed) for the next runner. */
    async stop(): Promise<void> {
      clearInterval(timer);
      queue.stop();
      shutdown.abort();
      await queue.idle();
      webhooks.stop();
    },
  };
}
export type Runner = ReturnType<typeof createRunner>;
