/**
 * Stage timings and peak memory of whole merges of the Fashion-MNIST 6x128 MLP pair: weight and
 * activation matching, REPAIR, an 11-point sweep of three variants on the 10k test images.
 * `npm run bench:merge`.
 */
import { exampleExists, fmt, mergeExample } from './common.ts';
import { figure } from './figures.ts';

const NAME = 'fashion-mlp6x128';
if (!exampleExists(NAME)) {
  console.error(`examples/${NAME} is missing: run npm run examples:train first`);
  process.exit(1);
}
const rows = ['| alignment | load (s) | align (s) | repair (s) | sweep (s) | total (s) | backend |', '|---|---|---|---|---|---|---|'];
for (const method of ['weight', 'activation'] as const) {
  const { report } = await mergeExample(NAME, { alignment: { method, seed: 0 }, sweep: { points: 11 } });
  const t = report.timings;
  for (const stage of ['align', 'repair', 'sweep', 'total'] as const) figure('merge', `${NAME} ${method}`, stage, t[stage], 's');
  rows.push(`| ${method} | ${fmt(t.load, 2)} | ${fmt(t.align, 2)} | ${fmt(t.repair, 2)} | ${fmt(t.sweep, 2)} | ${fmt(t.total, 2)} | ${report.backend} |`);
}
console.log(rows.join('\n'));
const rss = process.resourceUsage().maxRSS / 1024;
figure('merge', NAME, 'peak RSS', rss, 'MiB');
console.log(`\npeak RSS: ${rss.toFixed(0)} MiB`);
