import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { DispatchHeaders } from '../../src/contracts/job.ts';
import { keys } from '../../src/storage/keys.ts';
import { flakyRunner, mergeBody, testApp } from './helpers.ts';

const SECRET = 'dispatch-secret';
const received: Array<{ body: string; headers: IncomingMessage['headers'] }> = [];
const runner = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    received.push({ body, headers: req.headers });
    res.writeHead(202).end();
  });
});
await new Promise<void>((ok) => runner.listen(0, '127.0.0.1', ok));
const runnerUrl = `http://127.0.0.1:${(runner.address() as AddressInfo).port}/jobs`;
afterAll(() => new Promise<void>((ok) => runner.close(() => ok())));

async function create(t: ReturnType<typeof testApp>) {
  await t.seedUpload(t.tenantA, 'upl_modelaaa1');
  await t.seedUpload(t.tenantA, 'upl_modelbbb2');
  const res = await t.asA('/v1/merges', { method: 'POST', json: mergeBody() });
  expect(res.status).toBe(202);
  return (await res.json()) as { id: string; status: string };
}

describe('dispatch to the runner', () => {
  it('POSTs {jobId, tenant} with an HMAC-SHA256 signature over timestamp.body', async () => {
    const t = testApp({ runner: { url: runnerUrl, secret: SECRET } });
    const job = await create(t);
    const msg = received.find((r) => JSON.parse(r.body).jobId === job.id)!;
    expect(JSON.parse(msg.body)).toEqual({ jobId: job.id, tenant: t.tenantA });
    const ts = msg.headers[DispatchHeaders.timestamp] as string;
    const expected = `sha256=${createHmac('sha256', SECRET).update(`${ts}.${msg.body}`).digest('hex')}`;
    expect(msg.headers[DispatchHeaders.signature]).toBe(expected);
  });

  it('an unreachable runner leaves the job queued in S3, and the client still gets 202', async () => {
    const t = testApp({ runner: { url: 'http://127.0.0.1:9/jobs', secret: SECRET }, dispatchTimeoutMs: 500 });
    const job = await create(t);
    expect(job.status).toBe('queued');
    const stored = (await t.store.getJson(`t/${t.tenantA}/jobs/${job.id}/status.json`)) as { status: string };
    expect(stored.status).toBe('queued');
    expect(await t.store.getJson(keys.pendingDispatch(job.id))).toMatchObject({ jobId: job.id, tenant: t.tenantA });
  });
});

describe('re-offering jobs the runner did not take', () => {
  it('offers them again once the runner is back, signed; canceled jobs are dropped, not offered', async () => {
    const runner = await flakyRunner();
    try {
      const t = testApp({ runner: { url: runner.url, secret: SECRET } });
      const kept = await create(t);
      const canceled = await create(t);
      for (const id of [kept.id, canceled.id]) expect(await t.store.head(keys.pendingDispatch(id))).toBeDefined();

      const stillDown = await t.app.reoffer(true);
      expect(stillDown!.offered).toEqual([]);
      expect(stillDown!.remaining).toBeGreaterThan(0);
      expect(await t.store.head(keys.pendingDispatch(kept.id))).toBeDefined();

      expect((await t.asA(`/v1/merges/${canceled.id}`, { method: 'DELETE' })).status).toBe(200);
      runner.state.up = true;
      const back = await t.app.reoffer(true);
      expect(back!.offered).toContain(kept.id);
      expect(back!.dropped).toContain(canceled.id);
      expect(runner.jobIds()).toContain(kept.id);
      expect(runner.jobIds()).not.toContain(canceled.id);
      const msg = runner.state.offered.find((o) => o.body.includes(kept.id))!;
      const ts = msg.headers[DispatchHeaders.timestamp] as string;
      expect(msg.headers[DispatchHeaders.signature]).toBe(`sha256=${createHmac('sha256', SECRET).update(`${ts}.${msg.body}`).digest('hex')}`);
      for (const id of [kept.id, canceled.id]) expect(await t.store.head(keys.pendingDispatch(id))).toBeUndefined();
      // the job itself was never touched: the runner claims it
      expect(((await (await t.asA(`/v1/merges/${kept.id}`)).json()) as { status: string }).status).toBe('queued');
    } finally {
      await runner.close();
    }
  });

  it('the next request triggers a pass once the interval has passed', async () => {
    const runner = await flakyRunner();
    try {
      const t = testApp({ runner: { url: runner.url, secret: SECRET }, reofferIntervalMs: 0 });
      const job = await create(t);
      runner.state.up = true;
      await t.anon('/healthz');
      await expect.poll(() => runner.jobIds(), { timeout: 10_000 }).toContain(job.id);
    } finally {
      await runner.close();
    }
  });
});
