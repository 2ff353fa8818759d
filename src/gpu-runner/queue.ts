import type { DispatchMessage } from '../contracts/job.ts';

export type Offer = 'accepted' | 'duplicate' | 'full';

/**
 * Jobs this runner has taken, run `concurrency` at a time in arrival order. A job already queued or
 * running here is not taken twice (dispatch retries, a scan finding a job the edge also offered).
 * S3 stays the truth: a job refused here remains `queued` there and is found by the next scan.
 */
export class JobQueue {
  private readonly waiting: DispatchMessage[] = [];
  private readonly active = new Set<string>();
  private readonly idleWaiters: (() => void)[] = [];
  private stopped = false;

  constructor(
    private readonly concurrency: number,
    private readonly limit: number,
    private readonly work: (msg: DispatchMessage) => Promise<void>,
  ) {}

  get running(): number { return this.active.size - this.waiting.length; }
  get queued(): number { return this.waiting.length; }
  has(jobId: string): boolean { return this.active.has(jobId); }

  offer(msg: DispatchMessage): Offer {
    if (this.active.has(msg.jobId)) return 'duplicate';
    if (this.stopped || (this.running >= this.concurrency && this.waiting.length >= this.limit)) return 'full';
    this.active.add(msg.jobId);
    this.waiting.push(msg);
    this.pump();
    return 'accepted';
  }

  /** Take nothing more; queued jobs are dropped here (they stay queued in S3 for the next runner). */
  stop(): DispatchMessage[] {
    this.stopped = true;
    const dropped = this.waiting.splice(0);
    for (const m of dropped) this.active.delete(m.jobId);
    this.settle();
    return dropped;
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (this.active.size === 0) return Promise.resolve();
    return new Promise((ok) => this.idleWaiters.push(ok));
  }

  private pump(): void {
    while (this.waiting.length && this.running < this.concurrency) {
      const msg = this.waiting.shift()!;
      void this.work(msg)
        .catch((err: unknown) => console.error(`basin runner: ${msg.jobId}: ${(err as Error).stack ?? err}`))
        .finally(() => {
          this.active.delete(msg.jobId);
          this.pump();
          this.settle();
        });
    }
  }

  private settle(): void {
    if (this.active.size === 0) for (const ok of this.idleWaiters.splice(0)) ok();
  }
}
