import type { ExecutionContext } from 'hono';
import { createApp, type BasinApp } from './app.ts';
import { fetchOutbound } from '../storage/outbound/fetch.ts';
import { configFromEnv, type BasinEnv } from './env.ts';

// Workers hand the environment to each request; build the app once per isolate from the first one.
let app: BasinApp | undefined;
// Outbound `url` checks use fetch: no resolver to pin here (see fetchOutbound).
const appFor = (env: BasinEnv) => (app ??= createApp(configFromEnv(env, (policy) => fetchOutbound(policy))));

export default {
  fetch(request: Request, env: BasinEnv, ctx: ExecutionContext): Response | Promise<Response> {
    return appFor(env).fetch(request, env, ctx);
  },
  /** Cron Trigger (wrangler.toml): offer again the jobs the runner did not take, even with no traffic. */
  scheduled(_controller: unknown, env: BasinEnv, ctx: ExecutionContext): void {
    ctx.waitUntil(appFor(env).reoffer(true));
  },
};
