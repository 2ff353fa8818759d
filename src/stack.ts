/**
 * `npm start`: the whole stack on loopback with embedded defaults (DESIGN 6): s3rver with its data
 * in .basin/, the runner, and the edge on Node; then a first merge of the committed example pair
 * through the API, as a client would make it. Ctrl-C stops everything; a restart keeps the data.
 *
 * This file only wires the parts together (the composition root); each part is its own module.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { DEV_WEBHOOK_SECRET } from './gpu-runner/config.ts';
import { startRunner, type RunningRunner } from './gpu-runner/main.ts';
import { startEdge, type RunningEdge } from './routes/node.ts';
import { DEV_API_KEY } from './routes/env.ts';
import { startLocalS3, type LocalS3 } from './storage/localS3.ts';

export interface StackOptions {
  dataDir: string;
  apiPort: number;
  runnerPort: number;
  s3Port: number;
}

export interface RunningStack {
  api: string;
  /** where the runner's JSON log lines go (the terminal shows the banner and the quick start only) */
  logFile: string;
  runner: RunningRunner;
  edge: RunningEdge;
  s3: LocalS3;
  close(): Promise<void>;
}

export async function startStack(opts: StackOptions): Promise<RunningStack> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const dataDir = resolve(opts.dataDir);
  await mkdir(join(dataDir, 's3'), { recursive: true });
  const s3 = await startLocalS3({ directory: join(dataDir, 's3'), buckets: ['basin'], port: opts.s3Port });
  // edge and runner share a secret made for this run: nothing else on the machine can dispatch jobs.
  // Local webhooks and `url` inputs go to local servers: loopback is allowed here, and only here.
  const shared = {
    ...process.env, BASIN_S3_ENDPOINT: s3.endpoint, BASIN_BUCKET: 'basin', RUNNER_SECRET: randomBytes(24).toString('hex'),
    BASIN_OUTBOUND_ALLOW: process.env.BASIN_OUTBOUND_ALLOW ?? '127.0.0.0/8,localhost,::1',
  };
  // the runner's JSON lines go to a file: the terminal is for people
  const logFile = join(dataDir, 'runner.log');
  const logStream = createWriteStream(logFile, { flags: 'a' });
  const log = (entry: Record<string, unknown>) => void logStream.write(`${JSON.stringify({ at: new Date().toISOString(), ...entry })}\n`);
  const closeLog = () => new Promise<void>((done) => logStream.end(done));
  let runner: RunningRunner | undefined;
  try {
    runner = await startRunner({ ...shared, RUNNER_PORT: String(opts.runnerPort) }, log);
    // the docs page may be opened as localhost or 127.0.0.1: both are this stack's own origin
    const ownOrigins = [`http://127.0.0.1:${opts.apiPort}`, `http://localhost:${opts.apiPort}`].join(',');
    const edge = await startEdge({ ...shared, PORT: String(opts.apiPort), RUNNER_URL: runner.dispatchUrl, BASIN_CORS_ORIGINS: process.env.BASIN_CORS_ORIGINS ?? ownOrigins });
    return {
      api: edge.url,
      logFile,
      runner,
      edge,
      s3,
      close: async () => {
        await edge.close();
        await runner!.close();
        await s3.stop();
        await closeLog();
      },
    };
  } catch (err) {
    await runner?.close();
    await s3.stop();
    await closeLog();
    throw err;
  }
}

