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
/** The Node adapter: nodeHost and the archive readers it carries. */
const ADAPTERS = ['src/pipeline/runtime/nodeHost.ts', 'src/pipeline/runtime/nodeArchives.ts'];
/** npm packages that run on Node only (streams, Buffer, zlib): the adapter's to import. */
const NODE_ONLY = new Set(['yauzl', 'tar']);
const isAdapter = (f: string) => ADAPTERS.includes(relative(root, f));

describe('the engine and its Node adapter', () => {
  it('only the Node adapter (runtime/nodeHost.ts, runtime/nodeArchives.ts) under src/pipeline imports Node\'s modules or Node-only packages', () => {
    const offenders = files.flatMap((f) => importsOf(f).filter((spec) => builtins.has(spec) || spec.startsWith('node:') || NODE_ONLY.has(spec)).map((spec) => ({ file: f, spec })));
    expect(offenders.filter((o) => !isAdapter(o.file)).map((o) => `${relative(root, o.file)}: ${o.spec}`)).toEqual([]);
    for (const adapter of ADAPTERS) expect(offenders.some((o) => relative(root, o.file) === adapter), adapter).toBe(true);
  });

  it('no engine module imports the adapter: callers pass it in', () => {
    const users = files.filter((f) => !isAdapter(f) && importsOf(f).some((spec) => /(^|\/)node(Host|Archives)\.ts$/.test(spec)));
    expect(users.map((f) => relative(root, f))).toEqual([]);
  });

  it('reads files of installed packages (the built-in datasets\' home), and says whether it sees a GPU', async () => {
    const pkg = JSON.parse(new TextDecoder().decode(await nodeHost.packageFiles('fashion-mnist', 'package.json')));
    expect(pkg.name).toBe('fashion-mnist');
    await expect(nodeHost.packageFiles('fashion-mnist', 'no-such-file')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(typeof nodeHost.hasGpuDevice()).toBe('boolean');
  });
});
