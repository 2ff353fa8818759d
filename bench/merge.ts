/**
 * Whole merges, stage by stage, side by side in one run: `npm run bench:merge [-- --pairs A,B]
 * [--engines onnxruntime,tfjs] [--no-torch]`. For each example pair (default: the Fashion VGG and
 * the Fashion 6x128 MLP), weight matching + REPAIR + an 11-point sweep of naive / aligned /
 * repaired on the 10,000 test images with 5,000 calibration images, by basin on each forward engine
 * (each merge in its own process, so its peak RSS is its own) and, where /usr/bin/python3 has torch
 * (Debian's python3-torch; never a dependency), by the independent PyTorch implementation in
 * bench/reference-merge-torch.py on as many threads. Prints the stage times, the ratio of basin's
 * engine time (align + repair + sweep) to PyTorch's, the loss barriers (the same work gives the same
 * figures) and peak memory. Figures only: nothing here asserts a time.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EXAMPLES } from '../examples/pairs.ts';
import { loadBuiltin } from '../src/pipeline/io/datasets.ts';
import { buildGraph } from '../src/pipeline/model/graph.ts';
import type { EngineName } from '../src/pipeline/runtime/engines.ts';
import { nodeHost } from '../src/pipeline/runtime/nodeHost.ts';
import { exampleExists, fmt, mergeExample } from './common.ts';
import { figure } from './figures.ts';

const { values: args } = parseArgs({ options: {
  pairs: { type: 'string', default: 'fashion-vgg,fashion-mlp6x128' },
  engines: { type: 'string', default: 'onnxruntime,tfjs' },
  'no-torch': { type: 'boolean', default: false },
  child: { type: 'string' },
} });
const REQUEST = { alignment: { method: 'weight', seed: 0 }, repair: { method: 'repair' }, sweep: { points: 11 } };
const PYTHON = '/usr/bin/python3';

interface Row { align: number; repair: number; sweep: number; total: number; barriers: Record<string, number>; peakMiB: number; label: string }

if (args.child) {
  // one merge in this process: `--child PAIR:ENGINE`
  const [pair, engine] = args.child.split(':');
  const { report } = await mergeExample(pair, REQUEST, engine as EngineName);
  const t = report.timings;
  const barriers = Object.fromEntries(Object.entries(report.variants).map(([k, v]) => [k, v!.barrier.loss.max]));
  const e = report.engine!;
  const row: Row = { align: t.align, repair: t.repair, sweep: t.sweep, total: t.align + t.repair + t.sweep, barriers, peakMiB: process.resourceUsage().maxRSS / 1024, label: `basin ${e.name} (${e.name === 'tfjs' ? report.backend : `${e.device}, ${e.threads} threads`})` };
  console.log(JSON.stringify(row));
  process.exit(0);
}

function basin(pair: string, engine: string): Row | string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/merge.ts', '--child', `${pair}:${engine}`], { encoding: 'utf8', maxBuffer: 1 << 26, env: { ...process.env, BASIN_BACKEND: process.env.BASIN_BACKEND ?? 'wasm,cpu' } });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  return r.status === 0 && line.startsWith('{') ? JSON.parse(line) as Row : `failed: ${(r.stderr || r.stdout).trim().split('\n').at(-1)}`;
}

function hasTorch(): boolean {
  return existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import torch, scipy'], { stdio: 'ignore' }).status === 0;
}

/** The same merge by bench/reference-merge-torch.py: the architecture as basin expands it, the datasets as raw arrays. */
async function torch(pair: string, threads: number): Promise<Row | string> {
  const example = EXAMPLES.find((e) => e.name === pair)!;
  const graph = buildGraph(example.architecture);
  const dir = mkdtempSync(join(tmpdir(), 'basin-bench-torch-'));
  try {
    const write = (name: string, x: Float32Array, y: Int32Array, n: number) => {
      writeFileSync(join(dir, `${name}.x`), x.subarray(0, n * 784));
      writeFileSync(join(dir, `${name}.y`), y.subarray(0, n));
      return { x: join(dir, `${name}.x`), y: join(dir, `${name}.y`), n };
    };
    const train = await loadBuiltin(nodeHost.packageFiles, example.dataset, 'train', 5000);
    const test = await loadBuiltin(nodeHost.packageFiles, example.dataset, 'test');
    const job = {
      layers: graph.nodes.map((n) => n.layer), input: example.architecture.input, threads, batch: 500, evalBatch: 1000, points: 11,
      models: ['seed1', 'seed2'].map((s) => join('examples', pair, `${s}.safetensors`)),
      calibration: write('calibration', train.x, train.y, train.n), evaluation: write('evaluation', test.x, test.y, test.n),
    };
    writeFileSync(join(dir, 'job.json'), JSON.stringify(job));
    const r = spawnSync(PYTHON, ['bench/reference-merge-torch.py', join(dir, 'job.json')], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.status !== 0) return `failed: ${r.stderr.trim().split('\n').at(-1)}`;
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { torch: string; threads: number; timings: Row & object; barrier: Record<string, number>; peakRssMiB: number };
    return { ...out.timings, barriers: out.barrier, peakMiB: out.peakRssMiB, label: `PyTorch ${out.torch} (cpu, ${out.threads} threads)` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const threads = nodeHost.threads();
const withTorch = !args['no-torch'] && hasTorch();
if (!args['no-torch'] && !withTorch) console.error(`${PYTHON} has no torch (apt-get install -y python3-torch python3-scipy): PyTorch's column is skipped`);
const lines = [
  '| pair | implementation | align (s) | repair (s) | sweep (s) | engine time (s) | x PyTorch | loss barrier naive / aligned / repaired | peak RSS (MiB) |',
  '|---|---|---|---|---|---|---|---|---|',
];
for (const pair of args.pairs.split(',').map((s) => s.trim())) {
  if (!exampleExists(pair)) { console.error(`examples/${pair} is missing: run npm run examples:train first`); process.exitCode = 1; continue; }
  const rows: Row[] = [];
  const failed: string[] = [];
  for (const engine of args.engines.split(',').map((s) => s.trim())) {
    console.error(`${pair}: basin on ${engine} ...`);
    const r = basin(pair, engine);
    if (typeof r === 'string') failed.push(`${engine} ${r}`); else rows.push(r);
  }
  let reference: Row | undefined;
  if (withTorch) {
    console.error(`${pair}: PyTorch ...`);
    const r = await torch(pair, threads);
    if (typeof r === 'string') failed.push(`PyTorch ${r}`); else rows.push((reference = r));
  }
  for (const r of rows) {
    const ratio = reference && r !== reference ? r.total / reference.total : undefined;
    const b = ['naive', 'aligned', 'repaired'].map((k) => fmt(r.barriers[k], 3)).join(' / ');
    lines.push(`| ${pair} | ${r.label} | ${fmt(r.align, 2)} | ${fmt(r.repair, 2)} | ${fmt(r.sweep, 2)} | ${fmt(r.total, 2)} | ${ratio === undefined ? '-' : `${ratio.toFixed(2)}x`} | ${b} | ${r.peakMiB.toFixed(0)} |`);
    const kase = `${pair} ${r.label.split(' (')[0]}`;
    for (const stage of ['align', 'repair', 'sweep', 'total'] as const) figure('merge', kase, stage === 'total' ? 'engine time' : stage, r[stage], 's');
    if (ratio !== undefined) figure('merge', kase, 'time / PyTorch', ratio, 'x');
    figure('merge', kase, 'peak RSS', r.peakMiB, 'MiB');
  }
  for (const f of failed) console.error(`${pair}: ${f}`);
}
console.log(lines.join('\n'));
