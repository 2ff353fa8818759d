/**
 * One job in its own process, forked by the runner. The merge is synchronous CPU/GPU work for
 * minutes: in a child it cannot stall the runner's heartbeats, queue or webhooks; a
 * cancel is a kill; and tfjs memory (wasm's never shrinks) is returned to the system after each job.
 *
 *   child.ts run TENANT JOB_ID   <- `request` (the stored request) -> progress messages, then `done` or `failed`
 *   child.ts probe               -> `backend` (which tfjs backend and forward engine this host would use, for /healthz)
 *
 * ONNX Runtime runs inside the child too: its thread pool (BASIN_THREADS, default the machine's
 * cores) sleeps between passes rather than spinning, and its memory arena goes with the process.
 */
import { initBackend } from '../pipeline/runtime/backend.ts';
import type { EngineInfo } from '../pipeline/runtime/engine.ts';
import { createEngine } from '../pipeline/runtime/engines.ts';
import { nodeHost } from '../pipeline/runtime/nodeHost.ts';
import { allowedBucketsFromEnv, storeFromEnv } from '../storage/env.ts';
import { nodeOutbound } from '../storage/outbound/node.ts';
import { outboundPolicyFromEnv } from '../storage/outbound/policy.ts';
import { executeJob, type JobStage } from './execute.ts';
import { jobError } from './failure.ts';

/** What the runner sends: the job's request, which lives in the database the child does not reach. */
export type ParentMessage = { type: 'request'; request: unknown };

export type ChildMessage =
  | { type: 'progress'; stage: JobStage; fraction: number }
  | { type: 'done'; backend: string }
  | { type: 'failed'; code: string; message: string }
  | { type: 'backend'; name: string; tried: { name: string; ok: boolean; reason?: string }[]; engine: EngineInfo; engineTried: { name: string; ok: boolean; reason?: string }[] };

const send = (m: ChildMessage) => new Promise<void>((ok) => (process.send ? process.send(m, undefined, undefined, () => ok()) : ok()));

/**
 * The engine checks its signal at every batch. The merge is synchronous for long stretches (tfjs
 * passes, weight matching: no IPC disconnect event, no timer runs then), so that check is where the child looks whether the runner
 * still exists: a runner killed with SIGKILL must not leave an orphan merging and writing.
 */
let finished = false;
function orphanGuard(): AbortSignal {
  const parent = process.ppid;
  const signal = new AbortController().signal;
  const own = signal.throwIfAborted.bind(signal);
  let last = 0;
  Object.defineProperty(signal, 'throwIfAborted', {
    value: () => {
      const t = performance.now();
      if (t - last > 200) {
        last = t;
        try {
          process.kill(parent, 0);
        } catch {
          process.exit(70);
        }
      }
      own();
    },
  });
  process.on('disconnect', () => {
    if (!finished) process.exit(70);
  });
  return signal;
}

async function main(argv: string[]): Promise<void> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const [command, tenant, jobId] = argv;
  if (command === 'probe') {
    const info = await initBackend({ hasGpuDevice: nodeHost.hasGpuDevice });
    // the forward engine as jobs choose it (compute.batchSize only matters to the tfjs fallback)
    const choice = await createEngine({ threads: nodeHost.threads(), batchSize: 500 });
    await send({ type: 'backend', name: info.name, tried: info.tried, engine: choice.engine.info, engineTried: choice.tried });
    return;
  }
  if (command !== 'run' || !tenant || !jobId) throw new Error('usage: child.ts run TENANT JOB_ID | probe');
  const signal = orphanGuard();
  const request = await new Promise<unknown>((ok) => process.once('message', (m: ParentMessage) => ok(m.request)));
  let lastSent = 0;
  let lastStage = '';
  try {
    const report = await executeJob({
      request,
      store: storeFromEnv(process.env),
      allowedBuckets: allowedBucketsFromEnv(process.env),
      outbound: nodeOutbound(outboundPolicyFromEnv(process.env)),
      tenant,
      jobId,
      signal,
      onProgress: (stage, fraction) => {
        signal.throwIfAborted();
        // the runner writes status every few seconds: a few messages a second are plenty
        const t = performance.now();
        if (stage !== lastStage || fraction >= 1 || t - lastSent > 250) {
          lastStage = stage;
          lastSent = t;
          void send({ type: 'progress', stage, fraction });
        }
      },
    });
    await send({ type: 'done', backend: report.backend });
  } catch (err) {
    const e = jobError(err);
    const original = (err as Error).cause ?? err;
    if (e.code === 'internal_error') console.error(`basin job ${jobId}: ${(original as Error).stack ?? original}`);
    await send({ type: 'failed', ...e });
  }
}

main(process.argv.slice(2)).then(
  () => {
    finished = true;
    process.disconnect?.();
  },
  (err: unknown) => {
    finished = true;
    console.error(`basin runner child: ${(err as Error).stack ?? err}`);
    process.exitCode = 1;
    process.disconnect?.();
  },
);
