import { readCapped, remaining, withRedirects, type Outbound } from './client.ts';
import { asOutboundError } from './errors.ts';
import type { OutboundPolicy } from './policy.ts';
import { checkUnresolved, checkUrl } from './target.ts';

/**
 * Outbound requests where there is no resolver to check or pin (the edge on Cloudflare Workers):
 * every hop gets the checks that need no DNS (scheme, credentials, literal addresses in any
 * spelling, localhost names), redirects are followed by hand through the same checks, and the
 * platform's fetch does the rest. Workers' egress is the public internet: a name that resolves to a
 * private address has no route into the operator's network from there, and the runner, which does
 * the download, checks and pins every address.
 */
export function fetchOutbound(policy: OutboundPolicy, fetchImpl: typeof fetch = fetch): Outbound {
  return withRedirects(async (url, request) => {
    checkUnresolved(checkUrl(url, policy.allow));
    let res: Response;
    try {
      res = await fetchImpl(url, {
        method: request.method ?? 'GET',
        headers: request.headers,
        body: request.body as RequestInit['body'],
        redirect: 'manual',
        signal: AbortSignal.timeout(remaining(request.deadline)),
      });
    } catch (err) {
      throw asOutboundError(err);
    }
    const discard = () => void res.body?.cancel().catch(() => {});
    return {
      status: res.status,
      header: (name) => res.headers.get(name) ?? undefined,
      read: (maxBytes) => readCapped(chunks(res.body), maxBytes, res.headers.get('content-length') ?? undefined).finally(discard),
      discard,
    };
  });
}

async function* chunks(body: ReadableStream<Uint8Array> | null): AsyncIterable<Uint8Array> {
  if (!body) return;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    yield value;
  }
}
