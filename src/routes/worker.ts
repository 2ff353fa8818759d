import type { ExecutionContext } from 'hono';
import { perCallDatabase } from '../jobs/db.ts';
import { createApp, type BasinApp } from './app.ts';
import { configFromEnv, type BasinEnv } from './env.ts';

/** The Worker's bindings: the variables, and Hyperdrive in front of PostgreSQL (wrangler.toml). */
type WorkerEnv = BasinEnv & { HYPERDRIVE?: { connectionString: string } };

// Workers hand the environment to each request; build the app once per isolate from the first one.
// Its database opens a connection per call (through Hyperdrive's pool): a connection cannot be
// shared between requests here. Migrations are the runners' (and the Node edge's) job.
let app: BasinApp | undefined;
const appFor = (env: WorkerEnv) => {
  const url = env.HYPERDRIVE?.connectionString ?? env.DATABASE_URL;
  if (!url) throw new Error('no database: bind Hyperdrive as HYPERDRIVE (wrangler.toml) or set DATABASE_URL');
  return (app ??= createApp(configFromEnv(env, perCallDatabase(url))));
};

export default {
  fetch(request: Request, env: WorkerEnv, ctx: ExecutionContext): Response | Promise<Response> {
    return appFor(env).fetch(request, env, ctx);
  },
};
