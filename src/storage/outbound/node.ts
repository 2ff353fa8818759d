import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { parseAddress } from './addresses.ts';
import { beforeDeadline, readCapped, remaining, withRedirects, type Outbound, type OutboundRequest, type OutboundResponse } from './client.ts';
import { asOutboundError, refused, unreachable } from './errors.ts';
import type { OutboundPolicy } from './policy.ts';
import { dnsResolver } from './resolve.ts';
import { checkAddresses, checkUrl, NOT_PUBLIC } from './target.ts';

interface Pinned {
  address: string;
  family: 4 | 6;
}

/**
 * Outbound requests on Node: each hop's name is resolved once, every address checked, and the
 * connection made to those checked addresses (node:http's `lookup` hook hands them over instead of
 * a second resolution), so a DNS answer that changes between check and connect (rebinding) cannot
 * redirect it. SNI, certificate checks and Host stay the name. No connection pooling: a socket is
 * never reused for a later check.
 */
export function nodeOutbound(policy: OutboundPolicy): Outbound {
  const resolve = dnsResolver(policy.dnsServers);
  return withRedirects(async (url, request) => {
    const target = checkUrl(url, policy.allow);
    let pinned: Pinned[] = [];
    if (!target.literal) {
      const addresses = await beforeDeadline(resolve(target.host), request.deadline);
      const parsed = addresses.map((a) => parseAddress(a));
      if (parsed.some((p) => !p)) throw refused(NOT_PUBLIC);
      checkAddresses(target, parsed as Uint8Array[], policy.allow);
      pinned = addresses.map((address, i) => ({ address, family: parsed[i]!.length === 4 ? 4 : 6 }));
    }
    return send(url, target.host, pinned, request);
  });
}

/** Hands net.connect the checked addresses, whatever it asks for. */
function pinnedLookup(pinned: Pinned[]): LookupFunction {
  return (_host, options, callback) => {
    const fitting = pinned.filter((p) => !options.family || p.family === options.family);
    const list = fitting.length ? fitting : pinned;
    if (options.all) (callback as (err: null, addresses: Pinned[]) => void)(null, list);
    else callback(null, list[0].address, list[0].family);
  };
}

function send(url: URL, host: string, pinned: Pinned[], request: OutboundRequest & { deadline: number }): Promise<OutboundResponse> {
  const overallMs = remaining(request.deadline);
  const connectMs = Math.min(overallMs, request.connectTimeoutMs ?? overallMs);
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)({
      hostname: host,
      port: url.port || undefined,
      path: `${url.pathname}${url.search}`,
      method: request.method ?? 'GET',
      headers: request.headers,
      agent: false,
      // a literal address is connected to as is; a name only through its checked addresses
      ...(pinned.length ? { lookup: pinnedLookup(pinned) } : {}),
    });
    const overall = setTimeout(() => req.destroy(unreachable('timed out')), overallMs);
    const finish = () => clearTimeout(overall);
    req.once('socket', (socket) => {
      const connecting = setTimeout(() => req.destroy(unreachable('timed out while connecting')), connectMs);
      socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(connecting));
      socket.once('close', () => clearTimeout(connecting));
    });
    // `on`, not `once`: a request destroyed after its answer came can report an error again
    req.on('error', (err) => {
      finish();
      reject(asOutboundError(err));
    });
    req.once('response', (res: IncomingMessage) => {
      res.on('error', () => {}); // surfaced by read(); a discarded body's errors matter to no one
      resolve({
        status: res.statusCode ?? 0,
        header: (name) => {
          const v = res.headers[name.toLowerCase()];
          return Array.isArray(v) ? v.join(', ') : v;
        },
        read: async (maxBytes) => {
          try {
            return await readCapped(res, maxBytes, res.headers['content-length']);
          } catch (err) {
            res.destroy();
            throw err;
          } finally {
            finish();
          }
        },
        discard: () => {
          res.destroy();
          finish();
        },
      });
    });
    req.end(request.body);
  });
}
