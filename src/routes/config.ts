import type { JobStore } from '../jobs/store.ts';
import type { Outbound } from '../storage/outbound/client.ts';
import type { BlobStore } from '../storage/store.ts';
import type { DocsAssets } from './docs.ts';

export interface Limits {
  /** request bodies on JSON routes (merge requests are small; files go through presigned PUTs) */
  maxBodyBytes: number;
  /** one uploaded file */
  maxUploadBytes: number;
  /** presigned URL lifetime, seconds */
  presignSeconds: number;
  /** page size bounds for GET /v1/merges */
  maxPageSize: number;
}

export const defaultLimits: Limits = {
  maxBodyBytes: 256 * 1024,
  maxUploadBytes: 5 * 1024 ** 3,
  presignSeconds: 900,
  maxPageSize: 100,
};

export interface AppConfig {
  store: BlobStore;
  /** jobs, idempotency keys, groups: PostgreSQL (src/jobs) */
  jobs: JobStore;
  /** SHA-256 hex of each API key -> tenant. Plain keys are never configured. */
  apiKeys: ReadonlyMap<string, string>;
  /** buckets `s3://` references may name (the service's own bucket is always allowed) */
  allowedBuckets: readonly string[];
  limits: Limits;
  /** Standard Webhooks secret (`whsec_...` or raw) that signs POST /v1/hooks/training-run; unset: bearer key only */
  hookSecret?: string;
  /** the outbound guard that checks `url` references (Node: resolved and pinned; Workers: fetch) */
  outbound: Outbound;
  /** browser origins allowed to call the API (`*`: any); none: browsers on other origins are refused */
  corsOrigins?: readonly string[];
  /** where /docs finds the Swagger UI files (the entry point knows: node_modules or Workers assets) */
  docsAssets?: DocsAssets;
}

/** `BASIN_API_KEYS` = `sha256hex:tenant,sha256hex:tenant`. */
export function parseApiKeys(spec: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (spec ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([0-9a-fA-F]{64}):([A-Za-z0-9_-]{1,128})$/.exec(part);
    if (!m) throw new Error(`BASIN_API_KEYS: expected sha256hex:tenant, got ${JSON.stringify(part.slice(0, 80))}`);
    out.set(m[1].toLowerCase(), m[2]);
  }
  return out;
}
