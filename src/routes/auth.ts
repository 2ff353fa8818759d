import type { MiddlewareHandler } from 'hono';
import { constantTimeEqual, sha256Hex } from './crypto.ts';
import { problem } from './problem.ts';

export type AuthEnv = { Variables: { tenant: string } };

/** `Authorization: Bearer <key>`; the key's SHA-256 is compared with every configured hash. */
export function bearerAuth(apiKeys: ReadonlyMap<string, string>): MiddlewareHandler<AuthEnv> {
  const entries = [...apiKeys];
  return async (c, next) => {
    const m = /^Bearer\s+(\S{1,512})\s*$/i.exec(c.req.header('authorization') ?? '');
    let tenant: string | undefined;
    if (m) {
      const hash = await sha256Hex(m[1]);
      // Visit every entry (no early return) so timing does not reveal which hash came close.
      for (const [h, t] of entries) if (constantTimeEqual(h, hash) && tenant === undefined) tenant = t;
    }
    if (!tenant) {
      c.header('www-authenticate', 'Bearer realm="basin"');
      return problem(c, 401, 'unauthorized', m ? 'unknown API key' : 'send Authorization: Bearer <api key>');
    }
    c.set('tenant', tenant);
    await next();
  };
}
