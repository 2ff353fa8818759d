import { z } from 'zod';
import { JobError } from './job.ts';

/** Stable machine-readable error codes: clients branch on these, never on titles or messages. */
export const ProblemCode = z
  .enum([
    'unauthorized',
    'not_found',
    'validation_failed',
    'malformed_json',
    'payload_too_large',
    'unsupported_media_type',
    'idempotency_conflict',
    'input_not_found',
    'input_not_allowed',
    'input_too_large',
    'input_refused',
    'input_unreachable',
    'job_not_cancelable',
    'result_not_ready',
    'job_failed',
    'job_canceled',
    'method_not_allowed',
    'headers_too_large',
    'malformed_request',
    'request_timeout',
    'storage_unavailable',
    'database_unavailable',
    'job_unreadable',
    'internal_error',
  ])
  .meta({ id: 'ProblemCode' });
export type ProblemCode = z.infer<typeof ProblemCode>;

export const FieldError = z
  .strictObject({
    /** dotted path into the request body, e.g. `models.1.upload` (empty for the body itself) */
    path: z.string(),
    message: z.string(),
  })
  .meta({ id: 'FieldError' });
export type FieldError = z.infer<typeof FieldError>;

/** RFC 9457 problem details (application/problem+json), with basin's `code` and field `errors`. */
export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int().min(400).max(599),
    detail: z.string().optional(),
    instance: z.string().optional(),
    code: ProblemCode,
    errors: z.array(FieldError).optional(),
    /** `job_failed`: the job's own error (its code is the engine's or the runner's) */
    error: JobError.optional(),
  })
  .meta({ id: 'Problem' });
export type Problem = z.infer<typeof Problem>;
