import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import { JobId, type Job } from '../contracts/job.ts';
import { DatabaseUnavailable, isSchemaMissing } from '../jobs/db.ts';
import { UnreadableJob } from '../jobs/store.ts';
import { keys } from '../storage/keys.ts';
import { isStorageOutage } from '../storage/store.ts';
import { bearerAuth, type AuthEnv } from './auth.ts';
import { jsonBody } from './body.ts';
import type { AppConfig } from './config.ts';
import { canonicalJson, newId, sha256Hex } from './crypto.ts';
import { mountDocs } from './docs.ts';
import { prefersJson } from './accept.ts';
import { checkInputs } from './inputs.ts';
import { verifyStandardWebhook } from './hooks.ts';
import { openApiYaml } from './openapi.ts';
import { fieldErrors, problem, ProblemError } from './problem.ts';
import * as spec from './spec.ts';

/** Job ids come from URLs: anything not shaped like one is simply not found (never a query error). */
const isJobId = (id: string) => JobId.safeParse(id).success;

/** Hono's `/v1/merges/:id/report.svg` -> a RegExp matching the concrete paths it serves. */
function routePattern(path: string): RegExp {
  const parts = path.split('/').map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^$()|[\]\\{}]/g, '\\$&')));
  return new RegExp(`^${parts.join('/')}$`);
}

