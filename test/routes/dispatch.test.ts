import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { DispatchHeaders } from '../../src/routes/dispatch.ts';
import { mergeBody, testApp } from './helpers.ts';

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
  });
});
