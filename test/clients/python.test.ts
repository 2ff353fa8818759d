import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE, exampleRequest, startProcessStack, WEBHOOK_SECRET } from '../gpu-runner/helpers.ts';
import { freshTenant } from '../storage/helpers.ts';

/**
 * The Python client (clients/python, standard library only) with the system python3, against the
 * stack as deployed: runner and edge processes on the test s3rver. Its unittest suite does the
 * talking; this file starts the stack, hands it the addresses, and requires every test to run.
 */
describe('Python client against the local stack', () => {
  const tenant = freshTenant();
  const apiKey = `python-key-${tenant}`;
  let stack: Awaited<ReturnType<typeof startProcessStack>>;

  beforeAll(async () => {
    stack = await startProcessStack(tenant, apiKey);
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it('python3 -m unittest: upload, merge (Idempotency-Key), wait with progress, report, weights, webhook verification, errors', () => {
    // A signature made by the reference Standard Webhooks library, for the Python verifier to accept.
    const body = JSON.stringify({ type: 'merge.succeeded', timestamp: '2026-11-30T00:00:00.000Z', data: { id: 'job_vector' } });
    const at = new Date(1_790_000_000_000);
    const vector = { secret: WEBHOOK_SECRET, id: 'msg_vector', timestamp: Math.floor(at.getTime() / 1000), body, signature: new Webhook(WEBHOOK_SECRET).sign('msg_vector', at, body) };
    const { models: _m, ...request } = exampleRequest([]);
    const r = spawnSync('python3', ['-m', 'unittest', 'discover', '-s', 'tests', '-t', '.', '-v'], {
      cwd: 'clients/python',
      encoding: 'utf8',
      timeout: 600_000,
      env: {
        ...process.env,
        PYTHONDONTWRITEBYTECODE: '1',
        BASIN_URL: stack.base,
        BASIN_API_KEY: apiKey,
        BASIN_WEBHOOK_SECRET: WEBHOOK_SECRET,
        BASIN_EXAMPLE: `${process.cwd()}/${EXAMPLE}`,
        BASIN_REQUEST: JSON.stringify(request),
        BASIN_TEST_WEBHOOK_VECTOR: JSON.stringify(vector),
      },
    });
    const out = r.stdout + r.stderr;
    expect(r.status, out).toBe(0);
    expect(out).toMatch(/Ran 6 tests/);
    expect(out).not.toMatch(/skipped/);
  });

  // Debian's mypy (.ci/run installs it): the client's type hints are checked, not just written.
  const MYPY = '/usr/bin/mypy';
  if (!existsSync(MYPY) && !process.env.CI) console.warn(`\n!!! ${MYPY} is missing: the Python type check is SKIPPED (apt-get install -y mypy; CI runs it)\n`);
  it.skipIf(!existsSync(MYPY) && !process.env.CI)('mypy --strict: the package and its tests type-check', () => {
    const r = spawnSync(MYPY, ['--strict', '--no-incremental', 'basin', 'tests'], { cwd: 'clients/python', encoding: 'utf8', timeout: 300_000 });
    expect(r.error, `${MYPY}: .ci/run must install mypy`).toBeUndefined();
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Success: no issues found in \d+ source files/);
  });
});
