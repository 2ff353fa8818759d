import { describe, expect, it } from 'vitest';
import { AllowList } from '../../src/storage/outbound/allowList.ts';
import { nodeOutbound } from '../../src/storage/outbound/node.ts';
import { attackerHost } from '../security/fixtures.ts';
import { mergeBody, problemOf, testApp } from './helpers.ts';

describe('POST /v1/merges', () => {
  it('creates a queued job with its validated request in the database, answers 202', async () => {
    const t = testApp();
    await t.seedUpload(t.tenantA, 'upl_modelaaa1');
    await t.seedUpload(t.tenantA, 'upl_modelbbb2');
    const res = await t.asA('/v1/merges', { method: 'POST', json: mergeBody() });
    expect(res.status).toBe(202);
    const job = (await res.json()) as any;
    expect(job).toMatchObject({ status: 'queued', tenant: t.tenantA, progress: 0, attempts: 0, stage: null, error: null, deliveries: [] });
    expect(res.headers.get('location')).toBe(`/v1/merges/${job.id}`);
    const stored = (await t.jobs.request(job.id)) as any;
    expect(stored.alignment.maxIterations).toBe(100); // defaults applied before storing
    const got = await t.asA(`/v1/merges/${job.id}`);
    expect(got.status).toBe(200);
    expect(await got.json()).toEqual(job);
  });
});

