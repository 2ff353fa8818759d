/**
 * The S3 key layout of DESIGN 2: one bucket, one prefix per tenant. Every key the service writes is
 * built here, so tenancy is enforced by construction (a job id never reaches another tenant's prefix).
 */

/** Ids and tenants are path segments: anything else could escape its prefix. */
const SEGMENT = /^[A-Za-z0-9_-]{1,128}$/;

/** Whether a value read back from storage (a marker's tenant) can name a key segment. */
export const isKeySegment = (value: string): boolean => SEGMENT.test(value);

function segment(kind: string, value: string): string {
  if (!SEGMENT.test(value)) throw new Error(`invalid ${kind} for a storage key: ${JSON.stringify(value)}`);
  return value;
}

/** `cancel.json` is the edge's cancel request: a separate object, so a runner's status write cannot erase it. */
export const jobFiles = ['request.json', 'status.json', 'merged.safetensors', 'report.json', 'report.svg', 'report.html', 'cancel.json'] as const;
/** What a succeeded job's results are; a job that did not succeed has none of them (they are deleted). */
export const resultFiles = ['merged.safetensors', 'report.json', 'report.svg', 'report.html'] as const;
export type JobFile = (typeof jobFiles)[number];
export type ResultFile = (typeof resultFiles)[number];

export const keys = {
  tenant: (tenant: string) => `t/${segment('tenant', tenant)}/`,
  uploads: (tenant: string) => `t/${segment('tenant', tenant)}/uploads/`,
  upload: (tenant: string, id: string) => `t/${segment('tenant', tenant)}/uploads/${segment('upload id', id)}`,
  jobs: (tenant: string) => `t/${segment('tenant', tenant)}/jobs/`,
  job: (tenant: string, id: string) => `t/${segment('tenant', tenant)}/jobs/${segment('job id', id)}/`,
  jobFile: (tenant: string, id: string, file: JobFile) => `${keys.job(tenant, id)}${file}`,
  /** Merge groups fed by training-run hooks: one object per finished run. */
  groupMembers: (tenant: string, group: string) => `t/${segment('tenant', tenant)}/groups/${segment('group id', group)}/members/`,
  groupMember: (tenant: string, group: string, run: string) => `${keys.groupMembers(tenant, group)}${segment('run id', run)}.json`,
  /**
   * Jobs the runner did not take when they were created, to be offered again. Service metadata
   * (job id and tenant only, no tenant data), so one prefix for all tenants: one listing finds them.
   */
  pendingDispatches: () => 'dispatch/pending/',
  pendingDispatch: (jobId: string) => `dispatch/pending/${segment('job id', jobId)}.json`,
  /**
   * Jobs not yet finished, one marker each (job id and tenant): a starting runner lists this prefix
   * to find queued jobs and running ones whose runner died, without walking every tenant's jobs.
   */
  openJobs: () => 'jobs/open/',
  openJob: (jobId: string) => `jobs/open/${segment('job id', jobId)}.json`,
  /** Outbound webhooks not yet delivered (or given up), so a runner crash does not lose them. */
  pendingWebhooks: () => 'webhooks/pending/',
  pendingWebhook: (jobId: string) => `webhooks/pending/${segment('job id', jobId)}.json`,
  /** Idempotency records: the key is hashed, so any client string is a safe segment. */
  idempotency: (tenant: string, keyHash: string) => `t/${segment('tenant', tenant)}/idempotency/${segment('key hash', keyHash)}.json`,
};

/** `s3://bucket/key` -> parts, or undefined when it is not one. */
export function parseS3Uri(uri: string): { bucket: string; key: string } | undefined {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  return m ? { bucket: m[1], key: m[2] } : undefined;
}
