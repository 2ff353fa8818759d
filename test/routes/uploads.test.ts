import { describe, expect, it } from 'vitest';
import { mergeBody, problemOf, testApp } from './helpers.ts';

describe('POST /v1/uploads', () => {
  const t = testApp();

  it('returns a presigned PUT that accepts exactly the stated size; the upload is then usable', async () => {
    const ids: string[] = [];
    for (const text of ['model one', 'model two!']) {
      const bytes = new TextEncoder().encode(text);
      const res = await t.asA('/v1/uploads', { method: 'POST', json: { size: bytes.length, filename: 'a.safetensors' } });
      expect(res.status).toBe(201);
      const up = (await res.json()) as any;
      expect(up.id).toMatch(/^upl_/);
      expect(up.method).toBe('PUT');
      expect(Date.parse(up.expiresAt)).toBeGreaterThan(Date.now());
      expect(up.headers['content-length']).toBe(String(bytes.length));
      const put = await fetch(up.url, { method: 'PUT', body: bytes });
      expect(put.status).toBe(200);
      ids.push(up.id);
    }
    const res = await t.asA('/v1/merges', { method: 'POST', json: mergeBody(ids) });
    expect(res.status).toBe(202);
    // another tenant cannot use them
    expect((await problemOf(await t.asB('/v1/merges', { method: 'POST', json: mergeBody(ids) }))).code).toBe('input_not_found');
  });

  it('413 past the upload limit, 422 for bad fields, 401 without a key, 415 for other types', async () => {
    const big = await problemOf(await t.asA('/v1/uploads', { method: 'POST', json: { size: 1024 ** 4 } }));
    expect(big.code).toBe('payload_too_large');
    expect(big.errors![0].path).toBe('size');
    const bad = await problemOf(await t.asA('/v1/uploads', { method: 'POST', json: { size: -1, kind: 'video', extra: 1 } }));
    expect(bad.code).toBe('validation_failed');
    expect(bad.errors!.map((e) => e.path)).toEqual(expect.arrayContaining(['size', 'kind']));
    expect((await t.anon('/v1/uploads', { method: 'POST', json: { size: 1 } })).status).toBe(401);
    expect((await t.asA('/v1/uploads', { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } })).status).toBe(415);
  });
});

describe('meta routes', () => {
  const t = testApp();
  it('healthz, docs and openapi.yaml need no key; unknown routes are problem 404s', async () => {
    expect(await (await t.anon('/healthz')).json()).toEqual({ ok: true });
    const docs = await t.anon('/docs');
    expect(docs.status).toBe(200);
    expect(await docs.text()).toMatch(/swagger/i);
    const spec = await t.anon('/openapi.yaml');
    expect(await spec.text()).toMatch(/^openapi: 3\.1\.0/);
    expect((await problemOf(await t.anon('/nope'))).code).toBe('not_found');
  });
  it('a known path with another method is 405 with Allow', async () => {
    const put = await t.asA('/v1/merges', { method: 'PUT', json: {} });
    expect(put.status).toBe(405);
    expect((await problemOf(put)).code).toBe('method_not_allowed');
    expect(put.headers.get('allow')!.split(', ').sort()).toEqual(['GET', 'POST']);
    const post = await t.asA('/v1/merges/job_0000000000aaaaaaaaaa/report.svg', { method: 'POST', json: {} });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
    expect((await t.anon('/healthz', { method: 'DELETE' })).status).toBe(405);
    // the method and path decide before the body is looked at: no 415 for a body nobody reads
    for (const headers of [{}, { 'content-type': 'text/plain' }] as Record<string, string>[]) {
      const bare = await t.asA('/v1/merges', { method: 'PUT', body: 'x', headers });
      expect(bare.status).toBe(405);
      expect(bare.headers.get('allow')).toMatch(/POST/);
      const unknown = await t.asA('/v1/nope', { method: 'POST', body: 'x', headers });
      expect((await problemOf(unknown)).code).toBe('not_found');
    }
  });
});
