import { z } from 'zod';

/** A merge job as the API shows it: a row of the jobs table (src/jobs), with its webhook delivery log. */
export const JobId = z.string().regex(/^job_[0-9a-z]{10,40}$/).meta({ id: 'JobId', example: 'job_0mf3k2x9a1b2c3d4e5f6' });
export const JobStatus = z.enum(['queued', 'running', 'succeeded', 'failed', 'canceled']).meta({ id: 'JobStatus' });
export type JobStatus = z.infer<typeof JobStatus>;
export const terminalStatuses: readonly JobStatus[] = ['succeeded', 'failed', 'canceled'];

export const JobError = z
  .strictObject({
    /** machine-readable, stable (the engine's and runner's error codes, e.g. shape_mismatch) */
    code: z.string().min(1).max(100),
    message: z.string().max(10_000),
  })
  .meta({ id: 'JobError' });
export type JobError = z.infer<typeof JobError>;

/** Where the results are fetched; absolute paths on this API (each redirects or answers JSON). */
export const JobLinks = z
  .strictObject({
    self: z.string(),
    report: z.string().optional(),
    reportSvg: z.string().optional(),
    reportHtml: z.string().optional(),
    weights: z.string().optional(),
  })
  .meta({ id: 'JobLinks' });

/**
 * One attempt to deliver the outbound webhook, as logged by the runner that made it, so a client can
 * see why its endpoint heard nothing.
 */
export const WebhookDelivery = z
  .strictObject({
    event: z.enum(['merge.succeeded', 'merge.failed']),
    /** the `webhook-id` header: the same across retries of one event, so receivers can dedupe */
    id: z.string().min(1).max(100),
    attempt: z.number().int().min(1),
    at: z.iso.datetime(),
    /** the receiver's HTTP status; null when it could not be reached */
    status: z.number().int().min(100).max(599).nullable(),
    error: z.string().max(1000).nullable(),
    /** when the next retry is due; null once delivered or given up */
    nextAttemptAt: z.iso.datetime().nullable(),
  })
  .meta({ id: 'WebhookDelivery' });
export type WebhookDelivery = z.infer<typeof WebhookDelivery>;

export const Job = z
  .strictObject({
    id: JobId,
    tenant: z.string(),
    status: JobStatus,
    /** the pipeline stage the runner is in (load, align, repair, sweep, write), null before it starts */
    stage: z.string().max(100).nullable(),
    progress: z.number().min(0).max(1),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    /** last sign of life from the runner; a stale heartbeat on a running job means it is offered again */
    heartbeatAt: z.iso.datetime().nullable(),
    error: JobError.nullable(),
    result: JobLinks,
    /** SHA-256 hex of the canonical validated request: idempotency and dedup */
    requestHash: z.string().regex(/^[0-9a-f]{64}$/),
    /** how many times a runner has claimed it */
    attempts: z.number().int().min(0),
    /** outbound webhook attempts, oldest first (bounded: the runner keeps the latest) */
    deliveries: z.array(WebhookDelivery).max(100),
  })
  .meta({ id: 'Job' });
export type Job = z.infer<typeof Job>;

export const JobList = z
  .strictObject({
    items: z.array(Job),
    /** pass as `cursor` for the next page; null on the last page */
    nextCursor: z.string().nullable(),
    /** jobs on this page whose stored row does not make a valid job (named, not hidden; the others are unaffected) */
    unreadable: z.array(z.strictObject({ id: z.string(), error: z.string() })).optional(),
  })
  .meta({ id: 'JobList' });
export type JobList = z.infer<typeof JobList>;

/**
 * A job's links (the API's result paths). Result links appear only once it succeeded: a job that failed or
 * was canceled never points at partial outputs.
 */
export function jobLinks(id: string, status: JobStatus): z.infer<typeof JobLinks> {
  const self = `/v1/merges/${id}`;
  return status === 'succeeded' ? { self, report: `${self}/report`, reportSvg: `${self}/report.svg`, reportHtml: `${self}/report.html`, weights: `${self}/weights` } : { self };
}

/** Outbound webhook body (Standard Webhooks): sent when a job reaches succeeded or failed. */
export const MergeEvent = z
  .strictObject({
    type: z.enum(['merge.succeeded', 'merge.failed']),
    timestamp: z.iso.datetime(),
    data: Job,
  })
  .meta({ id: 'MergeEvent' });
export type MergeEvent = z.infer<typeof MergeEvent>;
