import { describe, expect, it } from 'vitest';
import { JobQueue } from '../../src/gpu-runner/queue.ts';

const msg = (n: number) => ({ jobId: `job_000000000${n}aaaaaaaaaa`, tenant: 't' });

describe('JobQueue', () => {
  it('runs `concurrency` jobs at a time in arrival order, refuses duplicates and, when full, more', async () => {
    const started: string[] = [];
    const release = new Map<string, () => void>();
    let peak = 0;
    let live = 0;
    const q = new JobQueue(2, 1, (m) => new Promise<void>((ok) => {
      started.push(m.jobId);
      peak = Math.max(peak, ++live);
      release.set(m.jobId, () => { live--; ok(); });
    }));
    expect([1, 2, 3].map((n) => q.offer(msg(n)))).toEqual(['accepted', 'accepted', 'accepted']);
    expect(q.offer(msg(1))).toBe('duplicate');
    expect(q.offer(msg(4))).toBe('full'); // two running, one waiting: the limit
    expect([q.running, q.queued]).toEqual([2, 1]);
    release.get(msg(1).jobId)!();
    await new Promise((r) => setTimeout(r, 0));
    expect(started).toEqual([msg(1), msg(2), msg(3)].map((m) => m.jobId));
    for (const id of [msg(2).jobId, msg(3).jobId]) release.get(id)!();
    await q.idle();
    expect(peak).toBe(2);
    expect(q.offer(msg(1))).toBe('accepted'); // finished jobs can come back (a re-run after recovery)
    release.get(msg(1).jobId)!();
    await q.idle();
  });

  it('stop() drops what waits and refuses new work', async () => {
    let finish!: () => void;
    const q = new JobQueue(1, 5, () => new Promise<void>((ok) => (finish = ok)));
    q.offer(msg(1));
    q.offer(msg(2));
    expect(q.stop().map((m) => m.jobId)).toEqual([msg(2).jobId]);
    expect(q.offer(msg(3))).toBe('full');
    finish();
    await q.idle();
  });
});
