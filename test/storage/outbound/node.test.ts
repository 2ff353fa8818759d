import { createSocket } from 'node:dgram';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AllowList } from '../../../src/storage/outbound/allowList.ts';
import type { Outbound } from '../../../src/storage/outbound/client.ts';
import { OutboundError } from '../../../src/storage/outbound/errors.ts';
import { fetchOutbound } from '../../../src/storage/outbound/fetch.ts';
import { nodeOutbound } from '../../../src/storage/outbound/node.ts';
import { attackerHost, dnsServer, internalService, type DnsServer, type Recorder } from '../../security/fixtures.ts';

/**
 * The guard over real sockets: the attacker's host on 127.0.0.2 (allow-listed, standing in for a
 * public host), an internal service on 127.0.0.1 on the same port, and names answered by a DNS
 * server of the test's own.
 */
describe('outbound requests on Node', () => {
  let attacker: Recorder;
  let internal: Recorder;
  let dns: DnsServer;
  let guard: Outbound;
  const stalled: ServerResponse[] = [];

  const routes = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url!, 'http://x');
    const to = url.searchParams.get('to');
    const n = Number(url.searchParams.get('n') ?? 0);
    if (url.pathname === '/redirect') res.writeHead(302, { location: to! }).end();
    else if (url.pathname === '/hops') res.writeHead(307, { location: n > 0 ? `/hops?n=${n - 1}` : '/file' }).end();
    else if (url.pathname === '/file') res.writeHead(200, { 'content-type': 'application/octet-stream' }).end('0123456789');
    else if (url.pathname === '/stream') {
      res.writeHead(200); // no content-length: the limit has to be enforced while reading
      for (let i = 0; i < 64; i++) res.write(Buffer.alloc(1024, 1));
      res.end();
    } else if (url.pathname === '/huge') res.writeHead(200, { 'content-length': String(10 ** 12) }).end();
    else if (url.pathname === '/silent') stalled.push(res); // never answers
    else if (url.pathname === '/drip') {
      res.writeHead(200, { 'content-length': '100' }).write('x'); // headers, then nothing
      stalled.push(res);
    } else res.writeHead(404).end();
  };

  beforeAll(async () => {
    attacker = await attackerHost(routes, false);
    internal = await internalService(attacker.port);
    dns = await dnsServer((name, type, n) => {
      if (type === 'AAAA') return name.endsWith('.test') ? [] : undefined;
      if (name === 'attacker.test') return ['127.0.0.2'];
      if (name === 'loop.test') return ['127.0.0.1'];
      if (name === 'mixed.test') return ['127.0.0.2', '10.0.0.7'];
      if (name === 'public.test') return ['93.184.216.34'];
      if (name === 'rebind.test') return [n % 2 === 0 ? '127.0.0.2' : '127.0.0.1']; // public first, internal after
      return undefined;
    });
    guard = nodeOutbound({ allow: AllowList.parse('127.0.0.2/32'), dnsServers: [dns.address] });
  });
  afterAll(async () => {
    for (const res of stalled) res.destroy();
    await attacker?.close();
    await internal?.close();
    await dns?.close();
  });

  const failure = async (p: Promise<unknown>) => {
    const err = await p.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(OutboundError);
    return err as OutboundError;
  };
  const base = () => `http://attacker.test:${attacker.port}`;

  it('reaches an allowed host by name, and Host and the path stay as written', async () => {
    const res = await guard(`${base()}/file?x=1`, { timeoutMs: 5000 });
    expect(res.status).toBe(200);
    expect(new TextDecoder().decode(await res.read(100))).toBe('0123456789');
    expect(attacker.requests.at(-1)).toBe('GET /file?x=1');
  });

  it('connects to the address it checked, however DNS answers the next time (rebinding)', async () => {
    const before = attacker.requests.length;
    // rebind.test answers 127.0.0.2 (allowed) and then 127.0.0.1: a client that resolved again at
    // connect time would reach the internal service on the same port
    const first = await guard(`http://rebind.test:${attacker.port}/file`, { timeoutMs: 5000 });
    expect(first.status).toBe(200);
    first.discard();
    expect(attacker.requests.length).toBe(before + 1);
    // the next request resolves afresh, gets 127.0.0.1 and is refused before connecting
    expect((await failure(guard(`http://rebind.test:${attacker.port}/file`, { timeoutMs: 5000 }))).kind).toBe('refused');
    expect(dns.aQueries.get('rebind.test')).toBe(2); // one resolution per request, the one that was checked
    expect(internal.connections).toBe(0);
  });

  it('refuses names that resolve to internal addresses, with any one bad record', async () => {
    for (const name of ['loop.test', 'mixed.test']) {
      const err = await failure(guard(`http://${name}:${internal.port}/secret`, { timeoutMs: 5000 }));
      expect(err.kind, name).toBe('refused');
      expect(err.message).not.toMatch(/127\.0\.0\.1|10\.0\.0\.7/); // internal DNS records are not echoed
    }
    expect(internal.connections).toBe(0);
  });

  it('plain http only to allow-listed addresses: a public name is refused before connecting', async () => {
    expect((await failure(guard('http://public.test/model', { timeoutMs: 5000 }))).message).toMatch(/plain http/);
  });

  it('checks every redirect hop as the first, and stops after the limit', async () => {
    const hops = await guard(`${base()}/hops?n=2`, { timeoutMs: 5000, maxRedirects: 3 }); // 3 redirects
    expect(hops.status).toBe(200);
    hops.discard();
    expect((await failure(guard(`${base()}/hops?n=3`, { timeoutMs: 5000, maxRedirects: 3 }))).message).toBe('more than 3 redirects');
    for (const to of [`http://127.0.0.1:${internal.port}/secret`, `http://loop.test:${internal.port}/secret`, `http://[::ffff:7f00:1]:${internal.port}/`, 'http://public.test/x', 'file:///etc/passwd']) {
      const err = await failure(guard(`${base()}/redirect?to=${encodeURIComponent(to)}`, { timeoutMs: 5000, maxRedirects: 3 }));
      expect(err.kind, to).toBe('refused');
    }
    // without maxRedirects a 3xx is the answer (webhooks), and is not followed
    const manual = await guard(`${base()}/redirect?to=${encodeURIComponent(`http://127.0.0.1:${internal.port}/`)}`, { timeoutMs: 5000 });
    expect(manual.status).toBe(302);
    manual.discard();
    expect(internal.connections).toBe(0);
  });

  it('cuts off a body past the limit, declared or streamed', async () => {
    const streamed = await guard(`${base()}/stream`, { timeoutMs: 5000 });
    expect((await failure(streamed.read(10_000))).kind).toBe('too_large');
    const declared = await guard(`${base()}/huge`, { timeoutMs: 5000 });
    expect((await failure(declared.read(10_000))).kind).toBe('too_large');
  });

  it('times out a server that never answers, or stops sending, within the whole-exchange limit', async () => {
    const silent = await failure(guard(`${base()}/silent`, { timeoutMs: 300 }));
    expect(silent).toMatchObject({ kind: 'unreachable', message: 'timed out' });
    const drip = await guard(`${base()}/drip`, { timeoutMs: 300 });
    expect((await failure(drip.read(1000))).kind).toBe('unreachable');
    // a resolver that never answers counts against the same limit (its own retries would take seconds)
    const deaf = createSocket('udp4');
    await new Promise<void>((ok) => deaf.bind(0, '127.0.0.1', () => ok()));
    try {
      const slowDns = nodeOutbound({ allow: AllowList.none, dnsServers: [`127.0.0.1:${deaf.address().port}`] });
      expect(await failure(slowDns('https://example.test/x', { timeoutMs: 300 }))).toMatchObject({ kind: 'unreachable', message: 'timed out' });
    } finally {
      deaf.close();
    }
  });

  it('says what failed in its own words: no network error text, address or port', async () => {
    const closed = await failure(guard('http://127.0.0.2:9/x', { timeoutMs: 5000 }));
    expect(closed).toMatchObject({ kind: 'unreachable', message: 'the connection failed' });
    const unknown = await failure(guard('https://nowhere.test/x', { timeoutMs: 5000 }));
    expect(unknown).toMatchObject({ kind: 'unreachable', message: 'the host name does not resolve' });
  });

  it('the fetch transport (Workers) refuses internal literals and checks each redirect by hand', async () => {
    const viaFetch = fetchOutbound({ allow: AllowList.parse('127.0.0.2/32'), dnsServers: [] });
    const ok = await viaFetch(`http://127.0.0.2:${attacker.port}/hops?n=2`, { timeoutMs: 5000, maxRedirects: 3 });
    expect(ok.status).toBe(200);
    expect(new TextDecoder().decode(await ok.read(100))).toBe('0123456789');
    for (const to of [`http://127.0.0.1:${internal.port}/`, `http://0x7f.1:${internal.port}/`, `http://localhost:${internal.port}/`, `http://[::ffff:127.0.0.1]:${internal.port}/`]) {
      const err = await failure(viaFetch(`http://127.0.0.2:${attacker.port}/redirect?to=${encodeURIComponent(to)}`, { timeoutMs: 5000, maxRedirects: 3 }));
      expect(err.kind, to).toBe('refused');
    }
    expect((await failure(viaFetch(`http://127.0.0.1:${internal.port}/`, { timeoutMs: 5000 }))).kind).toBe('refused');
    expect((await failure(viaFetch('http://example.com/', { timeoutMs: 5000 }))).message).toMatch(/plain http/);
    expect(internal.connections).toBe(0);
    expect(internal.requests).toEqual([]);
  });
});
