import { EngineError } from '../pipeline/errors.ts';

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
  return { code: 'internal_error', message: `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`.slice(0, 10_000) };
}
