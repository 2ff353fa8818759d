import type { MiddlewareHandler } from 'hono';
import { ProblemError } from './problem.ts';

/**
 * A well-formed JSON media type: `application/json` or `application/*+json`, then `; name=value`
 * parameters (RFC 9110), nothing else. No looser than the route validator's own gate, so whatever
 * passes here is parsed there too (anything else would end as a confusing `validation_failed`).
 */
const TOKEN = "[!#$%&'*+.^_`|~0-9a-z-]+";
const JSON_TYPE = new RegExp(`^application/(?:[a-z.-]+\\+)?json(?:;[ \\t]*[a-z0-9-]+=(?:${TOKEN}|"[^";\\\\]*"))*$`, 'i');

/**
 * Guards JSON routes before any schema runs: 415 for another content type, 413 past the limit
 * (counted while reading, so a lying or missing Content-Length does not help), 400 for bad JSON.
 * The parsed body lands in Hono's body cache, where the zod validator picks it up.
 */
export function jsonBody(maxBytes: number): MiddlewareHandler {
  return async (c, next) => {
    if (!['POST', 'PUT', 'PATCH'].includes(c.req.method)) return next();
    const type = c.req.header('content-type') ?? '';
    if (!JSON_TYPE.test(type)) throw new ProblemError(415, 'unsupported_media_type', `expected application/json, got ${JSON.stringify(type.slice(0, 100)) || 'none'}`);
    const declared = Number(c.req.header('content-length'));
    if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
    const text = await readCapped(c.req.raw, maxBytes);
    let value: unknown;
    try {
      value = JSON.parse(text); // parse once here, so bad JSON is a 400 before any schema runs
    } catch (err) {
      throw new ProblemError(400, 'malformed_json', (err as Error).message.slice(0, 200));
    }
    void value;
    // Hono caches the body as a promise per type (its typings say the value); c.req.json() and
    // c.req.text() (signed hooks verify the exact bytes) then read this instead of the spent stream.
    (c.req.bodyCache as Record<string, unknown>).text = Promise.resolve(text);
    await next();
  };
}

function tooLarge(maxBytes: number) {
  return new ProblemError(413, 'payload_too_large', `bodies are limited to ${maxBytes} bytes`);
}

async function readCapped(req: Request, maxBytes: number): Promise<string> {
  if (!req.body) return '';
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const ch of chunks) all.set(ch, (at += ch.length) - ch.length);
  return new TextDecoder('utf-8', { fatal: false }).decode(all);
}
