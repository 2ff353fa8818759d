import { describe, expect, it } from 'vitest';
import { initialState, transition, type JobEvent, type JobState, type Refusal } from '../../src/jobs/machine.ts';

const policy = { maxAttempts: 3, staleMs: 1000 };
const NOW = 1_000_000;
const err = { code: 'runner_crashed', message: 'the merge process was killed by SIGKILL' };

const queued = initialState();
const running: JobState = { ...queued, status: 'running', attempts: 1, lease: 'A', heartbeatAt: NOW - 100, stage: 'sweep', progress: 0.5 };
const staleRunning: JobState = { ...running, heartbeatAt: NOW - 5000 };
const exhausted: JobState = { ...queued, attempts: 3, lastError: err };
const exhaustedRunning: JobState = { ...staleRunning, attempts: 3 };
const succeeded: JobState = { ...queued, status: 'succeeded', attempts: 1, progress: 1 };
const failed: JobState = { ...queued, status: 'failed', attempts: 1, error: err };
const canceled: JobState = { ...queued, status: 'canceled' };

const claim: JobEvent = { type: 'claim', lease: 'B', now: NOW };
const beat = (lease: string): JobEvent => ({ type: 'heartbeat', lease, now: NOW, stage: 'repair', progress: 0.6 });
const ev = {
  claim,
  heartbeatA: beat('A'),
  heartbeatB: beat('B'),
  releaseA: { type: 'release', lease: 'A', now: NOW } as JobEvent,
  crashA: { type: 'release', lease: 'A', now: NOW, error: err } as JobEvent,
  succeedA: { type: 'succeed', lease: 'A', now: NOW } as JobEvent,
  succeedB: { type: 'succeed', lease: 'B', now: NOW } as JobEvent,
  failA: { type: 'fail', lease: 'A', now: NOW, error: { code: 'shape_mismatch', message: 'no' } } as JobEvent,
  cancel: { type: 'cancel', now: NOW } as JobEvent,
};
const states = { queued, running, staleRunning, exhausted, exhaustedRunning, succeeded, failed, canceled };

/**
 * Every event against every state: the status it leads to, or why it is refused. One row per state,
 * one column per event (in the order of `ev`).
 */
const table: Record<keyof typeof states, Array<JobState['status'] | Refusal>> = {
  //               claim        heartbeatA    heartbeatB    releaseA      crashA        succeedA      succeedB      failA         cancel
  queued:          ['running',   'lease_lost', 'lease_lost', 'lease_lost', 'lease_lost', 'lease_lost', 'lease_lost', 'lease_lost', 'canceled'],
  running:         ['leased',    'running',    'lease_lost', 'queued',     'queued',     'succeeded',  'lease_lost', 'failed',     'canceled'],
  staleRunning:    ['running',   'running',    'lease_lost', 'queued',     'queued',     'succeeded',  'lease_lost', 'failed',     'canceled'],
  exhausted:       ['failed',    'lease_lost', 'lease_lost', 'lease_lost', 'lease_lost', 'lease_lost', 'lease_lost', 'lease_lost', 'canceled'],
  exhaustedRunning:['failed',    'running',    'lease_lost', 'queued',     'failed',     'succeeded',  'lease_lost', 'failed',     'canceled'],
  succeeded:       ['finished',  'lease_lost', 'lease_lost', 'lease_lost', 'lease_lost', 'lease_lost', 'lease_lost', 'lease_lost', 'not_cancelable'],
  failed:          ['finished',  'lease_lost', 'lease_lost', 'lease_lost', 'lease_lost', 'lease_lost', 'lease_lost', 'lease_lost', 'not_cancelable'],
  canceled:        ['canceled',  'canceled',   'canceled',   'canceled',   'canceled',   'canceled',   'canceled',   'canceled',   'canceled'],
};

describe('the job state machine', () => {
  for (const [name, row] of Object.entries(table)) {
    it(`from ${name}`, () => {
      const got = Object.values(ev).map((e) => {
        const t = transition(states[name as keyof typeof states], e, policy);
        return t.ok ? t.state.status : t.refusal;
      });
      expect(got).toEqual(row);
    });
  }

  it('a claim counts an attempt, takes the lease and starts the heartbeat', () => {
    const t = transition(queued, claim, policy);
    expect(t).toEqual({ ok: true, state: { ...queued, status: 'running', attempts: 1, lease: 'B', heartbeatAt: NOW, stage: 'load', progress: 0 } });
  });

  it("taking over a dead runner's job records why the last attempt ended", () => {
    const t = transition(staleRunning, claim, policy);
    expect(t.ok && t.state).toMatchObject({ status: 'running', attempts: 2, lease: 'B', lastError: { code: 'runner_lost' } });
  });

  it('out of attempts: dead-lettered as failed, with the last reason', () => {
    const byClaim = transition(exhausted, claim, policy);
    expect(byClaim.ok && byClaim.state.error).toEqual({ code: 'runner_crashed', message: expect.stringMatching(/^gave up after 3 attempts; the last: the merge process was killed/) });
    const byCrash = transition(exhaustedRunning, ev.crashA, policy);
    expect(byCrash.ok && byCrash.state).toMatchObject({ status: 'failed', lease: null, error: { code: 'runner_crashed' } });
    const lost = transition(exhaustedRunning, claim, policy);
    expect(lost.ok && lost.state.error!.code).toBe('runner_lost');
  });

  it('a release hands the job back whole: no lease, no progress; a crash keeps its reason', () => {
    const t = transition(running, ev.crashA, policy);
    expect(t.ok && t.state).toEqual({ ...queued, attempts: 1, lastError: err });
  });

  it('progress never goes backwards within an attempt; cancel twice is the same cancel', () => {
    const t = transition(running, { type: 'heartbeat', lease: 'A', now: NOW, stage: 'sweep', progress: 0.2 }, policy);
    expect(t.ok && t.state.progress).toBe(0.5);
    const once = transition(running, ev.cancel, policy);
    const twice = once.ok ? transition(once.state, ev.cancel, policy) : once;
    expect(twice).toEqual(once);
  });
});
