/**
 * Merge quality on the example pairs: endpoints, naive, weight / activation matching and the learned
 * STE / Sinkhorn alignments, each with and without REPAIR (or RESET for BatchNorm nets); loss and
 * accuracy barriers (mid and max). The time column is the whole merge (load, align, correct, sweep).
 * Prints a markdown table. `npm run bench:quality [-- --only NAME,NAME] [-- --eval N] [-- --methods weight,ste,...]`.
 */
import { parseArgs } from 'node:util';
import { EXAMPLES } from '../examples/pairs.ts';
import { exampleExists, fmt, mergeExample, pct } from './common.ts';
import { figure } from './figures.ts';
import type { Report, VariantReport } from '../src/contracts/index.ts';

const { values } = parseArgs({ options: { only: { type: 'string' }, eval: { type: 'string' }, methods: { type: 'string' } } });
const only = values.only?.split(',');
/** Each alignment at its defaults; Sinkhorn also with the task loss, where it differs from weight matching. */
const METHODS: [string, Record<string, unknown>][] = [
  ['weight', { method: 'weight' }],
  ['activation', { method: 'activation' }],
  ['ste', { method: 'ste' }],
  ['sinkhorn', { method: 'sinkhorn' }],
  ['sinkhorn (midpoint loss)', { method: 'sinkhorn', loss: 'midpoint' }],
];
const rows: string[] = [
  '| pair | variant | acc@0 / acc@1 (%) | acc@0.5 (%) | loss barrier mid | loss barrier max | acc barrier mid (pts) | acc barrier max (pts) | time (s) |',
  '|---|---|---|---|---|---|---|---|---|',
];
const row = (pair: string, label: string, v: VariantReport, seconds?: number) => {
  const mid = Math.floor(v.accuracy.length / 2);
  figure('quality', `${pair} ${label}`, 'loss barrier max', v.barrier.loss.max, '');
  figure('quality', `${pair} ${label}`, 'accuracy at 0.5', 100 * v.accuracy[mid], '%');
  if (seconds !== undefined) figure('quality', `${pair} ${label}`, 'whole merge', seconds, 's');
  rows.push(`| ${pair} | ${label} | ${pct(v.accuracy[0])} / ${pct(v.accuracy[v.accuracy.length - 1])} | ${pct(v.accuracy[mid])} | ${fmt(v.barrier.loss.mid)} | ${fmt(v.barrier.loss.max)} | ${pct(v.barrier.accuracy.mid)} | ${pct(v.barrier.accuracy.max)} | ${seconds === undefined ? '' : fmt(seconds, 1)} |`);
};

for (const example of EXAMPLES) {
  if (only && !only.includes(example.name)) continue;
  if (!exampleExists(example.name)) { console.error(`skipping ${example.name}: run npm run examples:train first`); continue; }
  const evaluation = { builtin: example.dataset, split: 'test', ...(values.eval ? { limit: Number(values.eval) } : {}) };
  const reports: [string, Report, number][] = [];
  for (const [label, alignment] of METHODS.filter(([, a]) => !values.methods || values.methods.split(',').includes(a.method as string))) {
    const { report, seconds } = await mergeExample(example.name, { alignment: { ...alignment, seed: 0 }, data: { calibration: { builtin: example.dataset, split: 'train', limit: 5000 }, evaluation } });
    reports.push([label, report, seconds]);
    console.error(`${example.name} ${label}: done in ${seconds.toFixed(1)}s (align ${report.timings.align.toFixed(1)}s, ${report.alignment.iterations} iterations)`);
  }
  const [, first] = reports[0];
  row(example.name, 'naive', first.variants.naive);
  for (const [method, report, seconds] of reports) {
    row(example.name, `${method}`, report.variants.aligned!);
    row(example.name, `${method} + ${report.variants.repaired!.method!.toUpperCase()}`, report.variants.repaired!, seconds);
    rows.push(`| ${example.name} | ${method}: barrier reduction (loss max) | alignment ${pct(report.reduction.alignment ?? undefined)}% | ${report.variants.repaired!.method} ${pct(report.reduction.repair ?? undefined)}% | | | | | |`);
  }
}
console.log(rows.join('\n'));
