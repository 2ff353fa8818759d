/**
 * Stand-ins for the other parties in an SSRF attempt, as real servers on this machine:
 *  - an internal service on 127.0.0.1 that counts every TCP connection it gets (whatever protocol
 *    follows) and answers anything with a secret;
 *  - the attacker's host on 127.0.0.2 (https with a test certificate for attacker.test, and plain
 *    http), which the tests allow-list by CIDR so that it plays a public host: there is no real
 *    internet here;
 *  - a DNS server over UDP (node:dgram) whose answers each test chooses, rebinding included.
 */
import { createSocket } from 'node:dgram';
import * as dnsPacket from 'dns-packet';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

export const SECRET = 'SECRET-TOKEN-internal-only-0123456789abcdef';
export const ATTACKER_IP = '127.0.0.2';
export const TLS_CA = 'test/security/tls/cert.pem';

export interface Recorder {
  url: string;
  port: number;
  connections: number;
  requests: string[];
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function listen(server: Server, scheme: 'http' | 'https', host: string, handler: Handler, port = 0): Promise<Recorder> {
  const rec: Recorder = { url: '', port: 0, connections: 0, requests: [], close: () => new Promise((ok) => server.close(() => ok())) };
  server.on('connection', (socket) => {
    rec.connections++;
    socket.on('error', () => {});
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    rec.requests.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(port, host, () => ok()));
  rec.port = (server.address() as AddressInfo).port;
  rec.url = `${scheme}://${host}:${rec.port}`;
  const close = rec.close;
  rec.close = () => {
    server.closeAllConnections?.();
    return close();
  };
  return rec;
}

/** The internal service: any request, any method, gets the secret. `port`: share the attacker's. */
export function internalService(port = 0): Promise<Recorder> {
  return listen(createHttpServer(), 'http', '127.0.0.1', (_req, res) => res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(SECRET), port);
}

/** The attacker's host over https (certificate for attacker.test and 127.0.0.2), or plain http. */
export function attackerHost(handler: Handler, tls = true, port = 0): Promise<Recorder> {
  const server = tls
    ? createHttpsServer({ cert: readFileSync(TLS_CA), key: readFileSync('test/security/tls/key.pem') })
    : createHttpServer();
  return listen(server as Server, tls ? 'https' : 'http', ATTACKER_IP, handler, port);
}

export interface DnsServer {
  /** `host:port`, for BASIN_DNS_SERVERS */
  address: string;
  /** A queries answered so far, per name */
  aQueries: Map<string, number>;
  close(): Promise<void>;
}

/**
 * Answers A and AAAA queries with `answer(name, type, n)` (n: how many queries of that type for that
 * name came before this one); undefined is NXDOMAIN. TTL 0, so no resolver caches an answer.
 */
export async function dnsServer(answer: (name: string, type: 'A' | 'AAAA', n: number) => string[] | undefined): Promise<DnsServer> {
  const socket = createSocket('udp4');
  const counts = new Map<string, number>();
  const aQueries = new Map<string, number>();
  socket.on('message', (msg, peer) => {
    let query: dnsPacket.Packet;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return;
    }
    const q = query.questions?.[0];
    if (!q) return;
    const name = q.name.toLowerCase();
    const type = q.type === 'A' || q.type === 'AAAA' ? q.type : undefined;
    const key = `${type}:${name}`;
    const n = counts.get(key) ?? 0;
    counts.set(key, n + 1);
    if (type === 'A') aQueries.set(name, n + 1);
    const addresses = type ? answer(name, type, n) : [];
    const response = dnsPacket.encode({
      type: 'response',
      id: query.id,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE | (addresses === undefined ? 3 : 0), // rcode 3: NXDOMAIN
      questions: [q],
      answers: (addresses ?? []).map((data) => ({ type: type!, name: q.name, ttl: 0, data, class: 'IN' as const })),
    });
    socket.send(response, peer.port, peer.address);
  });
  await new Promise<void>((ok) => socket.bind(0, '127.0.0.1', () => ok()));
  return {
    address: `127.0.0.1:${socket.address().port}`,
    aQueries,
    close: () => new Promise((ok) => socket.close(() => ok())),
  };
}
