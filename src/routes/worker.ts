import type { ExecutionContext } from 'hono';
import { perCallDatabase } from '../jobs/db.ts';
import { createApp, type BasinApp } from './app.ts';
import { fetchOutbound } from '../storage/outbound/fetch.ts';
import { configFromEnv, type BasinEnv } from './env.ts';

/**
 * The Worker's bindings: the variables, Hyperdrive in front of PostgreSQL, and the static assets
 * (swagger-ui-dist's files for /docs) (wrangler.toml).
 */
type WorkerEnv = BasinEnv & { HYPERDRIVE?: { connectionString: string }; ASSETS?: { fetch(request: Request): Promise<Response> } };

// Workers hand the environment to each request; build the app once per isolate from the first one.
// Its database opens a connection per call (through Hyperdrive's pool): a connection cannot be
// shared between requests here. Migrations are the runners' (and the Node edge's) job.
let app: BasinApp | undefined;
// Outbound `url` checks use fetch: no resolver to pin here (see fetchOutbound).
const appFor = (env: WorkerEnv) => {
  const url = env.HYPERDRIVE?.connectionString ?? env.DATABASE_URL;
  if (!url) throw new Error('no database: bind Hyperdrive as HYPERDRIVE (wrangler.toml) or set DATABASE_URL');
  return (app ??= createApp({
    ...configFromEnv(env, perCallDatabase(url), (policy) => fetchOutbound(policy)),
    docsAssets: async (file) => {
      const res = await env.ASSETS?.fetch(new Request(`https://assets.invalid/${file}`));
      return res?.ok && res.body ? res.body : undefined;
    },
  }));
};

export default {
  fetch(request: Request, env: WorkerEnv, ctx: ExecutionContext): Response | Promise<Response> {
    return appFor(env).fetch(request, env, ctx);
  },
};
