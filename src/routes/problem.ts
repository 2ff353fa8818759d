import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { JobError } from '../contracts/job.ts';
import type { FieldError, Problem, ProblemCode } from '../contracts/problem.ts';
import { describeIssues } from '../contracts/validation.ts';

const titles: Record<ProblemCode, string> = {
  unauthorized: 'Missing or invalid API key',
  not_found: 'Not found',
  validation_failed: 'The request is invalid',
  malformed_json: 'The body is not valid JSON',
  payload_too_large: 'The body is too large',
  unsupported_media_type: 'Unsupported content type',
  idempotency_conflict: 'Idempotency-Key reused with a different request',
  input_not_found: 'A referenced input does not exist',
  input_not_allowed: 'A referenced input is not readable by this service',
  input_too_large: 'A referenced input is larger than the upload limit',
  input_refused: 'A referenced URL points where this service does not fetch from',
  input_unreachable: 'A referenced URL could not be fetched',
  job_not_cancelable: 'The job has already finished',
  result_not_ready: 'The result does not exist yet',
  job_failed: 'The merge failed: it has no results',
  job_canceled: 'The merge was canceled: it has no results',
  method_not_allowed: 'Method not allowed',
  headers_too_large: 'The request headers are too large',
  malformed_request: 'The request is not valid HTTP',
  request_timeout: 'The request took too long to arrive',
  storage_unavailable: 'Storage is unreachable; retry later',
  database_unavailable: 'The job database is unreachable; retry later',
  job_unreadable: 'The stored job cannot be read',
  internal_error: 'Internal error',
};

/** An error that becomes a problem document; thrown anywhere below a route. */
export class ProblemError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: ProblemCode,
    detail?: string,
    readonly errors?: FieldError[],
    /** a failed job's own error, for answers about its results */
    readonly jobError?: JobError,
  ) {
    super(detail ?? titles[code]);
  }
}

export function problemBody(status: number, code: ProblemCode, detail?: string, errors?: FieldError[], jobError?: JobError): Problem {
  return {
    type: `/problems/${code}`,
    title: titles[code],
    status,
    code,
    ...(detail ? { detail } : {}),
    ...(errors ? { errors } : {}),
    ...(jobError ? { error: jobError } : {}),
  };
}

export function problem(c: Context, status: ContentfulStatusCode, code: ProblemCode, detail?: string, errors?: FieldError[], jobError?: JobError) {
  const body = { ...problemBody(status, code, detail, errors, jobError), instance: c.req.path };
  return c.body(JSON.stringify(body), status, { 'content-type': 'application/problem+json' });
}

/** zod issues -> `errors: [{path, message}]`: every issue, dotted paths (`models.1.upload`), unions resolved to the branch meant. */
export function fieldErrors(issues: ReadonlyArray<object>, input?: unknown): FieldError[] {
  return describeIssues(issues, input);
}
