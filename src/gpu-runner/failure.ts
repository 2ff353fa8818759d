import { EngineError } from '../pipeline/errors.ts';
import { isStorageOutage } from '../storage/store.ts';

/** Failures of the infrastructure, not of the request: the job is tried again (up to BASIN_MAX_ATTEMPTS). */
export const retryableCodes: ReadonlySet<string> = new Set(['storage_unavailable', 'runner_crashed']);

/** A job that cannot succeed as asked: ends `failed` with this code (never retried). */
export class JobFailure extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'JobFailure';
  }
}

/**
 * The job error for anything a merge throws: the engine's own errors keep their codes (the user can
 * fix the request); anything else is `internal_error` (our fault, or the infrastructure's).
 */
export function jobError(err: unknown): { code: string; message: string } {
  if (err instanceof JobFailure || err instanceof EngineError) {
    return { code: err.code, message: err.message.slice(0, 10_000) };
  }
  const e = err as Error;
  if (isStorageOutage(err)) return { code: 'storage_unavailable', message: `S3 is unreachable: ${e?.message ?? String(err)}`.slice(0, 10_000) };
  return { code: 'internal_error', message: `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`.slice(0, 10_000) };
}