/** The example merge through the API: upload both checkpoints, POST /merge, poll until it ends. */
export async function quickstartMerge(api: string, apiKey: string, log: (line: string) => void): Promise<string> {
  const auth = { authorization: `Bearer ${apiKey}` };
  const call = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${api}${path}`, { ...init, headers: { ...auth, 'content-type': 'application/json', ...init.headers } });
    const body = (await res.json()) as Record<string, any>;
    if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${body.code}: ${body.detail}`);
    return body;
  };
  const dir = 'examples/fashion-mlp6x128';
  const models = [];
  for (const file of ['seed1.safetensors', 'seed2.safetensors']) {
    const bytes = await readFile(join(dir, file));
    const up = await call('/v1/uploads', { method: 'POST', body: JSON.stringify({ size: bytes.length, kind: 'checkpoint' }) });
    const put = await fetch(up.url, { method: 'PUT', body: bytes, headers: up.headers });
    if (!put.ok) throw new Error(`upload of ${file} answered ${put.status}`);
    models.push({ upload: up.id as string });
  }
  const { models: _paths, ...rest } = JSON.parse(await readFile(join(dir, 'request.json'), 'utf8'));
  let job = await call('/merge', { method: 'POST', body: JSON.stringify({ ...rest, models }) });
  log(`quick start: merging the example pair as ${job.id} (${api}/v1/merges/${job.id})`);
  let lastStage = '';
  while (!['succeeded', 'failed', 'canceled'].includes(job.status)) {
    await new Promise((r) => setTimeout(r, 500));
    job = await call(`/v1/merges/${job.id}`);
    if (job.stage && job.stage !== lastStage) log(`  ${job.stage} (${Math.round(100 * job.progress)}%)`);
    lastStage = job.stage ?? lastStage;
  }
  if (job.status !== 'succeeded') throw new Error(`quick start merge ${job.status}: ${job.error?.code}: ${job.error?.message}`);
  const report = await call(`/v1/merges/${job.id}/report`);
  const v = report.variants;
  const mid = Math.floor(report.alphas.length / 2);
  for (const [name, r] of Object.entries(v) as [string, any][]) {
    log(`  ${name.padEnd(9)} accuracy at alpha 0.5 ${(100 * r.accuracy[mid]).toFixed(1)}%, loss barrier ${r.barrier.loss.max.toFixed(3)}`);
  }
  log(`  report: ${api}/v1/merges/${job.id}/report.html (and report.svg, report)   weights: ${api}/v1/merges/${job.id}/weights (with the API key)`);
  return job.id as string;
}

async function main() {
  const { values } = parseArgs({ options: { 'no-demo': { type: 'boolean' } } });
  const env = process.env;
  const stack = await startStack({
    dataDir: env.BASIN_DATA_DIR ?? '.basin',
    apiPort: Number(env.PORT ?? 8787),
    runnerPort: Number(env.RUNNER_PORT ?? 8788),
    s3Port: Number(env.BASIN_S3_PORT ?? 8789),
  });
  const keyed = !env.BASIN_API_KEYS;
  console.log([
    `basin is running (data in ${resolve(env.BASIN_DATA_DIR ?? '.basin')}; Ctrl-C stops it, a restart keeps the data)`,
    `  API         ${stack.api}        Swagger UI: ${stack.api}/docs`,
    keyed ? `  API key     ${DEV_API_KEY}            (tenant dev; local only)` : '  API keys    from BASIN_API_KEYS',
    `  runner      ${stack.runner.url}/healthz`,
    `  S3          ${stack.s3.endpoint}        (s3rver, bucket basin)`,
    env.BASIN_WEBHOOK_SECRETS ? '' : `  webhooks    signed for tenant dev with ${DEV_WEBHOOK_SECRET}`,
    `  logs        ${stack.logFile}`,
  ].filter(Boolean).join('\n'));
  let closing = false;
  const stop = () => {
    if (closing) return;
    closing = true;
    console.log('basin: stopping (running jobs go back to queued and resume on the next start)');
    stack.close().then(() => process.exit(0), (err: unknown) => {
      console.error(`basin: ${(err as Error).message}`);
      process.exit(1);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  if (!values['no-demo'] && keyed) {
    const marker = join(resolve(env.BASIN_DATA_DIR ?? '.basin'), 'quickstart.json');
    const previous = await readFile(marker, 'utf8').then((s) => JSON.parse(s).job as string, () => undefined);
    if (previous) {
      console.log(`quick start: already merged as ${previous}: ${stack.api}/v1/merges/${previous}/report.svg (run with --no-demo to skip this line)`);
    } else {
      const job = await quickstartMerge(stack.api, DEV_API_KEY, (l) => console.log(l)).catch((err: unknown) => {
        console.error(`quick start: ${(err as Error).message}`);
        return undefined;
      });
      if (job) await writeFile(marker, JSON.stringify({ job }) + '\n');
    }
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    console.error(`basin: ${(err as Error).message}`);
    process.exit(1);
  });
}
