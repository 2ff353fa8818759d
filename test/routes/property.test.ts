import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AllowList } from '../../src/storage/outbound/allowList.ts';
import { nodeOutbound } from '../../src/storage/outbound/node.ts';
import { hostileMergeBodies, hostileRequests, hostileUrls, mutatedBodies } from '../security/arbitraries.ts';
import { dnsServer, internalService, type DnsServer, type Recorder } from '../security/fixtures.ts';
import { mergeBody, testApp } from './helpers.ts';

describe('the edge under random and mutated requests', () => {
  let internal: Recorder;
  let dns: DnsServer;
  let t: ReturnType<typeof testApp>;
  beforeAll(async () => {
    internal = await internalService();
    // names an attacker controls, resolving to the internal service
    dns = await dnsServer((name, type) => (name.endsWith('.test') ? (type === 'A' ? ['127.0.0.1'] : ['::1']) : undefined));
    // Nothing is uploaded and no URL is reachable, so no body can create a job: every answer must be 4xx.
    t = testApp({ outbound: nodeOutbound({ allow: AllowList.none, dnsServers: [dns.address] }) });
  });
  afterAll(async () => {
    await internal?.close();
    await dns?.close();
  });

  const expectProblem = async (res: Response) => {
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const p = (await res.json()) as { status: number; code: string };
    expect(p.status).toBe(res.status);
    expect(typeof p.code).toBe('string');
  };

  it('POST /v1/merges answers 4xx problem+json, never 5xx', async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(mutatedBodies(mergeBody()), async (text) => {
        const res = await t.asA('/v1/merges', { method: 'POST', body: text, headers: { 'content-type': 'application/json' } });
        seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
        await expectProblem(res);
      }),
      { numRuns: 2500, seed: 20261126 },
    );
    // the mutations must reach past JSON parsing and schema checks, or the test proves little
    expect(seen.get(422)).toBeGreaterThan(1000);
  });

  it('any method, path, content type and body, URLs aimed inside included: no 5xx, nothing reaches the internal service', async () => {
    const urls = hostileUrls(internal.port, ['evil.test', 'x.evil.test.']);
    const bodies = fc.oneof(mutatedBodies(mergeBody()), hostileMergeBodies(mergeBody(), urls));
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(hostileRequests(bodies), async ({ method, path, contentType, body }) => {
        const headers: Record<string, string> = contentType ? { 'content-type': contentType } : {};
        const res = await t.asA(path, { method, headers, body: method === 'GET' || method === 'HEAD' ? undefined : body });
        const code = res.status >= 400 && method !== 'HEAD' ? ((await res.clone().json()) as { code: string }).code : String(res.status);
        seen.set(code, (seen.get(code) ?? 0) + 1);
        if (res.status >= 400 && method !== 'HEAD') await expectProblem(res);
        else expect(res.status).toBeLessThan(500);
      }),
      { numRuns: 1500, seed: 20261130 },
    );
    expect(internal.connections).toBe(0);
    // the URL bodies must get as far as the outbound guard, or they prove nothing
    expect(seen.get('input_refused')).toBeGreaterThan(50);
  });
});
