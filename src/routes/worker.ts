import type { ExecutionContext } from 'hono';
import { createApp, type BasinApp } from './app.ts';
import { fetchOutbound } from '../storage/outbound/fetch.ts';
import { configFromEnv, type BasinEnv } from './env.ts';

/** The static-assets binding (wrangler.toml [assets]): swagger-ui-dist's files for /docs. */
type WorkerEnv = BasinEnv & { ASSETS?: { fetch(request: Request): Promise<Response> } };

// Workers hand the environment to each request; build the app once per isolate from the first one.
let app: BasinApp | undefined;
// Outbound `url` checks use fetch: no resolver to pin here (see fetchOutbound).
const appFor = (env: WorkerEnv) =>
  (app ??= createApp({
    ...configFromEnv(env, (policy) => fetchOutbound(policy)),
    docsAssets: async (file) => {
      const res = await env.ASSETS?.fetch(new Request(`https://assets.invalid/${file}`));
      return res?.ok && res.body ? res.body : undefined;
    },
  }));

export default {
  fetch(request: Request, env: WorkerEnv, ctx: ExecutionContext): Response | Promise<Response> {
    return appFor(env).fetch(request, env, ctx);
  },
  /** Cron Trigger (wrangler.toml): offer again the jobs the runner did not take, even with no traffic. */
  scheduled(_controller: unknown, env: WorkerEnv, ctx: ExecutionContext): void {
    ctx.waitUntil(appFor(env).reoffer(true));
  },
};
