import { Job, type WebhookDelivery } from '../contracts/job.ts';
import { keys } from '../storage/keys.ts';
import type { BlobStore } from '../storage/store.ts';

/** The runner's reads and writes of one job's `status.json`, with the ETag for conditional writes. */
export class JobDocument {
  constructor(
    private readonly store: BlobStore,
    readonly tenant: string,
    readonly id: string,
  ) {}

  private get key() { return keys.jobFile(this.tenant, this.id, 'status.json'); }

  /** The job and its ETag; undefined when it is gone or not a job document we can trust. */
  async read(): Promise<{ job: Job; etag?: string } | undefined> {
    const tagged = await this.store.getJsonTagged(this.key);
    if (!tagged) return undefined;
    const job = Job.safeParse(tagged.value);
    if (!job.success || job.data.id !== this.id || job.data.tenant !== this.tenant) return undefined;
    return { job: job.data, etag: tagged.etag };
  }

  /** Writes `job` if the document still has `etag` (where S3 checks that); false when someone else wrote. */
  write(job: Job, etag?: string): Promise<boolean> {
    const next = { ...job, updatedAt: new Date().toISOString() };
    return etag ? this.store.putJsonIfMatch(this.key, next, etag) : this.store.putJson(this.key, next).then(() => true);
  }

  /** Read-modify-write; returns the job as written, or undefined when the document is gone. */
  async update(change: (job: Job) => Job): Promise<Job | undefined> {
    for (let i = 0; i < 5; i++) {
      const cur = await this.read();
      if (!cur) return undefined;
      const next = { ...change(cur.job), updatedAt: new Date().toISOString() };
      if (await this.write(next, cur.etag)) return next;
    }
    throw new Error(`job ${this.id}: status.json keeps changing under us`);
  }

  async appendDelivery(d: WebhookDelivery): Promise<Job | undefined> {
    // the log is bounded: keep the latest attempts
    return this.update((job) => ({ ...job, deliveries: [...job.deliveries, d].slice(-100) }));
  }

  cancelRequested(): Promise<boolean> {
    return this.store.head(keys.jobFile(this.tenant, this.id, 'cancel.json')).then(Boolean);
  }
}
