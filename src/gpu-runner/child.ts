/**
 * One job in its own process, forked by the runner. The merge is synchronous CPU/GPU work for
 * minutes: in a child it cannot stall the runner's heartbeats, queue or webhooks; a
 * cancel is a kill; and tfjs memory (wasm's never shrinks) is returned to the system after each job.
 *
 *   child.ts run TENANT JOB_ID   <- `request` (the stored request) -> progress messages, then `done` or `failed`
 *   child.ts probe               -> `backend` (which backend this host would use, for /healthz)
 */
import { initBackend } from '../pipeline/runtime/backend.ts';
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
  | { type: 'backend'; name: string; tried: { name: string; ok: boolean; reason?: string }[] };

const send = (m: ChildMessage) => new Promise<void>((ok) => (process.send ? process.send(m, undefined, undefined, () => ok()) : ok()));

/**
 * The engine checks its signal at every batch. Nothing else can run during the synchronous merge
 * (no IPC disconnect event, no timer), so that check is where the child looks whether the runner
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
    await send({ type: 'backend', name: info.name, tried: info.tried });
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
