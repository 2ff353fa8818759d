import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { testDatabase } from '../jobs/helpers.ts';
import { WORKER_BUCKET, freshTenant } from '../storage/helpers.ts';
import { mergeBody, sha256 } from './helpers.ts';
import { ATTACKER_IP, attackerHost, internalService, type Recorder } from '../security/fixtures.ts';
import { freePort, spawnUntil, type Spawned } from './processes.ts';

/**
 * The same app in workerd through `wrangler dev`, fully offline: local mode (no remote bindings, no
 * account), no metrics or error reports, no Request.cf download, the update check pointed at a
 * closed port, loopback only, its state and logs in a temp dir. Its Hyperdrive binding points at
 * the test PostgreSQL (a database of this file's own, migrated as a runner would).
 */
describe('the Worker under wrangler dev (workerd)', () => {
  const tenant = freshTenant();
  const key = `worker-key-${tenant}`;
  let wrangler: Spawned;
  let base: string;
  let home: string;
  let db: Awaited<ReturnType<typeof testDatabase>>;
  // `url` checks from workerd: a file host on 127.0.0.2 (allow-listed) and an internal service
  let files: Recorder;
  let internal: Recorder;

  beforeAll(async () => {
    db = await testDatabase();
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
      CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE: db.url,
    };
    wrangler = await spawnUntil(
      process.execPath,
      [
        'node_modules/wrangler/bin/wrangler.js', 'dev', '--local',
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
    await db?.close();
    await files?.close();
    await internal?.close();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('serves health, auth, uploads and merges against PostgreSQL (through Hyperdrive) and s3rver', async () => {
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


    // The job is a row with its queue entry, written in one statement through Hyperdrive.
    const row = await db.db.query('SELECT status, tenant FROM basin.jobs WHERE id = $1', [job.id]);
    expect(row.rows).toEqual([{ status: 'queued', tenant }]);
    expect((await db.db.query('SELECT 1 FROM graphile_worker.jobs WHERE key = $1', [job.id])).rowCount).toBe(1);
    // Idempotency-Key: the same job again
    const keyed = { ...auth, 'idempotency-key': 'worker-1' };
    const once = (await (await fetch(`${base}/v1/merges`, { method: 'POST', headers: keyed, body: JSON.stringify(mergeBody(ids)) })).json()) as { id: string };
    const twice = await fetch(`${base}/v1/merges`, { method: 'POST', headers: keyed, body: JSON.stringify(mergeBody(ids)) });
    expect(twice.headers.get('idempotent-replayed')).toBe('true');
    expect(((await twice.json()) as { id: string }).id).toBe(once.id);
    // Cancel: canceled, and out of the queue
    const canceled = await fetch(`${base}/v1/merges/${job.id}`, { method: 'DELETE', headers: auth });
    expect(((await canceled.json()) as { status: string }).status).toBe('canceled');
    expect((await db.db.query('SELECT 1 FROM graphile_worker.jobs WHERE key = $1', [job.id])).rowCount).toBe(0);
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
    expect(files.requests).toEqual(expect.arrayContaining(['GET /model.safetensors', `GET /redirect?to=${encodeURIComponent(inside[0])}`]));
    expect(internal.connections).toBe(0);
  });
});
