import { createRoute, z } from '@hono/zod-openapi';
import { TrainingRunAccepted, TrainingRunEvent } from '../contracts/hooks.ts';
import { Job, JobList, MergeEvent } from '../contracts/job.ts';
import { MergeRequest } from '../contracts/mergeRequest.ts';
import { Problem } from '../contracts/problem.ts';
import { Report } from '../contracts/report.ts';
import { Upload, UploadCreate, WeightsLink } from '../contracts/upload.ts';

/**
 * The HTTP contract: every route's schemas, from which openapi.yaml is generated. Handlers live in
 * app.ts; this module has no behaviour, so the spec can be built without S3 or keys.
 */

// Named components in the document; the contracts themselves stay plain zod.
const MergeRequestBody = MergeRequest.meta({ id: 'MergeRequest' });
const ReportBody = Report.meta({ id: 'Report' });

const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: Problem } } });
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

const errors = {
  401: problem('Missing or unknown API key (`unauthorized`)'),
  404: problem('No such merge for this tenant (`not_found`); another tenant\'s id answers the same'),
};
const bodyErrors = {
  400: problem('Body is not JSON (`malformed_json`)'),
  413: problem('Body larger than the limit (`payload_too_large`)'),
  415: problem('Content-Type is not application/json (`unsupported_media_type`)'),
};

const security = [{ bearer: [] }];
const idParams = z.object({ id: z.string().meta({ param: { name: 'id', in: 'path' }, example: 'job_0mf3k2x9a1b2c3d4e5f6' }) });

const mergeRoute = {
  method: 'post' as const,
  tags: ['merges'],
  security,
  request: {
    headers: z.object({
      'idempotency-key': z
        .string()
        .min(1)
        .max(255)
        .optional()
        .meta({ description: 'Same key and same body: the same job. Same key, another body: 422 `idempotency_conflict`.' }),
    }),
    body: { required: true, content: { 'application/json': { schema: MergeRequestBody } } },
  },
  responses: {
    202: json(Job, 'Job created (or the job this Idempotency-Key created before)'),
    ...bodyErrors,
    401: errors[401],
    422: problem('Invalid request (`validation_failed`, with `errors[].path`), missing inputs (`input_not_found`), unreadable bucket (`input_not_allowed`), a URL this service does not fetch from (`input_refused`: not public, not https, too many redirects) or could not fetch (`input_unreachable`), inputs over the upload limit (`input_too_large`) or `idempotency_conflict`'),
  },
};

export const createMerge = createRoute({ ...mergeRoute, path: '/v1/merges', operationId: 'createMerge', summary: 'Create a merge job' });
export const createMergeAlias = createRoute({ ...mergeRoute, path: '/merge', operationId: 'createMergeAlias', summary: 'Alias of POST /v1/merges' });

export const getMerge = createRoute({
  method: 'get',
  path: '/v1/merges/{id}',
  operationId: 'getMerge',
  summary: 'A merge job: status, stage, progress, error, result links',
  tags: ['merges'],
  security,
  request: { params: idParams },
  responses: { 200: json(Job, 'The job'), ...errors },
});

export const listMerges = createRoute({
  method: 'get',
  path: '/v1/merges',
  operationId: 'listMerges',
  summary: "The caller's merge jobs, oldest first",
  tags: ['merges'],
  security,
  request: {
    query: z.object({
      limit: z.coerce.number().int().min(1).max(100).default(20).optional(),
      cursor: z.string().max(2048).optional(),
    }),
  },
  responses: { 200: json(JobList, 'One page of jobs'), 401: errors[401], 422: problem('Bad `limit` or `cursor` (`validation_failed`)') },
});

export const cancelMerge = createRoute({
  method: 'delete',
  path: '/v1/merges/{id}',
  operationId: 'cancelMerge',
  summary: 'Cancel a queued or running merge',
  tags: ['merges'],
  security,
  request: { params: idParams },
  responses: { 200: json(Job, 'The canceled job'), ...errors, 409: problem('The job already succeeded or failed (`job_not_cancelable`)') },
});

const notReady = problem('Unknown job (`not_found`) or the result does not exist yet (`result_not_ready`)');
const ended = problem('The job failed (`job_failed`, with the job\'s `error`) or was canceled (`job_canceled`): it has no results');
const resultErrors = { 401: errors[401], 404: notReady, 409: ended };

export const getReport = createRoute({
  method: 'get',
  path: '/v1/merges/{id}/report',
  operationId: 'getReport',
  summary: 'Barrier report (JSON)',
  tags: ['results'],
  security,
  request: { params: idParams },
  responses: { 200: json(ReportBody, 'The report'), ...resultErrors },
});

