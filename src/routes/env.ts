import type { Database } from '../jobs/db.ts';
import { JobStore } from '../jobs/store.ts';
import { allowedBucketsFromEnv, storeFromEnv, type StorageEnv } from '../storage/env.ts';
import type { Outbound } from '../storage/outbound/client.ts';
import { outboundPolicyFromEnv, type OutboundPolicy } from '../storage/outbound/policy.ts';
import { defaultLimits, parseApiKeys, type AppConfig } from './config.ts';

/** The environment both entry points read (Node: process.env; Workers: vars and secrets). */
export interface BasinEnv extends StorageEnv {
  /** `sha256hex:tenant,...` */
  BASIN_API_KEYS?: string;
  /** PostgreSQL (Node); on Workers the Hyperdrive binding's connection string is used instead */
  DATABASE_URL?: string;
  BASIN_HOOK_SECRET?: string;
  BASIN_MAX_BODY_BYTES?: string;
  BASIN_MAX_UPLOAD_BYTES?: string;
  BASIN_PRESIGN_SECONDS?: string;
  /** browser origins allowed by CORS, comma-separated (`*`: any); default none */
  BASIN_CORS_ORIGINS?: string;
}

/**
 * The local stack's key, `basin-dev-key` (tenant `dev`), used only when BASIN_API_KEYS is unset so
 * `npm start` works with no set-up. Stored as its hash, like every other key.
 */
export const DEV_API_KEY = 'basin-dev-key';
export const DEV_API_KEYS = 'bfefcebe695448e413efdfad8b8d5e16e4688fffd46c6ba54ad41cc7d6a6dab7:dev';

function int(v: string | undefined, fallback: number): number {
  const n = v === undefined || v === '' ? NaN : Number(v);
  return Number.isSafeInteger(n) && n > 0 ? n : fallback;
}

/**
 * The edge's configuration. `db` is the entry point's (a pool on Node, a connection per call on
 * Workers); `outboundFor` builds the platform's outbound guard (Node: nodeOutbound; Workers: fetchOutbound).
 */
export function configFromEnv(env: BasinEnv, db: Database, outboundFor: (policy: OutboundPolicy) => Outbound): AppConfig {
  return {
    store: storeFromEnv(env),
    jobs: new JobStore(db),
    outbound: outboundFor(outboundPolicyFromEnv(env)),
    apiKeys: parseApiKeys(env.BASIN_API_KEYS || DEV_API_KEYS),
    allowedBuckets: allowedBucketsFromEnv(env),
    hookSecret: env.BASIN_HOOK_SECRET || undefined,
    corsOrigins: (env.BASIN_CORS_ORIGINS ?? '').split(',').map((o) => o.trim().replace(/\/+$/, '')).filter(Boolean),
    limits: {
      maxBodyBytes: int(env.BASIN_MAX_BODY_BYTES, defaultLimits.maxBodyBytes),
      maxUploadBytes: int(env.BASIN_MAX_UPLOAD_BYTES, defaultLimits.maxUploadBytes),
      presignSeconds: int(env.BASIN_PRESIGN_SECONDS, defaultLimits.presignSeconds),
      maxPageSize: defaultLimits.maxPageSize,
    },
  };
}
