import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { request as rawRequest } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/contracts/job.ts';
import { encodeSafetensors } from '../../src/pipeline/io/safetensors.ts';
import { floatTensor } from '../../src/pipeline/model/tensor.ts';
import { createTestBucket, EXAMPLE, exampleRequest, testStorage, waitFor, WEBHOOK_SECRET } from '../gpu-runner/helpers.ts';
import { testDatabase } from '../jobs/helpers.ts';
import { sha256 } from '../routes/helpers.ts';
import { freePort, spawnUntil, type Spawned } from '../routes/processes.ts';
import { freshTenant } from '../storage/helpers.ts';
import { hostileMergeBodies, hostileRequests, hostileUrls, mutatedBodies } from './arbitraries.ts';
import { ATTACKER_IP, attackerHost, dnsServer, internalService, SECRET, TLS_CA, type DnsServer, type Recorder } from './fixtures.ts';
import { INTERNAL_HOSTS } from './spellings.ts';

/**
 * The attacks of the security campaign, against the local stack as deployed: the edge and the
 * runner as processes (the runner's merges in their own child processes), s3rver, a DNS server,
 * the attacker's https host on 127.0.0.2 (allow-listed by CIDR: it plays a public host) and an
 * internal service on 127.0.0.1, on the attacker's port, that counts every connection it gets.
 * Nothing may reach it, and no error may carry what it (or the attacker) sent.
 */
