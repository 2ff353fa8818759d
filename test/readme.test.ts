import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bufferSource, readHeader } from '../src/pipeline/io/safetensors.ts';
import { freePort, spawnUntil, type Spawned } from './routes/processes.ts';

/** README's commands, run as written: a block marked `<!-- readme-test: NAME -->` is run here. */
async function readmeBlock(name: string, lang = 'sh'): Promise<string> {
  const readme = await readFile('README.md', 'utf8');
  const m = new RegExp(`<!-- readme-test: ${name} -->\\n\`\`\`${lang}\\n([\\s\\S]*?)\\n\`\`\``).exec(readme);
  if (!m) throw new Error(`README has no block marked readme-test: ${name}`);
  return m[1];
}

const run = (script: string, env: NodeJS.ProcessEnv = process.env) =>
  spawnSync('bash', ['-e', '-o', 'pipefail', '-c', script], { env, encoding: 'utf8', timeout: 300_000 });

describe('README', () => {
  let stack: Spawned;
  let dataDir: string;
  let api: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'basin-readme-'));
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env, BASIN_DATA_DIR: dataDir, PORT: String(port), RUNNER_PORT: String(await freePort()), BASIN_S3_PORT: String(await freePort()), BASIN_PG_PORT: String(await freePort()),
    };
    delete env.BASIN_API_KEYS;
    delete env.BASIN_S3_ENDPOINT;
    delete env.DATABASE_URL;
    stack = await spawnUntil(process.execPath, ['--import', 'tsx', 'src/stack.ts', '--no-demo'], env, /basin is running/, 120_000);
  }, 150_000);
  afterAll(async () => {
    await stack?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('set-up is the two commands CI and test/stack.test.ts run', async () => {
    const readme = await readFile('README.md', 'utf8');
    const setup = /## Set-up: two commands\n\n```sh\n([\s\S]*?)\n```/.exec(readme)![1].split('\n').map((l) => l.replace(/\s+#.*$/, ''));
    expect(setup).toEqual(['npm ci && npm start', 'npm ci && npm test']);
    const pkg = JSON.parse(await readFile('package.json', 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe('tsx src/stack.ts'); // what test/stack.test.ts starts
    expect(await readFile('.ci/run', 'utf8')).toMatch(/npm ci[^\n]*\nnpm test\n/);
  });

  it('every npm script and bin it names exists', async () => {
    const readme = await readFile('README.md', 'utf8');
    const pkg = JSON.parse(await readFile('package.json', 'utf8')) as { scripts: Record<string, string>; bin: Record<string, string> };
    const scripts = [...readme.matchAll(/npm run ([a-z][\w:-]*)/g)].map((m) => m[1]);
    expect(scripts.length).toBeGreaterThan(5);
    for (const s of scripts) expect(pkg.scripts, `npm run ${s}`).toHaveProperty([s]);
    for (const m of readme.matchAll(/npx (basin(?:-merge)?)\b/g)) expect(pkg.bin).toHaveProperty([m[1]]);
  });

  it('the curl quick start merges the example pair against a running `npm start`', async () => {
    const r = run(await readmeBlock('curl'), { ...process.env, BASIN: api });
    expect(r.status, r.stderr + r.stdout).toBe(0);
    const barriers = JSON.parse(r.stdout.slice(r.stdout.lastIndexOf('{'))) as Record<string, number>;
    expect(barriers.repaired).toBeLessThan(barriers.aligned);
    expect(barriers.aligned).toBeLessThan(barriers.naive);
    expect(await readFile('out/report.svg', 'utf8')).toMatch(/^<svg/);
    const header = await readHeader(bufferSource(await readFile('out/merged.safetensors')));
    expect(header.metadata?.producer).toBe('basin');
  });

  it('the CLI quick start writes the merge on local files', async () => {
    await rm('out/fashion', { recursive: true, force: true });
    const r = run(await readmeBlock('cli'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/repaired\s+loss barrier 0\.0\d+/);
    expect((await readFile('out/fashion/report.json', 'utf8')).length).toBeGreaterThan(1000);
  });

  it('the Python training script merges through the client against a running `npm start`', async () => {
    await rm('out/merged.safetensors', { force: true });
    const r = spawnSync('python3', ['-c', await readmeBlock('python', 'python')], {
      encoding: 'utf8', timeout: 300_000, env: { ...process.env, BASIN_URL: api, PYTHONPATH: 'clients/python', PYTHONDONTWRITEBYTECODE: '1' },
    });
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/succeeded\s+100%/);
    expect(r.stdout).toMatch(/repaired\s+loss barrier 0\.\d{3}/);
    const header = await readHeader(bufferSource(await readFile('out/merged.safetensors')));
    expect(header.metadata?.producer).toBe('basin');
    expect(await readFile('out/report.html', 'utf8')).toMatch(/^<!doctype html>/);
  });
});