describe('POST /v1/merges: errors', () => {
  const t = testApp();

  it('401 without or with an unknown key', async () => {
    const none = await t.anon('/v1/merges', { method: 'POST', json: mergeBody() });
    expect(none.status).toBe(401);
    expect((await problemOf(none)).code).toBe('unauthorized');
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const bad = await t.app.request('/v1/merges', { method: 'POST', headers: { authorization: 'Bearer nope' } });
    expect((await problemOf(bad)).code).toBe('unauthorized');
  });

  it('415 for a non-JSON content type', async () => {
    const res = await t.asA('/v1/merges', { method: 'POST', body: 'models=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.status).toBe(415);
    expect((await problemOf(res)).code).toBe('unsupported_media_type');
    const none = await t.asA('/v1/merges', { method: 'POST', body: '{}' });
    expect(none.status).toBe(415);
    // malformed parameters are a media type problem, not a schema one
    for (const type of ['application/json;;;;;;', 'application/json; charset', 'application/json;=x', 'application/json x']) {
      const res = await t.asA('/v1/merges', { method: 'POST', body: JSON.stringify(mergeBody()), headers: { 'content-type': type } });
      expect((await problemOf(res)).code, type).toBe('unsupported_media_type');
    }
    const withCharset = await t.asA('/v1/merges', { method: 'POST', body: JSON.stringify(mergeBody()), headers: { 'content-type': 'application/json; charset=utf-8' } });
    expect((await problemOf(withCharset)).code).toBe('input_not_found'); // past the media type and the schema
  });

  it('422 for a webhook or input URL with credentials, naming the field', async () => {
    const body = { ...mergeBody(), models: [{ upload: 'upl_modelaaa1' }, { url: 'https://user:pw@example.com/m.safetensors' }], webhook: { url: 'http://user:pw@hooks.example.com/' } };
    const p = await problemOf(await t.asA('/v1/merges', { method: 'POST', json: body }));
    expect(p.code).toBe('validation_failed');
    expect(p.errors!.filter((e) => /credentials/.test(e.message)).map((e) => e.path).sort()).toEqual(['models.1.url', 'webhook.url']);
  });

  it('400 for malformed JSON', async () => {
    const res = await t.asA('/v1/merges', { method: 'POST', body: '{"models": [', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(400);
    expect((await problemOf(res)).code).toBe('malformed_json');
  });

  it('413 past the body limit, with or without a Content-Length', async () => {
    const huge = JSON.stringify({ ...mergeBody(), pad: 'x'.repeat(100_000) });
    const res = await t.asA('/v1/merges', { method: 'POST', body: huge, headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(413);
    expect((await problemOf(res)).code).toBe('payload_too_large');
    const stream = new ReadableStream({
      start(ctl) {
        for (let i = 0; i < 20; i++) ctl.enqueue(new TextEncoder().encode('x'.repeat(10_000)));
        ctl.close();
      },
    });
    const chunked = await t.asA('/v1/merges', { method: 'POST', body: stream, headers: { 'content-type': 'application/json' }, duplex: 'half' } as RequestInit);
    expect(chunked.status).toBe(413);
  });

  it('422 with field paths for schema violations and unknown fields', async () => {
    const body = mergeBody() as any;
    body.models = [{ upload: 'upl_modelaaa1' }];
    body.alignment.method = 'magic';
    body.surprise = true;
    const res = await t.asA('/v1/merges', { method: 'POST', json: body });
    expect(res.status).toBe(422);
    const p = await problemOf(res);
    expect(p.code).toBe('validation_failed');
    const paths = p.errors!.map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['models', 'alignment.method']));
    expect(p.errors!.some((e) => e.path === '' && /surprise/.test(e.message))).toBe(true);
  });

  it('422 flattens union errors to the branch meant: a mistyped layer type, a misspelled reference', async () => {
    const body = mergeBody() as any;
    body.architecture.layers[0].type = 'Linear';
    body.models[1] = { uplod: 'upl_modelbbb2' };
    const res = await t.asA('/v1/merges', { method: 'POST', json: body });
    const p = await problemOf(res);
    expect(p.errors).toEqual([
      { path: 'models.1', message: 'expected one of {upload}, {uri}, {url} (got "uplod")' },
      { path: 'architecture.layers.0.type', message: expect.stringMatching(/^unknown layer type "Linear"; expected one of linear, conv2d, .* \(did you mean "linear"\?\)$/) },
    ]);
  });

  it('422 input_not_found naming each missing upload', async () => {
    await t.seedUpload(t.tenantA, 'upl_modelaaa1');
    const res = await t.asA('/v1/merges', { method: 'POST', json: mergeBody(['upl_modelaaa1', 'upl_missing99']) });
    expect(res.status).toBe(422);
    const p = await problemOf(res);
    expect(p.code).toBe('input_not_found');
    expect(p.errors).toEqual([expect.objectContaining({ path: 'models.1.upload' })]);
  });

  it("another tenant's uploads are not found", async () => {
    await t.seedUpload(t.tenantA, 'upl_modelaaa1');
    await t.seedUpload(t.tenantA, 'upl_modelbbb2');
    const res = await t.asB('/v1/merges', { method: 'POST', json: mergeBody() });
    expect((await problemOf(res)).code).toBe('input_not_found');
  });

  it('s3:// references: allow-listed buckets are checked, others refused', async () => {
    const ext = t.store.forBucket('basin-external');
    await ext.putBytes('models/a.safetensors', new Uint8Array([1]));
    const body = { ...mergeBody(), models: [{ uri: 's3://basin-external/models/a.safetensors' }, { uri: 's3://basin-external/models/missing.safetensors' }] };
    const res = await t.asA('/v1/merges', { method: 'POST', json: body });
    const p = await problemOf(res);
    expect(p.code).toBe('input_not_found');
    expect(p.errors!.map((e) => e.path)).toEqual(['models.1.uri']);
    const own = { ...mergeBody(), models: [{ uri: 's3://basin-test/t/other/uploads/x' }, { uri: 's3://elsewhere/x' }] };
    const refused = await problemOf(await t.asA('/v1/merges', { method: 'POST', json: own }));
    expect(refused.code).toBe('input_not_allowed');
    expect(refused.errors!.map((e) => e.path)).toEqual(['models.0.uri', 'models.1.uri']);
  });

  it('URL references are checked with a one-byte GET through the outbound guard (presigned GET URLs refuse HEAD)', async () => {
    // a file server on 127.0.0.2, allow-listed, that behaves as a presigned S3 GET URL: GET only, ranges honoured
    const sizes: Record<string, number> = { '/a.safetensors': 1000, '/empty': 0, '/huge': 10 ** 12 };
    const files = await attackerHost((req, res) => {
      const size = sizes[req.url!];
      if (req.method !== 'GET') res.writeHead(403).end();
      else if (size === undefined) res.writeHead(404).end();
      else if (size === 0) res.writeHead(416, { 'content-range': 'bytes */0' }).end();
      else res.writeHead(206, { 'content-range': `bytes 0-0/${size}`, 'content-length': '1' }).end('x');
    }, false);
    try {
      const t2 = testApp({ outbound: nodeOutbound({ allow: AllowList.parse('127.0.0.2'), dnsServers: [] }) });
      await t2.seedUpload(t2.tenantA, 'upl_modelaaa1');
      const at = (path: string) => ({ url: `${files.url}${path}` });
      const create = async (second: object) => t2.asA('/v1/merges', { method: 'POST', json: { ...mergeBody(), models: [at('/a.safetensors'), second] } });
      const missing = await problemOf(await create(at('/b.safetensors')));
      expect(missing).toMatchObject({ code: 'input_not_found', errors: [{ path: 'models.1.url' }] });
      expect(files.requests).toEqual(['GET /a.safetensors', 'GET /b.safetensors']);
      expect(await problemOf(await create(at('/empty')))).toMatchObject({ code: 'input_not_found', errors: [{ path: 'models.1.url' }] });
      expect(await problemOf(await create(at('/huge')))).toMatchObject({ code: 'input_too_large', errors: [{ path: 'models.1.url' }] });
      const internal = await problemOf(await create({ url: 'https://127.0.0.1:9/x' }));
      expect(internal).toMatchObject({ code: 'input_refused', errors: [{ path: 'models.1.url' }] });
      expect((await create({ upload: 'upl_modelaaa1' })).status).toBe(202);
    } finally {
      await files.close();
    }
  });
});

describe('Idempotency-Key', () => {
  it('same key and body: the same job; another body: 422 idempotency_conflict', async () => {
    const t = testApp();
    await t.seedUpload(t.tenantA, 'upl_modelaaa1');
    await t.seedUpload(t.tenantA, 'upl_modelbbb2');
    const headers = { 'idempotency-key': 'order-42' };
    const first = (await (await t.asA('/v1/merges', { method: 'POST', json: mergeBody(), headers })).json()) as any;
    // same request with keys in another order and defaults spelled out: still the same body
    const again = await t.asA('/v1/merges', { method: 'POST', json: { ...mergeBody(), sweep: { points: 11 } }, headers });
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(((await again.json()) as any).id).toBe(first.id);
    const other = await t.asA('/v1/merges', { method: 'POST', json: { ...mergeBody(), sweep: { points: 5 } }, headers });
    expect(other.status).toBe(422);
    expect((await problemOf(other)).code).toBe('idempotency_conflict');
    // keys are per tenant
    await t.seedUpload(t.tenantB, 'upl_modelaaa1');
    await t.seedUpload(t.tenantB, 'upl_modelbbb2');
    const b = (await (await t.asB('/v1/merges', { method: 'POST', json: mergeBody(), headers })).json()) as any;
    expect(b.id).not.toBe(first.id);
    // no key: a new job each time
    const fresh = (await (await t.asA('/v1/merges', { method: 'POST', json: mergeBody() })).json()) as any;
    expect(fresh.id).not.toBe(first.id);
  });
});

describe('POST /merge (alias)', () => {
  it('behaves as POST /v1/merges', async () => {
    const t = testApp();
    await t.seedUpload(t.tenantA, 'upl_modelaaa1');
    await t.seedUpload(t.tenantA, 'upl_modelbbb2');
    const res = await t.asA('/merge', { method: 'POST', json: mergeBody() });
    expect(res.status).toBe(202);
    expect(((await res.json()) as any).status).toBe('queued');
    expect((await t.anon('/merge', { method: 'POST', json: mergeBody() })).status).toBe(401);
  });
});

describe('outages', () => {
  it('S3 unreachable during a create: 503 storage_unavailable, and no job is left behind', async () => {
    const { BlobStore, createS3Client } = await import('../../src/storage/index.ts');
    const dead = new BlobStore(createS3Client({ endpoint: 'http://127.0.0.1:9', accessKeyId: 'x', secretAccessKey: 'x' }), 'basin-test');
    const t = testApp({ store: dead });
    const res = await t.asA('/v1/merges', { method: 'POST', json: mergeBody(), headers: { 'idempotency-key': 'outage-1' } });
    expect(res.status).toBe(503);
    expect((await problemOf(res)).code).toBe('storage_unavailable');
    expect((await (await t.asA('/v1/merges')).json()) as object).toEqual({ items: [], nextCursor: null });
  });

  it('PostgreSQL unreachable: 503 database_unavailable, never a 500', async () => {
    const { perCallDatabase } = await import('../../src/jobs/db.ts');
    const { JobStore } = await import('../../src/jobs/store.ts');
    const t = testApp({ jobs: new JobStore(perCallDatabase('postgres://u:p@127.0.0.1:9/none')) });
    for (const [path, init] of [['/v1/merges/job_0000000000zzzzzzzzzz', {}], ['/v1/merges', {}], ['/v1/merges', { method: 'POST', json: mergeBody() }]] as const) {
      const res = await t.asA(path, init);
      expect(res.status, path).toBe(503);
      expect((await problemOf(res)).code).toBe('database_unavailable');
    }
  });
});

describe('Idempotency-Key after a failed attempt', () => {
  it('a retry with the same body succeeds once the inputs exist', async () => {
    const t = testApp();
    const headers = { 'idempotency-key': 'retry-me' };
    const missing = await t.asA('/v1/merges', { method: 'POST', json: mergeBody(), headers });
    expect((await problemOf(missing)).code).toBe('input_not_found');
    await t.seedUpload(t.tenantA, 'upl_modelaaa1');
    await t.seedUpload(t.tenantA, 'upl_modelbbb2');
    const ok = await t.asA('/v1/merges', { method: 'POST', json: mergeBody(), headers });
    expect(ok.status).toBe(202);
    const id = ((await ok.json()) as { id: string }).id;
    const replay = await t.asA('/v1/merges', { method: 'POST', json: mergeBody(), headers });
    expect(((await replay.json()) as { id: string }).id).toBe(id);
  });
});

describe('input sizes', () => {
  it('422 input_too_large for an upload over the limit (servers that ignore the signed size)', async () => {
    const t = testApp({ limits: { maxBodyBytes: 65536, maxUploadBytes: 3, presignSeconds: 60, maxPageSize: 100 } });
    await t.seedUpload(t.tenantA, 'upl_modelaaa1'); // 4 bytes
    await t.seedUpload(t.tenantA, 'upl_modelbbb2');
    const p = await problemOf(await t.asA('/v1/merges', { method: 'POST', json: mergeBody() }));
    expect(p.code).toBe('input_too_large');
    expect(p.errors!.map((e) => e.path)).toEqual(['models.0.upload', 'models.1.upload']);
  });
});
