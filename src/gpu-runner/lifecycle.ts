import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { jobLinks, terminalStatuses, type DispatchMessage, type Job, type JobStatus } from '../contracts/job.ts';
import { keys, resultFiles } from '../storage/keys.ts';
import type { StorageEnv } from '../storage/env.ts';
import type { BlobStore } from '../storage/store.ts';
import type { ChildMessage } from './child.ts';
import type { RunnerConfig } from './config.ts';
import { overallProgress, type JobStage } from './execute.ts';
import { JobDocument } from './jobDocument.ts';
import type { WebhookSender } from './webhooks.ts';

export type Outcome = 'succeeded' | 'failed' | 'canceled' | 'released' | 'skipped';
/** How one dispatch ended on this runner; a failure carries the job's error. */
export interface JobOutcome { outcome: Outcome; error?: Job['error'] }
/** One structured log line (npm start sends them to a file, a bare runner to stdout). */
export type RunnerLog = (entry: Record<string, unknown>) => void;

export interface LifecycleDeps {
  config: RunnerConfig;
  webhooks: WebhookSender;
  /** aborted when the runner shuts down: running jobs go back to `queued` for the next runner */
  shutdown: AbortSignal;
  log: RunnerLog;
}

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));
/** tsx's loader by absolute URL: the child runs TypeScript whatever started the runner (tsx, a test runner) */
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export function forkChild(args: string[], storage: StorageEnv): ChildProcess {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(storage)) if (v === undefined) delete env[k]; else env[k] = v;
  return fork(CHILD, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env, execArgv: ['--import', TSX_LOADER] });
}

/** Is a running job's runner alive? Its heartbeat says so for `staleMs`. */
export function heartbeatFresh(job: Job, staleMs: number, now = Date.now()): boolean {
  return job.heartbeatAt !== null && now - Date.parse(job.heartbeatAt) < staleMs;
}

/**
 * One job on this runner: claim it in S3, run it in a child process while writing status and
 * heartbeats, then end it `succeeded`, `failed` or `canceled` (results deleted unless it succeeded),
 * remove it from the open-jobs index and hand its webhook to the sender.
 */
