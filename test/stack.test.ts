import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, spawnUntil, type Spawned } from './routes/processes.ts';

/**
 * `npm start` as a newcomer runs it: the whole stack from src/stack.ts with embedded defaults (here
 * on free ports and a temporary data folder), its quick-start merge, Ctrl-C, and a restart that
 * finds the same data.
 */
describe('npm start: the local stack', () => {
  let dataDir: string;
  const started: Spawned[] = [];
  afterAll(async () => {
    for (const s of started) await s.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('starts s3rver, runner and edge, merges the example pair through the API, stops on SIGINT, restarts with its data', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'basin-stack-'));
    const env: NodeJS.ProcessEnv = { ...process.env, BASIN_DATA_DIR: dataDir, PORT: String(await freePort()), RUNNER_PORT: String(await freePort()), BASIN_S3_PORT: String(await freePort()) };
    delete env.BASIN_API_KEYS;
    delete env.BASIN_S3_ENDPOINT;
    const start = () => spawnUntil(process.execPath, ['--import', 'tsx', 'src/stack.ts'], env, /report: \S+|already merged as/, 240_000);

    const first = await start();
    started.push(first);
    const out = first.output();
    expect(out).toMatch(/API key\s+basin-dev-key/);
    expect(out).toMatch(/Swagger UI: http:\/\/127\.0\.0\.1:\d+\/docs/);
    // the terminal shows people's lines only: the runner's JSON log lines go to a file
    expect(out).not.toMatch(/^\s*\{/m);
    expect(out).toContain(`logs        ${join(dataDir, 'runner.log')}`);
    expect(out).not.toMatch(/\d\.\d{4,}/); // progress is rounded
    const job = /merging the example pair as (job_\w+)/.exec(out)![1];
    expect(out).toMatch(/repaired\s+accuracy at alpha 0\.5 8\d\.\d%/);
    const api = `http://127.0.0.1:${env.PORT}`;
    const auth = { authorization: 'Bearer basin-dev-key' };
    const svg = await fetch(`${api}/v1/merges/${job}/report.svg`, { headers: auth });
    expect(svg.status).toBe(200);
    expect(await svg.text()).toMatch(/^<svg/);
    const html = await fetch(`${api}/v1/merges/${job}/report.html`, { headers: auth });
    expect(html.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await html.text()).toContain('fashion-mnist test');
    const log = (await readFile(join(dataDir, 'runner.log'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { job?: string; outcome?: string });
    expect(log).toContainEqual(expect.objectContaining({ job, outcome: 'succeeded' }));
    expect(((await (await fetch(`http://127.0.0.1:${env.RUNNER_PORT}/healthz`)).json()) as { backend: { name: string } }).backend.name).toBe('wasm');

    const exited = new Promise<number | null>((ok) => first.child.once('exit', (code) => ok(code)));
    first.child.kill('SIGINT');
    expect(await exited).toBe(0);
    await expect(fetch(`${api}/healthz`)).rejects.toThrow(); // the edge is gone
    await expect(fetch(`http://127.0.0.1:${env.BASIN_S3_PORT}/`)).rejects.toThrow(); // and s3rver with it

    const second = await start();
    started.push(second);
    expect(second.output()).toContain(`already merged as ${job}`);
    const again = (await (await fetch(`${api}/v1/merges/${job}`, { headers: auth })).json()) as { status: string };
    expect(again.status).toBe('succeeded');
  });
});
