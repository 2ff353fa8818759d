import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { mergeBody, problemOf, testApp } from './helpers.ts';

const SECRET_BYTES = Buffer.from('a training pipeline secret');
const SECRET = `whsec_${SECRET_BYTES.toString('base64')}`;

function event(run: string, upload: string, size = 2) {
  const { models: _models, ...merge } = mergeBody();
  return { type: 'training_run.finished', run, checkpoint: { upload }, group: { id: 'nightly-7', size, merge } };
}

function signed(body: string, secretBytes = SECRET_BYTES, ts = Math.floor(Date.now() / 1000)) {
  const id = `msg_${Math.random().toString(36).slice(2)}`;
  const sig = createHmac('sha256', secretBytes).update(`${id}.${ts}.${body}`).digest('base64');
  return { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': `v1,${sig}` };
}

describe('POST /v1/hooks/training-run', () => {
  it('collects runs and starts one merge when the group is complete, however often events repeat', async () => {
    const t = testApp({ hookSecret: SECRET });
    await t.seedUpload(t.tenantA, 'upl_seed1aaaa');
    await t.seedUpload(t.tenantA, 'upl_seed2bbbb');
    const send = (b: unknown) => {
      const body = JSON.stringify(b);
      return t.asA('/v1/hooks/training-run', { method: 'POST', body, headers: signed(body) });
    };
    const first = await send(event('run-b', 'upl_seed2bbbb'));
    expect(first.status).toBe(202);
    expect(await first.json()).toEqual({ group: 'nightly-7', members: 1, size: 2, job: null });
    expect(((await (await send(event('run-b', 'upl_seed2bbbb'))).json()) as any).members).toBe(1); // re-delivery
    const done = (await (await send(event('run-a', 'upl_seed1aaaa'))).json()) as any;
    expect(done.job.status).toBe('queued');
    const again = (await (await send(event('run-a', 'upl_seed1aaaa'))).json()) as any;
    expect(again.job.id).toBe(done.job.id);
    const request = (await t.jobs.request(done.job.id)) as any;
    expect(request.models).toEqual([{ upload: 'upl_seed1aaaa' }, { upload: 'upl_seed2bbbb' }]); // run-id order
  });

  it('refuses bad signatures, stale timestamps, unsigned calls and invalid events', async () => {
    const t = testApp({ hookSecret: SECRET });
    const body = JSON.stringify(event('run-x', 'upl_seed1aaaa'));
    const hook = (headers: Record<string, string>, b = body) => t.asA('/v1/hooks/training-run', { method: 'POST', body: b, headers });
    expect((await problemOf(await hook(signed(body, Buffer.from('wrong'))))).code).toBe('unauthorized');
    expect((await hook(signed(body, SECRET_BYTES, Math.floor(Date.now() / 1000) - 3600))).status).toBe(401);
    expect((await hook({ 'content-type': 'application/json' })).status).toBe(401);
    const tampered = body.replace('run-x', 'run-y');
    expect((await hook(signed(body), tampered)).status).toBe(401);
    expect((await t.anon('/v1/hooks/training-run', { method: 'POST', body, headers: signed(body) })).status).toBe(401);
    const invalid = JSON.stringify({ ...event('run-x', 'upl_seed1aaaa'), type: 'other' });
    const p = await problemOf(await hook(signed(invalid), invalid));
    expect(p.code).toBe('validation_failed');
    expect(p.errors!.map((e) => e.path)).toContain('type');
  });
});
