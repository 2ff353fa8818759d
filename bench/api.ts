/**
 * API throughput on loopback: the Node edge over a local PostgreSQL (embedded) and s3rver, driven by
 * autocannon for a bounded time per route. Prints figures only (never asserts).
 * `npm run bench:api [-- --seconds 5 --connections 10]`
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { startLocalPostgres } from '../src/jobs/localPostgres.ts';
import { startLocalS3 } from '../src/storage/localS3.ts';
import { freePort } from '../test/routes/processes.ts';
import { startEdge } from '../src/routes/node.ts';
import { figure } from './figures.ts';

interface Result {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number };
  non2xx: number;
  errors: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<Result>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const seconds = arg('seconds', 5);
const connections = arg('connections', 10);

const dir = await mkdtemp(join(tmpdir(), 'basin-bench-'));
const s3 = await startLocalS3({ directory: join(dir, 's3'), buckets: ['bench'] });
const pg = await startLocalPostgres({ directory: join(dir, 'pg'), port: await freePort() });
await pg.createDatabase('bench');
const key = 'bench-key';
const edge = await startEdge({
  PORT: '0',
  DATABASE_URL: pg.url('bench'),
  BASIN_S3_ENDPOINT: s3.endpoint,
  BASIN_BUCKET: 'bench',
  BASIN_API_KEYS: `${createHash('sha256').update(key).digest('hex')}:bench`,
});
const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };

try {
  const ids: string[] = [];
  for (let i = 0; i < 2; i++) {
    const up = (await (await fetch(`${edge.url}/v1/uploads`, { method: 'POST', headers, body: JSON.stringify({ size: 4 }) })).json()) as { id: string; url: string };
    await fetch(up.url, { method: 'PUT', body: new Uint8Array(4) });
    ids.push(up.id);
  }
  const body = JSON.stringify({
    models: ids.map((upload) => ({ upload })),
    architecture: { template: 'mlp', input: [784], widths: [128] },
    data: { evaluation: { builtin: 'fashion-mnist' } },
  });
  const created = await fetch(`${edge.url}/v1/merges`, { method: 'POST', headers, body });
  if (created.status !== 202) throw new Error(`setup merge answered ${created.status}: ${await created.text()}`);
  const job = (await created.json()) as { id: string };

  const runs: Array<[string, Record<string, unknown>]> = [
    // no S3 round trip: the edge's own overhead, for comparison with the routes below
    ['GET /healthz', { url: `${edge.url}/healthz` }],
    ['GET /v1/merges/{id}', { url: `${edge.url}/v1/merges/${job.id}`, headers }],
    ['POST /v1/merges', { url: `${edge.url}/v1/merges`, method: 'POST', headers, body }],
  ];
  console.log(`basin edge (Node ${process.version}) + PostgreSQL + s3rver, loopback, ${connections} connections, ${seconds} s per route`);
  for (const [name, opts] of runs) {
    const r = await autocannon({ ...opts, connections, duration: seconds });
    figure('api', name, 'throughput', r.requests.average, 'req/s');
    figure('api', name, 'p99 latency', r.latency.p99, 'ms');
    console.log(
      `${name.padEnd(22)} ${r.requests.average.toFixed(0).padStart(6)} req/s  p50 ${r.latency.p50} ms  p99 ${r.latency.p99} ms  (${r.requests.total} requests, ${r.non2xx} non-2xx, ${r.errors} errors)`,
    );
  }
} finally {
  await new Promise((ok) => setTimeout(ok, 500)); // let autocannon's last in-flight requests finish
  await edge.close();
  await s3.stop();
  await pg.stop();
  await rm(dir, { recursive: true, force: true });
}
