import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TEST_BUCKET, freshTenant } from '../storage/helpers.ts';
import { mergeBody, sha256 } from './helpers.ts';
import { freePort, spawnUntil, type Spawned } from './processes.ts';

/**
 * The same app in workerd through `wrangler dev`, fully offline: no account, no metrics, no
 * Request.cf download, loopback only, its state and logs in a temp dir.
 */
describe('the Worker under wrangler dev (workerd)', () => {
  const tenant = freshTenant();
  const key = `worker-key-${tenant}`;
  let wrangler: Spawned;
  let base: string;
  let home: string;

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'basin-wrangler-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const vars = {
      BASIN_S3_ENDPOINT: inject('s3Endpoint'),
      BASIN_BUCKET: TEST_BUCKET,
      BASIN_API_KEYS: `${sha256(key)}:${tenant}`,
    };
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: home,
      XDG_CONFIG_HOME: join(home, 'config'),
      WRANGLER_SEND_METRICS: 'false',
      WRANGLER_SEND_ERROR_REPORTS: 'false',
      CLOUDFLARE_CF_FETCH_ENABLED: 'false',
      WRANGLER_LOG_PATH: join(home, 'logs'),
      // wrangler's update check reads the npm registry from rc/env: point it at a closed loopback port
      npm_config_registry: 'http://127.0.0.1:9/',
      CI: '1',
    };
    wrangler = await spawnUntil(
      process.execPath,
      [
        'node_modules/wrangler/bin/wrangler.js', 'dev',
        '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', '0',
        '--persist-to', join(home, 'state'),
        '--show-interactive-dev-session=false',
        ...Object.entries(vars).flatMap(([k, v]) => ['--var', `${k}:${v}`]),
      ],
      env,
      /Ready on http/,
      120_000,
    );
  }, 150_000);

  afterAll(async () => {
    await wrangler?.stop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('serves health, auth, uploads and merges against s3rver', async () => {
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ ok: true });
    const anon = await fetch(`${base}/v1/merges`);
    expect(anon.status).toBe(401);
    expect(anon.headers.get('content-type')).toMatch(/problem\+json/);

    const auth = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const ids: string[] = [];
    for (const n of [1, 2]) {
      const res = await fetch(`${base}/v1/uploads`, { method: 'POST', headers: auth, body: JSON.stringify({ size: n }) });
      expect(res.status).toBe(201);
      const up = (await res.json()) as { id: string; url: string };
      expect((await fetch(up.url, { method: 'PUT', body: new Uint8Array(n) })).status).toBe(200);
      ids.push(up.id);
    }
    const created = await fetch(`${base}/v1/merges`, { method: 'POST', headers: auth, body: JSON.stringify(mergeBody(ids)) });
    expect(created.status).toBe(202);
    const job = (await created.json()) as { id: string; status: string };
    expect(job.status).toBe('queued');
    const got = await fetch(`${base}/v1/merges/${job.id}`, { headers: auth });
    expect(((await got.json()) as { id: string }).id).toBe(job.id);
    const bad = await fetch(`${base}/v1/merges`, { method: 'POST', headers: auth, body: '{"models":[1]}' });
    expect(bad.status).toBe(422);
    expect((await fetch(`${base}/openapi.yaml`)).status).toBe(200);
  });
});
