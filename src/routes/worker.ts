import type { ExecutionContext } from 'hono';
import { createApp, type BasinApp } from './app.ts';
import { configFromEnv, type BasinEnv } from './env.ts';

// Workers hand the environment to each request; build the app once per isolate from the first one.
let app: BasinApp | undefined;

export default {
  fetch(request: Request, env: BasinEnv, ctx: ExecutionContext): Response | Promise<Response> {
    app ??= createApp(configFromEnv(env));
    return app.fetch(request, env, ctx);
  },
};
