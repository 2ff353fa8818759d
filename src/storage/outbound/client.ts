import { OutboundError, asOutboundError, refused, unreachable } from './errors.ts';

export interface OutboundRequest {
  method?: 'GET' | 'HEAD' | 'POST';
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /**
   * Redirects followed for GET and HEAD, each hop checked as the first was (default 0: a 3xx is the
   * answer). Past the limit the request is refused.
   */
  maxRedirects?: number;
  /** the whole exchange, redirects and body included */
  timeoutMs: number;
  /** each connection, TLS handshake included (default: timeoutMs) */
  connectTimeoutMs?: number;
}

export interface OutboundResponse {
  status: number;
  header(name: string): string | undefined;
  /** the body, at most `maxBytes` of it (past that: OutboundError `too_large`, and the connection is dropped) */
  read(maxBytes: number): Promise<Uint8Array>;
  /** done with it, body unread */
  discard(): void;
}

/** A guarded request to a caller-supplied URL: throws OutboundError when refused or failed. */
export type Outbound = (url: string, request: OutboundRequest) => Promise<OutboundResponse>;

/** One hop of a transport: checks the URL (and its addresses, where it can), then sends. */
export type Hop = (url: URL, request: OutboundRequest & { deadline: number }) => Promise<OutboundResponse>;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** A transport's hop, with redirects (each hop through the same checks) and one deadline for all. */
export function withRedirects(hop: Hop): Outbound {
  return async (raw, request) => {
    const deadline = Date.now() + request.timeoutMs;
    const max = request.maxRedirects ?? 0;
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw refused('not a valid URL');
    }
    for (let hops = 0; ; hops++) {
      const res = await hop(url, { ...request, deadline });
      if (!REDIRECTS.has(res.status) || max === 0 || request.method === 'POST') return res;
      res.discard();
      if (hops >= max) throw refused(`more than ${max} redirects`);
      try {
        url = new URL(res.header('location') ?? '', url);
      } catch {
        throw refused('a redirect without a valid Location');
      }
    }
  };
}

/** Milliseconds left before `deadline`, or a timeout error. */
export function remaining(deadline: number): number {
  const ms = deadline - Date.now();
  if (ms <= 0) throw unreachable('timed out');
  return ms;
}

/** `work`, or a timeout error at `deadline` (a slow resolver counts against the same limit). */
export async function beforeDeadline<T>(work: Promise<T>, deadline: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(unreachable('timed out')), remaining(deadline));
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Collects a body up to `maxBytes`: refused early by a declared length, cut off while streaming. */
export async function readCapped(body: AsyncIterable<Uint8Array>, maxBytes: number, declaredLength: string | undefined): Promise<Uint8Array> {
  const tooLarge = () => new OutboundError('too_large', `the response is larger than the limit of ${maxBytes} bytes`);
  if (declaredLength !== undefined && Number(declaredLength) > maxBytes) throw tooLarge();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      size += chunk.length;
      if (size > maxBytes) throw tooLarge();
      chunks.push(chunk);
    }
  } catch (err) {
    throw asOutboundError(err, 'the connection failed while reading');
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
