import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { runnerConfigFromEnv, type RunnerEnv } from './config.ts';
import { createRunner, type Runner } from './runner.ts';

export interface RunningRunner {
  /** where /healthz answers */
  url: string;
  runner: Runner;
  close(): Promise<void>;
}

/**
 * The runner on Node: jobs from DATABASE_URL's queue; /healthz on RUNNER_HOST:RUNNER_PORT (default
 * 127.0.0.1:8788); JSON log lines to stdout (npm start collects them in .basin/runner.log).
 */
export async function startRunner(env: RunnerEnv = process.env): Promise<RunningRunner> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const config = runnerConfigFromEnv(env);
  const runner = createRunner(config);
  const host = env.RUNNER_HOST ?? '127.0.0.1';
  const server = await new Promise<ReturnType<typeof serve>>((ok) => {
    const s = serve({ fetch: runner.app.fetch, port: Number(env.RUNNER_PORT ?? 8788), hostname: host }, () => ok(s));
  });
  const url = `http://${host}:${(server.address() as AddressInfo).port}`;
  await runner.start();
  return {
    url,
    runner,
    close: async () => {
      await new Promise<void>((done) => server.close(() => done()));
      await runner.stop();
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const running = await startRunner();
  console.log(JSON.stringify({ runner: running.url, pid: process.pid }));
  const stop = () => running.close().finally(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