export async function runJob(deps: LifecycleDeps, msg: DispatchMessage): Promise<JobOutcome> {
  const { config } = deps;
  const store = config.store;
  const doc = new JobDocument(store, msg.tenant, msg.jobId);
  const closeIndex = () => store.delete(keys.openJob(msg.jobId));

  const cur = await doc.read();
  // gone, or already ended (canceled while queued, or finished by another runner)
  if (!cur || terminalStatuses.includes(cur.job.status)) {
    await closeIndex();
    return { outcome: 'skipped' };
  }
  if (await doc.cancelRequested()) return finish(deps, doc, 'canceled', null);
  // another runner is on it and alive
  if (cur.job.status === 'running' && heartbeatFresh(cur.job, config.staleMs)) return { outcome: 'skipped' };

  const claimed: Job = { ...cur.job, status: 'running', stage: 'load', progress: 0, heartbeatAt: new Date().toISOString(), attempts: cur.job.attempts + 1, error: null };
  if (!(await doc.write(claimed, cur.etag))) return { outcome: 'skipped' }; // someone claimed it between our read and write

  const state = { stage: 'load' as JobStage, fraction: 0 };
  let ended: { kind: 'done' } | { kind: 'failed'; code: string; message: string } | undefined;
  let stopReason: 'canceled' | 'released' | 'timeout' | undefined;
  const child = forkChild(['run', msg.tenant, msg.jobId], config.storage);
  deps.log({ runner: config.runnerId, job: msg.jobId, attempt: claimed.attempts, pid: child.pid });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) => child.once('exit', (code, signal) => ok({ code, signal })));

  const stop = (reason: 'canceled' | 'released' | 'timeout') => {
    stopReason ??= reason;
    child.kill('SIGKILL');
  };
  const onShutdown = () => stop('released');
  deps.shutdown.addEventListener('abort', onShutdown, { once: true });

  // Heartbeat: status with stage and progress every few seconds, and the cancel check.
  let beating = Promise.resolve();
  const beat = () => {
    beating = beating.then(async () => {
      if (stopReason || ended) return;
      if (await doc.cancelRequested()) return stop('canceled');
      const latest = await doc.read();
      if (!latest || latest.job.status !== 'running') return stop('canceled');
      await doc.write({ ...latest.job, stage: state.stage, progress: overallProgress(state.stage, state.fraction), heartbeatAt: new Date().toISOString() }, latest.etag);
    }).catch((err: unknown) => console.warn(`basin runner: heartbeat of ${msg.jobId}: ${(err as Error).message}`));
  };
  child.on('message', (m: ChildMessage) => {
    if (m.type === 'progress') {
      const next = m.stage !== state.stage;
      state.stage = m.stage;
      state.fraction = m.fraction;
      if (next) beat(); // a new stage shows at once, not at the next heartbeat
    } else if (m.type === 'done') ended = { kind: 'done' };
    else if (m.type === 'failed') ended = { kind: 'failed', code: m.code, message: m.message };
  });
  const timer = setInterval(beat, config.heartbeatMs);
  // the request's options are bounded, but not every architecture's step costs the same: a wall-clock cap
  const deadline = setTimeout(() => stop('timeout'), config.jobTimeoutMs);
  const exit = await exited;
  clearInterval(timer);
  clearTimeout(deadline);
  deps.shutdown.removeEventListener('abort', onShutdown);
  await beating;

  if (stopReason === 'released' && !(await doc.cancelRequested())) {
    await doc.update((job) => (job.status === 'running' ? { ...job, status: 'queued', stage: null, progress: 0, heartbeatAt: null } : job));
    return { outcome: 'released' };
  }
  if (stopReason === 'canceled' || (await doc.cancelRequested())) return finish(deps, doc, 'canceled', null);
  if (stopReason === 'timeout') return finish(deps, doc, 'failed', { code: 'job_timeout', message: `the merge ran longer than ${config.jobTimeoutMs / 1000} s (BASIN_JOB_TIMEOUT_SECONDS); ask for fewer steps, points or samples` });
  if (ended?.kind === 'done') return finish(deps, doc, 'succeeded', null);
  if (ended?.kind === 'failed') return finish(deps, doc, 'failed', { code: ended.code, message: ended.message });
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
  return finish(deps, doc, 'failed', { code: 'runner_crashed', message: `the merge process ${how} (out of memory?)` });
}

/** The end of a job: results kept only on success, status written, index closed, webhook owed. */
async function finish(deps: LifecycleDeps, doc: JobDocument, status: Exclude<JobStatus, 'queued' | 'running'>, error: Job['error']): Promise<JobOutcome> {
  const store: BlobStore = deps.config.store;
  if (status !== 'succeeded') {
    await Promise.all(resultFiles.map((f) => store.delete(keys.jobFile(doc.tenant, doc.id, f))));
  }
  const event = status === 'succeeded' ? 'merge.succeeded' : status === 'failed' ? 'merge.failed' : undefined;
  const request = (await store.getJson(keys.jobFile(doc.tenant, doc.id, 'request.json')).catch(() => undefined)) as { webhook?: { url?: unknown } } | undefined;
  const url = typeof request?.webhook?.url === 'string' ? request.webhook.url : undefined;
  if (event && url) await deps.webhooks.record(doc.tenant, doc.id, event, url);
  await doc.update((job) => ({
    ...job,
    status,
    stage: null,
    progress: status === 'succeeded' ? 1 : job.progress,
    error,
    result: jobLinks(doc.id, status),
    heartbeatAt: new Date().toISOString(),
  }));
  await store.delete(keys.openJob(doc.id));
  if (event && url) await deps.webhooks.start(doc.id);
  return error ? { outcome: status, error } : { outcome: status };
}
