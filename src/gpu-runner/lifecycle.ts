import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isDatabaseOutage } from '../jobs/db.ts';
import type { JobError } from '../jobs/machine.ts';
import type { JobStore, RunnerEvent, RunnerView } from '../jobs/store.ts';
import { keys, resultFiles } from '../storage/keys.ts';
import type { StorageEnv } from '../storage/env.ts';
import type { ChildMessage, ParentMessage } from './child.ts';
import type { RunnerConfig } from './config.ts';
import { overallProgress, type JobStage } from './execute.ts';
import { retryableCodes } from './failure.ts';

export type Outcome = 'succeeded' | 'failed' | 'canceled' | 'released' | 'retry' | 'lost' | 'skipped';
/** How one attempt ended on this runner; a failure (or a crash to be retried) carries the job's error. */
export interface JobOutcome { outcome: Outcome; error?: JobError }
/** One structured log line (npm start sends them to a file, a bare runner to stdout). */
export type RunnerLog = (entry: Record<string, unknown>) => void;

export interface LifecycleDeps {
  config: RunnerConfig;
  jobs: JobStore;
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A state change that must land: while the database is unreachable (restarting, a network cut) it
 * is tried again, for up to `patienceMs`. Past that the job is left to the sweep (its heartbeat goes
 * stale and another runner runs it again: merges are deterministic, so nothing differs).
 */
async function persist(jobs: JobStore, jobId: string, event: RunnerEvent, patienceMs: number, retryDelayMs = 0): Promise<RunnerView | undefined> {
  const end = Date.now() + patienceMs;
  for (let wait = 250; ; wait = Math.min(wait * 2, 5000)) {
    try {
      return await jobs.apply(jobId, event, retryDelayMs);
    } catch (err) {
      if (!isDatabaseOutage(err) || Date.now() > end) throw err;
      console.warn(`basin runner: ${jobId}: database unreachable (${(err as Error).message}); trying again`);
      await sleep(wait);
    }
  }
}

/** A failed or canceled job has no results: whatever an attempt wrote is removed. */
async function deleteResults(deps: LifecycleDeps, tenant: string, jobId: string): Promise<void> {
  const store = deps.config.store;
  await Promise.all(resultFiles.map((f) => store.delete(keys.jobFile(tenant, jobId, f)))).catch((err: unknown) => {
    console.warn(`basin runner: ${jobId}: could not delete partial results: ${(err as Error).message}`);
  });
}

/** Delay before the next attempt of a job whose attempt crashed: 2, 4, 8 ... s, at most a minute. */
const retryDelay = (attempt: number) => Math.min(60_000, 1000 * 2 ** attempt);

/**
 * One job on this runner: claim it (the state machine refuses a canceled, finished or live-leased
 * job, and fails one out of attempts), run it in a child process while sending heartbeats under
 * the lease, then end it `succeeded` or `failed`, or hand it back (`released`) for another attempt.
 */
export async function runJob(deps: LifecycleDeps, jobId: string): Promise<JobOutcome> {
  const { config, jobs } = deps;
  // a runner that is stopping claims nothing: the queue offers the job again shortly
  if (deps.shutdown.aborted) throw new Error('the runner is stopping');
  const lease = `${config.runnerId}:${randomBytes(4).toString('hex')}`;
  const claim = await jobs.apply(jobId, { type: 'claim', lease });
  if (!claim || !claim.transition.ok) return { outcome: 'skipped' };
  const tenant = claim.tenant;
  if (claim.state!.status === 'failed') {
    await deleteResults(deps, tenant, jobId); // out of attempts: dead-lettered, its webhook owed
    return { outcome: 'failed', error: claim.state!.error ?? undefined };
  }
  const request = await jobs.request(jobId);

  const state = { stage: 'load' as JobStage, fraction: 0 };
  let ended: { kind: 'done' } | { kind: 'failed'; error: JobError } | undefined;
  let stopReason: 'canceled' | 'released' | 'lost' | 'timeout' | undefined;
  const child = forkChild(['run', tenant, jobId], config.storage);
  deps.log({ runner: config.runnerId, job: jobId, attempt: claim.state!.attempts, pid: child.pid });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) => child.once('exit', (code, signal) => ok({ code, signal })));
  child.send({ type: 'request', request } satisfies ParentMessage);

  const stop = (reason: NonNullable<typeof stopReason>) => {
    stopReason ??= reason;
    child.kill('SIGKILL');
  };
  const onShutdown = () => stop('released');
  deps.shutdown.addEventListener('abort', onShutdown, { once: true });

  // Heartbeat: stage and progress under the lease; a refusal means canceled or taken over.
  let beating = Promise.resolve();
  const beat = () => {
    beating = beating.then(async () => {
      if (stopReason || ended) return;
      const view = await jobs.apply(jobId, { type: 'heartbeat', lease, stage: state.stage, progress: overallProgress(state.stage, state.fraction) });
      if (view && view.transition.ok) return;
      stop(!view || view.transition.ok || view.transition.refusal !== 'canceled' ? 'lost' : 'canceled');
    }).catch((err: unknown) => console.warn(`basin runner: heartbeat of ${jobId}: ${(err as Error).message}`));
  };
  child.on('message', (m: ChildMessage) => {
    if (m.type === 'progress') {
      const next = m.stage !== state.stage;
      state.stage = m.stage;
      state.fraction = m.fraction;
      if (next) beat(); // a new stage shows at once, not at the next heartbeat
    } else if (m.type === 'done') ended = { kind: 'done' };
    else if (m.type === 'failed') ended = { kind: 'failed', error: { code: m.code, message: m.message } };
  });
  const timer = setInterval(beat, config.heartbeatMs);
  // the request's options are bounded, but not every architecture's step costs the same: a wall-clock cap
  const deadline = setTimeout(() => stop('timeout'), config.jobTimeoutMs);
  const exit = await exited;
  clearInterval(timer);
  clearTimeout(deadline);
  deps.shutdown.removeEventListener('abort', onShutdown);
  await beating;

  if (stopReason === 'lost') return { outcome: 'lost' }; // another runner has it now: touch nothing
  if (stopReason === 'canceled') {
    await deleteResults(deps, tenant, jobId);
    return { outcome: 'canceled' };
  }
  const patience = 10 * 60_000;
  let event: RunnerEvent;
  let retryMs = 0;
  if (stopReason === 'released') event = { type: 'release', lease };
  else if (stopReason === 'timeout') event = { type: 'fail', lease, error: { code: 'job_timeout', message: `the merge ran longer than ${config.jobTimeoutMs / 1000} s (BASIN_JOB_TIMEOUT_SECONDS); ask for fewer steps, points or samples` } };
  else if (ended?.kind === 'done') event = { type: 'succeed', lease };
  else {
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    const error = ended?.kind === 'failed' ? ended.error : { code: 'runner_crashed', message: `the merge process ${how} (out of memory?)` };
    const retry = retryableCodes.has(error.code);
    event = retry ? { type: 'release', lease, error } : { type: 'fail', lease, error };
    retryMs = retry ? retryDelay(claim.state!.attempts) : 0;
  }
  const view = await persist(jobs, jobId, event, patience, retryMs);
  if (!view || !view.transition.ok) {
    if (view && !view.transition.ok && view.transition.refusal === 'canceled') {
      await deleteResults(deps, tenant, jobId);
      return { outcome: 'canceled' };
    }
    return { outcome: 'lost' };
  }
  const status = view.state!.status;
  if (status === 'failed') await deleteResults(deps, tenant, jobId);
  if (status === 'queued') return event.type === 'release' && event.error ? { outcome: 'retry', error: event.error } : { outcome: 'released' };
  return { outcome: status as Outcome, ...(view.state!.error ? { error: view.state!.error } : {}) };
}
