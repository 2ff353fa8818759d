import { describe, expect, it } from 'vitest';
import { nodeDocsAssets } from '../../src/routes/node.ts';
import { testApp } from './helpers.ts';

const ORIGIN = 'http://app.example.test';

describe('CORS', () => {
  const t = testApp({ corsOrigins: [ORIGIN] });
  const preflight = (origin: string, path = '/v1/merges') =>
    t.app.request(path, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, idempotency-key' } });

  it('answers a preflight before auth, for a configured origin, with the headers a client sends', async () => {
    const res = await preflight(ORIGIN);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    expect(res.headers.get('access-control-allow-headers')?.split(',')).toEqual(expect.arrayContaining(['authorization', 'content-type', 'idempotency-key']));
    expect(res.headers.get('vary')).toContain('Origin');
  });

  it('gives the real answer its origin header and exposes Location; refuses other origins by silence', async () => {
    const res = await t.asA('/v1/merges', { headers: { origin: ORIGIN } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(res.headers.get('access-control-expose-headers')).toContain('location');
    const denied = await t.asA('/v1/merges', { headers: { origin: 'http://evil.example.test' } });
    expect(denied.headers.get('access-control-allow-origin')).toBeNull();
    expect((await preflight('http://evil.example.test')).headers.get('access-control-allow-origin')).toBeNull();
    // an error answer is readable by an allowed page too (it can show the problem)
    const anon = await t.anon('/v1/merges', { headers: { origin: ORIGIN } });
    expect(anon.status).toBe(401);
    expect(anon.headers.get('access-control-allow-origin')).toBe(ORIGIN);
  });

  it('allows no origin unless configured', async () => {
    const plain = testApp();
    const res = await plain.app.request('/v1/merges', { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'GET' } });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect((await plain.asA('/v1/merges', { headers: { origin: ORIGIN } })).headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('/docs', () => {
  const t = testApp({ docsAssets: nodeDocsAssets() });

  it('serves Swagger UI and its assets itself, with relative links and a CSP that allows only this origin', async () => {
    const page = await t.app.request('/docs');
    expect(page.status).toBe(200);
    const html = await page.text();
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(refs.sort()).toEqual(['docs/init.js', 'docs/swagger-ui-bundle.js', 'docs/swagger-ui.css']);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    for (const ref of refs) {
      const res = await t.app.request(`/${ref}`);
      expect(res.status, ref).toBe(200);
      expect((await res.arrayBuffer()).byteLength, ref).toBeGreaterThan(100);
    }
    expect(await (await t.app.request('/docs/init.js')).text()).toContain("url: 'openapi.yaml'");
    expect((await t.app.request('/docs/swagger-ui-bundle.js')).headers.get('content-type')).toMatch(/javascript/);
  });

  it('without the assets, the files answer a problem, not a crash', async () => {
    const bare = testApp();
    const res = await bare.app.request('/docs/swagger-ui.css');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/problem\+json/);
  });
});
