import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, haveChromium as installed, launchChromium } from '../../examples/chromium.ts';
import { testStorage } from '../gpu-runner/helpers.ts';
import { testDatabase } from '../jobs/helpers.ts';
import { freshTenant } from '../storage/helpers.ts';
import { sha256 } from './helpers.ts';
import { freePort, spawnUntil, type Spawned } from './processes.ts';

/** Without Chromium the test is skipped here, loudly, but never in CI (.ci/run installs it). */
const haveChromium = installed();
if (!haveChromium && !process.env.CI) {
  console.warn(`\n!!! ${CHROMIUM} is missing: the browser tests are SKIPPED (apt-get install -y chromium; CI installs it and runs them)\n`);
}

/** A page served from another origin than the API, whose script calls the API with the key. */
function otherOrigin(api: string, key: string): Promise<{ origin: string; close(): Promise<void> }> {
  const script = `
    window.results = (async () => {
      const auth = { authorization: 'Bearer ${key}' };
      const upload = await fetch('${api}/v1/uploads', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ size: 3 }) });
      const list = await fetch('${api}/v1/merges?limit=5', { headers: auth });
      return { uploadStatus: upload.status, upload: await upload.json(), listStatus: list.status, list: await list.json() };
    })().catch((e) => ({ error: String(e) }));`;
  const server: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><title>client</title><script>${script}</script>`));
  return new Promise((ok) =>
    server.listen(0, '127.0.0.1', () =>
      ok({ origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise<void>((done) => server.close(() => done())) }),
    ),
  );
}

describe.skipIf(!haveChromium && !process.env.CI)('in a browser (headless Chromium)', () => {
  const tenant = freshTenant();
  const key = `browser-key-${tenant}`;
  let edge: Spawned;
  let api: string;
  let browser: Browser;
  let allowed: Awaited<ReturnType<typeof otherOrigin>>;
  let refused: Awaited<ReturnType<typeof otherOrigin>>;
  let db: Awaited<ReturnType<typeof testDatabase>>;

  beforeAll(async () => {
    if (!haveChromium) throw new Error(`${CHROMIUM} is missing: .ci/run must install chromium`);
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    [allowed, refused] = [await otherOrigin(api, key), await otherOrigin(api, key)];
    db = await testDatabase();
    edge = await spawnUntil(process.execPath, ['--import', 'tsx', 'src/routes/node.ts'], {
      ...process.env, ...testStorage(), DATABASE_URL: db.url, PORT: String(port), BASIN_API_KEYS: `${sha256(key)}:${tenant}`, BASIN_CORS_ORIGINS: allowed.origin,
    }, /"listening"/, 60_000);
    browser = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await edge?.stop();
    await allowed?.close();
    await refused?.close();
    await db?.close();
  });

  /** A page that may reach the API only: every other request is aborted and counted. */
  async function apiOnlyPage(): Promise<{ page: Page; blocked: string[]; requested: string[] }> {
    const page = await browser.newPage();
    const blocked: string[] = [];
    const requested: string[] = [];
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(`${api}/`) || url === api) {
        requested.push(url);
        return route.continue();
      }
      blocked.push(url);
      return route.abort();
    });
    return { page, blocked, requested };
  }

  it('/docs renders every operation offline, from this origin only, and "Try it out" calls the port it came from', async () => {
    const { page, blocked, requested } = await apiOnlyPage();
    await page.goto(`${api}/docs`);
    await page.waitForSelector('.opblock', { timeout: 60_000 });
    const operations = await page.$$eval('.opblock-summary-path', (els) => els.map((e) => e.getAttribute('data-path') ?? e.textContent ?? ''));
    for (const path of ['/v1/merges', '/v1/merges/{id}', '/v1/merges/{id}/weights', '/v1/merges/{id}/report.html', '/v1/uploads', '/healthz']) {
      expect(operations.map((o) => o.replace(/\u200b/g, ''))).toContain(path);
    }
    expect(blocked).toEqual([]);
    expect(requested.some((u) => u.endsWith('/openapi.yaml'))).toBe(true);

    const health = page.locator('#operations-meta-healthz');
    await health.locator('.opblock-summary').click();
    await health.locator('button.try-out__btn').click();
    await health.locator('button.execute').click();
    await expect.poll(() => health.locator('.live-responses-table tbody .response-col_status').first().textContent(), { timeout: 30_000 }).toContain('200');
    expect(await health.locator('.live-responses-table tbody .response-col_description').first().textContent()).toContain('"ok": true');
    expect(requested).toContain(`${api}/healthz`);
    await page.close();
  });

  it('a page on an allowed origin calls the API through CORS (preflight, key, JSON); another origin is refused', async () => {
    const page = await browser.newPage();
    await page.goto(allowed.origin);
    const results = (await page.evaluate('window.results')) as { uploadStatus: number; upload: { id: string }; listStatus: number; list: { items: unknown[] }; error?: string };
    expect(results.error).toBeUndefined();
    expect(results.uploadStatus).toBe(201);
    expect(results.upload.id).toMatch(/^upl_/);
    expect(results.listStatus).toBe(200);
    expect(results.list.items).toEqual([]);

    await page.goto(refused.origin);
    const denied = (await page.evaluate('window.results')) as { error?: string };
    expect(denied.error).toMatch(/TypeError|Failed to fetch/);
    await page.close();
  });
});
