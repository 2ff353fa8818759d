import { beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../src/storage/keys.ts';
import type { Job } from '../../src/contracts/job.ts';
import { mergeBody, problemOf, testApp } from './helpers.ts';

const t = testApp();
const created: any[] = [];
/** What a runner does to a job, through the same state machine: claim, then succeed. */
async function succeed(id: string) {
  expect((await t.jobs.apply(id, { type: 'claim', lease: 'test' }))!.transition.ok).toBe(true);
  expect((await t.jobs.apply(id, { type: 'succeed', lease: 'test' }))!.transition.ok).toBe(true);
}

beforeAll(async () => {
  await t.seedUpload(t.tenantA, 'upl_modelaaa1');
  await t.seedUpload(t.tenantA, 'upl_modelbbb2');
  for (let i = 0; i < 5; i++) created.push(await (await t.asA('/v1/merges', { method: 'POST', json: mergeBody() })).json());
});

describe('GET /v1/merges/{id}', () => {
  it("answers another tenant's id exactly like a missing one", async () => {
    const id = created[0].id;
    const theirs = await t.asB(`/v1/merges/${id}`);
    const missing = await t.asB('/v1/merges/job_0000000000zzzzzzzzzz');
    expect(theirs.status).toBe(404);
    expect(missing.status).toBe(404);
    const a = (await problemOf(theirs)) as any;
    const b = (await problemOf(missing)) as any;
    expect(a.code).toBe('not_found');
    expect({ ...a, detail: undefined, instance: undefined }).toEqual({ ...b, detail: undefined, instance: undefined });
    expect((await t.asB(`/v1/merges/../../${id}`)).status).toBe(404);
    expect((await t.asB('/v1/merges/not-an-id')).status).toBe(404);
  });
  it('401 without a key', async () => {
    expect((await problemOf(await t.anon(`/v1/merges/${created[0].id}`))).code).toBe('unauthorized');
  });
});

describe('GET /v1/merges', () => {
  it('pages through the tenant\'s jobs in creation order', async () => {
    const ids: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: Response = await t.asA(`/v1/merges?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      const page = (await res.json()) as any;
      expect(page.items.length).toBeLessThanOrEqual(2);
      ids.push(...page.items.map((j: any) => j.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(ids).toEqual(created.map((j) => j.id));
    const b = (await (await t.asB('/v1/merges')).json()) as any;
    expect(b).toEqual({ items: [], nextCursor: null });
  });
  it('422 for a bad limit, with its path', async () => {
    const p = await problemOf(await t.asA('/v1/merges?limit=0'));
    expect(p.code).toBe('validation_failed');
    expect(p.errors![0].path).toBe('limit');
  });
});

describe('DELETE /v1/merges/{id}', () => {
  it('cancels a queued job; twice is fine; finished jobs answer 409; other tenants 404', async () => {
    const id = created[1].id;
    expect((await t.asB(`/v1/merges/${id}`, { method: 'DELETE' })).status).toBe(404);
    const res = await t.asA(`/v1/merges/${id}`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).status).toBe('canceled');
    expect(((await (await t.asA(`/v1/merges/${id}`, { method: 'DELETE' })).json()) as any).status).toBe('canceled');
    const done = created[2];
    await succeed(done.id);
    const p = await problemOf(await t.asA(`/v1/merges/${done.id}`, { method: 'DELETE' }));
    expect(p.code).toBe('job_not_cancelable');
  });
});

describe('results', () => {
  it('404 result_not_ready until the job succeeded (outputs alone are not results), then report, svg and a weights redirect', async () => {
    const id = created[3].id;
    for (const path of ['report', 'report.svg', 'weights']) {
      const p = await problemOf(await t.asA(`/v1/merges/${id}/${path}`));
      expect(p.code).toBe('result_not_ready');
      expect((await problemOf(await t.asB(`/v1/merges/${id}/${path}`))).code).toBe('not_found');
    }
    await t.store.putBytes(keys.jobFile(t.tenantA, id, 'report.json'), JSON.stringify({ alphas: [0, 1] }), 'application/json');
    await t.store.putBytes(keys.jobFile(t.tenantA, id, 'report.svg'), '<svg/>', 'image/svg+xml');
    await t.store.putBytes(keys.jobFile(t.tenantA, id, 'merged.safetensors'), new Uint8Array([9, 8, 7]));
    // a runner that died while writing leaves objects behind: still not a result
    for (const path of ['report', 'report.svg', 'weights']) expect((await problemOf(await t.asA(`/v1/merges/${id}/${path}`))).code).toBe('result_not_ready');
    const job = (await (await t.asA(`/v1/merges/${id}`)).json()) as Job;
    expect(job.result).toEqual({ self: `/v1/merges/${id}` });
    await succeed(id);
    expect(((await (await t.asA(`/v1/merges/${id}`)).json()) as Job).result.weights).toBe(`/v1/merges/${id}/weights`);
    const report = await t.asA(`/v1/merges/${id}/report`);
    expect(report.status).toBe(200);
    expect(await report.json()).toEqual({ alphas: [0, 1] });
    const svg = await t.asA(`/v1/merges/${id}/report.svg`);
    expect(svg.headers.get('content-type')).toBe('image/svg+xml');
    expect(await svg.text()).toBe('<svg/>');
    const weights = await t.asA(`/v1/merges/${id}/weights`);
    expect(weights.status).toBe(302);
    const got = await fetch(weights.headers.get('location')!);
    expect(Array.from(new Uint8Array(await got.arrayBuffer()))).toEqual([9, 8, 7]);
    expect((await t.asB(`/v1/merges/${id}/weights`)).status).toBe(404);
  });

  it('report.html is served as a script-free page; weights answer JSON to clients that ask for it, else a redirect', async () => {
    const id = created[4].id;
    await t.store.putBytes(keys.jobFile(t.tenantA, id, 'report.html'), '<!doctype html><p>report</p>', 'text/html');
    await t.store.putBytes(keys.jobFile(t.tenantA, id, 'merged.safetensors'), new Uint8Array([1, 2, 3]));
    expect((await problemOf(await t.asA(`/v1/merges/${id}/report.html`))).code).toBe('result_not_ready');
    await succeed(id);
    const html = await t.asA(`/v1/merges/${id}/report.html`);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(html.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    expect(html.headers.get('content-security-policy')).not.toMatch(/script-src/);
    expect(await html.text()).toContain('<p>report</p>');
    expect(((await (await t.asA(`/v1/merges/${id}`)).json()) as Job).result.reportHtml).toBe(`/v1/merges/${id}/report.html`);

    const weights = (accept?: string) => t.asA(`/v1/merges/${id}/weights`, accept ? { headers: { accept } } : {});
    for (const accept of ['application/json', 'application/json, text/plain, */*', 'application/octet-stream;q=0.5, application/json']) {
      const res = await weights(accept);
      expect(res.status, accept).toBe(200);
      const link = (await res.json()) as { url: string; expiresAt: string };
      expect(Date.parse(link.expiresAt)).toBeGreaterThan(Date.now());
      expect(Array.from(new Uint8Array(await (await fetch(link.url)).arrayBuffer()))).toEqual([1, 2, 3]);
    }
    for (const accept of [undefined, '*/*', 'application/octet-stream', 'application/octet-stream, application/json;q=0.9', 'application/json;q=0']) {
      expect((await weights(accept)).status, String(accept)).toBe(302);
    }
  });

  it('a failed job answers 409 job_failed with its error for every result, a canceled one 409 job_canceled', async () => {
    const create = async () => ((await (await t.asA('/v1/merges', { method: 'POST', json: mergeBody() })).json()) as Job).id;
    const [failed, canceled] = [await create(), await create()];
    const error = { code: 'shape_mismatch', message: 'models.1: layer "0" has weight [64, 784], expected [128, 784]' };
    expect((await t.jobs.apply(failed, { type: 'claim', lease: 'test' }))!.transition.ok).toBe(true);
    expect((await t.jobs.apply(failed, { type: 'fail', lease: 'test', error }))!.transition.ok).toBe(true);
    expect((await t.asA(`/v1/merges/${canceled}`, { method: 'DELETE' })).status).toBe(200);
    for (const path of ['report', 'report.svg', 'report.html', 'weights']) {
      const res = await t.asA(`/v1/merges/${failed}/${path}`);
      expect(res.status).toBe(409);
      const p = (await problemOf(res)) as unknown as { code: string; detail: string; error: unknown };
      expect(p.code).toBe('job_failed');
      expect(p.error).toEqual(error);
      expect(p.detail).toContain('shape_mismatch');
      const c = await t.asA(`/v1/merges/${canceled}/${path}`);
      expect(c.status).toBe(409);
      expect((await problemOf(c)).code).toBe('job_canceled');
    }
  });
});