describe('server-side request forgery against the local stack', () => {
  const tenant = freshTenant();
  const apiKey = `sec-key-${tenant}`;
  const auth = { authorization: `Bearer ${apiKey}` };
  let edge: Spawned;
  let runner: Spawned;
  let attacker: Recorder;
  let internal: Recorder;
  let dns: DnsServer;
  let base: string;
  let closedPort: number;
  let db: Awaited<ReturnType<typeof testDatabase>>;

  const seed = (n: 1 | 2) => readFileSync(`${EXAMPLE}/seed${n}.safetensors`);
  // a well-formed checkpoint whose tensor name is the attacker's text: engine errors would quote it
  const oddModel = encodeSafetensors(new Map([['SECRET_TENSOR_NAME', floatTensor([3], new Float32Array(3))]]));
  const files: Record<string, Uint8Array> = {
    '/seed1.safetensors': seed(1), '/seed2.safetensors': seed(2), '/secret-bytes': new TextEncoder().encode(SECRET), '/odd-model': oddModel,
  };
  const attackerRoutes = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url!, 'https://x');
    const to = url.searchParams.get('to') ?? '/';
    const file = files[url.pathname];
    if (url.pathname === '/redirect') res.writeHead(302, { location: to }).end();
    else if (url.pathname === '/get-redirect') {
      // the edge's one-byte probe looks like a file, the download leads inside: only the runner sees the redirect
      if (req.headers.range === 'bytes=0-0') res.writeHead(206, { 'content-range': 'bytes 0-0/1000', 'content-length': '1' }).end('x');
      else res.writeHead(302, { location: to }).end();
    } else if (url.pathname === '/huge') res.writeHead(200, { 'content-length': String(10 ** 12) }).end();
    else if (url.pathname === '/hook') res.writeHead(204).end();
    else if (file) res.writeHead(200, { 'content-length': String(file.length) }).end(req.method === 'HEAD' ? undefined : file);
    else res.writeHead(404).end();
  };

  beforeAll(async () => {
    attacker = await attackerHost(attackerRoutes);
    internal = await internalService(attacker.port);
    closedPort = await freePort();
    dns = await dnsServer((name, type, n) => {
      const a: Record<string, string[]> = {
        'attacker.test': [ATTACKER_IP], 'internal.test': ['127.0.0.1'], 'mixed.test': [ATTACKER_IP, '127.0.0.1'],
        'metadata.test': ['169.254.169.254'], 'private.test': ['10.0.0.5'], 'public.test': ['93.184.216.34'],
        // the edge's check (query 0) gets the attacker; the runner's (query 1) gets loopback
        'rebind.test': [n === 0 ? ATTACKER_IP : '127.0.0.1'],
        // the edge's and the runner's checks get the attacker, a third resolution (at connect) would get loopback
        'rebind2.test': [n < 2 ? ATTACKER_IP : '127.0.0.1'],
      };
      const aaaa: Record<string, string[]> = { 'v6loop.test': ['::1'], 'mapped.test': ['::ffff:127.0.0.1'], 'nat64.test': ['64:ff9b::7f00:1'] };
      if (!(name in a) && !(name in aaaa)) return undefined;
      return (type === 'A' ? a[name] : aaaa[name]) ?? [];
    });

    const storage = testStorage(await createTestBucket());
    db = await testDatabase();
    const [runnerPort, edgePort] = [await freePort(), await freePort()];
    const shared = {
      ...process.env, ...storage, DATABASE_URL: db.url,
      BASIN_OUTBOUND_ALLOW: `${ATTACKER_IP}/32`, BASIN_DNS_SERVERS: dns.address, NODE_EXTRA_CA_CERTS: TLS_CA,
    };
    // the edge first: it migrates the database the runner takes its jobs from
    edge = await spawnUntil(process.execPath, ['--import', 'tsx', 'src/routes/node.ts'], {
      ...shared, PORT: String(edgePort), BASIN_API_KEYS: `${sha256(apiKey)}:${tenant}`, BASIN_MAX_UPLOAD_BYTES: String(10 * 1024 ** 2),
    }, /"listening"/, 60_000);
    runner = await spawnUntil(process.execPath, ['--import', 'tsx', 'src/gpu-runner/main.ts'], {
      ...shared, RUNNER_PORT: String(runnerPort), BASIN_HEARTBEAT_SECONDS: '0.5', BASIN_WEBHOOK_SECRETS: `${tenant}:${WEBHOOK_SECRET}`,
      BASIN_WEBHOOK_MAX_ATTEMPTS: '1',
    }, /"runner":"http/, 60_000);
    base = `http://127.0.0.1:${edgePort}`;
  }, 150_000);

  afterAll(async () => {
    await edge?.stop();
    await runner?.stop();
    await attacker?.close();
    await internal?.close();
    await dns?.close();
    await db?.close();
  });

  const post = (body: unknown, path = '/v1/merges') =>
    fetch(`${base}${path}`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  const problem = async (res: Response) => {
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    return (await res.json()) as { status: number; code: string; detail?: string; errors?: Array<{ path: string; message: string }> };
  };
  const upload = async (bytes: Uint8Array) => {
    const up = (await (await post({ size: bytes.length, kind: 'checkpoint' }, '/v1/uploads')).json()) as { id: string; url: string; headers: Record<string, string> };
    expect((await fetch(up.url, { method: 'PUT', body: bytes, headers: up.headers })).status).toBe(200);
    return { upload: up.id };
  };
  const job = async (id: string) => (await (await fetch(`${base}/v1/merges/${id}`, { headers: auth })).json()) as Job;
  const untilEnded = (id: string) => waitFor(`merge ${id}`, async () => {
    const j = await job(id);
    return ['succeeded', 'failed', 'canceled'].includes(j.status) && j;
  }, 180_000, 250);
  const at = (path: string, host = 'attacker.test') => ({ url: `https://${host}:${attacker.port}${path}` });
  /** Nothing an internal service or a server sent, nor a number parsed from it, in any answer. */
  const secretFree = (text: string) => {
    const firstEight = new DataView(new TextEncoder().encode(SECRET).buffer).getBigUint64(0, true);
    for (const leak of ['SECRET', String(firstEight), 'ECONNREFUSED', 'ENOTFOUND', 'certificate', '127.0.0.1', `:${internal.port}`]) {
      expect(text, leak).not.toContain(leak);
    }
  };

  it('refuses an internal address in every spelling, over https and http, before connecting', async () => {
    for (const scheme of ['https', 'http']) {
      for (let i = 0; i < INTERNAL_HOSTS.length; i += 16) {
        const hosts = INTERNAL_HOSTS.slice(i, i + 16);
        const models = hosts.map((h) => ({ url: `${scheme}://${h}:${internal.port}/secret` }));
        if (models.length < 2) models.push(models[0]);
        const res = await post(exampleRequest(models));
        const p = await problem(res);
        expect(res.status, hosts.join(' ')).toBe(422);
        expect(p.code).toBe('input_refused');
        expect(p.errors!.map((e) => e.path).sort()).toEqual(models.map((_, j) => `models.${j}.url`).sort());
        secretFree(JSON.stringify(p));
      }
    }
    expect(internal.connections).toBe(0);
  });

  it('refuses names that resolve inside, redirects that lead inside, and plain http to public hosts', async () => {
    const names = ['internal.test', 'mixed.test', 'metadata.test', 'private.test', 'v6loop.test', 'mapped.test', 'nat64.test', 'localhost', 'api.localhost'];
    const redirects = [`http://127.0.0.1:${internal.port}/secret`, `https://internal.test:${internal.port}/`, `http://[::ffff:7f00:1]:${internal.port}/`, `http://0x7f.1:${internal.port}/`, 'http://169.254.169.254/latest/meta-data/', 'file:///etc/passwd'];
    const models = [
      ...names.map((h) => at('/seed1.safetensors', h)),
      ...redirects.map((to) => at(`/redirect?to=${encodeURIComponent(to)}`)),
      { url: 'http://public.test/model.safetensors' },
    ];
    const p = await problem(await post(exampleRequest(models)));
    expect(p.code).toBe('input_refused');
    expect(p.errors!.length).toBe(models.length);
    secretFree(JSON.stringify(p));
    expect(internal.connections).toBe(0);
  });

  it('classes, not details, for URLs that fail: unreachable, missing, too large', async () => {
    const models = [{ url: `https://attacker.test:${closedPort}/x` }, { url: 'https://nowhere.test/x' }, at('/missing'), at('/huge')];
    const p = await problem(await post(exampleRequest(models)));
    // one problem code per answer (input_too_large wins); every failing field is listed, in our words
    expect(p.code).toBe('input_too_large');
    const res = await post(exampleRequest(models.slice(0, 3)));
    const q = await problem(res);
    expect(q).toMatchObject({ code: 'input_not_found', errors: [{ path: 'models.2.url' }] });
    const r = await problem(await post(exampleRequest(models.slice(0, 2))));
    expect(r.code).toBe('input_unreachable');
    expect(r.errors!.map((e) => e.message)).toEqual(['the URL could not be fetched: the connection failed', 'the URL could not be fetched: the host name does not resolve']);
    for (const x of [p, q, r]) secretFree(JSON.stringify(x));
  });

  it('the runner checks again: a GET redirected inside, and DNS that changes after the edge looked, fail as input_refused', async () => {
    const mine = await upload(seed(1));
    const redirected = await post(exampleRequest([mine, at(`/get-redirect?to=${encodeURIComponent(`http://127.0.0.1:${internal.port}/secret`)}`)]));
    expect(redirected.status).toBe(202);
    const rebound = await post(exampleRequest([mine, at('/seed2.safetensors', 'rebind.test')]));
    expect(rebound.status).toBe(202); // the edge's check got the attacker's address, and connected to it
    for (const created of [redirected, rebound]) {
      const done = await untilEnded(((await created.json()) as Job).id);
      expect(done.status).toBe('failed');
      expect(done.error).toMatchObject({ code: 'input_refused' });
      expect(done.error!.message).toMatch(/^models\.1: the URL is refused: /);
      secretFree(JSON.stringify(done));
    }
    expect(internal.connections).toBe(0);
  });

  it('no remote bytes in job errors: not safetensors, or an engine error about the remote file; webhooks stay outside', async () => {
    const mine = await upload(seed(1));
    const inside = `http://127.0.0.1:${internal.port}/hook`;
    const viaRedirect = at(`/redirect?to=${encodeURIComponent(inside)}`).url;
    const notSafetensors = await post(exampleRequest([mine, at('/secret-bytes')], { webhook: { url: inside } }));
    const odd = await post(exampleRequest([mine, at('/odd-model')], { webhook: { url: viaRedirect } }));
    const a = await untilEnded(((await notSafetensors.json()) as Job).id);
    const b = await untilEnded(((await odd.json()) as Job).id);
    expect(a.error).toEqual({ code: 'input_unsupported_format', message: 'models.1: the file at this URL is not in a format basin reads (safetensors, a torch.save file, or a .zip / .tar / .tar.gz of a model folder)' });
    expect(b.status).toBe('failed');
    expect(b.error!.message).toMatch(/details are withheld because this merge reads an input from a URL/);
    expect(b.error!.message).not.toContain('SECRET_TENSOR_NAME');
    // webhooks: a target inside is refused, a redirect inside is not followed
    const logged = async (id: string) => waitFor(`deliveries of ${id}`, async () => {
      const j = await job(id);
      return j.deliveries.length > 0 && j;
    });
    expect((await logged(a.id)).deliveries[0]).toMatchObject({ status: null, error: expect.stringMatching(/^webhook_target_refused: /) });
    expect((await logged(b.id)).deliveries[0]).toMatchObject({ status: 302 });
    for (const j of [await job(a.id), await job(b.id)]) secretFree(JSON.stringify(j));
    expect(internal.connections).toBe(0);
  });

  it('merges from https URLs: the certificate is checked for the name, the connection pinned to the checked address', async () => {
    const earlier = attacker.requests.length;
    const created = await post(exampleRequest([at('/seed1.safetensors'), at('/seed2.safetensors', 'rebind2.test')]));
    expect(created.status).toBe(202);
    const done = await untilEnded(((await created.json()) as Job).id);
    expect(done.status).toBe('succeeded');
    // rebind2.test was resolved twice (edge, runner) and both times connected to where it was checked
    expect(dns.aQueries.get('rebind2.test')).toBe(2);
    // the edge's probe and the runner's download of each file
    const requests = attacker.requests.slice(earlier);
    expect(requests.filter((r) => r === 'GET /seed2.safetensors')).toHaveLength(2);
    expect(requests.filter((r) => r === 'GET /seed1.safetensors')).toHaveLength(2);
    expect(internal.connections).toBe(0);
  });

  it('answers the HTTP-level findings as problem+json: 431, 405, 404, 415', async () => {
    const big = await new Promise<{ status: number; type: string; body: string }>((ok, fail) => {
      const req = rawRequest(`${base}/v1/merges`, { headers: { ...auth, 'x-padding': 'x'.repeat(60 * 1024) } }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c)).on('end', () => ok({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
      });
      req.on('error', fail).end();
    });
    expect(big.status).toBe(431);
    expect(big.type).toBe('application/problem+json');
    expect(JSON.parse(big.body)).toMatchObject({ status: 431, code: 'headers_too_large' });
    const put = await fetch(`${base}/v1/merges`, { method: 'PUT', headers: auth, body: 'x' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toMatch(/POST/);
    expect((await problem(await fetch(`${base}/v1/nope`, { method: 'POST', headers: auth, body: 'x' }))).code).toBe('not_found');
    const semis = await fetch(`${base}/v1/merges`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json;;;;;;' }, body: '{}' });
    expect(semis.status).toBe(415);
    expect((await problem(semis)).code).toBe('unsupported_media_type');
  });

  it('fuzz over HTTP: any method, path, content type and body, URLs aimed inside: no 5xx, no hang, nothing inside reached', async () => {
    const urls = hostileUrls(internal.port, ['internal.test', 'mixed.test', 'v6loop.test', 'mapped.test', 'nowhere.test']);
    const bodies = fc.oneof(mutatedBodies(exampleRequest([])), hostileMergeBodies(exampleRequest([]) as never, urls));
    await fc.assert(
      fc.asyncProperty(hostileRequests(bodies), async ({ method, path, contentType, body }) => {
        const res = await fetch(`${base}${path}`, {
          method,
          headers: { ...auth, ...(contentType ? { 'content-type': contentType } : {}) },
          body: method === 'GET' || method === 'HEAD' ? undefined : body,
          signal: AbortSignal.timeout(30_000), // a hang fails the property
        });
        expect(res.status).toBeLessThan(500);
        const text = await res.text();
        if (res.status >= 400 && method !== 'HEAD') {
          expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
          expect(JSON.parse(text).status).toBe(res.status);
          secretFree(text);
        }
      }),
      { numRuns: 300, seed: 20261130 },
    );
    expect(internal.connections).toBe(0);
  });
});
