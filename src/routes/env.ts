import { allowedBucketsFromEnv, storeFromEnv, type StorageEnv } from '../storage/env.ts';
import type { Outbound } from '../storage/outbound/client.ts';
import { outboundPolicyFromEnv, type OutboundPolicy } from '../storage/outbound/policy.ts';
import { defaultLimits, parseApiKeys, type AppConfig } from './config.ts';

/** The environment both entry points read (Node: process.env; Workers: vars and secrets). */
export interface BasinEnv extends StorageEnv {
  /** `sha256hex:tenant,...` */
  BASIN_API_KEYS?: string;
  RUNNER_URL?: string;
  RUNNER_SECRET?: string;
  BASIN_HOOK_SECRET?: string;
  BASIN_MAX_BODY_BYTES?: string;
  BASIN_MAX_UPLOAD_BYTES?: string;
  BASIN_PRESIGN_SECONDS?: string;
  /** how often jobs the runner did not take are offered again (default 60) */
  BASIN_REOFFER_SECONDS?: string;
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

/** `outboundFor` builds the platform's outbound guard (Node: nodeOutbound; Workers: fetchOutbound). */
export function configFromEnv(env: BasinEnv, outboundFor: (policy: OutboundPolicy) => Outbound): AppConfig {
  return {
    store: storeFromEnv(env),
    outbound: outboundFor(outboundPolicyFromEnv(env)),
    apiKeys: parseApiKeys(env.BASIN_API_KEYS || DEV_API_KEYS),
    allowedBuckets: allowedBucketsFromEnv(env),
    hookSecret: env.BASIN_HOOK_SECRET || undefined,
    runner: env.RUNNER_URL ? { url: env.RUNNER_URL, secret: env.RUNNER_SECRET ?? '' } : undefined,
    reofferIntervalMs: int(env.BASIN_REOFFER_SECONDS, 60) * 1000,
    corsOrigins: (env.BASIN_CORS_ORIGINS ?? '').split(',').map((o) => o.trim().replace(/\/+$/, '')).filter(Boolean),
    limits: {
      maxBodyBytes: int(env.BASIN_MAX_BODY_BYTES, defaultLimits.maxBodyBytes),
      maxUploadBytes: int(env.BASIN_MAX_UPLOAD_BYTES, defaultLimits.maxUploadBytes),
      presignSeconds: int(env.BASIN_PRESIGN_SECONDS, defaultLimits.presignSeconds),
      maxPageSize: defaultLimits.maxPageSize,
    },
  };
}
