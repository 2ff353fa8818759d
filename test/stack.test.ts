import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, spawnUntil, type Spawned } from './routes/processes.ts';

/**
 * `npm start` as a newcomer runs it: the whole stack from src/stack.ts with embedded defaults (here
 * on free ports and a temporary data folder), its quick-start merge, its children killed one by
 * one (each is restarted, and the stack says so), Ctrl-C, and a restart that finds the same data.
 */
describe('npm start: the local stack', () => {
  let dataDir: string;
  const started: Spawned[] = [];
  afterAll(async () => {
    for (const s of started) await s.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('starts Postgres, s3rver, runners and edge, merges the example pair, restarts a killed child, stops on SIGINT, restarts with its data', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'basin-stack-'));
    const env: NodeJS.ProcessEnv = {
      ...process.env, BASIN_DATA_DIR: dataDir, PORT: String(await freePort()), RUNNER_PORT: String(await freePort()),
      BASIN_S3_PORT: String(await freePort()), BASIN_PG_PORT: String(await freePort()), BASIN_RUNNERS: '2',
    };
    delete env.BASIN_API_KEYS;
    delete env.BASIN_S3_ENDPOINT;
    delete env.DATABASE_URL;
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
    const log = (await readFile(join(dataDir, 'runner.log'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { job?: string; outcome?: string; runner?: string; pid?: number });
    expect(log).toContainEqual(expect.objectContaining({ job, outcome: 'succeeded' }));
    expect(((await (await fetch(`http://127.0.0.1:${env.RUNNER_PORT}/healthz`)).json()) as { backend: { name: string } }).backend.name).toBe('wasm');
    expect(out).toMatch(/runners\s+http:\/\/127\.0\.0\.1:\d+\/healthz\s+http:\/\/127\.0\.0\.1:\d+\/healthz/);

    // Supervision: each child killed with SIGKILL comes back, and the stack says so.
    const pgPid = Number((await readFile(join(dataDir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[0]);
    const runnerPid = log.find((l) => l.runner?.startsWith('http') && l.pid)!.pid!; // a runner's ready line
    for (const [name, pid] of [['postgres', pgPid], ['runner \\d', runnerPid]] as const) {
      process.kill(pid, 'SIGKILL');
      const back = new RegExp(`basin: ${name} \\(pid ${pid}\\) exited \\(SIGKILL\\); restarting it[\\s\\S]*basin: ${name} is back`);
      const deadline = Date.now() + 60_000;
      while (!back.test(first.output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      expect(first.output()).toMatch(back);
    }
    // the edge reconnects to the restarted Postgres by itself
    const after = await fetch(`${api}/v1/merges/${job}`, { headers: auth });
    expect(after.status).toBe(200);
    expect(((await after.json()) as { status: string }).status).toBe('succeeded');

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
