/**
 * `npm run bench`: every benchmark (quality, solver, merge, api), one after another, each in its
 * own process so none inherits another's memory or JIT state; their headline figures end up in one
 * markdown table, printed and written to bench/results.md. `-- --quick` runs shorter versions.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Figure } from './figures.ts';

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, out: { type: 'string', default: 'bench/results.md' } } });
const quick = values.quick ?? false;
// --quick: 2000 test images per point, and the learned alignments (tens of minutes per CNN pair on
// 2 cores) on the MLP pairs only
const benches: [string, string[]][] = [
  ...(quick
    ? [['quality', ['--eval', '2000', '--only', 'mnist-mlp3x512,fashion-mlp6x128']], ['quality', ['--eval', '2000', '--only', 'fashion-vgg,fashion-resnet-bn,fashion-vit', '--methods', 'weight,activation']]] as [string, string[]][]
    : [['quality', []] as [string, string[]]]),
  ['lap', quick ? ['--sizes', '256,1024', '--reps', '3'] : []],
  // the full run also puts the VGG pair on both engines beside PyTorch (tens of minutes on 2 cores)
  ['merge', quick ? ['--pairs', 'fashion-mlp6x128'] : []],
  ['api', quick ? ['--seconds', '2'] : []],
];
const dir = mkdtempSync(join(tmpdir(), 'basin-bench-'));
const file = join(dir, 'figures.jsonl');
writeFileSync(file, '');
const failed: string[] = [];
for (const [name, args] of benches) {
  console.error(`== bench:${name} ${args.join(' ')}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', `bench/${name}.ts`, ...args], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, BASIN_BENCH_FIGURES: file } });
  if (r.status !== 0) failed.push(name);
}
const figures = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Figure);
rmSync(dir, { recursive: true, force: true });

const show = (v: number, unit: string) => (unit === 's' ? v.toFixed(v < 0.1 ? 4 : 2) : unit === '%' || unit === 'pts' ? v.toFixed(1) : unit === 'req/s' || unit === 'MiB' || unit === 'ms' ? v.toFixed(0) : v.toFixed(3));
const lines = [
  `basin benchmarks${quick ? ' (quick)' : ''}: Node ${process.version}, ${cpus().length} x ${cpus()[0]?.model.trim() ?? 'cpu'}, ${new Date().toISOString().slice(0, 10)}`,
  '',
  '| benchmark | case | figure | value | unit |',
  '|---|---|---|---|---|',
  ...figures.map((f) => `| ${f.bench} | ${f.case} | ${f.figure} | ${show(f.value, f.unit)} | ${f.unit} |`),
];
if (failed.length) lines.push('', `failed: ${failed.join(', ')}`);
const table = lines.join('\n') + '\n';
writeFileSync(values.out!, table);
console.log(`\n${table}\nwritten to ${values.out}`);
process.exitCode = failed.length ? 1 : 0;