/** A result document of a succeeded job, served as stored. */
const resultDocument = <P extends string, O extends string>(path: P, operationId: O, summary: string, type: string, description: string) =>
  createRoute({
    method: 'get',
    path,
    operationId,
    summary,
    tags: ['results'],
    security,
    request: { params: idParams },
    responses: { 200: { description, content: { [type]: { schema: z.string() } } }, ...resultErrors },
  });

export const getReportSvg = resultDocument('/v1/merges/{id}/report.svg', 'getReportSvg', 'Loss and accuracy against alpha, one line per variant', 'image/svg+xml', 'The plot');
export const getReportHtml = resultDocument(
  '/v1/merges/{id}/report.html',
  'getReportHtml',
  'One self-contained page: the plot, the barrier table and the permutation spaces',
  'text/html',
  'The page (no scripts, no external assets)',
);

export const getWeights = createRoute({
  method: 'get',
  path: '/v1/merges/{id}/weights',
  operationId: 'getWeights',
  summary: 'The merged weights: a presigned GET of merged.safetensors, as JSON or as a redirect',
  description:
    'With `Accept: application/json` (ranked at least as high as application/octet-stream): 200 with `{url, expiresAt}`, for clients that must not follow redirects; fetch `url` without the API key. Otherwise 302 to that URL.',
  tags: ['results'],
  security,
  request: { params: idParams },
  responses: {
    200: json(WeightsLink, 'Where to GET the merged safetensors file, and until when'),
    302: { description: 'Presigned URL in Location', headers: z.object({ location: z.string() }) },
    ...resultErrors,
  },
});

export const createUpload = createRoute({
  method: 'post',
  path: '/v1/uploads',
  operationId: 'createUpload',
  summary: 'A presigned PUT URL for one checkpoint or dataset',
  tags: ['uploads'],
  security,
  request: { body: { required: true, content: { 'application/json': { schema: UploadCreate } } } },
  responses: {
    201: json(Upload, 'PUT the bytes to `url` with `headers` before `expiresAt`; then reference it as {"upload": id}'),
    ...bodyErrors,
    401: errors[401],
    422: problem('Invalid request (`validation_failed`)'),
  },
});

export const trainingRunHook = createRoute({
  method: 'post',
  path: '/v1/hooks/training-run',
  operationId: 'trainingRunHook',
  summary: 'A training run finished: collect its checkpoint; start the merge when its group is complete',
  description:
    'Authenticated by the bearer key; when the service has a hook secret, also signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature). Re-delivery is harmless: one member per run, one job per group.',
  tags: ['hooks'],
  security,
  request: {
    headers: z.object({ 'webhook-id': z.string().optional(), 'webhook-timestamp': z.string().optional(), 'webhook-signature': z.string().optional() }),
    body: { required: true, content: { 'application/json': { schema: TrainingRunEvent } } },
  },
  responses: {
    202: json(TrainingRunAccepted, 'Recorded; `job` is set once the group is complete'),
    ...bodyErrors,
    401: problem('Missing key or bad signature (`unauthorized`)'),
    422: problem('Invalid event (`validation_failed`) or, on completion, `input_not_found` / `input_not_allowed`'),
  },
});

export const healthz = createRoute({
  method: 'get',
  path: '/healthz',
  operationId: 'healthz',
  summary: 'Liveness',
  tags: ['meta'],
  security: [],
  responses: {
    200: json(z.object({ ok: z.literal(true) }), 'Alive'),
    '4XX': problem('A request the edge refuses before any route runs (e.g. 431: headers too large)'),
  },
});

/** Outbound webhooks (Standard Webhooks headers: webhook-id, webhook-timestamp, webhook-signature). */
export const webhooks = (['merge.succeeded', 'merge.failed'] as const).map((type) => ({
  method: 'post' as const,
  path: type,
  operationId: type.replace('.', '_'),
  summary: type === 'merge.succeeded' ? 'A merge finished; results are ready' : 'A merge failed; `data.error` says why',
  description:
    'POSTed to the request\'s `webhook.url`, signed per Standard Webhooks (`webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`); retried with backoff until a 2xx.',
  request: {
    headers: z.object({ 'webhook-id': z.string(), 'webhook-timestamp': z.string(), 'webhook-signature': z.string() }),
    body: { content: { 'application/json': { schema: MergeEvent } } },
  },
  // the receiver authenticates basin by the signature, not by a key basin sends
  security: [],
  responses: { 200: { description: 'Received (any 2xx)' } },
}));

export type MergeRequestOut = z.infer<typeof MergeRequest>;
