import type { JobStatus } from '../contracts/job.ts';

/**
 * The job state machine: every change of a job's status goes through `transition`, a pure function
 * of the current state and one event. The store (store.ts) reads the row under a lock, asks this
 * module, and writes what it answers; the edge and the runners share it, so there is one set of rules.
 *
 *   create -> queued
 *   queued  --claim-->  running (attempts + 1, a new lease)      queued/running --cancel--> canceled
 *   running --claim-->  running (another runner, only once the lease's heartbeat is stale)
 *   running --heartbeat/succeed/fail/release--> (only by the lease holder)
 *   running --release--> queued (runner stopping; or a crash worth another attempt)
 *   a claim or a retryable release past `maxAttempts` -> failed (dead-lettered, with the last reason)
 */

export type JobError = { code: string; message: string };
export type Stage = string;

export interface JobState {
  status: JobStatus;
  attempts: number;
  /** who runs it now: set by a claim, required by every later runner event */
  lease: string | null;
  /** ms since the epoch, by the database's clock */
  heartbeatAt: number | null;
  stage: Stage | null;
  progress: number;
  error: JobError | null;
  /** why the previous attempt ended without a result; becomes `error` when attempts run out */
  lastError: JobError | null;
}

export interface Policy {
  maxAttempts: number;
  /** a running job whose heartbeat is older than this may be claimed by another runner */
  staleMs: number;
}

export type JobEvent =
  | { type: 'claim'; lease: string; now: number }
  | { type: 'heartbeat'; lease: string; now: number; stage: Stage; progress: number }
  /** the runner lets go: stopping (no error), or an attempt that crashed (error: worth retrying) */
  | { type: 'release'; lease: string; now: number; error?: JobError }
  | { type: 'succeed'; lease: string; now: number }
  | { type: 'fail'; lease: string; now: number; error: JobError }
  | { type: 'cancel'; now: number };

export type Refusal =
  /** finished already (succeeded, failed or canceled): nothing to do */
  | 'finished'
  /** another runner holds a live lease */
  | 'leased'
  /** this runner's lease was taken over or the job is no longer running */
  | 'lease_lost'
  /** canceled: a runner stops, a claim does not start */
  | 'canceled'
  /** succeeded or failed jobs cannot be canceled */
  | 'not_cancelable';

export type Transition = { ok: true; state: JobState } | { ok: false; refusal: Refusal };

export const initialState = (): JobState => ({
  status: 'queued', attempts: 0, lease: null, heartbeatAt: null, stage: null, progress: 0, error: null, lastError: null,
});

const terminal = (s: JobStatus) => s === 'succeeded' || s === 'failed' || s === 'canceled';
const refuse = (refusal: Refusal): Transition => ({ ok: false, refusal });
const ok = (state: JobState): Transition => ({ ok: true, state });

function deadLetter(state: JobState, last: JobError | null): JobState {
  const reason = last ?? { code: 'attempts_exhausted', message: 'no attempt finished' };
  return {
    ...state, status: 'failed', lease: null, stage: null, lastError: last,
    error: { code: reason.code, message: `gave up after ${state.attempts} attempts; the last: ${reason.message}`.slice(0, 10_000) },
  };
}

/** What the runner holding `lease` may do: only while the job runs under that lease. */
function holder(state: JobState, lease: string): Refusal | undefined {
  if (state.status === 'canceled') return 'canceled';
  if (state.status !== 'running' || state.lease !== lease) return 'lease_lost';
  return undefined;
}

export function transition(state: JobState, event: JobEvent, policy: Policy): Transition {
  switch (event.type) {
    case 'claim': {
      if (state.status === 'canceled') return refuse('canceled');
      if (terminal(state.status)) return refuse('finished');
      let lastError = state.lastError;
      if (state.status === 'running') {
        const fresh = state.heartbeatAt !== null && event.now - state.heartbeatAt < policy.staleMs;
        if (fresh) return refuse('leased');
        lastError = { code: 'runner_lost', message: `the runner of attempt ${state.attempts} stopped sending heartbeats` };
      }
      if (state.attempts >= policy.maxAttempts) return ok(deadLetter(state, lastError));
      return ok({
        ...state, status: 'running', attempts: state.attempts + 1, lease: event.lease, heartbeatAt: event.now,
        stage: 'load', progress: 0, error: null, lastError,
      });
    }
    case 'heartbeat': {
      const no = holder(state, event.lease);
      if (no) return refuse(no);
      // progress never goes backwards within an attempt
      return ok({ ...state, heartbeatAt: event.now, stage: event.stage, progress: Math.min(1, Math.max(state.progress, event.progress)) });
    }
    case 'release': {
      const no = holder(state, event.lease);
      if (no) return refuse(no);
      const back: JobState = { ...state, status: 'queued', lease: null, heartbeatAt: null, stage: null, progress: 0, lastError: event.error ?? state.lastError };
      return ok(event.error && state.attempts >= policy.maxAttempts ? deadLetter(back, event.error) : back);
    }
    case 'succeed': {
      const no = holder(state, event.lease);
      if (no) return refuse(no);
      return ok({ ...state, status: 'succeeded', lease: null, stage: null, progress: 1, heartbeatAt: event.now, error: null });
    }
    case 'fail': {
      const no = holder(state, event.lease);
      if (no) return refuse(no);
      return ok({ ...state, status: 'failed', lease: null, stage: null, heartbeatAt: event.now, error: event.error });
    }
    case 'cancel': {
      if (state.status === 'canceled') return ok(state);
      if (terminal(state.status)) return refuse('not_cancelable');
      return ok({ ...state, status: 'canceled', lease: null, stage: null });
    }
  }
}
