import { describe, it, expect } from 'vitest';
import { builtinModules } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { nodeHost } from '../../../src/pipeline/runtime/nodeHost.ts';

const root = resolve(import.meta.dirname, '..', '..', '..');
const pipeline = join(root, 'src', 'pipeline');
const files = (readdirSync(pipeline, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => join(pipeline, f));
const importsOf = (file: string) => [...readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1]);
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

describe('the engine and its Node adapter', () => {
  it('only runtime/nodeHost.ts under src/pipeline imports Node\'s modules', () => {
    const offenders = files.flatMap((f) => importsOf(f).filter((spec) => builtins.has(spec) || spec.startsWith('node:')).map((spec) => `${relative(root, f)}: ${spec}`));
    expect(offenders.filter((o) => !o.startsWith('src/pipeline/runtime/nodeHost.ts:'))).toEqual([]);
    expect(offenders.length).toBeGreaterThan(0);
  });

  it('no engine module imports the adapter: callers pass it in', () => {
    const users = files.filter((f) => importsOf(f).some((spec) => spec.endsWith('/nodeHost.ts') || spec === './nodeHost.ts'));
    expect(users.map((f) => relative(root, f))).toEqual([]);
  });

  it('reads files of installed packages (the built-in datasets\' home), and says whether it sees a GPU', async () => {
    const pkg = JSON.parse(new TextDecoder().decode(await nodeHost.packageFiles('fashion-mnist', 'package.json')));
    expect(pkg.name).toBe('fashion-mnist');
    await expect(nodeHost.packageFiles('fashion-mnist', 'no-such-file')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(typeof nodeHost.hasGpuDevice()).toBe('boolean');
  });
});