/** The edge: one Hono app for Node and Workers; every dependency comes in through `config`. */
export function createApp(config: AppConfig) {
  const { store, jobs, limits } = config;
  const app = new OpenAPIHono<AuthEnv>({
    // zod failures on body, query, params or headers: 422 with every failing field's path (the
    // validator passes the input along, which says which branch of a union was meant)
    defaultHook: (result) => {
      if (!result.success) throw new ProblemError(422, 'validation_failed', 'the request does not match the schema', fieldErrors(result.error.issues, (result as { data?: unknown }).data));
    },
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', description: 'API key' });

  app.onError((err, c) => {
    if (err instanceof ProblemError) return problem(c, err.status, err.code, err.message, err.errors, err.jobError);
    if (err instanceof HTTPException && err.status < 500) return problem(c, err.status, err.status === 413 ? 'payload_too_large' : 'validation_failed', err.message);
    // S3 or PostgreSQL down or unreachable is the service's problem, not the client's, and worth a retry
    if (err instanceof DatabaseUnavailable) return problem(c, 503, 'database_unavailable');
    if (isStorageOutage(err)) return problem(c, 503, 'storage_unavailable');
    if (isSchemaMissing(err)) return problem(c, 503, 'database_unavailable', 'the database has no basin schema yet: start a runner (or the Node edge) once to migrate it');
    // a row that does not make a job is named, and only its own requests fail
    if (err instanceof UnreadableJob) {
      console.error(`basin edge: ${err.message}`);
      return problem(c, 500, 'job_unreadable', err.message);
    }
    console.error('basin edge: unhandled error', err);
    return problem(c, 500, 'internal_error');
  });
  // A known path with another method is a 405 naming the allowed ones; anything else a 404.
  let routeTable: Array<{ method: string; pattern: RegExp }> | undefined;
  const allowedMethods = (path: string) => {
    routeTable ??= app.routes
      .filter((r) => r.method !== 'ALL')
      .map((r) => ({ method: r.method, pattern: routePattern(r.path) }));
    return [...new Set(routeTable.filter((r) => r.pattern.test(path)).map((r) => r.method))];
  };
  app.notFound((c) => {
    const allow = allowedMethods(c.req.path);
    if (allow.length === 0) return problem(c, 404, 'not_found', `no route ${c.req.method} ${c.req.path}`);
    c.header('allow', allow.join(', '));
    return problem(c, 405, 'method_not_allowed', `${c.req.method} is not allowed here; use ${allow.join(', ')}`);
  });

  // Browsers: preflights are answered here, before auth (they carry no credentials); only the
  // configured origins get Access-Control-Allow-Origin, so with none configured browsers are refused.
  const origins = config.corsOrigins ?? [];
  app.use('*', cors({
    origin: (origin) => (origins.includes('*') ? '*' : origins.includes(origin) ? origin : null),
    allowMethods: ['GET', 'HEAD', 'POST', 'DELETE', 'OPTIONS'],
    allowHeaders: ['authorization', 'content-type', 'idempotency-key', 'webhook-id', 'webhook-timestamp', 'webhook-signature'],
    exposeHeaders: ['location', 'idempotent-replayed', 'allow', 'www-authenticate'],
    maxAge: 600,
  }));

  // Order matters: authenticate before reading a body, then guard and parse it.
  app.use('/v1/*', bearerAuth(config.apiKeys));
  app.use('/merge', bearerAuth(config.apiKeys));
  // Bodies are read only where a route takes them: another method or path is a 405 or 404, not a 415.
  const bodyGuard = jsonBody(limits.maxBodyBytes);
  const guardBody: MiddlewareHandler = (c, next) => (allowedMethods(c.req.path).includes(c.req.method) ? bodyGuard(c, next) : next());
  app.use('/v1/*', guardBody);
  app.use('/merge', guardBody);
  // Signed hooks: check the signature over the exact bytes before any schema looks at them.
  app.use('/v1/hooks/*', async (c, next) => {
    if (config.hookSecret) await verifyStandardWebhook(config.hookSecret, c.req.raw.headers, await c.req.text());
    await next();
  });

  app.openapi(spec.healthz, (c) => c.json({ ok: true as const }, 200));

  app.openapi(spec.createUpload, async (c) => {
    const tenant = c.get('tenant');
    const body = c.req.valid('json');
    if (body.size > limits.maxUploadBytes) {
      throw new ProblemError(413, 'payload_too_large', `uploads are limited to ${limits.maxUploadBytes} bytes`, [
        { path: 'size', message: `at most ${limits.maxUploadBytes}` },
      ]);
    }
    const id = newId('upl');
    const url = await store.presignPut(keys.upload(tenant, id), { expiresIn: limits.presignSeconds, contentLength: body.size });
    const expiresAt = new Date(Date.now() + limits.presignSeconds * 1000).toISOString();
    return c.json({ id, url, method: 'PUT' as const, headers: { 'content-length': String(body.size) }, expiresAt }, 201);
  });

  /**
   * Creates (or, for a known Idempotency-Key, finds) a job; shared by the API and the training hook.
   * Inputs are checked before the one transaction that creates the job: nothing is written unless
   * they exist, and a failure anywhere leaves no job behind.
   */
  const submitMerge = async (c: Context<AuthEnv>, request: spec.MergeRequestOut, idemKey: string | undefined, group?: string) => {
    const tenant = c.get('tenant');
    const requestHash = await sha256Hex(canonicalJson(request));
    const conflict = () => new ProblemError(422, 'idempotency_conflict', 'this Idempotency-Key was used with a different request body');
    const keyHash = idemKey === undefined ? undefined : await sha256Hex(idemKey);
    if (keyHash !== undefined) {
      const seen = await jobs.idempotencyBinding(tenant, keyHash);
      if (seen && seen.requestHash !== requestHash) throw conflict();
      const job = seen && (await jobs.find(tenant, seen.jobId));
      if (job) return { job, replayed: true };
    }
    await checkInputs(request, tenant, store, config.allowedBuckets, config.outbound, limits.maxUploadBytes, jobs);
    const created = await jobs.create({ tenant, id: newId('job'), request, requestHash, idempotencyKeyHash: keyHash, group });
    if ('conflict' in created) throw conflict();
    return created;
  };
  const createMergeHandler = async (c: Context<AuthEnv>, request: spec.MergeRequestOut, idemKey: string | undefined) => {
    const { job, replayed } = await submitMerge(c, request, idemKey);
    if (replayed) c.header('idempotent-replayed', 'true');
    c.header('location', job.result.self);
    return c.json(job, 202);
  };
  app.openapi(spec.createMerge, (c) => createMergeHandler(c, c.req.valid('json'), c.req.valid('header')['idempotency-key']));
  app.openapi(spec.createMergeAlias, (c) => createMergeHandler(c, c.req.valid('json'), c.req.valid('header')['idempotency-key']));

  app.openapi(spec.trainingRunHook, async (c) => {
    const tenant = c.get('tenant');
    const event = c.req.valid('json');
    const group = await jobs.recordGroupMember(tenant, event.group, event.run, event.checkpoint);
    const answer = (job: Job | null) => c.json({ group: event.group.id, members: group.members.length, size: group.size, job }, 202);
    if (group.members.length < group.size) return answer(null);
    const linked = group.jobId && (await jobs.find(tenant, group.jobId));
    if (linked) return answer(linked);
    // Complete: models in run-id order (deterministic). However many deliveries arrive at once, the
    // group's idempotency key admits one job (its unique constraint), and the others answer it.
    const request = { ...event.group.merge, models: group.members.slice(0, group.size).map((m) => m.checkpoint) } as spec.MergeRequestOut;
    const { job } = await submitMerge(c, request, `group:${event.group.id}`, event.group.id);
    return answer(job);
  });

  /** The tenant's job, or 404 (another tenant's job answers exactly like a missing one). */
  const getJob = async (tenant: string, id: string): Promise<Job> => {
    const job = isJobId(id) ? await jobs.find(tenant, id) : undefined;
    if (!job) throw new ProblemError(404, 'not_found', `no merge ${id}`);
    return job;
  };
  app.openapi(spec.getMerge, async (c) => c.json(await getJob(c.get('tenant'), c.req.valid('param').id), 200));

  app.openapi(spec.listMerges, async (c) => {
    const q = c.req.valid('query');
    const limit = Math.min(q.limit ?? 20, limits.maxPageSize);
    if (q.cursor !== undefined && !isJobId(q.cursor)) {
      throw new ProblemError(422, 'validation_failed', 'invalid cursor', [{ path: 'cursor', message: 'not a cursor from this API' }]);
    }
    return c.json(await jobs.list(c.get('tenant'), limit, q.cursor), 200);
  });

  app.openapi(spec.cancelMerge, async (c) => {
    const tenant = c.get('tenant');
    const { id } = c.req.valid('param');
    const out = isJobId(id) ? await jobs.cancel(tenant, id) : ({ refused: 'not_found' } as const);
    if ('job' in out) return c.json(out.job, 200);
    if (out.refused === 'not_found') throw new ProblemError(404, 'not_found', `no merge ${id}`);
    const job = await getJob(tenant, id);
    throw new ProblemError(409, 'job_not_cancelable', `merge ${id} is ${job.status}`);
  });

  /**
   * Results exist only for succeeded jobs: a failed or canceled job's leftovers are never served, and
   * its answer says it ended and why (409), so a client stops waiting.
   */
  const succeeded = async (tenant: string, id: string, what: string) => {
    const job = await getJob(tenant, id);
    if (job.status === 'failed') throw new ProblemError(409, 'job_failed', `merge ${id} failed (${job.error?.code ?? 'unknown'}: ${job.error?.message ?? 'no reason recorded'}): no ${what}`, undefined, job.error ?? undefined);
    if (job.status === 'canceled') throw new ProblemError(409, 'job_canceled', `merge ${id} was canceled: no ${what}`);
    if (job.status !== 'succeeded') throw new ProblemError(404, 'result_not_ready', `merge ${id} is ${job.status}: no ${what} yet`);
  };
  /** A result object of an existing job of this tenant, or the right 404/409. */
  const resultBytes = async (tenant: string, id: string, file: 'report.json' | 'report.svg' | 'report.html') => {
    await succeeded(tenant, id, file);
    const bytes = await store.getBytes(keys.jobFile(tenant, id, file));
    if (!bytes) throw new ProblemError(404, 'result_not_ready', `merge ${id} has no ${file} yet`);
    return bytes;
  };
  app.openapi(spec.getReport, async (c) => {
    const bytes = await resultBytes(c.get('tenant'), c.req.valid('param').id, 'report.json');
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, { 'content-type': 'application/json' }) as never;
  });
  // Documents rendered from tenant-supplied names: no scripts, nothing fetched, even if one slipped through.
  const documentHeaders = { 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:", 'x-content-type-options': 'nosniff' };
  app.openapi(spec.getReportSvg, async (c) => {
    const bytes = await resultBytes(c.get('tenant'), c.req.valid('param').id, 'report.svg');
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, { 'content-type': 'image/svg+xml', ...documentHeaders }) as never;
  });
  app.openapi(spec.getReportHtml, async (c) => {
    const bytes = await resultBytes(c.get('tenant'), c.req.valid('param').id, 'report.html');
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, { 'content-type': 'text/html; charset=utf-8', ...documentHeaders }) as never;
  });
  app.openapi(spec.getWeights, async (c) => {
    const tenant = c.get('tenant');
    const { id } = c.req.valid('param');
    await succeeded(tenant, id, 'merged weights');
    const key = keys.jobFile(tenant, id, 'merged.safetensors');
    if (!(await store.head(key))) throw new ProblemError(404, 'result_not_ready', `merge ${id} has no merged weights yet`);
    const url = await store.presignGet(key, { expiresIn: limits.presignSeconds, filename: `${id}.safetensors` });
    // Clients that must not follow redirects (generated ones that parse every body as JSON) ask for JSON.
    if (prefersJson(c.req.header('accept'))) {
      return c.json({ url, expiresAt: new Date(Date.now() + limits.presignSeconds * 1000).toISOString() }, 200);
    }
    return c.redirect(url, 302) as never;
  });

  let yaml: string | undefined; // built on first request: the routes are all registered by then
  app.get('/openapi.yaml', (c) => c.body((yaml ??= openApiYaml(app)), 200, { 'content-type': 'application/yaml; charset=utf-8' }));
  mountDocs(app, config.docsAssets);
  return app;
}

export type BasinApp = ReturnType<typeof createApp>;
