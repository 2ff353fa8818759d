import { describe, expect, it } from 'vitest';
import { Job, MergeEvent, Problem, UploadCreate } from '../../src/contracts/index.ts';

const job = {
  id: 'job_0mf3k2x9a1b2c3d4e5f6',
  tenant: 'acme',
  status: 'running',
  stage: 'align',
  progress: 0.4,
  createdAt: '2026-11-26T12:00:00.000Z',
  updatedAt: '2026-11-26T12:00:05.000Z',
  heartbeatAt: '2026-11-26T12:00:05.000Z',
  error: null,
  result: { self: '/v1/merges/job_0mf3k2x9a1b2c3d4e5f6' },
  requestHash: 'a'.repeat(64),
  attempts: 1,
  deliveries: [],
};

describe('job document', () => {
  it('accepts a running job and a failed one with a machine-readable error', () => {
    expect(Job.parse(job)).toEqual(job);
    expect(Job.safeParse({ ...job, status: 'failed', error: { code: 'shape_mismatch', message: 'models.1: ...' } }).success).toBe(true);
  });
  it('rejects unknown statuses, progress outside 0..1, unknown fields', () => {
    expect(Job.safeParse({ ...job, status: 'paused' }).success).toBe(false);
    expect(Job.safeParse({ ...job, progress: 1.5 }).success).toBe(false);
    expect(Job.safeParse({ ...job, extra: 1 }).success).toBe(false);
  });
  it('logs webhook deliveries: an unreachable receiver, then a 200', () => {
    const base = { event: 'merge.succeeded', id: 'msg_1', nextAttemptAt: null };
    const deliveries = [
      { ...base, attempt: 1, at: job.updatedAt, status: null, error: 'ECONNREFUSED', nextAttemptAt: job.updatedAt },
      { ...base, attempt: 2, at: job.updatedAt, status: 200, error: null },
    ];
    expect(Job.safeParse({ ...job, status: 'succeeded', progress: 1, deliveries }).success).toBe(true);
    expect(Job.safeParse({ ...job, deliveries: [{ ...deliveries[1], attempt: 0 }] }).success).toBe(false);
    expect(Job.safeParse({ ...job, deliveries: undefined }).success).toBe(false);
  });
  it('wraps jobs in webhook events', () => {
    expect(MergeEvent.safeParse({ type: 'merge.succeeded', timestamp: job.updatedAt, data: job }).success).toBe(true);
  });
});

describe('problem and upload schemas', () => {
  it('problem documents carry a known code', () => {
    expect(Problem.safeParse({ type: '/problems/not_found', title: 'Not found', status: 404, code: 'not_found' }).success).toBe(true);
    expect(Problem.safeParse({ type: 'x', title: 'x', status: 404, code: 'whatever' }).success).toBe(false);
  });
  it('uploads default to checkpoints and need a positive integer size', () => {
    expect(UploadCreate.parse({ size: 10 })).toEqual({ kind: 'checkpoint', size: 10 });
    expect(UploadCreate.safeParse({ size: 0 }).success).toBe(false);
    expect(UploadCreate.safeParse({ size: 1.5 }).success).toBe(false);
  });
});
