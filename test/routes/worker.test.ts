import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { testDatabase } from '../jobs/helpers.ts';
import { WORKER_BUCKET, freshTenant } from '../storage/helpers.ts';
import { mergeBody, sha256 } from './helpers.ts';
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

  beforeAll(async () => {
    db = await testDatabase();
    home = await mkdtemp(join(tmpdir(), 'basin-wrangler-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const vars = {
      BASIN_S3_ENDPOINT: inject('s3Endpoint'),
      BASIN_BUCKET: WORKER_BUCKET,
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
});
