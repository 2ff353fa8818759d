/**
 * The S3 key layout of DESIGN 2: one bucket, one prefix per tenant. Every key the service writes is
 * built here, so tenancy is enforced by construction (a job id never reaches another tenant's prefix).
 */

/** Ids and tenants are path segments: anything else could escape its prefix. */
const SEGMENT = /^[A-Za-z0-9_-]{1,128}$/;

function segment(kind: string, value: string): string {
  if (!SEGMENT.test(value)) throw new Error(`invalid ${kind} for a storage key: ${JSON.stringify(value)}`);
  return value;
}

/**
 * A job's objects are its results only (its state is in PostgreSQL, src/jobs); a job that did not
 * succeed has none of them (they are deleted).
 */
export const resultFiles = ['merged.safetensors', 'report.json', 'report.svg', 'report.html'] as const;
export type ResultFile = (typeof resultFiles)[number];

export const keys = {
  tenant: (tenant: string) => `t/${segment('tenant', tenant)}/`,
  uploads: (tenant: string) => `t/${segment('tenant', tenant)}/uploads/`,
  upload: (tenant: string, id: string) => `t/${segment('tenant', tenant)}/uploads/${segment('upload id', id)}`,
  job: (tenant: string, id: string) => `t/${segment('tenant', tenant)}/jobs/${segment('job id', id)}/`,
  jobFile: (tenant: string, id: string, file: ResultFile) => `${keys.job(tenant, id)}${file}`,
};

/** `s3://bucket/key` -> parts, or undefined when it is not one. */
export function parseS3Uri(uri: string): { bucket: string; key: string } | undefined {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  return m ? { bucket: m[1], key: m[2] } : undefined;
}
