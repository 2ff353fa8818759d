import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { keys } from '../../src/storage/keys.ts';
import { WORKER_BUCKET, freshTenant, testStore } from '../storage/helpers.ts';
import { flakyRunner, mergeBody, sha256 } from './helpers.ts';
import { ATTACKER_IP, attackerHost, internalService, type Recorder } from '../security/fixtures.ts';
import { freePort, spawnUntil, type Spawned } from './processes.ts';

/**
 * The same app in workerd through `wrangler dev`, fully offline: local mode (no remote bindings, no
 * account), no metrics or error reports, no Request.cf download, the update check pointed at a
 * closed port, loopback only, its state and logs in a temp dir.
 */
describe('the Worker under wrangler dev (workerd)', () => {
  const tenant = freshTenant();
  const key = `worker-key-${tenant}`;
  let wrangler: Spawned;
  let base: string;
  let home: string;
  // A runner that refuses (503) until `up`, then records the offers: the cron re-offer path.
  let runner: Awaited<ReturnType<typeof flakyRunner>>;
  const RUNNER_SECRET = 'worker-runner-secret';
  // `url` checks from workerd: a file host on 127.0.0.2 (allow-listed) and an internal service
  let files: Recorder;
  let internal: Recorder;

  beforeAll(async () => {
    runner = await flakyRunner();
    files = await attackerHost((req, res) => {
      const to = new URL(req.url!, 'http://x').searchParams.get('to');
      if (to) res.writeHead(302, { location: to }).end();
      else res.writeHead(200, { 'content-length': '1000' }).end();
    }, false);
    internal = await internalService();
    home = await mkdtemp(join(tmpdir(), 'basin-wrangler-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const vars = {
      BASIN_S3_ENDPOINT: inject('s3Endpoint'),
      BASIN_BUCKET: WORKER_BUCKET,
      BASIN_API_KEYS: `${sha256(key)}:${tenant}`,
      RUNNER_URL: runner.url,
      RUNNER_SECRET,
      // only the cron (and the first request) re-offer: the test decides when
      BASIN_REOFFER_SECONDS: '3600',
      BASIN_OUTBOUND_ALLOW: `${ATTACKER_IP}/32`,
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
        'node_modules/wrangler/bin/wrangler.js', 'dev', '--local', '--test-scheduled',
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
    await runner?.close();
    await files?.close();
    await internal?.close();
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
    // S3 answers these in XML (a listing, a NoSuchKey error): the Worker build must parse it
    const list = await fetch(`${base}/v1/merges?limit=5`, { headers: auth });
    expect(((await list.json()) as { items: Array<{ id: string }> }).items.map((j) => j.id)).toEqual([job.id]);
    const missing = await fetch(`${base}/v1/merges/job_0000000000zzzzzzzzzz`, { headers: auth });
    expect(missing.status).toBe(404);
    const report = await fetch(`${base}/v1/merges/${job.id}/report`, { headers: auth });
    expect(((await report.json()) as { code: string }).code).toBe('result_not_ready');
    const bad = await fetch(`${base}/v1/merges`, { method: 'POST', headers: auth, body: '{"models":[1]}' });
    expect(bad.status).toBe(422);
    expect((await fetch(`${base}/openapi.yaml`)).status).toBe(200);
    // /docs and Swagger UI's files come from the Worker itself (the assets binding), not a CDN
    expect(await (await fetch(`${base}/docs`)).text()).toContain('docs/swagger-ui-bundle.js');
    const bundle = await fetch(`${base}/docs/swagger-ui-bundle.js`);
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get('content-type')).toMatch(/javascript/);
    expect((await bundle.text()).length).toBeGreaterThan(1_000_000);
    expect((await fetch(`${base}/docs/swagger-ui.css`)).status).toBe(200);
    // the assets directory is not served as a site: index.html of swagger-ui-dist stays hidden
    expect((await fetch(`${base}/index.html`)).status).toBe(404);

    // The runner refused the offer (503): the job stays queued with a re-offer marker.
    const store = testStore(WORKER_BUCKET);
    await expect.poll(() => store.head(keys.pendingDispatch(job.id)), { timeout: 10_000 }).toBeDefined();
    // Runner back; the Cron Trigger's pass offers it again, signed in workerd as on Node.
    runner.state.up = true;
    expect((await fetch(`${base}/__scheduled?cron=*+*+*+*+*`)).status).toBe(200);
    await expect.poll(() => runner.jobIds(), { timeout: 10_000 }).toContain(job.id);
    const msg = runner.state.offered.find((o) => o.body.includes(job.id))!;
    expect(JSON.parse(msg.body)).toEqual({ jobId: job.id, tenant });
    const ts = msg.headers['x-basin-timestamp'] as string;
    expect(msg.headers['x-basin-signature']).toBe(`sha256=${createHmac('sha256', RUNNER_SECRET).update(`${ts}.${msg.body}`).digest('hex')}`);
    await expect.poll(() => store.head(keys.pendingDispatch(job.id)), { timeout: 10_000 }).toBeUndefined();
  });

  it('checks `url` references without a resolver: internal literals and redirects inside are refused, allowed hosts reached', async () => {
    const auth = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const inside = [`http://127.0.0.1:${internal.port}/x`, `https://0x7f.1:${internal.port}/x`, `https://[::ffff:127.0.0.1]:${internal.port}/x`, `https://localhost:${internal.port}/x`];
    const models = [
      ...inside.map((url) => ({ url })),
      ...inside.map((to) => ({ url: `${files.url}/redirect?to=${encodeURIComponent(to)}` })),
      { url: `${files.url}/model.safetensors` },
    ];
    const res = await fetch(`${base}/v1/merges`, { method: 'POST', headers: auth, body: JSON.stringify({ ...mergeBody(), models }) });
    const p = (await res.json()) as { code: string; errors: Array<{ path: string }> };
    expect(res.status).toBe(422);
    expect(p.code).toBe('input_refused');
    expect(p.errors.map((e) => e.path).sort()).toEqual(models.slice(0, -1).map((_, i) => `models.${i}.url`).sort());
    expect(files.requests).toEqual(expect.arrayContaining(['HEAD /model.safetensors', `HEAD /redirect?to=${encodeURIComponent(inside[0])}`]));
    expect(internal.connections).toBe(0);
  });
});
